%% The hot path's NIFs on real sockets: a poller with its batch socket, the
%% test playing Node at the other end of that socket (an OTP socket on Node's
%% fd). Ready batches come out as Node reads them; action batches go in as
%% Node writes them, are applied in the NIF, and only what Erlang must handle
%% comes back. Malformed batches are refused with why, and fuzzed. pump/4
%% turns in a row until idle, busy or there is work for Erlang.
-module(reactor_poller_tests).
-include_lib("eunit/include/eunit.hrl").

-define(W, 16#80000000).

%% A connected TCP pair: the BEAM's side as a reactor_nif resource with `Id',
%% the peer as a gen_tcp socket.
pair(Id) ->
    {Dup, Peer} = reactor_test_lib:tcp_pair(),
    {ok, Res} = reactor_nif:open(Dup, Id),
    {Res, Peer}.

%% A poller with its batch socket, selected; and "Node": the other end.
poller() -> poller(0).

%% The same, its lingering connections dropping `LingerMax' bytes at most.
poller(LingerMax) ->
    flush(), % what an earlier test's pollers said
    {ok, B, NodeFd} = reactor_nif:batch_pair(),
    {ok, P} = reactor_nif:poller(B, 1000, LingerMax),
    ok = reactor_nif:select(P, read),
    {ok, Node} = socket:open(NodeFd), % a dup of it, closed by socket:close/1
    ok = reactor_nif:close_fd(NodeFd),
    {P, B, Node}.

flush() ->
    receive {reactor_io, _, _} -> flush() after 0 -> ok end.

close_all({P, B, Node}) ->
    socket:close(Node),
    ok = reactor_nif:close(B, false),
    ok = reactor_nif:close(P, false).

%% One turn after the select message: {Events, Results, Unsent}, selected again.
turn(P) ->
    receive {reactor_io, 0, read} -> ok after 2000 -> error(no_select_message) end,
    R = cycle(P),
    ok = reactor_nif:select(P, read),
    R.

%% cycle/1 without the count of Node's batches (asserted where it matters).
cycle(P) ->
    case reactor_nif:cycle(P) of
        {Events, _Batches, Results, Unsent} -> {Events, Results, Unsent};
        Error -> Error
    end.

%% The ready batches Node has been sent, as [{Id, read | write}].
node_reads(Node) ->
    case socket:recv(Node, 0, [], 0) of
        {ok, Bin} -> [{X band (?W - 1), mode(X)} || <<X:32/native>> <= Bin] ++ node_reads(Node);
        {error, timeout} -> []
    end.

mode(X) when X band ?W =/= 0 -> write;
mode(_) -> read.

node_sends(Node, Pairs) ->
    ok = socket:send(Node, << <<Id:32/native, Code:32/native>> || {Id, Code} <- Pairs >>).

quiet() ->
    receive {reactor_io, 0, read} = M -> error({unexpected, M}) after 100 -> ok end.

armed_by_mode_test() ->
    {P, _, Node} = All = poller(),
    {A, PeerA} = pair(7),
    {B, PeerB} = pair(8),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}, {B, write}])),
    %% B is writable at once; A only once its peer sends
    ?assertEqual({1, [], <<>>}, turn(P)),
    ?assertEqual([{8, write}], node_reads(Node)),
    quiet(),
    ok = gen_tcp:send(PeerA, <<"x">>),
    ?assertMatch({1, [], <<>>}, turn(P)),
    ?assertEqual([{7, read}], node_reads(Node)),
    %% Node's now: still readable, but not reported until Node answers
    quiet(),
    [ok = reactor_nif:close(R, true) || R <- [A, B]],
    [gen_tcp:close(S) || S <- [PeerA, PeerB]],
    close_all(All).

%% A lingering close the poller holds (arm/2's `linger', as Erlang arms it
%% from a handoff's ack): what the peer still sends is read and dropped,
%% nothing goes to Node, and the peer's end is Erlang's to close.
linger_armed_drops_until_the_peer_end_test() ->
    {P, _, Node} = All = poller(),
    {A, PeerA} = pair(7),
    ?assertEqual([], reactor_nif:arm(P, [{A, linger}])),
    ok = gen_tcp:send(PeerA, <<"the rest of an upload">>),
    ?assertEqual({0, [], <<>>}, turn(P)),
    ok = gen_tcp:send(PeerA, binary:copy(<<"z">>, 3 bsl 20)), % more than one turn's reads
    ok = gen_tcp:shutdown(PeerA, write),
    ?assertEqual([{7, close}], results_until_some(P, 50)),
    ?assertEqual([], node_reads(Node)),
    ok = reactor_nif:close(A, false),
    %% nothing unread met the close: the peer sees a clean end, not a reset
    ?assertEqual({error, closed}, gen_tcp:recv(PeerA, 0, 2000)),
    gen_tcp:close(PeerA),
    close_all(All).

%% A linger ends at its deadline: linger_expired/1 names it once, and says
%% how long until the next; the poller counts what it holds alone until the
%% close.
linger_expires_test() ->
    flush(),
    {ok, B, NodeFd} = reactor_nif:batch_pair(),
    {ok, P} = reactor_nif:poller(B, 100, 0),
    ok = reactor_nif:close_fd(NodeFd),
    {A, PeerA} = pair(7),
    {C, PeerC} = pair(8),
    ?assertEqual(0, reactor_nif:lingering(P)),
    ?assertEqual([], reactor_nif:arm(P, [{A, linger}, {C, read}])),
    ?assertEqual(1, reactor_nif:lingering(P)),
    {[], Next} = reactor_nif:linger_expired(P),
    ?assert(Next > 50 andalso Next =< 100),
    timer:sleep(Next + 5),
    ?assertEqual({[7], none}, reactor_nif:linger_expired(P)),
    ?assertEqual({[], none}, reactor_nif:linger_expired(P)),
    ?assertEqual(1, reactor_nif:lingering(P)),
    ok = reactor_nif:close(A, false),
    ?assertEqual(0, reactor_nif:lingering(P)),
    [ok = reactor_nif:close(R, true) || R <- [C, B, P]],
    [gen_tcp:close(S) || S <- [PeerA, PeerC]].

%% The poller's LingerMax ends a linger whose peer goes on sending.
linger_bounded_by_bytes_test() ->
    {P, _, Node} = All = poller(10),
    {A, PeerA} = pair(7),
    ?assertEqual([], reactor_nif:arm(P, [{A, linger}])),
    ok = gen_tcp:send(PeerA, <<"1234">>),
    ?assertEqual({0, [], <<>>}, turn(P)),
    ok = gen_tcp:send(PeerA, <<"5678901">>),
    ?assertEqual({0, [{7, close}], <<>>}, turn(P)),
    ?assertEqual([], node_reads(Node)),
    ok = reactor_nif:close(A, false),
    gen_tcp:close(PeerA),
    close_all(All).

%% Node's "linger" answer (code 5), applied in the NIF: `lingering' tells
%% Erlang to start its timeout; with the drained flag (16#20) an end that
%% came while Node had the connection ends it in the same turn.
linger_answer_from_node_test() ->
    {P, _, Node} = All = poller(),
    {{A, PeerA}, {B, PeerB}} = both_read(P, Node),
    {ok, <<"y">>} = reactor_nif:read(B, 100),
    ok = gen_tcp:shutdown(PeerB, write), % while Node has 8: kept
    ?assertEqual({0, [], <<>>}, turn(P)),
    %% 7 left its byte unread (no flag: polled afresh, and the byte dropped
    %% in the same turn); 8 read to the end
    node_sends(Node, [{7, 5}, {8, 5 + 16#20}]),
    ?assertEqual({0, [{7, lingering}, {8, close}], <<>>}, turn(P)),
    ok = reactor_nif:close(B, false),
    quiet(),
    ok = gen_tcp:shutdown(PeerA, write),
    ?assertEqual({0, [{7, close}], <<>>}, turn(P)),
    ?assertEqual([], node_reads(Node)),
    ok = reactor_nif:close(A, false),
    [gen_tcp:close(S) || S <- [PeerA, PeerB]],
    close_all(All).

%% Connections 7 and 8 armed for reading, a byte from each peer ("x", "y"),
%% both sent to Node in one turn: they are Node's now.
both_read(P, Node) ->
    {A, PeerA} = pair(7),
    {B, PeerB} = pair(8),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}, {B, read}])),
    ok = gen_tcp:send(PeerA, <<"x">>),
    ok = gen_tcp:send(PeerB, <<"y">>),
    ?assertMatch({2, [], <<>>}, turn(P)),
    ?assertEqual([{7, read}, {8, read}], lists:sort(node_reads(Node))),
    {{A, PeerA}, {B, PeerB}}.

%% Turns until one has results for Erlang (at most N).
results_until_some(_, 0) -> error(no_results);
results_until_some(P, N) ->
    case turn(P) of
        {0, [], <<>>} -> results_until_some(P, N - 1);
        {0, Results, <<>>} -> Results
    end.

%% Node's answers are applied in the NIF: a re-armed fd that has data already
%% is sent to Node in the same turn; each answer arms what it names.
actions_are_applied_in_the_nif_test() ->
    {P, _, Node} = All = poller(),
    {A, PeerA} = pair(7),
    {B, PeerB} = pair(8),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}, {B, read}])),
    ok = gen_tcp:send(PeerA, <<"x">>),
    ?assertMatch({1, [], <<>>}, turn(P)),
    ?assertEqual([{7, read}], node_reads(Node)),
    %% read_pending for 7 (its data is still unread) and write_pending for 8,
    %% in two batches read in one turn
    node_sends(Node, [{7, 2}]),
    node_sends(Node, [{8, 3}]),
    receive {reactor_io, 0, read} -> ok after 2000 -> error(no_select_message) end,
    ?assertEqual({2, 2, [], <<>>}, reactor_nif:cycle(P)),
    ok = reactor_nif:select(P, read),
    ?assertEqual(lists:sort([{7, read}, {8, write}]), lists:sort(node_reads(Node))),
    %% a handler's "continue", as Node sends it: the event it answers again
    node_sends(Node, [{8, 3}, {7, 2}]),
    ?assertEqual({2, [], <<>>}, turn(P)),
    ?assertEqual(lists:sort([{7, read}, {8, write}]), lists:sort(node_reads(Node))),
    [ok = reactor_nif:close(R, true) || R <- [A, B]],
    [gen_tcp:close(S) || S <- [PeerA, PeerB]],
    close_all(All).

