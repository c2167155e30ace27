%% Which TLS option sets a context's Node already has: each set is sent once,
%% under its own key; the context's own is key 0; the number of sets is bounded.
-module(reactor_tls_keys_tests).
-include_lib("eunit/include/eunit.hrl").

with_cert(Fun) ->
    Dir = string:trim(os:cmd("mktemp -d")),
    Cert = filename:join(Dir, "c.pem"),
    ok = file:write_file(Cert, <<"not read here">>),
    try Fun(#{certfile => Cert, keyfile => Cert}) after os:cmd("rm -rf " ++ Dir) end.

sent_once_per_set_test() ->
    with_cert(fun(Opts) ->
        K0 = reactor_tls:keys(false),
        {1, [Frame], K1} = reactor_tls:key(Opts, K0),
        {ok, {tls_config, 1, Sent}} = {ok, binary_to_term(Frame)},
        ?assertMatch(#{verify := verify_none, fail_if_no_peer_cert := true, handshake_timeout := 10000, alpn := []}, Sent),
        ?assertEqual({1, [], K1}, reactor_tls:key(Opts, K1)),
        {2, [_], K2} = reactor_tls:key(Opts#{alpn => [<<"h2">>]}, K1),
        ?assertEqual({1, [], K2}, reactor_tls:key(Opts, K2))
    end).

default_and_none_test() ->
    ?assertEqual({0, [], reactor_tls:keys(true)}, reactor_tls:key(default, reactor_tls:keys(true))),
    ?assertEqual({false, [], reactor_tls:keys(false)}, reactor_tls:key(default, reactor_tls:keys(false))),
    ?assertEqual({false, [], reactor_tls:keys(true)}, reactor_tls:key(false, reactor_tls:keys(true))).

bad_set_is_not_keyed_test() ->
    K = reactor_tls:keys(false),
    ?assertThrow({tls_file_not_found, certfile, "/no/c.pem"},
                 reactor_tls:key(#{certfile => "/no/c.pem", keyfile => "/no/k.pem"}, K)),
    ?assertThrow({bad_tls_options, #{keyfile := _}}, reactor_tls:key(#{keyfile => "/k"}, K)).

bounded_test() ->
    with_cert(fun(Opts) ->
        Full = lists:foldl(fun(N, K) -> {N, [_], K1} = reactor_tls:key(Opts#{handshake_timeout => N}, K), K1 end,
                           reactor_tls:keys(false), lists:seq(1, 256)),
        ?assertThrow(too_many_tls_configs, reactor_tls:key(Opts#{handshake_timeout => 257}, Full)),
        %% a set it has is still found
        ?assertMatch({7, [], _}, reactor_tls:key(Opts#{handshake_timeout => 7}, Full))
    end).

%% STARTTLS's set: the context's own (`default') is keyed as any other set,
%% sent with the first handoff that names it, once.
starttls_test() ->
    with_cert(fun(Opts) ->
        ?assertEqual({false, [], reactor_tls:keys(true)}, reactor_tls:starttls_key(default, reactor_tls:keys(true))),
        K0 = reactor_tls:keys(false, Opts),
        {1, [Frame], K1} = reactor_tls:starttls_key(default, K0),
        ?assertMatch({tls_config, 1, #{certfile := _, verify := verify_none}}, binary_to_term(Frame)),
        ?assertEqual({1, [], K1}, reactor_tls:starttls_key(default, K1)),
        %% a listener's set, and the same set as a listener's tls: one key
        ?assertEqual({1, [], K1}, reactor_tls:starttls_key(Opts, K1)),
        ?assertEqual({1, [], K1}, reactor_tls:key(Opts, K1)),
        ?assertEqual({false, [], K1}, reactor_tls:starttls_key(false, K1))
    end).
