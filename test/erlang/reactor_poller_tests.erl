%% The poller NIFs on real sockets: a batch armed in one call, a ready fd
%% reported once per arming by what it was armed for, a closed fd leaving the
%% set, and an fd that cannot be armed reported rather than lost.
-module(reactor_poller_tests).
-include_lib("eunit/include/eunit.hrl").

%% A connected pair: the BEAM's side as a reactor_nif resource with `Id', the
%% peer as a gen_tcp socket.
pair(Id) ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}]),
    {ok, Port} = inet:port(L),
    {ok, Peer} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    {ok, Ours} = gen_tcp:accept(L),
    {ok, Fd} = inet:getfd(Ours),
    {ok, Dup} = reactor:dup_fd(Fd),
    gen_tcp:close(Ours),
    gen_tcp:close(L),
    {ok, Res} = reactor_nif:open(Dup, Id),
    {Res, Peer}.

poller() ->
    {ok, P} = reactor_nif:poller(),
    ok = reactor_nif:select(P, read),
    P.

ready(P) ->
    receive {reactor_io, 0, read} -> ok after 2000 -> error(no_select_message) end,
    R = reactor_nif:poll(P, 1024),
    ok = reactor_nif:select(P, read),
    R.

quiet() ->
    receive {reactor_io, 0, read} = M -> error({unexpected, M}) after 100 -> ok end.

one_shot_by_mode_test() ->
    P = poller(),
    {A, PeerA} = pair(7),
    {B, PeerB} = pair(8),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}, {B, write}])),
    %% B is writable at once; A only once its peer sends
    ?assertEqual({[], [8]}, ready(P)),
    quiet(),
    ok = gen_tcp:send(PeerA, <<"x">>),
    ?assertEqual({[7], []}, ready(P)),
    %% one-shot: still readable, but not reported until armed again
    quiet(),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}])),
    ?assertEqual({[7], []}, ready(P)),
    [ok = reactor_nif:close(R, true) || R <- [A, B]],
    [gen_tcp:close(S) || S <- [PeerA, PeerB]],
    ok = reactor_nif:close(P, false).

closed_fd_leaves_the_set_test() ->
    P = poller(),
    {A, Peer} = pair(9),
    ?assertEqual([], reactor_nif:arm(P, [{A, read}])),
    ok = reactor_nif:close(A, true),
    %% the peer sees the end, and nothing is reported for the closed fd (its
    %% shutdown may wake the poller once, spuriously: the poll finds nothing)
    ?assertEqual({error, closed}, gen_tcp:recv(Peer, 0, 2000)),
    receive {reactor_io, 0, read} -> ok after 100 -> ok end,
    ?assertEqual({[], []}, reactor_nif:poll(P, 1024)),
    %% arming a closed fd is reported with its id, not lost
    ?assertEqual([{9, ebadf}], reactor_nif:arm(P, [{A, read}])),
    gen_tcp:close(Peer),
    ok = reactor_nif:close(P, false),
    ?assertEqual({error, closed}, reactor_nif:poll(P, 1)).

bad_arguments_test() ->
    P = poller(),
    ?assertError(badarg, reactor_nif:arm(P, [nope])),
    ?assertError(badarg, reactor_nif:arm(P, [{P, read}])), % not into itself
    ?assertError(badarg, reactor_nif:poll(P, 0)),
    ?assertError(badarg, reactor_nif:poll(P, 100000)),
    ok = reactor_nif:close(P, false).
