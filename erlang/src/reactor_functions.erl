%% @doc The functions this node offers to every context's beam.call
%% (reactor:register_function/2): an ETS table, read by the workers that run
%% the calls (reactor_beam_call) and written by whoever registers, owned by
%% this process under reactor_sup.
%%
%% ETS rather than persistent_term: registering is rare but may happen at any
%% time (a module that starts registers its functions), and each
%% persistent_term update makes every process on the node scan its heap.
-module(reactor_functions).
-behaviour(gen_server).

-export([start_link/0, register/2, unregister/1, lookup/1, is_handler/1]).
-export([init/1, handle_call/3, handle_cast/2]).

-define(TABLE, ?MODULE).

-spec start_link() -> {ok, pid()}.
start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Offer `Handler' to beam.call as `Name' (replacing what had that name).
%% `{error, badarg}' for a name that is not a binary or a handler that is not
%% a fun or `{Module, Function}'; `{error, not_started}' without the
%% application.
-spec register(binary(), reactor_bridge:handler()) -> ok | {error, badarg | not_started}.
register(Name, Handler) ->
    case is_binary(Name) andalso is_handler(Handler) of
        true -> write(fun() -> ets:insert(?TABLE, {Name, Handler}) end);
        false -> {error, badarg}
    end.

%% @doc Withdraw `Name'; calls to it from then on fail with no_function.
-spec unregister(binary()) -> ok | {error, not_started}.
unregister(Name) -> write(fun() -> ets:delete(?TABLE, Name) end).

write(F) ->
    try F() of
        true -> ok
    catch
        error:badarg -> {error, not_started}
    end.

%% @doc The function registered as `Name'.
-spec lookup(binary()) -> {ok, reactor_bridge:handler()} | error.
lookup(Name) ->
    try ets:lookup(?TABLE, Name) of
        [{_, H}] -> {ok, H};
        [] -> error
    catch
        error:badarg -> error % the application is not running
    end.

%% @doc Whether beam.call can run `H': a fun, or `{Module, Function}'.
-spec is_handler(term()) -> boolean().
is_handler(F) when is_function(F) -> true;
is_handler({M, F}) -> is_atom(M) andalso is_atom(F);
is_handler(_) -> false.

%% @private
init([]) ->
    ?TABLE = ets:new(?TABLE, [named_table, public, set, {read_concurrency, true}]),
    {ok, #{}}.

%% @private
handle_call(_Req, _From, S) -> {reply, {error, unknown_call}, S}.

%% @private
handle_cast(_Msg, S) -> {noreply, S}.
