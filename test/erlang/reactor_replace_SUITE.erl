%% Replace the Node process: a fresh one takes every new connection while the
%% old one drains its own, under traffic, with no request lost, no fd left
%% behind and the old Node gone at the end.
-module(reactor_replace_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [start_ctx/2, connect/1, os_pid/1, os_alive/1, telemetry_event/1]).

all() -> [replace_under_traffic, drain_timeout_closes_the_rest, replace_twice,
          failed_replace_keeps_serving, draining_connections_are_listed_and_closable].

suite() -> [{timetrap, {minutes, 3}}].

init_per_testcase(_, Config) ->
    telemetry:attach(),
    Config.

end_per_testcase(_, _Config) ->
    telemetry:detach().

%% Each Node process answers with its OS pid: "<pid>:" ++ request.
protocol(Dir) ->
    File = filename:join(Dir, "pid.ts"),
    ok = file:write_file(File, <<"import { Action, Protocol } from \"erlang-reactor\";\n"
                                 "export default class P extends Protocol {\n"
                                 "  dataReceived(d: Buffer): Action {\n"
                                 "    this.writeBuffer.push(`${process.pid}:${d}\\n`);\n"
                                 "    return \"write_pending\";\n"
                                 "  }\n"
                                 "}\n">>),
    File.

ask(S) ->
    ok = gen_tcp:send(S, <<"ping">>),
    line(S, <<>>).

line(S, Acc) ->
    case binary:split(Acc, <<"\n">>) of
        [L, <<>>] ->
            case binary:split(L, <<":">>) of
                [Pid, <<"ping">>] -> {ok, binary_to_integer(Pid)};
                _ -> {error, {bad, L}}
            end;
        [_] ->
            case gen_tcp:recv(S, 0, 5000) of
                {ok, B} -> line(S, <<Acc/binary, B/binary>>);
                {error, _} = E -> E
            end;
        _ -> {error, {too_much, Acc}}
    end.

