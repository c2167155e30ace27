%% @doc A handoff, both sides of the call, as a gen_server module holds a
%% call's client and server sides.
%%
%% The caller's side (run/2): take ownership of each fd (a NIF resource the
%% calling process owns), describe it, check its client info, take its
%% transport settings (`proxy_protocol', `tls') out of it, check the bytes
%% already read from it (`preread', which Node feeds first), ask the context,
%% and close whatever did not become a connection: refused, the context dead
%% before it read the request, or never there. An fd handed in is never left
%% behind.
%%
%% The context's side (admit/5): admission. Below max_connections, with its
%% TLS option set known to Node, an fd becomes the context's, goes to Node on
%% the fd channel and is announced on the port; the call is answered when
%% Node has acked or refused every fd (reactor_from_node, through
%% reactor_handoff_calls).
-module(reactor_handoff).

-export([run/2, client_info/1, admit/5]).

-export_type([request/0]).

-include("reactor_limits.hrl").
-include("reactor_served.hrl").

%% What the caller asks the context: each fd, owned by the caller until the
%% context takes it, with its client info and transport layers.
-type request() :: [{reactor_nif:res(), map(), transport()}].
%% The layers a caller's client info asks for: `default' names the context's
%% own option set, if it has one.
-type transport() :: #{proxy := boolean(), tls := default | false | map(),
                       starttls => default | false | map(), nodelay => true}.

-define(HANDOFF_TIMEOUT, 30000).
-define(MAX_INFO_BYTES, 65536).
%% bytes read before the handoff, which dataReceived gets first
-define(MAX_PREREAD, 1048576).
%% Linux values, as fd_info reports them
-define(AF_UNIX, 1).
-define(SOCK_STREAM, 1).
-define(SOCK_DGRAM, 2).

%% @doc The caller's side of reactor_context:handoff_many/2: one result per
%% fd, in order. Errors of its own: `badfd' (not an fd number), the
%% client_info/1 errors, `no_context', `timeout' (30 s), `{context_down,
%% Reason}'; the fd is closed on every error.
-spec run(reactor_context:context(), [{integer() | reactor_nif:res(), reactor_context:client_info()}]) ->
    [{ok, integer()} | {error, term()}].
run(_Ctx, []) ->
    [];
run(Ctx, List) ->
    Prepared = [prepare(Fd, Info) || {Fd, Info} <- List],
    Send = [{Res, Info, Transport} || {ok, Res, Info, Transport} <- Prepared],
    Results = case Send of
                  [] -> [];
                  _ -> call(Ctx, Send)
              end,
    Merged = merge(Prepared, Results),
    [reactor_telemetry:handoff_error(Ctx, Reason) || {error, Reason} <- Merged],
    Merged.

call(Ctx, Send) ->
    try
        gen_server:call(Ctx, {handoff, Send}, ?HANDOFF_TIMEOUT)
    catch
        exit:{noproc, _} -> [{error, no_context} || _ <- Send];
        exit:{{nodedown, _}, _} -> [{error, no_context} || _ <- Send];
        exit:{timeout, _} -> [{error, timeout} || _ <- Send];
        exit:{Reason, _} -> [{error, {context_down, Reason}} || _ <- Send]
    end.

merge([{ok, _, _, _} = P | Ps], [R | Rs]) -> [settle(P, R) | merge(Ps, Rs)];
merge([{error, _} = E | Ps], Rs) -> [E | merge(Ps, Rs)];
merge([], []) -> [].

settle(_, {ok, _} = Ok) -> Ok;
settle({ok, Res, _, _}, {error, _} = E) ->
    ok = reactor_nif:close(Res, true), % idempotent: a no-op if the context closed it
    E.

prepare(Fd, Info) when is_integer(Fd), Fd >= 0 ->
    case client_info(Info) of
        {ok, Norm, Transport, Preread} -> own(Fd, Norm, Transport, Preread);
        {error, Reason} -> refuse_fd(Fd, Reason)
    end;
prepare(Conn, Info) when is_reference(Conn) ->
    %% an acceptor's connection (reactor_nif:accept/1): owned already
    case client_info(Info) of
        {ok, Norm, Transport, Preread} -> own_accepted(Conn, Norm, Transport, Preread);
        {error, Reason} -> refuse_accepted(Conn, Reason)
    end;
prepare(_Fd, _Info) ->
    {error, badfd}.

%% @doc A caller's client info as Node is given it: strings and IP tuples
%% made binaries (what Node reads as text), integers past 31 bits
%% made binaries (Node reads no bignums), at most 64 KiB as ETF; and apart,
%% the transport layers its `proxy_protocol' (a boolean, default false),
%% `tls' (`default' or `true': the context's own if it has one; `false'; or
%% an option map) and `starttls' (the same choices: the option set
%% Protocol.startTls uses; present only when given) ask for; its `nodelay'
%% (true: the fd has TCP_NODELAY on already, as a listener's socket_opts set
%% it, and setNoDelay(true) makes no syscall); and its `preread' (bytes read
%% from the connection
%% before the handoff, which Node feeds to dataReceived first; at most 1 MiB).
%% Errors: `{bad_client_info, Key}' (a key that is
%% not an atom or a binary, or a value none of these), `{bad_client_info,
%% not_a_map}', `{bad_client_info, preread}', `client_info_too_large',
%% `preread_too_large'.
-spec client_info(term()) -> {ok, map(), transport(), binary()} | {error, term()}.
client_info(Info) when is_map(Info) ->
    try {transport(Info), preread(Info),
         normalize_info(maps:without([proxy_protocol, tls, starttls, preread, nodelay], Info))} of
        {Transport, Preread, Norm} ->
            %% its encoding's size, bounded without encoding it (the frame does)
            case erlang:external_size(Norm) =< ?MAX_INFO_BYTES of
                false -> {error, client_info_too_large};
                true -> {ok, Norm, Transport, Preread}
            end
    catch
        throw:{bad_client_info, _} = Bad -> {error, Bad};
        throw:preread_too_large -> {error, preread_too_large}
    end;
client_info(_) ->
    {error, {bad_client_info, not_a_map}}.

%% The layers the connection's bytes pass through: a PROXY header first, then
%% TLS (`default': the context's own, if it has one). The context gives a TLS
%% option set its key.
transport(Info) ->
    Proxy = case maps:get(proxy_protocol, Info, false) of
                P when is_boolean(P) -> P;
                _ -> throw({bad_client_info, proxy_protocol})
            end,
    Layers0 = #{proxy => Proxy, tls => tls_choice(tls, maps:get(tls, Info, default))},
    Layers = case maps:get(nodelay, Info, false) of
                 true -> Layers0#{nodelay => true};
                 false -> Layers0;
                 _ -> throw({bad_client_info, nodelay})
             end,
    case Info of
        #{starttls := StartTls} -> Layers#{starttls => tls_choice(starttls, StartTls)};
        _ -> Layers
    end.

