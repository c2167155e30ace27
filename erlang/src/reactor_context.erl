%% @doc A reactor context: the server between the BEAM's side of every
%% connection and one Node.js process running one protocol.
%%
%% It admits handoffs, polls Erlang's copy of every fd (armed one-shot in its
%% poller, an epoll set whose fd is enif_selected) and tells Node which are
%% ready; Node reads, writes, runs the protocol and answers with the next
%% actions, which re-arm the fds in one NIF call. The Node process's own
%% life is {@link reactor_node}; the caller's side of a handoff is
%% {@link reactor_handoff}.
-module(reactor_context).
-behaviour(gen_server).

-export([start_link/2, start/2, child_spec/2, handoff/2, handoff/3, handoff_many/2,
         close/2, info/1, connections/1, stop/1, stop/2, whereis/1, ref/1,
         reload/1, reload/2, replace/1, replace/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).
-export([drain_init/2]).

-export_type([context/0, client_info/0, opts/0]).

%% A pid, a registered name, or `{via, reactor_registry, {context, Id}}' (see ref/1).
-type context() :: pid() | atom() | {via, module(), term()}.

-type client_info() :: #{atom() | binary() => term()}.
%% Every option and its default: reactor_config.
-type opts() :: reactor_config:opts().

-include("reactor_limits.hrl").

-define(DEFAULT_CONTEXT, reactor_default_context).
%% How long a replaced Node may keep its connections (replace/2's drain_timeout).
-define(DRAIN_TIMEOUT, 30000).

-record(state, {
    id :: term(),
    opts :: opts(),
    %% a reload Node has not answered yet
    reload :: undefined | {non_neg_integer(), gen_server:from(), opts()},
    refs = 0 :: non_neg_integer(),
    node :: reactor_node:node_proc() | undefined,
    conns :: reactor_conns:table(),
    batches = reactor_batches:new() :: reactor_batches:batches(),
    tls_keys :: reactor_tls:keys(),
    %% what Node answers in order: stats for info/1, connections/1
    queries = queue:new() :: queue:queue({stats | connections, gen_server:from()}),
    max_conns :: pos_integer(),
    started = erlang:monotonic_time() :: integer(),
    %% Nodes replaced by replace/1, still draining their connections
    drains = reactor_drains:new() :: reactor_drains:drains(),
    %% set in a drain process: the context it drains for
    drain :: undefined | #{parent := pid()},
    stop_timeout :: timeout(),
    %% port frames to Node (1) and from it (2); batches to Node (3) and from it (4)
    frames :: counters:counters_ref(),
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
      shutdown => reactor_config:get(stop_timeout, Opts) + 5000,
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
%% frames_to_node, frames_from_node (control, on the port), batches_to_node,
%% batches_from_node (the per-event path, on the batch socket), os_pid, draining.
-spec info(context()) -> #{atom() => term()}.
info(Ctx) -> gen_server:call(Ctx, info, 10000).

%% @doc Every live connection: `id', `peer', `type', `transport' (`proxy',
%% `tls'), `bytes_in', `bytes_out', `age' (ms), `state' (opening | reading |
%% writing | paused | closing: flushing or lingering), and `draining => true' for
%% those of a replaced Node.
-spec connections(context()) -> [#{atom() => term()}] | {error, not_running}.
connections(Ctx) ->
    case call(Ctx, connections, 10000) of
        {error, _} = E ->
            E;
        {Own, Drains} ->
            Own ++ lists:append([[C#{draining => true} || C <- element(1, drain_connections(D))]
                                 || D <- Drains])
    end.

drain_connections(D) ->
    case call(D, connections, 10000) of
        {error, _} -> {[], []}; % drained meanwhile
        R -> R
    end.

%% @doc Graceful stop: every protocol gets `connectionLost', every fd is closed,
%% Node exits 0.
-spec stop(context()) -> ok.
stop(Ctx) -> stop(Ctx, infinity).

stop(Ctx, Timeout) -> gen_server:stop(Ctx, normal, Timeout).

