%% Outbound connections from a protocol: examples/tcp-proxy.ts, the front
%% accepted by the BEAM, the back end opened with Node's net.connect, carrying
%% redis-cli's traffic to a real redis-server (Debian's, started here on a
%% free port without persistence). Backpressure both ways, a back end that
%% refuses or dies, and fds flat in the BEAM and in Node.
-module(reactor_proxy_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [example/1, start_ctx/2, wait_stop/1, free_port/0, recv_exact/3]).

all() ->
    [redis_cli_set_get, one_mib_value, pipelined, front_waits_for_a_full_back_end,
     back_end_waits_for_a_slow_front, back_end_refused, client_closes_fds_flat, back_end_dies].

suite() -> [{timetrap, {minutes, 4}}].

init_per_suite(Config) ->
    Redis = start_redis(?config(priv_dir, Config), free_port()),
    Ctx = start_ctx(tcp_proxy, #{protocol => example("tcp-proxy.ts")}),
    unlink(Ctx),
    {L, Port} = reactor_test_lib:listen(Ctx, #{info => #{backend_host => <<"127.0.0.1">>,
                                                         backend_port => redis_port(Redis)}}),
    [{redis, Redis}, {ctx, Ctx}, {listener, L}, {port, Port} | Config].

end_per_suite(Config) ->
    reactor_test_lib:done(?config(ctx, Config), ?config(listener, Config)),
    stop_redis(?config(redis, Config)).

init_per_testcase(_, Config) ->
    telemetry:attach(),
    Config.

end_per_testcase(_, _Config) ->
    telemetry:detach().

%%% Cases

redis_cli_set_get(Config) ->
    ?assertEqual("OK", cli(Config, "SET greeting 'hello through the BEAM'")),
    ?assertEqual("hello through the BEAM", cli(Config, "GET greeting")),
    %% the proxy's own client socket is Node's, in libuv: the reactor holds the front only
    ?assertEqual("PONG", cli(Config, "PING")).

%% A 1 MiB value in with redis-cli -x (from stdin), out byte for byte.
one_mib_value(Config) ->
    Value = crypto:strong_rand_bytes(1024 * 1024),
    File = filename:join(?config(priv_dir, Config), "value.bin"),
    ok = file:write_file(File, Value),
    ?assertEqual("OK", cli(Config, "-x SET big < " ++ File)),
    ?assertEqual("1048576", cli(Config, "STRLEN big")),
    C = client(Config),
    ok = gen_tcp:send(C, resp([<<"GET">>, <<"big">>])),
    ?assertEqual({ok, <<"$1048576\r\n", Value/binary, "\r\n">>}, recv_exact(C, 1048576 + 12, 5000)),
    gen_tcp:close(C).

%% redis-cli --pipe (100,000 commands written as fast as the socket takes
%% them, the replies read as they come), then pipelined commands in one segment.
pipelined(Config) ->
    File = filename:join(?config(priv_dir, Config), "commands.resp"),
    ok = file:write_file(File, [resp([<<"SET">>, <<"key:", (integer_to_binary(I))/binary>>, integer_to_binary(I)])
                                || I <- lists:seq(1, 100000)]),
    Out = os:cmd("redis-cli -p " ++ integer_to_list(?config(port, Config)) ++ " --pipe < " ++ File ++ " 2>&1"),
    ct:log("~ts", [Out]),
    ?assertMatch({match, _}, re:run(Out, "errors: 0, replies: 100000")),
    ?assertEqual("77777", cli(Config, "GET key:77777")),
    C = client(Config),
    ok = gen_tcp:send(C, [resp([<<"INCR">>, <<"n">>]) || _ <- lists:seq(1, 50)]),
    Want = iolist_to_binary([[<<":">>, integer_to_binary(I), <<"\r\n">>] || I <- lists:seq(1, 50)]),
    ?assertEqual({ok, Want}, recv_exact(C, byte_size(Want), 5000)),
    gen_tcp:close(C).

