%% Supervision the OTP way: contexts and listeners as children of the user's
%% own supervisors, listeners that find their context again after a restart,
%% plain errors at start, bounded acceptor restarts, and nothing left in the
%% temp dir by a BEAM killed with SIGKILL.
-module(reactor_supervision_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [example/1, start_ctx/2, connect/1, roundtrip/2]).

all() ->
    [listener_tracks_restarted_context_pid, listener_in_own_tree, start_listener_errors,
     acceptor_restarts_are_bounded, dup_fd_errors, beam_killed_leaves_no_directory].

suite() -> [{timetrap, {minutes, 3}}].

echo(Port, Bin) ->
    C = connect(Port),
    R = roundtrip(C, Bin),
    gen_tcp:close(C),
    R.

%% The README's way: start_listener with the context's pid. The pid stands for
%% the context's id, so the context its supervisor restarts is found again.
listener_tracks_restarted_context_pid(_Config) ->
    Sup = reactor_test_sup:start([reactor:child_spec(tracked, #{protocol => example("echo.ts")})]),
    Old = reactor_context:whereis(tracked),
    {ok, _} = reactor:start_listener(tracked_l, #{ip => {127, 0, 0, 1}, port => 0, context => Old}),
    Port = reactor:listener_port(tracked_l),
    ?assertEqual({ok, <<"before">>}, echo(Port, <<"before">>)),
    %% the echo may come before the context has Node's ack (the bytes are read
    %% at the handoff): killed before it, the handoff would count as failed
    ok = reactor_test_lib:wait_until(fun() -> maps:get(handoffs, reactor_context:info(Old)) =:= 1 end, 5000),
    exit(Old, kill),
    ok = reactor_test_lib:wait_until(
           fun() -> is_pid(reactor_context:whereis(tracked)) andalso reactor_context:whereis(tracked) =/= Old end,
           5000),
    ?assertEqual({ok, <<"after">>}, echo(Port, <<"after">>)),
    ?assertMatch(#{handoff_errors := 0}, reactor:listener_info(tracked_l)),
    ok = reactor:stop_listener(tracked_l),
    reactor_test_sup:stop(Sup).

%% Both in the user's tree, the listener after its context; the listener is
%% found by name for listener_port/1 and listener_info/1.
listener_in_own_tree(_Config) ->
    Sup = reactor_test_sup:start(
            [reactor:child_spec(own, #{protocol => example("echo.ts"), name => own_ctx}),
             reactor:listener_child_spec(own_l, #{ip => {127, 0, 0, 1}, port => 0,
                                                  context => own_ctx, acceptors => 2})]),
    Port = reactor:listener_port(own_l),
    ?assertEqual({ok, <<"mine">>}, echo(Port, <<"mine">>)),
    ?assertMatch(#{acceptors := 2, accepted := 1}, reactor:listener_info(own_l)),
    %% not ours to stop: it belongs to the user's supervisor
    ?assertEqual({error, not_found}, reactor:stop_listener(own_l)),
    ok = reactor:suspend_listener(own_l),
    ?assertMatch({error, econnrefused}, gen_tcp:connect({127, 0, 0, 1}, Port, [], 1000)),
    ok = reactor:resume_listener(own_l),
    ?assertEqual({ok, <<"again">>}, echo(Port, <<"again">>)),
    reactor_test_sup:stop(Sup),
    ?assertEqual(undefined, reactor_listener:whereis(own_l)),
    ?assertMatch({error, econnrefused}, gen_tcp:connect({127, 0, 0, 1}, Port, [], 1000)).

start_listener_errors(_Config) ->
    Ctx = start_ctx(errs, #{protocol => example("echo.ts")}),
    {ok, _} = reactor:start_listener(errs_l, #{ip => {127, 0, 0, 1}, port => 0, context => Ctx}),
    Port = reactor:listener_port(errs_l),
    Children = supervisor:which_children(reactor_listeners_sup),
    ?assertEqual({error, eaddrinuse},
                 reactor:start_listener(errs_2, #{ip => {127, 0, 0, 1}, port => Port, context => Ctx})),
    ?assertEqual({error, {no_context, nobody}},
                 reactor:start_listener(errs_3, #{port => 0, context => nobody})),
    ?assertEqual({error, {no_context, self()}},
                 reactor:start_listener(errs_4, #{port => 0, context => self()})),
    ?assertEqual({error, {no_context, reactor_default_context}},
                 reactor:start_listener(errs_5, #{port => 0})),
    ?assertMatch({error, {already_started, _}},
                 reactor:start_listener(errs_l, #{port => 0, context => Ctx})),
    ?assertMatch({error, {already_started, _}},
                 reactor_context:start(errs, #{protocol => example("echo.ts")})),
    %% `name': an atom or OTP's {local, Atom}; anything else says so
    ?assertEqual({error, {bad_option, {name, {global, g}}}},
                 reactor_context:start(errs_n, #{protocol => example("echo.ts"), name => {global, g}})),
    {ok, Named} = reactor_context:start(errs_local, #{protocol => example("echo.ts"), name => {local, errs_local_ctx}}),
    ?assertEqual(Named, whereis(errs_local_ctx)),
    ok = reactor_context:stop(Named),
    %% a failed start leaves nothing registered or supervised
    [?assertEqual(undefined, reactor_listener:whereis(N)) || N <- [errs_2, errs_3, errs_4, errs_5]],
    ?assertEqual(Children, supervisor:which_children(reactor_listeners_sup)),
    ok = reactor:stop_listener(errs_l),
    ok = reactor_context:stop(Ctx),
    ?assertEqual({error, not_found}, reactor:stop_listener(errs_l)).

%% An acceptor that crashes is restarted alone; a crash loop exceeds the
%% acceptors' restart intensity and restarts them as a group (rest_for_one
%% under the listener's supervisor) instead of spinning; serving goes on.
acceptor_restarts_are_bounded(_Config) ->
    Ctx = start_ctx(acc, #{protocol => example("echo.ts")}),
    {ok, LSup} = reactor:start_listener(acc_l, #{ip => {127, 0, 0, 1}, port => 0, context => Ctx}),
    Port = reactor:listener_port(acc_l),
    AccSup = acceptors_sup(LSup),
    [A1 | _] = acceptors(AccSup),
    exit(A1, kill),
    ok = reactor_test_lib:wait_until(fun() -> length(acceptors(AccSup)) =:= 4 end, 2000),
    ?assertNot(lists:member(A1, acceptors(AccSup))),
    ?assertEqual(AccSup, acceptors_sup(LSup)),
    %% a loop: more crashes in 5 s than 1 + log2(4) = 3
    [begin
         [exit(P, kill) || P <- acceptors(acceptors_sup(LSup))],
         timer:sleep(20)
     end || _ <- lists:seq(1, 3)],
    ok = reactor_test_lib:wait_until(fun() -> acceptors_sup(LSup) =/= AccSup end, 2000),
    ok = reactor_test_lib:wait_until(fun() -> length(acceptors(acceptors_sup(LSup))) =:= 4 end, 2000),
    ?assertEqual({ok, <<"still">>}, echo(Port, <<"still">>)),
    ok = reactor:stop_listener(acc_l),
    ok = reactor_context:stop(Ctx).

acceptors_sup(LSup) ->
    case lists:keyfind(reactor_acceptors_sup, 1, supervisor:which_children(LSup)) of
        {_, Pid, _, _} when is_pid(Pid) -> Pid;
        _ -> undefined
    end.

acceptors(undefined) -> [];
acceptors(Sup) -> [P || {_, P, _, _} <- supervisor:which_children(Sup), is_pid(P)].

dup_fd_errors(_Config) ->
    ?assertEqual({error, ebadf}, reactor:dup_fd(-1)),
    ?assertEqual({error, badarg}, reactor:dup_fd(not_an_fd)),
    ?assertEqual({error, ebadf}, reactor:dup_fd(1 bsl 40)),
    {ok, Fd} = reactor:dup_fd(0),
    ok = reactor_nif:close_fd(Fd).

%% A BEAM killed with SIGKILL: its running context's channel directory is
%% already gone (it vanishes once Node is in), and one left by a BEAM killed
%% during a start is removed when the application starts next.
beam_killed_leaves_no_directory(_Config) ->
    %% short: a Unix socket's path has room for 107 bytes
    Tmp = "/tmp/reactor-test-" ++ integer_to_list(erlang:unique_integer([positive])),
    ok = file:make_dir(Tmp),
    Stale = filename:join(Tmp, "reactor-999999999-0123456789abcdef"),
    ok = file:make_dir(Stale),
    ok = file:write_file(filename:join(Stale, "stderr"), <<>>),
    NotOurs = filename:join(Tmp, "reactor-cache"), % a name we never make: left alone
    ok = file:make_dir(NotOurs),
    Erl = os:find_executable("erl"),
    Ebin = filename:dirname(code:which(reactor)),
    Eval = "{ok, _} = application:ensure_all_started(reactor), "
           "{ok, _} = reactor_context:start(k, #{protocol => \"" ++ example("echo.ts") ++ "\"}), "
           "io:format(\"READY~n\").",
    Port = open_port({spawn_executable, Erl},
                     [{args, ["-noshell", "-pa", Ebin, "-eval", Eval]}, {env, [{"TMPDIR", Tmp}]},
                      {cd, Tmp}, {line, 4096}, exit_status, stderr_to_stdout]),
    {os_pid, BeamPid} = erlang:port_info(Port, os_pid),
    ok = await_line(Port, "READY", 20000),
    NodePids = string:lexemes(os:cmd("pgrep -P " ++ integer_to_list(BeamPid) ++ " node"), "\n"),
    ?assertEqual([filename:basename(NotOurs)], element(2, file:list_dir(Tmp))),
    os:cmd("kill -9 " ++ integer_to_list(BeamPid)),
    receive {Port, {exit_status, _}} -> ok after 5000 -> error(beam_not_killed) end,
    %% Node sees its stdin end and leaves
    ok = reactor_test_lib:wait_until(
           fun() -> not lists:any(fun(P) -> reactor_test_lib:os_alive(list_to_integer(P)) end, NodePids) end,
           5000),
    ?assertEqual({ok, [filename:basename(NotOurs)]}, file:list_dir(Tmp)),
    ok = file:del_dir(NotOurs),
    ok = file:del_dir(Tmp).

await_line(Port, Want, Timeout) ->
    receive
        {Port, {data, {_, Line}}} ->
            ct:log("child BEAM: ~s", [Line]),
            case lists:prefix(Want, Line) of
                true -> ok;
                false -> await_line(Port, Want, Timeout)
            end;
        {Port, {exit_status, S}} -> error({child_beam_exited, S})
    after Timeout -> error({no_line, Want})
    end.
