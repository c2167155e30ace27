%% @doc A context's drains (reactor_drain): its replaced Node processes, each
%% draining its connections in a process of its own (reactor_context:replace/2),
%% and which of them what still reaches the context is for: messages of their
%% ports, stderr and channel, and Erlang's close of one of their connections.
%%
%% Connection ids only grow, and a replacement's first id is its
%% predecessor's first free one: the drains split the ids into ranges, oldest
%% first.
-module(reactor_drains).

-export([new/0, add/4, remove/2, count/1, pids/1, close_owner/2, route/2,
         stop_all/2]).

-export_type([drains/0]).

-record(drain, {pid :: pid(), node :: reactor_node:node_proc(), below :: pos_integer()}).
-opaque drains() :: [#drain{}].

-spec new() -> drains().
new() -> [].

%% @doc `Pid' drains `Node', whose connections have ids below `Below'.
-spec add(pid(), reactor_node:node_proc(), pos_integer(), drains()) -> drains().
add(Pid, Node, Below, Ds) -> Ds ++ [#drain{pid = Pid, node = Node, below = Below}].

%% @doc A drain process ended (its last connection did, or its timeout).
-spec remove(pid(), drains()) -> drains().
remove(Pid, Ds) -> lists:keydelete(Pid, #drain.pid, Ds).

-spec count(drains()) -> non_neg_integer().
count(Ds) -> length(Ds).

-spec pids(drains()) -> [pid()].
pids(Ds) -> [P || #drain{pid = P} <- Ds].

%% @doc The drain that holds connection `Id', if any.
-spec close_owner(pos_integer(), drains()) -> {ok, pid()} | none.
close_owner(Id, [#drain{pid = P, below = B} | _]) when Id < B -> {ok, P};
close_owner(Id, [_ | Rest]) -> close_owner(Id, Rest);
close_owner(_, []) -> none.

%% @doc A message about a replaced Node goes to its drain.
-spec route(term(), drains()) -> ok.
route(Msg, Ds) ->
    case [P || #drain{pid = P, node = N} <- Ds, reactor_node:owns(Msg, N)] of
        [P | _] -> P ! Msg, ok;
        [] -> ok
    end.

%% @doc The context is stopping: so are its drains, their connections with them.
-spec stop_all(drains(), timeout()) -> ok.
stop_all(Ds, Timeout) ->
    [catch gen_server:stop(P, shutdown, Timeout) || #drain{pid = P} <- Ds],
    ok.
