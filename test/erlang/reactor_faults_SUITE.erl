%% Bad input and failures: each stays one failure, with a clear error, and
%% leaves no fd behind.
-module(reactor_faults_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, example/1, start_ctx/2, listen/1, listen/2, connect/1,
                           roundtrip/2, faulty/2, done/2]).

all() ->
    [protocol_throws, invalid_action, non_string_action, rejected_promise,
     full_context, fd_limit_in_node, bad_fd, regular_file_refused, bad_client_info,
     compile_error, no_protocol, protocol_not_found, node_not_found, dead_context,
     node_killed, supervisor_restarts_default_context, graceful_stop, application_stop].

%% Only the connection whose handler threw ends; the stack is logged.
protocol_throws(_Config) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = faulty(<<"f">>, #{}),
    Good = connect(Port),
    Bad = connect(Port),
    ok = gen_tcp:send(Bad, <<"boom">>),
    ?assertEqual({error, closed}, gen_tcp:recv(Bad, 0, 5000)),
    {error, Text, _} = reactor_test_lib:logged("dataReceived failed", 5000),
    ?assertMatch({match, _}, re:run(Text, "faulty protocol exploded on purpose")),
    ?assertMatch({match, _}, re:run(Text, "at .*faulty\\.ts:\\d+")), % source-mapped stack
    reactor_test_lib:logged("lost f faulty protocol exploded on purpose", 5000),
    ?assertEqual({ok, <<"still here">>}, roundtrip(Good, <<"still here">>)),
    ?assertMatch(#{connections := 1, errors := 1}, reactor_context:info(Ctx)),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

%% Send Cmd on one connection: that one ends, with LogRegex in the log; a
%% connection beside it goes on.
only_that_connection_ends(Cmd, LogRegex) ->
    H = reactor_test_lib:capture_logs(),
    {Ctx, L, Port} = faulty(<<"f">>, #{}),
    Good = connect(Port),
    Bad = connect(Port),
    ok = gen_tcp:send(Bad, Cmd),
    ?assertEqual({error, closed}, gen_tcp:recv(Bad, 0, 5000)),
    {error, _, _} = reactor_test_lib:logged(LogRegex, 5000),
    ?assertEqual({ok, <<"still fine">>}, roundtrip(Good, <<"still fine">>)),
    reactor_test_lib:stop_capture(H),
    done(Ctx, L).

invalid_action(_Config) ->
    only_that_connection_ends(<<"bad">>, "dataReceived returned \"explode\"; expected \"continue\", "
                                         "\"write_pending\", \"read_pending\" or \"close\"").

non_string_action(_Config) ->
    only_that_connection_ends(<<"num">>, "dataReceived returned 42").

rejected_promise(_Config) ->
    only_that_connection_ends(<<"reject">>, "dataReceived failed: Error: rejected on purpose").

accepted_pair(LS, LPort) ->
    C = connect(LPort),
    {ok, A} = gen_tcp:accept(LS, 5000),
    {ok, Fd} = inet:getfd(A),
    {ok, Dup} = reactor:dup_fd(Fd),
    {C, A, Dup}.

%% A full context refuses with an error and closes the fd: nothing is left open.
full_context(_Config) ->
    Ctx = start_ctx(full, #{protocol => example("echo.ts"), max_connections => 1}),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, LPort} = inet:port(LS),
    {C1, A1, Dup1} = accepted_pair(LS, LPort),
    {ok, _} = reactor_context:handoff(Ctx, Dup1, #{}),
    gen_tcp:close(A1),
    {C2, A2, Dup2} = accepted_pair(LS, LPort),
    ?assertEqual({error, max_connections}, reactor_context:handoff(Ctx, Dup2, #{})),
    ?assertEqual({error, ebadf}, reactor_nif:fd_info(Dup2)),
    gen_tcp:close(A2), % the last copy: the peer must see the end now
    ?assertEqual({error, closed}, gen_tcp:recv(C2, 0, 5000)),
    ?assertEqual({ok, <<"first">>}, roundtrip(C1, <<"first">>)),
    ?assertMatch(#{refused := 1, connections := 1}, reactor_context:info(Ctx)),
    gen_tcp:close(LS),
    reactor_context:stop(Ctx).

%% Node at its fd limit: the kernel cuts SCM_RIGHTS short (MSG_CTRUNC); Node
%% refuses the fds that did not arrive and those handoffs fail cleanly.
fd_limit_in_node(_Config) ->
    Node = os:find_executable("node"),
    Ctx = start_ctx(limited, #{protocol => example("echo.ts"), node => "prlimit",
                               node_args => ["--nofile=64:64", Node]}),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}, {backlog, 256}]),
    {ok, LPort} = inet:port(LS),
    Triples = [accepted_pair(LS, LPort) || _ <- lists:seq(1, 100)],
    [gen_tcp:close(A) || {_, A, _} <- Triples],
    Results = reactor_context:handoff_many(Ctx, [{Dup, #{}} || {_, _, Dup} <- Triples]),
    Ok = [C || {{C, _, _}, {ok, _}} <- lists:zip(Triples, Results)],
    Refused = [{C, Dup, R} || {{C, _, Dup}, {error, R}} <- lists:zip(Triples, Results)],
    ct:pal("with 64 fds in Node: ~p handed off, ~p refused (~p)",
           [length(Ok), length(Refused), lists:usort([R || {_, _, R} <- Refused])]),
    ?assert(length(Ok) > 0),
    ?assert(length(Refused) > 0),
    ?assertEqual([fd_truncated], lists:usort([R || {_, _, R} <- Refused])),
    [?assertEqual({error, ebadf}, reactor_nif:fd_info(Dup)) || {_, Dup, _} <- Refused],
    [?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)) || {C, _, _} <- Refused],
    [?assertEqual({ok, <<"in">>}, roundtrip(C, <<"in">>)) || C <- Ok],
    [gen_tcp:close(C) || {C, _, _} <- Triples],
    gen_tcp:close(LS),
    reactor_context:stop(Ctx).

bad_fd(_Config) ->
    Ctx = start_ctx(badfd, #{protocol => example("echo.ts")}),
    ?assertEqual({error, ebadf}, reactor_context:handoff(Ctx, 19999, #{})),
    ?assertEqual({error, badfd}, reactor_context:handoff(Ctx, -1, #{})),
    ?assertEqual({error, badfd}, reactor_context:handoff(Ctx, not_an_fd, #{})),
    ?assertMatch(#{connections := 0}, reactor_context:info(Ctx)),
    reactor_context:stop(Ctx).

regular_file_refused(Config) ->
    Ctx = start_ctx(regfile, #{protocol => example("echo.ts")}),
    Path = filename:join(?config(priv_dir, Config), "plain.txt"),
    ok = file:write_file(Path, <<"not a socket">>),
    {H, Fd} = reactor_test_lib:file_fd(Path),
    ?assertEqual({error, not_pollable}, reactor_context:handoff(Ctx, Fd, #{})),
    ?assertEqual({error, ebadf}, reactor_nif:fd_info(Fd)), % closed: ownership passed
    catch file:close(H),
    reactor_context:stop(Ctx).

bad_client_info(_Config) ->
    Ctx = start_ctx(badinfo, #{protocol => example("echo.ts")}),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, LPort} = inet:port(LS),
    {_C, A, Dup} = accepted_pair(LS, LPort),
    ?assertEqual({error, {bad_client_info, key}},
                 reactor_context:handoff(Ctx, Dup, #{key => self()})),
    ?assertEqual({error, ebadf}, reactor_nif:fd_info(Dup)),
    gen_tcp:close(A),
    gen_tcp:close(LS),
    reactor_context:stop(Ctx).

%% start_link says where the syntax error is; no Node, channel or directory is left.
compile_error(_Config) ->
    Dirs = reactor_test_lib:channel_dirs(),
    Nodes = count_port_processes(),
    process_flag(trap_exit, true),
    {error, {protocol_compile, [Msg | _]}} =
        reactor_context:start_link(broken, #{protocol => fixture("broken.ts")}),
    ct:log("~p", [Msg]),
    File = list_to_binary(fixture("broken.ts")),
    ?assertMatch(#{file := File, line := 4, column := C, text := T}
                   when is_integer(C) andalso is_binary(T), Msg),
    ?assertEqual(Dirs, reactor_test_lib:channel_dirs()),
    ok = reactor_test_lib:wait_until(fun() -> count_port_processes() =:= Nodes end, 5000).

count_port_processes() ->
    length(string:lexemes(os:cmd("pgrep -f reactor_port.js"), "\n")).

no_protocol(_Config) ->
    ?assertMatch({error, {no_protocol, <<_/binary>>}},
                 reactor_context:start(nothing, #{protocol => fixture("nothing.ts")})),
    ?assertEqual({error, no_protocol_given}, reactor_context:start(none, #{})).

protocol_not_found(_Config) ->
    ?assertEqual({error, {protocol_not_found, <<"/no/such/protocol.ts">>}},
                 reactor_context:start(x, #{protocol => "/no/such/protocol.ts"})),
    ?assertMatch({error, {protocol_not_found, <<_/binary>>}},
                 reactor_context:start(x, #{protocol => {priv, reactor, "nope.ts"}})).

node_not_found(_Config) ->
    ?assertEqual({error, {node_not_found, "/no/such/node"}},
                 reactor_context:start(x, #{protocol => example("echo.ts"),
                                            node => "/no/such/node"})),
    %% an executable that is not Node: it exits, and start says so
    Dirs = reactor_test_lib:channel_dirs(),
    ?assertMatch({error, _}, reactor_context:start(x, #{protocol => example("echo.ts"),
                                                        node => "/bin/false"})),
    ?assertEqual(Dirs, reactor_test_lib:channel_dirs()).

dead_context(_Config) ->
    Ctx = start_ctx(dead, #{protocol => example("echo.ts")}),
    ok = reactor_context:stop(Ctx),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, LPort} = inet:port(LS),
    {C, A, Dup} = accepted_pair(LS, LPort),
    ?assertEqual({error, no_context}, reactor_context:handoff(Ctx, Dup, #{})),
    ?assertEqual({error, ebadf}, reactor_nif:fd_info(Dup)),
    gen_tcp:close(A),
    ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)),
    gen_tcp:close(LS).

%% SIGKILL to Node under traffic: the context ends with a clear reason and
%% closes every fd it held; clients see their connections end.
node_killed(_Config) ->
    Beam0 = reactor_test_lib:settled_fd_count(),
    Dirs = reactor_test_lib:channel_dirs(),
    Ctx = start_ctx(victim, #{protocol => example("echo.ts")}),
    Ref = monitor(process, Ctx),
    {L, Port} = listen(Ctx),
    Clients = [connect(Port) || _ <- lists:seq(1, 20)],
    [{ok, _} = roundtrip(C, <<"before">>) || C <- Clients],
    OsPid = reactor_test_lib:os_pid(Ctx),
    %% a caller handing fds off all through the crash
    Hammer = spawn_monitor(fun() -> exit({results, hammer(Ctx, hd(Clients), [])}) end),
    timer:sleep(50),
    os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    receive {'DOWN', Ref, process, Ctx, Reason} -> ?assertMatch({node_exit, 137, _}, Reason)
    after 5000 -> error(context_did_not_exit)
    end,
    {_, HRef} = Hammer,
    Results = receive {'DOWN', HRef, process, _, {results, Rs}} -> Rs after 10000 -> error(hammer) end,
    Errors = lists:usort([R || {error, R} <- Results]),
    ct:pal("handoffs through the crash: ~p ok, then errors ~p",
           [length([ok || {ok, _} <- Results]), Errors]),
    ?assert(length([ok || {ok, _} <- Results]) > 0),
    ?assertMatch([_ | _], Errors),
    [?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)) || C <- Clients],
    [gen_tcp:close(C) || C <- Clients],
    reactor:stop_listener(L),
    ?assertEqual(Beam0, reactor_test_lib:fd_count()),
    ?assertEqual(Dirs, reactor_test_lib:channel_dirs()).

%% Handoffs of dups of one client's socket until the context is gone.
hammer(Ctx, Client, Acc) ->
    {ok, Fd} = inet:getfd(Client),
    {ok, Dup} = reactor:dup_fd(Fd),
    case reactor_context:handoff(Ctx, Dup, #{}) of
        {error, no_context} = E -> lists:reverse([E | Acc]);
        R -> hammer(Ctx, Client, [R | Acc])
    end.

supervisor_restarts_default_context(_Config) ->
    ok = application:stop(reactor),
    application:set_env(reactor, default_context, #{protocol => example("echo.ts")}),
    try
        {ok, _} = application:ensure_all_started(reactor),
        Old = whereis(reactor_default_context),
        OsPid = reactor_test_lib:os_pid(Old),
        {L, Port} = listen(reactor_default_context),
        C = connect(Port),
        {ok, _} = roundtrip(C, <<"one">>),
        os:cmd("kill -9 " ++ integer_to_list(OsPid)),
        ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)),
        ok = reactor_test_lib:wait_until(
               fun() -> is_pid(whereis(reactor_default_context))
                            andalso whereis(reactor_default_context) =/= Old end, 10000),
        C2 = connect(Port),
        ?assertEqual({ok, <<"two">>}, roundtrip(C2, <<"two">>)),
        ?assertNotEqual(OsPid, reactor_test_lib:os_pid(reactor_default_context)),
        reactor:stop_listener(L)
    after
        application:stop(reactor),
        application:unset_env(reactor, default_context),
        {ok, _} = application:ensure_all_started(reactor)
    end.

%% stop/1 under traffic: every protocol gets connectionLost, every client sees
%% the end, Node exits 0, no fd or directory is left.
graceful_stop(_Config) ->
    H = reactor_test_lib:capture_logs(),
    Beam0 = reactor_test_lib:settled_fd_count(),
    Dirs = reactor_test_lib:channel_dirs(),
    {Ctx, L, Port} = faulty(<<"f">>, #{}),
    OsPid = reactor_test_lib:os_pid(Ctx),
    Clients = [connect(Port) || _ <- lists:seq(1, 10)],
    [{ok, _} = roundtrip(C, <<"hi">>) || C <- Clients],
    ok = reactor_context:stop(Ctx),
    Lost = [reactor_test_lib:logged("lost f the reactor context is stopping", 5000)
            || _ <- Clients],
    ?assertEqual(10, length(Lost)),
    [?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)) || C <- Clients],
    ?assertNot(reactor_test_lib:os_alive(OsPid)),
    [gen_tcp:close(C) || C <- Clients],
    reactor:stop_listener(L),
    ?assertEqual(Beam0, reactor_test_lib:fd_count()),
    ?assertEqual(Dirs, reactor_test_lib:channel_dirs()),
    reactor_test_lib:stop_capture(H).

application_stop(_Config) ->
    ok = application:stop(reactor),
    application:set_env(reactor, default_context, #{protocol => fixture("faulty.ts")}),
    H = reactor_test_lib:capture_logs(),
    try
        {ok, _} = application:ensure_all_started(reactor),
        OsPid = reactor_test_lib:os_pid(reactor_default_context),
        {_L, Port} = listen(reactor_default_context, #{info => #{tag => <<"app">>}}),
        Clients = [connect(Port) || _ <- lists:seq(1, 5)],
        [{ok, _} = roundtrip(C, <<"x">>) || C <- Clients],
        ok = application:stop(reactor),
        [reactor_test_lib:logged("lost app the reactor context is stopping", 5000) || _ <- Clients],
        ?assertEqual([], reactor_test_lib:channel_dirs()), % nothing left in /tmp
        [?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)) || C <- Clients],
        ?assertNot(reactor_test_lib:os_alive(OsPid))
    after
        reactor_test_lib:stop_capture(H),
        application:unset_env(reactor, default_context),
        {ok, _} = application:ensure_all_started(reactor)
    end.
