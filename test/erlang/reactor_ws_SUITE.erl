%% ws (examples/ws-chat), unmodified, on BEAM connections: Node's http server
%% with two WebSocketServers ({noServer: true}) behind its 'upgrade', exported
%% as a stream handler. Driven by ws's own client in a Node script
%% (test/fixtures/ws_client.mjs: text, binary, a 16 MiB message, ping/pong,
%% close codes both ways, a client killed with SIGKILL mid-stream, a message
%% one byte over maxPayload) and by headless Chromium opening the example's
%% page, chatting with a ws client over the reactor, its DOM read back and a
%% screenshot kept in the log. A fault ends its own connection only, with its
%% reason in telemetry; a chat member connected throughout still answers.
%% Every case leaves the BEAM and Node with the fds it found.
-module(reactor_ws_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [example/1, fixture/1, wait_until/2]).

all() -> [page_and_stats, text, binary, message_of_16_mib, ping_pong, client_close_code,
          server_close_code, message_over_max_payload, client_killed_mid_stream,
          chromium_chats].

suite() -> [{timetrap, {minutes, 3}}].

-define(MAX_MESSAGE, 16 * 1024 * 1024).

init_per_suite(Config) ->
    example_deps(),
    code:ensure_loaded(telemetry),
    Ctx = reactor_test_lib:start_ctx(ws_chat, #{protocol => example("ws-chat/chat.ts")}),
    {L, Port} = reactor_test_lib:listen(Ctx, #{}),
    [{ctx, Ctx}, {listener, L}, {port, Port} | Config].

end_per_suite(Config) ->
    reactor_test_lib:done(?config(ctx, Config), ?config(listener, Config)),
    ok.

%% The fds of the BEAM and of Node before the case, with no connection open.
init_per_testcase(_Case, Config) ->
    telemetry:attach(),
    Ctx = ?config(ctx, Config),
    ok = wait_until(fun() -> connections(Ctx) =:= 0 end, 10000),
    [{fds, fds(Ctx)} | Config].

%% Once every connection of the case has ended, the same fds: a leak fails the case.
end_per_testcase(_Case, Config) ->
    telemetry:detach(),
    Ctx = ?config(ctx, Config),
    Before = ?config(fds, Config),
    Closed = try wait_until(fun() -> connections(Ctx) =:= 0 end, 10000)
             catch error:wait_until_timeout -> still_open
             end,
    case {Closed, fds(Ctx)} of
        {ok, Before} -> ok;
        {_, After} -> {fail, {fds, #{before => Before, 'after' => After,
                                     open => reactor_context:connections(Ctx)}}}
    end.

%%% Cases

%% The page and /stats are plain HTTP from the same http.Server.
page_and_stats(Config) ->
    Page = curl(Config, "/"),
    ?assertMatch({match, _}, re:run(Page, "<title>erlang-reactor: ws chat</title>")),
    ?assertMatch({match, _}, re:run(Page, "new WebSocket\\(`\\$\\{scheme\\}://\\$\\{location.host\\}/chat")),
    ?assertMatch({match, _}, re:run(curl(Config, "/stats"), "^\\{\"chat\":\\[\\],\"echo\":0,")),
    ?assertEqual("not found\n", curl(Config, "/nothing")).

text(Config) ->
    {0, Lines} = ws_client(Config, ["text"]),
    ?assert(lists:member(<<"text bytes=17 hello, wörld ✓"/utf8>>, Lines)),
    ?assert(lists:member(<<"text bytes=100000 long">>, Lines)).

binary(Config) ->
    {0, Lines} = ws_client(Config, ["binary"]),
    [?assert(lists:member(<<"binary bytes=", N/binary>>, Lines)) || N <- [<<"1">>, <<"65536">>, <<"1048576">>]].

%% ws's maxPayload in the example is 16 MiB: the largest message goes and comes back whole.
message_of_16_mib(Config) ->
    {0, Lines} = ws_client(Config, ["big"]),
    [Big] = [L || <<"big ", _/binary>> = L <- Lines],
    ?assertMatch({match, _}, re:run(Big, "^big bytes=16777216 sha256=[0-9a-f]{64} ms=[0-9]+$")),
    {#{bytes_in := In, bytes_out := Out}, #{reason := normal}} = stop_of(local_port(Lines)),
    ?assert(In > ?MAX_MESSAGE andalso Out > ?MAX_MESSAGE).

%% ws answers pings with the ping's payload (RFC 6455 §5.5.3).
ping_pong(Config) ->
    {0, Lines} = ws_client(Config, ["ping"]),
    ?assertEqual([<<"pong reactor ping 1">>, <<"pong reactor ping 2">>, <<"pong reactor ping 3">>],
                 [L || <<"pong ", _/binary>> = L <- Lines]).

%% The client's close code and reason reach the server, whose close frame echoes them.
client_close_code(Config) ->
    {0, Lines} = ws_client(Config, ["close"]),
    ?assert(lists:member(<<"closed code=4000 reason=client done">>, Lines)),
    Port = local_port(Lines),
    server_saw(Config, Port, "\"code\":4000,\"reason\":\"client done\""),
    {_, #{reason := normal}} = stop_of(Port).

%% The server closes: the chat's /quit, with 1000 and "bye NAME".
server_close_code(Config) ->
    {0, Lines} = ws_client(Config, ["quit", "ann"]),
    ?assert(lists:member(<<"closed code=1000 reason=bye ann">>, Lines)),
    {_, #{reason := normal}} = stop_of(local_port(Lines)).

%% One byte over maxPayload: the client gets close code 1009 (Message Too
%% Big), that connection ends with ws's error as its reason, and a chat
%% member connected meanwhile still answers.
message_over_max_payload(Config) ->
    Bystander = bystander(Config),
    {0, Lines} = ws_client(Config, ["oversized"]),
    ?assert(lists:member(<<"closed code=1009">>, Lines)),
    {_, #{reason := Reason}} = stop_of(local_port(Lines)),
    ?assertEqual(<<"WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: Max payload size exceeded">>, Reason),
    still_answers(Config, Bystander).

%% A client streaming messages is killed with SIGKILL: its connection ends
%% (a reset, or the kernel's FIN), the server sees close code 1006, and the
%% others go on.
client_killed_mid_stream(Config) ->
    Bystander = bystander(Config),
    C = reactor_test_os:start("node", [fixture("ws_client.mjs"), ws_url(Config), "vanish"]),
    {Local, C1} = reactor_test_os:expect(C, "^open local_port=([0-9]+)$", 10000),
    {_, C2} = reactor_test_os:expect(C1, "^streaming$", 20000),
    {Status, _} = reactor_test_os:kill(C2),
    ?assertEqual(128 + 9, Status),
    {#{bytes_in := In}, #{reason := Reason}} = stop_of(binary_to_integer(Local)),
    log("the killed client's connection ended: ~p after ~p bytes in", [Reason, In]),
    ?assert(In > 10 * 65536),
    ?assert(Reason =:= normal orelse
            re:run(Reason, "^(ECONNRESET|EPIPE): ") =/= nomatch),
    server_saw(Config, binary_to_integer(Local), "\"code\":1006"),
    still_answers(Config, Bystander).

%% Headless Chromium opens the page, joins the chat as "chromium" and says
%% hello; a ws client in the room answers; the page shows both lines. The
%% DOM is asserted on, the screenshot linked from this case's log.
chromium_chats(Config) ->
    Peer = reactor_test_os:start("node", [fixture("ws_client.mjs"), ws_url(Config), "chat", "node",
                                          "chromium", "hi chromium, node here"]),
    {_, Peer1} = reactor_test_os:expect(Peer, "^chat welcome node", 10000),
    Dir = filename:join(?config(priv_dir, Config), "chromium"),
    ok = filelib:ensure_path(Dir),
    Url = http_url(Config, "/?name=chromium&say=hello%20from%20chromium"),
    {Status, Out} = reactor_test_os:run("node", [fixture("browser.mjs"), Url, "node: hi chromium, node here", Dir], 90000),
    log("browser.mjs: ~p~n~s", [Status, lists:join("\n", Out)]),
    Shot = keep_screenshot(Config, filename:join(Dir, "screenshot.png")),
    {ok, Dom} = file:read_file(filename:join(Dir, "dom.html")),
    log("~ts", [Dom]),
    ?assertEqual(0, Status),
    ?assertMatch({match, _}, re:run(Dom, "<p id=\"status\">joined as chromium from 127\\.0\\.0\\.1:[0-9]+; here: node, chromium</p>")),
    ?assertMatch({match, _}, re:run(Dom, "<li class=\"message\">chromium: hello from chromium</li>"
                                         "<li class=\"message\">node: hi chromium, node here</li>")),
    {ok, <<137, "PNG", _/binary>>} = file:read_file(Shot),
    {_, Peer2} = reactor_test_os:expect(Peer1, "^chat message chromium: hello from chromium$", 5000),
    {closed, _} = reactor_test_os:close(Peer2).

%%% Helpers

%% The examples' npm packages, installed as their lock files say where they
%% are missing or stale (.ci/install-deps does it for `make test'; here for a
%% suite run alone).
example_deps() ->
    Out = os:cmd("bash " ++ filename:join(reactor_test_lib:root(), ".ci/install-example-deps") ++ " 2>&1; echo rc=$?"),
    log(".ci/install-example-deps:~n~s", [Out]),
    {match, _} = re:run(Out, "rc=0\\n$").

ws_url(Config) -> "ws://127.0.0.1:" ++ integer_to_list(?config(port, Config)).
http_url(Config, Path) -> "http://127.0.0.1:" ++ integer_to_list(?config(port, Config)) ++ Path.

curl(Config, Path) ->
    os:cmd("curl -sS --max-time 10 '" ++ http_url(Config, Path) ++ "' 2>&1").

%% ws_client.mjs with Args, to its end: {ExitStatus, Lines}.
ws_client(Config, Args) ->
    {Status, Lines} = reactor_test_os:run("node", [fixture("ws_client.mjs"), ws_url(Config) | Args], 60000),
    log("ws_client.mjs ~p: ~p~n~ts", [Args, Status, lists:join("\n", Lines)]),
    {Status, Lines}.

local_port(Lines) ->
    [P] = [binary_to_integer(P) || <<"open local_port=", P/binary>> <- Lines],
    P.

%% The [reactor, connection, stop] event of the connection from LocalPort.
stop_of(LocalPort) ->
    receive
        {telemetry, [reactor, connection, stop], M, Meta = #{peer := {_, LocalPort}}} ->
            log("stop of :~p: ~p ~p", [LocalPort, M, Meta]),
            {M, Meta}
    after 10000 -> error({no_stop_event, LocalPort})
    end.

%% /stats shows the close of the connection from LocalPort as Close (a JSON
%% fragment): the server's ws 'close' comes as its socket closes.
server_saw(Config, LocalPort, Close) ->
    Want = "\\{\"path\":\"/[a-z]+\",\"port\":" ++ integer_to_list(LocalPort) ++ "," ++ Close,
    Deadline = erlang:monotonic_time(millisecond) + 5000,
    server_saw(Config, Want, Deadline, curl(Config, "/stats")).

server_saw(Config, Want, Deadline, Stats) ->
    case re:run(Stats, Want) of
        {match, _} -> ok;
        nomatch ->
            erlang:monotonic_time(millisecond) < Deadline orelse ct:fail({not_in_stats, Want, Stats}),
            timer:sleep(100),
            server_saw(Config, Want, Deadline, curl(Config, "/stats"))
    end.

%% A chat member, "bystander", that answers "still here" to "prober".
bystander(Config) ->
    B = reactor_test_os:start("node", [fixture("ws_client.mjs"), ws_url(Config), "chat", "bystander",
                                       "prober", "still here"]),
    {_, B1} = reactor_test_os:expect(B, "^chat welcome bystander", 10000),
    B1.

%% The bystander, connected before the fault, still answers a new member.
still_answers(Config, Bystander) ->
    {0, Lines} = ws_client(Config, ["chat", "prober", "bystander", "-", "are you there?"]),
    ?assert(lists:member(<<"chat message bystander: still here">>, Lines)),
    {closed, _} = reactor_test_os:close(Bystander).

%% The screenshot beside this case's log file, shown in it; its path.
keep_screenshot(Config, Png) ->
    Log = ?config(tc_logfile, Config),
    Name = filename:basename(Log, ".html") ++ ".screenshot.png",
    Kept = filename:join(filename:dirname(Log), Name),
    {ok, _} = file:copy(Png, Kept),
    ct:log("screenshot: <a href=\"~s\"><img src=\"~s\" width=\"400\" alt=\"the chat page in Chromium\"></a>",
           [Name, Name]),
    Kept.

%% ct:log, its text shown as text (HTML's special characters escaped).
log(Format, Args) -> ct:log(default, 50, Format, Args, [esc_chars]).

connections(Ctx) -> maps:get(connections, reactor_context:info(Ctx)).

%% The BEAM's fds (once they hold still) and Node's.
fds(Ctx) ->
    {reactor_test_lib:settled_fd_count(), reactor_test_lib:node_fd_count(reactor_test_lib:os_pid(Ctx))}.
