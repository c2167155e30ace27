%% @doc A context's options: their defaults, each stated once here, and the
%% configuration its Node process starts with. The defaults Node states too
%% (ts/limits.ts) have their home in native/reactor_shared.h; the golden tests
%% hold both copies to it.
-module(reactor_config).

-include("reactor_limits.hrl").

-export([default/1, get/2, node_init/2, code/1, handler_name/1]).

-export_type([opts/0]).

%% A context's options (reactor_context:start_link/2).
-type opts() :: #{protocol => file:filename_all() | {priv, atom(), file:filename_all()},
                  setup_code => iodata(),
                  node => file:filename_all(),
                  node_args => [string()],
                  max_connections => pos_integer(),
                  read_size => pos_integer(),
                  write_high_water => non_neg_integer(),
                  callback_timeout => non_neg_integer(),
                  idle_timeout => non_neg_integer(),
                  close_timeout => non_neg_integer(),
                  linger_timeout => non_neg_integer(),
                  linger_max_bytes => non_neg_integer(),
                  max_queued_messages => pos_integer(),
                  hot_wait => non_neg_integer(),
                  await_policy => batch | normal,
                  tls => reactor_tls:opts(),
                  starttls => reactor_tls:opts(),
                  typecheck => boolean(),
                  name => atom(),
                  group => term(),
                  start_timeout => timeout(),
                  stop_timeout => timeout(),
                  max_calls => pos_integer(),
                  handlers => #{binary() => reactor_bridge:handler()},
                  max_beam_calls => pos_integer(),
                  beam_call_timeout => non_neg_integer()}.

-spec default(atom()) -> term().
default(read_size) -> 1024 * 1024;
default(write_high_water) -> 1 bsl 20;
default(callback_timeout) -> 0;
default(idle_timeout) -> 0;
%% A graceful close (ts/closing.ts): ms the peer has to take the last bytes
%% before the connection is cut (0 = none); then ms and bytes of the lingering
%% read after our FIN (RFC 9112 9.6; cowboy's linger_timeout is 1000 too;
%% 0 ms = no lingering close, 0 bytes = only the time bounds it).
default(close_timeout) -> 30000;
default(linger_timeout) -> 1000;
default(linger_max_bytes) -> 64 bsl 20;
%% Messages (reactor:send/2, reactor:publish/2) a connection holds while its
%% protocol does not take them (a pending handler, a writeBuffer over
%% write_high_water); one more closes it with EMESSAGEOVERFLOW, as Redis's
%% client-output-buffer-limit and NATS's slow-consumer limit cut a
%% subscriber that does not keep up (docs/bridge.md).
default(max_queued_messages) -> 1000;
%% us a busy context's hot path waits for more traffic on a dirty I/O
%% scheduler before it goes back to enif_select (reactor_conns:cycle/1)
default(hot_wait) -> 1000;
%% The hot path's scheduling policy while it waits for Node's answer:
%% SCHED_BATCH, so that the answer's wake-up does not preempt the thread on
%% the pump's core (docs/performance.md, step 11); normal: SCHED_OTHER.
default(await_policy) -> batch;
default(handshake_timeout) -> 10000;
default(max_connections) -> 65536;
default(start_timeout) -> 30000;
default(stop_timeout) -> 5000;
default(typecheck) -> false;
default(node_args) -> [];
%% The bridge (reactor_bridge): reactor_context:call/4 and eval/3 in flight
%% per context; the functions beam.call finds first; beam.calls in flight per
%% context, and the ms each may take unless it says otherwise.
default(max_calls) -> 1024;
default(handlers) -> #{};
default(max_beam_calls) -> 1024;
default(beam_call_timeout) -> 5000;
default(setup_code) -> <<>>.

-spec get(atom(), map()) -> term().
get(Key, Opts) -> maps:get(Key, Opts, default(Key)).

