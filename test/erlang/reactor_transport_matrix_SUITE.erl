%% The I/O cases over every transport stack, ranch's groups() way: plain TCP,
%% TLS, the PROXY protocol, and a PROXY header followed by TLS. The protocol
%% is the same in each group; only the listener's options and the client's
%% way of connecting change.
-module(reactor_transport_matrix_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, example/1, start_ctx/2, done/2, roundtrip/3, recv_exact/3,
                           recv_count/2, recv_rest/1]).

all() -> [{group, plain}, {group, tls}, {group, proxy}, {group, proxy_tls}].

groups() ->
    Cases = [echo_one_byte, echo_64k, echo_16m_partial_writes, http_keepalive, peer_half_closes,
             slow_reader_backpressure],
    [{G, [], Cases} || G <- [plain, tls, proxy, proxy_tls]].

suite() -> [{timetrap, {minutes, 3}}].

init_per_suite(Config) ->
    reactor_test_lib:init_tls(Config).

%% Common Test calls it whenever init_per_suite/1 is exported.
end_per_suite(_Config) ->
    ok.

init_per_group(G, Config) ->
    Dir = ?config(certs, Config),
    Tls = #{certfile => filename:join(Dir, "server.pem"), keyfile => filename:join(Dir, "server.key")},
    Opts = case G of
               plain -> #{};
               tls -> #{tls => Tls};
               proxy -> #{proxy_protocol => true};
               proxy_tls -> #{proxy_protocol => true, tls => Tls}
           end,
    [{listener_opts, Opts}, {tls, maps:is_key(tls, Opts)}, {proxy, G =:= proxy orelse G =:= proxy_tls}
     | Config].

end_per_group(_, _Config) ->
    ok.

%% A case that failed midway leaves nothing for the next one.
end_per_testcase(_, _Config) ->
    [catch reactor:stop_listener(N) || {{listener, N}, _} <- reactor_registry:names()],
    case reactor_context:whereis(matrix) of
        undefined -> ok;
        Pid -> catch reactor_context:stop(Pid)
    end,
    ok.

%% A context running Protocol and a listener with this group's transport.
serve(Config, Protocol, CtxOpts) ->
    Ctx = start_ctx(matrix, CtxOpts#{protocol => Protocol}),
    {L, Port} = reactor_test_lib:listen(Ctx, ?config(listener_opts, Config)),
    {Ctx, L, Port}.

%%% A client over this group's transport: {gen_tcp | ssl, Socket}, as
%%% reactor_test_lib's clients take it

open(Config, Port) ->
    {ok, T} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {nodelay, true}], 5000),
    case ?config(proxy, Config) of
        true -> ok = gen_tcp:send(T, <<"PROXY TCP4 198.51.100.20 192.0.2.1 61000 443\r\n">>);
        false -> ok
    end,
    case ?config(tls, Config) of
        false -> {gen_tcp, T};
        true ->
            CA = filename:join(?config(certs, Config), "ca.pem"),
            {ok, S} = ssl:connect(T, [{verify, verify_peer}, {cacertfile, CA},
                                      {server_name_indication, "localhost"}, binary,
                                      {active, false}], 5000),
            {ssl, S}
    end.

send({M, S}, B) -> M:send(S, B).
close({M, S}) -> M:close(S).
shutdown_write({M, S}) -> M:shutdown(S, write).

%%% Cases

echo_one_byte(Config) ->
    {Ctx, L, Port} = serve(Config, example("echo.ts"), #{}),
    C = open(Config, Port),
    ?assertEqual({ok, <<"x">>}, roundtrip(C, <<"x">>, 10000)),
    close(C),
    done(Ctx, L).

echo_64k(Config) ->
    {Ctx, L, Port} = serve(Config, example("echo.ts"), #{}),
    C = open(Config, Port),
    Data = rand:bytes(65536),
    ?assertEqual({ok, Data}, roundtrip(C, Data, 10000)),
    close(C),
    done(Ctx, L).

%% 16 MiB through a reactor that cannot write it all at once: the client reads
%% while it writes, the protocol sees partial writes and asks to write again.
echo_16m_partial_writes(Config) ->
    {Ctx, L, Port} = serve(Config, example("echo.ts"), #{}),
    C = open(Config, Port),
    Data = rand:bytes(16 * 1024 * 1024),
    Self = self(),
    spawn_link(fun() -> ok = send(C, Data), Self ! sent end),
    {ok, Back} = recv_exact(C, byte_size(Data), 30000),
    receive sent -> ok after 30000 -> error(send_stuck) end,
    ?assertEqual(erlang:md5(Data), erlang:md5(Back)),
    close(C),
    done(Ctx, L).

%% Three requests on one connection.
http_keepalive(Config) ->
    {Ctx, L, Port} = serve(Config, example("http.ts"), #{}),
    C = open(Config, Port),
    Req = <<"GET / HTTP/1.1\r\nHost: x\r\n\r\n">>,
    Replies = [begin
                   {ok, R} = reactor_test_lib:http_request(C, Req),
                   R
               end || _ <- lists:seq(1, 3)],
    [?assertMatch({match, _}, re:run(R, "^HTTP/1.1 200 OK.*Hello from TypeScript", [dotall]))
     || R <- Replies],
    ?assertMatch(#{connections := 1}, reactor_context:info(Ctx)),
    close(C),
    done(Ctx, L).

%% The peer closes its sending side: what it sent is still answered, then the
%% connection ends.
peer_half_closes(Config) ->
    {Ctx, L, Port} = serve(Config, fixture("faulty.ts"), #{}),
    C = open(Config, Port),
    ok = send(C, <<"last words">>),
    ok = shutdown_write(C),
    ?assertEqual({closed, <<"last words">>}, recv_rest(C)),
    ok = reactor_test_lib:wait_until(
           fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= 0 end, 5000),
    close(C),
    done(Ctx, L).

%% A peer that sends and does not read: reading pauses near the high-water
%% mark, and everything arrives once it reads.
slow_reader_backpressure(Config) ->
    HighWater = 256 * 1024,
    {Ctx, L, Port} = serve(Config, fixture("amplify.ts"),
                           #{write_high_water => HighWater, read_size => 65536}),
    C = open(Config, Port),
    Total = 4 * 1024 * 1024,
    Chunk = binary:copy(<<"x">>, 65536),
    Self = self(),
    Sender = spawn_link(fun() ->
                                [ok = send(C, Chunk) || _ <- lists:seq(1, Total div 65536)],
                                ok = send(C, <<"END">>),
                                Self ! {sent, self()}
                        end),
    timer:sleep(1000),
    #{bytes_in := In, buffered := Buffered} = Info = reactor_context:info(Ctx),
    ct:pal("~p: peer not reading: Node read ~p of ~p bytes, ~p queued, ~p bytes of TLS records waiting",
           [?config(tc_group_properties, Config), In, Total, Buffered, maps:get(tls_queued, Info, 0)]),
    ?assert(In < Total div 2), % reading paused
    %% Plain: at most one read's worth (x16) past the mark. TLS: the plaintext of
    %% a read comes out of the TLS layer after the read, so the mark is seen only
    %% after the up-to-4 reads of one event: up to four reads' worth.
    Reads = case ?config(tls, Config) of true -> 4; false -> 1 end,
    ?assert(Buffered =< HighWater + Reads * 16 * 65536),
    Expected = 16 * (Total + 3),
    ?assertEqual({ok, Expected}, recv_count(C, Expected)),
    receive {sent, Sender} -> ok after 10000 -> error(sender_stuck) end,
    close(C),
    done(Ctx, L).
