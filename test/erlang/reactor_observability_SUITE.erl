%% What an operator sees: telemetry events with their documented fields
%% (docs/telemetry.md; a stand-in telemetry module receives them), the
%% connections of a context and every context and listener on the node.
-module(reactor_observability_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [start_ctx/2, connect/1, roundtrip/2, example/1, telemetry_event/1]).

all() -> [connection_and_context_events, exception_event, node_death_event, handoff_error_event,
          no_telemetry_no_reports, connections_lists_live_ones, info_lists_contexts_and_listeners].

suite() -> [{timetrap, {minutes, 2}}].

init_per_testcase(_, Config) ->
    telemetry:attach(),
    Config.

end_per_testcase(_, _Config) ->
    telemetry:detach().

connection_and_context_events(_Config) ->
    Ctx = start_ctx(tele, #{protocol => example("echo.ts")}),
    {Start, StartMeta} = telemetry_event([reactor, context, start]),
    ?assertMatch(#{system_time := _, monotonic_time := _}, Start),
    ?assertMatch(#{context := tele, pid := Ctx, os_pid := P} when is_integer(P), StartMeta),
    {L, Port} = reactor_test_lib:listen(Ctx),
    S = connect(Port),
    {_, ConnMeta} = telemetry_event([reactor, connection, start]),
    ?assertMatch(#{context := tele, connection := Id, peer := {<<"127.0.0.1">>, _}, type := tcp,
                   transport := #{proxy := false, tls := false}} when is_integer(Id), ConnMeta),
    {ok, _} = roundtrip(S, <<"hello">>),
    {ok, _} = roundtrip(S, <<"world!">>),
    timer:sleep(20),
    gen_tcp:close(S),
    {Stop, StopMeta} = telemetry_event([reactor, connection, stop]),
    ?assertMatch(#{bytes_in := 11, bytes_out := 11, duration := D} when D > 0, Stop),
    ?assert(erlang:convert_time_unit(maps:get(duration, Stop), native, millisecond) >= 20),
    ?assertMatch(#{reason := normal, connection := _, peer := {<<"127.0.0.1">>, _}}, StopMeta),
    ?assertEqual(maps:get(connection, ConnMeta), maps:get(connection, StopMeta)),
    %% the connection's address, as reactor:send/2 takes it
    ?assertEqual(reactor:conn_ref(Ctx, maps:get(connection, ConnMeta)), maps:get(ref, ConnMeta)),
    ?assertEqual(maps:get(ref, ConnMeta), maps:get(ref, StopMeta)),
    ok = reactor:stop_listener(L),
    reactor_context:stop(Ctx),
    {CtxStop, CtxStopMeta} = telemetry_event([reactor, context, stop]),
    ?assertMatch(#{duration := D2} when D2 > 0, CtxStop),
    ?assertMatch(#{context := tele, reason := normal}, CtxStopMeta).

exception_event(Config) ->
    File = filename:join(?config(priv_dir, Config), "thrower.ts"),
    ok = file:write_file(File, <<"import { Action, Protocol } from \"erlang-reactor\";\n"
                                 "export default class T extends Protocol {\n"
                                 "  dataReceived(d: Buffer): Action { throw new Error(\"bad input: \" + d); }\n"
                                 "}\n">>),
    Ctx = start_ctx(tele_exc, #{protocol => File}),
    {L, Port} = reactor_test_lib:listen(Ctx),
    S = connect(Port),
    ok = gen_tcp:send(S, <<"boom">>),
    ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 5000)),
    {_, Meta} = telemetry_event([reactor, protocol, exception]),
    ?assertMatch(#{context := tele_exc, callback := <<"dataReceived">>, kind := error}, Meta),
    ?assertMatch({match, _}, re:run(maps:get(stacktrace, Meta), "Error: bad input: boom\n\\s+at .*thrower.ts:3")),
    {_, StopMeta} = telemetry_event([reactor, connection, stop]),
    ?assertMatch({match, _}, re:run(maps:get(reason, StopMeta), "bad input: boom")),
    ok = reactor:stop_listener(L),
    reactor_context:stop(Ctx).

node_death_event(_Config) ->
    Ctx = start_ctx(tele_kill, #{protocol => example("echo.ts")}),
    Ref = monitor(process, Ctx),
    os:cmd("kill -9 " ++ integer_to_list(reactor_test_lib:os_pid(Ctx))),
    {_, Meta} = telemetry_event([reactor, context, exit]),
    ?assertMatch(#{context := tele_kill, reason := {node_exit, _, _}}, Meta),
    receive {'DOWN', Ref, process, Ctx, _} -> ok after 5000 -> error(context_lives) end,
    {_, StopMeta} = telemetry_event([reactor, context, stop]),
    ?assertMatch(#{context := tele_kill, reason := {node_exit, _, _}}, StopMeta).

handoff_error_event(_Config) ->
    Ctx = start_ctx(tele_gone, #{protocol => example("echo.ts")}),
    reactor_context:stop(Ctx),
    {ok, LS} = gen_tcp:listen(0, [binary, {active, false}]),
    {ok, P} = inet:port(LS),
    C = connect(P),
    {ok, A} = gen_tcp:accept(LS, 5000),
    ?assertEqual({error, no_context}, reactor:handoff_socket(Ctx, A, #{})),
    {#{count := 1}, Meta} = telemetry_event([reactor, handoff, error]),
    ?assertEqual(#{context => Ctx, reason => no_context}, Meta),
    [gen_tcp:close(X) || X <- [C, LS]].

%% Without telemetry Node is not asked to report connection ends at all.
no_telemetry_no_reports(_Config) ->
    %% as on a node without the library: not loaded, not in the code path
    Dir = filename:dirname(code:which(telemetry)),
    true = code:del_path(Dir),
    true = code:delete(telemetry),
    _ = code:purge(telemetry),
    try
        ?assertNot(reactor_telemetry:enabled()),
        Ctx = start_ctx(tele_off, #{protocol => example("echo.ts")}),
        {L, Port} = reactor_test_lib:listen(Ctx),
        %% every frame from Node the context decodes, seen by a trace
        1 = erlang:trace_pattern({reactor_wire, decode, 1}, [{'_', [], [{return_trace}]}], [local]),
        1 = erlang:trace(Ctx, true, [call]),
        S = connect(Port),
        {ok, _} = roundtrip(S, <<"x">>),
        gen_tcp:close(S),
        ok = reactor_test_lib:wait_until(fun() -> maps:get(closed, reactor_context:info(Ctx)) =:= 1 end, 5000),
        erlang:trace(Ctx, false, [call]),
        Decoded = decoded([]),
        ct:log("~p", [Decoded]),
        %% the trace saw Node's frames (wait_until's info/1 calls answered)
        ?assertMatch([_ | _], [A || {stats, _} = A <- Decoded]),
        ?assertEqual([], [M || M <- Decoded, element(1, M) =:= closed orelse element(1, M) =:= exception]),
        ok = reactor:stop_listener(L),
        reactor_context:stop(Ctx)
    after
        true = code:add_patha(Dir),
        {module, telemetry} = code:ensure_loaded(telemetry)
    end,
    receive {telemetry, _, _, _} = E -> error({unexpected, E}) after 100 -> ok end.

decoded(Acc) ->
    receive
        {trace, _, return_from, {reactor_wire, decode, 1}, {ok, M}} -> decoded([M | Acc]);
        {trace, _, _, _} -> decoded(Acc);
        {trace, _, _, _, _} -> decoded(Acc)
    after 200 ->
        lists:reverse(Acc)
    end.

connections_lists_live_ones(_Config) ->
    Ctx = start_ctx(conns, #{protocol => example("echo.ts")}),
    {L, Port} = reactor_test_lib:listen(Ctx),
    ?assertEqual([], reactor_context:connections(Ctx)),
    A = connect(Port),
    B = connect(Port),
    {ok, _} = roundtrip(A, <<"0123456789">>),
    {ok, _} = roundtrip(B, <<"x">>),
    timer:sleep(50),
    Conns = reactor_context:connections(Ctx),
    ct:log("~p", [Conns]),
    %% which is which, by the client's port (acceptors may take them in either order)
    Of = fun(S) -> {ok, {_, P}} = inet:sockname(S), [C || C = #{peer := {_, CP}} <- Conns, CP =:= P] end,
    ?assertMatch([#{bytes_in := 10, bytes_out := 10, state := reading, type := tcp,
                    peer := {<<"127.0.0.1">>, _}, transport := #{proxy := false, tls := false}}], Of(A)),
    ?assertMatch([#{bytes_in := 1, bytes_out := 1, state := reading}], Of(B)),
    [?assertEqual(reactor:conn_ref(Ctx, Id), Ref) || #{id := Id, ref := Ref} <- Conns],
    ?assertEqual(2, length(Conns)),
    [?assert(Age >= 50) || #{age := Age} <- Conns],
    gen_tcp:close(A),
    ok = reactor_test_lib:wait_until(fun() -> length(reactor_context:connections(Ctx)) =:= 1 end, 5000),
    gen_tcp:close(B),
    ok = reactor:stop_listener(L),
    reactor_context:stop(Ctx),
    ?assertEqual({error, not_running}, reactor_context:connections(Ctx)).

info_lists_contexts_and_listeners(_Config) ->
    Ctx = start_ctx(info_ctx, #{protocol => example("echo.ts"), group => web}),
    {L, _Port} = reactor_test_lib:listen(Ctx),
    #{node := N, contexts := Cs, listeners := Ls} = reactor:info(),
    ?assertEqual(node(), N),
    ?assertMatch([#{pid := Ctx, group := web, info := #{connections := 0, os_pid := _}}],
                 [C || C = #{id := info_ctx} <- Cs]),
    ?assertMatch([#{info := #{accepted := 0}}], [X || X = #{name := Name} <- Ls, Name =:= L]),
    ?assertMatch(#{N := #{contexts := [_ | _]}}, reactor:cluster_info()),
    ok = reactor:stop_listener(L),
    reactor_context:stop(Ctx).