%% Lock-step clients on live connections and new connections one after
%% another while Node is replaced: every request answered; live connections
%% stay on the old Node until they end, then it exits; new ones get the new.
replace_under_traffic(Config) ->
    Fds = reactor_test_lib:settled_fd_count(),
    Ctx = start_ctx(replaced, #{protocol => protocol(?config(priv_dir, Config))}),
    {Name, Port} = reactor_test_lib:listen(Ctx),
    Old = os_pid(Ctx),
    {Live, Fresh} = reactor_test_traffic:start(Port, fun ask/1, 10, 4),
    timer:sleep(300),
    ?assertEqual(ok, reactor_context:replace(Ctx)),
    New = os_pid(Ctx),
    ?assertNotEqual(Old, New),
    ?assertMatch(#{draining := 1}, reactor_context:info(Ctx)),
    timer:sleep(300),
    ?assert(os_alive(Old)), % its live connections are still open
    FreshResults = reactor_test_traffic:stop(Fresh),
    LiveResults = reactor_test_traffic:stop(Live),
    [?assertEqual([], Failed) || #{failed := Failed} <- FreshResults ++ LiveResults],
    [?assertEqual([Old], lists:usort(Pids)) || #{answers := Pids} <- LiveResults],
    FreshPids = lists:append([Pids || #{answers := Pids} <- FreshResults]),
    ?assertEqual(lists:sort([Old, New]), lists:usort(FreshPids)),
    %% the live clients closed: the old Node drains and exits
    ok = reactor_test_lib:wait_until(fun() -> not os_alive(Old) end, 5000),
    ok = reactor_test_lib:wait_until(fun() -> maps:get(draining, reactor_context:info(Ctx)) =:= 0 end, 5000),
    ?assert(is_process_alive(Ctx)),
    ?assertEqual(ok, reactor_context:replace(Ctx)), % and again, with nothing to drain
    ok = reactor_test_lib:wait_until(fun() -> not os_alive(New) end, 5000),
    ok = reactor:stop_listener(Name),
    reactor_context:stop(Ctx),
    ?assertEqual(Fds, reactor_test_lib:settled_fd_count()).

%% Connections still open at the drain timeout are closed with a reason
%% that says so, and the old Node exits.
drain_timeout_closes_the_rest(Config) ->
    Ctx = start_ctx(drain_to, #{protocol => protocol(?config(priv_dir, Config))}),
    {Name, Port} = reactor_test_lib:listen(Ctx),
    Old = os_pid(Ctx),
    S = connect(Port),
    {ok, Old} = ask(S),
    T0 = erlang:monotonic_time(millisecond),
    ok = reactor_context:replace(Ctx, #{drain_timeout => 500}),
    {ok, Old} = ask(S),
    ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 5000)),
    ?assert(erlang:monotonic_time(millisecond) - T0 >= 450),
    {_, #{reason := Reason}} = telemetry_event([reactor, connection, stop]),
    ?assertMatch({match, _}, re:run(Reason, "ECLOSEDBYREACTOR: closed by the reactor: replaced, and the drain timed out")),
    ok = reactor_test_lib:wait_until(fun() -> not os_alive(Old) end, 5000),
    S2 = connect(Port),
    ?assertEqual({ok, os_pid(Ctx)}, ask(S2)),
    gen_tcp:close(S2),
    ok = reactor:stop_listener(Name),
    reactor_context:stop(Ctx).

%% Two replaces in a row: two Nodes drain side by side, each with its own
%% connections; stopping the context stops them all.
replace_twice(Config) ->
    Fds = reactor_test_lib:settled_fd_count(),
    Ctx = start_ctx(twice, #{protocol => protocol(?config(priv_dir, Config))}),
    {Name, Port} = reactor_test_lib:listen(Ctx),
    P1 = os_pid(Ctx),
    A = connect(Port),
    {ok, P1} = ask(A),
    ok = reactor_context:replace(Ctx),
    P2 = os_pid(Ctx),
    B = connect(Port),
    {ok, P2} = ask(B),
    ok = reactor_context:replace(Ctx),
    P3 = os_pid(Ctx),
    C = connect(Port),
    ?assertEqual([{ok, P1}, {ok, P2}, {ok, P3}], [ask(X) || X <- [A, B, C]]),
    ?assertMatch(#{draining := 2}, reactor_context:info(Ctx)),
    ?assertEqual([true, true, true], [os_alive(P) || P <- [P1, P2, P3]]),
    ok = reactor:stop_listener(Name),
    reactor_context:stop(Ctx),
    ?assertEqual([{error, closed}, {error, closed}, {error, closed}], [gen_tcp:recv(X, 0, 5000) || X <- [A, B, C]]),
    ok = reactor_test_lib:wait_until(fun() -> not lists:any(fun reactor_test_lib:os_alive/1, [P1, P2, P3]) end, 5000),
    [gen_tcp:close(X) || X <- [A, B, C]],
    ?assertEqual(Fds, reactor_test_lib:settled_fd_count()).

%% A Node that cannot start leaves the running one in place.
failed_replace_keeps_serving(Config) ->
    Dir = ?config(priv_dir, Config),
    Ctx = start_ctx(replace_fail, #{protocol => protocol(Dir)}),
    {Name, Port} = reactor_test_lib:listen(Ctx),
    Old = os_pid(Ctx),
    S = connect(Port),
    {ok, Old} = ask(S),
    ?assertMatch({error, {node_exit, 1, _}}, reactor_context:replace(Ctx, #{node => "/bin/false"})),
    Bad = filename:join(Dir, "bad.ts"),
    ok = file:write_file(Bad, <<"export default class extends {\n">>),
    ?assertMatch({error, {protocol_compile, [_ | _]}}, reactor_context:replace(Ctx, #{protocol => Bad})),
    ?assertEqual({ok, Old}, ask(S)),
    ?assertEqual(Old, os_pid(Ctx)),
    ?assertMatch(#{draining := 0}, reactor_context:info(Ctx)),
    gen_tcp:close(S),
    ok = reactor:stop_listener(Name),
    reactor_context:stop(Ctx),
    ?assertEqual({error, not_running}, reactor_context:replace(Ctx)).

draining_connections_are_listed_and_closable(Config) ->
    Ctx = start_ctx(replace_list, #{protocol => protocol(?config(priv_dir, Config))}),
    {Name, Port} = reactor_test_lib:listen(Ctx),
    A = connect(Port),
    {ok, _} = ask(A),
    ok = reactor_context:replace(Ctx),
    B = connect(Port),
    {ok, _} = ask(B),
    Conns = reactor_context:connections(Ctx),
    ct:log("~p", [Conns]),
    [#{id := OldId}] = [C || C = #{draining := true} <- Conns],
    ?assertMatch([#{bytes_in := 4}], [C || C <- Conns, not maps:is_key(draining, C)]),
    ?assertEqual(ok, reactor_context:close(Ctx, OldId)),
    ?assertEqual({error, closed}, gen_tcp:recv(A, 0, 5000)),
    ok = reactor_test_lib:wait_until(fun() -> maps:get(draining, reactor_context:info(Ctx)) =:= 0 end, 5000),
    ?assertEqual({error, not_found}, reactor_context:close(Ctx, OldId)),
    gen_tcp:close(B),
    ok = reactor:stop_listener(Name),
    reactor_context:stop(Ctx).
