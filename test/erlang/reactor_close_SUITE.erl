%% How connections end, with real clients: a graceful close writes what was
%% queued, then TLS's close_notify, then the FIN, then reads and drops what
%% the peer still sends for a bounded time and size (a lingering close), and
%% leaves nothing behind; a peer that never reads is cut after close_timeout;
%% TLS renegotiation is limited as Node's tls.Server limits it. Faults 1, 2,
%% 3, 6 and 7 of docs/reliability.md's "Faults replayed from public bug
%% reports".
-module(reactor_close_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, example/1, start_ctx/2, listen/2, connect/1]).

all() ->
    [queued_bytes_then_fin, queued_megabytes_then_fin, peer_that_never_reads_is_cut,
     close_in_connection_made_leaks_nothing, end_right_after_connection_made,
     tls_close_sends_tail_and_close_notify,
     tls_renegotiation_limited, lingering_close_keeps_the_answer, linger_bounded_by_time,
     linger_bounded_by_bytes, linger_off].

suite() -> [{timetrap, {minutes, 3}}].

%% The application is reactor_ct_hook's; a CT hook needs end_per_suite/1
%% beside init_per_suite/1.
init_per_suite(Config) -> reactor_test_lib:init_tls(Config).

end_per_suite(_Config) -> ok.

cert(Config, Name) -> filename:join(?config(certs, Config), Name).

tls_opts(Config) ->
    #{certfile => cert(Config, "server.pem"), keyfile => cert(Config, "server.key")}.

%% A context of closer.ts (or Protocol) and a listener whose client info
%% carries `Mode'; the BEAM's fd count with both running and no connection.
closer(Mode, Opts) ->
    Ctx = start_ctx({closer, erlang:unique_integer([positive])},
                    maps:merge(#{protocol => fixture("closer.ts")}, Opts)),
    {L, Port} = listen(Ctx, #{info => #{mode => Mode}}),
    #{ctx => Ctx, listener => L, port => Port, beam_fds => reactor_test_lib:settled_fd_count()}.

%% Nothing is left: the context holds no connection (Node's count) and the
%% BEAM's fds are where they were before the first client (Erlang's copies
%% of the connections' fds are closed).
done(C = #{ctx := Ctx, listener := L}) ->
    nothing_left(C),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

nothing_left(#{ctx := Ctx, beam_fds := Beam0}) ->
    ok = reactor_test_lib:wait_until(fun() -> connections(Ctx) =:= 0 end, 5000),
    ok = reactor_test_lib:wait_until(fun() -> reactor_test_lib:fd_count() =:= Beam0 end, 5000),
    ?assertEqual(Beam0, reactor_test_lib:settled_fd_count()).

%% Node's and the poller's: a lingering close is the BEAM's once Node has
%% sent its FIN.
connections(Ctx) ->
    #{connections := N, lingering := L} = reactor_context:info(Ctx),
    N + L.

%% Everything until the peer's end, and how it ended: `closed' (a FIN) or
%% the error (econnreset...) with the bytes before it, which
%% reactor_test_lib:recv_rest/1 does not keep.
recv_all(S) -> recv_all(S, []).

%% A client that keeps its socket open after the server's FIN (gen_tcp
%% closes it by default), to go on sending while the server lingers.
connect_open(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {exit_on_close, false}], 5000),
    S.
recv_all(S, Acc) ->
    case gen_tcp:recv(S, 0, 10000) of
        {ok, B} -> recv_all(S, [B | Acc]);
        {error, Why} -> {iolist_to_binary(lists:reverse(Acc)), Why}
    end.

%%% 1. Bytes queued before a close are written, then the FIN

