%% aedes (examples/mqtt), an MQTT broker from npm, unmodified, on BEAM
%% connections: the example exports net.createServer with aedes.handle as its
%% connection listener. Driven by Debian's mosquitto_pub and mosquitto_sub:
%% QoS 0 and 1 (to a live subscriber, and queued for a persistent session
%% while it is away), retained messages set and cleared, the last will of a
%% client killed with SIGKILL (and none for one that disconnects), and bytes
%% that are not MQTT, before and after a CONNECT: aedes destroys that
%% connection with the parser's error, which is its reason in telemetry,
%% while a subscriber connected throughout still gets what is published.
%% Every case leaves the BEAM and Node with the fds it found.
-module(reactor_mqtt_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [example/1, wait_until/2]).

all() -> [qos0, qos1, qos1_queued_for_a_persistent_session, retained_set_and_cleared,
          last_will_of_a_killed_client, garbage_before_connect, garbage_after_connect].

suite() -> [{timetrap, {minutes, 2}}].

init_per_suite(Config) ->
    example_deps(),
    code:ensure_loaded(telemetry),
    Ctx = reactor_test_lib:start_ctx(mqtt, #{protocol => example("mqtt/broker.ts")}),
    {L, Port} = reactor_test_lib:listen(Ctx, #{}),
    [{ctx, Ctx}, {listener, L}, {port, Port} | Config].

end_per_suite(Config) ->
    reactor_test_lib:done(?config(ctx, Config), ?config(listener, Config)),
    ok.

%% The fds of the BEAM and of Node before the case, with no client connected.
init_per_testcase(_Case, Config) ->
    telemetry:attach(),
    Ctx = ?config(ctx, Config),
    ok = wait_until(fun() -> connections(Ctx) =:= 0 end, 10000),
    [{fds, fds(Ctx)} | Config].

%% Once every connection of the case has ended, the same fds, and aedes
%% counts no client: a leak fails the case.
end_per_testcase(_Case, Config) ->
    telemetry:detach(),
    Ctx = ?config(ctx, Config),
    Before = ?config(fds, Config),
    Closed = try wait_until(fun() -> connections(Ctx) =:= 0 end, 10000)
             catch error:wait_until_timeout -> still_open
             end,
    case {Closed, fds(Ctx), reactor_context:call(Ctx, clients, [])} of
        {ok, Before, {ok, 0}} -> ok;
        {_, After, Clients} -> {fail, {fds, #{before => Before, 'after' => After, aedes_clients => Clients,
                                             open => reactor_context:connections(Ctx)}}}
    end.

%%% Cases

qos0(Config) ->
    Sub = subscriber(Config, "q0/+", ["-q", "0", "-C", "3"]),
    ok = publish(Config, "q0/a", ["-q", "0", "-m", "one"]),
    ok = publish(Config, "q0/b", ["-q", "0", "-m", "two"]),
    ok = publish(Config, "q0/a", ["-q", "0", "-m", "three"]),
    {0, Lines} = reactor_test_os:finish(Sub, 10000),
    ?assertEqual([<<"q0/a one">>, <<"q0/b two">>, <<"q0/a three">>], messages(Lines)),
    ?assertEqual(3, length([L || L <- Lines, re:run(L, "received PUBLISH \\(d0, q0, r0") =/= nomatch])).

%% Both hops acknowledged: the broker PUBACKs the publisher, the subscriber PUBACKs the broker.
qos1(Config) ->
    Sub = subscriber(Config, "q1/t", ["-q", "1", "-C", "2"]),
    {0, Pub} = mosquitto(Config, "mosquitto_pub", ["-t", "q1/t", "-q", "1", "-m", "first"]),
    ?assertMatch([_], [L || L <- Pub, re:run(L, "received PUBACK \\(Mid: 1, RC:0\\)") =/= nomatch]),
    ok = publish(Config, "q1/t", ["-q", "1", "-m", "second"]),
    {0, Lines} = reactor_test_os:finish(Sub, 10000),
    ?assertEqual([<<"q1/t first">>, <<"q1/t second">>], messages(Lines)),
    ?assertEqual(2, length([L || L <- Lines, re:run(L, "received PUBLISH \\(d0, q1, r0") =/= nomatch])),
    ?assertEqual(2, length([L || L <- Lines, re:run(L, "sending PUBACK") =/= nomatch])).

%% A session that is not clean (-c) keeps its QoS 1 subscription while the
%% client is away; what is published meanwhile waits in aedes and is
%% delivered when it comes back.
qos1_queued_for_a_persistent_session(Config) ->
    Id = ["-i", "keeper", "-c", "-q", "1"],
    {0, _} = mosquitto(Config, "mosquitto_sub", Id ++ ["-t", "kept/t", "-E"]),
    ok = publish(Config, "kept/t", ["-q", "1", "-m", "while you were away"]),
    {0, Lines} = mosquitto(Config, "mosquitto_sub", Id ++ ["-t", "kept/t", "-C", "1", "-v"]),
    ?assertEqual([<<"kept/t while you were away">>], messages(Lines)),
    %% the session ends: a clean connection with the same id
    {0, _} = mosquitto(Config, "mosquitto_sub", ["-i", "keeper", "-t", "kept/t", "-E"]).

%% A retained message reaches every later subscriber, flagged retained
%% (%r), until an empty retained message clears it.
retained_set_and_cleared(Config) ->
    ok = publish(Config, "r/t", ["-q", "1", "-r", "-m", "kept for later"]),
    Format = ["-F", "%r %t %p"],
    Later = fun() -> mosquitto(Config, "mosquitto_sub", ["-t", "r/t", "-C", "1" | Format]) end,
    {0, First} = Later(),
    {0, Second} = Later(),
    [?assertEqual([<<"1 r/t kept for later">>], messages(L)) || L <- [First, Second]],
    ok = publish(Config, "r/t", ["-q", "1", "-r", "-n"]),
    %% nothing retained any more: a subscriber waits in vain (exit 27 is -W's timeout)
    ?assertMatch({27, _}, mosquitto(Config, "mosquitto_sub", ["-t", "r/t", "-C", "1", "-W", "1" | Format])).

%% A client that disconnects leaves its will unpublished; one killed with
%% SIGKILL gets its will published (MQTT 3.1.1 §3.1.2.5).
last_will_of_a_killed_client(Config) ->
    Watcher = subscriber(Config, "will/#", ["-q", "1", "-C", "1"]),
    Will = fun(Who) -> ["--will-topic", "will/" ++ Who, "--will-payload", Who ++ " vanished", "--will-qos", "1"] end,
    {0, _} = mosquitto(Config, "mosquitto_sub", ["-i", "polite", "-t", "x", "-E" | Will("polite")]),
    Victim = subscriber(Config, "x", ["-i", "victim" | Will("victim")]),
    {Status, _} = reactor_test_os:kill(Victim),
    ?assertEqual(128 + 9, Status),
    {0, Lines} = reactor_test_os:finish(Watcher, 10000),
    ?assertEqual([<<"will/victim victim vanished">>], messages(Lines)).

%% Bytes that are not MQTT as the first packet ('G' is a PUBACK with flag
%% bits set): aedes destroys the connection with the parser's error.
garbage_before_connect(Config) ->
    Bystander = subscriber(Config, "still/here", ["-q", "1", "-C", "1"]),
    {C, Local} = connect(Config),
    ok = gen_tcp:send(C, <<"GET / HTTP/1.1\r\nHost: x\r\n\r\n">>),
    ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)),
    ?assertEqual(<<"Invalid header flag bits, must be 0x0 for puback packet">>, stop_reason(Local)),
    gen_tcp:close(C),
    bystander_still_served(Config, Bystander).

