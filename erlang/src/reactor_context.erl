%% @doc A reactor context: the server between the BEAM's side of every
%% connection and one Node.js process running one protocol.
%%
%% It admits handoffs ({@link reactor_handoff}), polls Erlang's copy of every
%% fd (armed one-shot in its poller, an epoll set whose fd is enif_selected)
%% and tells Node which are ready; Node reads, writes, runs the protocol and
%% answers with the next actions, which re-arm the fds in one NIF call
%% ({@link reactor_from_node}). It reloads Node's code, and replaces Node by a
%% fresh one, handing the old one to a {@link reactor_drain}. The Node
%% process's own life is {@link reactor_node}; what the context holds of it
%% and its connections, {@link reactor_served}.
-module(reactor_context).
-behaviour(gen_server).

-export([start_link/2, start/2, child_spec/2, handoff/2, handoff/3, handoff_many/2,
         close/2, info/1, connections/1, stop/1, stop/2, whereis/1, ref/1,
         reload/1, reload/2, replace/1, replace/2, call/3, call/4, eval/2, eval/3]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([context/0, client_info/0, opts/0]).

%% A pid, a registered name, or `{via, reactor_registry, {context, Id}}' (see ref/1).
-type context() :: pid() | atom() | {via, module(), term()}.

-type client_info() :: #{atom() | binary() => term()}.
%% Every option and its default: reactor_config.
-type opts() :: reactor_config:opts().

-define(DEFAULT_CONTEXT, reactor_default_context).
%% How long a replaced Node may keep its connections (replace/2's drain_timeout).
-define(DRAIN_TIMEOUT, 30000).
%% What call/4 and eval/3 take (a function_clause otherwise): a name or
%% source as an atom or chardata, and a timeout receive can wait.
-define(IS_NAME(N), (is_atom(N) orelse is_binary(N) orelse is_list(N))).
-define(IS_TIMEOUT(T), (T =:= infinity orelse (is_integer(T) andalso T >= 0 andalso T =< 16#FFFFFFFF))).
%% ms call/3 and eval/2 wait for their result.
-define(CALL_TIMEOUT, 5000).

-record(state, {
    id :: term(),
    opts :: opts(),
    %% a reload Node has not answered yet
    reload :: undefined | {non_neg_integer(), gen_server:from(), opts()},
    refs = 0 :: non_neg_integer(),
    %% the Node process and its connections
    served :: reactor_served:served(),
    %% the TLS option sets this Node knows (reactor_handoff:admit/5)
    tls_keys :: reactor_tls:keys(),
    max_conns :: pos_integer(),
    started = erlang:monotonic_time() :: integer(),
    %% Nodes replaced by replace/1, each in a drain until its connections end
    drains = reactor_drains:new() :: reactor_drains:drains(),
    stop_timeout :: timeout()
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

%% `name': an atom, or OTP's `{local, Atom}', registered locally.
start(How, Id, Opts) when is_map(Opts) ->
    case maps:get(name, Opts, undefined) of
        undefined -> gen_server:How(?MODULE, {Id, Opts}, []);
        {local, Name} when is_atom(Name) -> gen_server:How({local, Name}, ?MODULE, {Id, Opts}, []);
        Name when is_atom(Name) -> gen_server:How({local, Name}, ?MODULE, {Id, Opts}, []);
        Bad -> {error, {bad_option, {name, Bad}}}
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

%% @doc Several fds at once (one channel message carries up to
%% `?MAX_FDS_PER_MSG', reactor_limits.hrl).
%%
%% The caller takes ownership of each fd first (a NIF resource it owns); the
%% context then takes it over. A listener's acceptor gives the connections
%% reactor_nif:accept/1 made, owned already. Whatever does not end as a
%% connection is closed here, whether the context refused it, died before
%% reading the request, or never existed, so an fd is never left behind.
-spec handoff_many(context(), [{integer() | reactor_nif:res(), client_info()}]) ->
    [{ok, integer()} | {error, term()}].
handoff_many(Ctx, List) -> reactor_handoff:run(Ctx, List).

%% @doc Close a connection from Erlang: both copies of the fd, `connectionLost'
%% runs in Node.
-spec close(context(), integer()) -> ok | {error, not_found}.
close(Ctx, ConnId) ->
    case gen_server:call(Ctx, {close, ConnId}) of
        {draining, D} -> reactor_drain:close(D, ConnId); % one of a replaced Node's
        R -> R
    end.

%% @doc Counters: connections, bytes_in, bytes_out, buffered (bytes queued in
%% writeBuffers), events, errors, handoffs, refused, closed, pending (handoffs
%% Node has not answered yet: connections opening), lingering (connections
%% Node is done with whose lingering close the BEAM's poller still reads:
%% their fds are held until the peer's end or `linger_timeout'), unanswered
%% (connections Node is working on: sent to it as ready, not answered yet),
%% frames_to_node, frames_from_node (control, on the port), batches_to_node,
%% batches_from_node (the per-event path, on the batch socket), os_pid, draining;
%% the bridge's calls_in_flight, beam_calls_in_flight, beam_sends_dropped;
%% messages (reactor:send/2, reactor:publish/2): messages_delivered (the
%% protocols took them), messages_queued (waiting in connections' queues
%% now), sent_to_ended (for a connection that had ended, or ended before
%% taking them: dropped).
-spec info(context()) -> #{atom() => term()}.
info(Ctx) -> gen_server:call(Ctx, info, 10000).

%% @doc Every live connection: `id', `ref' (its reactor:conn_ref(), for
%% reactor:send/2), `peer', `type', `transport' (`proxy', `tls'), `bytes_in', `bytes_out', `age' (ms), `state' (opening | reading |
%% writing | paused | closing: flushing or lingering), and `draining => true' for
%% those of a replaced Node. A connection whose lingering close the poller took
%% over (Node's part is done) is not listed: info/1 counts it as `lingering'.
-spec connections(context()) -> [#{atom() => term()}] | {error, not_running}.
connections(Ctx) ->
    case request(Ctx, connections, 10000) of
        {error, _} = E ->
            E;
        {Own, Drains} ->
            Own ++ lists:append([[C#{draining => true} || C <- reactor_drain:connections(D)]
                                 || D <- Drains])
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
    request(Ctx, {reload, maps:with([protocol, setup_code, typecheck], Changes)}, infinity).

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
    request(Ctx, {replace, maps:with([node, node_args, protocol, setup_code, typecheck], Changes), Drain},
            infinity).

%% @doc call/4 with a timeout of 5000 ms.
-spec call(context(), unicode:chardata() | atom(), [term()]) -> {ok, term()} | {error, term()}.
call(Ctx, Function, Args) -> call(Ctx, Function, Args, ?CALL_TIMEOUT).

%% @doc Call a function the protocol module (or its setup code) exports, by
%% name, and wait up to `Timeout' ms for what it returns, a Promise awaited:
%% `{ok, Term}', or `{error, {exception, Message, Stack} | {no_function, Name}
%% | timeout | overloaded | not_running}' (docs/bridge.md). The context never
%% waits for it. Raises `{bad_term, Why}' for `Args' that cannot cross.
-spec call(context(), unicode:chardata() | atom(), [term()], timeout()) -> {ok, term()} | {error, term()}.
call(Ctx, Function, Args, Timeout) when is_list(Args), ?IS_NAME(Function), ?IS_TIMEOUT(Timeout) ->
    reactor_bridge:request(Ctx, call, [Function, Args], Timeout).

%% @doc eval/3 with a timeout of 5000 ms.
-spec eval(context(), unicode:chardata()) -> {ok, term()} | {error, term()}.
eval(Ctx, Source) -> eval(Ctx, Source, ?CALL_TIMEOUT).

%% @doc Run TypeScript `Source' in the context's Node process: its value is
%% its last statement's (a Promise awaited; docs/bridge.md). As call/4.
-spec eval(context(), unicode:chardata(), timeout()) -> {ok, term()} | {error, term()}.
eval(Ctx, Source, Timeout) when ?IS_NAME(Source), ?IS_TIMEOUT(Timeout) ->
    reactor_bridge:request(Ctx, eval, [Source], Timeout).

%% A call to a context that is gone or going says so instead of exiting the caller.
request(Ctx, Req, Timeout) ->
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
                    {ok, #state{id = Id, opts = Opts,
                                served = reactor_served:new(Id, N, table_opts(Opts)),
                                tls_keys = tls_keys(Opts),
                                max_conns = reactor_config:get(max_connections, Opts),
                                stop_timeout = reactor_config:get(stop_timeout, Opts)}};
                {error, Reason} ->
                    %% free the id now: the registry would see this process
                    %% go only later, and a start right after would collide
                    reactor_registry:unregister_name({context, Id}),
                    {stop, Reason}
            end
    catch
        throw:Why -> {stop, Why}
    end.

table_opts(Opts) ->
    #{hot_wait => reactor_config:get(hot_wait, Opts), await_policy => reactor_config:get(await_policy, Opts),
      bridge => reactor_bridge:new(Opts),
      linger_timeout => reactor_config:get(linger_timeout, Opts),
      linger_max_bytes => reactor_config:get(linger_max_bytes, Opts)}.

start_node(Id, Opts) ->
    try reactor_config:node_init(Id, Opts) of
        {Node, Args, Config} ->
            reactor_node:start(Id, #{node => Node,
                                     args => Args,
                                     init => fun(Path) -> reactor_wire:init(Config#{channel => Path}) end,
                                     timeout => reactor_config:get(start_timeout, Opts),
                                     log => fun(Level, ConnId, Text) ->
                                                    reactor_from_node:log(Id, Level, ConnId, Text, #{})
                                            end})
    catch
        throw:Why -> {error, Why}
    end.

%% Listeners find a context by its id, so a restarted one is found again.
register_id(Id) ->
    case reactor_registry:register_name({context, Id}, self()) of
        yes -> ok;
        no -> throw({already_started, reactor_registry:whereis_name({context, Id})})
    end.

handle_call({handoff, Request}, From, S = #state{served = Sv, tls_keys = Keys, max_conns = Max}) ->
    case reactor_handoff:admit(Request, From, Sv, Keys, Max) of
        {reply, Results, Sv1, Keys1} -> {reply, Results, S#state{served = Sv1, tls_keys = Keys1}};
        {noreply, Sv1, Keys1} -> {noreply, S#state{served = Sv1, tls_keys = Keys1}}
    end;
handle_call({close, ConnId}, _From, S = #state{served = Sv}) ->
    case reactor_served:close(ConnId, <<"closed by Erlang">>, Sv) of
        {ok, Sv1} ->
            {reply, ok, S#state{served = Sv1}};
        {error, _} = E ->
            %% one of a replaced Node's: the caller asks its drain (close/2)
            case reactor_drains:close_owner(ConnId, S#state.drains) of
                {ok, D} -> {reply, {draining, D}, S};
                none -> {reply, E, S}
            end
    end;
handle_call(connections, From, S = #state{served = Sv}) ->
    {noreply, S#state{served = reactor_served:ask(connections, From, Sv)}};
handle_call({replace, _, _}, _From, S = #state{reload = {_, _, _}}) ->
    {reply, {error, reload_in_progress}, S};
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
            reactor_served:send(S#state.served, reactor_wire:reload(Ref, Code)),
            {noreply, S#state{reload = {Ref, From, Opts1}, refs = Ref + 1}}
    catch
        throw:Why -> {reply, {error, Why}, S}
    end;
handle_call({group_count, G}, _From, S = #state{served = Sv}) ->
    {reply, reactor_served:group_count(G, Sv), S};
handle_call({reactor_bridge, Req}, From, S = #state{served = Sv}) ->
    case reactor_bridge:handle_call(Req, From, Sv) of
        {noreply, Sv1} -> {noreply, S#state{served = Sv1}};
        {reply, R, Sv1} -> {reply, R, S#state{served = Sv1}}
    end;
handle_call(info, From, S = #state{served = Sv}) ->
    {noreply, S#state{served = reactor_served:ask(stats, From, Sv)}};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

%% The hot path: a turn of the poller (reactor_from_node:turn/1).
handle_info({reactor_io, 0, read}, S = #state{served = Sv}) ->
    case reactor_from_node:turn(Sv) of
        {ok, Sv1} -> {noreply, S#state{served = Sv1}};
        {error, Reason} -> {stop, Reason, S}
    end;
handle_info({reactor_io, 0, write}, S = #state{served = Sv}) ->
    {noreply, S#state{served = reactor_served:writable(Sv)}};
handle_info({'EXIT', Pid, _}, S = #state{drains = Drains}) when is_pid(Pid) ->
    {noreply, S#state{drains = reactor_drains:remove(Pid, Drains)}};
handle_info(Msg, S = #state{served = Sv}) ->
    case reactor_from_node:message(Msg, Sv) of
        {ok, Sv1, Answer} ->
            {noreply, answer(Answer, S#state{served = Sv1})};
        {exit, Reason, Sv1} ->
            {stop, Reason, S#state{served = Sv1}};
        {error, Reason} ->
            {stop, Reason, S};
        ignore ->
            reactor_drains:route(Msg, S#state.drains),
            {noreply, S}
    end.

terminate(Reason, S = #state{id = Id}) ->
    %% replaced Nodes go first: their connections end with the context
    ok = reactor_drains:stop_all(S#state.drains, S#state.stop_timeout + 5000),
    ok = reactor_served:stop(S#state.served, S#state.stop_timeout),
    case S#state.reload of
        {_, From, _} -> gen_server:reply(From, {error, stopped});
        undefined -> ok
    end,
    reactor_telemetry:context_stop(Id, S#state.started, Reason),
    ok.

%% What Node answered that is the context's to reply.
answer(none, S) ->
    S;
answer({stats, From, Info}, S) ->
    gen_server:reply(From, Info#{draining => reactor_drains:count(S#state.drains)}),
    S;
answer({connections, From, Own}, S) ->
    gen_server:reply(From, {Own, reactor_drains:pids(S#state.drains)}),
    S;
answer({reloaded, Ref, Adopted}, S = #state{reload = {Ref, From, Opts}}) ->
    logger:notice("reactor context ~0p: protocol reloaded (~b live connections adopted)", [S#state.id, Adopted]),
    gen_server:reply(From, {ok, #{adopted => Adopted}}),
    S#state{reload = undefined, opts = Opts};
answer({reload_error, Ref, Error}, S = #state{reload = {Ref, From, _}}) ->
    gen_server:reply(From, {error, Error}),
    S#state{reload = undefined};
answer({not_here, Id, Msg}, S = #state{drains = Drains}) ->
    case reactor_drains:close_owner(Id, Drains) of
        {ok, D} -> D ! Msg; % one of a replaced Node's
        none -> reactor_served:sent_to_ended(S#state.served)
    end,
    S;
answer(Unexpected, S) ->
    logger:warning("reactor context ~0p: unexpected message from Node: ~0p", [S#state.id, Unexpected]),
    S.

%% The TLS option sets a fresh Node knows: the context's `tls' (key 0);
%% its `starttls' is sent with the first handoff that names it.
tls_keys(Opts) ->
    reactor_tls:keys(is_map_key(tls, Opts), maps:get(starttls, Opts, undefined)).

%% replace/2: the old Node, its connections, the handoffs and queries it has
%% not answered go to a drain; this process keeps its pid, its name and its
%% listeners, and starts over with `N'.
hand_over(N, DrainTimeout, S = #state{served = Old, drains = Drains}) ->
    OldNode = reactor_served:node(Old),
    D = reactor_drain:start_link(DrainTimeout, S#state.stop_timeout),
    ok = reactor_served:hand_groups_over(Old, D),
    ok = reactor_drain:take_over(D, Old, reactor_node:hand_over(OldNode, D)),
    New = reactor_served:successor(N, table_opts(S#state.opts), Old),
    logger:notice("reactor context ~0p: replaced Node ~p by ~p; ~b connections drain on the old",
                  [S#state.id, reactor_node:os_pid(OldNode), reactor_node:os_pid(N),
                   length(reactor_served:ids(Old))]),
    S#state{served = New, tls_keys = tls_keys(S#state.opts),
            drains = reactor_drains:add(D, OldNode, reactor_served:first_free(New), Drains)}.