tls_choice(_, T) when T =:= default; T =:= true -> default;
tls_choice(_, false) -> false;
tls_choice(_, T) when is_map(T) -> T;
tls_choice(Key, _) -> throw({bad_client_info, Key}).

%% Bytes the caller read from the connection before handing it off
%% (reactor:handoff_socket/3 takes them out of a gen_tcp port).
preread(Info) ->
    case maps:get(preread, Info, <<>>) of
        B when is_binary(B), byte_size(B) =< ?MAX_PREREAD -> B;
        B when is_binary(B) -> throw(preread_too_large);
        _ -> throw({bad_client_info, preread})
    end.

own(Fd, Info0, Transport, Preread) ->
    Info = maps:merge(describe_fd(Fd, Info0), Info0),
    Datagrams = lists:member(maps:get(type, Info, undefined), [udp, unix_dgram]),
    if
        Preread =/= <<>>, Datagrams -> refuse_fd(Fd, {bad_client_info, preread}); % a stream's bytes
        true ->
            case reactor_nif:open(Fd, 0) of
                {ok, Res} -> {ok, Res, with_preread(Info, Preread), Transport};
                {error, ebadf} -> {error, ebadf};
                {error, Reason} -> refuse_fd(Fd, Reason)
            end
    end.

own_accepted(Conn, Info0, Transport, Preread) ->
    case reactor_nif:fd(Conn) of
        Fd when is_integer(Fd) ->
            {ok, Conn, with_preread(maps:merge(describe_fd(Fd, Info0), Info0), Preread), Transport};
        _ ->
            {error, ebadf}
    end.

