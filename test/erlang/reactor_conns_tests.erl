%% A context's connection table on real sockets: ids, handoffs opening until
%% Node acks or refuses them, Node's actions re-arming fds in the poller,
%% closes from Erlang, who was at the other end after the end, and another
%% process taking the table over. The test plays Node at the other end of
%% the batch socket.
-module(reactor_conns_tests).
-include_lib("eunit/include/eunit.hrl").

-define(MAX_ID, 16#7fffffff).

%% A connected TCP pair: the BEAM's side as a reactor_nif resource, owned by
%% the caller; the peer a gen_tcp socket that sees whether it was closed.
pair() ->
    {Dup, Peer} = reactor_test_lib:tcp_pair(),
    {ok, Res} = reactor_nif:open(Dup, 0),
    {Res, Peer}.

closed(Peer) -> gen_tcp:recv(Peer, 0, 2000) =:= {error, closed}.

open(Peer) -> gen_tcp:recv(Peer, 0, 100) =:= {error, timeout}.

%% A table as a context makes one (reactor_served), and "Node": the other
%% end of its batch socket.
table(Opts) ->
    flush(),
    {ok, B, NodeFd} = reactor_nif:batch_pair(),
    {ok, P} = reactor_nif:poller(B, maps:get(linger_timeout, Opts, 1000), 0),
    ok = reactor_nif:select(P, read),
    {ok, Node} = socket:open(NodeFd),
    ok = reactor_nif:close_fd(NodeFd),
    {reactor_conns:new(P, B, Opts), B, Node}.

done(T, B, Node) ->
    ok = reactor_conns:close_all(T),
    ok = reactor_nif:close(B, false),
    socket:close(Node).

flush() ->
    receive {reactor_io, _, _} -> flush() after 0 -> ok end.

%% The ready batch Node was sent, as [{Id, read | write}].
node_reads(Node) ->
    case socket:recv(Node, 0, [], 1000) of
        {ok, Bin} -> [{X band (?MAX_ID), mode(X)} || <<X:32/native>> <= Bin];
        {error, timeout} -> []
    end.

mode(X) when X band (?MAX_ID + 1) =/= 0 -> write;
mode(_) -> read.

info() -> #{addr => <<"10.1.2.3">>, port => 4321, type => tcp}.

layers() -> #{proxy => true, tls => 3}.

%% A connection handed off as result `I' of `Call', and acked.
live(T0, Call, I) ->
    {Res, Peer} = pair(),
    {Id, T1} = reactor_conns:next_id(T0),
    ok = reactor_nif:controlling_process(Res, Id),
    T2 = reactor_conns:open(Id, {Call, I}, Res, info(), layers(), T1),
    {ok, {Call, I}, T3} = reactor_conns:acked(Id, T2),
    {Id, Peer, T3}.

ids_test() ->
    {T0, B, Node} = table(#{first_id => 5}),
    ?assertEqual(5, reactor_conns:first_free(T0)),
    {5, T1} = reactor_conns:next_id(T0),
    {6, T2} = reactor_conns:next_id(T1),
    ?assertEqual(7, reactor_conns:first_free(T2)),
    done(T2, B, Node),
    %% ids are positive 31-bit integers: after the last comes 1 again
    {W0, B1, Node1} = table(#{first_id => ?MAX_ID}),
    {?MAX_ID, W1} = reactor_conns:next_id(W0),
    ?assertMatch({1, _}, reactor_conns:next_id(W1)),
    done(W1, B1, Node1).

opening_until_node_answers_test() ->
    {T0, B, Node} = table(#{}),
    Call = make_ref(),
    [{R1, P1}, {R2, P2}] = [pair(), pair()],
    ?assert(reactor_conns:is_empty(T0)),
    {1, T1} = reactor_conns:next_id(T0),
    {2, T2} = reactor_conns:next_id(T1),
    T3 = reactor_conns:open(2, {Call, 2}, R2, info(), layers(),
                            reactor_conns:open(1, {Call, 1}, R1, #{addr => <<"/tmp/s">>}, #{proxy => false, tls => false}, T2)),
    ?assertEqual({2, 2, [1, 2]}, {reactor_conns:opening(T3), reactor_conns:active(T3), lists:sort(reactor_conns:ids(T3))}),
    ?assertNot(reactor_conns:is_empty(T3)),
    %% who is at the other end is known from the handoff on
    %% and its address, naming the table's owner (the context) and the id
    ?assertEqual(#{peer => {<<"10.1.2.3">>, 4321}, type => tcp, transport => #{proxy => true, tls => true},
                   ref => reactor:conn_ref(self(), 2)},
                 reactor_conns:meta(2, T3)),
    ?assertEqual(#{peer => <<"/tmp/s">>, type => undefined, transport => #{proxy => false, tls => false},
                   ref => reactor:conn_ref(self(), 1)},
                 reactor_conns:meta(1, T3)),
    ?assertEqual(<<"/tmp/s">>, reactor_conns:peer(1, T3)),
    ?assertEqual(undefined, reactor_conns:peer(undefined, T3)),
    %% Node takes 2: a connection now, still counted against max_connections
    {ok, {Call, 2}, T4} = reactor_conns:acked(2, T3),
    ?assertEqual({1, 2}, {reactor_conns:opening(T4), reactor_conns:active(T4)}),
    ?assertEqual(error, reactor_conns:acked(2, T4)),
    ?assertEqual(error, reactor_conns:nacked(2, T4)),
    %% and refuses 1: the BEAM's copy is closed, the peer sees the end
    {ok, {Call, 1}, T5} = reactor_conns:nacked(1, T4),
    ?assert(closed(P1)),
    ?assertEqual({0, 1, [2]}, {reactor_conns:opening(T5), reactor_conns:active(T5), reactor_conns:ids(T5)}),
    ?assertEqual(undefined, reactor_conns:meta(1, T5)),
    ?assert(open(P2)),
    done(T5, B, Node),
    ?assert(closed(P2)),
    [gen_tcp:close(P) || P <- [P1, P2]].

%% Node's answers arm the fds in the poller, in one NIF call (flush/1); a
%% turn then sends Node the ready ones.
actions_arm_the_poller_test() ->
    {T0, B, Node} = table(#{}),
    {A, PA, T1} = live(T0, make_ref(), 1),
    {W, PW, T2} = live(T1, make_ref(), 1),
    {armed, T3} = reactor_conns:act(A, read_pending, T2),
    {armed, T4} = reactor_conns:act(W, write_pending, T3),
    {[], T5} = reactor_conns:flush(T4),
    ok = gen_tcp:send(PA, <<"ping">>),
    receive {reactor_io, 0, read} -> ok after 2000 -> error(no_select_message) end,
    {ok, 2, 1, 0, [], T6} = reactor_conns:cycle(T5),
    ?assertEqual(lists:sort([{A, read}, {W, write}]), lists:sort(node_reads(Node))),
    %% one-shot: nothing more until Node answers again
    ?assertMatch({ok, 0, 0, 0, [], _}, reactor_conns:cycle(T6)),
    done(T6, B, Node),
    [gen_tcp:close(P) || P <- [PA, PW]].

ends_of_connections_test() ->
    {T0, B, Node} = table(#{}),
    {C, PC, T1} = live(T0, make_ref(), 1),
    {X, PX, T2} = live(T1, make_ref(), 1),
    {I, PI, T3} = live(T2, make_ref(), 1),
    %% Node closed its copy: Erlang's closes too
    {closed, T4} = reactor_conns:act(C, close, T3),
    ?assert(closed(PC)),
    ?assertEqual({stale, T4}, reactor_conns:act(C, read_pending, T4)),
    ?assertEqual({error, not_found}, reactor_conns:close(C, T4)),
    %% an action that is not one closes the connection, both copies
    {{invalid, <<"99">>}, T5} = reactor_conns:act(I, {invalid, <<"99">>}, T4),
    ?assert(closed(PI)),
    %% Erlang closes one
    {ok, T6} = reactor_conns:close(X, T5),
    ?assert(closed(PX)),
    ?assert(reactor_conns:is_empty(T6)),
    ?assertEqual({[], T6}, reactor_conns:flush(T6)),
    done(T6, B, Node),
    [gen_tcp:close(P) || P <- [PC, PX, PI]].

%% Node's `linger': the poller lingers on the BEAM's copy; what the peer
%% sends goes nowhere, its end comes back as a close; one that never ends is
%% closed by the linger timer, which stops once nothing lingers.
lingering_close_test() ->
    {T0, B, Node} = table(#{linger_timeout => 100}),
    {E, PE, T1} = live(T0, make_ref(), 1),
    {S, PS, T2} = live(T1, make_ref(), 1),
    {armed, T3} = reactor_conns:act(E, linger, T2),
    {armed, T4} = reactor_conns:act(S, linger, T3),
    {[], T5} = reactor_conns:flush(T4),
    ?assertEqual(2, reactor_conns:lingering(T5)),
    ok = gen_tcp:send(PE, <<"the rest of the body">>),
    ok = gen_tcp:shutdown(PE, write),
    receive {reactor_io, 0, read} -> ok after 2000 -> error(no_select_message) end,
    {ok, 0, 0, 0, [{E, close}], T6} = reactor_conns:cycle(T5),
    {closed, T7} = reactor_conns:act(E, close, T6),
    ?assert(closed(PE)),
    ?assertEqual(1, reactor_conns:lingering(T7)),
    ?assertEqual([], node_reads(Node)),
    %% S's peer stays: the timer ends it, and is not set again
    TRef = receive {timeout, R, reactor_linger} -> R after 2000 -> error(no_linger_timer) end,
    ?assertEqual(stale, reactor_conns:linger_timeout(make_ref(), T7)),
    {[S], T8} = reactor_conns:linger_timeout(TRef, T7),
    ?assert(closed(PS)),
    ?assertEqual(0, reactor_conns:lingering(T8)),
    ?assert(reactor_conns:is_empty(T8)),
    receive {timeout, _, reactor_linger} = M -> error({unexpected, M}) after 300 -> ok end,
    done(T8, B, Node),
    [gen_tcp:close(P) || P <- [PE, PS]].

%% A handoff's ack (an arm) and Node's close of the same connection in one
%% turn, or Erlang's close before the flush: the close wins. The fd closes
%% once, the arm is dropped (not tried on the closed fd and reported as a
%% poll failure), the slot is free, and the other arms of the turn go on.
close_after_arm_in_one_turn_test() ->
    {T0, B, Node} = table(#{}),
    {Gone, PG, T1} = live(T0, make_ref(), 1),
    {Cut, PC, T2} = live(T1, make_ref(), 1),
    {Kept, PK, T3} = live(T2, make_ref(), 1),
    {armed, T4} = reactor_conns:act(Gone, read_pending, T3),
    {armed, T5} = reactor_conns:act(Cut, write_pending, T4),
    {armed, T6} = reactor_conns:act(Kept, read_pending, T5),
    {closed, T7} = reactor_conns:act(Gone, close, T6),
    {ok, T8} = reactor_conns:close(Cut, T7),
    {[], T9} = reactor_conns:flush(T8),
    ?assertEqual({1, [Kept]}, {reactor_conns:active(T9), reactor_conns:ids(T9)}),
    ?assert(closed(PG)),
    ?assert(closed(PC)),
    %% the live one was armed
    ok = gen_tcp:send(PK, <<"x">>),
    receive {reactor_io, 0, read} -> ok after 2000 -> error(no_select_message) end,
    ?assertMatch({ok, 1, 1, 0, [], _}, reactor_conns:cycle(T9)),
    ?assertEqual([{Kept, read}], node_reads(Node)),
    done(T9, B, Node),
    [gen_tcp:close(P) || P <- [PG, PC, PK]].

%% Node's report of a connection's end (for telemetry) may come after the
%% close it reports: who was at the other end is kept until then, once; or
%% before its ack, then nothing is kept.
who_was_there_after_the_end_test() ->
    {T0, B, Node} = table(#{}),
    {Early, PE, T1} = live(T0, make_ref(), 1),
    {Late, PL, T2} = live(T1, make_ref(), 1),
    Meta = reactor_conns:meta(Early, T2),
    %% reported while live: known now, not kept after the close
    {Meta, T3} = reactor_conns:ended(Early, T2),
    {closed, T4} = reactor_conns:act(Early, close, T3),
    ?assertEqual({undefined, T4}, reactor_conns:ended(Early, T4)),
    %% closed first: kept for the report when telemetry wants reports
    {ok, T5} = reactor_conns:close(Late, T4),
    case reactor_telemetry:enabled() of
        true ->
            {Meta2, T6} = reactor_conns:ended(Late, T5),
            ?assertEqual(Meta#{ref := reactor:conn_ref(self(), Late)}, Meta2),
            ?assertEqual({undefined, T6}, reactor_conns:ended(Late, T6));
        false ->
            ?assertEqual({undefined, T5}, reactor_conns:ended(Late, T5))
    end,
    %% reported while opening (it ended in the handoff's turn, before its
    %% ack): its close after the ack keeps nothing either
    {Res, PO} = pair(),
    {Opening, T7} = reactor_conns:next_id(T5),
    ok = reactor_nif:controlling_process(Res, Opening),
    T8 = reactor_conns:open(Opening, {make_ref(), 1}, Res, info(), layers(), T7),
    {MetaO, T9} = reactor_conns:ended(Opening, T8),
    ?assertEqual(reactor_conns:meta(Opening, T8), MetaO),
    {ok, _, T10} = reactor_conns:acked(Opening, T9),
    {closed, T11} = reactor_conns:act(Opening, close, T10),
    ?assertEqual({undefined, T11}, reactor_conns:ended(Opening, T11)),
    done(T11, B, Node),
    [gen_tcp:close(P) || P <- [PE, PL, PO]].

%% A drain takes a replaced Node's table over: the fds are its now, so they
%% outlive the process that had them, and their polls come to the drain.
take_over_test() ->
    Test = self(),
    Old = spawn(fun() ->
                        {T0, B, Node} = table(#{}),
                        {Id, Peer, T1} = live(T0, make_ref(), 1),
                        {Op, OpPeer} = pair(),
                        {OpId, T2} = reactor_conns:next_id(T1),
                        ok = reactor_nif:controlling_process(Op, OpId),
                        T3 = reactor_conns:open(OpId, {make_ref(), 2}, Op, info(), layers(), T2),
                        %% the test's own sockets (the peers, Node's end) are the test's
                        ok = gen_tcp:controlling_process(Peer, Test),
                        ok = gen_tcp:controlling_process(OpPeer, Test),
                        ok = socket:setopt(Node, otp, controlling_process, Test),
                        Test ! {table, T3, B, Node, Id, Peer, OpPeer},
                        receive exit -> ok end
                end),
    {T, B, Node, Id, Peer, OpPeer} = receive {table, T0, B0, N0, I0, P0, OP0} -> {T0, B0, N0, I0, P0, OP0} end,
    ok = reactor_nif:controlling_process(B, 0), % reactor_node:take_over/1's part
    T1 = reactor_conns:take_over(T),
    MRef = monitor(process, Old),
    Old ! exit,
    receive {'DOWN', MRef, _, _, _} -> ok end,
    ?assertEqual([true, true], [open(P) || P <- [Peer, OpPeer]]),
    %% the poller's select was the old owner's: the drain polls once at once,
    %% which selects it again, here
    {ok, 0, 0, 0, [], T1a} = reactor_conns:cycle(T1),
    {armed, T2} = reactor_conns:act(Id, read_pending, T1a),
    {[], T3} = reactor_conns:flush(T2),
    ok = gen_tcp:send(Peer, <<"x">>),
    receive {reactor_io, 0, read} -> ok after 2000 -> error(no_select_message) end,
    ?assertMatch({ok, 1, 1, 0, [], _}, reactor_conns:cycle(T3)),
    ?assertEqual([{Id, read}], node_reads(Node)),
    done(T3, B, Node),
    ?assertEqual([true, true], [closed(P) || P <- [Peer, OpPeer]]),
    [gen_tcp:close(P) || P <- [Peer, OpPeer]].

%% Without the take-over, the fds go with the process that had them.
fds_die_with_their_owner_test() ->
    Test = self(),
    Old = spawn(fun() ->
                        {T0, _B, _Node} = table(#{}),
                        {_, Peer, _} = live(T0, make_ref(), 1),
                        ok = gen_tcp:controlling_process(Peer, Test),
                        Test ! {peer, Peer},
                        receive exit -> ok end
                end),
    Peer = receive {peer, P} -> P end,
    ?assert(open(Peer)),
    Old ! exit,
    ?assert(closed(Peer)),
    gen_tcp:close(Peer).
