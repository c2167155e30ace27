%% Every pollable fd: UDP, Unix sockets, and what the fd says of itself.
-module(reactor_transports_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [fixture/1, start_ctx/2, listen/1, listen/2, connect/1, recv_line/1]).

all() ->
    [udp_many_senders, udp_datagram_too_large, udp_gen_udp_and_socket,
     unix_socket_peer_credentials, tcp_type_detected, pipe_read_end, pipe_write_end,
     pipe_write_end_waits, proxy_protocol_v1, proxy_protocol_v2,
     proxy_protocol_malformed].

udp_server(Ctx) ->
    {ok, U} = gen_udp:open(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}]),
    {ok, Port} = inet:port(U),
    {ok, _} = reactor:handoff_socket(Ctx, U, #{}),
    Port.

%% 20 senders at once, 50 datagrams each of distinct sizes: every one comes
%% back whole (boundaries and bytes exact) to its own sender. Like any UDP
%% client they retransmit after a silence: loopback UDP may drop under load
%% here even with a plain gen_udp echo server.
udp_many_senders(_Config) ->
    Ctx = start_ctx(udp, #{protocol => fixture("udp_echo.ts")}),
    Port = udp_server(Ctx),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               {ok, C} = gen_udp:open(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}]),
                               Ok = lists:all(
                                      fun(I) ->
                                              Msg = <<S:16, I:16, (binary:copy(<<S>>, I * 7 + S))/binary>>,
                                              exchange(C, Port, Msg, 5)
                                      end, lists:seq(1, 50)),
                               Self ! {udp_done, self(), Ok}
                       end) || S <- lists:seq(1, 20)],
    Results = [receive {udp_done, P, R} -> R after 60000 -> timeout end || P <- Pids],
    ?assertEqual(lists:duplicate(20, true), Results),
    ?assertMatch(#{bytes_in := In, bytes_out := In} when In > 0, reactor_context:info(Ctx)),
    reactor_context:stop(Ctx).

exchange(_C, _Port, _Msg, 0) ->
    false;
exchange(C, Port, Msg, Tries) ->
    ok = gen_udp:send(C, {127, 0, 0, 1}, Port, Msg),
    await_echo(C, Port, Msg, Tries).

await_echo(C, Port, Msg, Tries) ->
    <<S:16, I:16, _/binary>> = Msg,
    case gen_udp:recv(C, 0, 300) of
        {ok, {_, Port, Msg}} -> true;
        {ok, {_, Port, <<S:16, J:16, _/binary>>}} when J < I -> await_echo(C, Port, Msg, Tries); % a late duplicate
        {ok, Other} -> ct:pal("sender ~p: unexpected ~p", [S, Other]), false;
        {error, timeout} -> exchange(C, Port, Msg, Tries - 1)
    end.

udp_datagram_too_large(_Config) ->
    H = reactor_test_lib:capture_logs(),
    Ctx = start_ctx(udp_small, #{protocol => fixture("udp_echo.ts"), read_size => 1024}),
    Port = udp_server(Ctx),
    {ok, C} = gen_udp:open(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}]),
    ok = gen_udp:send(C, {127, 0, 0, 1}, Port, binary:copy(<<"x">>, 2000)),
    reactor_test_lib:logged("dropped a datagram of 2000 bytes from 127.0.0.1:\\d+: larger than read_size", 5000),
    ok = gen_udp:send(C, {127, 0, 0, 1}, Port, <<"small">>),
    ?assertMatch({ok, {_, Port, <<"small">>}}, gen_udp:recv(C, 0, 5000)),
    reactor_test_lib:stop_capture(H),
    reactor_context:stop(Ctx).

