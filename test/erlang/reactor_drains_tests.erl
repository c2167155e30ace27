%% A context's drains: which one holds a connection (ids split into ranges,
%% oldest first), and stopping them all with the context. (route/2 needs a
%% live Node process: reactor_replace_SUITE covers it.)
-module(reactor_drains_tests).
-behaviour(gen_server).
-include_lib("eunit/include/eunit.hrl").

-export([init/1, handle_call/3, handle_cast/2, terminate/2]).

%% reactor_drains only keeps a drain's Node and hands it to reactor_node:owns/2.
-define(NODE, not_a_node).

owner_by_id_range_test() ->
    [D1, D2, D3] = Pids = [spawn(fun() -> ok end) || _ <- [1, 2, 3]],
    %% the first Node had ids 1..9, the second 10..24, the third 25..29
    Ds = lists:foldl(fun({P, Below}, Acc) -> reactor_drains:add(P, ?NODE, Below, Acc) end,
                     reactor_drains:new(), [{D1, 10}, {D2, 25}, {D3, 30}]),
    ?assertEqual(3, reactor_drains:count(Ds)),
    ?assertEqual(Pids, reactor_drains:pids(Ds)),
    ?assertEqual([{ok, D1}, {ok, D1}, {ok, D2}, {ok, D2}, {ok, D3}, none, none],
                 [reactor_drains:close_owner(Id, Ds) || Id <- [1, 9, 10, 24, 25, 30, 1000]]),
    %% the middle one drained: its ids (10..24) now map to the next drain,
    %% which holds none of them and answers the close with not_found
    Ds1 = reactor_drains:remove(D2, Ds),
    ?assertEqual([D1, D3], reactor_drains:pids(Ds1)),
    ?assertEqual([{ok, D1}, {ok, D3}, {ok, D3}, none],
                 [reactor_drains:close_owner(Id, Ds1) || Id <- [9, 10, 29, 30]]),
    ?assertEqual(reactor_drains:new(), reactor_drains:remove(D3, reactor_drains:remove(D1, Ds1))),
    ?assertEqual(Ds1, reactor_drains:remove(self(), Ds1)).

%% Stopping the context stops every drain, each with `shutdown' (the drain's
%% terminate/2 stops its Node); one that is gone already is no error.
stop_all_test() ->
    process_flag(trap_exit, true),
    {ok, A} = gen_server:start_link(?MODULE, self(), []),
    {ok, B} = gen_server:start_link(?MODULE, self(), []),
    Gone = spawn(fun() -> ok end),
    Ds = lists:foldl(fun({P, Below}, Acc) -> reactor_drains:add(P, ?NODE, Below, Acc) end,
                     reactor_drains:new(), [{A, 5}, {Gone, 6}, {B, 7}]),
    ?assertEqual(ok, reactor_drains:stop_all(Ds, 5000)),
    ?assertEqual([{A, shutdown}, {B, shutdown}],
                 [receive {terminated, P, R} -> {P, R} after 1000 -> {P, not_stopped} end || P <- [A, B]]),
    ?assertEqual([shutdown, shutdown],
                 [receive {'EXIT', P, R} -> R after 1000 -> no_exit end || P <- [A, B]]),
    process_flag(trap_exit, false).

%% A stand-in drain: says how it terminated.
init(Test) ->
    process_flag(trap_exit, true),
    {ok, Test}.

handle_call(_, _, Test) -> {reply, ok, Test}.

handle_cast(_, Test) -> {noreply, Test}.

terminate(Reason, Test) -> Test ! {terminated, self(), Reason}.
