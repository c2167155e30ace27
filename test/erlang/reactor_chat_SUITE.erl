%% examples/chat.ts with examples/reactor_chat.erl on three peer nodes (OTP's
%% peer), one context and listener on each, driven by gen_tcp clients
%% connected to different nodes: a room whose members on every node get
%% every line exactly once, in each sender's order; a nick taken anywhere is
%% refused everywhere, and of two claims at once one wins; a client reset
%% mid-room (its nick free again, the counts down, the others talking on);
%% a context killed with its Node (connectionLost never runs: the table's
%% owner, monitoring the context, frees its nicks);
%% a node that leaves the cluster (its members gone from members/1, its nicks
%% free, the other nodes' clients talking on). Each case leaves every peer's
%% BEAM and Node with the fds it found.
-module(reactor_chat_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [wait_until/2, say/2, line/1, silent/1]).

%% the node that leaves goes last: the cases before it have all three
all() -> [talk_across_nodes, a_taken_nick_is_refused, a_client_killed_mid_room,
          a_dead_context_gives_its_nicks_back, a_node_leaves_the_cluster].

suite() -> [{timetrap, {minutes, 3}}].

%% lines each member says in talk_across_nodes
-define(LINES, 50).

init_per_suite(Config) ->
    Dist = reactor_test_peers:start_distribution(reactor_chat_ct),
    %% the example's Erlang half, compiled for the peers only: this node is
    %% connected to them and runs no chat (a claim counts it as holding nothing)
    Dir = ?config(priv_dir, Config),
    {ok, reactor_chat} = compile:file(reactor_test_lib:example("reactor_chat.erl"),
                                      [{outdir, Dir}, debug_info, report_errors]),
    Peers = [start_peer(N, [Dir]) || N <- [1, 2, 3]],
    Nodes = [N || #{node := N} <- Peers],
    %% a full mesh, as a cluster is: pg and global need the peers to see each other
    [true = erpc:call(A, net_kernel, connect_node, [B]) || A <- Nodes, B <- Nodes, A < B],
    [{peers, Peers}, {dist, Dist} | Config].

end_per_suite(Config) ->
    reactor_test_peers:stop(?config(peers, Config), ?config(dist, Config)).

start_peer(N, Paths) ->
    P = #{node := Node} = reactor_test_peers:start(list_to_atom("reactor_chat_peer" ++ integer_to_list(N)), Paths),
    {ok, #{context := Ctx, port := Port}} =
        erpc:call(Node, reactor_chat, serve, [chat, #{protocol => reactor_test_lib:example("chat.ts"), port => 0}]),
    P#{ctx => Ctx, port => Port}.

%% Each live peer's fds: its BEAM's and its Node's.
init_per_testcase(_Case, Config) ->
    [{fds, [{Node, fds(P)} || P = #{node := Node} <- live(Config)]} | Config].

%% Back where they were, but for one distribution connection fewer per node
%% that left.
%% A leak fails the case: end_per_testcase returns {fail, _} (a ct:fail here
%% would only be a warning).
end_per_testcase(_Case, Config) ->
    Leaks = [{fds_of, Node, {Beam0, Node0, Links0}, fds(P)}
             || P = #{node := Node} <- live(Config),
                {Beam0, Node0, Links0} <- [proplists:get_value(Node, ?config(fds, Config))],
                not back(fun() ->
                                 {Beam, NodeFds, Links} = fds(P),
                                 {Beam + Links0 - Links, NodeFds} =:= {Beam0, Node0}
                         end)],
    case Leaks of
        [] -> ok;
        _ -> {fail, Leaks}
    end.

back(Flat) ->
    try wait_until(Flat, 5000) of
        _ -> true
    catch
        error:wait_until_timeout -> false
    end.

live(Config) -> [P || P = #{node := N} <- ?config(peers, Config), lists:member(N, nodes())].

%% {the BEAM's fds, its Node's fds, how many nodes it is connected to}
fds(#{node := Node, ctx := Ctx}) ->
    Beam = list_to_integer(erpc:call(Node, os, getpid, [])),
    #{os_pid := OsPid} = erpc:call(Node, reactor_context, info, [Ctx]),
    {reactor_test_lib:node_fd_count(Beam), reactor_test_lib:node_fd_count(OsPid),
     length(erpc:call(Node, erlang, nodes, []))}.

%%% Clients

%% A client of the peer P, its greeting read.
client(#{port := Port}) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {nodelay, true}, {packet, line}], 5000),
    <<"* hello", _/binary>> = line(S),
    S.

%% A client of P with the nick Nick, in Room.
member(P, Nick, Room) ->
    S = client(P),
    nick(S, Nick),
    say(S, ["JOIN ", Room]),
    ?assertEqual(<<"* joined ", Room/binary>>, line(S)),
    S.

nick(S, Nick) ->
    say(S, ["NICK ", Nick]),
    ?assertEqual(<<"* nick ", Nick/binary>>, line(S)).


members(#{node := N}, Room) -> erpc:call(N, reactor, members, [Room]).

%% Every live node counts Want members in Room.
members_everywhere(Config, Room, Want) ->
    ok = wait_until(fun() -> lists:all(fun(P) -> members(P, Room) =:= Want end, live(Config)) end, 10000).

holder(#{node := N}, Nick) -> erpc:call(N, reactor_chat, holder, [Nick]).

%% An abrupt end: the client resets the connection (RST, no FIN).
reset(S) ->
    ok = inet:setopts(S, [{linger, {true, 0}}]),
    gen_tcp:close(S).

%%% Cases

talk_across_nodes(Config) ->
    [P1 | _] = Ps = ?config(peers, Config),
    Room = <<"lobby">>,
    Nicks = [<<"ann">>, <<"bob">>, <<"cat">>],
    Members = [member(P, Nick, Room) || {P, Nick} <- lists:zip(Ps, Nicks)],
    Outsider = member(P1, <<"dan">>, <<"kitchen">>),
    Nodes = [N || #{node := N} <- Ps],
    members_everywhere(Config, Room, maps:from_list([{N, 1} || N <- Nodes])),
    [Ann, Bob, Cat] = Members,
    say(Ann, ["WHO ", Room]),
    ?assertEqual(iolist_to_binary(["* who lobby 3", [[" ", atom_to_list(N), "=1"] || N <- lists:sort(Nodes)]]),
                 line(Ann)),
    %% the three talk at once: MSG room text, and plain text to the current room
    [begin
         say(Ann, io_lib:format("MSG lobby ann ~b", [I])),
         say(Bob, io_lib:format("bob ~b", [I])),
         say(Cat, io_lib:format("cat ~b", [I]))
     end || I <- lists:seq(1, ?LINES)],
    Want = [{Nick, [iolist_to_binary(io_lib:format("lobby <~s> ~s ~b", [Nick, Nick, I])) || I <- lists:seq(1, ?LINES)]}
            || Nick <- Nicks],
    [begin
         Got = [line(S) || _ <- lists:seq(1, 3 * ?LINES)],
         %% each sender's lines, exactly once and in the order sent
         ?assertEqual(Want, [{Nick, [L || L <- Got, binary:match(L, <<"<", Nick/binary, ">">>) =/= nomatch]}
                             || Nick <- Nicks]),
         silent(S)
     end || S <- Members],
    silent(Outsider),
    %% a line to a room it did not join is refused, and reaches nobody
    say(Outsider, "MSG lobby sneaking in"),
    ?assertEqual(<<"* error not in lobby">>, line(Outsider)),
    [silent(S) || S <- Members],
    [gen_tcp:close(S) || S <- [Outsider | Members]],
    members_everywhere(Config, Room, #{}),
    %% every nick given back (connectionLost)
    ok = wait_until(fun() -> lists:append([holder(P, N) || P <- Ps, N <- [<<"dan">> | Nicks]]) =:= [] end, 5000).

a_taken_nick_is_refused(Config) ->
    [P1, P2, P3] = ?config(peers, Config),
    Eve = client(P1),
    nick(Eve, <<"eve">>),
    Others = [client(P2), client(P3)],
    [begin
         say(S, "NICK eve"),
         ?assertEqual(<<"* error nick eve is taken">>, line(S))
     end || S <- Others],
    %% without a nick, nothing but NICK
    [Two, Three] = Others,
    say(Two, "JOIN lobby"),
    ?assertEqual(<<"* error NICK first">>, line(Two)),
    %% two claims of one nick at once, on two nodes: one wins
    [begin
         Nick = <<"zed", (integer_to_binary(I))/binary>>,
         [say(S, ["NICK ", Nick]) || S <- Others],
         Answers = lists:sort([line(S) || S <- Others]),
         ?assertEqual([<<"* error nick ", Nick/binary, " is taken">>, <<"* nick ", Nick/binary>>], Answers),
         ?assertEqual(1, length(holder(P2, Nick) ++ holder(P3, Nick)))
     end || I <- lists:seq(1, 5)],
    %% a new nick frees the old one by the time it is told
    nick(Eve, <<"eve2">>),
    ?assertEqual([], holder(P1, <<"eve">>)),
    nick(Two, <<"eve">>),
    %% QUIT frees it too (connectionLost)
    say(Eve, "QUIT"),
    ?assertEqual(<<"* bye">>, line(Eve)),
    ?assertEqual({error, closed}, gen_tcp:recv(Eve, 0, 5000)),
    ok = wait_until(fun() -> holder(P1, <<"eve2">>) =:= [] end, 5000),
    nick(Three, <<"eve2">>),
    [gen_tcp:close(S) || S <- [Eve | Others]].

a_client_killed_mid_room(Config) ->
    [P1, _, P3] = Ps = ?config(peers, Config),
    Room = <<"den">>,
    [Kim, Lee, Max] = [member(P, Nick, Room) || {P, Nick} <- lists:zip(Ps, [<<"kim">>, <<"lee">>, <<"max">>])],
    [N1, N2, N3] = [N || #{node := N} <- Ps],
    members_everywhere(Config, Room, #{N1 => 1, N2 => 1, N3 => 1}),
    say(Kim, "before"),
    [?assertEqual(<<"den <kim> before">>, line(S)) || S <- [Kim, Lee, Max]],
    reset(Max),
    %% its node's count drops everywhere; the others talk on
    members_everywhere(Config, Room, #{N1 => 1, N2 => 1}),
    say(Kim, "after"),
    say(Lee, "still here"),
    [?assertEqual([<<"den <kim> after">>, <<"den <lee> still here">>], lists:sort([line(S), line(S)])) || S <- [Kim, Lee]],
    %% its nick is free again, for a client of another node
    ok = wait_until(fun() -> holder(P3, <<"max">>) =:= [] end, 5000),
    Again = client(P1),
    nick(Again, <<"max">>),
    [silent(S) || S <- [Kim, Lee]],
    [gen_tcp:close(S) || S <- [Kim, Lee, Again]],
    members_everywhere(Config, Room, #{}).

%% Node killed: no connectionLost, so no chat.release_nick; the owner's
%% monitor of the context gives the nick back.
a_dead_context_gives_its_nicks_back(Config) ->
    [P1, P2 | _] = ?config(peers, Config),
    N1 = maps:get(node, P1),
    {ok, #{context := Ctx, port := Port}} =
        erpc:call(N1, reactor_chat, serve, [doomed, #{protocol => reactor_test_lib:example("chat.ts"), port => 0}]),
    S = client(#{port => Port}),
    nick(S, <<"zoe">>),
    ?assertMatch([{<<"zoe">>, _, Ctx}], holder(P1, <<"zoe">>)),
    Other = client(P2),
    say(Other, "NICK zoe"),
    ?assertEqual(<<"* error nick zoe is taken">>, line(Other)),
    #{os_pid := OsPid} = erpc:call(N1, reactor_context, info, [Ctx]),
    MRef = monitor(process, Ctx),
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid)),
    receive {'DOWN', MRef, process, Ctx, _} -> ok after 5000 -> ct:fail(context_lived_on) end,
    ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 5000)),
    ok = wait_until(fun() -> holder(P1, <<"zoe">>) =:= [] end, 5000),
    nick(Other, <<"zoe">>),
    ok = erpc:call(N1, reactor, stop_listener, [doomed]),
    [gen_tcp:close(C) || C <- [S, Other]].

a_node_leaves_the_cluster(Config) ->
    [_, P2, P3] = Ps = ?config(peers, Config),
    Room = <<"hall">>,
    [Ned, Ola, Pat] = [member(P, Nick, Room) || {P, Nick} <- lists:zip(Ps, [<<"ned">>, <<"ola">>, <<"pat">>])],
    [N1, N2, N3] = [N || #{node := N} <- Ps],
    members_everywhere(Config, Room, #{N1 => 1, N2 => 1, N3 => 1}),
    ok = peer:stop(maps:get(peer, P3)),
    ok = wait_until(fun() -> not lists:member(N3, nodes()) end, 5000),
    %% its client's connection ends with it
    ?assertEqual({error, closed}, gen_tcp:recv(Pat, 0, 5000)),
    %% its members vanish from every count; the others talk on
    members_everywhere(Config, Room, #{N1 => 1, N2 => 1}),
    say(Ned, "still"),
    say(Ola, "here"),
    [?assertEqual([<<"hall <ned> still">>, <<"hall <ola> here">>], lists:sort([line(S), line(S)])) || S <- [Ned, Ola]],
    say(Ola, ["WHO ", Room]),
    ?assertEqual(iolist_to_binary(["* who hall 2", [[" ", atom_to_list(N), "=1"] || N <- lists:sort([N1, N2])]]),
                 line(Ola)),
    %% its nicks went with its table
    Again = client(P2),
    nick(Again, <<"pat">>),
    [gen_tcp:close(S) || S <- [Ned, Ola, Pat, Again]],
    members_everywhere(Config, Room, #{}).
