%% A listener's socket_opts: checked, with nodelay on by default, and carried
%% by every socket the acceptors' NIF accepts: each is read back with
%% getsockopt (OTP's socket module on the accepted fd), as the kernel has it.
-module(reactor_sockopts_tests).
-include_lib("eunit/include/eunit.hrl").

defaults_test() ->
    ?assertEqual([{nodelay, true}], reactor_listener:socket_opts(#{})),
    ?assertEqual([{keepalive, true}, {nodelay, false}, {recbuf, 131072}, {sndbuf, 65536}],
                 reactor_listener:socket_opts(#{nodelay => false, keepalive => true,
                                                sndbuf => 65536, recbuf => 131072})).

bad_options_test() ->
    ?assertThrow({bad_option, {nodelay, yes}}, reactor_listener:socket_opts(#{nodelay => yes})),
    ?assertThrow({bad_option, {sndbuf, 0}}, reactor_listener:socket_opts(#{sndbuf => 0})),
    ?assertThrow({bad_option, {linger, 5}}, reactor_listener:socket_opts(#{linger => 5})),
    ?assertThrow({bad_option, {socket_opts, [nodelay]}}, reactor_listener:socket_opts([nodelay])).

%% What accept/1 gives an acceptor, with these options on the listener.
accepted(SocketOpts) ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}
                                 | reactor_listener:socket_opts(SocketOpts)]),
    {ok, Port} = inet:port(L),
    {ok, LFd} = inet:getfd(L),
    {ok, Dup} = reactor_nif:dup(LFd),
    {ok, Res} = reactor_nif:open(Dup, 0),
    {ok, Client} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    {ok, Conn, _} = wait_accept(Res, 50),
    {ok, Fd} = reactor_nif:dup(reactor_nif:fd(Conn)),
    ok = reactor_nif:close(Conn, false),
    {ok, S} = socket:open(Fd), % owns the copy: socket:close/1 closes it
    Opts = #{nodelay => getopt(S, {tcp, nodelay}), keepalive => getopt(S, {socket, keepalive}),
             sndbuf => getopt(S, {socket, sndbuf}), recbuf => getopt(S, {socket, rcvbuf})},
    socket:close(S),
    gen_tcp:close(Client),
    ok = reactor_nif:close(Res, false),
    gen_tcp:close(L),
    Opts.

wait_accept(Res, N) ->
    case reactor_nif:accept(Res) of
        {error, eagain} when N > 0 -> timer:sleep(10), wait_accept(Res, N - 1);
        R -> R
    end.

getopt(S, Opt) ->
    {ok, V} = socket:getopt(S, Opt),
    V.

nodelay_is_on_by_default_test() ->
    ?assertMatch(#{nodelay := true, keepalive := false}, accepted(#{})).

every_accepted_socket_carries_the_options_test() ->
    #{nodelay := NoDelay, keepalive := KeepAlive, sndbuf := Snd, recbuf := Rcv} =
        accepted(#{nodelay => false, keepalive => true, sndbuf => 65536, recbuf => 131072}),
    ?assertEqual({false, true}, {NoDelay, KeepAlive}),
    %% Linux reads back twice what was set (socket(7): room for its bookkeeping)
    ?assertEqual({2 * 65536, 2 * 131072}, {Snd, Rcv}).