%% unanswered/1 counts the connections Node holds (sent as ready, not
%% answered): an answer gives one back, as does its close by Erlang; an
%% answer for a connection Node was not sent (a timer's write_pending)
%% leaves the count alone.
unanswered_counts_what_node_holds_test() ->
    {P, _, Node} = All = poller(),
    {A, PeerA} = pair(7),
    {B, PeerB} = pair(8),
    {C, PeerC} = pair(9),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}, {B, read}, {C, read}])),
    ?assertEqual(0, reactor_nif:unanswered(P)),
    ok = gen_tcp:send(PeerA, <<"x">>),
    ok = gen_tcp:send(PeerB, <<"y">>),
    ?assertEqual(2, events_until_some(P, 50)),
    ?assertEqual([{7, read}, {8, read}], lists:sort(node_reads(Node))),
    ?assertEqual(2, reactor_nif:unanswered(P)),
    ?assertEqual({ok, <<"x">>}, reactor_nif:read(A, 100)),
    node_sends(Node, [{7, 16#22}, {9, 3}]),
    ?assertMatch({1, [], <<>>}, turn(P)), % 9 polled afresh: writable
    ?assertEqual([{9, write}], node_reads(Node)),
    ?assertEqual(2, reactor_nif:unanswered(P)), % 8, and 9 now
    ok = reactor_nif:close(B, true),
    ?assertEqual(1, reactor_nif:unanswered(P)),
    node_sends(Node, [{9, 16#22}]),
    ?assertEqual({0, [], <<>>}, turn(P)),
    ?assertEqual(0, reactor_nif:unanswered(P)),
    ok = gen_tcp:send(PeerA, <<"z">>),
    ?assertEqual({1, [], <<>>}, turn(P)),
    ?assertEqual(1, reactor_nif:unanswered(P)),
    node_sends(Node, [{7, 4}]), % Node closed it: Erlang's to close
    ?assertEqual({0, [{7, close}], <<>>}, turn(P)),
    ?assertEqual(0, reactor_nif:unanswered(P)),
    [ok = reactor_nif:close(R, true) || R <- [A, C]],
    [gen_tcp:close(S) || S <- [PeerA, PeerB, PeerC]],
    close_all(All).

events_until_some(P, 0) -> error({no_events, P});
events_until_some(P, N) ->
    case turn(P) of
        {0, [], <<>>} -> events_until_some(P, N - 1);
        {E, [], <<>>} when E >= 2 -> E;
        {E, [], <<>>} -> E + events_until_some(P, N - 1)
    end.

%% An answer that says Node's last read drained the fd (the code + 16#20)
%% costs no syscall: the fd stays in the set, edge-triggered, and an edge that
%% came while Node had the connection (for either kind of event) was kept for
%% it. Without the flag the fd is polled afresh (above).
drained_answers_use_the_edges_seen_meanwhile_test() ->
    {P, _, Node} = All = poller(),
    {{A, PeerA}, {B, PeerB}} = both_read(P, Node),
    %% "Node" reads both to the end
    ?assertEqual({ok, <<"x">>}, reactor_nif:read(A, 100)),
    ?assertEqual({ok, <<"y">>}, reactor_nif:read(B, 100)),
    %% 7's peer sends again while Node has it: kept, nothing sent
    ok = gen_tcp:send(PeerA, <<"z">>),
    ?assertEqual({0, [], <<>>}, turn(P)),
    ?assertEqual([], node_reads(Node)),
    %% both answer drained: 7 goes back to Node at once, 8 waits for its peer
    node_sends(Node, [{7, 16#22}, {8, 16#22}]),
    ?assertEqual({1, [], <<>>}, turn(P)),
    ?assertEqual([{7, read}], node_reads(Node)),
    quiet(),
    ok = gen_tcp:send(PeerB, <<"w">>),
    ?assertEqual({1, [], <<>>}, turn(P)),
    ?assertEqual([{8, read}], node_reads(Node)),
    ?assertEqual({ok, <<"w">>}, reactor_nif:read(B, 100)),
    %% 8 waits for room (polled afresh: it has room now); its peer's bytes
    %% that come during that WRITE event are sent with the drained answer
    node_sends(Node, [{8, 3}]),
    ?assertEqual({1, [], <<>>}, turn(P)),
    ?assertEqual([{8, write}], node_reads(Node)),
    ok = gen_tcp:send(PeerB, <<"v">>),
    ?assertEqual({0, [], <<>>}, turn(P)),
    node_sends(Node, [{8, 16#22}]),
    ?assertEqual({1, [], <<>>}, turn(P)),
    ?assertEqual([{8, read}], node_reads(Node)),
    [ok = reactor_nif:close(R, true) || R <- [A, B]],
    [gen_tcp:close(S) || S <- [PeerA, PeerB]],
    close_all(All).

%% The peer's FIN is a state, not an edge: bytes and the FIN that came in one
%% edge leave the EOF behind a short read, so a drained answer still sends the
%% connection back, until Node has read the end.
drained_answer_after_the_peers_fin_test() ->
    {P, _, Node} = All = poller(),
    {A, PeerA} = pair(7),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}])),
    ok = gen_tcp:send(PeerA, <<"last">>),
    ok = gen_tcp:shutdown(PeerA, write),
    timer:sleep(50), % both in before the turn: one edge
    ?assertMatch({1, [], <<>>}, turn(P)),
    ?assertEqual([{7, read}], node_reads(Node)),
    ?assertEqual({ok, <<"last">>}, reactor_nif:read(A, 100)), % short: "drained"
    node_sends(Node, [{7, 16#22}]),
    ?assertEqual({1, [], <<>>}, turn(P)),
    ?assertEqual([{7, read}], node_reads(Node)),
    ?assertEqual(eof, reactor_nif:read(A, 100)),
    ok = reactor_nif:close(A, true),
    gen_tcp:close(PeerA),
    close_all(All).

%% What the NIF cannot do comes back in order: closes, acks, ids it does not
%% hold (a handoff acked earlier in the same batch, or closed meanwhile),
%% unknown codes (the integer, never an atom). 1 is one: "continue" has no
%% code, Node sends the event it re-arms.
the_rest_goes_to_erlang_test() ->
    {P, _, Node} = All = poller(),
    {A, PeerA} = pair(7),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}])),
    Atoms = erlang:system_info(atom_count),
    node_sends(Node, [{9, 16#12}, {9, 3}, {7, 4}, {7, 99}, {12, 2}, {7, 16#80000002}, {7, 1}, {9, 16#11}]),
    ?assertEqual({0, [{9, {ack, read_pending}}, {9, write_pending}, {7, close}, {7, {invalid, 99}},
                      {12, read_pending}, {7, {invalid, 16#80000002}}, {7, {invalid, 1}},
                      {9, {invalid, 16#11}}], <<>>}, turn(P)),
    ?assertEqual(Atoms, erlang:system_info(atom_count)),
    ok = reactor_nif:close(A, true),
    gen_tcp:close(PeerA),
    close_all(All).

%% The golden files: the NIF reads what Node's ActionBatch wrote, and writes
%% the ready batches test/ts/golden.test.ts reads.
golden_batches_test() ->
    Dir = filename:join(reactor_test_lib:root(), "test/golden"),
    {P, _, Node} = All = poller(),
    {ok, Actions} = file:read_file(filename:join(Dir, "batch_actions.bin")),
    ok = socket:send(Node, Actions),
    ?assertEqual({0, [{7, {ack, write_pending}}, {1, read_pending}, {2, write_pending}, {3, close}], <<>>},
                 turn(P)),
    {A, PeerA} = pair(7),
    {B, PeerB} = pair(16#7fffffff),
    ok = gen_tcp:send(PeerA, <<"x">>),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}])),
    {1, [], <<>>} = turn(P),
    {ok, Ready1} = socket:recv(Node, 0, [], 1000),
    ?assertEqual([], reactor_nif:arm(P, [{B, write}])),
    {1, [], <<>>} = turn(P),
    {ok, Ready2} = socket:recv(Node, 0, [], 1000),
    Ready = <<Ready1/binary, Ready2/binary>>,
    Path = filename:join(Dir, "batch_ready.bin"),
    os:getenv("REACTOR_GOLDEN") =:= "write" andalso file:write_file(Path, Ready),
    ?assertEqual({ok, Ready}, file:read_file(Path)),
    [ok = reactor_nif:close(R, true) || R <- [A, B]],
    [gen_tcp:close(S) || S <- [PeerA, PeerB]],
    close_all(All).

malformed_batches_are_refused_test() ->
    {P, _, Node} = All = poller(),
    Cases = [{<<1, 2, 3>>, {size, 3}},
             {<<7:32/native>>, {size, 4}},
             {<<0:32/native, 2:32/native>>, {id, 0}},
             {<<16#80000000:32/native, 2:32/native>>, {id, 16#80000000}},
             {binary:copy(<<1:32/native, 2:32/native>>, 1025), {size, 8200}}],
    [begin
         ok = socket:send(Node, Bin),
         ?assertEqual({error, {bad_batch, Why}}, turn(P))
     end || {Bin, Why} <- Cases],
    %% an empty packet is no batch either: the NIF sees it as Node's end closing
    close_all(All).

%% Node's end closed: the socket leaves the set (no busy loop), nothing crashes.
node_end_closed_test() ->
    {P, B, Node} = poller(),
    {A, PeerA} = pair(7),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}])),
    socket:close(Node),
    ?assertEqual({0, [], <<>>}, turn(P)),
    quiet(),
    %% a ready connection now goes nowhere, and says nothing
    ok = gen_tcp:send(PeerA, <<"x">>),
    ?assertEqual({1, [], <<>>}, turn(P)),
    ok = reactor_nif:close(A, true),
    gen_tcp:close(PeerA),
    ok = reactor_nif:close(B, false),
    ok = reactor_nif:close(P, false),
    ?assertEqual({error, closed}, cycle(P)).

%% When Node's end is full the batch is handed back, not lost.
full_node_end_hands_the_batch_back_test() ->
    {P, B, Node} = All = poller(),
    %% fill Node's receive queue with batches it does not read
    Filler = binary:copy(<<1:32/native>>, 1024),
    Fill = fun F(N) ->
                   case reactor_nif:send_batch(B, Filler) of
                       ok -> F(N + 1);
                       {error, eagain} -> N
                   end
           end,
    ?assert(Fill(0) > 0),
    {A, PeerA} = pair(7),
    ?assertEqual([], reactor_nif:arm(P, [{A, write}])),
    receive {reactor_io, 0, read} -> ok after 2000 -> error(no_select_message) end,
    ?assertEqual({1, [], <<(7 bor ?W):32/native>>}, cycle(P)),
    ?assertEqual({error, eagain}, reactor_nif:send_batch(B, <<(7 bor ?W):32/native>>)),
    %% Node reads; the socket becomes writable and the batch goes
    ok = reactor_nif:select(B, write),
    _ = node_reads(Node),
    receive {reactor_io, 0, write} -> ok after 2000 -> error(no_write_select) end,
    ?assertEqual(ok, reactor_nif:send_batch(B, <<(7 bor ?W):32/native>>)),
    ?assertEqual([{7, write}], node_reads(Node)),
    ok = reactor_nif:close(A, true),
    gen_tcp:close(PeerA),
    close_all(All).

closed_fd_leaves_the_set_test() ->
    {P, _, Node} = All = poller(),
    {A, Peer} = pair(9),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}])),
    ok = reactor_nif:close(A, true),
    %% the peer sees the end, and nothing is reported for the closed fd
    ?assertEqual({error, closed}, gen_tcp:recv(Peer, 0, 2000)),
    receive {reactor_io, 0, read} -> ok after 100 -> ok end, % its shutdown may wake it once
    ?assertEqual({0, [], <<>>}, cycle(P)),
    ok = reactor_nif:select(P, read),
    ?assertEqual([], node_reads(Node)),
    %% Node's late answer for it is Erlang's to ignore; arming it is an error
    node_sends(Node, [{9, 2}]),
    ?assertEqual({0, [{9, read_pending}], <<>>}, turn(P)),
    ?assertEqual([{9, ebadf}], reactor_nif:arm(P, [{A, read}])),
    gen_tcp:close(Peer),
    close_all(All),
    ?assertEqual({error, closed}, cycle(P)).

bad_arguments_test() ->
    {P, B, _} = All = poller(),
    ?assertError(badarg, reactor_nif:arm(P, [nope])),
    ?assertError(badarg, reactor_nif:arm(P, [{P, read}])), % not into itself
    ?assertError(badarg, reactor_nif:arm(B, [])),          % not a poller
    ?assertError(badarg, reactor_nif:cycle(B)),
    ?assertMatch({error, _}, reactor_nif:poller(B, 1000, 0)),    % one poller per batch socket
    ?assertError(badarg, reactor_nif:poller(B, 0, -1)),
    ?assertError(badarg, reactor_nif:send_batch(B, <<1, 2, 3>>)),
    ?assertError(badarg, reactor_nif:send_batch(B, <<>>)),
    close_all(All).

%% Each entry point takes the roles reactor_nif.h gives it, and no other:
%% arm/2 connections only, accept/1 listeners only, read/2 connections (and
%% Node's stderr FIFO, opened alike) only.
wrong_role_test() ->
    {P, B, _} = All = poller(),
    {C, Peer} = pair(7),
    {ok, LSock} = socket:open(inet, stream, tcp),
    ok = socket:bind(LSock, #{family => inet, addr => loopback, port => 0}),
    ok = socket:listen(LSock),
    {ok, LFd} = socket:getopt(LSock, otp, fd),
    {ok, Dup} = reactor_nif:dup(LFd),
    {ok, L} = reactor_nif:open(Dup, 0),
    [?assertError(badarg, reactor_nif:arm(P, [{R, read}])) || R <- [B, L]],
    [?assertError(badarg, reactor_nif:accept(R)) || R <- [C, B, P]],
    [?assertError(badarg, reactor_nif:read(R, 16)) || R <- [L, B, P]],
    %% the right roles still pass
    ?assertEqual({error, eagain}, reactor_nif:accept(L)),
    ?assertEqual({error, eagain}, reactor_nif:read(C, 16)),
    ?assertEqual([], reactor_nif:arm(P, [{C, read}])),
    ok = reactor_nif:close(L, false),
    socket:close(LSock),
    ok = reactor_nif:close(C, true),
    gen_tcp:close(Peer),
    close_all(All).

%% pump/4: turns in a row, waiting on the poller in between, until nothing
%% was ready for IdleUs (idle), Erlang has something to do, or the budget is
%% spent (busy).
pump_turns_until_idle_test() ->
    {P, _, Node} = All = poller(),
    {A, PeerA} = pair(7),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}])),
    %% "Node": reads each ready batch, drains 7 and answers read_pending,
    %% three times; the client sends its next message once Node has answered
    Self = self(),
    Client = spawn_link(fun() ->
                                Me = self(),
                                Nd = spawn_link(fun() -> play_node(Node, A, Me, 3) end),
                                [begin ok = gen_tcp:send(PeerA, <<"m">>),
                                       receive {Nd, answered} -> ok end
                                 end || _ <- [1, 2, 3]],
                                receive {Nd, played, Got} -> Self ! {played, Got} end
                        end),
    T0 = erlang:monotonic_time(microsecond),
    R = reactor_nif:pump(P, 150000, 1000000, normal),
    Took = erlang:monotonic_time(microsecond) - T0,
    %% three ready turns and Node's three answers, each applied in the NIF
    %% (read_pending re-arms 7: without it the 2nd and 3rd message go unseen)
    ?assertEqual({3, 3, 3, [], <<>>, idle}, R),
    ?assert(Took >= 150000), % the idle spell after the last
    ?assert(Took < 1000000),
    receive {played, Got} -> ?assertEqual(<<"mmm">>, Got) after 2000 -> error(node_did_not_finish) end,
    unlink(Client),
    ok = reactor_nif:close(A, true),
    gen_tcp:close(PeerA),
    close_all(All).

%% Plays Node for `N' ready batches of connection `Res': reads what is there,
%% answers read_pending and tells `To'; reports what it read.
play_node(Node, Res, To, N) -> play_node(Node, Res, To, N, <<>>).
play_node(_, _, To, 0, Acc) -> To ! {self(), played, Acc};
play_node(Node, Res, To, N, Acc) ->
    {ok, <<Id:32/native>>} = socket:recv(Node, 0, [], 5000),
    {ok, Data} = reactor_nif:read(Res, 65536),
    node_sends(Node, [{Id, 2}]),
    To ! {self(), answered},
    play_node(Node, Res, To, N - 1, <<Acc/binary, Data/binary>>).

%% An ack is Erlang's to handle: the pump hands back at once, not after idling.
pump_hands_back_for_erlang_test() ->
    {P, _, Node} = All = poller(),
    spawn_link(fun() -> timer:sleep(30), node_sends(Node, [{9, 16#12}]) end),
    T0 = erlang:monotonic_time(microsecond),
    ?assertEqual({0, 0, 1, [{9, {ack, read_pending}}], <<>>, busy}, reactor_nif:pump(P, 1000000, 1000000, batch)),
    ?assert(erlang:monotonic_time(microsecond) - T0 < 500000),
    close_all(All).

%% Traffic that never stops: the pump hands back once its budget is spent.
pump_budget_test() ->
    {P, _, Node} = All = poller(),
    {A, PeerA} = pair(7),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}])),
    Self = self(),
    Nd = spawn_link(fun() -> play_node(Node, A, Self, 1000000) end),
    Client = spawn_link(fun Send() -> ok = gen_tcp:send(PeerA, <<"m">>), timer:sleep(2), Send() end),
    T0 = erlang:monotonic_time(microsecond),
    {Events, Sent, Batches, [], <<>>, busy} = reactor_nif:pump(P, 500000, 100000, batch),
    Took = erlang:monotonic_time(microsecond) - T0,
    ?assert(Took >= 100000),
    ?assert(Took < 500000), % the budget ended it, not an idle spell
    ?assert(Events > 5),
    ?assertEqual(Events, Sent), % one connection: one per batch
    ?assert(Batches > 5),
    [begin unlink(Pid), exit(Pid, kill) end || Pid <- [Nd, Client]],
    flush_answered(),
    ok = reactor_nif:close(A, true),
    gen_tcp:close(PeerA),
    close_all(All).

flush_answered() ->
    receive {_, answered} -> flush_answered() after 0 -> ok end.

%% While Node holds two connections or more, the pump waits for its answer
%% as SCHED_BATCH (await_policy batch) and is SCHED_OTHER again after each
%% wait; with `normal' it never leaves SCHED_OTHER; a thread put under
%% another policy keeps it. "Node" answers one of
%% two connections it holds at once, every time: 7 stays unread, so its
%% answer (read_pending, not drained) polls it afresh and it comes back, and
%% each ready batch starts another wait. A sampler reads the dirty I/O
%% threads' policies (/proc) meanwhile.
pump_awaits_answers_as_sched_batch_test_() ->
    {timeout, 30, fun() ->
                          ?assertEqual([], dirty_io_policies() -- [0]),
                          ?assert(lists:member(3, policies_while_pumping(batch))),
                          ?assertEqual([], dirty_io_policies() -- [0]),
                          ?assertEqual([], policies_while_pumping(normal) -- [0]),
                          ?assertEqual([], dirty_io_policies() -- [0]),
                          %% a thread under another policy keeps it (chrt: util-linux)
                          Tids = dirty_io_tids(),
                          [os:cmd("chrt -b -p 0 " ++ T) || T <- Tids],
                          ?assertEqual([3], dirty_io_policies()),
                          _ = policies_while_pumping(batch),
                          ?assertEqual([3], dirty_io_policies()),
                          [os:cmd("chrt -o -p 0 " ++ T) || T <- Tids],
                          ?assertEqual([0], dirty_io_policies())
                  end}.

%% The policies (sched(7): 0 SCHED_OTHER, 3 SCHED_BATCH) the dirty I/O
%% threads were seen in while a pump ran for half a second.
policies_while_pumping(Policy) ->
    {P, _, Node} = All = poller(),
    {A, PeerA} = pair(7),
    {B, PeerB} = pair(8),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}, {B, read}])),
    ok = gen_tcp:send(PeerA, <<"x">>),
    ok = gen_tcp:send(PeerB, <<"y">>),
    Nd = spawn_link(fun() -> answer_7(Node) end),
    Self = self(),
    Sampler = spawn_link(fun() -> sample_policies(Self, #{}) end),
    {_, _, _, [], <<>>, busy} = reactor_nif:pump(P, 500000, 500000, Policy),
    Sampler ! stop,
    Seen = receive {Sampler, S} -> S after 5000 -> error(sampler_did_not_stop) end,
    [begin unlink(Pid), exit(Pid, kill) end || Pid <- [Nd]],
    [ok = reactor_nif:close(R, true) || R <- [A, B]],
    [gen_tcp:close(S1) || S1 <- [PeerA, PeerB]],
    close_all(All),
    lists:usort(Seen).

answer_7(Node) ->
    {ok, Bin} = socket:recv(Node, 0, [], infinity),
    [node_sends(Node, [{7, 2}]) || <<X:32/native>> <= Bin, X =:= 7],
    answer_7(Node).

sample_policies(To, Seen) ->
    receive stop -> To ! {self(), maps:keys(Seen)}
    after 0 -> sample_policies(To, maps:merge(Seen, maps:from_keys(dirty_io_policies(), true)))
    end.

dirty_io_policies() ->
    lists:usort([stat_policy(Stat) || Tid <- dirty_io_tids(),
                                      {ok, Stat} <- [file:read_file(["/proc/self/task/", Tid, "/stat"])]]).

dirty_io_tids() ->
    {ok, Tids} = file:list_dir("/proc/self/task"),
    [Tid || Tid <- Tids, {ok, Comm} <- [file:read_file(["/proc/self/task/", Tid, "/comm"])],
            binary:match(Comm, <<"dirty_io">>) =/= nomatch].

%% /proc/TID/stat's field 41, counted after the command's closing paren.
stat_policy(Stat) ->
    [_, After] = string:split(Stat, <<")">>, trailing),
    binary_to_integer(lists:nth(39, string:lexemes(After, " "))).

%% A malformed batch ends the pump with the same reason as cycle/1.
pump_refuses_malformed_batches_test() ->
    {P, _, Node} = All = poller(),
    spawn_link(fun() -> timer:sleep(20), ok = socket:send(Node, <<1, 2, 3>>) end),
    ?assertEqual({error, {bad_batch, {size, 3}}}, reactor_nif:pump(P, 1000000, 1000000, batch)),
    ?assertError(badarg, reactor_nif:pump(P, 1000001, 0, batch)),
    ?assertError(badarg, reactor_nif:pump(P, 0, -1, batch)),
    {_, B, _} = All,
    ?assertError(badarg, reactor_nif:pump(B, 10, 10, batch)), % not a poller
    close_all(All).

%% Seeded random and mutated action batches straight into the NIF: a result
%% of the documented shape or a bad_batch error, never a crash, never an atom.
%% `make fuzz` sets FUZZ_CASES much higher.
fuzz_test_() ->
    N = list_to_integer(os:getenv("FUZZ_CASES", "20000")) div 4,
    {timeout, 120, fun() -> fuzz(N) end}.

fuzz(N) ->
    rand:seed(exsss, {7, 8, 9}),
    {P, _, Node} = All = poller(),
    Conns = [pair(Id) || Id <- [1, 2, 3]],
    ?assertEqual([], reactor_nif:arm(P, [{R, read} || {R, _} <- Conns])),
    Atoms = erlang:system_info(atom_count),
    Outcomes = [fuzz_one(P, Node, fuzz_batch()) || _ <- lists:seq(1, N)],
    ?assertEqual(Atoms, erlang:system_info(atom_count)),
    %% both kinds happened: the fuzzer reaches the decoder's every branch
    ?assert(lists:member(ok, Outcomes)),
    ?assert(lists:member(refused, Outcomes)),
    [begin ok = reactor_nif:close(R, true), gen_tcp:close(S) end || {R, S} <- Conns],
    close_all(All).

fuzz_batch() ->
    Pairs = [{rand:uniform(5) - 1, rand:uniform(40) - 1} || _ <- lists:seq(1, rand:uniform(8))],
    Bin = << <<Id:32/native, Code:32/native>> || {Id, Code} <- Pairs >>,
    case rand:uniform(4) of
        1 -> <<Bin/binary, (rand:bytes(rand:uniform(7)))/binary>>; % cut or grown
        2 -> rand:bytes(8 * rand:uniform(4));                      % anything at all
        _ -> Bin
    end.

fuzz_one(P, Node, Bin) ->
    ok = socket:send(Node, Bin),
    case reactor_nif:cycle(P) of
        {Events, 1, Results, <<>>} when is_integer(Events) ->
            [true = valid_result(R) || R <- Results],
            _ = node_reads(Node),
            ok;
        {error, {bad_batch, {Kind, V}}} when (Kind =:= size orelse Kind =:= id), is_integer(V) ->
            refused
    end.

valid_result({Id, A}) when is_integer(Id), Id > 0 ->
    lists:member(A, [read_pending, write_pending, close, linger, lingering])
        orelse case A of
                   {ack, X} -> lists:member(X, [read_pending, write_pending, close, linger]);
                   {invalid, C} -> is_integer(C);
                   {poll_failed, _} -> true;
                   _ -> false
               end.