%% redis stopped (SIGSTOP): the back end's write returns false, the front is
%% read no more, and the client's send blocks; Node holds about one read of
%% it. Once redis runs again, every command gets its reply.
front_waits_for_a_full_back_end(Config) ->
    Redis = ?config(redis, Config),
    C = client(Config),
    Command = resp([<<"SET">>, <<"k">>, binary:copy(<<"v">>, 1024)]),
    Chunk = binary:copy(iolist_to_binary(Command), 1024), % ~1 MiB
    Chunks = 32,
    signal(Redis, "STOP"),
    Self = self(),
    Sender = spawn_link(fun() ->
                                [begin ok = gen_tcp:send(C, Chunk), Self ! {sent, N} end
                                 || N <- lists:seq(1, Chunks)],
                                Self ! all_sent
                        end),
    timer:sleep(2000),
    Sent = last_sent(0),
    Stats = stats(Config),
    ct:log("redis stopped: ~p of ~p MiB sent; the proxy: ~p", [Sent, Chunks, Stats]),
    signal(Redis, "CONT"),
    ?assert(Sent < Chunks), % the client is blocked: the front is not read
    #{<<"backendBuffered">> := Buffered} = Stats,
    ?assert(Buffered =< 2 * 1024 * 1024), % Node's buffer: about one read, not the client's 32 MiB
    receive all_sent -> ok after 30000 -> error({sender_stuck, Sender}) end,
    Replies = 5 * Chunks * 1024,
    ?assertEqual({ok, binary:copy(<<"+OK\r\n">>, Chunks * 1024)}, recv_exact(C, Replies, 10000)),
    gen_tcp:close(C).

last_sent(N) ->
    receive {sent, M} -> last_sent(M) after 0 -> N end.

