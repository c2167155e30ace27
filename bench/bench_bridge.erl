%% The bridge's servers for make bench, each in its own BEAM (bench/lib/systems.mjs):
%%   reactor(Port, call | beam_call | publish, Fixture)   a context running bench/bridge.ts
%%   json_port(Port, Script, sync | multiplexed)         the peers: bench_json_port and Node
%% Port 0 picks a free one; each prints "READY port=N pids=..." once it listens.
%%
%% call, beam_call and json_port listen on a control port: a client sends
%% "SECONDS\n", the load runs for that long and the answer is one JSON line,
%% {"rate":..,"p50":..,"p99":..,"errors":..} (calls/s, µs). publish's port is
%% the reactor listener: its members are bench/loadgen's connections (sink),
%% and a process publishes to them while any are there.
-module(bench_bridge).

-export([reactor/3, json_port/3, load/3]).

-define(CALLERS, 50).
-define(GROUP, <<"bench">>).
%% publishes between two waits for the members to catch up (bench/bridge.ts
%% drained/0); bench/node_fanout.mjs writes as many rounds between its waits
-define(WINDOW, 32).
-define(MESSAGE, binary:copy(<<"m">>, 64)).

%% the small term every call scenario sends and must get back equal
term() -> [1, <<"abc">>, #{<<"k">> => 2}].

reactor(Port, Kind, Fixture) ->
    {ok, _} = application:ensure_all_started(reactor),
    Echo = fun(X) -> X end,
    {ok, Ctx} = reactor_context:start(bench, #{protocol => Fixture,
                                               handlers => #{<<"bench.echo">> => Echo}}),
    Pid = maps:get(os_pid, reactor_context:info(Ctx)),
    case Kind of
        call ->
            T = term(),
            control(Port, [Pid], fun(Secs) ->
                load(?CALLERS, Secs, fun() -> {ok, T} = reactor_context:call(Ctx, echo, [T]) end)
            end);
        beam_call ->
            control(Port, [Pid], fun(Secs) -> beam_loops(Ctx, Secs) end);
        publish ->
            %% Nagle on, as on plain Node's sockets (bench/node_fanout.mjs): the same segments
            {ok, _} = reactor:start_listener(bench, #{ip => {127, 0, 0, 1}, port => Port, pool => [Ctx],
                                                      socket_opts => #{nodelay => false}}),
            spawn_link(fun() -> publisher(Ctx) end),
            ready(reactor:listener_port(bench), [Pid]),
            receive after infinity -> ok end
    end.

json_port(Port, Script, Mode) ->
    {ok, P} = bench_json_port:start_link(Script, Mode),
    T = term(),
    control(Port, [bench_json_port:os_pid(P)], fun(Secs) ->
        load(?CALLERS, Secs, fun() -> {ok, T} = bench_json_port:call(P, <<"echo">>, [T]) end)
    end).

%% beam.call's load runs in Node (bench/bridge.ts beamLoop/2): one call starts it.
beam_loops(Ctx, Secs) ->
    {ok, [Calls, Measured, P50, P99]} =
        reactor_context:call(Ctx, beamLoop, [?CALLERS, Secs], round(Secs * 1000) + 30000),
    #{rate => Calls / Measured, p50 => P50, p99 => P99, errors => 0}.

%% @doc `Callers' processes each run `Call' in a loop for `Secs' seconds (the
%% first 10% warm-up, as loadgen's); calls per second and latency percentiles
%% in µs over the rest. A call that fails (a badmatch) counts as an error.
load(Callers, Secs, Call) ->
    Now = erlang:monotonic_time(microsecond),
    Warm = Now + round(Secs * 100000),
    End = Warm + round(Secs * 1000000),
    Self = self(),
    Pids = [spawn_link(fun() -> Self ! {self(), caller(Call, Warm, End, [], 0)} end)
            || _ <- lists:seq(1, Callers)],
    Results = [receive {P, R} -> R end || P <- Pids],
    Lat = lists:sort(lists:append([L || {L, _} <- Results])),
    Errors = lists:sum([E || {_, E} <- Results]),
    Measured = (erlang:monotonic_time(microsecond) - Warm) / 1.0e6,
    #{rate => length(Lat) / Measured, p50 => pct(Lat, 50), p99 => pct(Lat, 99), errors => Errors}.

caller(Call, Warm, End, Lat, Errors) ->
    T = erlang:monotonic_time(microsecond),
    if
        T >= End -> {Lat, Errors};
        true ->
            Ok = try Call(), true catch _:_ -> false end,
            Took = erlang:monotonic_time(microsecond) - T,
            case {Ok, T >= Warm} of
                {true, true} -> caller(Call, Warm, End, [Took | Lat], Errors);
                {true, false} -> caller(Call, Warm, End, Lat, Errors);
                {false, _} -> caller(Call, Warm, End, Lat, Errors + 1)
            end
    end.

pct([], _) -> 0;
pct(Sorted, P) -> lists:nth(length(Sorted) * P div 100 + 1, Sorted).

%% Publishes while the group has members, ?WINDOW at a time, then waits for
%% every member to have taken them (drained/0): the mailbox stays bounded and
%% a slow member is waited for, as plain Node waits for a socket's 'drain'.
publisher(Ctx) ->
    case reactor:members(?GROUP) of
        M when map_size(M) =:= 0 ->
            timer:sleep(10),
            publisher(Ctx);
        _ ->
            publish(Ctx, ?MESSAGE, 0)
    end.

publish(Ctx, Msg, ?WINDOW) ->
    {ok, true} = reactor_context:call(Ctx, drained, [], infinity),
    publish(Ctx, Msg, 0);
publish(Ctx, Msg, N) ->
    ok = reactor:publish(?GROUP, Msg),
    publish(Ctx, Msg, N + 1).

%% One control connection at a time: "SECONDS\n" in, the load's JSON line out.
control(Port, Pids, Run) ->
    {ok, L} = gen_tcp:listen(Port, [binary, {active, false}, {packet, line}, {reuseaddr, true},
                                    {ip, {127, 0, 0, 1}}]),
    {ok, Bound} = inet:port(L),
    ready(Bound, Pids),
    serve(L, Run).

serve(L, Run) ->
    {ok, S} = gen_tcp:accept(L),
    {ok, Line} = gen_tcp:recv(S, 0),
    Secs = binary_to_number(string:trim(Line)),
    #{rate := Rate, p50 := P50, p99 := P99, errors := E} = Run(Secs),
    ok = gen_tcp:send(S, io_lib:format("{\"rate\":~.1f,\"p50\":~b,\"p99\":~b,\"errors\":~b}~n",
                                       [float(Rate), P50, P99, E])),
    gen_tcp:close(S),
    serve(L, Run).

binary_to_number(B) ->
    try binary_to_float(B) catch error:badarg -> float(binary_to_integer(B)) end.

ready(Port, Pids) ->
    io:format("READY port=~p pids=~s~n", [Port, lists:join(",", [integer_to_list(P) || P <- Pids])]).
