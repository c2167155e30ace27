%% One view of a cluster: three peer nodes (OTP's peer module) each run a
%% context in the same pg group; cluster_info/0 sees them all and
%% reactor:reload(Group) reloads them all, reporting per node.
-module(reactor_cluster_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [versioned/2]).

all() -> [cluster_info_sees_every_node, reload_group_everywhere, failed_reload_reported_per_node,
          a_node_that_leaves].

suite() -> [{timetrap, {minutes, 3}}].

init_per_suite(Config) ->
    Dist = reactor_test_peers:start_distribution(reactor_ct),
    Dir = ?config(priv_dir, Config),
    File = versioned(Dir, 1),
    Peers = [start_peer(N, File) || N <- [1, 2, 3]],
    ok = reactor_test_lib:wait_until(
           fun() -> length(pg:get_members(reactor_cluster:scope(), web)) =:= 3 end, 10000),
    [{peers, Peers}, {file, File}, {dist, Dist} | Config].

end_per_suite(Config) ->
    reactor_test_peers:stop(?config(peers, Config), ?config(dist, Config)).

start_peer(N, File) ->
    P = #{node := Node} = reactor_test_peers:start(list_to_atom("reactor_peer" ++ integer_to_list(N)), []),
    {ok, Ctx} = erpc:call(Node, reactor_context, start, [clustered, #{protocol => File, group => web}]),
    {ok, _} = erpc:call(Node, reactor, start_listener, [web, #{ip => {127, 0, 0, 1}, port => 0, context => Ctx}]),
    Port = erpc:call(Node, reactor, listener_port, [web]),
    P#{ctx => Ctx, port => Port}.

%% The version a fresh connection to each peer gets.
versions(Peers) ->
    [begin
         S = reactor_test_lib:connect(Port),
         ok = gen_tcp:send(S, <<"ping">>),
         {ok, <<"v", V, ":ping">>} = reactor_test_lib:recv_exact(S, 7, 5000),
         gen_tcp:close(S),
         V - $0
     end || #{port := Port} <- Peers].

cluster_info_sees_every_node(Config) ->
    Peers = ?config(peers, Config),
    Info = reactor:cluster_info(),
    ct:log("~p", [Info]),
    [begin
         #{Node := #{node := Node, contexts := Cs, listeners := Ls}} = Info,
         ?assertMatch([#{pid := Ctx, group := web, info := #{os_pid := _}}], [C || C = #{id := clustered} <- Cs]),
         ?assertMatch([#{name := web}], Ls)
     end || #{node := Node, ctx := Ctx} <- Peers],
    ?assert(is_map_key(node(), Info)).

reload_group_everywhere(Config) ->
    Peers = ?config(peers, Config),
    ?assertEqual([1, 1, 1], versions(Peers)),
    _ = versioned(filename:dirname(?config(file, Config)), 2),
    Report = reactor:reload(web),
    ct:log("~p", [Report]),
    ?assertEqual(lists:sort([N || #{node := N} <- Peers]), lists:sort(maps:keys(Report))),
    [?assertEqual([{Ctx, {ok, #{adopted => 0}}}], maps:get(Node, Report)) || #{node := Node, ctx := Ctx} <- Peers],
    ?assertEqual([2, 2, 2], versions(Peers)).

failed_reload_reported_per_node(Config) ->
    Peers = ?config(peers, Config),
    Bad = filename:join(filename:dirname(?config(file, Config)), "bad.ts"),
    ok = file:write_file(Bad, <<"export default class extends {\n">>),
    Report = reactor:reload(web, #{protocol => Bad}),
    [?assertMatch([{_, {error, {protocol_compile, [#{line := 2} | _]}}}], maps:get(Node, Report))
     || #{node := Node} <- Peers],
    ?assertEqual([2, 2, 2], versions(Peers)).

a_node_that_leaves(Config) ->
    [#{peer := Gone, node := GoneNode} | Rest] = ?config(peers, Config),
    ok = peer:stop(Gone),
    ok = reactor_test_lib:wait_until(
           fun() -> length(pg:get_members(reactor_cluster:scope(), web)) =:= 2 end, 10000),
    ?assertNot(is_map_key(GoneNode, reactor:cluster_info())),
    Report = reactor:reload(web),
    ?assertEqual(lists:sort([N || #{node := N} <- Rest]), lists:sort(maps:keys(Report))).
