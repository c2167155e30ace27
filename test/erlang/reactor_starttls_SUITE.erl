%% STARTTLS (Protocol.startTls) end to end with examples/smtp-starttls.ts:
%% openssl s_client -starttls smtp, and gen_tcp upgraded by ssl:connect/3 for
%% what s_client cannot do (pipelined plaintext after the command, STARTTLS
%% twice, plaintext where the ClientHello belongs). Certificates are made by
%% the suite (reactor_test_lib:init_tls/1), never committed.
-module(reactor_starttls_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [example/1, start_ctx/2, telemetry_event/1, wait_stop/1]).

all() ->
    [openssl_starttls_smtp, pipelined_plaintext_is_not_run, starttls_twice,
     handshake_failure_ends_only_that_connection, handshake_timeout,
     context_starttls_option, options_checked, fds_flat].

suite() -> [{timetrap, {minutes, 3}}].

init_per_suite(Config) ->
    reactor_test_lib:init_tls(Config).

end_per_suite(_Config) ->
    ok.

init_per_testcase(_, Config) ->
    telemetry:attach(),
    Config.

end_per_testcase(_, _Config) ->
    telemetry:detach().

cert(Config, Name) -> filename:join(?config(certs, Config), Name).

tls_opts(Config) ->
    #{certfile => cert(Config, "server.pem"), keyfile => cert(Config, "server.key")}.

