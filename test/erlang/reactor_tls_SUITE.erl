%% TLS whose handshake the protocol never sees, with real clients: curl and
%% openssl s_client. Certificates are made by the suite, never committed.
-module(reactor_tls_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, example/1, start_ctx/2, listen/1, connect/1, done/2,
                           recv_count/2, recv_line/1]).

all() ->
    [https_keepalive_with_curl, openssl_s_client, client_certificate_required,
     client_certificate_missing, garbage_instead_of_client_hello, stalled_handshake,
     slow_tls_reader, listener_tls_option, proxy_protocol_then_tls, tls_options_sent_once,
     bad_tls_in_client_info].

init_per_suite(Config) ->
    reactor_test_lib:init_tls(Config).

%% Common Test calls it whenever init_per_suite/1 is exported.
end_per_suite(_Config) ->
    ok.

cert(Config, Name) -> filename:join(?config(certs, Config), Name).

tls_ctx(Config, Protocol, Extra) ->
    Tls = maps:merge(#{certfile => cert(Config, "server.pem"), keyfile => cert(Config, "server.key")},
                     Extra),
    Ctx = start_ctx(tls, #{protocol => Protocol, tls => Tls}),
    {L, Port} = listen(Ctx),
    {Ctx, L, Port}.

https_keepalive_with_curl(Config) ->
    {Ctx, L, Port} = tls_ctx(Config, example("http.ts"), #{alpn => [<<"http/1.1">>]}),
    Url = "https://localhost:" ++ integer_to_list(Port) ++ "/",
    Out = os:cmd("curl -sv --cacert " ++ cert(Config, "ca.pem") ++ " " ++ Url ++ " " ++ Url ++ " 2>&1"),
    ct:log("~s", [Out]),
    ?assertMatch({match, _}, re:run(Out, "SSL connection using TLSv1")),
    ?assertMatch({match, _}, re:run(Out, "ALPN.*accepted http/1.1")),
    ?assertMatch({match, _}, re:run(Out, "[Rr]e-?using existing connection")),
    ?assertEqual(2, length(binary:matches(list_to_binary(Out), <<"Hello from TypeScript">>))),
    Body = os:cmd("curl -s --cacert " ++ cert(Config, "ca.pem") ++ " -d 'secret body' " ++ Url ++ "echo"),
    ?assertEqual("secret body", Body),
    done(Ctx, L).

openssl_s_client(Config) ->
    {Ctx, L, Port} = tls_ctx(Config, fixture("info.ts"), #{}),
    Out = os:cmd("printf 'ping' | timeout 10 openssl s_client -connect 127.0.0.1:" ++ integer_to_list(Port)
                 ++ " -servername localhost -CAfile " ++ cert(Config, "ca.pem") ++ " -ign_eof 2>&1"),
    ct:log("~s", [Out]),
    ?assertMatch({match, _}, re:run(Out, "Verify return code: 0 \\(ok\\)")),
    %% the protocol saw plaintext and the negotiated parameters
    ?assertMatch({match, _}, re:run(Out, "\"tls\":\\{\"protocol\":\"TLSv1.3\",\"cipher\":\"TLS_[A-Z0-9_]+\"")),
    ?assertMatch({match, _}, re:run(Out, "\"sni\":\"localhost\"")),
    ?assertMatch({match, _}, re:run(Out, "\\nping")),
    done(Ctx, L).

client_certificate_required(Config) ->
    {Ctx, L, Port} = tls_ctx(Config, fixture("info.ts"),
                             #{verify => verify_peer, cacertfile => cert(Config, "ca.pem")}),
    Out = os:cmd("printf '' | timeout 10 openssl s_client -connect 127.0.0.1:" ++ integer_to_list(Port)
                 ++ " -CAfile " ++ cert(Config, "ca.pem") ++ " -cert " ++ cert(Config, "client.pem")
                 ++ " -key " ++ cert(Config, "client.key") ++ " -ign_eof 2>&1"),
    ct:log("~s", [Out]),
    ?assertMatch({match, _}, re:run(Out, "\"peer_subject\":\"CN=test client\"")),
    ?assertMatch({match, _}, re:run(Out, "\"authorized\":true")),
    done(Ctx, L).

client_certificate_missing(Config) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = tls_ctx(Config, example("http.ts"),
                             #{verify => verify_peer, cacertfile => cert(Config, "ca.pem")}),
    Out = os:cmd("curl -s -o /dev/null -w '%{http_code}' --cacert " ++ cert(Config, "ca.pem")
                 ++ " https://localhost:" ++ integer_to_list(Port) ++ "/"),
    ct:log("curl: ~s", [Out]),
    ?assertNotEqual("200", Out),
    reactor_test_lib:logged("TLS (handshake with|error from) 127.0.0.1:\\d+", 5000),
    Ok = os:cmd("curl -s --cacert " ++ cert(Config, "ca.pem") ++ " --cert " ++ cert(Config, "client.pem")
                ++ " --key " ++ cert(Config, "client.key") ++ " https://localhost:"
                ++ integer_to_list(Port) ++ "/"),
    ?assertEqual("Hello from TypeScript on the BEAM!\n", Ok),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

%% Plain text where a ClientHello should be: a clear log line, that connection
%% closed, a TLS client at the same time unaffected.
garbage_instead_of_client_hello(Config) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = tls_ctx(Config, example("http.ts"), #{}),
    Bad = connect(Port),
    ok = gen_tcp:send(Bad, <<"GET / HTTP/1.1\r\nHost: x\r\n\r\n">>),
    ?assertMatch({error, _}, recv_until_closed(Bad)),
    {warning, Text, _} = reactor_test_lib:logged("TLS handshake with 127.0.0.1:\\d+ failed", 5000),
    ct:log("~s", [Text]),
    Ok = os:cmd("curl -s --cacert " ++ cert(Config, "ca.pem") ++ " https://localhost:"
                ++ integer_to_list(Port) ++ "/"),
    ?assertEqual("Hello from TypeScript on the BEAM!\n", Ok),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

recv_until_closed(S) ->
    case gen_tcp:recv(S, 0, 5000) of
        {ok, _Alert} -> recv_until_closed(S);
        E -> E
    end.

stalled_handshake(Config) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = tls_ctx(Config, example("http.ts"), #{handshake_timeout => 300}),
    S = connect(Port),
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 5000)),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 3000),
    reactor_test_lib:logged("TLS handshake took longer than 300 ms", 5000),
    ?assertMatch(#{connections := 0}, reactor_context:info(Ctx)),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

%% A TLS peer that asks for 64 MiB and does not read: the ciphertext waiting in
%% Node stays near the high-water mark (the rest waits as plaintext in the
%% protocol's writeBuffer), and all of it arrives once the peer reads.
slow_tls_reader(Config) ->
    HighWater = 256 * 1024,
    Tls = #{certfile => cert(Config, "server.pem"), keyfile => cert(Config, "server.key")},
    Ctx = start_ctx(tls_slow, #{protocol => fixture("faulty.ts"), tls => Tls,
                                write_high_water => HighWater}),
    {L, Port} = listen(Ctx),
    {ok, S} = ssl:connect("localhost", Port, [binary, {active, false}, {verify, verify_peer},
                                              {cacertfile, cert(Config, "ca.pem")}], 5000),
    ok = ssl:send(S, <<"big">>),
    timer:sleep(1000),
    #{tls_queued := Queued, buffered := Buffered} = reactor_context:info(Ctx),
    ct:pal("TLS peer not reading: ~p bytes of ciphertext queued (high-water ~p), ~p of "
           "plaintext in writeBuffer", [Queued, HighWater, Buffered]),
    ?assert(Queued =< 2 * HighWater),
    ?assert(Buffered > 32 * 1024 * 1024), % the rest waits, unencrypted, in the protocol
    ?assertEqual({ok, 64 * 1024 * 1024}, recv_count({ssl, S}, 64 * 1024 * 1024)),
    ssl:close(S),
    done(Ctx, L).

%% TLS as a listener option: one plain context serves TLS on one listener and
%% plain text on another.
listener_tls_option(Config) ->
    Ctx = start_ctx(mixed, #{protocol => example("http.ts")}),
    Tls = #{certfile => cert(Config, "server.pem"), keyfile => cert(Config, "server.key")},
    {TlsL, TlsPort} = reactor_test_lib:listen(Ctx, #{tls => Tls}),
    {PlainL, PlainPort} = listen(Ctx),
    Secure = os:cmd("curl -s --cacert " ++ cert(Config, "ca.pem") ++ " https://localhost:"
                    ++ integer_to_list(TlsPort) ++ "/"),
    Plain = os:cmd("curl -s http://127.0.0.1:" ++ integer_to_list(PlainPort) ++ "/"),
    ?assertEqual("Hello from TypeScript on the BEAM!\n", Secure),
    ?assertEqual("Hello from TypeScript on the BEAM!\n", Plain),
    ?assertMatch({error, {tls_file_not_found, keyfile, "/no/key.pem"}},
                 reactor:start_listener(bad_tls, #{port => 0, context => Ctx,
                                                   tls => Tls#{keyfile => "/no/key.pem"}})),
    reactor:stop_listener(TlsL),
    reactor:stop_listener(PlainL),
    reactor_context:stop(Ctx).

%% Behind a load balancer: the PROXY header in clear, then the TLS handshake on
%% the same connection; the protocol sees the real client and the TLS details.
proxy_protocol_then_tls(Config) ->
    Ctx = start_ctx(proxied_tls, #{protocol => fixture("info.ts")}),
    Tls = #{certfile => cert(Config, "server.pem"), keyfile => cert(Config, "server.key")},
    {L, Port} = reactor_test_lib:listen(Ctx, #{tls => Tls, proxy_protocol => true}),
    {ok, T} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    ok = gen_tcp:send(T, <<"PROXY TCP4 198.51.100.20 192.0.2.1 61000 443\r\n">>),
    {ok, S} = ssl:connect(T, [{verify, verify_peer}, {cacertfile, cert(Config, "ca.pem")},
                              {server_name_indication, "localhost"}], 5000),
    {ok, Line} = recv_line({ssl, S}),
    ct:log("~s", [Line]),
    ?assertMatch({match, _}, re:run(Line, "\"addr\":\"198.51.100.20\"")),
    ?assertMatch({match, _}, re:run(Line, "\"port\":61000")),
    ?assertMatch({match, _}, re:run(Line, "\"tls\":\\{\"protocol\":\"TLSv1")),
    %% transport settings are not client info: only the negotiated session is
    ?assertEqual(nomatch, re:run(Line, "proxy_protocol|certfile|keyfile")),
    ok = ssl:send(S, <<"through both">>),
    ?assertEqual({ok, <<"through both">>}, ssl:recv(S, 12, 5000)),
    ssl:close(S),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

%% A listener's TLS options reach Node once per context and set, however many
%% connections use them; a second set gets a second key.
tls_options_sent_once(Config) ->
    Ctx = start_ctx(keyed, #{protocol => example("http.ts")}),
    Tls = #{certfile => cert(Config, "server.pem"), keyfile => cert(Config, "server.key")},
    {L1, Port1} = reactor_test_lib:listen(Ctx, #{tls => Tls}),
    {L2, Port2} = reactor_test_lib:listen(Ctx, #{tls => Tls#{alpn => [<<"http/1.1">>]}}),
    erlang:trace_pattern({reactor_wire, tls_config, 2}, true, [global]),
    erlang:trace(whereis_ctx(Ctx), true, [call]),
    Get = fun(Port) -> os:cmd("curl -s --cacert " ++ cert(Config, "ca.pem") ++ " https://localhost:"
                              ++ integer_to_list(Port) ++ "/") end,
    [?assertEqual("Hello from TypeScript on the BEAM!\n", Get(P)) || P <- [Port1, Port2, Port1, Port2, Port1]],
    erlang:trace(whereis_ctx(Ctx), false, [call]),
    erlang:trace_pattern({reactor_wire, tls_config, 2}, false, [global]),
    Keys = collect_tls_configs([]),
    ct:log("tls_config frames: ~p", [Keys]),
    ?assertEqual([1, 2], lists:sort(Keys)),
    reactor:stop_listener(L1),
    reactor:stop_listener(L2),
    reactor_context:stop(Ctx).

whereis_ctx(Pid) when is_pid(Pid) -> Pid.

collect_tls_configs(Acc) ->
    receive {trace, _, call, {reactor_wire, tls_config, [Key, _]}} -> collect_tls_configs([Key | Acc])
    after 200 -> Acc
    end.

%% TLS settings in a caller's client info are checked by the context: a bad
%% set refuses that fd (closed, the client sees the end), nothing else.
bad_tls_in_client_info(_Config) ->
    Ctx = start_ctx(bad_info, #{protocol => example("echo.ts")}),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, LPort} = inet:port(LS),
    Refused = fun(Info) ->
                      {ok, C} = gen_tcp:connect({127, 0, 0, 1}, LPort, [binary, {active, false}]),
                      {ok, A} = gen_tcp:accept(LS, 5000),
                      R = reactor:handoff_socket(Ctx, A, Info),
                      ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)),
                      gen_tcp:close(C),
                      R
              end,
    ?assertEqual({error, {tls_file_not_found, certfile, "/no/cert.pem"}},
                 Refused(#{tls => #{certfile => "/no/cert.pem", keyfile => "/no/key.pem"}})),
    ?assertEqual({error, {bad_client_info, tls}}, Refused(#{tls => 42})),
    ?assertEqual({error, {bad_client_info, proxy_protocol}}, Refused(#{proxy_protocol => maybe})),
    %% bad client info is refused on the caller's side; a bad TLS set by the context
    ?assertMatch(#{connections := 0, refused := 1}, reactor_context:info(Ctx)),
    %% the context still serves
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, LPort, [binary, {active, false}]),
    {ok, A} = gen_tcp:accept(LS, 5000),
    {ok, _} = reactor:handoff_socket(Ctx, A, #{tls => false}),
    ?assertEqual({ok, <<"still">>}, reactor_test_lib:roundtrip(C, <<"still">>)),
    gen_tcp:close(C),
    gen_tcp:close(LS),
    reactor_context:stop(Ctx).
