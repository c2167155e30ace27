%% Node's http and an Express 5 app (examples/http-node), unmodified, served
%% on BEAM connections as stream handlers: each module exports a net.Server
%% and every connection Erlang accepts is its 'connection', a net.Socket-
%% compatible Duplex over the reactor's own I/O. Driven by real clients
%% (curl, wrk, raw pipelined requests from gen_tcp and ssl) over plain TCP and
%% TLS; then the faults (a handler that throws, a socket destroyed with an
%% error, garbage, a reset mid-body) end their own connection only, with
%% their reason in telemetry; and the listener's socket options, read back
%% with getsockopt on the connection's fd.
-module(reactor_streams_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, example/1, start_ctx/2, listen/2, telemetry_event/1]).

all() -> [{group, plain}, {group, tls}, {group, faults}, peer_ends_first, request_then_end,
          socket_opts_read_back, nodelay_by_default].

groups() ->
    Http = [get, post_body, chunked_upload, keep_alive, pipelining, expect_100_continue,
            express_routes, wrk_briefly, fds_flat],
    [{plain, [], Http}, {tls, [], Http},
     {faults, [], [handler_throws, library_destroys, garbage_is_a_400, peer_resets_mid_body,
                   early_answer_keeps_its_tail, bystander_served_and_fds_flat]}].

suite() -> [{timetrap, {minutes, 4}}].

%% The example's npm packages, installed on a fresh machine as its lock file
%% says (.ci/install-deps does it for `make test`; here for a suite run alone).
init_per_suite(Config) ->
    Dir = example("http-node"),
    case filelib:is_dir(filename:join(Dir, "node_modules/express")) of
        true -> ok;
        false ->
            Out = os:cmd("cd '" ++ Dir ++ "' && npm ci --no-audit --no-fund 2>&1; echo rc=$?"),
            ct:log("npm ci in ~s:~n~s", [Dir, Out]),
            {match, _} = re:run(Out, "rc=0\\n$")
    end,
    reactor_test_lib:init_tls(Config).

end_per_suite(_Config) ->
    ok.

