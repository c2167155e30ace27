%% Erlang talks to connections: reactor:send/2 to a connection's ref, groups
%% (join/leave in TypeScript, reactor:publish/2 and beam.publish, members/1)
%% within a context, across two, and across two peer nodes; the bounded queue
%% of a connection that does not keep up; writes from outside a callback. A
%% real BEAM, real Node processes, gen_tcp clients; each case leaves the fds
%% of the BEAM and of its Node as it found them.
-module(reactor_groups_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, start_ctx/2, listen/1, wait_until/2, say/2, line/1, silent/1]).

all() ->
    [send_to_a_live_connection, send_to_an_ended_connection, send_while_the_handler_is_pending,
     a_slow_connection_is_cut_past_the_bound, writes_from_a_timer, writes_from_another_connection,
     group_within_one_context, group_across_two_contexts, an_ended_connection_leaves_at_once,
     a_replaced_node_keeps_its_connections_reachable, bad_arguments, an_awaited_join_is_seen_at_once,
     {group, cluster}].

groups() -> [{cluster, [], [group_across_two_nodes]}].

suite() -> [{timetrap, {minutes, 3}}].

-define(ROOM, <<"room">>).

init_per_testcase(group_across_two_nodes, Config) ->
    Config;
init_per_testcase(Case, Config) ->
    Fds = reactor_test_lib:settled_fd_count(),
    Opts = case Case of
               a_slow_connection_is_cut_past_the_bound -> #{max_queued_messages => 3};
               _ -> #{}
           end,
    {Ctx, L, Port} = serve(Case, Opts),
    [{ctx, Ctx}, {listener, L}, {port, Port}, {fds, Fds},
     {node_fds, reactor_test_lib:node_fd_count(reactor_test_lib:os_pid(Ctx))} | Config].

end_per_testcase(group_across_two_nodes, _Config) ->
    ok;
end_per_testcase(_Case, Config) ->
    %% what the case opened is closed: Node's fds back to what it had
    OsPid = reactor_test_lib:os_pid(?config(ctx, Config)),
    Want = ?config(node_fds, Config),
    ok = wait_until(fun() -> reactor_test_lib:node_fd_count(OsPid) =:= Want end, 5000),
    [done(C, L) || {C, L} <- [{?config(ctx, Config), ?config(listener, Config)} | extra(Config)]],
    ?assertEqual(?config(fds, Config), reactor_test_lib:settled_fd_count()).

extra(Config) -> proplists:get_value(extra, Config, []).

