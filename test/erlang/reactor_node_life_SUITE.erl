%% The Node process's life: a start that fails says why at once, what Node
%% writes to stderr reaches the logger and the exit reason, and its death is
%% noticed whichever way it shows first, even under load, again and again.
-module(reactor_node_life_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [example/1, start_ctx/2, listen/1, connect/1, roundtrip/2, roundtrip/3]).

all() ->
    [fail_fast_not_node, fail_fast_with_stderr, stderr_is_logged, death_carries_stderr,
     port_epipe_ends_context, channel_hangup_ends_context, console_log_visible_with_peer,
     node_killed_under_load_five_times, orphan_with_a_stuck_loop_ends].

suite() -> [{timetrap, {minutes, 3}}].

timed(F) ->
    T0 = erlang:monotonic_time(millisecond),
    R = F(),
    {erlang:monotonic_time(millisecond) - T0, R}.

%% An executable that exits at once: start_link says so within a second, not
%% after the start timeout.
fail_fast_not_node(_Config) ->
    Dirs = reactor_test_lib:channel_dirs(),
    {Ms, R} = timed(fun() -> reactor_context:start(ff1, #{protocol => example("echo.ts"),
                                                          node => "/bin/false"}) end),
    ct:pal("/bin/false: ~p in ~p ms", [R, Ms]),
    ?assertMatch({error, {node_exit, 1, _}}, R),
    ?assert(Ms < 2000),
    ?assertEqual(Dirs, reactor_test_lib:channel_dirs()).

%% Node fails before any of our code runs: its own words are in the error.
fail_fast_with_stderr(_Config) ->
    Dirs = reactor_test_lib:channel_dirs(),
    {Ms, R} = timed(fun() -> reactor_context:start(ff2, #{protocol => example("echo.ts"),
                                                          node_args => ["--require", "/no/such/module.js"]})
                    end),
    ct:pal("missing module: ~p in ~p ms", [R, Ms]),
    {error, {node_exit, Status, Tail}} = R,
    ?assert(is_integer(Status) andalso Status =/= 0),
    ?assertMatch({match, _}, re:run(Tail, "Cannot find module '/no/such/module.js'")),
    ?assert(Ms < 2000),
    {error, {node_exit, 9, Bad}} = reactor_context:start(ff3, #{protocol => example("echo.ts"),
                                                               node_args => ["--no-such-flag"]}),
    ?assertMatch({match, _}, re:run(Bad, "bad option: --no-such-flag")),
    ?assertEqual(Dirs, reactor_test_lib:channel_dirs()).

%% What Node writes to stderr itself (not through console) is logged as a warning.
stderr_is_logged(_Config) ->
    H = reactor_test_lib:capture_logs(),
    Ctx = start_ctx(stderr_log, #{protocol => example("echo.ts"),
                                  setup_code => "process.stderr.write('straight to stderr\\n');"}),
    {warning, Text, Meta} = reactor_test_lib:logged("node stderr: straight to stderr", 5000),
    ?assertMatch({match, _}, re:run(Text, "reactor context stderr_log")),
    ?assertMatch(#{reactor_context := stderr_log}, Meta),
    {L, Port} = listen(Ctx),
    C = connect(Port),
    ?assertEqual({ok, <<"still serving">>}, roundtrip(C, <<"still serving">>)),
    gen_tcp:close(C),
    reactor:stop_listener(L),
    ok = reactor_context:stop(Ctx),
    reactor_test_lib:stop_capture(H).

%% A Node that dies at run time: its last stderr lines are in the exit reason.
death_carries_stderr(_Config) ->
    Ctx = start_ctx(dying, #{protocol => example("echo.ts"),
                             setup_code => "setTimeout(() => { process.stderr.write('last words\\n');"
                                           " process.exit(7); }, 300);"}),
    Ref = monitor(process, Ctx),
    receive {'DOWN', Ref, process, Ctx, Reason} ->
            ?assertEqual({node_exit, 7, <<"last words\n">>}, Reason)
    after 5000 -> error(context_did_not_exit)
    end.

