%% The caller's side of a handoff: client info made what Node can take, the
%% transport layers taken out of it, and every fd that does not become a
%% connection closed, whatever the context answers or whether it is there.
%% The context's side (admit/5): what is admitted goes to Node, what is
%% refused stays the caller's.
-module(reactor_handoff_tests).
-include_lib("eunit/include/eunit.hrl").
-include("../../erlang/src/reactor_served.hrl").

%%% client_info/1

normalizes_what_node_is_given_test() ->
    ?assertEqual({ok, #{addr => <<"10.0.0.1">>, port => 8080, name => <<"héllo"/utf8>>,
                        v6 => <<"::1">>, big => <<"4294967296">>, f => 1.5, a => tcp,
                        <<"raw">> => <<1, 2>>, nested => #{list => [1, <<"x">>]}, bytes => [0, 1]},
                  #{proxy => false, tls => default}, <<>>},
                 reactor_handoff:client_info(#{addr => {10, 0, 0, 1}, port => 8080,
                                               name => "héllo", v6 => {0, 0, 0, 0, 0, 0, 0, 1},
                                               big => 1 bsl 32, f => 1.5, a => tcp,
                                               <<"raw">> => <<1, 2>>,
                                               nested => #{list => [1, "x"]}, bytes => [0, 1]})).

transport_layers_test() ->
    Tls = #{certfile => "c.pem"},
    Layers = fun(I) -> {ok, _, T, _} = reactor_handoff:client_info(I), T end,
    ?assertEqual([#{proxy => false, tls => default}, #{proxy => true, tls => default},
                  #{proxy => false, tls => default}, #{proxy => false, tls => false},
                  #{proxy => false, tls => Tls}],
                 [Layers(I) || I <- [#{}, #{proxy_protocol => true}, #{tls => true}, #{tls => false},
                                     #{tls => Tls}]]),
    %% the layers are not client info: Node never sees them there
    ?assertEqual({ok, #{port => 1}, #{proxy => true, tls => false}, <<>>},
                 reactor_handoff:client_info(#{port => 1, proxy_protocol => true, tls => false})),
    %% starttls only when asked for, with the same choices as tls
    ?assertEqual([#{proxy => false, tls => default, starttls => default},
                  #{proxy => false, tls => false, starttls => Tls},
                  #{proxy => false, tls => default, starttls => false}],
                 [Layers(I) || I <- [#{starttls => true}, #{tls => false, starttls => Tls},
                                     #{starttls => false}]]),
    ?assertEqual({error, {bad_client_info, starttls}}, reactor_handoff:client_info(#{starttls => yes})),
    %% nodelay (the fd has TCP_NODELAY already) goes with the layers, only when true
    ?assertEqual({ok, #{port => 1}, #{proxy => false, tls => default, nodelay => true}, <<>>},
                 reactor_handoff:client_info(#{port => 1, nodelay => true})),
    ?assertEqual(#{proxy => false, tls => default}, Layers(#{nodelay => false})),
    ?assertEqual({error, {bad_client_info, nodelay}}, reactor_handoff:client_info(#{nodelay => 1})).

%% Bytes read before the handoff travel apart from the client info, bounded.
preread_test() ->
    ?assertEqual({ok, #{port => 1}, #{proxy => false, tls => default}, <<"HELLO\n">>},
                 reactor_handoff:client_info(#{port => 1, preread => <<"HELLO\n">>})),
    ?assertEqual({error, {bad_client_info, preread}},
                 reactor_handoff:client_info(#{preread => "HELLO"})),
    ?assertEqual({error, preread_too_large},
                 reactor_handoff:client_info(#{preread => binary:copy(<<0>>, 1048577)})).

bad_client_info_test() ->
    ?assertEqual([{error, {bad_client_info, proxy_protocol}},
                  {error, {bad_client_info, tls}},
                  {error, {bad_client_info, 42}},
                  {error, {bad_client_info, pid}},
                  {error, {bad_client_info, addr}},
                  {error, {bad_client_info, f}}, % the key of the value, however deep
                  {error, {bad_client_info, not_a_map}},
                  {error, client_info_too_large}],
                 [reactor_handoff:client_info(I)
                  || I <- [#{proxy_protocol => yes}, #{tls => "on"}, #{42 => x}, #{pid => self()},
                           #{addr => {999, 0, 0, 1}}, #{nested => #{f => fun() -> ok end}}, [{port, 1}],
                           #{blob => binary:copy(<<"x">>, 70000)}]]).

%%% run/2, with the test as the context

%% A connected TCP pair: our side as a dup'd fd the test hands off, the peer
%% a gen_tcp socket that sees whether that fd was closed.
pair() -> reactor_test_lib:tcp_pair().

closed(Peer) -> gen_tcp:recv(Peer, 0, 2000) =:= {error, closed}.

open(Peer) -> gen_tcp:recv(Peer, 0, 100) =:= {error, timeout}.

%% A context that answers one handoff call with `Answer' and reports the request.
context(Answer) ->
    Test = self(),
    spawn_link(fun() ->
                       receive
                           {'$gen_call', From, {handoff, Request}} ->
                               Test ! {request, Request},
                               gen_server:reply(From, Answer)
                       end
               end).

results_in_order_and_refused_fds_closed_test() ->
    [{Bad, PBad}, {Ok, POk}, {Full, PFull}] = [pair() || _ <- [1, 2, 3]],
    Ctx = context([{ok, 7}, {error, max_connections}]),
    %% the caller runs in a process of its own: the fds it owns die with it
    Test = self(),
    Caller = spawn(fun() ->
                           R = reactor_handoff:run(Ctx, [{Bad, #{tls => 1}}, {-1, #{}},
                                                         {Ok, #{user => "u", tls => false}}, {Full, #{}}]),
                           Test ! {results, R},
                           receive done -> ok end
                   end),
    ?assertEqual([{error, {bad_client_info, tls}}, {error, badfd}, {ok, 7}, {error, max_connections}],
                 receive {results, R} -> R after 5000 -> error(no_results) end),
    %% only the fds that passed the caller's checks were asked about, described
    receive
        {request, [{_, Info1, T1}, {_, Info2, T2}]} ->
            ?assertEqual({#{type => tcp, user => <<"u">>}, #{proxy => false, tls => false}}, {Info1, T1}),
            ?assertEqual({#{type => tcp}, #{proxy => false, tls => default}}, {Info2, T2})
    after 2000 -> error(no_request)
    end,
    ?assertEqual([true, true], [closed(P) || P <- [PBad, PFull]]),
    ?assert(open(POk)),
    %% the stand-in context never took it over: it was still the caller's
    Caller ! done,
    ?assert(closed(POk)),
    [gen_tcp:close(P) || P <- [PBad, POk, PFull]].

no_context_closes_every_fd_test() ->
    [{A, PA}, {B, PB}] = [pair(), pair()],
    ?assertEqual([{error, no_context}, {error, no_context}],
                 reactor_handoff:run(no_such_context_here, [{A, #{}}, {B, #{}}])),
    ?assertEqual([true, true], [closed(P) || P <- [PA, PB]]),
    [gen_tcp:close(P) || P <- [PA, PB]].

%% The context died with the request in its mailbox: the fds are still the
%% caller's (nobody took them over), and closed.
context_down_closes_every_fd_test() ->
    {A, PA} = pair(),
    Ctx = spawn(fun() -> receive {'$gen_call', _, _} -> exit(boom) end end),
    ?assertEqual([{error, {context_down, boom}}], reactor_handoff:run(Ctx, [{A, #{}}])),
    ?assert(closed(PA)),
    gen_tcp:close(PA).

nothing_to_ask_test() ->
    ?assertEqual([], reactor_handoff:run(no_such_context_here, [])),
    ?assertEqual([{error, badfd}], reactor_handoff:run(no_such_context_here, [{not_an_fd, #{}}])).

%%% admit/5, with the test as Node: a served state whose Node is a stand-in
%%% (reactor_node:stand_in/3): `cat' as its port echoes each control frame
%%% back, the test's own socket is the fd channel's peer.

-record(stand_in, {port, channel, peer, served}).

served() ->
    flush_io(),
    {ok, L} = reactor_channel:open(),
    {ok, Peer} = socket:open(local, seqpacket, default),
    ok = socket:connect(Peer, #{family => local, path => reactor_channel:path(L)}),
    {ok, Ch} = reactor_channel:accept(L, list_to_integer(os:getpid())),
    {ok, B, NodeFd} = reactor_nif:batch_pair(),
    ok = reactor_nif:close_fd(NodeFd),
    Port = open_port({spawn_executable, "/bin/cat"}, [{packet, 4}, binary, use_stdio]),
    Sv = reactor_served:new(admit_test, reactor_node:stand_in(Port, Ch, B), #{}),
    #stand_in{port = Port, channel = Ch, peer = Peer, served = Sv}.

%% The control frames Node got, in order: what the holder queued is written
%% first (reactor_port_out), a batch is the frames in it.
frames(#stand_in{port = Port}) ->
    ok = reactor_port_out:flush(Port),
    echoed(Port).

echoed(Port) ->
    receive
        {Port, {data, <<$M, Batch/binary>>}} -> [binary_to_term(F) || <<L:32, F:L/binary>> <= Batch] ++ echoed(Port);
        {Port, {data, F}} -> [binary_to_term(F) | echoed(Port)]
    after 300 -> []
    end.

%% What one channel message carried: its ids, and how many fds (closed here).
channel_message(#stand_in{peer = Peer}) ->
    case socket:recvmsg(Peer, 0, 64, [], 300) of
        {ok, #{iov := [Ids], ctrl := [#{type := rights, data := Fds}]}} ->
            [ok = reactor_nif:close_fd(F) || <<F:32/native>> <= Fds],
            {[Id || <<Id:32/native>> <= Ids], byte_size(Fds) div 4};
        {error, timeout} ->
            none
    end.

stop(#stand_in{port = Port, channel = Ch, peer = Peer}, Sv) ->
    ok = reactor_conns:close_all(Sv#served.conns),
    ok = reactor_nif:close(reactor_node:batch(reactor_served:node(Sv)), false),
    ok = reactor_channel:close(Ch),
    socket:close(Peer),
    port_close(Port),
    flush_io().

flush_io() ->
    receive {reactor_io, _, _} -> flush_io() after 0 -> ok end.

%% A request entry: the fd of a fresh TCP pair as a resource the caller (the
%% test) owns, and the pair's peer.
entry(Transport) ->
    {Fd, Peer} = pair(),
    {ok, Res} = reactor_nif:open(Fd, 0),
    {{Res, #{type => tcp}, Transport}, Peer}.

plain() -> #{proxy => false, tls => false}.

%% Below max_connections each fd becomes the context's and goes to Node,
%% its fd first, then its announcement; a new TLS option set goes before
%% the handoff that names it, once; what is refused is refused in place,
%% counted, and left to the caller to close. The reply waits for Node.
admit_test() ->
    Dir = string:trim(os:cmd("mktemp -d")),
    Pem = filename:join(Dir, "c.pem"),
    ok = file:write_file(Pem, <<"not read here">>),
    N = served(),
    {A, PA} = entry(plain()),
    {{Gone, _, _} = Closed, PGone} = entry(plain()),
    ok = reactor_nif:close(Gone, true),
    {BadTls, PBad} = entry(#{proxy => false, tls => #{certfile => "/no/c.pem", keyfile => Pem}}),
    {C, PC} = entry(#{proxy => true, tls => #{certfile => Pem, keyfile => Pem}}),
    {Over, POver} = entry(plain()),
    From = {self(), make_ref()},
    {noreply, Sv, Keys} = reactor_handoff:admit([A, Closed, BadTls, C, Over], From, N#stand_in.served,
                                                reactor_tls:keys(false), 2),
    %% ids only grow: the one taken for the closed resource is not reused
    ?assertEqual([1, 3], lists:sort(reactor_served:ids(Sv))),
    ?assertEqual({[1, 3], 2}, channel_message(N)),
    ?assertMatch([{tls_config, 1, #{certfile := _, verify := verify_none}},
                  {handoff, 1, #{type := tcp}, #{proxy := false, tls := false}},
                  {handoff, 3, #{type := tcp}, #{proxy := true, tls := 1}}], frames(N)),
    ?assertMatch(#{refused := 3, handoffs := 0}, Sv#served.counters),
    ?assertMatch({1, [], _}, reactor_tls:key(#{certfile => Pem, keyfile => Pem}, Keys)),
    %% the reply waits for Node's answers (reactor_from_node)
    {_, Tag} = From,
    receive {Tag, Early} -> error({replied_early, Early}) after 0 -> ok end,
    %% refused fds are still the caller's: open until it closes them
    ?assert(open(PBad)),
    ?assert(open(POver)),
    stop(N, Sv),
    ?assertEqual([true, true, true], [closed(P) || P <- [PA, PGone, PC]]),
    [ok = reactor_nif:close(R, true) || {R, _, _} <- [BadTls, Over]],
    [gen_tcp:close(P) || P <- [PA, PGone, PBad, PC, POver]],
    os:cmd("rm -rf " ++ Dir).

%% Nothing admitted: the reply is at once, and Node hears nothing.
admit_refusing_all_test() ->
    N = served(),
    {{Gone, _, _} = Closed, P1} = entry(plain()),
    ok = reactor_nif:close(Gone, true),
    {Bad, P2} = entry(#{proxy => false, tls => #{certfile => "/no/c.pem", keyfile => "/no/k.pem"}}),
    {reply, Results, Sv, _} = reactor_handoff:admit([Closed, Bad], {self(), make_ref()}, N#stand_in.served,
                                                    reactor_tls:keys(false), 10),
    ?assertEqual([{error, closed}, {error, {tls_file_not_found, certfile, "/no/c.pem"}}], Results),
    ?assertEqual({none, []}, {channel_message(N), frames(N)}),
    ?assertEqual([], reactor_served:ids(Sv)),
    stop(N, Sv),
    {R, _, _} = Bad,
    ok = reactor_nif:close(R, true),
    [gen_tcp:close(P) || P <- [P1, P2]].

%% The fd channel is gone (Node hung up): each fd sent is closed, its result
%% is the channel's error, and with the last result the reply goes.
admit_channel_failure_test() ->
    N = served(),
    socket:close(N#stand_in.peer),
    {A, PA} = entry(plain()),
    {_, Tag} = From = {self(), make_ref()},
    {noreply, Sv, _} = reactor_handoff:admit([A], From, N#stand_in.served, reactor_tls:keys(false), 10),
    ?assertMatch([{error, {channel, _}}], receive {Tag, R} -> R after 1000 -> no_reply end),
    ?assertEqual([], frames(N)),
    ?assertMatch(#{refused := 1}, Sv#served.counters),
    ?assert(closed(PA)),
    stop(N, Sv),
    gen_tcp:close(PA).
