%% @doc Contexts across a cluster: each joins a `pg' group (its `group'
%% option, by default its id) in the `reactor_pg' scope, so that a protocol
%% can be reloaded and contexts can be listed on every connected node.
%% Erlang distribution does the rest.
-module(reactor_cluster).

-export([scope/0, join/1, group_of/1, info/1, reload/2]).

-define(SCOPE, reactor_pg).
-define(RELOAD_TIMEOUT, 60000).

%% @doc The pg scope the application starts (reactor_sup).
scope() -> ?SCOPE.

%% @doc The calling context joins `Group' (when the application runs the scope).
-spec join(term()) -> ok.
join(Group) ->
    case whereis(?SCOPE) of
        undefined -> ok; % the context was started without the application
        _ -> pg:join(?SCOPE, Group, self())
    end.

%% @doc The group a local context joined, or `undefined'.
-spec group_of(pid()) -> term().
group_of(Pid) ->
    case whereis(?SCOPE) of
        undefined -> undefined;
        _ -> case [G || G <- pg:which_groups(?SCOPE), lists:member(Pid, pg:get_local_members(?SCOPE, G))] of
                 [G | _] -> G;
                 [] -> undefined
             end
    end.

-spec info(timeout()) -> #{node() => map() | {error, term()}}.
info(Timeout) ->
    Nodes = [node() | nodes()],
    Results = erpc:multicall(Nodes, reactor, info, [], Timeout),
    maps:from_list(lists:zipwith(fun(N, {ok, I}) -> {N, I};
                                    (N, {Class, R}) -> {N, {error, {Class, R}}}
                                 end, Nodes, Results)).

%% Every member reloads at once; the answer is grouped by node.
-spec reload(term(), map()) -> #{node() => [{pid(), term()}]}.
reload(Group, Changes) ->
    Members = case whereis(?SCOPE) of
                  undefined -> [];
                  _ -> pg:get_members(?SCOPE, Group)
              end,
    Calls = [{Pid, spawn_monitor(fun() -> exit({reloaded, reactor_context:reload(Pid, Changes)}) end)}
             || Pid <- Members],
    Results = [{Pid, await(Ref)} || {Pid, {_, Ref}} <- Calls],
    lists:foldl(fun({Pid, R}, Acc) ->
                        maps:update_with(node(Pid), fun(L) -> L ++ [{Pid, R}] end, [{Pid, R}], Acc)
                end, #{}, Results).

await(Ref) ->
    receive
        {'DOWN', Ref, process, _, {reloaded, R}} -> R;
        {'DOWN', Ref, process, _, Other} -> {error, Other}
    after ?RELOAD_TIMEOUT ->
        demonitor(Ref, [flush]),
        {error, timeout}
    end.