%% A client that asks for 64 MiB and does not read: the front's writeBuffer
%% stays near the example's high water and the back end is paused; then all
%% of it arrives.
back_end_waits_for_a_slow_front(Config) ->
    C = client(Config),
    ok = gen_tcp:send(C, resp([<<"SET">>, <<"mib">>, binary:copy(<<"m">>, 1024 * 1024)])),
    {ok, <<"+OK\r\n">>} = recv_exact(C, 5, 5000),
    ok = gen_tcp:send(C, [resp([<<"GET">>, <<"mib">>]) || _ <- lists:seq(1, 64)]),
    timer:sleep(2000),
    Stats = stats(Config),
    ct:log("client not reading: the proxy ~p, the context ~p", [Stats, reactor_context:info(?config(ctx, Config))]),
    ?assertMatch(#{<<"backendPaused">> := 1}, Stats),
    #{<<"frontBuffered">> := Front} = Stats,
    ?assert(Front =< 1024 * 1024), % 256 KiB high water and a read of the back end
    Reply = 1048576 + 12,
    ?assertEqual({ok, 64 * Reply}, reactor_test_lib:recv_count(C, 64 * Reply)),
    ?assertMatch(#{<<"backendPaused">> := 0, <<"frontBuffered">> := 0}, stats(Config)),
    gen_tcp:close(C).

%% A back end that refuses: that front connection ends with ECONNREFUSED in
%% telemetry; a session through the other listener goes on.
back_end_refused(Config) ->
    Ctx = ?config(ctx, Config),
    Dead = free_port(),
    {L, Port} = reactor_test_lib:listen(Ctx, #{info => #{backend_host => <<"127.0.0.1">>, backend_port => Dead}}),
    Good = client(Config),
    ok = gen_tcp:send(Good, resp([<<"PING">>])),
    {ok, <<"+PONG\r\n">>} = recv_exact(Good, 7, 5000),
    {ok, Bad} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 5000),
    ?assertEqual({error, closed}, gen_tcp:recv(Bad, 0, 5000)),
    {_, Stop} = wait_stop(fun(#{reason := R}) -> R =/= normal end),
    ct:log("reason: ~ts", [maps:get(reason, Stop)]),
    ?assertEqual(<<"ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:", (integer_to_binary(Dead))/binary>>,
                 maps:get(reason, Stop)),
    ok = gen_tcp:send(Good, resp([<<"ECHO">>, <<"still here">>])),
    ?assertEqual({ok, <<"$10\r\nstill here\r\n">>}, recv_exact(Good, 17, 5000)),
    gen_tcp:close(Good),
    reactor:stop_listener(L).

%% Clients that close: their back ends close too (redis counts them gone),
%% and no fd is left in the BEAM or in Node.
client_closes_fds_flat(Config) ->
    Ctx = ?config(ctx, Config),
    OsPid = reactor_test_lib:os_pid(Ctx),
    Base = connected_clients(Config),
    Session = fun() ->
                      Cs = [client(Config) || _ <- lists:seq(1, 20)],
                      [begin ok = gen_tcp:send(C, resp([<<"PING">>])), {ok, <<"+PONG\r\n">>} = recv_exact(C, 7, 5000) end
                       || C <- Cs],
                      ?assertEqual(Base + 20, connected_clients(Config)),
                      [gen_tcp:close(C) || C <- Cs],
                      ok = reactor_test_lib:wait_until(fun() -> connected_clients(Config) =:= Base end, 10000)
              end,
    Session(),
    ok = reactor_test_lib:wait_until(fun() -> maps:get(<<"connections">>, stats(Config)) =:= 0 end, 10000),
    Beam = reactor_test_lib:settled_fd_count(),
    Node = reactor_test_lib:node_fd_count(OsPid),
    Session(),
    ok = reactor_test_lib:wait_until(fun() -> maps:get(<<"connections">>, stats(Config)) =:= 0 end, 10000),
    ok = reactor_test_lib:wait_until(
           fun() -> reactor_test_lib:fd_count() =< Beam andalso reactor_test_lib:node_fd_count(OsPid) =< Node end,
           10000),
    ct:log("fds after 40 proxied sessions: BEAM ~p (was ~p), Node ~p (was ~p)",
           [reactor_test_lib:fd_count(), Beam, reactor_test_lib:node_fd_count(OsPid), Node]).

%% redis killed under a client: the front closes with the back end's reason;
%% a new client is refused with ECONNREFUSED until redis is back.
back_end_dies(Config) ->
    Redis = ?config(redis, Config),
    C = client(Config),
    ok = gen_tcp:send(C, resp([<<"PING">>])),
    {ok, <<"+PONG\r\n">>} = recv_exact(C, 7, 5000),
    "" = signal(Redis, "KILL"),
    ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)),
    {_, Stop} = wait_stop(fun(#{reason := R}) -> R =/= normal end),
    ct:log("reason: ~ts", [maps:get(reason, Stop)]),
    ?assertMatch({match, _}, re:run(maps:get(reason, Stop),
                                    "^(EBACKENDCLOSED: the back end 127.0.0.1:\\d+ closed the connection|ECONNRESET: )")),
    Later = client(Config),
    ?assertEqual({error, closed}, gen_tcp:recv(Later, 0, 5000)),
    {_, Refused} = wait_stop(fun(#{reason := R}) -> R =/= normal end),
    ?assertMatch({match, _}, re:run(maps:get(reason, Refused), "^ECONNREFUSED: ")),
    ?assertMatch(#{connections := 0}, reactor_context:info(?config(ctx, Config))).

%%% redis-server and its clients

%% redis-server as a daemon of its own (it outlives the process that started
%% it), its pid from its pidfile; {Port, OsPid, Dir}.
start_redis(Dir, Port) ->
    Pidfile = filename:join(Dir, "redis.pid"),
    _ = file:delete(Pidfile),
    "" = os:cmd("redis-server --port " ++ integer_to_list(Port) ++ " --bind 127.0.0.1 --save '' --appendonly no"
                " --daemonize yes --pidfile " ++ Pidfile ++ " --logfile " ++ filename:join(Dir, "redis.log")
                ++ " --dir " ++ Dir),
    ok = reactor_test_lib:wait_until(fun() -> redis_cli(Port, "PING") =:= "PONG" end, 10000),
    {ok, Pid} = file:read_file(Pidfile),
    {Port, binary_to_integer(string:trim(Pid)), Dir}.

stop_redis(Redis) ->
    signal(Redis, "KILL").

%% kill -Signal to redis-server itself (never to a group: the pid is never 0).
signal({_, OsPid, _}, Signal) when is_integer(OsPid), OsPid > 0 ->
    os:cmd("kill -" ++ Signal ++ " " ++ integer_to_list(OsPid) ++ " 2>&1").

redis_port({Port, _, _}) -> Port.

redis_cli(Port, Args) ->
    string:trim(os:cmd("redis-cli -p " ++ integer_to_list(Port) ++ " " ++ Args ++ " 2>&1")).

%% redis-cli through the proxy.
cli(Config, Args) -> redis_cli(?config(port, Config), Args).

%% How many clients redis has (the asking redis-cli not counted), asked directly.
connected_clients(Config) ->
    Info = redis_cli(redis_port(?config(redis, Config)), "INFO clients"),
    {match, [N]} = re:run(Info, "connected_clients:(\\d+)", [{capture, all_but_first, list}]),
    list_to_integer(N) - 1.

client(Config) ->
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, ?config(port, Config), [binary, {active, false}], 5000),
    C.

%% A command as RESP's array of bulk strings.
resp(Args) ->
    [<<"*", (integer_to_binary(length(Args)))/binary, "\r\n">>
     | [[<<"$", (integer_to_binary(byte_size(A)))/binary, "\r\n">>, A, <<"\r\n">>] || A <- Args]].

%% The proxy's own count of what waits on both sides (the example exports stats()).
stats(Config) ->
    {ok, S} = reactor_context:call(?config(ctx, Config), stats, []),
    S.

