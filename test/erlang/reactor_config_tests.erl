%% A context's options: each default stated once, and what a Node process
%% starts with, with the errors that stop it from starting.
-module(reactor_config_tests).
-include_lib("eunit/include/eunit.hrl").

with_dir(Fun) ->
    Dir = string:trim(os:cmd("mktemp -d")),
    try Fun(Dir) after os:cmd("rm -rf " ++ Dir) end.

thrown(F) ->
    try F() of
        R -> {returned, R}
    catch
        throw:Why -> Why
    end.

defaults_and_overrides_test() ->
    ?assertEqual(1024 * 1024, reactor_config:get(read_size, #{})),
    ?assertEqual(4096, reactor_config:get(read_size, #{read_size => 4096})),
    ?assertEqual(65536, reactor_config:get(max_connections, #{})),
    ?assertEqual(5000, reactor_config:get(stop_timeout, #{})),
    ?assertEqual(1000, reactor_config:get(hot_wait, #{})),
    ?assertEqual(batch, reactor_config:get(await_policy, #{})),
    ?assertEqual(false, reactor_config:get(typecheck, #{})),
    %% an option without a default is nobody's: asking for it is a bug
    ?assertError(function_clause, reactor_config:get(no_such_option, #{})).

code_test() ->
    with_dir(fun(Dir) ->
        Ts = filename:join(Dir, "p.ts"),
        ok = file:write_file(Ts, <<"export default class {}\n">>),
        ?assertEqual(#{protocol => list_to_binary(Ts), setup_code => <<"let a = 1;">>, typecheck => false},
                     reactor_config:code(#{protocol => Ts, setup_code => ["let a", <<" = 1;">>]})),
        %% setup code alone is a protocol too; typecheck only when `true'
        ?assertEqual(#{protocol => <<>>, setup_code => <<"x">>, typecheck => true},
                     reactor_config:code(#{setup_code => "x", typecheck => true})),
        ?assertMatch(#{typecheck := false}, reactor_config:code(#{setup_code => "x", typecheck => yes})),
        %% a relative path is made absolute, from the BEAM's working directory
        {ok, Cwd} = file:get_cwd(),
        ok = file:set_cwd(Dir),
        try
            ?assertEqual(list_to_binary(Dir ++ "/p.ts"),
                         maps:get(protocol, reactor_config:code(#{protocol => "p.ts"})))
        after
            ok = file:set_cwd(Cwd)
        end
    end).

code_errors_test() ->
    ?assertEqual(no_protocol_given, thrown(fun() -> reactor_config:code(#{}) end)),
    ?assertEqual(no_protocol_given, thrown(fun() -> reactor_config:code(#{setup_code => <<>>}) end)),
    ?assertEqual({protocol_not_found, <<"/no/such/p.ts">>},
                 thrown(fun() -> reactor_config:code(#{protocol => "/no/such/p.ts"}) end)),
    ?assertEqual({protocol_not_found, {priv, no_such_app_here, "p.ts"}},
                 thrown(fun() -> reactor_config:code(#{protocol => {priv, no_such_app_here, "p.ts"}}) end)).

%% A protocol module dropped into an application's priv directory.
priv_protocol_test() ->
    Script = filename:join(code:priv_dir(reactor), "reactor_port.js"),
    ?assert(filelib:is_regular(Script)),
    ?assertEqual(list_to_binary(Script),
                 maps:get(protocol, reactor_config:code(#{protocol => {priv, reactor, "reactor_port.js"}}))),
    %% the app is there but not the file: the path looked at
    ?assertEqual({protocol_not_found, list_to_binary(filename:join(code:priv_dir(reactor), "none.ts"))},
                 thrown(fun() -> reactor_config:code(#{protocol => {priv, reactor, "none.ts"}}) end)).

node_init_test() ->
    with_dir(fun(Dir) ->
        Ts = filename:join(Dir, "p.ts"),
        ok = file:write_file(Ts, <<"export default class {}\n">>),
        Sh = os:find_executable("sh"),
        {Node, Args, Init} = reactor_config:node_init({ctx, 1}, #{protocol => Ts, node => Sh,
                                                                 node_args => ["--max-old-space-size=64"],
                                                                 idle_timeout => 7}),
        ?assertEqual(Sh, Node),
        ?assertEqual(["--max-old-space-size=64", filename:join(code:priv_dir(reactor), "reactor_port.js")], Args),
        ?assertMatch(#{context := <<"{ctx,1}">>, protocol := _, setup_code := <<>>, typecheck := false,
                       read_size := 1048576, write_high_water := 1048576, callback_timeout := 0,
                       idle_timeout := 7, tls := nil, telemetry := _}, Init),
        %% a binary node path, as from a config file, is a path all the same
        ?assertMatch({Sh, _, _}, reactor_config:node_init(x, #{protocol => Ts, node => list_to_binary(Sh)}))
    end).

node_init_errors_test() ->
    P = #{setup_code => "x"},
    ?assertEqual({node_not_found, "/no/such/node"},
                 thrown(fun() -> reactor_config:node_init(x, P#{node => "/no/such/node"}) end)),
    ?assertEqual({node_not_found, "no-such-node-on-the-path"},
                 thrown(fun() -> reactor_config:node_init(x, P#{node => "no-such-node-on-the-path"}) end)),
    %% hot_wait is checked before anything starts: the pump takes at most a second
    [?assertEqual({bad_option, {hot_wait, W}},
                  thrown(fun() -> reactor_config:node_init(x, P#{hot_wait => W}) end))
     || W <- [-1, 1000001, 1.5, infinity]],
    ?assertMatch({_, _, #{}}, reactor_config:node_init(x, P#{hot_wait => 1000000, node => os:find_executable("sh")})),
    %% the pump's policy while it waits for Node: one of two atoms
    [?assertEqual({bad_option, {await_policy, V}},
                  thrown(fun() -> reactor_config:node_init(x, P#{await_policy => V}) end))
     || V <- [idle, other, "batch", 3]],
    [?assertMatch({_, _, #{}}, reactor_config:node_init(x, P#{await_policy => V, node => os:find_executable("sh")}))
     || V <- [batch, normal]],
    %% sizes and timeouts: integers Node and the poller take, or a clear error
    [?assertEqual({bad_option, {K, V}}, thrown(fun() -> reactor_config:node_init(x, P#{K => V}) end))
     || K <- [write_high_water, callback_timeout, idle_timeout, close_timeout, linger_timeout, linger_max_bytes],
        V <- [-1, 1.5, infinity, 1 bsl 31, 1 bsl 64]],
    [?assertEqual({bad_option, {read_size, V}}, thrown(fun() -> reactor_config:node_init(x, P#{read_size => V}) end))
     || V <- [0, (16 bsl 20) + 1]],
    ?assertMatch({_, _, #{linger_timeout := 16#7fffffff, read_size := 16 bsl 20}},
                 reactor_config:node_init(x, P#{linger_timeout => 16#7fffffff, read_size => 16 bsl 20,
                                                node => os:find_executable("sh")})),
    ?assertEqual(no_protocol_given,
                 thrown(fun() -> reactor_config:node_init(x, #{node => os:find_executable("sh")}) end)).
