%% The handoff calls a context has not answered yet: one reply per call,
%% when its last result is in, with the results in the caller's order.
-module(reactor_handoff_calls_tests).
-include_lib("eunit/include/eunit.hrl").

from() ->
    Tag = make_ref(),
    {{self(), Tag}, Tag}.

replies(Tag) ->
    receive {Tag, Reply} -> [Reply | replies(Tag)] after 0 -> [] end.

replies_once_the_last_result_is_in_test() ->
    {From, Tag} = from(),
    %% four fds: 2 refused already, 1, 3 and 4 sent to Node
    {Ref, C0} = reactor_handoff_calls:add(From, #{2 => {error, max_connections}}, 4, reactor_handoff_calls:new()),
    C1 = reactor_handoff_calls:result(Ref, 3, {ok, 11}, C0),
    C2 = reactor_handoff_calls:result(Ref, 1, {ok, 10}, C1),
    ?assertEqual([], replies(Tag)),
    C3 = reactor_handoff_calls:result(Ref, 4, {error, fd_missing}, C2),
    ?assertEqual([[{ok, 10}, {error, max_connections}, {ok, 11}, {error, fd_missing}]], replies(Tag)),
    %% answered: a late result for it changes nothing, and nothing is left to stop
    ?assertEqual(C3, reactor_handoff_calls:result(Ref, 4, {ok, 12}, C3)),
    ok = reactor_handoff_calls:stop_all(stopped, C3),
    ?assertEqual([], replies(Tag)).

calls_are_apart_test() ->
    {FromA, TagA} = from(),
    {FromB, TagB} = from(),
    {A, C0} = reactor_handoff_calls:add(FromA, #{}, 1, reactor_handoff_calls:new()),
    {B, C1} = reactor_handoff_calls:add(FromB, #{}, 2, C0),
    ?assertNotEqual(A, B),
    C2 = reactor_handoff_calls:result(B, 1, {ok, 5}, C1),
    C3 = reactor_handoff_calls:result(A, 1, {ok, 6}, C2),
    ?assertEqual({[[{ok, 6}]], []}, {replies(TagA), replies(TagB)}),
    _ = reactor_handoff_calls:result(B, 2, {ok, 7}, C3),
    ?assertEqual([[{ok, 5}, {ok, 7}]], replies(TagB)).

%% The context going: every result still to come is an error, the ones in keep.
stop_all_answers_every_call_test() ->
    {FromA, TagA} = from(),
    {FromB, TagB} = from(),
    {A, C0} = reactor_handoff_calls:add(FromA, #{1 => {error, badfd}}, 3, reactor_handoff_calls:new()),
    {_B, C1} = reactor_handoff_calls:add(FromB, #{}, 1, C0),
    C2 = reactor_handoff_calls:result(A, 3, {ok, 9}, C1),
    ok = reactor_handoff_calls:stop_all(stopped, C2),
    ?assertEqual([[{error, badfd}, {error, stopped}, {ok, 9}]], replies(TagA)),
    ?assertEqual([[{error, stopped}]], replies(TagB)).

%% A call whose results are all known already is answered by the context
%% itself, never added.
nothing_to_wait_for_is_refused_test() ->
    {From, _} = from(),
    ?assertError(function_clause,
                 reactor_handoff_calls:add(From, #{1 => {error, badfd}}, 1, reactor_handoff_calls:new())).