%% Queued in connectionMade or in dataReceived, closed by returning "close"
%% or by this.close(): each of 10 clients reads the bytes, then the end.
queued_bytes_then_fin(_Config) ->
    Greeted = [<<"made_return">>, <<"made_close">>],
    Answered = [<<"data_return">>, <<"data_close">>],
    [begin
         C = closer(Mode, #{}),
         Socks = [connect(maps:get(port, C)) || _ <- lists:seq(1, 10)],
         [ok = gen_tcp:send(S, <<"x\n">>) || lists:member(Mode, Answered), S <- Socks],
         Want = case lists:member(Mode, Greeted) of
                    true -> <<"BUSY\r\n">>;
                    false -> <<"BYE x\r\n">>
                end,
         Got = [recv_all(S) || S <- Socks],
         ct:log("~s: ~p", [Mode, Got]),
         ?assertEqual([{Want, closed} || _ <- Socks], Got),
         [gen_tcp:close(S) || S <- Socks],
         done(C)
     end || Mode <- Greeted ++ Answered].

%% The same with 8 MiB queued at the close, read by a client that starts
%% reading only after a second: every byte, then the end.
queued_megabytes_then_fin(_Config) ->
    C = closer(<<"big">>, #{}),
    S = connect(maps:get(port, C)),
    ok = gen_tcp:send(S, <<"8\n">>),
    timer:sleep(1000),
    {Got, closed} = recv_all(S),
    ?assertEqual(8 bsl 20, byte_size(Got)),
    ?assertEqual(<<>>, binary:replace(Got, <<"a">>, <<>>, [global])),
    gen_tcp:close(S),
    done(C).

%% A peer that never reads does not hold the connection forever: after
%% close_timeout its connection is cut, connectionLost says ECLOSETIMEOUT.
peer_that_never_reads_is_cut(_Config) ->
    H = reactor_test_lib:capture_logs(),
    C = #{ctx := Ctx} = closer(<<"big">>, #{close_timeout => 500}),
    S = connect(maps:get(port, C)),
    ok = inet:setopts(S, [{recbuf, 4096}]),
    ok = gen_tcp:send(S, <<"64\n">>),
    T0 = erlang:monotonic_time(millisecond),
    reactor_test_lib:logged("lost big ECLOSETIMEOUT", 5000),
    Took = erlang:monotonic_time(millisecond) - T0,
    ct:log("cut after ~b ms", [Took]),
    ?assert(Took >= 400 andalso Took < 3000),
    ?assertEqual(0, connections(Ctx)),
    gen_tcp:close(S),
    reactor_test_lib:stop_capture(H),
    done(C).

%%% 3. this.close() inside connectionMade leaves nothing behind

close_in_connection_made_leaks_nothing(Config) ->
    [begin
         C = #{ctx := Ctx} = closer(<<"made_only">>, Opts),
         Socks = [Open(maps:get(port, C)) || _ <- lists:seq(1, 20)],
         [?assertEqual(closed, Closed(S)) || S <- Socks],
         %% the context's entries and the BEAM's fds go back with the clients gone
         ok = reactor_test_lib:wait_until(fun() -> connections(Ctx) =:= 0 end, 5000),
         done(C)
     end || {Opts, Open, Closed} <- [{#{}, fun reactor_test_lib:connect/1, fun(S) -> element(2, recv_all(S)) end},
                                     {#{tls => tls_opts(Config)}, fun tls_connect/1,
                                      fun(S) -> ssl_recv_end(S) end}]].

%% The same kind, a turn later: a connection that ends right after
%% connectionMade (a microtask, a rejected Promise's .catch, setImmediate, a
%% 0 or 1 ms timer; destroy(), or close() with linger_timeout 0; the
%% context's own idle_timeout and TLS handshake_timeout of 1 ms) has Node's
%% ack and its close reach Erlang in one turn. The close wins: each of 50
%% clients per way sees the end, the context lives on and serves a
%% bystander, nothing is left (no entry, no BEAM fd), and telemetry has
%% exactly one start and one stop per connection. Found on s18-try: the
%% ack's arm was tried on the closed fd, and the context died of
%% function_clause on the first connection.
end_right_after_connection_made(Config) ->
    telemetry:attach(),
    Soon = [<<"microtask">>, <<"rejected">>, <<"immediate">>, <<"timeout0">>, <<"timeout1">>],
    [ends_alone(CtxOpts, Infos, Bystander)
     || {CtxOpts, Infos, Bystander} <-
            [{#{}, [#{mode => M} || M <- Soon], true},
             {#{linger_timeout => 0}, [#{mode => M, 'end' => <<"close">>} || M <- Soon], true},
             %% these end every connection, a bystander's too
             {#{idle_timeout => 1}, [#{mode => <<"echo">>}], false},
             {#{tls => (tls_opts(Config))#{handshake_timeout => 1}}, [#{mode => <<"echo">>}], false}]],
    telemetry:detach().

ends_alone(CtxOpts, Infos, WithBystander) ->
    Base = reactor_test_lib:settled_fd_count(),
    Id = {destroy_soon, erlang:unique_integer([positive])},
    Ctx = start_ctx(Id, CtxOpts#{protocol => fixture("destroy_soon.ts")}),
    MRef = monitor(process, Ctx),
    {Echo, EchoPort} = listen(Ctx, #{info => #{mode => <<"echo">>}}),
    Bystander = [connect(EchoPort) || WithBystander],
    [{ok, <<"before">>} = reactor_test_lib:roundtrip(B, <<"before">>) || B <- Bystander],
    lists:foreach(
      fun(Info) ->
              {L, Port} = listen(Ctx, #{info => Info}),
              Beam0 = reactor_test_lib:settled_fd_count(),
              [begin
                   S = connect(Port),
                   ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 5000), Info),
                   gen_tcp:close(S)
               end || _ <- lists:seq(1, 50)],
              receive {'DOWN', MRef, process, Ctx, Why} -> ct:fail({context_died, Info, Why}) after 0 -> ok end,
              %% nothing left: only the bystander's entry and fd
              ok = reactor_test_lib:wait_until(fun() -> connections(Ctx) =:= length(Bystander) end, 5000),
              ok = reactor_test_lib:wait_until(fun() -> reactor_test_lib:fd_count() =:= Beam0 end, 5000),
              reactor:stop_listener(L)
      end, Infos),
    %% the bystander was served all along
    [?assertEqual({ok, <<"after">>}, reactor_test_lib:roundtrip(B, <<"after">>)) || B <- Bystander],
    [gen_tcp:close(B) || B <- Bystander],
    ok = reactor_test_lib:wait_until(fun() -> connections(Ctx) =:= 0 end, 5000),
    reactor:stop_listener(Echo),
    reactor_context:stop(Ctx),
    ok = reactor_test_lib:wait_until(fun() -> reactor_test_lib:fd_count() =:= Base end, 5000),
    {Starts, Stops} = connection_events(Id, [], []),
    ct:log("~p: ~b starts, ~b stops", [CtxOpts, length(Starts), length(Stops)]),
    ?assertEqual(50 * length(Infos) + length(Bystander), length(Starts)),
    ?assertEqual(lists:sort(Starts), lists:sort(Stops)),
    ?assertEqual(length(Stops), length(lists:usort(Stops))).

%% The connection ids of every start and stop event of context `Id'.
connection_events(Id, Starts, Stops) ->
    receive
        {telemetry, [reactor, connection, start], _, #{context := Id, connection := C}} ->
            connection_events(Id, [C | Starts], Stops);
        {telemetry, [reactor, connection, stop], _, #{context := Id, connection := C}} ->
            connection_events(Id, Starts, [C | Stops])
    after 500 ->
        {Starts, Stops}
    end.

tls_connect(Port) ->
    {ok, S} = ssl:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {verify, verify_none}], 5000),
    S.

ssl_recv_end(S) ->
    case ssl:recv(S, 0, 10000) of
        {ok, _} -> ssl_recv_end(S);
        {error, Why} -> ssl:close(S), Why
    end.

%%% 2. TLS: every byte, then close_notify, then the FIN

tls_close_sends_tail_and_close_notify(Config) ->
    C = #{port := Port} = closer(<<"echo">>, #{protocol => example("http.ts"), tls => tls_opts(Config)}),
    Url = "https://127.0.0.1:" ++ integer_to_list(Port),
    %% curl: the whole body, exit 0 (18 is "transfer closed with N bytes remaining")
    Get = os:cmd("curl -sk -H 'Connection: close' -w ' exit=%{exitcode}' " ++ Url ++ "/; echo \" rc=$?\""),
    ct:log("curl: ~s", [Get]),
    ?assertEqual("Hello from TypeScript on the BEAM!\n exit=0 rc=0\n", Get),
    Body = filename:join(?config(priv_dir, Config), "body"),
    ok = file:write_file(Body, binary:copy(<<"0123456789abcdef">>, 1 bsl 16)), % 1 MiB
    Echo = os:cmd("curl -sk -H 'Connection: close' --data-binary @" ++ Body ++ " " ++ Url
                  ++ "/echo | md5sum; md5sum < " ++ Body),
    [Sum, Sum] = string:lexemes(Echo, "\n"),
    %% openssl s_client: close_notify before the end, no "unexpected eof"
    SClient = os:cmd("printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 "
                     "openssl s_client -connect 127.0.0.1:" ++ integer_to_list(Port) ++ " -ign_eof 2>&1"),
    ct:log("s_client: ~s", [SClient]),
    ?assertMatch({match, _}, re:run(SClient, "Hello from TypeScript on the BEAM!")),
    ?assertEqual(nomatch, re:run(SClient, "unexpected eof")),
    %% python's ssl refuses an end without close_notify (suppress_ragged_eofs=False)
    Py = python(Config, "tls_close.py",
                "import socket, ssl, sys\n"
                "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
                "ctx.check_hostname = False\n"
                "ctx.verify_mode = ssl.CERT_NONE\n"
                "s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1]))),"
                " suppress_ragged_eofs=False)\n"
                "s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
                "got = b''\n"
                "while True:\n"
                "    b = s.recv(65536)\n"
                "    if not b: break\n"
                "    got += b\n"
                "print('clean end', len(got), got.endswith(b'BEAM!\\n'))\n",
                [integer_to_list(Port)]),
    ?assertMatch({match, _}, re:run(Py, "clean end \\d+ True")),
    done(C).

%% A python3 script written to priv_dir, run with Args; what it printed.
python(Config, Name, Source, Args) ->
    Path = filename:join(?config(priv_dir, Config), Name),
    ok = file:write_file(Path, Source),
    Out = os:cmd(string:join(["timeout 60 python3", Path | Args], " ") ++ " 2>&1"),
    ct:log("~s: ~s", [Name, Out]),
    Out.

%%% 6. TLS renegotiation is limited as Node's tls.Server limits it

%% openssl s_client -tls1_2 asks for twelve renegotiations, one line after
%% each: three are allowed in tls.CLIENT_RENEG_WINDOW (600 s), the fourth
%% is Node's ERR_TLS_SESSION_ATTACK, logged, and that connection is closed;
%% connectionMade ran once however many handshakes there were.
tls_renegotiation_limited(Config) ->
    H = reactor_test_lib:capture_logs(),
    C = #{port := Port} = closer(<<"echo">>, #{tls => tls_opts(Config)}),
    Cmd = "(for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo R; sleep 0.3; echo line$i; sleep 0.2; done) "
          "| timeout 20 openssl s_client -tls1_2 -connect 127.0.0.1:" ++ integer_to_list(Port) ++ " 2>&1",
    Out = os:cmd(Cmd),
    ct:log("~s", [Out]),
    {warning, Text, _} = reactor_test_lib:logged("TLS error from 127.0.0.1:\\d+: .*ERR_TLS_SESSION_ATTACK", 5000),
    ct:log("~s", [Text]),
    Echoed = [L || {match, [L]} <- [re:run(Line, "^1 (line\\d+)$", [{capture, all_but_first, binary}])
                                     || Line <- string:lexemes(Out, "\n")]],
    ?assertEqual([<<"line1">>, <<"line2">>, <<"line3">>], Echoed),
    ?assertEqual(nomatch, re:run(Out, "^[2-9] line", [multiline])),
    reactor_test_lib:stop_capture(H),
    done(C).

%%% 7. A lingering close: the peer gets the answer, not a reset

%% The HTTP example answers a 17 MiB POST with 413 at once (its body limit is
%% 16 MiB) and closes while the body is still arriving: Python's http.client
%% sends the whole body before it reads, and reads the answer in 5 of 5.
lingering_close_keeps_the_answer(Config) ->
    C = #{port := Port} = closer(<<"echo">>, #{protocol => example("http.ts")}),
    Out = python(Config, "post.py", post_script(), [integer_to_list(Port)]),
    ?assertEqual(["413 Content Too Large" || _ <- lists:seq(1, 5)], string:lexemes(Out, "\n")),
    done(C).

post_script() ->
    "import http.client, sys\n"
    "body = b'x' * (17 << 20)\n"
    "for _ in range(5):\n"
    "    c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]), timeout=20)\n"
    "    try:\n"
    "        c.request('POST', '/echo', body)\n"
    "        r = c.getresponse()\n"
    "        print(r.status, r.reason)\n"
    "    except Exception as e:\n"
    "        print(type(e).__name__, e)\n"
    "    c.close()\n".

%% A peer that keeps sending after our FIN and never closes: the linger ends
%% after linger_timeout, not before, and the connection is gone.
linger_bounded_by_time(_Config) ->
    C = #{ctx := Ctx, port := Port} = closer(<<"data_return">>, #{linger_timeout => 400}),
    S = connect_open(Port),
    ok = gen_tcp:send(S, <<"x\n">>),
    {<<"BYE x\r\n">>, closed} = recv_all(S),
    T0 = erlang:monotonic_time(millisecond),
    Trickle = spawn_link(fun() -> trickle(S) end),
    %% Node is done with it: the BEAM's poller lingers
    ok = reactor_test_lib:wait_until(fun() -> maps:get(lingering, reactor_context:info(Ctx)) =:= 1 end, 300),
    ?assertEqual(0, maps:get(connections, reactor_context:info(Ctx))),
    ok = reactor_test_lib:wait_until(fun() -> connections(Ctx) =:= 0 end, 5000),
    Took = erlang:monotonic_time(millisecond) - T0,
    ct:log("lingered ~b ms", [Took]),
    ?assert(Took >= 300 andalso Took < 2500),
    unlink(Trickle),
    exit(Trickle, kill),
    gen_tcp:close(S),
    done(C).

trickle(S) ->
    case gen_tcp:send(S, <<"more\n">>) of
        ok -> timer:sleep(20), trickle(S);
        {error, _} -> ok
    end.

%% A peer that floods after our FIN: the linger ends once linger_max_bytes
%% are dropped, long before linger_timeout.
linger_bounded_by_bytes(_Config) ->
    C = #{ctx := Ctx, port := Port} = closer(<<"data_return">>, #{linger_timeout => 20000,
                                                                linger_max_bytes => 1 bsl 20}),
    S = connect_open(Port),
    ok = gen_tcp:send(S, <<"x\n">>),
    {<<"BYE x\r\n">>, closed} = recv_all(S),
    T0 = erlang:monotonic_time(millisecond),
    Chunk = binary:copy(<<"z">>, 65536),
    Flood = spawn_link(fun() -> flood(S, Chunk, 0) end),
    ok = reactor_test_lib:wait_until(fun() -> connections(Ctx) =:= 0 end, 10000),
    Took = erlang:monotonic_time(millisecond) - T0,
    ct:log("cut after ~b ms", [Took]),
    ?assert(Took < 10000),
    Flood ! {sent, self()},
    Sent = receive {flooded, N} -> N after 5000 -> error(flood_stuck) end,
    ct:log("the peer sent ~b bytes after the FIN", [Sent]),
    ?assert(Sent >= 1 bsl 20),
    gen_tcp:close(S),
    done(C).

flood(S, Chunk, N) ->
    receive
        {sent, From} -> From ! {flooded, N}
    after 0 ->
        case gen_tcp:send(S, Chunk) of
            ok -> flood(S, Chunk, N + byte_size(Chunk));
            {error, _} -> receive {sent, From} -> From ! {flooded, N} end
        end
    end.

%% linger_timeout => 0: no lingering; the connection ends with the FIN, while
%% the peer still has it open.
linger_off(_Config) ->
    C = #{ctx := Ctx, port := Port} = closer(<<"data_return">>, #{linger_timeout => 0}),
    S = connect_open(Port),
    ok = gen_tcp:send(S, <<"x\n">>),
    {<<"BYE x\r\n">>, closed} = recv_all(S),
    ok = reactor_test_lib:wait_until(fun() -> connections(Ctx) =:= 0 end, 1000),
    gen_tcp:close(S),
    done(C).
