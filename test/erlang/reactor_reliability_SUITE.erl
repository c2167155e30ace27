%% Faults injected one by one: hostile and broken peers, limits, churn, floods,
%% and rolling restarts. Each row of docs/reliability.md names its test here.
-module(reactor_reliability_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, example/1, start_ctx/2, listen/1, listen/2, connect/1,
                           roundtrip/2, recv_exact/3, recv_count/2, faulty/2, done/2]).

all() ->
    [callback_timeout, idle_timeout, peer_reset_mid_write, peer_half_closes, we_half_close,
     slow_reader_backpressure, churn_20000, acceptor_at_fd_limit, drain_listener,
     suspend_keeps_the_backlog,
     flood_and_probe, slowloris_header_deadline].

suite() -> [{timetrap, {minutes, 3}}].

callback_timeout(_Config) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = faulty(<<"r">>, #{callback_timeout => 200}),
    Good = connect(Port),
    Hung = connect(Port),
    ok = gen_tcp:send(Hung, <<"hang">>),
    ?assertEqual({error, closed}, gen_tcp:recv(Hung, 0, 3000)),
    reactor_test_lib:logged("dataReceived did not settle within 200 ms", 1000),
    ?assertEqual({ok, <<"alive">>}, roundtrip(Good, <<"alive">>)),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

idle_timeout(_Config) ->
    {Ctx, L, Port} = faulty(<<"r">>, #{idle_timeout => 300}),
    Idle = connect(Port),
    Busy = connect(Port),
    [begin {ok, _} = roundtrip(Busy, <<"tick">>), timer:sleep(100) end || _ <- lists:seq(1, 10)],
    ?assertEqual({error, closed}, gen_tcp:recv(Idle, 0, 0)), % closed by now
    ?assertEqual({ok, <<"still">>}, roundtrip(Busy, <<"still">>)),
    done(Ctx, L).

%% The peer resets while a 64 MiB answer is being written: the write fails
%% (ECONNRESET or EPIPE, never SIGPIPE), that connection ends, Node lives on.
peer_reset_mid_write(_Config) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = faulty(<<"r">>, #{}),
    Other = connect(Port),
    S = connect(Port),
    ok = gen_tcp:send(S, <<"big">>),
    {ok, _} = gen_tcp:recv(S, 0, 5000),
    ok = inet:setopts(S, [{linger, {true, 0}}]),
    ok = gen_tcp:close(S), % RST
    {notice, Text, _} = reactor_test_lib:logged("lost r (write|read) (ECONNRESET|EPIPE)", 5000),
    ct:log("~s", [Text]),
    ?assertEqual({ok, <<"other">>}, roundtrip(Other, <<"other">>)),
    ok = reactor_test_lib:wait_until(
           fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= 1 end, 5000),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

peer_half_closes(_Config) ->
    {Ctx, L, Port} = faulty(<<"r">>, #{}),
    S = connect(Port),
    ok = gen_tcp:send(S, <<"last words">>),
    ok = gen_tcp:shutdown(S, write),
    ?assertEqual({ok, <<"last words">>}, recv_exact(S, 10, 5000)),
    ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 5000)),
    done(Ctx, L).

%% The protocol shuts its write side down: the peer reads the end, and what it
%% sends after that still arrives.
we_half_close(_Config) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = faulty(<<"r">>, #{}),
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {exit_on_close, false}]),
    ok = gen_tcp:send(S, <<"half">>),
    ?assertEqual({ok, <<"half closed">>}, recv_exact(S, 11, 5000)),
    ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 5000)),
    ok = gen_tcp:send(S, <<"more">>),
    reactor_test_lib:logged("after half: more", 5000),
    gen_tcp:close(S),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