refuse_accepted(Conn, Reason) ->
    ok = reactor_nif:close(Conn, true),
    {error, Reason}.

with_preread(Info, <<>>) -> Info;
with_preread(Info, B) -> Info#{preread => B}.

%% What the fd itself says: its `type' (tcp, udp, unix, pipe, tty, ...) and,
%% for Unix sockets, the peer's credentials. What the caller gave wins, so
%% the fd is not asked what the caller said already (an acceptor's `type'):
%% three syscalls fewer per accepted connection.
describe_fd(_Fd, #{type := Type}) when Type =/= unix -> #{};
describe_fd(_Fd, #{type := unix, peer := _}) -> #{};
describe_fd(Fd, _Info) ->
    case reactor_nif:fd_info(Fd) of
        {ok, socket, Domain, SockType} ->
            Type = socket_type(Domain, SockType),
            case Domain of
                ?AF_UNIX ->
                    case reactor_channel:peercred(Fd) of
                        {ok, {Pid, Uid, Gid}} -> #{type => Type, peer => #{pid => Pid, uid => Uid, gid => Gid}};
                        _ -> #{type => Type}
                    end;
                _ -> #{type => Type}
            end;
        {ok, fifo, _, _} -> #{type => pipe};
        {ok, chr, _, _} -> #{type => tty};
        _ -> #{}
    end.

socket_type(?AF_UNIX, ?SOCK_DGRAM) -> unix_dgram;
socket_type(?AF_UNIX, _) -> unix;
socket_type(_, ?SOCK_DGRAM) -> udp;
socket_type(_, ?SOCK_STREAM) -> tcp;
socket_type(_, _) -> socket.

refuse_fd(Fd, Reason) ->
    _ = reactor_nif:close_fd(Fd),
    {error, Reason}.

normalize_info(M) when is_map(M) ->
    maps:fold(fun(K, V, Acc) when is_atom(K); is_binary(K) -> Acc#{K => normalize_value(K, V)};
                 (K, _, _) -> throw({bad_client_info, K})
              end, #{}, M).

normalize_value(_, V) when is_binary(V); is_integer(V), abs(V) < 16#80000000; is_float(V);
                           is_atom(V) -> V;
normalize_value(_, V) when is_integer(V) -> integer_to_binary(V); % Node reads no bignums (ts/control-term.ts)
normalize_value(K, V) when is_list(V) ->
    case io_lib:printable_unicode_list(V) of
        true -> unicode:characters_to_binary(V);
        false -> [normalize_value(K, E) || E <- V]
    end;
normalize_value(K, V) when is_tuple(V), tuple_size(V) =:= 4; is_tuple(V), tuple_size(V) =:= 8 ->
    case inet:ntoa(V) of
        {error, _} -> throw({bad_client_info, K});
        S -> list_to_binary(S)
    end;
normalize_value(_, V) when is_map(V) -> normalize_info(V);
normalize_value(K, _) -> throw({bad_client_info, K}).

%%% The context's side

%% @doc Admit a handoff call from `From' into `Served': each fd is refused
%% (`{error, max_connections}', a TLS option set that does not load, a
%% resource closed already) or taken over and sent to Node. Returns the
%% reply when nothing is left for Node to answer, else `noreply': the reply
%% goes when Node has answered for every fd sent. `Keys' are the context's
%% TLS option sets Node knows (reactor_tls:key/2), `Max' its
%% max_connections.
-spec admit(request(), gen_server:from(), reactor_served:served(), reactor_tls:keys(), pos_integer()) ->
    {reply, [{ok, integer()} | {error, term()}], reactor_served:served(), reactor_tls:keys()}
    | {noreply, reactor_served:served(), reactor_tls:keys()}.
admit(Request, From, Sv, Keys, Max) ->
    Room = Max - reactor_conns:active(Sv#served.conns),
    {Results, Accepted, Sv1, Keys1} = admit(Request, 1, [], [], Sv, Keys, Room),
    case Accepted of
        [] ->
            {reply, Results, Sv1, Keys1};
        _ ->
            Known = maps:from_list([{I, R} || {I, R} <- lists:enumerate(Results), R =/= opening]),
            {Call, Calls} = reactor_handoff_calls:add(From, Known, length(Results), Sv1#served.calls),
            {noreply, send_handoffs(Call, Accepted, Sv1#served{calls = Calls}), Keys1}
    end.

%% `Room': how many more connections max_connections lets in.
admit([], _I, Results, Accepted, Sv, Keys, _Room) ->
    {lists:reverse(Results), lists:reverse(Accepted), Sv, Keys};
admit([{Res, Info, Transport} | Rest], I, Results, Accepted, Sv, Keys, Room) ->
    Admitted = case Room =< 0 of
                   true -> {error, max_connections};
                   false -> layers(Transport, Sv, Keys)
               end,
    case Admitted of
        {ok, Layers, Keys1} ->
            {Id, T} = reactor_conns:next_id(Sv#served.conns),
            Sv1 = Sv#served{conns = T},
            case reactor_nif:controlling_process(Res, Id) of
                ok ->
                    admit(Rest, I + 1, [opening | Results], [{I, Id, Res, Info, Layers} | Accepted],
                          Sv1, Keys1, Room - 1);
                {error, Reason} ->
                    admit(Rest, I + 1, [{error, Reason} | Results], Accepted,
                          reactor_served:count(refused, Sv1), Keys1, Room)
            end;
        {error, _} = Refused ->
            %% the caller closes what we refuse
            admit(Rest, I + 1, [Refused | Results], Accepted, reactor_served:count(refused, Sv), Keys, Room)
    end.

%% The layers as Node names them; a TLS option set new to this context goes
%% to Node first, once. A connection under TLS from the start has no
%% `starttls': it is secure already.
layers(#{proxy := Proxy, tls := Tls} = Transport, Sv, Keys) ->
    try
        {Key, Frames, Keys1} = reactor_tls:key(Tls, Keys),
        {StartKey, StartFrames, Keys2} =
            case Key of
                false -> reactor_tls:starttls_key(maps:get(starttls, Transport, default), Keys1);
                _ -> {false, [], Keys1}
            end,
        [reactor_served:send(Sv, F) || F <- Frames ++ StartFrames],
        Layers = (maps:with([nodelay], Transport))#{proxy => Proxy, tls => Key},
        {ok, case StartKey of false -> Layers; _ -> Layers#{starttls => StartKey} end, Keys2}
    catch
        throw:Reason -> {error, Reason}
    end.

%% The fds go first, then the messages that announce them: when Node reads
%% {handoff, Id, _, _} its fd is already queued on the channel.
send_handoffs(_Call, [], Sv) ->
    Sv;
send_handoffs(Call, Accepted, Sv) ->
    {Chunk, Rest} = lists:split(min(?MAX_FDS_PER_MSG, length(Accepted)), Accepted),
    Ids = [Id || {_, Id, _, _, _} <- Chunk],
    Fds = [reactor_nif:fd(Res) || {_, _, Res, _, _} <- Chunk],
    Sv1 = case reactor_channel:send_fds(reactor_node:channel(Sv#served.node), Ids, Fds) of
              ok ->
                  lists:foldl(
                    fun({I, Id, Res, Info, Layers}, Acc = #served{conns = T}) ->
                            reactor_served:send(Acc, reactor_wire:handoff(Id, Info, Layers)),
                            Acc#served{conns = reactor_conns:open(Id, {Call, I}, Res, Info, Layers, T)}
                    end, Sv, Chunk);
              {error, Reason} ->
                  logger:error("reactor context ~0p: fd channel send failed: ~0p", [Sv#served.id, Reason]),
                  lists:foldl(
                    fun({I, _Id, Res, _, _}, Acc = #served{calls = Calls}) ->
                            ok = reactor_nif:close(Res, true),
                            Calls1 = reactor_handoff_calls:result(Call, I, {error, {channel, Reason}}, Calls),
                            reactor_served:count(refused, Acc#served{calls = Calls1})
                    end, Sv, Chunk)
          end,
    send_handoffs(Call, Rest, Sv1).
