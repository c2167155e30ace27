%% @doc A drain: the process that keeps a replaced Node and its connections
%% (reactor_context:replace/2) until the last of them ends, or the drain
%% timeout closes the rest ("replaced, and the drain timed out"), and then
%% stops that Node. It admits nothing.
%%
%% The context starts it linked, hands it the Node (reactor_node:hand_over/2)
%% and what that Node serves, and keeps forwarding what still reaches the
%% context about it (reactor_drains). The drain stops with the context.
-module(reactor_drain).
-behaviour(gen_server).

-export([start_link/2, take_over/3, connections/1, close/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, handle_continue/2, terminate/2]).

-record(state, {
    served :: reactor_served:served(),
    stop_timeout :: timeout()
}).

%%% API

%% @doc A drain for the calling context, waiting for take_over/3. After
%% `DrainTimeout' ms from then, what is still open is closed; stopping its
%% Node takes at most `StopTimeout' ms.
-spec start_link(timeout(), timeout()) -> pid().
start_link(DrainTimeout, StopTimeout) ->
    proc_lib:spawn_link(?MODULE, init, [{self(), DrainTimeout, StopTimeout}]).

%% @doc Give drain `Pid' what the context served with the Node it gave it
%% (reactor_node:hand_over/2), and the messages about that Node the context
%% had already received, oldest first: the drain handles those first.
-spec take_over(pid(), reactor_served:served(), [term()]) -> ok.
take_over(Pid, Served, Messages) ->
    Pid ! {take_over, self(), Served, Messages},
    ok.

%% @doc The drain's live connections, as reactor_context:connections/1
%% lists them; `[]' once it has stopped.
-spec connections(pid()) -> [#{atom() => term()}].
connections(Pid) ->
    try gen_server:call(Pid, connections, 10000) of
        {Own, []} -> Own
    catch
        exit:_ -> [] % drained meanwhile
    end.

%% @doc Close one of the drain's connections from Erlang, as
%% reactor_context:close/2 does; `{error, not_found}' once it has stopped.
-spec close(pid(), pos_integer()) -> ok | {error, not_found}.
close(Pid, ConnId) ->
    try
        gen_server:call(Pid, {close, ConnId})
    catch
        exit:_ -> {error, not_found} % drained meanwhile: the connection ended with it
    end.

%%% gen_server

%% @private Entered through proc_lib (start_link/2): the Node and its
%% connections become this process's, the messages the context had about them
%% are handled first (handle_continue/2), then the rest as they come.
init({Parent, DrainTimeout, StopTimeout}) ->
    process_flag(trap_exit, true),
    receive
        {take_over, Parent, Served, Messages} ->
            DrainTimeout =:= infinity orelse erlang:send_after(DrainTimeout, self(), drain_timeout),
            %% a drain with nothing left stops; one that never hears from
            %% its Node again must find out once
            self() ! drain_check,
            S = #state{served = reactor_served:take_over(Served),
                       stop_timeout = StopTimeout},
            %% the old poller's select may have fired at the context: poll it here at once
            gen_server:enter_loop(?MODULE, [], S, {continue, {replay, Messages ++ [{reactor_io, 0, read}]}})
    end.

%% The messages the context had are all handled before the drain asks
%% whether it is done: Node's answers to queries may be among them.
handle_continue({replay, []}, S) ->
    {noreply, S};
handle_continue({replay, [M | Ms]}, S) ->
    case handle(M, S) of
        {noreply, S1} -> {noreply, S1, {continue, {replay, Ms}}};
        Stop -> Stop
    end.

%% The reply has reactor_context:connections/1's shape: a query the context
%% had asked this Node is answered from here too.
handle_call(connections, From, S = #state{served = Sv}) ->
    {noreply, S#state{served = reactor_served:ask(connections, From, Sv)}};
handle_call({close, ConnId}, _From, S = #state{served = Sv}) ->
    case reactor_served:close(ConnId, <<"closed by Erlang">>, Sv) of
        {ok, Sv1} -> drained({reply, ok, S#state{served = Sv1}});
        {error, _} = E -> {reply, E, S}
    end;
handle_call({group_count, G}, _From, S = #state{served = Sv}) ->
    {reply, reactor_served:group_count(G, Sv), S};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info(drain_timeout, S = #state{served = Sv}) ->
    logger:notice("reactor context ~0p: the replaced Node's drain timed out; closing its ~b connections",
                  [id(S), length(reactor_served:ids(Sv))]),
    {stop, normal, S#state{served = reactor_served:close_all(<<"replaced, and the drain timed out">>, Sv)}};
handle_info(drain_check, S) ->
    drained({noreply, S});
handle_info(Msg, S) ->
    drained(handle(Msg, S)).

%% A message about its Node: the hot path's turns (reactor_from_node:turn/1),
%% the batch socket writable again, the port, stderr and the channel. The
%% context, its parent, stopping stops the drain too (gen_server does that).
handle({reactor_io, 0, read}, S = #state{served = Sv}) ->
    case reactor_from_node:turn(Sv) of
        {ok, Sv1} -> {noreply, S#state{served = Sv1}};
        {error, Reason} -> {stop, Reason, S}
    end;
handle({reactor_io, 0, write}, S = #state{served = Sv}) ->
    {noreply, S#state{served = reactor_served:writable(Sv)}};
handle(Msg, S = #state{served = Sv}) ->
    case reactor_from_node:message(Msg, Sv) of
        {ok, Sv1, Answer} -> {noreply, answer(Answer, S#state{served = Sv1})};
        {exit, Reason, Sv1} -> {stop, Reason, S#state{served = Sv1}};
        {error, Reason} -> {stop, Reason, S};
        ignore -> {noreply, S}
    end.

terminate(_Reason, #state{served = Sv, stop_timeout = Timeout}) ->
    reactor_served:stop(Sv, Timeout).

%% Answers in the context's terms: callers of reactor_context:info/1 and
%% connections/1 whose question went to this Node before it was replaced get
%% theirs from here. A drain drains nothing of its own.
answer({stats, From, Info}, S) ->
    gen_server:reply(From, Info#{draining => 0}),
    S;
answer({connections, From, Own}, S) ->
    gen_server:reply(From, {Own, []}),
    S;
answer(none, S) ->
    S;
answer({not_here, _, _}, S = #state{served = Sv}) ->
    reactor_served:sent_to_ended(Sv),
    S;
answer(Other, S) ->
    logger:warning("reactor context ~0p: unexpected message from Node: ~0p", [id(S), Other]),
    S.

%% A drain is done when its last connection is.
drained({noreply, S} = Reply) ->
    case is_drained(S) of
        true -> {stop, normal, S};
        false -> Reply
    end;
drained({reply, R, S} = Reply) ->
    case is_drained(S) of
        true -> {stop, normal, R, S};
        false -> Reply
    end;
drained(Stop) ->
    Stop.

is_drained(#state{served = Sv}) -> reactor_served:is_empty(Sv).

id(#state{served = Sv}) -> reactor_served:id(Sv).