%% A write to the port that hits EPIPE closes the port with {'EXIT', Port,
%% epipe} and no exit status ever follows: the context must end on it. A
%% trapped exit signal is exactly this message, so it is sent as one.
port_epipe_ends_context(_Config) ->
    Beam0 = reactor_test_lib:settled_fd_count(),
    Ctx = start_ctx(epipe, #{protocol => example("echo.ts")}),
    OsPid = reactor_test_lib:os_pid(Ctx),
    {links, Links} = process_info(Ctx, links),
    [Port] = [P || P <- Links, is_port(P)],
    Ref = monitor(process, Ctx),
    {Ms, Reason} = timed(fun() ->
                                 Ctx ! {'EXIT', Port, epipe},
                                 receive {'DOWN', Ref, process, Ctx, R} -> R
                                 after 5000 -> error(context_did_not_exit)
                                 end
                         end),
    ?assertMatch({node_exit, epipe, _}, Reason),
    ?assert(Ms < 1000),
    %% the port closed with its owner: Node sees its stdin end and leaves
    ok = reactor_test_lib:wait_until(fun() -> not reactor_test_lib:os_alive(OsPid) end, 5000),
    ok = reactor_test_lib:wait_until(fun() -> reactor_test_lib:fd_count() =:= Beam0 end, 2000).

%% Node closes the fd channel (and stays up): the hang-up ends the context, and
%% stopping it then still ends Node.
channel_hangup_ends_context(_Config) ->
    Setup = "import { readdirSync, readlinkSync, closeSync } from 'fs';\n"
            "setTimeout(() => {\n"
            "  for (const f of readdirSync('/proc/self/fd')) {\n"
            "    try { if (readlinkSync('/proc/self/fd/' + f).startsWith('socket:')) closeSync(Number(f)); }\n"
            "    catch { /* the directory's own fd */ }\n"
            "  }\n"
            "}, 300);\n",
    Ctx = start_ctx(hangup, #{protocol => example("echo.ts"), setup_code => Setup}),
    OsPid = reactor_test_lib:os_pid(Ctx),
    Ref = monitor(process, Ctx),
    receive {'DOWN', Ref, process, Ctx, Reason} ->
            ?assertMatch({node_exit, channel_closed, _}, Reason)
    after 5000 -> error(context_did_not_exit)
    end,
    ok = reactor_test_lib:wait_until(fun() -> not reactor_test_lib:os_alive(OsPid) end, 5000).

%% console.log is printed under OTP's default level (notice), and a
%% connection's log events carry its peer.
console_log_visible_with_peer(_Config) ->
    #{level := Primary} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, notice), % OTP's default
    Id = reactor_log_probe,
    ok = logger:add_handler(Id, reactor_test_lib, #{config => #{pid => self(), primary => notice}}),
    try
        Ctx = start_ctx(logs, #{protocol => example("echo.ts"),
                                setup_code => "import { Protocol, setProtocolFactory } from 'erlang-reactor';\n"
                                              "setProtocolFactory(() => new (class extends Protocol {\n"
                                              "  dataReceived(d: Buffer) { console.log('got', d.toString());"
                                              " this.writeBuffer.push(d); return 'write_pending' as const; }\n"
                                              "})());\n"}),
        {L, Port} = listen(Ctx),
        C = connect(Port),
        {ok, {_, CPort}} = inet:sockname(C),
        {ok, <<"ping">>} = roundtrip(C, <<"ping">>),
        {notice, Text, Meta} = reactor_test_lib:logged("got ping", 5000),
        ct:pal("~ts ~p", [Text, Meta]),
        ?assertMatch(#{peer := {<<"127.0.0.1">>, CPort}, reactor_context := logs}, Meta),
        gen_tcp:close(C),
        reactor:stop_listener(L),
        reactor_context:stop(Ctx)
    after
        logger:remove_handler(Id),
        logger:set_primary_config(level, Primary)
    end.

%% kill -9 of Node five times under load: a context in the test's own
%% supervisor, a listener given its pid. Each time it serves again within 2 s,
%% and the BEAM's fds end where they began.
node_killed_under_load_five_times(_Config) ->
    Children = [reactor:child_spec(loaded, #{protocol => example("echo.ts")}),
                reactor:listener_child_spec(loaded_l, #{ip => {127, 0, 0, 1}, port => 0,
                                                        context => reactor_context:ref(loaded)})],
    Sup = reactor_test_sup:start(Children),
    Port = reactor:listener_port(loaded_l),
    ok = serving(Port, 2000),
    Beam0 = reactor_test_lib:settled_fd_count(),
    Table0 = reactor_test_lib:fd_table(),
    Load = [spawn_link(fun() -> load(Port, 0) end) || _ <- lists:seq(1, 20)],
    timer:sleep(300),
    Times = [kill_and_wait(Port) || _ <- lists:seq(1, 5)],
    ct:pal("serving again after kill -9 of Node, ms: ~p", [Times]),
    [?assert(T < 2000) || T <- Times],
    Served = lists:sum([stop_load(P) || P <- Load]),
    ct:pal("round trips served under load: ~p", [Served]),
    ?assert(Served > 100),
    Flat = (catch reactor_test_lib:wait_until(fun() -> reactor_test_lib:fd_count() =:= Beam0 end, 3000)),
    Flat =:= ok orelse ct:pal("fds before: ~p~nafter: ~p", [Table0, reactor_test_lib:fd_table()]),
    ok = Flat,
    exit(Sup, shutdown),
    ok = reactor_test_lib:wait_until(fun() -> not is_process_alive(Sup) end, 10000).

kill_and_wait(Port) ->
    Ctx = reactor_context:whereis(loaded),
    OsPid = maps:get(os_pid, reactor_context:info(Ctx)),
    os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    T0 = erlang:monotonic_time(millisecond),
    ok = serving(Port, 5000),
    T = erlang:monotonic_time(millisecond) - T0,
    ?assertNotEqual(Ctx, reactor_context:whereis(loaded)),
    timer:sleep(300),
    T.

%% A fresh connection gets its echo.
serving(_Port, Left) when Left =< 0 ->
    error(not_serving);
serving(Port, Left) ->
    T0 = erlang:monotonic_time(millisecond),
    Ok = case gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 500) of
             {ok, S} ->
                 R = (catch roundtrip(S, <<"probe">>, 500)),
                 gen_tcp:close(S),
                 R =:= {ok, <<"probe">>};
             _ -> false
         end,
    case Ok of
        true -> ok;
        false ->
            timer:sleep(20),
            serving(Port, Left - (erlang:monotonic_time(millisecond) - T0))
    end.

%% A client that keeps a connection busy and reconnects when it ends.
load(Port, N) ->
    receive {stop, From} -> From ! {served, self(), N}
    after 0 ->
        case gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 1000) of
            {ok, S} -> load(Port, S, N);
            _ -> timer:sleep(20), load(Port, N)
        end
    end.

load(Port, S, N) ->
    receive {stop, From} -> gen_tcp:close(S), From ! {served, self(), N}
    after 0 ->
        case catch roundtrip(S, <<"0123456789abcdef">>, 1000) of
            {ok, _} -> load(Port, S, N + 1);
            _ -> gen_tcp:close(S), load(Port, N)
        end
    end.

stop_load(P) ->
    P ! {stop, self()},
    receive {served, P, N} -> N after 5000 -> error(load_stuck) end.

%% A BEAM that goes away while its Node's event loop is stuck in JavaScript
%% (nothing reads stdin's end) leaves no orphan: Node's native watch of stdin
%% ends it 5 s later (ts/main.ts ORPHAN_GRACE_MS), exit status 70.
orphan_with_a_stuck_loop_ends(Config) ->
    PidFile = filename:join(?config(priv_dir, Config), "node.pid"),
    Ebin = [["-pa ", filename:dirname(code:which(M)), " "] || M <- [reactor, reactor_test_lib]],
    Script = io_lib:format(
               "{ok, _} = application:ensure_all_started(reactor), "
               "{ok, C} = reactor_context:start(orphan, #{protocol => \"~ts\"}), "
               "ok = file:write_file(\"~ts\", integer_to_list(maps:get(os_pid, reactor_context:info(C)))), "
               "{error, timeout} = reactor_context:eval(C, <<\"for (;;) {}\">>, 100), "
               "erlang:halt(0).", [example("echo.ts"), PidFile]),
    Cmd = lists:flatten(["erl -noshell ", Ebin, " -eval '", Script, "'"]),
    ct:log("~ts~n~ts", [Cmd, os:cmd(Cmd)]),
    {ok, Pid} = file:read_file(PidFile),
    Proc = "/proc/" ++ binary_to_list(Pid),
    ?assert(filelib:is_dir(Proc)), % the BEAM is gone, its Node spins on
    {Gone, ok} = timed(fun() -> reactor_test_lib:wait_until(fun() -> not filelib:is_dir(Proc) end, 15000) end),
    ct:pal("Node ended ~b ms after its BEAM", [Gone]),
    ?assert(Gone > 2000).