serve(Id, Opts) ->
    Ctx = start_ctx(Id, Opts#{protocol => fixture("groups.ts")}),
    {L, Port} = listen(Ctx),
    {Ctx, L, Port}.

done(Ctx, L) ->
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

%%% Clients: line by line

client(Port) -> client({127, 0, 0, 1}, Port).

client(Ip, Port) ->
    {ok, S} = gen_tcp:connect(Ip, Port, [binary, {active, false}, {nodelay, true}, {packet, line}], 5000),
    S.


joined(S, G) ->
    say(S, ["join ", G]),
    ?assertEqual(<<"joined ", G/binary>>, line(S)).

%% The ref connections/1 lists for the connection of client S.
ref_of(Ctx, S) ->
    {ok, {_, LPort}} = inet:sockname(S),
    ok = wait_until(fun() -> [R || #{peer := {_, P}, ref := R} <- reactor_context:connections(Ctx), P =:= LPort] =/= [] end,
                    5000),
    [Ref] = [R || #{peer := {_, P}, ref := R} <- reactor_context:connections(Ctx), P =:= LPort],
    Ref.

info(Ctx, Key) -> maps:get(Key, reactor_context:info(Ctx)).

state_of(Ctx) -> [St || #{state := St} <- reactor_context:connections(Ctx)].

%%% reactor:send/2

send_to_a_live_connection(Config) ->
    Ctx = ?config(ctx, Config),
    S = client(?config(port, Config)),
    Ref = ref_of(Ctx, S),
    ok = reactor:send(Ref, <<"hello">>),
    ?assertEqual(<<"msg hello">>, line(S)),
    ok = reactor:send(Ref, {ok, 42}),
    ?assertEqual(<<"term {ok, 42}">>, line(S)), % a Tuple prints as Erlang writes it
    ?assertEqual(<<"msg ", 0, 255/utf8>>, begin ok = reactor:send(Ref, <<"", 0, 255/utf8>>), line(S) end),
    #{messages_delivered := 3, sent_to_ended := 0} = reactor_context:info(Ctx),
    gen_tcp:close(S).

send_to_an_ended_connection(Config) ->
    Ctx = ?config(ctx, Config),
    S = client(?config(port, Config)),
    Ref = ref_of(Ctx, S),
    gen_tcp:close(S),
    ok = wait_until(fun() -> reactor_context:connections(Ctx) =:= [] end, 5000),
    %% as erlang:send/2: ok, and the context counts what it dropped
    ok = reactor:send(Ref, <<"late">>),
    ok = reactor:send(Ref, <<"later">>),
    ?assertMatch(#{sent_to_ended := 2, messages_delivered := 0}, reactor_context:info(Ctx)).

send_while_the_handler_is_pending(Config) ->
    Ctx = ?config(ctx, Config),
    S = client(?config(port, Config)),
    Ref = ref_of(Ctx, S),
    say(S, "hold 600"),
    ok = wait_until(fun() -> state_of(Ctx) =:= [paused] end, 5000),
    ok = reactor:send(Ref, <<"first">>),
    ok = reactor:send(Ref, <<"second">>),
    ?assertEqual(2, info(Ctx, messages_queued)),
    %% the handler settles, then the messages go to the protocol, in order
    ?assertEqual([<<"held">>, <<"msg first">>, <<"msg second">>], [line(S), line(S), line(S)]),
    ?assertMatch(#{messages_queued := 0, messages_delivered := 2}, reactor_context:info(Ctx)),
    gen_tcp:close(S).

%% max_queued_messages => 3: a fourth while the handler is pending cuts the
%% connection (EMESSAGEOVERFLOW); the others go on.
a_slow_connection_is_cut_past_the_bound(Config) ->
    Ctx = ?config(ctx, Config),
    Log = reactor_test_lib:capture_logs(),
    Slow = client(?config(port, Config)),
    Ref = ref_of(Ctx, Slow),
    Other = client(?config(port, Config)),
    Other1 = ref_of(Ctx, Other),
    say(Slow, "hold 10000"),
    ok = wait_until(fun() -> lists:member(paused, state_of(Ctx)) end, 5000),
    [ok = reactor:send(Ref, integer_to_binary(I)) || I <- [1, 2, 3]],
    ?assertEqual(3, info(Ctx, messages_queued)),
    ok = reactor:send(Ref, <<"4">>),
    ?assertEqual({error, closed}, gen_tcp:recv(Slow, 0, 5000)),
    reactor_test_lib:logged("lost EMESSAGEOVERFLOW", 5000),
    reactor_test_lib:stop_capture(Log),
    ?assertMatch(#{messages_queued := 0, sent_to_ended := 4, messages_delivered := 0}, reactor_context:info(Ctx)),
    ok = reactor:send(Other1, <<"still here">>),
    ?assertEqual(<<"msg still here">>, line(Other)),
    gen_tcp:close(Slow),
    gen_tcp:close(Other).

%%% write() from outside a callback

writes_from_a_timer(Config) ->
    Port = ?config(port, Config),
    S = client(Port),
    say(S, "later tick"),
    ?assertEqual(<<"tick">>, line(S)),
    %% 8 MB the kernel cannot take at once: the rest waits in writeBuffer, and
    %% WRITE, armed from the timer, sends it as the client reads
    Big = client(Port),
    ok = inet:setopts(Big, [{packet, raw}]),
    say(Big, "big 8000000"),
    timer:sleep(300),
    ?assert(info(?config(ctx, Config), buffered) > 0),
    ?assertEqual({ok, 8000000}, reactor_test_lib:recv_count(Big, 8000000)),
    ?assertEqual(0, info(?config(ctx, Config), buffered)),
    gen_tcp:close(S),
    gen_tcp:close(Big).

writes_from_another_connection(Config) ->
    Port = ?config(port, Config),
    A = client(Port),
    B = client(Port),
    say(A, "name a"),
    ?assertEqual(<<"named a">>, line(A)),
    say(B, "name b"),
    ?assertEqual(<<"named b">>, line(B)),
    say(A, "to b from a"),
    ?assertEqual(<<"from a">>, line(B)),
    say(B, "to a and back"),
    ?assertEqual(<<"and back">>, line(A)),
    silent(A),
    gen_tcp:close(A),
    gen_tcp:close(B).

%%% Groups

group_within_one_context(Config) ->
    Ctx = ?config(ctx, Config),
    [C1, C2, C3, Out] = Cs = [client(?config(port, Config)) || _ <- [1, 2, 3, 4]],
    [joined(C, ?ROOM) || C <- [C1, C2, C3]],
    ok = wait_until(fun() -> reactor:members(?ROOM) =:= #{node() => 3} end, 5000),
    ok = reactor:publish(?ROOM, <<"hi">>),
    [?assertEqual(<<"msg hi">>, line(C)) || C <- [C1, C2, C3]],
    silent(Out),
    say(C1, "leave room"),
    ?assertEqual(<<"left room">>, line(C1)),
    ok = wait_until(fun() -> reactor:members(?ROOM) =:= #{node() => 2} end, 5000),
    %% one frame to Node for both members (and one for info/1's own query)
    F0 = info(Ctx, frames_to_node),
    ok = reactor:publish(?ROOM, <<"again">>),
    [?assertEqual(<<"msg again">>, line(C)) || C <- [C2, C3]],
    ?assertEqual(F0 + 2, info(Ctx, frames_to_node)),
    silent(C1),
    ?assertEqual(#{}, reactor:members(<<"nobody">>)),
    [gen_tcp:close(C) || C <- Cs].

%% `await this.join(G)' resolves once the context is in the pg group: a
%% client told "joined" then sees this node count it, and gets a publish made
%% at once, every time (a fresh group each, its context's first member).
an_awaited_join_is_seen_at_once(Config) ->
    C = client(?config(port, Config)),
    [begin
         G = <<"fresh", (integer_to_binary(I))/binary>>,
         say(C, ["ajoin ", G]),
         ?assertEqual(<<"joined ", G/binary>>, line(C)),
         ?assertEqual(#{node() => 1}, reactor:members(G)),
         ok = reactor:publish(G, <<"at once">>),
         ?assertEqual(<<"msg at once">>, line(C))
     end || I <- lists:seq(1, 10)],
    gen_tcp:close(C).

group_across_two_contexts(Config) ->
    {Ctx2, L2, Port2} = serve(second, #{}),
    C1 = client(?config(port, Config)),
    C2 = client(Port2),
    joined(C1, ?ROOM),
    joined(C2, ?ROOM),
    ok = wait_until(fun() -> reactor:members(?ROOM) =:= #{node() => 2} end, 5000),
    ?assertEqual(2, length(pg:get_members(reactor_groups:scope(), ?ROOM))),
    ok = reactor:publish(?ROOM, <<"both">>),
    ?assertEqual([<<"msg both">>, <<"msg both">>], [line(C1), line(C2)]),
    %% beam.publish from TypeScript: every member, the publisher too
    say(C1, "pub room from one"),
    ?assertEqual([<<"msg from one">>, <<"msg from one">>], [line(C1), line(C2)]),
    gen_tcp:close(C1),
    gen_tcp:close(C2),
    ok = wait_until(fun() -> reactor_context:connections(Ctx2) =:= [] end, 5000),
    done(Ctx2, L2).

%% A connection that ends leaves its groups at once; the context leaves the
%% pg group with its last member.
an_ended_connection_leaves_at_once(Config) ->
    Ctx = ?config(ctx, Config),
    C1 = client(?config(port, Config)),
    C2 = client(?config(port, Config)),
    joined(C1, ?ROOM),
    joined(C1, <<"other">>),
    joined(C2, ?ROOM),
    ok = wait_until(fun() -> reactor:members(?ROOM) =:= #{node() => 2} end, 5000),
    T0 = erlang:monotonic_time(millisecond),
    gen_tcp:close(C2),
    ok = wait_until(fun() -> reactor:members(?ROOM) =:= #{node() => 1} end, 1000),
    ct:log("left after ~b ms", [erlang:monotonic_time(millisecond) - T0]),
    ok = reactor:publish(?ROOM, <<"one left">>),
    ?assertEqual(<<"msg one left">>, line(C1)),
    gen_tcp:close(C1),
    ok = wait_until(fun() -> pg:get_members(reactor_groups:scope(), ?ROOM) =:= [] end, 1000),
    ?assertEqual([], pg:get_members(reactor_groups:scope(), <<"other">>)),
    ?assertEqual(#{}, reactor:members(?ROOM)),
    %% a publish nobody is in: nothing goes to Node
    F0 = info(Ctx, frames_to_node),
    ok = reactor:publish(?ROOM, <<"nobody">>),
    ?assertEqual(F0 + 1, info(Ctx, frames_to_node)).

%% replace/2: the old Node's connections drain in a process of their own;
%% their refs still reach them through the context, and their groups moved
%% to the drain (it joined the pg group before the context left it).
a_replaced_node_keeps_its_connections_reachable(Config) ->
    Ctx = ?config(ctx, Config),
    Old = client(?config(port, Config)),
    Ref = ref_of(Ctx, Old),
    joined(Old, ?ROOM),
    ok = wait_until(fun() -> reactor:members(?ROOM) =:= #{node() => 1} end, 5000),
    ok = reactor_context:replace(Ctx),
    [Drain] = pg:get_members(reactor_groups:scope(), ?ROOM),
    ?assertNotEqual(Ctx, Drain),
    ?assertEqual(#{node() => 1}, reactor:members(?ROOM)),
    New = client(?config(port, Config)),
    joined(New, ?ROOM),
    ok = wait_until(fun() -> reactor:members(?ROOM) =:= #{node() => 2} end, 5000),
    ok = reactor:publish(?ROOM, <<"both Nodes">>),
    ?assertEqual([<<"msg both Nodes">>, <<"msg both Nodes">>], [line(Old), line(New)]),
    ok = reactor:send(Ref, <<"to the drained one">>),
    ?assertEqual(<<"msg to the drained one">>, line(Old)),
    silent(New),
    MRef = monitor(process, Drain),
    gen_tcp:close(Old),
    receive {'DOWN', MRef, process, Drain, _} -> ok after 5000 -> error(drain_did_not_end) end,
    ?assertEqual(#{node() => 1}, reactor:members(?ROOM)),
    gen_tcp:close(New),
    ok = wait_until(fun() -> reactor:members(?ROOM) =:= #{} end, 5000).

bad_arguments(Config) ->
    S = client(?config(port, Config)),
    Ref = ref_of(?config(ctx, Config), S),
    ?assertError({badarg, {not_a_conn_ref, self}}, reactor:send(self, x)),
    ?assertError({badarg, {unsupported, _}}, reactor:send(Ref, fun() -> ok end)),
    ?assertError({badarg, {not_a_group, <<>>}}, reactor:publish(<<>>, x)),
    ?assertError({badarg, {not_a_group, "room"}}, reactor:publish("room", x)),
    Long = binary:copy(<<"x">>, 256),
    ?assertError({badarg, {not_a_group, Long}}, reactor:members(Long)),
    ?assertError({badarg, {too_large, _}}, reactor:publish(?ROOM, binary:copy(<<0>>, 65 bsl 20))),
    %% the connection is unharmed
    ok = reactor:send(Ref, <<"fine">>),
    ?assertEqual(<<"msg fine">>, line(S)),
    gen_tcp:close(S).

%%% Across nodes

init_per_group(cluster, Config) ->
    Dist = reactor_test_peers:start_distribution(reactor_groups_ct),
    Peers = [start_peer(N) || N <- [1, 2]],
    [{peers, Peers}, {dist, Dist} | Config].

end_per_group(cluster, Config) ->
    reactor_test_peers:stop(?config(peers, Config), ?config(dist, Config)).

start_peer(N) ->
    P = #{node := Node} = reactor_test_peers:start(list_to_atom("reactor_groups_peer" ++ integer_to_list(N)), []),
    {ok, Ctx} = erpc:call(Node, reactor_context, start, [groups, #{protocol => fixture("groups.ts")}]),
    {ok, _} = erpc:call(Node, reactor, start_listener, [groups, #{ip => {127, 0, 0, 1}, port => 0, context => Ctx}]),
    Port = erpc:call(Node, reactor, listener_port, [groups]),
    P#{ctx => Ctx, port => Port}.

group_across_two_nodes(Config) ->
    [#{node := N1, port := P1, ctx := Ctx1}, #{node := N2, port := P2}] = ?config(peers, Config),
    Fds1 = node_fds(N1, Ctx1),
    C1 = client(P1),
    C2 = client(P2),
    joined(C1, ?ROOM),
    joined(C2, ?ROOM),
    Both = #{N1 => 1, N2 => 1},
    ok = wait_until(fun() -> erpc:call(N1, reactor, members, [?ROOM]) =:= Both end, 10000),
    ?assertEqual(Both, erpc:call(N2, reactor, members, [?ROOM])),
    %% from Erlang on one node, to the members on both
    ok = erpc:call(N1, reactor, publish, [?ROOM, <<"from erlang">>]),
    ?assertEqual([<<"msg from erlang">>, <<"msg from erlang">>], [line(C1), line(C2)]),
    %% from TypeScript on the other
    say(C2, "pub room from node two"),
    ?assertEqual([<<"msg from node two">>, <<"msg from node two">>], [line(C1), line(C2)]),
    %% a message to a connection on another node, by its ref
    [Ref1] = [R || #{ref := R} <- erpc:call(N1, reactor_context, connections, [Ctx1])],
    ok = erpc:call(N2, reactor, send, [Ref1, <<"by ref">>]),
    ?assertEqual(<<"msg by ref">>, line(C1)),
    %% one that ends leaves at once, everywhere
    gen_tcp:close(C2),
    ok = wait_until(fun() -> erpc:call(N1, reactor, members, [?ROOM]) =:= #{N1 => 1} end, 5000),
    gen_tcp:close(C1),
    ok = wait_until(fun() -> erpc:call(N2, reactor, members, [?ROOM]) =:= #{} end, 5000),
    ok = wait_until(fun() -> node_fds(N1, Ctx1) =:= Fds1 end, 5000).

node_fds(Node, Ctx) ->
    #{os_pid := OsPid} = erpc:call(Node, reactor_context, info, [Ctx]),
    reactor_test_lib:node_fd_count(OsPid).
