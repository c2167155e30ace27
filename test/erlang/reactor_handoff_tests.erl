%% The caller's side of a handoff: client info made what Node can take, the
%% transport layers taken out of it, and every fd that does not become a
%% connection closed, whatever the context answers or whether it is there.
-module(reactor_handoff_tests).
-include_lib("eunit/include/eunit.hrl").

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
                 reactor_handoff:client_info(#{port => 1, proxy_protocol => true, tls => false})).

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
