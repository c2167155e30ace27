%% Servers the benchmark starts, each in its own BEAM:
%%   reactor(Port, Protocol, PoolSize)  erlang-reactor, a pool of contexts
%%   gen_tcp(Port, echo | http)         plain Erlang, gen_tcp with {active, once}
%% Port 0 picks a free one; each prints "READY port=N" once it listens.
-module(bench_servers).

-export([reactor/3, gen_tcp/2]).

-define(RESPONSE, <<"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 35\r\n"
                    "Connection: keep-alive\r\n\r\nHello from TypeScript on the BEAM!\n">>).

reactor(Port, Protocol, Pool) ->
    {ok, _} = application:ensure_all_started(reactor),
    Ctxs = [begin
                {ok, C} = reactor_context:start({bench, I}, #{protocol => Protocol}),
                C
            end || I <- lists:seq(1, Pool)],
    {ok, _} = reactor:start_listener(bench, #{ip => {127, 0, 0, 1}, port => Port, pool => Ctxs,
                                              acceptors => 2}),
    Pids = [maps:get(os_pid, reactor_context:info(C)) || C <- Ctxs],
    io:format("READY port=~p pids=~s~n", [reactor:listener_port(bench),
                                          lists:join(",", [integer_to_list(P) || P <- Pids])]),
    receive after infinity -> ok end.

gen_tcp(Port, Mode) ->
    {ok, L} = gen_tcp:listen(Port, [binary, {active, false}, {reuseaddr, true}, {nodelay, true},
                                    {ip, {127, 0, 0, 1}}, {backlog, 1024}]),
    [spawn(fun() -> accept(L, Mode) end) || _ <- lists:seq(1, 4)],
    {ok, Bound} = inet:port(L),
    io:format("READY port=~p~n", [Bound]),
    receive after infinity -> ok end.

accept(L, Mode) ->
    {ok, S} = gen_tcp:accept(L),
    Pid = spawn(fun() -> receive go -> ok end, inet:setopts(S, [{active, once}]), serve(S, Mode, <<>>) end),
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
            gen_tcp:close(S)
    end.

answer(S, Buf, Acc) ->
    case binary:split(Buf, <<"\r\n\r\n">>) of
        [_Req, Rest] -> answer(S, Rest, [?RESPONSE | Acc]);
        [Partial] ->
            Acc =/= [] andalso gen_tcp:send(S, Acc),
            Partial
    end.