%% @doc Reload the context's protocol (and setup code) from its source. See reload/2.
-spec reload(context()) -> {ok, #{adopted := non_neg_integer()}} | {error, term()}.
reload(Ctx) -> reload(Ctx, #{}).

%% @doc Load new code into the running Node process: `Changes' may name
%% another `protocol', `setup_code' or `typecheck'. New connections get the
%% new code; live ones finish on the old, unless the new Protocol class has a
%% static `adopt(old)' that takes them over (`adopted' says how many).
%% On a compile or load error the old code keeps serving and the error is
%% returned as start_link returns it: `{error, {protocol_compile, [...]}}'...
-spec reload(context(), #{protocol => _, setup_code => iodata(), typecheck => boolean()}) ->
    {ok, #{adopted := non_neg_integer()}} | {error, term()}.
reload(Ctx, Changes) when is_map(Changes) ->
    call(Ctx, {reload, maps:with([protocol, setup_code, typecheck], Changes)}, infinity).

%% @doc Start a fresh Node process for this context. See replace/2.
-spec replace(context()) -> ok | {error, term()}.
replace(Ctx) -> replace(Ctx, #{}).

%% @doc A fresh Node process (new npm dependencies, a new `node', memory back
%% to nothing) takes every new connection; the old one keeps its connections
%% until they end, or `drain_timeout' ms (default 30000) pass and the rest are
%% closed (`connectionLost' with "closed by the reactor: replaced..."), then
%% exits. Callers and listeners keep using the same context. `Changes' may
%% also set `node', `node_args', `protocol', `setup_code', `typecheck'.
-spec replace(context(), #{drain_timeout => timeout(), atom() => term()}) -> ok | {error, term()}.
replace(Ctx, Changes) when is_map(Changes) ->
    Drain = maps:get(drain_timeout, Changes, ?DRAIN_TIMEOUT),
    call(Ctx, {replace, maps:with([node, node_args, protocol, setup_code, typecheck], Changes), Drain},
         infinity).

%% A call to a context that is gone or going says so instead of exiting the caller.
call(Ctx, Req, Timeout) ->
    try
        gen_server:call(Ctx, Req, Timeout)
    catch
        exit:{noproc, _} -> {error, not_running};
        exit:{normal, _} -> {error, not_running};
        exit:{shutdown, _} -> {error, not_running};
        exit:{{shutdown, _}, _} -> {error, not_running}
    end.

%%% gen_server

init({Id, Opts}) ->
    process_flag(trap_exit, true),
    try register_id(Id) of
        ok ->
            case start_node(Id, Opts) of
                {ok, N} ->
                    reactor_cluster:join(maps:get(group, Opts, Id)),
                    reactor_telemetry:context_start(Id, reactor_node:os_pid(N)),
                    {ok, #state{id = Id, opts = Opts, node = N, frames = counters:new(4, []),
                                conns = conns(N, #{}, Opts),
                                tls_keys = reactor_tls:keys(is_map_key(tls, Opts)),
                                max_conns = reactor_config:get(max_connections, Opts),
                                stop_timeout = reactor_config:get(stop_timeout, Opts)}};
                {error, Reason} ->
                    {stop, Reason}
            end
    catch
        throw:Why -> {stop, Why}
    end.

conns(N, TableOpts, Opts) ->
    reactor_conns:new(poller(N), reactor_node:batch(N),
                      TableOpts#{hot_wait => reactor_config:get(hot_wait, Opts)}).

%% The epoll set the connections are armed in, with Node's batch socket,
%% selected by this process.
poller(N) ->
    {ok, P} = reactor_nif:poller(reactor_node:batch(N)),
    ok = reactor_nif:select(P, read),
    P.

start_node(Id, Opts) ->
    try reactor_config:node_init(Id, Opts) of
        {Node, Args, Config} ->
            reactor_node:start(Id, #{node => Node,
                                     args => Args,
                                     init => fun(Path) -> reactor_wire:init(Config#{channel => Path}) end,
                                     timeout => reactor_config:get(start_timeout, Opts),
                                     log => fun(Level, ConnId, Text) -> log(Id, Level, ConnId, Text, #{}) end})
    catch
        throw:Why -> {error, Why}
    end.

%% Listeners find a context by its id, so a restarted one is found again.
register_id(Id) ->
    case reactor_registry:register_name({context, Id}, self()) of
        yes -> ok;
        no -> throw({already_started, reactor_registry:whereis_name({context, Id})})
    end.

handle_call({handoff, List}, _From, S = #state{drain = #{}}) ->
    {reply, [{error, draining} || _ <- List], S};
handle_call({handoff, List}, From, S) ->
    {Results, Accepted, S1} = admit(List, 1, [], [], S),
    case Accepted of
        [] ->
            {reply, Results, S1};
        _ ->
            Known = maps:from_list([{I, R} || {I, R} <- lists:enumerate(Results), R =/= pending]),
            {Batch, B} = reactor_batches:open(From, Known, length(Results), S1#state.batches),
            {noreply, send_handoffs(Batch, Accepted, S1#state{batches = B})}
    end;
handle_call({close, ConnId} = Req, From, S) ->
    case reactor_conns:close(ConnId, S#state.conns) of
        {ok, T} ->
            send(S, reactor_wire:close(ConnId, <<"closed by Erlang">>)),
            {reply, ok, count(closed, S#state{conns = T})};
        {error, _} = E ->
            %% one of a replaced Node's: its drain answers
            case reactor_drains:close_owner(ConnId, S#state.drains) of
                {ok, D} -> D ! {'$gen_call', From, Req}, {noreply, S};
                none -> {reply, E, S}
            end
    end;
handle_call(connections, From, S = #state{queries = Q}) ->
    send(S, reactor_wire:connections()),
    {noreply, S#state{queries = queue:in({connections, From}, Q)}};
handle_call({replace, _, _}, _From, S = #state{reload = {_, _, _}}) ->
    {reply, {error, reload_in_progress}, S};
handle_call({replace, _, _}, _From, S = #state{drain = #{}}) ->
    {reply, {error, draining}, S};
handle_call({replace, Changes, DrainTimeout}, _From, S = #state{id = Id, opts = Opts}) ->
    Opts1 = maps:merge(Opts, Changes),
    case start_node(Id, Opts1) of
        {ok, N} -> {reply, ok, hand_over(N, DrainTimeout, S#state{opts = Opts1})};
        {error, _} = E -> {reply, E, S}
    end;
handle_call({reload, _}, _From, S = #state{reload = {_, _, _}}) ->
    {reply, {error, reload_in_progress}, S};
handle_call({reload, Changes}, From, S = #state{opts = Opts, refs = Ref}) ->
    Opts1 = maps:merge(Opts, Changes),
    try reactor_config:code(Opts1) of
        Code ->
            send(S, reactor_wire:reload(Ref, Code)),
            {noreply, S#state{reload = {Ref, From, Opts1}, refs = Ref + 1}}
    catch
        throw:Why -> {reply, {error, Why}, S}
    end;
handle_call(info, From, S = #state{queries = Q}) ->
    send(S, reactor_wire:stats()),
    {noreply, S#state{queries = queue:in({stats, From}, Q)}};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

%% The hot path: Node's action batches applied and every connection ready
%% in the poller sent to Node as one batch, in one NIF call; what is left
%% here is what only Erlang can do (handoff acks, closes, errors).
handle_info({reactor_io, 0, read}, S) ->
    case reactor_conns:cycle(S#state.conns) of
        {ok, N, Sent, Batches, Results, T} ->
            counters:add(S#state.frames, 3, Sent),
            counters:add(S#state.frames, 4, Batches),
            S1 = lists:foldl(fun from_batch/2, S#state{conns = T}, Results),
            drained(armed({noreply, count(events, N, S1)}));
        {error, Reason} ->
            logger:error("reactor context ~0p: malformed batch from Node: ~0p", [S#state.id, Reason]),
            {stop, Reason, S}
    end;
handle_info({reactor_io, 0, write}, S) ->
    {noreply, S#state{conns = reactor_conns:writable(S#state.conns)}};
handle_info({'EXIT', Parent, Reason}, S = #state{drain = #{parent := Parent}}) ->
    {stop, Reason, S};
handle_info({'EXIT', Pid, _}, S = #state{drains = Drains}) when is_pid(Pid) ->
    {noreply, S#state{drains = reactor_drains:remove(Pid, Drains)}};
handle_info(drain_timeout, S = #state{drain = #{}}) ->
    Ids = reactor_conns:ids(S#state.conns),
    logger:notice("reactor context ~0p: the replaced Node's drain timed out; closing its ~b connections",
                  [S#state.id, length(Ids)]),
    S1 = lists:foldl(fun(Id, Acc) ->
                             {_, T} = reactor_conns:close(Id, Acc#state.conns),
                             send(Acc, reactor_wire:close(Id, <<"replaced, and the drain timed out">>)),
                             Acc#state{conns = T}
                     end, S, Ids),
    {stop, normal, S1};
handle_info({drain_stop, Reason}, S = #state{drain = #{}}) ->
    {stop, Reason, S};
handle_info(drain_check, S) ->
    drained({noreply, S});
handle_info(Msg, S = #state{node = Node}) ->
    case reactor_node:handle(Msg, Node) of
        {data, Bin} ->
            counters:add(S#state.frames, 2, 1),
            case reactor_wire:decode(Bin) of
                {ok, M} -> drained(armed(from_node(M, S)));
                {error, Reason} ->
                    logger:error("reactor context ~0p: malformed frame from Node: ~0p", [S#state.id, Reason]),
                    {stop, {bad_frame, Reason}, S}
            end;
        {ok, Node1} ->
            {noreply, S#state{node = Node1}};
        {exit, Reason, Node1} ->
            logger:error("reactor context ~0p: Node died: ~0p", [S#state.id, Reason]),
            reactor_telemetry:context_exit(S#state.id, Reason),
            {stop, Reason, S#state{node = Node1}};
        ignore ->
            reactor_drains:route(Msg, S#state.drains),
            {noreply, S}
    end.

terminate(Reason, S = #state{id = Id}) ->
    %% replaced Nodes go first: their connections end with the context
    ok = reactor_drains:stop_all(S#state.drains, S#state.stop_timeout + 5000),
    %% connections end as Node stops: their logs and telemetry still count
    ok = reactor_node:stop(S#state.node, S#state.stop_timeout,
                           fun(M = {Kind, _, _, _}) when Kind =:= log; Kind =:= exception -> from_node(M, S);
                              (M = {closed, _, _}) -> from_node(M, S);
                              (_) -> ok
                           end),
    reactor_conns:close_all(S#state.conns),
    reactor_batches:stop_all(stopped, S#state.batches),
    [gen_server:reply(F, {error, stopped}) || {_, F} <- queue:to_list(S#state.queries)],
    case S#state.reload of
        {_, From, _} -> gen_server:reply(From, {error, stopped});
        undefined -> ok
    end,
    S#state.drain =:= undefined andalso reactor_telemetry:context_stop(Id, S#state.started, Reason),
    ok.

%%% Replace: a fresh Node takes new connections; the old one drains.

%% The old Node, its connections, the handoffs and queries it has not
%% answered go to a drain process running this module; this process keeps
%% its pid, its name and its listeners, and starts over with `N'.
hand_over(N, DrainTimeout, S = #state{node = Old, conns = T, drains = Drains}) ->
    D = proc_lib:spawn_link(?MODULE, drain_init, [self(), DrainTimeout]),
    Boundary = reactor_conns:first_free(T),
    %% the old poller's select may have fired here: the drain polls it at once
    Forwarded = reactor_node:hand_over(Old, D) ++ [{reactor_io, 0, read}],
    D ! {takeover, self(), S#state{drains = reactor_drains:new(), drain = #{parent => self()}}, Forwarded},
    logger:notice("reactor context ~0p: replaced Node ~p by ~p; ~b connections drain on the old",
                  [S#state.id, reactor_node:os_pid(Old), reactor_node:os_pid(N),
                   length(reactor_conns:ids(T))]),
    S#state{node = N, conns = conns(N, #{first_id => Boundary}, S#state.opts),
            batches = reactor_batches:new(),
            tls_keys = reactor_tls:keys(is_map_key(tls, S#state.opts)), queries = queue:new(),
            drains = reactor_drains:add(D, Old, Boundary, Drains)}.

%% @private The drain process: it takes the old Node over, handles what was
%% already waiting for it, then serves as a context that admits nothing and
%% stops when its last connection ends (or at the drain timeout).
drain_init(Parent, DrainTimeout) ->
    process_flag(trap_exit, true),
    receive
        {takeover, Parent, S0, Forwarded} ->
            S1 = S0#state{node = reactor_node:take_over(S0#state.node),
                          conns = reactor_conns:adopt(S0#state.conns)},
            DrainTimeout =:= infinity orelse erlang:send_after(DrainTimeout, self(), drain_timeout),
            S2 = lists:foldl(fun replay/2, S1, Forwarded),
            self() ! drain_check,
            gen_server:enter_loop(?MODULE, [], S2)
    end.

replay(Msg, S) ->
    case handle_info(Msg, S) of
        {noreply, S1} -> S1;
        {stop, Reason, S1} -> self() ! {drain_stop, Reason}, S1
    end.

%% The re-arms an answer from Node decided, in one NIF call; a connection that
%% cannot be polled any more closes.
armed({noreply, S = #state{conns = T}}) ->
    {Failed, T1} = reactor_conns:flush(T),
    {noreply, lists:foldl(fun({Id, Reason}, Acc) ->
                                  logger:warning("reactor context ~0p conn ~p: cannot poll: ~0p",
                                                 [Acc#state.id, Id, Reason]),
                                  send(Acc, reactor_wire:close(Id, <<"poll failed">>)),
                                  count(closed, Acc)
                          end, S#state{conns = T1}, Failed)};
armed(Other) ->
    Other.

%% A drain is done when its last connection is.
drained({noreply, S = #state{drain = #{}, conns = T}}) ->
    case reactor_conns:is_empty(T) of
        true -> {stop, normal, S};
        false -> {noreply, S}
    end;
drained(Other) ->
    Other.


%%% Handoff

admit([], _I, Results, Accepted, S) ->
    {lists:reverse(Results), lists:reverse(Accepted), S};
admit([{Res, Info, Transport} | Rest], I, Results, Accepted, S) ->
    Active = reactor_conns:active(S#state.conns) + length(Accepted),
    Admitted = case Active >= S#state.max_conns of
                   true -> {error, max_connections};
                   false -> layers(Transport, S)
               end,
    case Admitted of
        {ok, Layers, S1} ->
            {Id, T} = reactor_conns:next_id(S1#state.conns),
            S2 = S1#state{conns = T},
            case reactor_nif:take(Res, Id) of
                ok ->
                    admit(Rest, I + 1, [pending | Results], [{I, Id, Res, Info, Layers} | Accepted], S2);
                {error, Reason} ->
                    admit(Rest, I + 1, [{error, Reason} | Results], Accepted, count(refused, S2))
            end;
        {error, _} = Refused ->
            %% the caller closes what we refuse
            admit(Rest, I + 1, [Refused | Results], Accepted, count(refused, S))
    end.

%% The layers as Node names them; a TLS option set new to this context goes
%% to Node first, once.
layers(#{proxy := Proxy, tls := Tls}, S = #state{tls_keys = Keys}) ->
    try reactor_tls:key(Tls, Keys) of
        {Key, Frames, Keys1} ->
            [send(S, F) || F <- Frames],
            {ok, #{proxy => Proxy, tls => Key}, S#state{tls_keys = Keys1}}
    catch
        throw:Reason -> {error, Reason}
    end.

%% The fds go first, then the messages that announce them: when Node reads
%% {handoff, Id, _, _} its fd is already queued on the channel.
send_handoffs(_Batch, [], S) ->
    S;
send_handoffs(Batch, Accepted, S) ->
    {Chunk, Rest} = lists:split(min(?MAX_FDS_PER_MSG, length(Accepted)), Accepted),
    Ids = [Id || {_, Id, _, _, _} <- Chunk],
    Fds = [reactor_nif:fd(Res) || {_, _, Res, _, _} <- Chunk],
    S1 = case reactor_channel:send_fds(reactor_node:channel(S#state.node), Ids, Fds) of
             ok ->
                 lists:foldl(
                   fun({I, Id, Res, Info, Layers}, Acc) ->
                           send(Acc, reactor_wire:handoff(Id, Info, Layers)),
                           Acc#state{conns = reactor_conns:pending(Id, {Batch, I}, Res, Info, Layers, Acc#state.conns)}
                   end, S, Chunk);
             {error, Reason} ->
                 logger:error("reactor context ~0p: fd channel send failed: ~0p", [S#state.id, Reason]),
                 lists:foldl(
                   fun({I, _Id, Res, _, _}, Acc) ->
                           ok = reactor_nif:close(Res, true),
                           batch_result(Batch, I, {error, {channel, Reason}}, count(refused, Acc))
                   end, S, Chunk)
         end,
    send_handoffs(Batch, Rest, S1).

batch_result(Batch, I, Result, S = #state{batches = B}) ->
    S#state{batches = reactor_batches:result(Batch, I, Result, B)}.

%%% Messages from Node

from_node({nack, Id, Reason}, S) ->
    case reactor_conns:nacked(Id, S#state.conns) of
        {ok, {Batch, I}, T} ->
            {noreply, batch_result(Batch, I, {error, Reason}, count(refused, S#state{conns = T}))};
        error ->
            {noreply, S}
    end;
from_node({reloaded, Ref, Adopted}, S = #state{reload = {Ref, From, Opts}}) ->
    logger:notice("reactor context ~0p: protocol reloaded (~b live connections adopted)", [S#state.id, Adopted]),
    gen_server:reply(From, {ok, #{adopted => Adopted}}),
    {noreply, S#state{reload = undefined, opts = Opts}};
from_node({reload_error, Ref, Kind, Details}, S = #state{reload = {Ref, From, _}}) ->
    gen_server:reply(From, {error, {Kind, Details}}),
    {noreply, S#state{reload = undefined}};
from_node({log, Level, ConnId, Text}, S) ->
    log(S#state.id, Level, ConnId, Text, peer_meta(ConnId, S)),
    {noreply, S};
from_node({stats, NodeStats}, S = #state{queries = Q}) ->
    case queue:peek(Q) of
        {value, {stats, From}} ->
            #{node_errors := NodeErrors} = C = S#state.counters,
            Info = maps:merge(maps:remove(node_errors, C), NodeStats),
            gen_server:reply(From, Info#{errors => maps:get(errors, NodeStats, 0) + NodeErrors,
                                         pending => reactor_conns:waiting(S#state.conns),
                                         frames_to_node => counters:get(S#state.frames, 1),
                                         frames_from_node => counters:get(S#state.frames, 2),
                                         batches_to_node => counters:get(S#state.frames, 3),
                                         batches_from_node => counters:get(S#state.frames, 4),
                                         os_pid => reactor_node:os_pid(S#state.node),
                                         draining => reactor_drains:count(S#state.drains)}),
            {noreply, S#state{queries = queue:drop(Q)}};
        _ ->
            {noreply, S}
    end;
from_node({connections, List}, S = #state{queries = Q}) ->
    case queue:peek(Q) of
        {value, {connections, From}} ->
            T = S#state.conns,
            Own = [maps:merge(#{peer => undefined, type => undefined, transport => undefined},
                              maps:merge(default_meta(reactor_conns:meta(Id, T)), C))
                   || C = #{id := Id} <- List],
            gen_server:reply(From, {Own, reactor_drains:pids(S#state.drains)}),
            {noreply, S#state{queries = queue:drop(Q)}};
        _ ->
            {noreply, S}
    end;
from_node({closed, Id, Summary}, S) ->
    {Meta, T} = reactor_conns:ended(Id, S#state.conns),
    reactor_telemetry:connection_stop(S#state.id, Id, default_meta(Meta), Summary),
    {noreply, S#state{conns = T}};
from_node({exception, Id, Callback, Stack}, S) ->
    reactor_telemetry:protocol_exception(S#state.id, Id, Callback, Stack),
    {noreply, S};
from_node(Unexpected, S) ->
    logger:warning("reactor context ~0p: unexpected message from Node: ~0p",
                   [S#state.id, Unexpected]),
    {noreply, S}.

%% What cycle/1 left to Erlang of Node's action batches.
from_batch({Id, {ack, Action}}, S) ->
    case reactor_conns:acked(Id, S#state.conns) of
        {ok, {Batch, I}, T} ->
            reactor_telemetry:connection_start(S#state.id, Id, reactor_conns:meta(Id, T)),
            S1 = act(Id, Action, count(handoffs, S#state{conns = T})),
            batch_result(Batch, I, {ok, Id}, S1);
        error ->
            S
    end;
from_batch({Id, {invalid, Code}}, S) ->
    act(Id, {invalid, integer_to_binary(Code)}, S);
from_batch({Id, {poll_failed, Reason}}, S) ->
    logger:warning("reactor context ~0p conn ~p: cannot poll: ~0p", [S#state.id, Id, Reason]),
    {_, T} = reactor_conns:close(Id, S#state.conns),
    send(S, reactor_wire:close(Id, <<"poll failed">>)),
    count(closed, S#state{conns = T});
from_batch({Id, Action}, S) ->
    act(Id, Action, S).

default_meta(undefined) -> #{};
default_meta(Meta) -> Meta.

peer_meta(ConnId, #state{conns = T}) ->
    case reactor_conns:peer(ConnId, T) of
        undefined -> #{};
        Peer -> #{peer => Peer}
    end.

act(Id, Action, S) ->
    {Result, T} = reactor_conns:act(Id, Action, S#state.conns),
    S1 = S#state{conns = T},
    case Result of
        armed -> S1;
        stale -> S1;
        closed -> count(closed, S1);
        {invalid, What} ->
            logger:error("reactor context ~0p conn ~p: invalid action ~ts from Node; "
                         "closing the connection", [S#state.id, Id, What]),
            send(S1, reactor_wire:close(Id, <<"invalid action">>)),
            count(node_errors, count(closed, S1))
    end.

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
