%% @doc A reactor context: the server between the BEAM's side of every
%% connection and one Node.js process running one protocol.
%%
%% It admits handoffs, polls Erlang's copy of every fd with enif_select and
%% tells Node which are ready; Node reads, writes, runs the protocol and
%% answers with the next action, which re-arms the fd. The Node process's own
%% life is {@link reactor_node}; the caller's side of a handoff is
%% {@link reactor_handoff}.
-module(reactor_context).
-behaviour(gen_server).

-export([start_link/2, start/2, child_spec/2, handoff/2, handoff/3, handoff_many/2,
         close/2, info/1, stop/1, stop/2, whereis/1, ref/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([context/0, client_info/0, opts/0]).

%% A pid, a registered name, or `{via, reactor_registry, {context, Id}}' (see ref/1).
-type context() :: pid() | atom() | {via, module(), term()}.

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
-define(MAX_FDS_PER_MSG, 64).
-define(MAX_EVENTS_PER_FRAME, 1024).

-record(conn, {res :: reactor_nif:res(), mode = read :: read | write, peer :: term()}).

-record(state, {
    id :: term(),
    node :: reactor_node:node_proc() | undefined,
    conns = #{} :: #{integer() => #conn{}},
    %% handoffs sent to Node, waiting for its ack: Id => {Batch, Index, Res, Peer}
    pending = #{} :: #{integer() => {reference(), pos_integer(), reactor_nif:res(), term()}},
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

%% @doc A child spec for a supervisor of your own: `reactor:child_spec/2'.
-spec child_spec(term(), opts()) -> supervisor:child_spec().
child_spec(Id, Opts) ->
    #{id => {reactor_context, Id},
      start => {?MODULE, start_link, [Id, Opts]},
      shutdown => maps:get(stop_timeout, Opts, 5000) + 5000,
      type => worker,
      modules => [?MODULE]}.

%% @doc The context started with id `Id', wherever it was (re)started.
-spec whereis(term()) -> pid() | undefined.
whereis(Id) -> reactor_registry:whereis_name({context, Id}).

%% @doc A reference to the context with id `Id' that survives its restarts:
%% every call through it finds the context running now.
-spec ref(term()) -> context().
ref(Id) -> {via, reactor_registry, {context, Id}}.

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
handoff_many(Ctx, List) -> reactor_handoff:run(Ctx, List).

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
        register_id(Id),
        Node = node_executable(Opts),
        Protocol = protocol_path(Opts),
        SetupCode = iolist_to_binary(maps:get(setup_code, Opts, <<>>)),
        (Protocol =:= <<>> andalso SetupCode =:= <<>>) andalso throw(no_protocol_given),
        Script = filename:join(reactor_priv:dir(), "reactor_port.js"),
        filelib:is_regular(Script) orelse throw({runtime_not_built, Script}),
        Tls = case maps:get(tls, Opts, undefined) of
                  undefined -> nil;
                  TlsOpts -> reactor_tls:options(TlsOpts)
              end,
        Config = #{context => iolist_to_binary(io_lib:format("~0p", [Id])),
                   protocol => Protocol,
                   setup_code => SetupCode,
                   read_size => maps:get(read_size, Opts, 1024 * 1024),
                   write_high_water => maps:get(write_high_water, Opts, 1 bsl 20),
                   callback_timeout => maps:get(callback_timeout, Opts, 0),
                   idle_timeout => maps:get(idle_timeout, Opts, 0),
                   tls => Tls},
        Start = #{node => Node,
                  args => maps:get(node_args, Opts, []) ++ [Script],
                  init => fun(ChannelPath) -> reactor_wire:init(Config#{channel => ChannelPath}) end,
                  timeout => maps:get(start_timeout, Opts, 30000),
                  log => fun(Level, ConnId, Text) -> log(Id, Level, ConnId, Text, #{}) end},
        case reactor_node:start(Id, Start) of
            {ok, N} ->
                {ok, #state{id = Id, node = N, frames = counters:new(2, []),
                            max_conns = maps:get(max_connections, Opts, 65536),
                            stop_timeout = maps:get(stop_timeout, Opts, 5000)}};
            {error, Reason} ->
                {stop, Reason}
        end
    catch
        throw:Why -> {stop, Why}
    end.

%% Listeners find a context by its id, so a restarted one is found again.
register_id(Id) ->
    case reactor_registry:register_name({context, Id}, self()) of
        yes -> ok;
        no -> throw({already_started, reactor_registry:whereis_name({context, Id})})
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

%% The hot path: every ready fd already in the mailbox goes to Node in one frame.
handle_info({reactor_io, Id, Kind}, S) when Id > 0 ->
    {Reads, Writes, N} = drain_events([{Id, Kind}], [], [], 0, S#state.conns),
    case N of
        0 -> ok;
        _ -> send(S, reactor_wire:ready(Reads, Writes))
    end,
    {noreply, count(events, N, S)};
handle_info(Msg, S = #state{node = Node}) ->
    case reactor_node:handle(Msg, Node) of
        {data, Bin} ->
            counters:add(S#state.frames, 2, 1),
            case reactor_wire:decode(Bin) of
                {ok, M} -> from_node(M, S);
                {error, Reason} ->
                    logger:error("reactor context ~0p: malformed frame from Node: ~0p", [S#state.id, Reason]),
                    {stop, {bad_frame, Reason}, S}
            end;
        {ok, Node1} ->
            {noreply, S#state{node = Node1}};
        {exit, Reason, Node1} ->
            logger:error("reactor context ~0p: Node died: ~0p", [S#state.id, Reason]),
            {stop, Reason, S#state{node = Node1}};
        ignore ->
            {noreply, S}
    end.

terminate(_Reason, S = #state{id = Id}) ->
    ok = reactor_node:stop(S#state.node, S#state.stop_timeout,
                           fun(Level, ConnId, Text) -> log(Id, Level, ConnId, Text, #{}) end),
    maps:foreach(fun(_, #conn{res = R}) -> reactor_nif:close(R, true) end, S#state.conns),
    maps:foreach(fun(_, {_, _, R, _}) -> reactor_nif:close(R, true) end, S#state.pending),
    maps:foreach(fun(_, {From, Known, _, Total}) ->
                         gen_server:reply(From, fill(Known, Total, {error, stopped}))
                 end, S#state.batches),
    [gen_server:reply(F, {error, stopped}) || F <- queue:to_list(S#state.stats_waiters)],
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
    S1 = case reactor_channel:send_fds(reactor_node:channel(S#state.node), Ids, Fds) of
             ok ->
                 lists:foldl(
                   fun({I, Id, Res, Info}, Acc) ->
                           send(Acc, reactor_wire:handoff(Id, Info)),
                           Pending = {Batch, I, Res, peer(Info)},
                           Acc#state{pending = (Acc#state.pending)#{Id => Pending}}
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

%% Who is at the other end, for the metadata of the protocol's log events.
peer(#{addr := A, port := P}) -> {A, P};
peer(#{addr := A}) -> A;
peer(_) -> undefined.

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
        {{Batch, I, Res, Peer}, P1} ->
            S1 = S#state{pending = P1, conns = (S#state.conns)#{Id => #conn{res = Res, peer = Peer}}},
            S2 = act(Id, Action, count(handoffs, S1)),
            {noreply, batch_result(Batch, I, {ok, Id}, S2)};
        error ->
            {noreply, S}
    end;
from_node({nack, Id, Reason}, S = #state{pending = P}) ->
    case maps:take(Id, P) of
        {{Batch, I, Res, _}, P1} ->
            ok = reactor_nif:close(Res, true),
            {noreply, batch_result(Batch, I, {error, Reason}, count(refused, S#state{pending = P1}))};
        error ->
            {noreply, S}
    end;
from_node({log, Level, ConnId, Text}, S) ->
    log(S#state.id, Level, ConnId, Text, peer_meta(ConnId, S)),
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
                                         os_pid => reactor_node:os_pid(S#state.node)}),
            {noreply, S#state{stats_waiters = Q1}};
        {empty, _} ->
            {noreply, S}
    end;
from_node(Unexpected, S) ->
    logger:warning("reactor context ~0p: unexpected message from Node: ~0p",
                   [S#state.id, Unexpected]),
    {noreply, S}.

peer_meta(ConnId, #state{conns = Conns, pending = P}) ->
    case {maps:find(ConnId, Conns), maps:find(ConnId, P)} of
        {{ok, #conn{peer = Peer}}, _} when Peer =/= undefined -> #{peer => Peer};
        {_, {ok, {_, _, _, Peer}}} when Peer =/= undefined -> #{peer => Peer};
        _ -> #{}
    end.

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

drain_events([{Id, Kind} | _], Reads, Writes, N, Conns) when N < ?MAX_EVENTS_PER_FRAME ->
    {Reads1, Writes1, N1} =
        case is_map_key(Id, Conns) of
            false -> {Reads, Writes, N};
            true when Kind =:= read -> {[Id | Reads], Writes, N + 1};
            true -> {Reads, [Id | Writes], N + 1}
        end,
    receive
        {reactor_io, Id2, Kind2} when Id2 > 0 -> drain_events([{Id2, Kind2}], Reads1, Writes1, N1, Conns)
    after 0 ->
        {lists:reverse(Reads1), lists:reverse(Writes1), N1}
    end;
drain_events(_, Reads, Writes, N, _Conns) ->
    {lists:reverse(Reads), lists:reverse(Writes), N}.

%%% Helpers

send(#state{node = N, frames = F}, Bin) ->
    counters:add(F, 1, 1),
    reactor_node:send(N, Bin).

count(K, S) -> count(K, 1, S).
count(K, N, S = #state{counters = C}) -> S#state{counters = C#{K => maps:get(K, C) + N}}.

%% A protocol's log event: the context, the connection and its peer as metadata.
%% No domain: OTP's default handler drops events of domains it does not know.
log(Ctx, Level, ConnId, Text, Meta0) ->
    Meta = Meta0#{reactor_context => Ctx, connection => ConnId},
    case ConnId of
        undefined -> logger:log(Level, "reactor context ~0p: ~ts", [Ctx, Text], Meta);
        _ -> logger:log(Level, "reactor context ~0p conn ~p: ~ts", [Ctx, ConnId, Text], Meta)
    end.

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
