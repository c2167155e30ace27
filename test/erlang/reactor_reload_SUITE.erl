%% Reload in place: new code for new connections while live ones finish on
%% the old (or are adopted), under traffic, with errors that leave the old
%% code serving and no fd left behind.
-module(reactor_reload_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [start_ctx/2, connect/1, recv_exact/3, versioned/2, versioned/3]).

all() -> [reload_under_traffic, failed_reload_keeps_old_code, adopt_moves_live_connections,
          reload_switches_protocol_and_setup_code, reload_of_a_stopped_context].

suite() -> [{timetrap, {minutes, 3}}].

ask(S) ->
    ok = gen_tcp:send(S, <<"ping">>),
    case recv_exact(S, 7, 5000) of
        {ok, <<"v", V, ":ping">>} -> {ok, V - $0};
        Other -> {error, Other}
    end.

%% Lock-step clients on live connections, and new connections one after
%% another, while the protocol is reloaded: no request fails, live
%% connections stay on v1, connections made after the reload get v2.
reload_under_traffic(Config) ->
    Dir = ?config(priv_dir, Config),
    Fds = reactor_test_lib:settled_fd_count(),
    Ctx = start_ctx(reload_traffic, #{protocol => versioned(Dir, 1)}),
    {Name, Port} = reactor_test_lib:listen(Ctx),
    {Live, Fresh} = reactor_test_traffic:start(Port, fun ask/1, 10, 4),
    timer:sleep(300),
    _ = versioned(Dir, 2),
    ?assertEqual({ok, #{adopted => 0}}, reactor_context:reload(Ctx)),
    timer:sleep(300),
    Results = reactor_test_traffic:stop(Live ++ Fresh),
    ct:log("~p", [Results]),
    [?assertEqual([], Failed) || #{failed := Failed} <- Results],
    %% every live connection answered v1 throughout, reloaded or not
    [?assertEqual([1], lists:usort(Vs)) || #{answers := Vs} <- lists:sublist(Results, 10)],
    %% new connections saw v1 before the reload and v2 after it
    FreshVs = lists:append([Vs || #{answers := Vs} <- lists:nthtail(10, Results)]),
    ?assertEqual([1, 2], lists:usort(FreshVs)),
    ?assertEqual(2, lists:last(FreshVs)),
    C = connect(Port),
    ?assertEqual({ok, 2}, ask(C)),
    gen_tcp:close(C),
    ok = reactor:stop_listener(Name),
    reactor_context:stop(Ctx),
    ?assertEqual(Fds, reactor_test_lib:settled_fd_count()).

%% A reload that does not compile, does not load or yields no protocol is an
%% error like start_link's, and the code before it keeps serving.
failed_reload_keeps_old_code(Config) ->
    Dir = ?config(priv_dir, Config),
    Ctx = start_ctx(reload_fail, #{protocol => versioned(Dir, 1)}),
    {Name, Port} = reactor_test_lib:listen(Ctx),
    Live = connect(Port),
    ?assertEqual({ok, 1}, ask(Live)),
    Bad = filename:join(Dir, "bad.ts"),
    ok = file:write_file(Bad, <<"export default class extends {\n">>),
    ?assertMatch({error, {protocol_compile, [#{line := 2, text := <<"Expected identifier", _/binary>>} | _]}},
                 reactor_context:reload(Ctx, #{protocol => Bad})),
    ok = file:write_file(Bad, <<"throw new Error('broken at load');\n">>),
    {error, {protocol_load, Why}} = reactor_context:reload(Ctx, #{protocol => Bad}),
    ?assertMatch({match, _}, re:run(Why, "broken at load")),
    ok = file:write_file(Bad, <<"export const nothing = 1;\n">>),
    ?assertMatch({error, {no_protocol, _}}, reactor_context:reload(Ctx, #{protocol => Bad})),
    ?assertMatch({error, {protocol_not_found, _}},
                 reactor_context:reload(Ctx, #{protocol => filename:join(Dir, "missing.ts")})),
    ?assertEqual({ok, 1}, ask(Live)),
    New = connect(Port),
    ?assertEqual({ok, 1}, ask(New)),
    %% the failed attempts did not stick: a plain reload reloads v1's file
    _ = versioned(Dir, 3),
    ?assertEqual({ok, #{adopted => 0}}, reactor_context:reload(Ctx)),
    New2 = connect(Port),
    ?assertEqual({ok, 3}, ask(New2)),
    [gen_tcp:close(S) || S <- [Live, New, New2]],
    ok = reactor:stop_listener(Name),
    reactor_context:stop(Ctx).

%% A new class with `static adopt(old)' takes live connections over.
adopt_moves_live_connections(Config) ->
    Dir = ?config(priv_dir, Config),
    Ctx = start_ctx(reload_adopt, #{protocol => versioned(Dir, 1)}),
    {Name, Port} = reactor_test_lib:listen(Ctx),
    Conns = [connect(Port) || _ <- lists:seq(1, 5)],
    [?assertEqual({ok, 1}, ask(S)) || S <- Conns],
    _ = versioned(Dir, 2, "  static adopt(old: Protocol) { return new V2(); }\n"),
    ?assertEqual({ok, #{adopted => 5}}, reactor_context:reload(Ctx)),
    [?assertEqual({ok, 2}, ask(S)) || S <- Conns],
    [gen_tcp:close(S) || S <- Conns],
    ok = reactor:stop_listener(Name),
    reactor_context:stop(Ctx).

%% reload/2 switches to another module; setup_code can set the factory.
reload_switches_protocol_and_setup_code(Config) ->
    Dir = ?config(priv_dir, Config),
    Ctx = start_ctx(reload_switch, #{protocol => versioned(Dir, 1)}),
    {Name, Port} = reactor_test_lib:listen(Ctx),
    Other = filename:join(Dir, "other.ts"),
    ok = file:write_file(Other, <<"import { Action, Protocol } from \"erlang-reactor\";\n"
                                  "export class Up extends Protocol {\n"
                                  "  dataReceived(d: Buffer): Action { this.writeBuffer.push(d.toString().toUpperCase() + \"!!!\"); return \"write_pending\"; }\n"
                                  "}\n">>),
    {ok, _} = reactor_context:reload(Ctx, #{protocol => Other,
                                             setup_code => <<"import { setProtocolFactory } from \"erlang-reactor\";\n"
                                                             "import { Up } from \"./other\";\n"
                                                             "setProtocolFactory(Up);\n">>}),
    S = connect(Port),
    ok = gen_tcp:send(S, <<"ping">>),
    ?assertEqual({ok, <<"PING!!!">>}, recv_exact(S, 7, 5000)),
    gen_tcp:close(S),
    ok = reactor:stop_listener(Name),
    reactor_context:stop(Ctx).

reload_of_a_stopped_context(Config) ->
    Ctx = start_ctx(reload_stopped, #{protocol => versioned(?config(priv_dir, Config), 1)}),
    reactor_context:stop(Ctx),
    ?assertEqual({error, not_running}, reactor_context:reload(Ctx)).
