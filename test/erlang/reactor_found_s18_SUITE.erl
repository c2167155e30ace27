%% Faults found while trying issue 18's fixes as a new user would (branch
%% s18-try): each fails on the tree it was written against, and says what
%% the right value is. Real BEAM, real Node, real gen_tcp / gen_udp clients.
-module(reactor_found_s18_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, start_ctx/2, listen/2, settled_fd_count/0, wait_until/2]).

-define(LOOPBACK, {127, 0, 0, 1}).

all() ->
    [destroy_right_after_connection_made, udp_send_to_port_out_of_range].

suite() -> [{timetrap, {minutes, 2}}].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(reactor),
    Config.

end_per_suite(_Config) ->
    application:stop(reactor).

%% Item 3's kind: a connection that ends right after connectionMade (a
%% microtask, a rejected Promise's catch, setImmediate, a 0 ms timer) ends
%% alone. Found: the handoff's ack arms READ and the close in the same batch
%% closes the fd; reactor_conns:flush/1 then fails to arm it (ebadf), its
%% close/2 answers {error, not_found} and the table becomes the atom
%% not_found: the context dies with function_clause, taking every
%% connection and Node with it.
destroy_right_after_connection_made(_Config) ->
    Base = settled_fd_count(),
    Ctx = start_ctx({destroy_soon, erlang:unique_integer([positive])},
                    #{protocol => fixture("destroy_soon.ts")}),
    MRef = monitor(process, Ctx),
    {Echo, EchoPort} = listen(Ctx, #{}),
    {ok, Bystander} = gen_tcp:connect(?LOOPBACK, EchoPort, [binary, {active, false}], 5000),
    ok = gen_tcp:send(Bystander, <<"before">>),
    {ok, <<"before">>} = gen_tcp:recv(Bystander, 0, 5000),
    lists:foreach(
      fun(Mode) ->
              {L, Port} = listen(Ctx, #{info => #{mode => Mode}}),
              [begin
                   {ok, S} = gen_tcp:connect(?LOOPBACK, Port, [binary, {active, false}], 5000),
                   ?assertEqual({error, closed}, gen_tcp:recv(S, 0, 5000)),
                   gen_tcp:close(S)
               end || _ <- lists:seq(1, 20)],
              ?assert(is_process_alive(Ctx), {context_died_with, Mode}),
              reactor:stop_listener(L)
      end, [<<"microtask">>, <<"rejected">>, <<"immediate">>, <<"timeout0">>]),
    receive {'DOWN', MRef, process, Ctx, Why} -> ct:fail({context_died, Why}) after 0 -> ok end,
    %% the bystander was served all along
    ok = gen_tcp:send(Bystander, <<"after">>),
    ?assertEqual({ok, <<"after">>}, gen_tcp:recv(Bystander, 0, 5000)),
    gen_tcp:close(Bystander),
    ok = wait_until(fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= 0 end, 5000),
    reactor:stop_listener(Echo),
    reactor_context:stop(Ctx),
    ok = wait_until(fun() -> reactor_test_lib:fd_count() =:= Base end, 5000).

%% Item 4's kind: an answer to a port that is not one (70000, -1) is an
%% error about that datagram, as Node's dgram throws ERR_SOCKET_BAD_PORT
%% for it. Found: the addon casts the port to 16 bits, so 70000 goes to port
%% 4464 and -1 to 65535, and the protocol hears nothing.
udp_send_to_port_out_of_range(_Config) ->
    Ctx = start_ctx({udp_bad_port, erlang:unique_integer([positive])},
                    #{protocol => fixture("udp_bad_port.ts")}),
    {ok, Server} = gen_udp:open(0, [binary, {ip, ?LOOPBACK}, {active, false}]),
    {ok, Port} = inet:port(Server),
    {ok, _} = reactor:handoff_socket(Ctx, Server, #{}),
    %% whoever holds the ports the cast lands on (skipped if taken)
    Wrapped = [{P, gen_udp:open(P, [binary, {ip, ?LOOPBACK}, {active, false}])}
               || P <- [70000 band 16#ffff, -1 band 16#ffff]],
    {ok, Client} = gen_udp:open(0, [binary, {ip, ?LOOPBACK}, {active, false}]),
    ok = gen_udp:send(Client, ?LOOPBACK, Port, <<"70000">>),
    ok = gen_udp:send(Client, ?LOOPBACK, Port, <<"-1">>),
    [?assertEqual({error, timeout}, gen_udp:recv(S, 0, 500), {misaddressed_to, P})
     || {P, {ok, S}} <- Wrapped],
    ok = gen_udp:send(Client, ?LOOPBACK, Port, <<"errors">>),
    {ok, {_, Port, Heard}} = gen_udp:recv(Client, 0, 5000),
    ct:log("the protocol heard: ~s", [Heard]),
    ?assertNotEqual(<<"none">>, Heard),
    ?assertEqual(2, length(binary:split(Heard, <<",">>, [global]))),
    [gen_udp:close(S) || {_, {ok, S}} <- Wrapped],
    gen_udp:close(Client),
    reactor_context:stop(Ctx).