%% The SMTP example behind a listener whose connections may start TLS.
smtp(Config, Id) -> smtp(Config, Id, #{}).

smtp(Config, Id, Extra) ->
    Ctx = start_ctx(Id, #{protocol => example("smtp-starttls.ts")}),
    {L, Port} = reactor_test_lib:listen(Ctx, #{starttls => maps:merge(tls_opts(Config), Extra)}),
    {Ctx, L, Port}.

done(Ctx, L) -> reactor_test_lib:done(Ctx, L).

openssl_starttls_smtp(Config) ->
    {Ctx, L, Port} = smtp(Config, starttls_openssl),
    %% s_client reads the greeting, sends EHLO and STARTTLS, handshakes; then
    %% our lines go over TLS (-crlf: each \n is sent as CRLF)
    Out = os:cmd("printf 'EHLO after\\nNOOP hello over tls\\nQUIT\\n' | timeout 15 openssl s_client"
                 " -starttls smtp -connect 127.0.0.1:" ++ integer_to_list(Port)
                 ++ " -servername localhost -CAfile " ++ cert(Config, "ca.pem") ++ " -crlf -ign_eof 2>&1"),
    ct:log("~ts", [Out]),
    ?assertMatch({match, _}, re:run(Out, "Verify return code: 0 \\(ok\\)")),
    ?assertMatch({match, _}, re:run(Out, "250-reactor.example greets after over TLSv1.3")),
    %% STARTTLS is not offered again over TLS (RFC 3207 §4.2)
    ?assertEqual(nomatch, re:run(Out, "250-STARTTLS")),
    ?assertMatch({match, _}, re:run(Out, "250 2.0.0 OK hello over tls")),
    ?assertMatch({match, _}, re:run(Out, "221 2.0.0 Bye")),
    {_, Stop} = telemetry_event([reactor, connection, stop]),
    ?assertMatch(#{reason := normal, transport := #{tls := false, starttls := true}}, Stop),
    done(Ctx, L).

%% CVE-2011-0411: commands pipelined after STARTTLS came in clear; none of
%% them may run once TLS is on (the example drops them, as Postfix does).
pipelined_plaintext_is_not_run(Config) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = smtp(Config, starttls_injection),
    T = plain(Port),
    ok = gen_tcp:send(T, <<"STARTTLS\r\nNOOP injected\r\nQUIT\r\n">>),
    ?assertEqual(<<"220 2.0.0 Ready to start TLS\r\n">>, reply({gen_tcp, T})),
    S = upgrade(Config, T),
    ok = ssl:send(S, <<"NOOP after\r\n">>),
    ?assertEqual(<<"250 2.0.0 OK after\r\n">>, reply({ssl, S})),
    ok = ssl:send(S, <<"QUIT\r\n">>),
    ?assertEqual(<<"221 2.0.0 Bye\r\n">>, reply({ssl, S})),
    ?assertEqual({error, closed}, ssl:recv(S, 0, 5000)),
    {warning, Text, _} = reactor_test_lib:logged("dropped 21 bytes sent after STARTTLS in clear", 5000),
    ct:log("~ts", [Text]),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

%% Two STARTTLS in one segment: one 220, the second is pipelined plaintext;
%% STARTTLS over TLS is refused and the session goes on.
starttls_twice(Config) ->
    {Ctx, L, Port} = smtp(Config, starttls_twice),
    T = plain(Port),
    ok = gen_tcp:send(T, <<"STARTTLS\r\nSTARTTLS\r\n">>),
    ?assertEqual(<<"220 2.0.0 Ready to start TLS\r\n">>, reply({gen_tcp, T})),
    S = upgrade(Config, T),
    ok = ssl:send(S, <<"STARTTLS\r\n">>),
    ?assertEqual(<<"554 5.5.1 Error: TLS already active\r\n">>, reply({ssl, S})),
    ok = ssl:send(S, <<"EHLO again\r\n">>),
    ?assertEqual(<<"250-reactor.example greets again over TLSv1.3\r\n250 HELP\r\n">>, reply({ssl, S})),
    ok = ssl:send(S, <<"NOOP still here\r\n">>),
    ?assertEqual(<<"250 2.0.0 OK still here\r\n">>, reply({ssl, S})),
    ssl:close(S),
    done(Ctx, L).

%% Plaintext where the ClientHello belongs: that connection ends, with the
%% TLS error as its reason (telemetry, the log); a session beside it goes on.
handshake_failure_ends_only_that_connection(Config) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = smtp(Config, starttls_failure),
    Good = upgrade(Config, starttls(plain(Port))),
    _ = telemetry_flush(),
    Bad = starttls(plain(Port)),
    ok = gen_tcp:send(Bad, <<"NOOP not a ClientHello\r\n">>),
    ?assertMatch({error, _}, recv_until_closed(Bad)),
    {_, Stop} = telemetry_event([reactor, connection, stop]),
    ct:log("reason: ~ts", [maps:get(reason, Stop)]),
    ?assertMatch({match, _}, re:run(maps:get(reason, Stop), "^ERR_SSL_[A-Z_]+: ")),
    {warning, Text, _} = reactor_test_lib:logged("STARTTLS handshake with 127.0.0.1:\\d+ failed", 5000),
    ct:log("~ts", [Text]),
    ok = ssl:send(Good, <<"NOOP unaffected\r\n">>),
    ?assertEqual(<<"250 2.0.0 OK unaffected\r\n">>, reply({ssl, Good})),
    ?assertMatch(#{connections := 1}, reactor_context:info(Ctx)),
    ssl:close(Good),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

%% The option set's handshake_timeout bounds the handshake after STARTTLS.
handshake_timeout(Config) ->
    {Ctx, L, Port} = smtp(Config, starttls_timeout, #{handshake_timeout => 300}),
    T = starttls(plain(Port)),
    _ = telemetry_flush(),
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual({error, closed}, gen_tcp:recv(T, 0, 5000)),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 3000),
    {_, Stop} = telemetry_event([reactor, connection, stop]),
    ?assertMatch({match, _}, re:run(maps:get(reason, Stop), "^EHANDSHAKETIMEOUT: TLS handshake took longer than 300 ms")),
    done(Ctx, L).

%% The context's own `starttls' serves connections whose listener has none;
%% connections/1 says which connections may start TLS.
context_starttls_option(Config) ->
    Ctx = start_ctx(starttls_ctx, #{protocol => example("smtp-starttls.ts"), starttls => tls_opts(Config)}),
    {L, Port} = reactor_test_lib:listen(Ctx),
    T = starttls(plain(Port)),
    [#{transport := Transport}] = reactor_context:connections(Ctx),
    ?assertEqual(#{proxy => false, tls => false, starttls => true}, Transport),
    S = upgrade(Config, T),
    ok = ssl:send(S, <<"NOOP ctx\r\n">>),
    ?assertEqual(<<"250 2.0.0 OK ctx\r\n">>, reply({ssl, S})),
    ssl:close(S),
    %% a connection handed off with starttls => false cannot start it
    {ok, A} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, APort} = inet:port(A),
    C = plain_connect(APort),
    {ok, Accepted} = gen_tcp:accept(A, 5000),
    {ok, _} = reactor:handoff_socket(Ctx, Accepted, #{starttls => false}),
    ?assertMatch(<<"220 ", _/binary>>, reply({gen_tcp, C})),
    ok = gen_tcp:send(C, <<"EHLO x\r\nSTARTTLS\r\n">>),
    ?assertEqual(<<"250-reactor.example greets x\r\n250-STARTTLS\r\n250 HELP\r\n">>, reply({gen_tcp, C})),
    %% the example does not catch startTls's ENOSTARTTLS: the connection ends with it
    ?assertEqual(<<"220 2.0.0 Ready to start TLS\r\n">>, reply({gen_tcp, C})),
    ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)),
    {_, Stop} = wait_stop(fun(#{transport := Tr}) -> not is_map_key(starttls, Tr) end),
    ?assertMatch({match, _}, re:run(maps:get(reason, Stop), "^ENOSTARTTLS: ")),
    gen_tcp:close(A),
    done(Ctx, L).

options_checked(Config) ->
    Ctx = start_ctx(starttls_opts, #{protocol => example("smtp-starttls.ts")}),
    Tls = tls_opts(Config),
    ?assertEqual({error, {conflicting_options, [tls, starttls]}},
                 reactor:start_listener(both, #{port => 0, context => Ctx, tls => Tls, starttls => Tls})),
    ?assertMatch({error, {tls_file_not_found, keyfile, "/no/key.pem"}},
                 reactor:start_listener(bad, #{port => 0, context => Ctx, starttls => Tls#{keyfile => "/no/key.pem"}})),
    ?assertMatch({error, {tls_file_not_found, certfile, "/no/cert.pem"}},
                 reactor_context:start(starttls_bad, #{protocol => example("smtp-starttls.ts"),
                                                       starttls => Tls#{certfile => "/no/cert.pem"}})),
    reactor_context:stop(Ctx).

%% Sessions that upgrade, fail and time out leave no fd behind, in the BEAM
%% or in Node.
fds_flat(Config) ->
    {Ctx, L, Port} = smtp(Config, starttls_fds, #{handshake_timeout => 200}),
    OsPid = reactor_test_lib:os_pid(Ctx),
    Round = fun() ->
                    Ok = [upgrade(Config, starttls(plain(Port))) || _ <- lists:seq(1, 10)],
                    [begin
                         ok = ssl:send(S, <<"QUIT\r\n">>),
                         <<"221 2.0.0 Bye\r\n">> = reply({ssl, S}),
                         {error, closed} = ssl:recv(S, 0, 5000)
                     end || S <- Ok],
                    Bad = [starttls(plain(Port)) || _ <- lists:seq(1, 5)],
                    [gen_tcp:send(B, <<"garbage\r\n">>) || B <- Bad],
                    Silent = [starttls(plain(Port)) || _ <- lists:seq(1, 5)],
                    [{error, _} = recv_until_closed(B) || B <- Bad ++ Silent]
            end,
    Round(),
    ok = reactor_test_lib:wait_until(fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= 0 end, 5000),
    Beam = reactor_test_lib:settled_fd_count(),
    Node = reactor_test_lib:node_fd_count(OsPid),
    Round(),
    ok = reactor_test_lib:wait_until(fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= 0 end, 5000),
    ok = reactor_test_lib:wait_until(
           fun() -> reactor_test_lib:fd_count() =< Beam andalso reactor_test_lib:node_fd_count(OsPid) =< Node end,
           5000),
    ct:log("fds after 40 sessions: BEAM ~p (was ~p), Node ~p (was ~p)",
           [reactor_test_lib:fd_count(), Beam, reactor_test_lib:node_fd_count(OsPid), Node]),
    done(Ctx, L).

%%% Clients

%% A plain SMTP client past the greeting and EHLO, reading lines.
plain(Port) ->
    T = plain_connect(Port),
    <<"220 reactor.example ESMTP ready\r\n">> = reply({gen_tcp, T}),
    ok = gen_tcp:send(T, <<"EHLO client\r\n">>),
    <<"250-reactor.example greets client\r\n250-STARTTLS\r\n250 HELP\r\n">> = reply({gen_tcp, T}),
    T.

plain_connect(Port) ->
    {ok, T} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {packet, line}], 5000),
    T.

%% STARTTLS sent and answered; the socket is ready for the handshake.
starttls(T) ->
    ok = gen_tcp:send(T, <<"STARTTLS\r\n">>),
    <<"220 2.0.0 Ready to start TLS\r\n">> = reply({gen_tcp, T}),
    T.

%% The TLS handshake on the plain socket (the server's certificate checked).
upgrade(Config, T) ->
    ok = inet:setopts(T, [{packet, raw}]),
    {ok, S} = ssl:connect(T, [{verify, verify_peer}, {cacertfile, cert(Config, "ca.pem")},
                              {server_name_indication, "localhost"}, {packet, line},
                              {active, false}], 5000),
    S.

%% One SMTP reply: its lines up to the one without a "-" after the code.
reply(C) -> reply(C, []).

reply({M, S} = C, Acc) ->
    {ok, Line} = M:recv(S, 0, 5000),
    case Line of
        <<_:3/binary, "-", _/binary>> -> reply(C, [Line | Acc]);
        _ -> iolist_to_binary(lists:reverse([Line | Acc]))
    end.

recv_until_closed(S) ->
    case gen_tcp:recv(S, 0, 5000) of
        {ok, _} -> recv_until_closed(S);
        E -> E
    end.

%% Drops the telemetry events received so far.
telemetry_flush() ->
    receive {telemetry, _, _, _} -> telemetry_flush() after 0 -> ok end.

