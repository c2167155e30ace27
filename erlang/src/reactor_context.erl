%% @doc A reactor context: one Node.js process running one protocol, and the
%% connections handed off to it.
%%
%% The context owns the port (control messages, `{packet, 4}' ETF) and the fd
%% channel (the fds themselves). It polls Erlang's copy of every fd with
%% enif_select and tells Node which are ready; Node reads, writes, runs the
%% protocol and answers with the next action, which re-arms the fd.
-module(reactor_context).
-behaviour(gen_server).

-export([start_link/2, start/2, handoff/2, handoff/3, handoff_many/2,
         close/2, info/1, stop/1, stop/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([context/0, client_info/0, opts/0]).

-type context() :: pid() | atom().

-type client_info() :: #{atom() | binary() => term()}.
-type opts() :: #{protocol => file:filename_all() | {priv, atom(), file:filename_all()},
                  setup_code => iodata(),
                  node => file:filename_all(),
                  node_args => [string()],
                  max_connections => pos_integer(),
                  read_size => pos_integer(),
                  write_high_water => non_neg_integer(),
                  callback_timeout => non_neg_integer(),
                  idle_timeout => non_neg_integer(),
                  tls => reactor_tls:opts(),
                  name => atom(),
                  start_timeout => timeout(),
                  stop_timeout => timeout()}.

-define(DEFAULT_CONTEXT, reactor_default_context).
-define(HANDOFF_TIMEOUT, 30000).
-define(MAX_INFO_BYTES, 65536).
-define(MAX_FDS_PER_MSG, 64).
-define(MAX_EVENTS_PER_FRAME, 1024).
%% Linux values, as fd_info reports them
-define(AF_UNIX, 1).
-define(SOCK_STREAM, 1).
-define(SOCK_DGRAM, 2).

-record(conn, {res :: reactor_nif:res(), mode = read :: read | write}).

-record(state, {
    id :: term(),
    port :: port() | undefined,
    os_pid :: integer(),
    channel :: reactor_channel:channel() | undefined,
    conns = #{} :: #{integer() => #conn{}},
    %% handoffs sent to Node, waiting for its ack: Id => {Batch, Index, Res}
    pending = #{} :: #{integer() => {reference(), pos_integer(), reactor_nif:res()}},
    %% handoff calls waiting for their acks: Batch => {From, Results, Remaining}
    batches = #{} :: #{reference() => {gen_server:from(), map(), Remaining :: non_neg_integer(),
                                         Total :: pos_integer()}},
    stats_waiters = queue:new() :: queue:queue(gen_server:from()),
    next_id = 1 :: pos_integer(),
    max_conns :: pos_integer(),
    stop_timeout :: timeout(),
    frames :: counters:counters_ref(), % 1: frames to Node, 2: frames from Node
    counters = #{handoffs => 0, refused => 0, closed => 0, events => 0,
                 node_errors => 0} :: #{atom() => non_neg_integer()}
}).

%%% API

%% @doc Start a context: spawn Node, load the protocol, connect the channel.
%% Returns `{error, {protocol_compile, [#{file, line, column, text}]}}' and the
%% like when the protocol cannot be loaded.
-spec start_link(term(), opts()) -> {ok, pid()} | {error, term()}.
start_link(Id, Opts) -> start(start_link, Id, Opts).

-spec start(term(), opts()) -> {ok, pid()} | {error, term()}.
start(Id, Opts) -> start(start, Id, Opts).

start(How, Id, Opts) when is_map(Opts) ->
    case maps:get(name, Opts, undefined) of
        undefined -> gen_server:How(?MODULE, {Id, Opts}, []);
        Name -> gen_server:How({local, Name}, ?MODULE, {Id, Opts}, [])
    end.

%% @doc Hand `Fd' to the default context. See {@link handoff/3}.
-spec handoff(integer(), client_info()) -> {ok, integer()} | {error, term()}.
handoff(Fd, Info) -> handoff(?DEFAULT_CONTEXT, Fd, Info).

%% @doc Hand `Fd' to a context. Ownership passes whatever the outcome: on
%% `{ok, ConnId}' the reactor holds its own copy (Node acknowledged the fd and
%% ran `connectionMade'); on `{error, Reason}' the fd has been closed.
-spec handoff(context(), integer(), client_info()) -> {ok, integer()} | {error, term()}.
handoff(Ctx, Fd, Info) ->
    [R] = handoff_many(Ctx, [{Fd, Info}]),
    R.

%% @doc Several fds at once (one channel message carries up to 64).
%%
%% The caller takes ownership of each fd first (a NIF resource it owns); the
%% context then takes it over. Whatever does not end as a connection is closed
%% here, whether the context refused it, died before reading the request, or
%% never existed, so an fd is never left behind.
-spec handoff_many(context(), [{integer(), client_info()}]) -> [{ok, integer()} | {error, term()}].
handoff_many(_Ctx, []) ->
    [];
handoff_many(Ctx, List) ->
    Prepared = [prepare(Fd, Info) || {Fd, Info} <- List],
    Send = [{Res, Info} || {ok, Res, Info} <- Prepared],
    Results = case Send of
                  [] -> [];
                  _ -> call_handoff(Ctx, Send)
              end,
    merge(Prepared, Results).

call_handoff(Ctx, Send) ->
    try
        gen_server:call(Ctx, {handoff, Send}, ?HANDOFF_TIMEOUT)
    catch
        exit:{noproc, _} -> [{error, no_context} || _ <- Send];
        exit:{{nodedown, _}, _} -> [{error, no_context} || _ <- Send];
        exit:{timeout, _} -> [{error, timeout} || _ <- Send];
        exit:{Reason, _} -> [{error, {context_down, Reason}} || _ <- Send]
    end.

merge([{ok, _, _} = P | Ps], [R | Rs]) -> [settle(P, R) | merge(Ps, Rs)];
merge([{error, _} = E | Ps], Rs) -> [E | merge(Ps, Rs)];
merge([], []) -> [].

settle(_, {ok, _} = Ok) -> Ok;
settle({ok, Res, _}, {error, _} = E) ->
    ok = reactor_nif:close(Res, true), % idempotent: a no-op if the context closed it
    E.

prepare(Fd, Info) when is_integer(Fd), Fd >= 0, is_map(Info) ->
    try normalize_info(Info) of
        Norm ->
            case byte_size(term_to_binary(Norm)) =< ?MAX_INFO_BYTES of
                false -> refuse_fd(Fd, client_info_too_large);
                true -> own(Fd, Norm)
            end
    catch
        throw:{bad_client_info, _} = Bad -> refuse_fd(Fd, Bad)
    end;
prepare(Fd, _Info) when is_integer(Fd), Fd >= 0 ->
    refuse_fd(Fd, {bad_client_info, not_a_map});
prepare(_Fd, _Info) ->
    {error, badfd}.

own(Fd, Info0) ->
    Info = maps:merge(describe_fd(Fd), Info0),
    case reactor_nif:open(Fd, 0) of
        {ok, Res} -> {ok, Res, Info};
        {error, ebadf} -> {error, ebadf};
        {error, Reason} -> refuse_fd(Fd, Reason)
    end.

%% What the fd itself says: its `type' (tcp, udp, unix, pipe, tty, ...) and,
%% for Unix sockets, the peer's credentials. What the caller gave wins.
describe_fd(Fd) ->
    case reactor_nif:fd_info(Fd) of
        {ok, socket, Domain, SockType} ->
            Type = socket_type(Domain, SockType),
            case Domain of
                ?AF_UNIX ->
                    case reactor_nif:peercred(Fd) of
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

%% What Node's erlpack can take, readably: strings and IP tuples become binaries.
normalize_info(M) when is_map(M) ->
    maps:fold(fun(K, V, Acc) when is_atom(K); is_binary(K) -> Acc#{K => normalize_value(K, V)};
                 (K, _, _) -> throw({bad_client_info, K})
              end, #{}, M).

normalize_value(_, V) when is_binary(V); is_integer(V), abs(V) < 16#80000000; is_float(V);
                           is_atom(V) -> V;
normalize_value(_, V) when is_integer(V) -> integer_to_binary(V); % erlpack has no bignums
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

%% @doc Close a connection from Erlang: both copies of the fd, `connectionLost'
%% runs in Node.
-spec close(context(), integer()) -> ok | {error, not_found}.
close(Ctx, ConnId) -> gen_server:call(Ctx, {close, ConnId}).

%% @doc Counters: connections, bytes_in, bytes_out, buffered (bytes queued in
%% writeBuffers), events, errors, handoffs, refused, closed, pending,
%% frames_to_node, frames_from_node, os_pid.
-spec info(context()) -> #{atom() => term()}.
info(Ctx) -> gen_server:call(Ctx, info, 10000).

%% @doc Graceful stop: every protocol gets `connectionLost', every fd is closed,
%% Node exits 0.
-spec stop(context()) -> ok.
stop(Ctx) -> stop(Ctx, infinity).

stop(Ctx, Timeout) -> gen_server:stop(Ctx, normal, Timeout).

%%% gen_server

init({Id, Opts}) ->
    process_flag(trap_exit, true),
    try
        Node = node_executable(Opts),
        Protocol = protocol_path(Opts),
        SetupCode = iolist_to_binary(maps:get(setup_code, Opts, <<>>)),
        (Protocol =:= <<>> andalso SetupCode =:= <<>>) andalso throw(no_protocol_given),
        Script = filename:join(priv_dir(), "reactor_port.js"),
        filelib:is_regular(Script) orelse throw({runtime_not_built, Script}),
        Tls = case maps:get(tls, Opts, undefined) of
                  undefined -> nil;
                  TlsOpts -> reactor_tls:options(TlsOpts)
              end,
        {ok, Listening} = ok_or_throw(reactor_channel:open()),
        start_node(Id, Opts#{tls_checked => Tls}, Node, Script, Protocol, SetupCode, Listening)
    catch
        throw:Reason -> {stop, Reason}
    end.

start_node(Id, Opts, Node, Script, Protocol, SetupCode, Listening) ->
    Port = open_port({spawn_executable, Node},
                     [{args, maps:get(node_args, Opts, []) ++ [Script]},
                      {packet, 4}, binary, exit_status, use_stdio, hide]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Config = #{context => iolist_to_binary(io_lib:format("~0p", [Id])),
               channel => channel_path(Listening),
               protocol => Protocol,
               setup_code => SetupCode,
               read_size => maps:get(read_size, Opts, 1024 * 1024),
               write_high_water => maps:get(write_high_water, Opts, 1 bsl 20),
               callback_timeout => maps:get(callback_timeout, Opts, 0),
               idle_timeout => maps:get(idle_timeout, Opts, 0),
               tls => maps:get(tls_checked, Opts)},
    true = port_command(Port, reactor_wire:init(Config)),
    Timeout = maps:get(start_timeout, Opts, 30000),
    case reactor_channel:accept(Listening, OsPid, Timeout) of
        {ok, Channel} ->
            case await_ready(Port, Id, Timeout) of
                ok ->
                    {ok, #state{id = Id, port = Port, os_pid = OsPid, channel = Channel,
                                frames = counters:new(2, []),
                                max_conns = maps:get(max_connections, Opts, 65536),
                                stop_timeout = maps:get(stop_timeout, Opts, 5000)}};
                {error, Reason} ->
                    reactor_channel:close(Channel),
                    kill_port(Port, OsPid),
                    {stop, Reason}
            end;
        {error, Reason} ->
            reactor_channel:close(Listening),
            %% Node may have died first: its exit status or load error says more.
            Why = case await_ready(Port, Id, 0) of
                      {error, R} -> R;
                      ok -> Reason
                  end,
            kill_port(Port, OsPid),
            {stop, Why}
    end.

channel_path(L) -> maps:get(path, L).

await_ready(Port, Id, Timeout) ->
    receive
        {Port, {data, Bin}} ->
            case reactor_wire:decode(Bin) of
                {ok, ready} -> ok;
                {ok, {load_error, Kind, Details}} -> {error, {Kind, Details}};
                {ok, {log, Level, ConnId, Text}} ->
                    log(Id, Level, ConnId, Text),
                    await_ready(Port, Id, Timeout);
                {ok, Other} -> {error, {unexpected_message, Other}};
                {error, Reason} -> {error, {bad_frame, Reason}}
            end;
        {Port, {exit_status, Status}} ->
            {error, {node_exit, Status}}
    after Timeout ->
        {error, start_timeout}
    end.

handle_call({handoff, List}, From, S) ->
    {Results, Accepted, S1} = admit(List, 1, [], [], S),
    case Accepted of
        [] ->
            {reply, Results, S1};
        _ ->
            Batch = make_ref(),
            Known = maps:from_list([{I, R} || {I, R} <- lists:zip(lists:seq(1, length(Results)), Results),
                                              R =/= pending]),
            Entry = {From, Known, length(Accepted), length(Results)},
            S2 = S1#state{batches = (S1#state.batches)#{Batch => Entry}},
            {noreply, send_handoffs(Batch, Accepted, S2)}
    end;
handle_call({close, ConnId}, _From, S = #state{conns = Conns}) ->
    case maps:take(ConnId, Conns) of
        {C, Rest} ->
            ok = reactor_nif:close(C#conn.res, true),
            send(S, reactor_wire:close(ConnId, <<"closed by Erlang">>)),
            {reply, ok, count(closed, S#state{conns = Rest})};
        error ->
            {reply, {error, not_found}, S}
    end;
handle_call(info, From, S = #state{stats_waiters = Q}) ->
    send(S, reactor_wire:stats()),
    {noreply, S#state{stats_waiters = queue:in(From, Q)}};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({reactor_io, Id, Kind}, S) ->
    {Reads, Writes, N} = drain_events([{Id, Kind}], [], [], 0, S#state.conns),
    case N of
        0 -> ok;
        _ -> send(S, reactor_wire:ready(Reads, Writes))
    end,
    {noreply, count(events, N, S)};
handle_info({Port, {data, Bin}}, S = #state{port = Port}) ->
    counters:add(S#state.frames, 2, 1),
    case reactor_wire:decode(Bin) of
        {ok, Msg} -> from_node(Msg, S);
        {error, Reason} ->
            logger:error("reactor context ~0p: malformed frame from Node: ~0p", [S#state.id, Reason]),
            {stop, {bad_frame, Reason}, S}
    end;
handle_info({Port, {exit_status, Status}}, S = #state{port = Port}) ->
    logger:error("reactor context ~0p: Node exited with status ~p", [S#state.id, Status]),
    {stop, {node_exit, Status}, S#state{port = undefined}};
handle_info({'EXIT', Port, _}, S = #state{port = Port}) ->
    {noreply, S};
handle_info({'EXIT', _Port, _}, S) when is_port(_Port) ->
    {noreply, S};
handle_info(_Other, S) ->
    {noreply, S}.

terminate(_Reason, S) ->
    S1 = stop_node(S),
    maps:foreach(fun(_, #conn{res = R}) -> reactor_nif:close(R, true) end, S1#state.conns),
    maps:foreach(fun(_, {_, _, R}) -> reactor_nif:close(R, true) end, S1#state.pending),
    maps:foreach(fun(_, {From, Known, _, Total}) ->
                         gen_server:reply(From, fill(Known, Total, {error, stopped}))
                 end, S1#state.batches),
    [gen_server:reply(F, {error, stopped}) || F <- queue:to_list(S1#state.stats_waiters)],
    case S1#state.channel of
        undefined -> ok;
        Ch -> reactor_channel:close(Ch)
    end,
    ok.

%%% Handoff

admit([], _I, Results, Accepted, S) ->
    {lists:reverse(Results), lists:reverse(Accepted), S};
admit([{Res, Info} | Rest], I, Results, Accepted, S) ->
    Active = map_size(S#state.conns) + map_size(S#state.pending) + length(Accepted),
    if
        Active >= S#state.max_conns ->
            %% the caller closes what we refuse
            admit(Rest, I + 1, [{error, max_connections} | Results], Accepted, count(refused, S));
        true ->
            {Id, S1} = next_id(S),
            case reactor_nif:take(Res, Id) of
                ok ->
                    admit(Rest, I + 1, [pending | Results], [{I, Id, Res, Info} | Accepted], S1);
                {error, Reason} ->
                    admit(Rest, I + 1, [{error, Reason} | Results], Accepted, count(refused, S1))
            end
    end.

next_id(S = #state{next_id = Id, conns = C, pending = P}) ->
    Next = case Id >= 16#7fffffff of true -> 1; false -> Id + 1 end,
    case is_map_key(Id, C) orelse is_map_key(Id, P) of
        true -> next_id(S#state{next_id = Next});
        false -> {Id, S#state{next_id = Next}}
    end.

%% The fds go first, then the messages that announce them: when Node reads
%% {handoff, Id, _} its fd is already queued on the channel.
send_handoffs(_Batch, [], S) ->
    S;
send_handoffs(Batch, Accepted, S) ->
    {Chunk, Rest} = split(?MAX_FDS_PER_MSG, Accepted),
    Ids = [Id || {_, Id, _, _} <- Chunk],
    Fds = [reactor_nif:fd(Res) || {_, _, Res, _} <- Chunk],
    S1 = case reactor_channel:send_fds(S#state.channel, Ids, Fds) of
             ok ->
                 lists:foldl(
                   fun({I, Id, Res, Info}, Acc) ->
                           send(Acc, reactor_wire:handoff(Id, Info)),
                           Acc#state{pending = (Acc#state.pending)#{Id => {Batch, I, Res}}}
                   end, S, Chunk);
             {error, Reason} ->
                 logger:error("reactor context ~0p: fd channel send failed: ~0p", [S#state.id, Reason]),
                 lists:foldl(
                   fun({I, _Id, Res, _}, Acc) ->
                           ok = reactor_nif:close(Res, true),
                           batch_result(Batch, I, {error, {channel, Reason}}, count(refused, Acc))
                   end, S, Chunk)
         end,
    send_handoffs(Batch, Rest, S1).

split(N, L) when length(L) =< N -> {L, []};
split(N, L) -> lists:split(N, L).

batch_result(Batch, I, Result, S = #state{batches = B}) ->
    case maps:find(Batch, B) of
        {ok, {From, Known, 1, Total}} ->
            gen_server:reply(From, fill(Known#{I => Result}, Total, undefined)),
            S#state{batches = maps:remove(Batch, B)};
        {ok, {From, Known, N, Total}} ->
            S#state{batches = B#{Batch => {From, Known#{I => Result}, N - 1, Total}}};
        error ->
            S
    end.

fill(Known, Total, Default) ->
    [maps:get(I, Known, Default) || I <- lists:seq(1, Total)].

%%% Messages from Node

from_node({act, Acts}, S) ->
    {noreply, lists:foldl(fun({Id, A}, Acc) -> act(Id, A, Acc) end, S, Acts)};
from_node({ack, Id, Action}, S = #state{pending = P}) ->
    case maps:take(Id, P) of
        {{Batch, I, Res}, P1} ->
            S1 = S#state{pending = P1, conns = (S#state.conns)#{Id => #conn{res = Res}}},
            S2 = act(Id, Action, count(handoffs, S1)),
            {noreply, batch_result(Batch, I, {ok, Id}, S2)};
        error ->
            {noreply, S}
    end;
from_node({nack, Id, Reason}, S = #state{pending = P}) ->
    case maps:take(Id, P) of
        {{Batch, I, Res}, P1} ->
            ok = reactor_nif:close(Res, true),
            {noreply, batch_result(Batch, I, {error, Reason}, count(refused, S#state{pending = P1}))};
        error ->
            {noreply, S}
    end;
from_node({log, Level, ConnId, Text}, S) ->
    log(S#state.id, Level, ConnId, Text),
    {noreply, S};
from_node({stats, NodeStats}, S = #state{stats_waiters = Q}) ->
    case queue:out(Q) of
        {{value, From}, Q1} ->
            #{node_errors := NodeErrors} = C = S#state.counters,
            Info = maps:merge(maps:remove(node_errors, C), NodeStats),
            gen_server:reply(From, Info#{errors => maps:get(errors, NodeStats, 0) + NodeErrors,
                                         pending => map_size(S#state.pending),
                                         frames_to_node => counters:get(S#state.frames, 1),
                                         frames_from_node => counters:get(S#state.frames, 2),
                                         os_pid => S#state.os_pid}),
            {noreply, S#state{stats_waiters = Q1}};
        {empty, _} ->
            {noreply, S}
    end;
from_node(Unexpected, S) ->
    logger:warning("reactor context ~0p: unexpected message from Node: ~0p",
                   [S#state.id, Unexpected]),
    {noreply, S}.

act(Id, Action, S = #state{conns = Conns}) ->
    case maps:find(Id, Conns) of
        error ->
            S; % closed here while Node was answering: stale
        {ok, C} ->
            case Action of
                read_pending -> arm(Id, C, read, S);
                write_pending -> arm(Id, C, write, S);
                continue -> arm(Id, C, C#conn.mode, S);
                close ->
                    %% Node shut the socket down and closed its copy already.
                    ok = reactor_nif:close(C#conn.res, false),
                    count(closed, S#state{conns = maps:remove(Id, Conns)});
                {invalid, What} ->
                    logger:error("reactor context ~0p conn ~p: invalid action ~ts from Node; "
                                 "closing the connection", [S#state.id, Id, What]),
                    ok = reactor_nif:close(C#conn.res, true),
                    send(S, reactor_wire:close(Id, <<"invalid action">>)),
                    count(node_errors, count(closed, S#state{conns = maps:remove(Id, Conns)}))
            end
    end.

arm(Id, C = #conn{res = Res}, Mode, S) ->
    case reactor_nif:select(Res, Mode) of
        ok ->
            S#state{conns = (S#state.conns)#{Id => C#conn{mode = Mode}}};
        {error, Reason} ->
            logger:warning("reactor context ~0p conn ~p: cannot poll: ~0p", [S#state.id, Id, Reason]),
            ok = reactor_nif:close(Res, true),
            send(S, reactor_wire:close(Id, <<"poll failed">>)),
            count(closed, S#state{conns = maps:remove(Id, S#state.conns)})
    end.

%% Every ready fd already in the mailbox goes to Node in one frame.
drain_events([{Id, Kind} | _], Reads, Writes, N, Conns) when N < ?MAX_EVENTS_PER_FRAME ->
    {Reads1, Writes1, N1} =
        case is_map_key(Id, Conns) of
            false -> {Reads, Writes, N};
            true when Kind =:= read -> {[Id | Reads], Writes, N + 1};
            true -> {Reads, [Id | Writes], N + 1}
        end,
    receive
        {reactor_io, Id2, Kind2} -> drain_events([{Id2, Kind2}], Reads1, Writes1, N1, Conns)
    after 0 ->
        {lists:reverse(Reads1), lists:reverse(Writes1), N1}
    end;
drain_events(_, Reads, Writes, N, _Conns) ->
    {lists:reverse(Reads), lists:reverse(Writes), N}.

%%% Helpers

send(#state{port = undefined}, _) -> ok;
send(#state{port = Port, frames = F}, Bin) ->
    counters:add(F, 1, 1),
    try port_command(Port, Bin) of
        true -> ok
    catch
        error:badarg -> ok % Node just died: its exit_status is on its way
    end.

count(K, S) -> count(K, 1, S).
count(K, N, S = #state{counters = C}) -> S#state{counters = C#{K => maps:get(K, C) + N}}.

log(Ctx, Level, ConnId, Text) ->
    %% No domain: OTP's default handler drops events of domains it does not know.
    Meta = #{reactor_context => Ctx, connection => ConnId},
    case ConnId of
        undefined -> logger:log(Level, "reactor context ~0p: ~ts", [Ctx, Text], Meta);
        _ -> logger:log(Level, "reactor context ~0p conn ~p: ~ts", [Ctx, ConnId, Text], Meta)
    end.

%% Ask Node to stop, wait for it to exit; kill it if it does not in time.
stop_node(S = #state{port = undefined}) ->
    S;
stop_node(S = #state{port = Port, os_pid = OsPid, stop_timeout = T}) ->
    send(S, reactor_wire:stop()),
    Deadline = erlang:monotonic_time(millisecond) + T,
    wait_exit(S, Port, OsPid, Deadline).

wait_exit(S, Port, OsPid, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Port, {exit_status, 0}} ->
            S#state{port = undefined};
        {Port, {exit_status, Status}} ->
            logger:warning("reactor context ~0p: Node exited with status ~p while stopping",
                           [S#state.id, Status]),
            S#state{port = undefined};
        {Port, {data, Bin}} ->
            case reactor_wire:decode(Bin) of
                {ok, {log, L, C, Text}} -> log(S#state.id, L, C, Text);
                _ -> ok
            end,
            wait_exit(S, Port, OsPid, Deadline)
    after Left ->
        logger:warning("reactor context ~0p: Node did not stop in time; killing it", [S#state.id]),
        kill_port(Port, OsPid),
        S#state{port = undefined}
    end.

kill_port(Port, OsPid) ->
    catch port_close(Port),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid) ++ " 2>/dev/null"),
    receive {Port, {exit_status, _}} -> ok after 1000 -> ok end,
    ok.

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

priv_dir() ->
    case code:priv_dir(reactor) of
        {error, bad_name} -> filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir -> Dir
    end.

ok_or_throw({ok, V}) -> {ok, V};
ok_or_throw({error, R}) -> throw({channel, R}).
