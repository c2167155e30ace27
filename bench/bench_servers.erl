%% Servers the benchmark starts, each in its own BEAM:
%%   reactor(Port, Protocol, PoolSize)  erlang-reactor, a pool of contexts
%%   reactor(Port, Protocol, PoolSize, ContextOpts)  the same, options added
%%   gen_tcp(Port, echo | http)         plain Erlang, gen_tcp with {active, once},
%%                                      a process per connection
%% Port 0 picks a free one; each prints "READY port=N" once it listens. Then each
%% reads commands on stdin (make bench-scale's):
%%   close   close every connection: "CLOSED us=T", T how long it took (the
%%           reactor: reactor_context:stop/1 of each context; gen_tcp: until
%%           every connection's process has closed its socket and exited)
%%   mem     "MEM heap=H beam=B": the Node heap in use (bytes, after a full
%%           GC when Node runs with --expose-gc; 0 without Node) and
%%           erlang:memory(total)
-module(bench_servers).

-export([reactor/3, reactor/4, gen_tcp/2]).

-define(RESPONSE, <<"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 35\r\n"
                    "Connection: keep-alive\r\n\r\nHello from TypeScript on the BEAM!\n">>).

reactor(Port, Protocol, Pool) ->
    reactor(Port, Protocol, Pool, #{}).

reactor(Port, Protocol, Pool, Opts) ->
    {ok, _} = application:ensure_all_started(reactor),
    Ctxs = [begin
                {ok, C} = reactor_context:start({bench, I}, Opts#{protocol => Protocol}),
                C
            end || I <- lists:seq(1, Pool)],
    {ok, _} = reactor:start_listener(bench, #{ip => {127, 0, 0, 1}, port => Port, pool => Ctxs,
                                              acceptors => 2}),
    Pids = [maps:get(os_pid, reactor_context:info(C)) || C <- Ctxs],
    io:format("READY port=~p pids=~s~n", [reactor:listener_port(bench),
                                          lists:join(",", [integer_to_list(P) || P <- Pids])]),
    control(fun() -> [reactor_context:stop(C) || C <- Ctxs] end,
            fun() -> lists:sum([node_heap(C) || C <- Ctxs]) end).

node_heap(Ctx) ->
    {ok, H} = reactor_context:eval(Ctx, "globalThis.gc?.(); process.memoryUsage().heapUsed"),
    round(H).

gen_tcp(Port, Mode) ->
    {ok, L} = gen_tcp:listen(Port, [binary, {active, false}, {reuseaddr, true}, {nodelay, true},
                                    {ip, {127, 0, 0, 1}}, {backlog, 1024}]),
    ets:new(bench_conns, [named_table, public, set]),
    [spawn(fun() -> accept(L, Mode) end) || _ <- lists:seq(1, 4)],
    {ok, Bound} = inet:port(L),
    io:format("READY port=~p~n", [Bound]),
    control(fun close_all/0, fun() -> 0 end).

%% Each connection's process closes its socket and exits.
close_all() ->
    Refs = [monitor(process, P) || {P} <- ets:tab2list(bench_conns)],
    [P ! close || {P} <- ets:tab2list(bench_conns)],
    [receive {'DOWN', R, process, _, _} -> ok end || R <- Refs],
    ok.

control(Close, Heap) ->
    case io:get_line("") of
        Line when is_list(Line) ->
            case string:trim(Line) of
                "close" ->
                    %% not timer:tc/1: under a lowered fd limit, loading a
                    %% module fails
                    T0 = erlang:monotonic_time(microsecond),
                    Close(),
                    io:format("CLOSED us=~p~n", [erlang:monotonic_time(microsecond) - T0]);
                "mem" ->
                    io:format("MEM heap=~p beam=~p~n", [Heap(), erlang:memory(total)]);
                _ ->
                    ok
            end,
            control(Close, Heap);
        _ -> % stdin ended: serve on until killed
            receive after infinity -> ok end
    end.

accept(L, Mode) ->
    {ok, S} = gen_tcp:accept(L),
    Pid = spawn(fun() ->
                        receive go -> ok end,
                        inet:setopts(S, [{active, once}]),
                        serve(S, Mode, <<>>),
                        ets:delete(bench_conns, self())
                end),
    ets:insert(bench_conns, {Pid}),
    ok = gen_tcp:controlling_process(S, Pid),
    Pid ! go,
    accept(L, Mode).

serve(S, Mode, Buf) ->
    receive
        {tcp, S, Data} ->
            Rest = case Mode of
                       echo -> ok = gen_tcp:send(S, Data), <<>>;
                       http -> answer(S, <<Buf/binary, Data/binary>>, [])
                   end,
            inet:setopts(S, [{active, once}]),
            serve(S, Mode, Rest);
        {tcp_closed, S} ->
            ok;
        {tcp_error, S, _} ->
            gen_tcp:close(S);
        close ->
            gen_tcp:close(S)
    end.

answer(S, Buf, Acc) ->
    case binary:split(Buf, <<"\r\n\r\n">>) of
        [_Req, Rest] -> answer(S, Rest, [?RESPONSE | Acc]);
        [Partial] ->
            Acc =/= [] andalso gen_tcp:send(S, Acc),
            Partial
    end.