%% A real CONNECT, a CONNACK, then a byte that is no MQTT 3.1.1 packet type
%% (15, AUTH, is MQTT 5's only).
garbage_after_connect(Config) ->
    Bystander = subscriber(Config, "still/here", ["-q", "1", "-C", "1"]),
    {C, Local} = connect(Config),
    ok = gen_tcp:send(C, connect_packet(<<"garbler">>)),
    ?assertEqual({ok, <<16#20, 2, 0, 0>>}, gen_tcp:recv(C, 4, 5000)),
    ok = gen_tcp:send(C, <<16#F0, 3, 1, 2, 3>>),
    ?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)),
    ?assertEqual(<<"Not supported auth packet for this version MQTT">>, stop_reason(Local)),
    gen_tcp:close(C),
    bystander_still_served(Config, Bystander).

%%% Helpers

%% The examples' npm packages, installed as their lock files say where they
%% are missing or stale (.ci/install-deps does it for `make test'; here for a
%% suite run alone).
example_deps() ->
    Out = os:cmd("bash " ++ filename:join(reactor_test_lib:root(), ".ci/install-example-deps") ++ " 2>&1; echo rc=$?"),
    log(".ci/install-example-deps:~n~s", [Out]),
    {match, _} = re:run(Out, "rc=0\\n$").

%% mosquitto_pub or mosquitto_sub against the broker, with -d (its packets
%% logged), to its end: {ExitStatus, Lines}.
mosquitto(Config, Program, Args) ->
    All = ["-h", "127.0.0.1", "-p", integer_to_list(?config(port, Config)), "-d" | Args],
    {Status, Lines} = reactor_test_os:run(Program, All, 20000),
    log("~s ~s: ~p~n~ts", [Program, lists:join(" ", Args), Status, lists:join("\n", Lines)]),
    {Status, Lines}.

publish(Config, Topic, Args) ->
    {0, _} = mosquitto(Config, "mosquitto_pub", ["-t", Topic | Args]),
    ok.

%% A mosquitto_sub printing "topic payload" (-v) whose subscription the
%% broker has acknowledged.
subscriber(Config, Topic, Args) ->
    S = reactor_test_os:start("mosquitto_sub", ["-h", "127.0.0.1", "-p", integer_to_list(?config(port, Config)),
                                                "-d", "-v", "-t", Topic | Args]),
    {_, S1} = reactor_test_os:expect(S, "received SUBACK", 10000),
    S1.

%% What a subscriber printed of the messages it got (its -d lines left out).
messages(Lines) ->
    [L || L <- Lines, not lists:any(fun(P) -> re:run(L, P) =/= nomatch end,
                                    ["^Client ", "^Subscribed ", "^Timed out"])].

%% The subscriber connected before the fault still gets a QoS 1 publish.
bystander_still_served(Config, Bystander) ->
    ok = publish(Config, "still/here", ["-q", "1", "-m", "yes"]),
    {0, Lines} = reactor_test_os:finish(Bystander, 10000),
    ?assertEqual([<<"still/here yes">>], messages(Lines)).

%% A raw client, and its port (telemetry's peer).
connect(Config) ->
    C = reactor_test_lib:connect(?config(port, Config)),
    {ok, {_, Local}} = inet:sockname(C),
    {C, Local}.

%% MQTT 3.1.1 CONNECT (§3.1): clean session, keep alive 60 s.
connect_packet(ClientId) ->
    Body = <<4:16, "MQTT", 4, 2#00000010, 60:16, (byte_size(ClientId)):16, ClientId/binary>>,
    <<16#10, (byte_size(Body)), Body/binary>>.

%% The reason in telemetry's [reactor, connection, stop] for the connection from Port.
stop_reason(Port) ->
    receive
        {telemetry, [reactor, connection, stop], _, #{peer := {_, Port}, reason := Reason}} ->
            log("stop of :~p: ~p", [Port, Reason]),
            Reason
    after 10000 -> error({no_stop_event, Port})
    end.

%% ct:log, its text shown as text (HTML's special characters escaped).
log(Format, Args) -> ct:log(default, 50, Format, Args, [esc_chars]).

connections(Ctx) -> maps:get(connections, reactor_context:info(Ctx)).

%% The BEAM's fds (once they hold still) and Node's.
fds(Ctx) ->
    {reactor_test_lib:settled_fd_count(), reactor_test_lib:node_fd_count(reactor_test_lib:os_pid(Ctx))}.