%% Two contexts, http.ts and express.ts, each with a listener of this group's
%% transport; the fd counts of the BEAM and of both Nodes before any traffic.
init_per_group(faults, Config) ->
    code:ensure_loaded(telemetry),
    Ctx = start_ctx(stream_faults, #{protocol => fixture("stream_faults.ts")}),
    {L, Port} = listen(Ctx, #{}),
    %% a keep-alive connection that lives through the group's cases, owned
    %% by a process that outlives this one (the cases use it passively)
    Bystander = reactor_test_lib:connect(Port),
    Holder = spawn(fun() -> receive stop -> ok end end),
    ok = gen_tcp:controlling_process(Bystander, Holder),
    {ok, _} = reactor_test_lib:http_request(Bystander, <<"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n">>),
    [{faults, {Ctx, L, Port}}, {bystander, Bystander}, {holder, Holder}, {baseline, baseline([Ctx])}
     | Config];
init_per_group(G, Config) ->
    Dir = ?config(certs, Config),
    Opts = case G of
               plain -> #{};
               tls -> #{tls => #{certfile => filename:join(Dir, "server.pem"),
                                 keyfile => filename:join(Dir, "server.key"),
                                 alpn => [<<"http/1.1">>]}}
           end,
    Http = start_ctx(streams_http, #{protocol => example("http-node/http.ts")}),
    Express = start_ctx(streams_express, #{protocol => example("http-node/express.ts")}),
    {LH, PH} = listen(Http, Opts),
    {LE, PE} = listen(Express, Opts),
    [{tls, G =:= tls}, {servers, #{http => {Http, LH, PH}, express => {Express, LE, PE}}},
     {baseline, baseline([Http, Express])} | Config].

end_per_group(faults, Config) ->
    gen_tcp:close(?config(bystander, Config)),
    ?config(holder, Config) ! stop,
    {Ctx, L, _} = ?config(faults, Config),
    reactor_test_lib:done(Ctx, L);
end_per_group(_, Config) ->
    [reactor_test_lib:done(Ctx, L) || {Ctx, L, _} <- maps:values(?config(servers, Config))],
    ok.

init_per_testcase(_, Config) ->
    telemetry:attach(),
    Config.

end_per_testcase(_, _Config) ->
    telemetry:detach(),
    ok.

%%% Node's http and Express, with curl, wrk and raw pipelined requests

get(Config) ->
    Out = curl(Config, "-i " ++ url(Config, http, "/")),
    ?assertMatch({match, _}, re:run(Out, "^HTTP/1.1 200 OK\r\n")),
    Tail = case ?config(tls, Config) of true -> " over TLS\n"; false -> "\n" end,
    ?assertMatch({match, _}, re:run(Out, "hello from node:http on the BEAM: 127\\.0\\.0\\.1:[0-9]+" ++ Tail ++ "$")).

post_body(Config) ->
    In = data_file(Config, "post.bin", 300 * 1024),
    Got = filename:join(?config(priv_dir, Config), "post.out"),
    "" = curl(Config, "--data-binary @" ++ In ++ " -o " ++ Got ++ " " ++ url(Config, http, "/echo")),
    ?assertEqual(file:read_file(In), file:read_file(Got)).

%% curl -T streams the file with Transfer-Encoding: chunked; http.ts hashes what it reads.
chunked_upload(Config) ->
    In = data_file(Config, "upload.bin", 5 * 1024 * 1024),
    Out = curl(Config, "-v -T " ++ In ++ " -H 'Transfer-Encoding: chunked' " ++ url(Config, http, "/upload")),
    ?assertMatch({match, _}, re:run(Out, "> Transfer-Encoding: chunked")),
    {ok, Bin} = file:read_file(In),
    Sha = string:lowercase(binary:encode_hex(crypto:hash(sha256, Bin))),
    ?assertMatch({match, _}, re:run(Out, <<"\n5242880 ", Sha/binary, "\n">>)).

%% Three requests, one connection: curl says it reused it, and Express saw
%% the same remote port each time.
keep_alive(Config) ->
    U = url(Config, express, "/whoami"),
    Out = curl(Config, "-v " ++ U ++ " " ++ U ++ " " ++ U),
    ?assertEqual(2, length(binary:matches(list_to_binary(Out), <<"Re-using existing connection">>))),
    {match, Ports} = re:run(Out, "\"remotePort\":([0-9]+)", [global, {capture, all_but_first, list}]),
    ?assertMatch([[P], [P], [P]], Ports),
    Scheme = case ?config(tls, Config) of true -> "https"; false -> "http" end,
    ?assertMatch({match, _}, re:run(Out, "\"protocol\":\"" ++ Scheme ++ "\"")).

%% Three requests in one write: three answers, in order (RFC 9112 §9.3.2).
pipelining(Config) ->
    C = client(Config, express),
    Req = fun(N) -> ["GET /hello/", N, " HTTP/1.1\r\nHost: x\r\n\r\n"] end,
    ok = send(C, iolist_to_binary([Req("a"), Req("b"), Req("c")])),
    {ok, All} = recv_until(C, <<"hello, c\n">>, <<>>),
    close(C),
    {match, Names} = re:run(All, "hello, ([abc])\n", [global, {capture, all_but_first, binary}]),
    ?assertEqual([[<<"a">>], [<<"b">>], [<<"c">>]], Names),
    ?assertEqual(3, length(binary:matches(All, <<"HTTP/1.1 200 OK\r\n">>))).

expect_100_continue(Config) ->
    In = data_file(Config, "continue.bin", 64 * 1024),
    Got = filename:join(?config(priv_dir, Config), "continue.out"),
    Out = curl(Config, "-v -H 'Expect: 100-continue' --data-binary @" ++ In ++ " -o " ++ Got ++ " "
               ++ url(Config, http, "/echo")),
    ?assertMatch({match, _}, re:run(Out, "< HTTP/1.1 100 Continue")),
    ?assertEqual(file:read_file(In), file:read_file(Got)).

express_routes(Config) ->
    ?assertEqual("hello, ann\n", curl(Config, url(Config, express, "/hello/ann"))),
    Json = curl(Config, "-H 'content-type: application/json' -d '{\"a\":1,\"b\":[2,3]}' "
                ++ url(Config, express, "/json")),
    ?assertEqual("{\"keys\":2,\"body\":{\"a\":1,\"b\":[2,3]}}", Json),
    Who = curl(Config, url(Config, express, "/whoami")),
    %% req.secure is the Socket's `encrypted'; ALPN chose http/1.1 of curl's offer
    {Secure, Alpn} = case ?config(tls, Config) of
                         true -> {"true", "\"http/1.1\""};
                         false -> {"false", "false"}
                     end,
    ?assertMatch({match, _}, re:run(Who, "\"ip\":\"127\\.0\\.0\\.1\".*\"secure\":" ++ Secure ++
                                         ".*\"alpn\":" ++ Alpn)),
    %% an async handler that rejects: Express 5 answers 500, the server goes on
    ?assertMatch({match, _}, re:run(curl(Config, "-i " ++ url(Config, express, "/async-error")),
                                    "^HTTP/1.1 500 ")),
    ?assertEqual("hello, bob\n", curl(Config, url(Config, express, "/hello/bob"))).

%% A few seconds of wrk over keep-alive connections: requests served, no socket errors.
wrk_briefly(Config) ->
    Out = os:cmd("wrk -t1 -c20 -d2s " ++ url(Config, http, "/") ++ " 2>&1"),
    ct:log("~s", [Out]),
    {match, [N]} = re:run(Out, "([0-9]+) requests in", [{capture, all_but_first, list}]),
    ?assert(list_to_integer(N) > 0),
    ?assertEqual(nomatch, re:run(Out, "Socket errors|Non-2xx")).

%% Every connection above has ended: the BEAM and both Nodes hold what they
%% held before any traffic.
fds_flat(Config) ->
    flat(?config(baseline, Config)).

%%% Faults: each ends its own connection with its reason; the others go on

handler_throws(Config) ->
    {Ctx, _, Port} = ?config(faults, Config),
    ?assertEqual({error, closed}, request(Port, <<"GET /throw HTTP/1.1\r\nHost: x\r\n\r\n">>)),
    {_, Exc} = telemetry_event([reactor, protocol, exception]),
    ?assertMatch(#{context := stream_faults, callback := <<"dataReceived">>}, Exc),
    ?assertMatch({match, _}, re:run(maps:get(stacktrace, Exc), "the stream handler threw\n\\s+at .*stream_faults.ts:")),
    ?assertMatch({match, _}, re:run(stop_reason(), "^the stream handler threw$")),
    bystander_ok(Config),
    ?assert(maps:get(errors, reactor_context:info(Ctx)) >= 1).

library_destroys(Config) ->
    {_, _, Port} = ?config(faults, Config),
    ?assertEqual({error, closed}, request(Port, <<"GET /destroy HTTP/1.1\r\nHost: x\r\n\r\n">>)),
    ?assertEqual(<<"ELIBRARY: the library gave up on this socket">>, stop_reason()),
    bystander_ok(Config).

%% Not HTTP: Node's http answers 400 and destroys the socket with the parser's error.
garbage_is_a_400(Config) ->
    {_, _, Port} = ?config(faults, Config),
    C = reactor_test_lib:connect(Port),
    ok = gen_tcp:send(C, <<"THIS IS NOT HTTP\r\n\r\n">>),
    {ok, Answer} = recv_all(C, <<>>),
    ?assertMatch(<<"HTTP/1.1 400 Bad Request\r\n", _/binary>>, Answer),
    ?assertMatch({match, _}, re:run(stop_reason(), "^HPE_INVALID_METHOD: Parse Error")),
    bystander_ok(Config).

%% The peer sends part of a body, then a reset (SO_LINGER 0).
peer_resets_mid_body(Config) ->
    {Ctx, _, Port} = ?config(faults, Config),
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {linger, {true, 0}}]),
    ok = gen_tcp:send(C, [<<"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n">>,
                          binary:copy(<<"x">>, 100000)]),
    reactor_test_lib:wait_until(fun() -> maps:get(bytes_in, reactor_context:info(Ctx)) > 100000 end, 5000),
    ok = gen_tcp:close(C),
    ?assertMatch({match, _}, re:run(stop_reason(), "^ECONNRESET: ")),
    bystander_ok(Config).

%% An answer before the body (413, Connection: close) while the peer pauses
%% mid-upload: http reads what came, ends, then destroys the socket with
%% nothing unread. The body's rest comes after; had the fd closed then, its
%% reset would drop the part of the answer our kernel still held (the
%% client's small receive window keeps it there). The lingering read takes
%% it: the whole answer arrives, then our end.
early_answer_keeps_its_tail(Config) ->
    {_, _, Port} = ?config(faults, Config),
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {recbuf, 16384}]),
    ok = gen_tcp:send(C, [<<"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 101000\r\n\r\n">>,
                          binary:copy(<<"x">>, 1000)]),
    timer:sleep(300),
    ok = gen_tcp:send(C, binary:copy(<<"x">>, 100000)),
    {ok, Answer} = recv_all(C, <<>>),
    gen_tcp:close(C),
    [Head, Body] = binary:split(Answer, <<"\r\n\r\n">>),
    ?assertMatch(<<"HTTP/1.1 413 Payload Too Large\r\n", _/binary>>, Head),
    ?assertEqual(binary:copy(<<"e">>, 200000), Body),
    bystander_ok(Config).

bystander_served_and_fds_flat(Config) ->
    bystander_ok(Config),
    flat(?config(baseline, Config)).

%%% A half-open server (allowHalfOpen) answers at the peer's end; a peer that
%%% ends as it connects has its end read with the handoff, before the ack:
%%% the Socket, which paused reading at it, still ends the connection itself.

peer_ends_first(_Config) ->
    Ctx = start_ctx(stream_half_open, #{protocol => fixture("half_open.ts")}),
    {L, Port} = listen(Ctx, #{}),
    Base = baseline([Ctx]),
    Ask = fun(Bytes) ->
                  C = reactor_test_lib:connect(Port),
                  ok = gen_tcp:send(C, Bytes),
                  ok = gen_tcp:shutdown(C, write),
                  {ok, Answer} = recv_all(C, <<>>),
                  gen_tcp:close(C),
                  Answer
          end,
    ?assertEqual([<<"0\n">> || _ <- lists:seq(1, 5)], [Ask(<<>>) || _ <- lists:seq(1, 5)]),
    ?assertEqual([<<"3\n">> || _ <- lists:seq(1, 5)], [Ask(<<"abc">>) || _ <- lists:seq(1, 5)]),
    flat(Base),
    reactor_test_lib:done(Ctx, L).

%% A request of 64 KiB (the first read's size) and the peer's end right
%% behind it, as a client that half-closes sends them: both are read in one
%% turn, the end after a read that filled its buffer. http answers the
%% request, as on Node, whose reads are callbacks each.
request_then_end(_Config) ->
    Ctx = start_ctx(stream_request_then_end, #{protocol => example("http-node/http.ts")}),
    {L, Port} = listen(Ctx, #{}),
    Head = <<"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 65480\r\n\r\n">>,
    Body = binary:copy(<<"u">>, 65536 - byte_size(Head)),
    65480 = byte_size(Body),
    Sha = string:lowercase(binary:encode_hex(crypto:hash(sha256, Body))),
    Ask = fun() ->
                  C = reactor_test_lib:connect(Port),
                  ok = gen_tcp:send(C, [Head, Body]),
                  ok = gen_tcp:shutdown(C, write),
                  {ok, Answer} = recv_all(C, <<>>),
                  gen_tcp:close(C),
                  Answer
          end,
    [?assertMatch({match, _}, re:run(Ask(), <<"^HTTP/1.1 200 OK\r\n.*\r\n65480 ", Sha/binary, "\n$">>,
                                     [dotall]))
     || _ <- lists:seq(1, 5)],
    reactor_test_lib:done(Ctx, L).

%%% Socket options: the listener's, and setNoDelay/setKeepAlive from TypeScript,
%%% read back with getsockopt by python3 on the connection's fd in Node

socket_opts_read_back(_Config) ->
    Ctx = start_ctx(stream_sockopts, #{protocol => fixture("sockopts.ts")}),
    {L, Port} = listen(Ctx, #{socket_opts => #{nodelay => false, keepalive => true,
                                               sndbuf => 65536, recbuf => 131072}}),
    C = reactor_test_lib:connect(Port),
    Get = fun() -> line(C, <<"get\n">>) end,
    First = Get(),
    ?assertMatch({match, _}, re:run(First, "^nodelay=0 keepalive=1 keepidle=[0-9]+ sndbuf=131072 rcvbuf=262144$")),
    ?assertEqual(<<"ok">>, line(C, <<"nodelay 1\n">>)),
    ?assertEqual(<<"ok">>, line(C, <<"keepalive 1 60000\n">>)),
    ?assertMatch({match, _}, re:run(Get(), "^nodelay=1 keepalive=1 keepidle=60 ")),
    ?assertEqual(<<"ok">>, line(C, <<"keepalive 0\n">>)),
    ?assertMatch({match, _}, re:run(Get(), "^nodelay=1 keepalive=0 ")),
    gen_tcp:close(C),
    reactor_test_lib:done(Ctx, L).

nodelay_by_default(_Config) ->
    Ctx = start_ctx(stream_sockopts, #{protocol => fixture("sockopts.ts")}),
    {L, Port} = listen(Ctx, #{}),
    C = reactor_test_lib:connect(Port),
    ?assertMatch({match, _}, re:run(line(C, <<"get\n">>), "^nodelay=1 keepalive=0 ")),
    ?assertEqual({error, {bad_option, {nodelay, yes}}},
                 reactor:start_listener(bad_sockopts, #{port => 0, context => Ctx,
                                                        socket_opts => #{nodelay => yes}})),
    gen_tcp:close(C),
    reactor_test_lib:done(Ctx, L).

%%% Helpers

url(Config, Server, Path) ->
    {_, _, Port} = maps:get(Server, ?config(servers, Config)),
    Scheme = case ?config(tls, Config) of true -> "https"; false -> "http" end,
    Scheme ++ "://127.0.0.1:" ++ integer_to_list(Port) ++ Path.

%% curl's output and errors (-sS: quiet but for errors); on TLS it verifies
%% the server with the test CA.
curl(Config, Args) ->
    Ca = case ?config(tls, Config) of
             true -> "--cacert " ++ filename:join(?config(certs, Config), "ca.pem") ++ " ";
             false -> ""
         end,
    Out = os:cmd("curl -sS --max-time 30 " ++ Ca ++ Args ++ " 2>&1"),
    ct:log("curl ~s~n~s", [Args, Out]),
    Out.

data_file(Config, Name, Size) ->
    Path = filename:join(?config(priv_dir, Config), Name),
    ok = file:write_file(Path, crypto:strong_rand_bytes(Size)),
    Path.

%% A raw client of this group's transport.
client(Config, Server) ->
    {_, _, Port} = maps:get(Server, ?config(servers, Config)),
    T = reactor_test_lib:connect(Port),
    case ?config(tls, Config) of
        false -> {gen_tcp, T};
        true ->
            CA = filename:join(?config(certs, Config), "ca.pem"),
            {ok, S} = ssl:connect(T, [{verify, verify_peer}, {cacertfile, CA},
                                      {server_name_indication, "localhost"}, binary,
                                      {active, false}], 5000),
            {ssl, S}
    end.

send({M, S}, B) -> M:send(S, B).
close({M, S}) -> M:close(S).

recv_until({M, S} = C, Want, Acc) ->
    case binary:match(Acc, Want) of
        nomatch ->
            case M:recv(S, 0, 5000) of
                {ok, B} -> recv_until(C, Want, <<Acc/binary, B/binary>>);
                {error, _} = E -> E
            end;
        _ -> {ok, Acc}
    end.

%% Everything until the peer closes.
recv_all(S, Acc) ->
    case gen_tcp:recv(S, 0, 5000) of
        {ok, B} -> recv_all(S, <<Acc/binary, B/binary>>);
        {error, closed} -> {ok, Acc};
        {error, _} = E -> E
    end.

%% One request on a new connection: what came back before it ended, or
%% `{error, closed}' when it ended with nothing.
request(Port, Req) ->
    C = reactor_test_lib:connect(Port),
    ok = gen_tcp:send(C, Req),
    R = case recv_all(C, <<>>) of
            {ok, <<>>} -> {error, closed};
            Other -> Other
        end,
    gen_tcp:close(C),
    R.

%% The bystander's keep-alive connection still answers.
bystander_ok(Config) ->
    {ok, B} = reactor_test_lib:http_request(?config(bystander, Config), <<"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n">>),
    ?assertMatch({match, _}, re:run(B, "\r\n\r\nok [0-9]+\n$")).

stop_reason() ->
    {_, #{reason := Reason}} = telemetry_event([reactor, connection, stop]),
    ct:log("stop reason: ~p", [Reason]),
    Reason.

%% A line sent, the answer's line back (without its newline).
line(C, Bin) ->
    ok = gen_tcp:send(C, Bin),
    {ok, L} = reactor_test_lib:recv_line(C),
    string:trim(L, trailing, "\n").

%% The fd counts of the BEAM and of each context's Node now, with the
%% connections each context has.
baseline(Ctxs) ->
    {reactor_test_lib:settled_fd_count(),
     [{Ctx, reactor_test_lib:node_fd_count(reactor_test_lib:os_pid(Ctx)),
       maps:get(connections, reactor_context:info(Ctx))} || Ctx <- Ctxs]}.

%% Back to the baseline, once the connections made since have ended.
flat({Beam, Nodes}) ->
    [reactor_test_lib:wait_until(fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= Live end,
                                 10000) || {Ctx, _, Live} <- Nodes],
    ?assertEqual(Beam, reactor_test_lib:settled_fd_count()),
    [?assertEqual({Ctx, N}, {Ctx, reactor_test_lib:node_fd_count(reactor_test_lib:os_pid(Ctx))})
     || {Ctx, N, _} <- Nodes].
