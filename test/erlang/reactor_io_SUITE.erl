%% End to end: a real BEAM, a real Node process, real TCP clients.
-module(reactor_io_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, example/1, start_ctx/2, listen/1, listen/2, connect/1,
                           roundtrip/2, recv_exact/3, recv_rest/1]).

%% The echo of one byte, 64 KiB and 16 MiB is reactor_transport_matrix_SUITE's,
%% over each transport (its plain group: plain TCP, as here).
all() ->
    [concurrent_500,
     http_keepalive_curl, http_pipelined, http_port_messages_per_request,
     async_handler, unanswered_while_handlers_wait, two_contexts_side_by_side, setup_code_only, console_goes_to_logger,
     close_is_seen_while_a_dup_is_held, handoff_socket_gen_tcp, handoff_socket_socket,
     handoff_many_at_once, pool_spreads_connections, close_from_erlang, info_counters, fd_counts_return_to_baseline,
     hot_wait_off, hot_wait_checked, await_policy_normal, answers_calls_while_busy].

init_per_testcase(_Case, Config) ->
    Ctx = start_ctx(echo, #{protocol => example("echo.ts")}),
    {Listener, Port} = listen(Ctx),
    [{ctx, Ctx}, {listener, Listener}, {port, Port} | Config].

end_per_testcase(_Case, Config) ->
    reactor:stop_listener(?config(listener, Config)),
    catch reactor_context:stop(?config(ctx, Config)),
    ok.

concurrent_500(Config) ->
    Port = ?config(port, Config),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               S = connect(Port),
                               Msg = <<"client ", (integer_to_binary(I))/binary, " ",
                                       (rand:bytes(200))/binary>>,
                               R1 = roundtrip(S, Msg),
                               R2 = roundtrip(S, Msg),
                               Self ! {done, self(), R1 =:= {ok, Msg} andalso R2 =:= {ok, Msg}},
                               receive close -> gen_tcp:close(S) end
                       end) || I <- lists:seq(1, 500)],
    Results = [receive {done, P, R} -> R after 30000 -> timeout end || P <- Pids],
    ?assertEqual(500, length([ok || true <- Results])),
    %% all 500 were open at the same time
    ?assertMatch(#{connections := 500}, reactor_context:info(?config(ctx, Config))),
    [P ! close || P <- Pids],
    ok = reactor_test_lib:wait_until(
           fun() -> maps:get(connections, reactor_context:info(?config(ctx, Config))) =:= 0 end,
           10000).

http_ctx() ->
    Ctx = start_ctx(http, #{protocol => example("http.ts")}),
    {L, Port} = listen(Ctx),
    {Ctx, L, Port}.

http_keepalive_curl(_Config) ->
    {Ctx, L, Port} = http_ctx(),
    Url = "http://127.0.0.1:" ++ integer_to_list(Port),
    Out = os:cmd("curl -sv " ++ Url ++ "/ " ++ Url ++ "/ 2>&1"),
    ct:log("~s", [Out]),
    ?assertMatch({match, _}, re:run(Out, "[Rr]e-?using existing connection")),
    ?assertEqual(2, length(binary:matches(list_to_binary(Out), <<"Hello from TypeScript">>))),
    Body = os:cmd("curl -s -d 'some body' " ++ Url ++ "/echo"),
    ?assertEqual("some body", Body),
    ?assertMatch({match, _}, re:run(os:cmd("curl -si " ++ Url ++ "/nope"), "404 Not Found")),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

http_pipelined(_Config) ->
    {Ctx, L, Port} = http_ctx(),
    S = connect(Port),
    Req = <<"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye">>,
    ok = gen_tcp:send(S, Req),
    {closed, All} = recv_rest(S),
    ?assertEqual(3, length(binary:matches(All, <<"HTTP/1.1 200 OK">>))),
    ?assertMatch({match, _}, re:run(All, "\r\n\r\nhello.*Hello from TypeScript.*\r\n\r\nbye$",
                                    [dotall])),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

%% What one keep-alive request costs in port messages (both directions).
http_port_messages_per_request(_Config) ->
    {Ctx, L, Port} = http_ctx(),
    S = connect(Port),
    Req = <<"GET / HTTP/1.1\r\nHost: x\r\n\r\n">>,
    {ok, _} = reactor_test_lib:http_request(S, Req),
    I0 = reactor_context:info(Ctx),
    N = 200,
    [{ok, _} = reactor_test_lib:http_request(S, Req) || _ <- lists:seq(1, N)],
    I1 = reactor_context:info(Ctx),
    %% minus the stats request and answer of the second info/1
    Per = fun(K, Minus) -> (maps:get(K, I1) - maps:get(K, I0) - Minus) / N end,
    {ToNode, FromNode} = {Per(frames_to_node, 1), Per(frames_from_node, 1)},
    {BatchesTo, BatchesFrom} = {Per(batches_to_node, 0), Per(batches_from_node, 0)},
    Events = Per(events, 0),
    ct:pal("HTTP keep-alive, per request: ~.2f frames to Node, ~.2f from Node (port); "
           "~.2f batches to Node, ~.2f from Node; ~.2f events",
           [ToNode, FromNode, BatchesTo, BatchesFrom, Events]),
    %% the port is off the per-event path: no frame per request either way
    ?assertEqual(0.0, ToNode),
    ?assertEqual(0.0, FromNode),
    %% one event, one batch each way: writeReady runs at once after dataReceived
    ?assert(BatchesTo >= 0.95 andalso BatchesTo =< 1.05),
    ?assert(BatchesFrom >= 0.95 andalso BatchesFrom =< 1.05),
    ?assert(Events =< 1.05),
    gen_tcp:close(S),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

async_handler(_Config) ->
    Ctx = start_ctx(async, #{protocol => fixture("async_echo.ts")}),
    {L, Port} = listen(Ctx),
    Clients = [connect(Port) || _ <- lists:seq(1, 20)],
    T0 = erlang:monotonic_time(millisecond),
    [ok = gen_tcp:send(C, <<"ping">>) || C <- Clients],
    [?assertEqual({ok, <<"async:ping">>}, recv_exact(C, 10, 5000)) || C <- Clients],
    %% 20 connections paused on 20 ms timers at once, not one after another
    ?assert(erlang:monotonic_time(millisecond) - T0 < 400),
    [gen_tcp:close(C) || C <- Clients],
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

%% info/1's `unanswered': the read events Node holds while their handlers
%% wait on a Promise, back to 0 once they have answered.
unanswered_while_handlers_wait(_Config) ->
    Ctx = start_ctx(slow, #{protocol => fixture("slow_echo.ts")}),
    {L, Port} = listen(Ctx),
    Clients = [connect(Port) || _ <- lists:seq(1, 3)],
    ?assertEqual(0, maps:get(unanswered, reactor_context:info(Ctx))),
    [ok = gen_tcp:send(C, <<"ping">>) || C <- Clients],
    ok = reactor_test_lib:wait_until(fun() -> maps:get(unanswered, reactor_context:info(Ctx)) =:= 3 end, 600),
    [?assertEqual({ok, <<"ping">>}, recv_exact(C, 4, 5000)) || C <- Clients],
    ok = reactor_test_lib:wait_until(fun() -> maps:get(unanswered, reactor_context:info(Ctx)) =:= 0 end, 2000),
    [gen_tcp:close(C) || C <- Clients],
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

two_contexts_side_by_side(Config) ->
    Line = start_ctx(line, #{protocol => example("line.ts")}),
    {L, LinePort} = listen(Line),
    E = connect(?config(port, Config)),
    T = connect(LinePort),
    ?assertEqual({ok, <<"HELLO 127.0.0.1\r\n">>}, recv_exact(T, 17, 5000)),
    ok = gen_tcp:send(T, <<"UPPER mixed\r\n">>),
    ?assertEqual({ok, <<"MIXED\r\n">>}, recv_exact(T, 7, 5000)),
    ?assertEqual({ok, <<"UPPER mixed\r\n">>}, roundtrip(E, <<"UPPER mixed\r\n">>)),
    ?assertNotEqual(reactor_test_lib:os_pid(Line), reactor_test_lib:os_pid(?config(ctx, Config))),
    reactor:stop_listener(L),
    reactor_context:stop(Line).

setup_code_only(_Config) ->
    Code = <<"import { Protocol, setProtocolFactory } from \"erlang-reactor\";\n"
             "class Upper extends Protocol {\n"
             "  dataReceived(d: Buffer) { this.writeBuffer.push(d.toString().toUpperCase());"
             " return \"write_pending\" as const; }\n"
             "}\n"
             "setProtocolFactory(Upper);\n">>,
    Ctx = start_ctx(setup, #{setup_code => Code}),
    {L, Port} = listen(Ctx),
    S = connect(Port),
    ?assertEqual({ok, <<"SHOUT">>}, roundtrip(S, <<"shout">>)),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

console_goes_to_logger(_Config) ->
    H = reactor_test_lib:capture_logs(),
    Ctx = start_ctx(chatty, #{protocol => fixture("chatty.ts")}),
    {L, Port} = listen(Ctx, #{info => #{tag => <<"t42">>}}),
    S = connect(Port),
    {ok, _} = roundtrip(S, <<"x">>),
    {warning, Text, Meta} = reactor_test_lib:logged("hello from connectionMade, tag=t42", 5000),
    ?assertMatch(#{reactor_context := chatty, connection := Id} when is_integer(Id), Meta),
    ?assertMatch({match, _}, re:run(Text, "reactor context chatty conn \\d+:")),
    %% console.info is printed at notice, like console.log: visible by default
    {notice, _, #{connection := Id2}} = reactor_test_lib:logged("later, from a timer", 5000),
    ?assertEqual(maps:get(connection, Meta), Id2),
    reactor_test_lib:stop_capture(H),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

%% The test keeps its own socket (and so a copy of the fd) open; the protocol
%% closes its connection; the peer must see EOF at once anyway.
close_is_seen_while_a_dup_is_held(_Config) ->
    Ctx = start_ctx(faulty, #{protocol => fixture("faulty.ts")}),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, LPort} = inet:port(LS),
    C = connect(LPort),
    {ok, A} = gen_tcp:accept(LS, 5000),
    {ok, Fd} = inet:getfd(A),
    {ok, Dup} = reactor:dup_fd(Fd),
    ?assertNotEqual(Fd, Dup),
    {ok, _} = reactor_context:handoff(Ctx, Dup, #{type => tcp}),
    ?assertEqual({ok, <<"echo">>}, roundtrip(C, <<"echo">>)),
    T0 = erlang:monotonic_time(millisecond),
    ok = gen_tcp:send(C, <<"close">>),
    ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 2000)),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 1000),
    ?assertMatch({ok, _}, inet:getfd(A)), % still held
    gen_tcp:close(A),
    gen_tcp:close(LS),
    reactor_context:stop(Ctx).

handoff_socket_gen_tcp(_Config) ->
    Ctx = start_ctx(echo2, #{protocol => example("echo.ts")}),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, LPort} = inet:port(LS),
    C = connect(LPort),
    {ok, A} = gen_tcp:accept(LS, 5000),
    Before = reactor_test_lib:fd_count(),
    {ok, _} = reactor:handoff_socket(Ctx, A, #{tag => <<"gen_tcp">>}),
    ?assertEqual({error, einval}, element(1, {inet:getfd(A), closed_port_gives_einval})),
    ?assertEqual({ok, <<"via gen_tcp">>}, roundtrip(C, <<"via gen_tcp">>)),
    %% the original closed, the reactor's copy open: the same fd count
    ?assertEqual(Before, reactor_test_lib:fd_count()),
    gen_tcp:close(C),
    gen_tcp:close(LS),
    reactor_context:stop(Ctx).

handoff_socket_socket(_Config) ->
    Ctx = start_ctx(echo3, #{protocol => example("echo.ts")}),
    {ok, LS} = socket:open(inet, stream, tcp),
    ok = socket:bind(LS, #{family => inet, addr => {127, 0, 0, 1}, port => 0}),
    ok = socket:listen(LS),
    {ok, #{port := LPort}} = socket:sockname(LS),
    C = connect(LPort),
    {ok, A} = socket:accept(LS, 5000),
    {ok, _} = reactor:handoff_socket(Ctx, A, #{}),
    ?assertEqual({ok, <<"via socket">>}, roundtrip(C, <<"via socket">>)),
    gen_tcp:close(C),
    socket:close(LS),
    reactor_context:stop(Ctx).

handoff_many_at_once(_Config) ->
    Ctx = start_ctx(many, #{protocol => example("echo.ts")}),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}, {backlog, 256}]),
    {ok, LPort} = inet:port(LS),
    N = 100, % more than one channel message carries (64)
    Pairs = [begin
                 C = connect(LPort),
                 {ok, A} = gen_tcp:accept(LS, 5000),
                 {ok, Fd} = inet:getfd(A),
                 {ok, Dup} = reactor:dup_fd(Fd),
                 gen_tcp:close(A),
                 {C, Dup}
             end || _ <- lists:seq(1, N)],
    Results = reactor_context:handoff_many(Ctx, [{Dup, #{}} || {_, Dup} <- Pairs]),
    ?assertEqual(N, length([ok || {ok, _} <- Results])),
    ?assertEqual(N, length(lists:usort([Id || {ok, Id} <- Results]))),
    [?assertEqual({ok, <<"m">>}, roundtrip(C, <<"m">>)) || {C, _} <- Pairs],
    [gen_tcp:close(C) || {C, _} <- Pairs],
    gen_tcp:close(LS),
    reactor_context:stop(Ctx).

pool_spreads_connections(_Config) ->
    A = start_ctx(pool_a, #{protocol => example("echo.ts")}),
    B = start_ctx(pool_b, #{protocol => example("echo.ts")}),
    {L, Port} = listen(undefined, #{pool => [A, B], acceptors => 1}),
    Clients = [connect(Port) || _ <- lists:seq(1, 10)],
    [{ok, _} = roundtrip(C, <<"p">>) || C <- Clients],
    ?assertEqual({5, 5}, {maps:get(connections, reactor_context:info(A)),
                          maps:get(connections, reactor_context:info(B))}),
    [gen_tcp:close(C) || C <- Clients],
    reactor:stop_listener(L),
    [reactor_context:stop(C) || C <- [A, B]].

close_from_erlang(_Config) ->
    H = reactor_test_lib:capture_logs(),
    Ctx = start_ctx(closer, #{protocol => fixture("faulty.ts")}),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, LPort} = inet:port(LS),
    C = connect(LPort),
    {ok, A} = gen_tcp:accept(LS, 5000),
    {ok, Id} = reactor:handoff_socket(Ctx, A, #{tag => <<"e">>}),
    ?assertEqual({ok, <<"hi">>}, roundtrip(C, <<"hi">>)),
    ok = reactor_context:close(Ctx, Id),
    ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)),
    reactor_test_lib:logged("lost e closed by the reactor: closed by Erlang", 5000),
    ?assertEqual({error, not_found}, reactor_context:close(Ctx, Id)),
    ?assertMatch(#{connections := 0}, reactor_context:info(Ctx)),
    reactor_test_lib:stop_capture(H),
    gen_tcp:close(LS),
    reactor_context:stop(Ctx).

info_counters(Config) ->
    Ctx = ?config(ctx, Config),
    S = connect(?config(port, Config)),
    {ok, _} = roundtrip(S, <<"12345">>), % maybe read at the handoff: no event
    {ok, _} = roundtrip(S, <<"678">>),   % after the ack: an event of the poller's
    I = reactor_context:info(Ctx),
    ?assertMatch(#{connections := 1, bytes_in := 8, bytes_out := 8, handoffs := 1,
                   refused := 0, errors := 0}, I),
    ?assert(maps:get(events, I) >= 1),
    gen_tcp:close(S),
    ok = reactor_test_lib:wait_until(fun() -> maps:get(closed, reactor_context:info(Ctx)) =:= 1 end, 5000),
    ?assertMatch(#{accepted := 1, handoff_errors := 0}, reactor:listener_info(?config(listener, Config))).

%% hot_wait 0: every turn comes from enif_select, none waits on a dirty
%% scheduler; the same traffic works.
hot_wait_off(_Config) ->
    Ctx = start_ctx(cold, #{protocol => example("echo.ts"), hot_wait => 0}),
    {L, Port} = listen(Ctx),
    Cs = [connect(Port) || _ <- lists:seq(1, 10)],
    [{ok, <<I:32>>} = roundtrip(C, <<I:32>>) || _ <- lists:seq(1, 20), {I, C} <- lists:enumerate(Cs)],
    ?assertMatch(#{connections := 10, bytes_in := 800}, reactor_context:info(Ctx)),
    [gen_tcp:close(C) || C <- Cs],
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

hot_wait_checked(_Config) ->
    ?assertEqual({error, {bad_option, {hot_wait, -1}}},
                 reactor_context:start(bad, #{protocol => example("echo.ts"), hot_wait => -1})),
    ?assertEqual({error, {bad_option, {hot_wait, 1000001}}},
                 reactor_context:start(bad, #{protocol => example("echo.ts"), hot_wait => 1000001})),
    ?assertEqual({error, {bad_option, {await_policy, idle}}},
                 reactor_context:start(bad, #{protocol => example("echo.ts"), await_policy => idle})).

%% await_policy normal: the pump waits for Node's answers as SCHED_OTHER
%% (the default, batch, is every other case here); 20 connections with a
%% message in flight each keep Node holding two or more.
await_policy_normal(_Config) ->
    Ctx = start_ctx(normal, #{protocol => example("echo.ts"), await_policy => normal}),
    {L, Port} = listen(Ctx),
    Cs = [connect(Port) || _ <- lists:seq(1, 20)],
    [ok = gen_tcp:send(C, <<I:32>>) || {I, C} <- lists:enumerate(Cs)],
    [{ok, <<I:32>>} = gen_tcp:recv(C, 4, 5000) || {I, C} <- lists:enumerate(Cs)],
    [{ok, <<I:32>>} = roundtrip(C, <<I:32>>) || _ <- lists:seq(1, 20), {I, C} <- lists:enumerate(Cs)],
    ?assertMatch(#{connections := 20, bytes_in := 1680}, reactor_context:info(Ctx)),
    [gen_tcp:close(C) || C <- Cs],
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

%% Traffic that never pauses keeps the hot path turning on a dirty scheduler;
%% the context still answers calls (the pump hands back within its budget),
%% and goes back to enif_select once the traffic stops.
answers_calls_while_busy(Config) ->
    Ctx = ?config(ctx, Config),
    Self = self(),
    Clients = [spawn_link(fun() -> busy_client(connect(?config(port, Config)), Self, 0) end)
               || _ <- lists:seq(1, 4)],
    timer:sleep(200),
    Times = [begin
                 T0 = erlang:monotonic_time(millisecond),
                 #{connections := 4} = reactor_context:info(Ctx),
                 timer:sleep(10),
                 erlang:monotonic_time(millisecond) - T0 - 10
             end || _ <- lists:seq(1, 20)],
    ct:pal("info/1 while busy: ~p ms", [Times]),
    ?assert(lists:max(Times) < 1000),
    [C ! {stop, self()} || C <- Clients],
    Counts = [receive {C, done, N} -> N after 5000 -> error(client_stuck) end || C <- Clients],
    %% all the while, every client kept going
    ?assert(lists:min(Counts) > 100),
    ok = reactor_test_lib:wait_until(
           fun() -> process_info(Ctx, current_function) =/= {current_function, {reactor_nif, pump, 3}}
                        andalso process_info(Ctx, status) =:= {status, waiting} end, 5000).

busy_client(S, Test, N) ->
    receive
        {stop, Test} ->
            gen_tcp:close(S),
            Test ! {self(), done, N}
    after 0 ->
        {ok, <<"ping">>} = roundtrip(S, <<"ping">>),
        busy_client(S, Test, N + 1)
    end.

%% Open-fd counts of the BEAM and of Node are the same before and after traffic.
fd_counts_return_to_baseline(Config) ->
    Ctx = ?config(ctx, Config),
    OsPid = reactor_test_lib:os_pid(Ctx),
    Run = fun() ->
                  Cs = [connect(?config(port, Config)) || _ <- lists:seq(1, 50)],
                  [{ok, _} = roundtrip(C, <<"x">>) || C <- Cs],
                  [gen_tcp:close(C) || C <- lists:sublist(Cs, 25)],
                  %% the other half closed from the server side
                  [ok = gen_tcp:shutdown(C, write) || C <- lists:nthtail(25, Cs)],
                  [{error, closed} = gen_tcp:recv(C, 0, 5000) || C <- lists:nthtail(25, Cs)],
                  [gen_tcp:close(C) || C <- lists:nthtail(25, Cs)],
                  ok = reactor_test_lib:wait_until(
                         fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= 0 end, 5000)
          end,
    Run(), % warm up: lazily opened fds (epoll sets, pools) settle
    Beam0 = reactor_test_lib:settled_fd_count(),
    Node0 = reactor_test_lib:node_fd_count(OsPid),
    Run(),
    Run(),
    Beam1 = reactor_test_lib:fd_count(),
    Node1 = reactor_test_lib:node_fd_count(OsPid),
    ct:pal("open fds: BEAM ~p -> ~p, Node ~p -> ~p", [Beam0, Beam1, Node0, Node1]),
    ?assertEqual({Beam0, Node0}, {Beam1, Node1}).