%% A peer that sends and does not read: reading pauses at the high-water mark,
%% memory stays bounded, and everything flows once the peer reads.
slow_reader_backpressure(_Config) ->
    HighWater = 256 * 1024,
    Ctx = start_ctx(amplify, #{protocol => fixture("amplify.ts"), write_high_water => HighWater,
                               read_size => 65536}),
    {L, Port} = listen(Ctx),
    S = connect(Port),
    Total = 8 * 1024 * 1024,
    Chunk = binary:copy(<<"x">>, 65536),
    Self = self(),
    Sender = spawn_link(fun() ->
                                [ok = gen_tcp:send(S, Chunk) || _ <- lists:seq(1, Total div 65536)],
                                ok = gen_tcp:send(S, <<"END">>),
                                Self ! {sent, self()}
                        end),
    timer:sleep(1000),
    #{bytes_in := In, buffered := Buffered} = reactor_context:info(Ctx),
    RSS = reactor_test_lib:rss_kb(reactor_test_lib:os_pid(Ctx)),
    ct:pal("peer not reading: Node read ~p of ~p bytes, ~p bytes queued (high-water ~p), "
           "Node RSS ~p KiB", [In, Total, Buffered, HighWater, RSS]),
    ?assert(In < Total div 2), % reading paused
    ?assert(Buffered =< HighWater + 16 * 65536), % at most one read's worth past the mark
    Expected = 16 * (Total + 3),
    {ok, Got} = recv_count(S, Expected),
    ?assertEqual(Expected, Got),
    receive {sent, Sender} -> ok after 10000 -> error(sender_stuck) end,
    gen_tcp:close(S),
    done(Ctx, L).

