%% @doc The Erlang half of examples/chat.ts: who holds which nick, in the
%% whole cluster, answered over ETS.
%%
%% Each node runs one owner process (`reactor_chat', started by start/0) with
%% a table of the nicks its own connections hold: `{Nick, ConnRef, Context}'.
%% A nick is claimed under a cluster-wide lock on its name
%% (`global:trans/2'): inside it, every connected node's table is read
%% (`erpc:multicall/5' of holder/1) and, when nobody holds the nick, it goes
%% into this node's table. Two claims of one nick on two nodes are serialized
%% by the lock, so one of them wins. There is no copy to keep in step: what a
%% node's connections hold lives on that node, and a node that leaves the
%% cluster takes its nicks with it (they are free for the others at once,
%% since it no longer answers). In a network split each side sees only its
%% own half, so both halves may hand out one nick; after the split heals two
%% connections hold it until one leaves (a chat can live with that, a
%% bank could not).
%%
%% A nick is released three ways, each for what the others miss:
%% - the protocol calls `chat.release_nick' from connectionLost: at once, for
%%   every way a connection ends (QUIT, the peer gone or reset, a limit);
%% - the owner monitors each context that holds nicks: when the context ends
%%   (stopped, its Node crashed, so connectionLost never ran or its call was
%%   refused), its nicks go with it;
%% - a node that leaves takes its table with it (above).
%%
%% A context offers the functions to its TypeScript with
%% `handlers => reactor_chat:handlers()'.
-module(reactor_chat).
-behaviour(gen_server).

-export([start/0, stop/0, handlers/0, serve/2]).
-export([claim_nick/3, release_nick/2, members/1, holder/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TABLE, reactor_chat_nicks).
%% How long a claim waits for each node's answer (ms); within beam.call's
%% default timeout (5 s) with room for the lock.
-define(ASK_TIMEOUT, 2000).

%% @doc Start this node's owner of the nick table, unlinked (so that the
%% shell or an rpc that started it can go). `{ok, Pid}' when it runs already.
-spec start() -> {ok, pid()}.
start() ->
    case gen_server:start({local, ?MODULE}, ?MODULE, [], []) of
        {ok, Pid} -> {ok, Pid};
        {error, {already_started, Pid}} -> {ok, Pid}
    end.

%% @doc Stop the owner: its table, and every nick this node held, goes.
-spec stop() -> ok.
stop() -> gen_server:stop(?MODULE).

%% @doc What chat.ts calls, as a context's `handlers' option takes them.
-spec handlers() -> #{binary() => {module(), atom()}}.
handlers() ->
    #{<<"chat.claim_nick">> => {?MODULE, claim_nick},
      <<"chat.release_nick">> => {?MODULE, release_nick},
      <<"chat.members">> => {?MODULE, members}}.

%% @doc Serve examples/chat.ts (the file `Protocol') as the context `Id' on
%% 127.0.0.1:`Port' (0: any), the owner started first. Returns the context,
%% the listener and the port it listens on.
-spec serve(term(), #{protocol := file:filename(), port := inet:port_number()}) ->
          {ok, #{context := pid(), listener := pid(), port := inet:port_number()}}.
serve(Id, #{protocol := Protocol, port := Port}) ->
    {ok, _} = start(),
    {ok, Ctx} = reactor_context:start(Id, #{protocol => Protocol, handlers => handlers()}),
    {ok, L} = reactor:start_listener(Id, #{ip => {127, 0, 0, 1}, port => Port, context => Ctx}),
    {ok, #{context => Ctx, listener => L, port => reactor:listener_port(Id)}}.

%% @doc `beam.call("chat.claim_nick", nick, this.ref, beam.self())': take
%% `Nick' for the connection `ConnRef' of the context `Ctx'. `ok' when it is
%% now theirs (or was already); `taken' when another connection, on any
%% connected node, holds it; `unavailable' when a node did not answer in
%% time (it may hold it: try again); `invalid' for a name that is not 1 to
%% 32 bytes of text.
-spec claim_nick(binary(), reactor:conn_ref(), pid()) -> ok | taken | unavailable | invalid.
claim_nick(Nick, ConnRef, Ctx) when is_binary(Nick), byte_size(Nick) >= 1, byte_size(Nick) =< 32,
                                    is_pid(Ctx) ->
    %% the lock is released if this process dies (a beam.call timeout kills it)
    global:trans({{?MODULE, Nick}, self()}, fun() -> claim_locked(Nick, ConnRef, Ctx) end);
claim_nick(_, _, _) ->
    invalid.

claim_locked(Nick, ConnRef, Ctx) ->
    Answers = erpc:multicall([node() | nodes()], ?MODULE, holder, [Nick], ?ASK_TIMEOUT),
    case held(Answers, ConnRef) of
        free -> gen_server:call(?MODULE, {hold, Nick, ConnRef, Ctx});
        Other -> Other
    end.

%% What the nodes said: `free', `ok' (this connection holds it already),
%% `taken', or `unavailable' when a node that may hold it did not answer. A
%% node that is gone, or runs no chat, holds nothing.
held(Answers, ConnRef) ->
    case {[R || {ok, [{_, R, _}]} <- Answers], [A || A <- Answers, not answered(A)]} of
        {[], []} -> free;
        {[], _} -> unavailable;
        {[ConnRef], _} -> ok;
        {_, _} -> taken
    end.

answered({ok, _}) -> true;
answered({error, {erpc, noconnection}}) -> true;
answered({error, {exception, undef, [{?MODULE, holder, _, _} | _]}}) -> true; % no chat there
answered(_) -> false.

%% @doc `beam.call("chat.release_nick", nick, this.ref)': the connection
%% `ConnRef' no longer holds `Nick'. A nick someone else holds now stays
%% theirs (a late release changes nothing). Always `ok'.
-spec release_nick(binary(), reactor:conn_ref()) -> ok.
release_nick(Nick, ConnRef) when is_binary(Nick) ->
    gen_server:call(?MODULE, {release, Nick, ConnRef});
release_nick(_, _) ->
    ok.

%% @doc `beam.call("chat.members", room)': how many connections are in the
%% room's group, per node, as reactor:members/1 counts them.
-spec members(binary()) -> #{node() => pos_integer()}.
members(Room) -> reactor:members(Room).

%% @doc Who holds `Nick' on this node: `[{Nick, ConnRef, Context}]' or `[]'
%% (also on a node that runs no chat). Other nodes' claims call it.
-spec holder(binary()) -> [{binary(), reactor:conn_ref(), pid()}].
holder(Nick) ->
    case ets:whereis(?TABLE) of
        undefined -> [];
        T -> ets:lookup(T, Nick)
    end.

%%% The owner: writes the table (protected: anyone on the node reads it) and
%%% watches the contexts that hold nicks.

%% @private
init([]) ->
    ?TABLE = ets:new(?TABLE, [set, protected, named_table, {read_concurrency, true}]),
    {ok, #{}}.

%% @private
handle_call({hold, Nick, ConnRef, Ctx}, _From, Watched) ->
    true = ets:insert(?TABLE, {Nick, ConnRef, Ctx}),
    {reply, ok, watch(Ctx, Watched)};
handle_call({release, Nick, ConnRef}, _From, Watched) ->
    true = ets:match_delete(?TABLE, {Nick, ConnRef, '_'}),
    {reply, ok, Watched}.

%% @private
handle_cast(_Msg, Watched) -> {noreply, Watched}.

%% @private
handle_info({'DOWN', _, process, Ctx, _}, Watched) ->
    true = ets:match_delete(?TABLE, {'_', '_', Ctx}),
    {noreply, maps:remove(Ctx, Watched)};
handle_info(_Msg, Watched) ->
    {noreply, Watched}.

watch(Ctx, Watched) when is_map_key(Ctx, Watched) -> Watched;
watch(Ctx, Watched) -> Watched#{Ctx => monitor(process, Ctx)}.