udp_gen_udp_and_socket(_Config) ->
    Ctx = start_ctx(udp2, #{protocol => fixture("udp_echo.ts")}),
    {ok, S} = socket:open(inet, dgram, udp),
    ok = socket:bind(S, #{family => inet, addr => {127, 0, 0, 1}, port => 0}),
    {ok, #{port := Port}} = socket:sockname(S),
    {ok, _} = reactor:handoff_socket(Ctx, S, #{}),
    {ok, C} = gen_udp:open(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}]),
    ok = gen_udp:send(C, {127, 0, 0, 1}, Port, <<"via socket">>),
    ?assertMatch({ok, {_, Port, <<"via socket">>}}, gen_udp:recv(C, 0, 5000)),
    reactor_context:stop(Ctx).

%% A Unix stream socket: type unix, and the peer's credentials in clientInfo.
unix_socket_peer_credentials(_Config) ->
    Ctx = start_ctx(unix, #{protocol => fixture("info.ts")}),
    %% sun_path holds 108 bytes: CT's priv_dir is too deep for it
    Path = "/tmp/reactor-test-" ++ os:getpid() ++ "-" ++ integer_to_list(erlang:unique_integer([positive])),
    {ok, L} = socket:open(local, stream, default),
    ok = socket:bind(L, #{family => local, path => Path}),
    ok = socket:listen(L),
    {ok, C} = socket:open(local, stream, default),
    ok = socket:connect(C, #{family => local, path => Path}),
    {ok, A} = socket:accept(L, 5000),
    {ok, _} = reactor:handoff_socket(Ctx, A, #{}),
    {ok, Line} = recv_line(C),
    Info = json(Line),
    ct:log("~s", [Line]),
    ?assertEqual(<<"unix">>, maps:get(<<"type">>, Info)),
    Peer = maps:get(<<"peer">>, Info),
    ?assertEqual(list_to_integer(os:getpid()), maps:get(<<"pid">>, Peer)),
    ok = socket:send(C, <<"over unix">>),
    ?assertEqual({ok, <<"over unix">>}, socket:recv(C, 9, 5000)),
    socket:close(C),
    socket:close(L),
    file:delete(Path),
    reactor_context:stop(Ctx).

tcp_type_detected(_Config) ->
    Ctx = start_ctx(info, #{protocol => fixture("info.ts")}),
    {L, Port} = listen(Ctx),
    S = connect(Port),
    {ok, Line} = recv_line(S),
    Info = json(Line),
    ?assertMatch(#{<<"type">> := <<"tcp">>, <<"addr">> := <<"127.0.0.1">>, <<"family">> := <<"inet">>}, Info),
    gen_tcp:close(S),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

%% A FIFO opened read-write (so opening it never blocks), found in
%% /proc/self/fd, and a dup of that fd handed off.
fifo_fd(Config) ->
    Path = filename:join(?config(priv_dir, Config), "fifo-" ++ integer_to_list(erlang:unique_integer([positive]))),
    "" = os:cmd("mkfifo " ++ Path),
    {H, Fd} = reactor_test_lib:file_fd(Path, [read, write, raw]),
    {ok, Dup} = reactor:dup_fd(Fd),
    {Path, H, Dup}.

pipe_read_end(Config) ->
    H = reactor_test_lib:capture_logs(),
    Ctx = start_ctx(pipe_r, #{protocol => fixture("pipe_reader.ts")}),
    {Path, Handle, Fd} = fifo_fd(Config),
    {ok, _} = reactor_context:handoff(Ctx, Fd, #{}),
    reactor_test_lib:logged("pipe reader on a pipe", 5000),
    "" = os:cmd("printf 'hello pipe' > " ++ Path),
    reactor_test_lib:logged("pipe got: hello pipe", 5000),
    file:close(Handle),
    reactor_test_lib:stop_capture(H),
    reactor_context:stop(Ctx).

pipe_write_end(Config) ->
    Ctx = start_ctx(pipe_w, #{protocol => fixture("pipe_writer.ts")}),
    {Path, Handle, Fd} = fifo_fd(Config),
    Self = self(),
    spawn_link(fun() -> Self ! {read, os:cmd("timeout 5 head -n 1 " ++ Path)} end),
    timer:sleep(200),
    {ok, _} = reactor_context:handoff(Ctx, Fd, #{}),
    receive {read, Line} -> ?assertEqual("written by the reactor into a pipe\n", Line)
    after 6000 -> error(nothing_read)
    end,
    file:close(Handle),
    reactor_context:stop(Ctx).

%% A FIFO's write end (O_WRONLY, a reader at the other end) handed to a
%% protocol that reads, as by default, and writes later: it is not read at
%% the handoff (EBADF would end it), it waits as a socket would.
pipe_write_end_waits(Config) ->
    Ctx = start_ctx(pipe_wait, #{protocol => fixture("chatty.ts")}),
    Path = filename:join(?config(priv_dir, Config), "fifo-" ++ integer_to_list(erlang:unique_integer([positive]))),
    "" = os:cmd("mkfifo " ++ Path),
    Reader = open_port({spawn, "cat " ++ Path}, [binary]),
    {Handle, Fd} = reactor_test_lib:file_fd(Path, [write, raw]),
    {ok, Dup} = reactor:dup_fd(Fd),
    {ok, _} = reactor_context:handoff(Ctx, Dup, #{}),
    timer:sleep(300),
    ?assertMatch([#{type := pipe, state := reading}], reactor_context:connections(Ctx)),
    file:close(Handle),
    port_close(Reader),
    reactor_context:stop(Ctx).

proxied(Header) ->
    Ctx = start_ctx(proxied, #{protocol => fixture("info.ts")}),
    {L, Port} = listen(Ctx, #{proxy_protocol => true}),
    S = connect(Port),
    ok = gen_tcp:send(S, Header),
    {ok, Line} = recv_line(S),
    Info = json(Line),
    gen_tcp:close(S),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx),
    Info.

proxy_protocol_v1(_Config) ->
    Info = proxied(<<"PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n">>),
    ?assertMatch(#{<<"addr">> := <<"203.0.113.7">>, <<"port">> := 40000, <<"local_port">> := 443,
                   <<"proxied_by">> := #{<<"addr">> := <<"127.0.0.1">>}}, Info).

proxy_protocol_v2(_Config) ->
    Sig = <<16#0D, 16#0A, 16#0D, 16#0A, 16#00, 16#0D, 16#0A, 16#51, 16#55, 16#49, 16#54, 16#0A>>,
    Header = <<Sig/binary, 16#21, 16#11, 12:16, 198, 51, 100, 9, 192, 0, 2, 1, 50000:16, 8443:16>>,
    Info = proxied(Header),
    ?assertMatch(#{<<"addr">> := <<"198.51.100.9">>, <<"port">> := 50000, <<"local_port">> := 8443}, Info).

proxy_protocol_malformed(_Config) ->
    H = reactor_test_lib:capture_logs(),
    Ctx = start_ctx(proxied_bad, #{protocol => fixture("info.ts")}),
    {L, Port} = listen(Ctx, #{proxy_protocol => true}),
    Good = connect(Port),
    Bad = connect(Port),
    ok = gen_tcp:send(Bad, <<"GET / HTTP/1.1\r\n\r\n">>),
    ?assertEqual({error, closed}, gen_tcp:recv(Bad, 0, 5000)),
    reactor_test_lib:logged("malformed PROXY header from 127.0.0.1:\\d+: no PROXY header", 5000),
    ok = gen_tcp:send(Good, <<"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n">>),
    {ok, Line} = recv_line(Good),
    ?assertMatch(#{<<"addr">> := <<"1.2.3.4">>}, json(Line)),
    reactor_test_lib:stop_capture(H),
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

%% Enough JSON for a flat object with one nested object (no JSON in OTP 25).
json(Bin) ->
    {ok, Toks, _} = erl_scan:string(binary_to_list(
                                      re:replace(re:replace(Bin, "\\{", "#{", [global]), ":", " => ",
                                                 [global, {return, binary}])) ++ "."),
    {ok, Expr} = erl_parse:parse_exprs(Toks),
    {value, V, _} = erl_eval:exprs(Expr, []),
    binarize(V).

binarize(M) when is_map(M) -> maps:from_list([{list_to_binary(K), binarize(V)} || {K, V} <- maps:to_list(M)]);
binarize(L) when is_list(L) -> list_to_binary(L);
binarize(V) -> V.