%% 20,000 connections opened and closed, 50 at a time: fds of both processes
%% and the BEAM's process count return to where they started.
churn_20000(_Config) ->
    Ctx = start_ctx(churn, #{protocol => example("echo.ts")}),
    {L, Port} = listen(Ctx),
    OsPid = reactor_test_lib:os_pid(Ctx),
    churn(Port, 50, 20), % warm-up
    settle(Ctx),
    Fds0 = {reactor_test_lib:fd_count(), reactor_test_lib:node_fd_count(OsPid)},
    Procs0 = erlang:system_info(process_count),
    T0 = erlang:monotonic_time(millisecond),
    churn(Port, 50, 400),
    settle(Ctx),
    Ms = erlang:monotonic_time(millisecond) - T0,
    Fds1 = {reactor_test_lib:fd_count(), reactor_test_lib:node_fd_count(OsPid)},
    Procs1 = erlang:system_info(process_count),
    #{handoffs := Handoffs, closed := Closed} = reactor_context:info(Ctx),
    ct:pal("20,000 connections in ~p ms; fds {BEAM, Node} ~p -> ~p; processes ~p -> ~p; "
           "handoffs ~p, closed ~p", [Ms, Fds0, Fds1, Procs0, Procs1, Handoffs, Closed]),
    ?assertEqual(Fds0, Fds1),
    ?assertEqual(Procs0, Procs1),
    ?assertEqual(Handoffs, Closed),
    done(Ctx, L).

churn(Port, Workers, Each) ->
    Self = self(),
    Pids = [spawn_link(fun() ->
                               [begin
                                    S = connect(Port),
                                    {ok, <<"c">>} = roundtrip(S, <<"c">>),
                                    gen_tcp:close(S)
                                end || _ <- lists:seq(1, Each)],
                               Self ! {churned, self()}
                       end) || _ <- lists:seq(1, Workers)],
    [receive {churned, P} -> ok after 120000 -> error(churn_stuck) end || P <- Pids],
    ok.

settle(Ctx) ->
    ok = reactor_test_lib:wait_until(
           fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= 0 end, 10000).

%% The BEAM runs out of fds: the acceptor logs, backs off, and accepts the
%% waiting connections once fds are free again; it never spins or crashes.
acceptor_at_fd_limit(_Config) ->
    H = reactor_test_lib:capture_logs(),
    telemetry:attach(),
    Ctx = start_ctx(emfile, #{protocol => example("echo.ts")}),
    {L, Port} = listen(Ctx),
    Beam = os:getpid(),
    Limit = os:cmd("prlimit --pid " ++ Beam ++ " --nofile --noheadings --output SOFT,HARD"),
    [Soft, Hard] = string:lexemes(string:trim(Limit), " "),
    %% clients from another OS process, started before the limit bites: they
    %% connect after a moment and need no fd of the BEAM's
    Clients = open_port({spawn, "bash -c 'sleep 0.5; for i in 1 2 3; do exec {fd}<>/dev/tcp/127.0.0.1/"
                                ++ integer_to_list(Port) ++ "; printf hi >&$fd; done; sleep 5'"},
                        []),
    %% hold a few fds, then tighten the limit to what is open now
    Holders = [Sock || _ <- lists:seq(1, 20), {ok, Sock} <- [gen_udp:open(0)]],
    Open = reactor_test_lib:fd_count(),
    os:cmd("prlimit --pid " ++ Beam ++ " --nofile=" ++ integer_to_list(Open) ++ ":" ++ Hard),
    %% whatever closed meanwhile (ports of earlier suites exiting) leaves room:
    %% take it too, so that the limit bites
    Filler = fill_fds([]),
    T0 = erlang:monotonic_time(millisecond),
    Restore = fun() ->
                      [catch gen_udp:close(U) || U <- Filler ++ Holders], % os:cmd needs fds too
                      os:cmd("prlimit --pid " ++ Beam ++ " --nofile=" ++ Soft ++ ":" ++ Hard)
              end,
    try
        {warning, _, _} = reactor_test_lib:logged("accept failed: (emfile|enfile)", 5000),
        receive
            {telemetry, [reactor, listener, accept_error], #{count := 1}, #{listener := L, reason := Why}}
              when Why =:= emfile; Why =:= enfile -> ok
        after 5000 -> error(no_accept_error_event)
        end,
        timer:sleep(500),
        Errors = maps:get(accept_errors, reactor:listener_info(L)),
        AtLimit = erlang:monotonic_time(millisecond) - T0,
        Restore(),
        ct:pal("accept errors in ~p ms at the fd limit: ~p (4 acceptors)", [AtLimit, Errors]),
        ?assert(Errors >= 1),
        %% backing off 10 ms .. 1 s per acceptor, not spinning
        ?assert(Errors =< 4 * (8 + AtLimit div 1000)),
        ok = reactor_test_lib:wait_until(
               fun() -> maps:get(accepted, reactor:listener_info(L)) >= 3 end, 5000),
        ?assert(is_process_alive(Ctx)),
        catch port_close(Clients)
    after
        Restore(),
        telemetry:detach(),
        reactor_test_lib:stop_capture(H)
    end,
    done(Ctx, L).

%% Rolling release: suspend accepting, wait for the connections to finish.
drain_listener(_Config) ->
    Ctx = start_ctx(drain, #{protocol => example("echo.ts")}),
    {L, Port} = listen(Ctx),
    Clients = [connect(Port) || _ <- lists:seq(1, 3)],
    [{ok, _} = roundtrip(C, <<"started">>) || C <- Clients],
    Self = self(),
    spawn_link(fun() -> Self ! {drained, reactor:drain_listener(L, 10000)} end),
    ok = reactor_test_lib:wait_until(
           fun() -> maps:get(suspended, reactor:listener_info(L)) end, 5000),
    ?assertEqual({error, econnrefused},
                 gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 1000)),
    [?assertEqual({ok, <<"finishing">>}, roundtrip(C, <<"finishing">>)) || C <- Clients],
    receive {drained, _} -> error(drained_too_early) after 200 -> ok end,
    [gen_tcp:close(C) || C <- Clients],
    receive {drained, R} -> ?assertEqual(ok, R) after 5000 -> error(not_drained) end,
    ok = reactor:resume_listener(L),
    C2 = connect(Port),
    ?assertEqual({ok, <<"back">>}, roundtrip(C2, <<"back">>)),
    %% a connection a replaced Node still serves is waited for too
    ok = reactor_context:replace(Ctx),
    ?assertMatch(#{connections := 0, draining := 1}, reactor_context:info(Ctx)),
    spawn_link(fun() -> Self ! {drained, reactor:drain_listener(L, 10000)} end),
    receive {drained, _} -> error(drained_while_a_replaced_node_serves) after 300 -> ok end,
    ?assertEqual({ok, <<"still">>}, roundtrip(C2, <<"still">>)),
    gen_tcp:close(C2),
    receive {drained, R2} -> ?assertEqual(ok, R2) after 5000 -> error(not_drained) end,
    ?assertMatch(#{draining := 0}, reactor_context:info(Ctx)),
    done(Ctx, L).

%% Connections already in the kernel's backlog when the listener suspends are
%% handed off, not reset.
suspend_keeps_the_backlog(_Config) ->
    Ctx = start_ctx(backlog, #{protocol => example("echo.ts")}),
    {L, Port} = listen(Ctx, #{acceptors => 1}),
    Clients = [connect(Port) || _ <- lists:seq(1, 20)],
    ok = reactor:suspend_listener(L),
    [?assertEqual({ok, <<"kept">>}, roundtrip(C, <<"kept">>)) || C <- Clients],
    [gen_tcp:close(C) || C <- Clients],
    done(Ctx, L).

%% One peer floods, another dribbles a byte at a time: a probe connection is
%% still answered promptly. Its latency percentiles go to the test's output.
flood_and_probe(_Config) ->
    Ctx = start_ctx(flood, #{protocol => example("echo.ts")}),
    {L, Port} = listen(Ctx),
    Flood = connect(Port),
    Dribble = connect(Port),
    Stop = make_ref(),
    Big = binary:copy(<<"f">>, 65536),
    FloodW = spawn(fun() -> pump(Flood, Big, Stop) end),
    FloodR = spawn(fun() -> drain(Flood) end),
    DribW = spawn(fun() -> pump(Dribble, <<"d">>, Stop) end),
    DribR = spawn(fun() -> drain(Dribble) end),
    timer:sleep(300),
    P = connect(Port),
    Lat = [begin
               T0 = erlang:monotonic_time(microsecond),
               {ok, <<"probe">>} = roundtrip(P, <<"probe">>),
               erlang:monotonic_time(microsecond) - T0
           end || _ <- lists:seq(1, 300)],
    Sorted = lists:sort(Lat),
    Pct = fun(Q) -> lists:nth(max(1, round(Q * length(Sorted))), Sorted) end,
    ct:pal("probe during a flood: p50 ~p us, p99 ~p us, max ~p us",
           [Pct(0.5), Pct(0.99), lists:last(Sorted)]),
    ?assert(lists:last(Sorted) < 2000000), % every probe answered within 2 s
    [exit(Pid, kill) || Pid <- [FloodW, FloodR, DribW, DribR]],
    [gen_tcp:close(S) || S <- [Flood, Dribble, P]],
    done(Ctx, L).

pump(S, Bin, Stop) ->
    case gen_tcp:send(S, Bin) of
        ok -> pump(S, Bin, Stop);
        _ -> ok
    end.

drain(S) ->
    case gen_tcp:recv(S, 0) of
        {ok, _} -> drain(S);
        _ -> ok
    end.

fill_fds(Acc) ->
    case gen_udp:open(0) of
        {ok, U} -> fill_fds([U | Acc]);
        {error, _} -> Acc
    end.

%% Slowloris: 200 clients trickle a request header a byte every 100 ms. The
%% HTTP example's header deadline (the listener sets header_timeout => 500)
%% closes each about 500 ms after its first byte; a client that sends its
%% request whole is served all along; the BEAM's fds end where they began.
slowloris_header_deadline(_Config) ->
    Beam0 = reactor_test_lib:settled_fd_count(),
    Ctx = start_ctx(slowloris, #{protocol => example("http.ts")}),
    {L, Port} = listen(Ctx, #{info => #{header_timeout => 500}}),
    Self = self(),
    T0 = erlang:monotonic_time(millisecond),
    Trickle = [spawn_link(fun() -> Self ! {trickled, self(), trickle(Port)} end) || _ <- lists:seq(1, 200)],
    timer:sleep(300),
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    {ok, Resp} = reactor_test_lib:http_request(C, <<"GET / HTTP/1.1\r\nHost: x\r\n\r\n">>),
    ?assertMatch({match, _}, re:run(Resp, "Hello from TypeScript")),
    gen_tcp:close(C),
    Results = [receive {trickled, P, R} -> R after 10000 -> error(trickler_stuck) end || P <- Trickle],
    Ms = erlang:monotonic_time(millisecond) - T0,
    ct:pal("200 trickling clients closed after ~p ms (bytes sent before the close: ~p..~p)",
           [Ms, lists:min([B || {closed, B} <- Results]), lists:max([B || {closed, B} <- Results])]),
    ?assertEqual(200, length([ok || {closed, B} <- Results, B < 20])),
    ?assert(Ms < 4000),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx),
    ok = reactor_test_lib:wait_until(fun() -> reactor_test_lib:fd_count() =:= Beam0 end, 3000).

%% Send a header a byte every 100 ms until the server closes: {closed, BytesSent}.
trickle(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, true}]),
    trickle(S, <<"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow\r\n\r\n">>, 0).

trickle(S, <<C, Rest/binary>>, N) ->
    _ = gen_tcp:send(S, <<C>>),
    receive
        {tcp_closed, S} -> {closed, N + 1};
        {tcp_error, S, _} -> {closed, N + 1}
    after 100 -> trickle(S, Rest, N + 1)
    end;
trickle(S, <<>>, N) ->
    gen_tcp:close(S),
    {completed, N}.