%% @doc The node executable, its arguments (the runtime last), and what its
%% init frame carries but the channel's path. Throws `no_protocol_given',
%% `{protocol_not_found, Path}', `{node_not_found, Node}', `{bad_option,
%% {Name, Value}}' (a size or a timeout out of its range, hot_wait,
%% await_policy, max_queued_messages and the bridge's),
%% `{runtime_not_built, Script}' and the TLS errors of reactor_tls:options/1.
%% The calling process is the context: beam.self() in Node.
-spec node_init(term(), opts()) -> {file:filename(), [string()], map()}.
node_init(Id, Opts) ->
    check_ranges(Opts),
    check_await_policy(get(await_policy, Opts)),
    check_bridge(Opts),
    Node = node_executable(Opts),
    Script = filename:join(reactor_priv:dir(), "reactor_port.js"),
    filelib:is_regular(Script) orelse throw({runtime_not_built, Script}),
    Code = code(Opts),
    Tls = case maps:get(tls, Opts, undefined) of
              undefined -> nil;
              TlsOpts -> reactor_tls:options(TlsOpts)
          end,
    %% checked now (a typo is an error of the start); sent with a first handoff
    _ = [reactor_tls:options(St) || St <- [maps:get(starttls, Opts, undefined)], St =/= undefined],
    {Node, get(node_args, Opts) ++ [Script],
     Code#{context => iolist_to_binary(io_lib:format("~0p", [Id])),
           read_size => get(read_size, Opts),
           write_high_water => get(write_high_water, Opts),
           callback_timeout => get(callback_timeout, Opts),
           idle_timeout => get(idle_timeout, Opts),
           close_timeout => get(close_timeout, Opts),
           linger_timeout => get(linger_timeout, Opts),
           linger_max_bytes => get(linger_max_bytes, Opts),
           max_queued_messages => check_max_queued(get(max_queued_messages, Opts)),
           telemetry => reactor_telemetry:enabled(),
           max_beam_calls => get(max_beam_calls, Opts),
           beam_call_timeout => get(beam_call_timeout, Opts),
           %% base64: Node reads a binary as UTF-8 text
           self => base64:encode(term_to_binary(self())),
           tls => Tls}}.

check_await_policy(P) when P =:= batch; P =:= normal -> ok;
check_await_policy(P) -> throw({bad_option, {await_policy, P}}).

%% Sizes (bytes) and timeouts (ms) Node and the poller take: read_size up to
%% MAX_READ_SIZE, the rest as 31-bit integers (Node's timers take at most
%% 2^31 - 1 ms, ~24.8 days); hot_wait (us) at most a second, as
%% reactor_nif:pump/4 takes it. Checked before Node starts.
-define(MAX_OPTION, 16#7fffffff).
check_ranges(Opts) ->
    [throw({bad_option, {K, V}})
     || {K, Min, Max} <- [{hot_wait, 0, 1000000},
                          {read_size, 1, ?MAX_READ_SIZE}, {write_high_water, 0, ?MAX_OPTION},
                          {callback_timeout, 0, ?MAX_OPTION}, {idle_timeout, 0, ?MAX_OPTION},
                          {close_timeout, 0, ?MAX_OPTION}, {linger_timeout, 0, ?MAX_OPTION},
                          {linger_max_bytes, 0, ?MAX_OPTION}],
        V <- [get(K, Opts)], not (is_integer(V) andalso V >= Min andalso V =< Max)],
    ok.

check_max_queued(N) when is_integer(N), N >= 1 -> N;
check_max_queued(N) -> throw({bad_option, {max_queued_messages, N}}).

check_bridge(Opts) ->
    [throw({bad_option, {K, V}}) || K <- [max_calls, max_beam_calls],
                                    V <- [get(K, Opts)], not (is_integer(V) andalso V > 0)],
    T = get(beam_call_timeout, Opts),
    is_integer(T) andalso T >= 0 orelse throw({bad_option, {beam_call_timeout, T}}),
    H = get(handlers, Opts),
    is_map(H) andalso lists:all(fun({N, F}) -> is_binary(handler_name(N)) andalso reactor_functions:is_handler(F) end,
                                maps:to_list(H))
        orelse throw({bad_option, {handlers, H}}),
    ok.

%% @doc The protocol a context loads (at start and on reload): its absolute
%% path, its setup code and whether it is type-checked first. Throws
%% `no_protocol_given' and `{protocol_not_found, Path}'.
-spec code(opts()) -> #{protocol := binary(), setup_code := binary(), typecheck := boolean()}.
code(Opts) ->
    Protocol = protocol_path(Opts),
    SetupCode = iolist_to_binary(get(setup_code, Opts)),
    (Protocol =:= <<>> andalso SetupCode =:= <<>>) andalso throw(no_protocol_given),
    #{protocol => Protocol, setup_code => SetupCode, typecheck => get(typecheck, Opts) =:= true}.

node_executable(Opts) ->
    Node = case maps:get(node, Opts, application:get_env(reactor, node, "node")) of
               N when is_binary(N) -> binary_to_list(N);
               N -> N
           end,
    Found = case filename:pathtype(Node) of
                relative -> os:find_executable(Node);
                _ -> filelib:is_regular(Node) andalso Node
            end,
    case Found of
        false -> throw({node_not_found, Node});
        Path -> Path
    end.

protocol_path(Opts) ->
    case maps:get(protocol, Opts, undefined) of
        undefined -> <<>>;
        {priv, App, Rel} ->
            case code:priv_dir(App) of
                {error, bad_name} -> throw({protocol_not_found, {priv, App, Rel}});
                Dir -> existing(filename:join(Dir, Rel))
            end;
        Path -> existing(Path)
    end.

existing(Path) ->
    Abs = filename:absname(Path),
    case filelib:is_regular(Abs) of
        true -> unicode:characters_to_binary(Abs);
        false -> throw({protocol_not_found, unicode:characters_to_binary(Path)})
    end.

%% @doc A `handlers' key as the binary beam.call names it: an atom or
%% chardata, as reactor:register_function/2 takes (anything else: not a binary).
-spec handler_name(term()) -> binary() | error.
handler_name(N) when is_atom(N) -> atom_to_binary(N);
handler_name(N) when is_binary(N); is_list(N) ->
    case unicode:characters_to_binary(N) of
        B when is_binary(B) -> B;
        _ -> error
    end;
handler_name(_) -> error.
