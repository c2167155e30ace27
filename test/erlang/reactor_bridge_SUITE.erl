%% The bridge, end to end: a real context running test/fixtures/bridge.ts.
%% Erlang calls its exported functions and evals TypeScript in it
%% (reactor_context:call/4, eval/3) with every result and error; TypeScript
%% calls Erlang functions (beam.call: the context's handlers, the node's),
%% sends to processes (beam.send) and knows its pid (beam.self); nothing
%% blocks the context's traffic, every queue is bounded, and calls to a
%% context that is gone or going say not_running. Ends with PropEr: terms
%% through reactor_context:call(Ctx, <<"echo">>, [T]) come back equal.
-module(reactor_bridge_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [start_ctx/2, connect/1, fixture/1]).

all() ->
    [call_results, call_exception_has_the_ts_line, call_timeout_drops_the_late_result,
     calls_run_beside_traffic_and_each_other, call_overloaded, call_bad_args_raise,
     call_not_running, call_survives_a_reload_and_a_replace, eval_values, eval_errors,
     beam_call_context_handlers, beam_call_node_functions, beam_call_failures,
     beam_call_timeout_kills_the_worker, beam_send, beam_self, beam_call_flood,
     options_are_checked, echo_property, large_frames_beside_small_ones].

suite() -> [{timetrap, {minutes, 5}}].

init_per_testcase(_, Config) ->
    [{fds, reactor_test_lib:settled_fd_count()} | Config].

%% No case leaves an fd behind (its contexts are stopped by then).
end_per_testcase(_, Config) ->
    ?assertEqual(?config(fds, Config), reactor_test_lib:settled_fd_count()).

ctx(Id) -> ctx(Id, #{}).
ctx(Id, Opts) -> start_ctx(Id, Opts#{protocol => fixture("bridge.ts")}).

call(Ctx, F, Args) -> reactor_context:call(Ctx, F, Args).

%%% Erlang calls TypeScript

%% Every kind of result: a value (terms as docs/bridge.md tables them), a
%% Promise awaited, a throw, a rejection, a non-Error thrown, a value that
%% cannot cross, a name nothing exports.
call_results(_Config) ->
    Ctx = ctx(results),
    ?assertEqual({ok, 42}, call(Ctx, add, [40, 2])),
    ?assertEqual({ok, 42}, call(Ctx, "add", [40, 2])),
    T = {ok, <<0, 255>>, [1 | 2], #{k => 1.0}, 1 bsl 80, self(), make_ref()},
    ?assertEqual({ok, T}, call(Ctx, <<"echo">>, [T])),
    ?assertEqual({ok, later}, call(Ctx, later, [50, later])),
    {error, {exception, <<"Error: rejected later">>, Stack}} = call(Ctx, reject, []),
    ?assertMatch({match, _}, re:run(Stack, "bridge\\.ts:\\d+")),
    ?assertEqual({error, {exception, <<"non-Error thrown: \"a string\"">>, <<>>}}, call(Ctx, throwsString, [])),
    ?assertMatch({error, {exception, <<"TypeError: result.user.tags[2]: cannot encode a function">>, _}},
                 call(Ctx, unencodable, [])),
    ?assertEqual({error, {no_function, <<"nope">>}}, call(Ctx, nope, [])),
    %% the default export is the protocol, never a function to call; inherited is not exported
    ?assertEqual({error, {no_function, <<"default">>}}, call(Ctx, default, [])),
    ?assertEqual({error, {no_function, <<"toString">>}}, call(Ctx, toString, [])),
    ?assertEqual({error, {no_function, <<"hasOwnProperty">>}}, call(Ctx, hasOwnProperty, [])),
    %% the context is none the worse
    ?assertEqual({ok, 3}, call(Ctx, add, [1, 2])),
    ?assertMatch(#{calls_in_flight := 0}, reactor_context:info(Ctx)),
    ok = reactor_context:stop(Ctx).

%% Node reads its input itself, 64 KiB a read and 1 MiB a readable event
%% (ts/port-input.ts): a frame many times that size arrives over several events
%% and is taken whole, in order with the small frames around it, from
%% callers running at once.
large_frames_beside_small_ones(_Config) ->
    Ctx = ctx(large),
    Self = self(),
    Big = [crypto:strong_rand_bytes(N) || N <- [3 bsl 20, (5 bsl 20) + 7, 1 bsl 16]],
    Pids = [spawn_link(fun() -> Self ! {self(), call(Ctx, <<"echo">>, [B])} end) || B <- Big]
        ++ [spawn_link(fun() -> Self ! {self(), call(Ctx, add, [I, 1])} end) || I <- lists:seq(1, 20)],
    Results = [receive {P, R} -> R after 30000 -> ct:fail({no_answer, P}) end || P <- Pids],
    ?assertEqual([{ok, B} || B <- Big] ++ [{ok, I + 1} || I <- lists:seq(1, 20)], Results),
    ?assertEqual({ok, 3}, call(Ctx, add, [1, 2])),
    ok = reactor_context:stop(Ctx).

%% The stack of a throw names the .ts line, source-mapped (fixture line 38).
call_exception_has_the_ts_line(_Config) ->
    Ctx = ctx(ts_line),
    {error, {exception, Message, Stack}} = call(Ctx, fail, []),
    ?assertEqual(<<"RangeError: no such thing">>, Message),
    ?assertMatch({match, _}, re:run(Stack, "at fail \\(.*test/fixtures/bridge\\.ts:38:\\d+\\)")),
    ok = reactor_context:stop(Ctx).

%% A call that takes too long is {error, timeout} at its timeout; its
%% result, when it comes, is dropped: nothing reaches the caller later, and
%% the next calls are answered as usual.
call_timeout_drops_the_late_result(_Config) ->
    Ctx = ctx(timeout),
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual({error, timeout}, reactor_context:call(Ctx, later, [300, late], 100)),
    Took = erlang:monotonic_time(millisecond) - T0,
    ?assert(Took >= 100 andalso Took < 1000),
    ?assertEqual({error, timeout}, reactor_context:call(Ctx, forever, [], 50)),
    timer:sleep(400), % the late result arrives meanwhile
    receive Stray -> ct:fail({stray, Stray}) after 0 -> ok end,
    ?assertEqual({ok, 5}, call(Ctx, add, [2, 3])),
    ?assertMatch(#{calls_in_flight := 0}, reactor_context:info(Ctx)),
    ok = reactor_context:stop(Ctx).

%% Slow calls in flight hold up neither the connections nor each other:
%% 20 calls of 300 ms each take about 300 ms together, and a client's pings
%% are answered meanwhile.
calls_run_beside_traffic_and_each_other(_Config) ->
    Ctx = ctx(beside),
    {L, Port} = reactor_test_lib:listen(Ctx),
    C = connect(Port),
    Self = self(),
    T0 = erlang:monotonic_time(millisecond),
    Callers = [spawn_link(fun() -> Self ! {done, I, call(Ctx, later, [300, I])} end) || I <- lists:seq(1, 20)],
    timer:sleep(50),
    Pings = [ping(C) || _ <- lists:seq(1, 20)],
    ?assert(lists:all(fun(Ms) -> Ms < 200 end, Pings)),
    Results = [receive {done, I, R} -> R after 5000 -> timeout end || I <- lists:seq(1, 20)],
    ?assertEqual([{ok, I} || I <- lists:seq(1, 20)], Results),
    Took = erlang:monotonic_time(millisecond) - T0,
    ct:log("pings ~p ms; 20 calls of 300 ms took ~b ms together", [Pings, Took]),
    ?assert(Took < 1500),
    [unlink(P) || P <- Callers],
    gen_tcp:close(C),
    ok = reactor_test_lib:done(Ctx, L).

%% ms for one ping's pong
ping(C) ->
    T0 = erlang:monotonic_time(millisecond),
    ok = gen_tcp:send(C, <<"ping\n">>),
    {ok, <<"pong\n">>} = reactor_test_lib:recv_exact(C, 5, 5000),
    erlang:monotonic_time(millisecond) - T0.

%% Past `max_calls' in flight a call is refused at once; room again once one ends.
call_overloaded(_Config) ->
    Ctx = ctx(overloaded, #{max_calls => 4}),
    Self = self(),
    [spawn(fun() -> Self ! {slow, call(Ctx, later, [400, x])} end) || _ <- lists:seq(1, 4)],
    wait_until(fun() -> maps:get(calls_in_flight, reactor_context:info(Ctx)) =:= 4 end),
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual({error, overloaded}, call(Ctx, add, [1, 1])),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 100),
    [receive {slow, R} -> ?assertEqual({ok, x}, R) after 5000 -> ct:fail(slow_calls) end || _ <- lists:seq(1, 4)],
    ?assertEqual({ok, 2}, call(Ctx, add, [1, 1])),
    %% calls whose callers gave up hold no room: Node never answers these
    [?assertEqual({error, timeout}, reactor_context:call(Ctx, forever, [], 20)) || _ <- lists:seq(1, 4)],
    ?assertMatch(#{calls_in_flight := 0}, reactor_context:info(Ctx)),
    ?assertEqual({ok, 2}, call(Ctx, add, [1, 1])),
    ok = reactor_context:stop(Ctx).

%% Args that cannot cross raise at the call site, as encodeTerm throws in
%% TypeScript; nothing is sent.
call_bad_args_raise(_Config) ->
    Ctx = ctx(bad_args),
    ?assertError({bad_term, {unsupported, _}}, call(Ctx, echo, [fun() -> ok end])),
    ?assertError({bad_term, {too_deep, 1000}}, call(Ctx, echo, [nest(1000)])),
    %% the bound is each argument's: 1000 levels cross, and come back
    ?assertEqual({ok, nest(999)}, call(Ctx, echo, [nest(999)])),
    ?assertError(function_clause, call(Ctx, echo, not_a_list)),
    %% a name that is no name, a timeout receive cannot wait: the caller's error, not not_running
    ?assertError(function_clause, call(Ctx, 42, [])),
    ?assertError(function_clause, reactor_context:call(Ctx, echo, [1], -1)),
    ?assertError(function_clause, reactor_context:call(Ctx, echo, [1], 1 bsl 40)),
    ?assertError(function_clause, reactor_context:eval(Ctx, "1", -1)),
    ?assertMatch(#{calls_in_flight := 0}, reactor_context:info(Ctx)),
    ok = reactor_context:stop(Ctx).

nest(0) -> [];
nest(N) -> [nest(N - 1)].

%% A context that is gone, stopping, or that stops while a call waits:
%% not_running, at once, never a hang or an exit of the caller.
call_not_running(_Config) ->
    Ctx = ctx(not_running),
    Self = self(),
    spawn(fun() -> Self ! {waited, call(Ctx, forever, [])} end),
    spawn(fun() -> Self ! {eval_waited, reactor_context:eval(Ctx, "new Promise(() => {})", infinity)} end),
    wait_until(fun() -> maps:get(calls_in_flight, reactor_context:info(Ctx)) =:= 2 end),
    T0 = erlang:monotonic_time(millisecond),
    ok = reactor_context:stop(Ctx),
    receive {waited, R} -> ?assertEqual({error, not_running}, R) after 5000 -> ct:fail(hang) end,
    receive {eval_waited, R2} -> ?assertEqual({error, not_running}, R2) after 5000 -> ct:fail(hang) end,
    ?assert(erlang:monotonic_time(millisecond) - T0 < 3000),
    ?assertEqual({error, not_running}, call(Ctx, add, [1, 2])),
    ?assertEqual({error, not_running}, reactor_context:eval(Ctx, "1")),
    ?assertEqual({error, not_running}, call(no_such_context, add, [1, 2])),
    %% a context killed outright
    Ctx2 = ctx(killed),
    spawn(fun() -> Self ! {killed, call(Ctx2, forever, [])} end),
    wait_until(fun() -> maps:get(calls_in_flight, reactor_context:info(Ctx2)) =:= 1 end),
    OsPid = reactor_test_lib:os_pid(Ctx2),
    exit(Ctx2, kill),
    receive {killed, R3} -> ?assertEqual({error, not_running}, R3) after 5000 -> ct:fail(hang) end,
    %% its Node goes with its port
    wait_until(fun() -> not reactor_test_lib:os_alive(OsPid) end).

%% A reload replaces the functions Erlang may call; a replace hands the calls
%% in flight to the old Node's drain, which still answers them.
call_survives_a_reload_and_a_replace(Config) ->
    Dir = ?config(priv_dir, Config),
    File = filename:join(Dir, "v.ts"),
    Write = fun(V) ->
                    ok = file:write_file(File, [<<"import { Protocol } from \"erlang-reactor\";\n"
                                                  "export default class P extends Protocol {}\n"
                                                  "export const version = () => ">>, integer_to_binary(V), <<";\n"
                                                  "export const later = (ms: number, x: unknown) => "
                                                  "new Promise((r) => setTimeout(() => r(x), ms));\n">>])
            end,
    Write(1),
    Ctx = start_ctx(reloaded, #{protocol => File, setup_code => <<"export const fromSetup = () => 's';">>}),
    ?assertEqual({ok, 1}, call(Ctx, version, [])),
    ?assertEqual({ok, <<"s">>}, call(Ctx, fromSetup, [])),
    Write(2),
    {ok, _} = reactor_context:reload(Ctx, #{setup_code => <<>>}),
    ?assertEqual({ok, 2}, call(Ctx, version, [])),
    ?assertEqual({error, {no_function, <<"fromSetup">>}}, call(Ctx, fromSetup, [])),
    Self = self(),
    %% longer than the replace takes: still in flight when the drain takes over
    spawn(fun() -> Self ! {old, reactor_context:call(Ctx, later, [4000, old], 10000)} end),
    wait_until(fun() -> maps:get(calls_in_flight, reactor_context:info(Ctx)) =:= 1 end),
    Write(3),
    ok = reactor_context:replace(Ctx),
    ?assertEqual({ok, 3}, call(Ctx, version, [])),
    %% the old Node had no connection: its drain ended, and the call with it
    receive {old, R} -> ?assertEqual({error, not_running}, R) after 3000 -> ct:fail(hang) end,
    %% a drain that lives: a connection keeps it
    {L, Port} = reactor_test_lib:listen(Ctx),
    C = connect(Port),
    wait_until(fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= 1 end),
    spawn(fun() -> Self ! {drained, call(Ctx, later, [300, drained])} end),
    wait_until(fun() -> maps:get(calls_in_flight, reactor_context:info(Ctx)) =:= 1 end),
    ok = reactor_context:replace(Ctx),
    receive {drained, R2} -> ?assertEqual({ok, drained}, R2) after 5000 -> ct:fail(hang) end,
    gen_tcp:close(C),
    ok = reactor_test_lib:done(Ctx, L).

%%% eval

%% Its value is the completion value of the last statement, a Promise awaited;
%% each snippet is a block of its own; imports as in a protocol module.
eval_values(_Config) ->
    Ctx = ctx(eval),
    E = fun(S) -> reactor_context:eval(Ctx, S) end,
    ?assertEqual({ok, 3}, E("1 + 2")),
    ?assertEqual({ok, 10}, E("const x: number = 5;\nx * 2")),
    ?assertEqual({ok, 12}, E("const x = 6; x * 2")), % the same name again: a block of its own
    ?assertEqual({ok, <<"b">>}, E("let y = 0;\nif (y) { 'a' } else { 'b' }")),
    ?assertEqual({ok, undefined}, E("const z = 1;")),
    ?assertEqual({ok, undefined}, E("function f() {}")), % a declaration: no value, strict or not
    ?assertEqual({ok, undefined}, E("class A {}")),
    ?assertEqual({ok, -0.0}, E("(0, -0)")), % esbuild drops a bare negative literal: docs/bridge.md
    ?assertMatch({error, {exception, <<"ReferenceError: ", _/binary>>, _}}, E("undeclared = 1")), % strict
    ?assertEqual({ok, 7}, E("(async () => { await new Promise((r) => setTimeout(r, 10)); return 7; })()")),
    ?assertEqual({ok, Ctx}, E("import { beam } from \"erlang-reactor\";\nbeam.self()")),
    ?assertEqual({ok, <<"a/b">>}, E("import * as path from \"path\"; path.join(\"a\", \"b\")")),
    ?assertEqual({ok, 9}, E("globalThis.kept = 9")),
    ?assertEqual({ok, 9}, E("(globalThis as any).kept")),
    ?assertEqual({ok, {ok, <<"x">>}}, reactor_context:eval(Ctx, <<"import { atom, tuple } from 'erlang-reactor'; tuple(atom('ok'), 'x')">>, 1000)),
    ok = reactor_context:stop(Ctx).

eval_errors(_Config) ->
    Ctx = ctx(eval_errors),
    E = fun(S) -> reactor_context:eval(Ctx, S) end,
    {error, {exception, <<"Error: x">>, Stack}} = E("const a = 1;\n\nfunction f(): never {\n  throw new Error('x');\n}\nf()"),
    %% the snippet's own line, source-mapped
    ?assertMatch({match, _}, re:run(Stack, "at f \\(eval-\\d+\\.ts:4:\\d+\\)")),
    ?assertMatch({error, {exception, <<"SyntaxError: eval-", _/binary>>, _}}, E("const = ;")),
    ?assertMatch({error, {exception, <<"SyntaxError: ", _/binary>>, _}}, E("await 1")),
    ?assertMatch({error, {exception, <<"Error: later">>, _}}, E("Promise.reject(new Error('later'))")),
    ?assertMatch({error, {exception, <<"TypeError: result.f: cannot encode a function">>, _}}, E("({ f: () => 1 })")),
    ?assertEqual({error, timeout}, reactor_context:eval(Ctx, "new Promise(() => {})", 100)),
    ?assertEqual({ok, 1}, E("1")),
    ok = reactor_context:stop(Ctx).

%%% TypeScript calls Erlang

%% The context's `handlers': funs and {M, F}, each run in a process of its
%% own (never the context's).
beam_call_context_handlers(_Config) ->
    Self = self(),
    Handlers = #{<<"double">> => fun(X) -> 2 * X end,
                 <<"where">> => fun() -> Self ! {ran_in, self()}, node() end,
                 'lists.reverse' => {lists, reverse}, % a name as register_function takes it
                 "triple" => fun(X) -> 3 * X end,
                 <<"auth.check">> => fun(Tok) -> ets:member(?MODULE, Tok) end},
    ets:new(?MODULE, [named_table, public]),
    ets:insert(?MODULE, {<<"good">>}),
    Ctx = ctx(handlers, #{handlers => Handlers}),
    ?assertEqual({ok, 42}, call(Ctx, ask, [<<"double">>, 21])),
    ?assertEqual({ok, [3, 2, 1]}, call(Ctx, ask, [<<"lists.reverse">>, [1, 2, 3]])),
    ?assertEqual({ok, 9}, call(Ctx, ask, [<<"triple">>, 3])),
    ?assertEqual({error, {bad_option, {handlers, #{42 => {lists, reverse}}}}},
                 reactor_context:start(bad_handlers, #{protocol => fixture("bridge.ts"), handlers => #{42 => {lists, reverse}}})),
    ?assertEqual({ok, true}, call(Ctx, ask, [<<"auth.check">>, <<"good">>])),
    ?assertEqual({ok, false}, call(Ctx, ask, [<<"auth.check">>, <<"bad">>])),
    ?assertEqual({ok, node()}, call(Ctx, ask, [<<"where">>])),
    receive {ran_in, Pid} -> ?assertNotEqual(Ctx, Pid), ?assertNot(is_process_alive(Pid)) end,
    ?assertMatch(#{beam_calls_in_flight := 0}, reactor_context:info(Ctx)),
    ets:delete(?MODULE),
    ok = reactor_context:stop(Ctx).

%% reactor:register_function/2 offers a function to every context; a
%% context's own handler of the same name comes first; unregistered, it is gone.
beam_call_node_functions(_Config) ->
    ok = reactor:register_function(<<"node.add">>, fun(A, B) -> A + B end),
    ok = reactor:register_function('node.mfa', {erlang, atom_to_binary}),
    ok = reactor:register_function("shadowed", fun() -> node end),
    ?assertEqual({error, badarg}, reactor:register_function(<<"x">>, not_a_handler)),
    ?assertEqual({error, badarg}, reactor:register_function(<<"x">>, {"m", f})),
    A = ctx(node_fns_a),
    B = ctx(node_fns_b, #{handlers => #{<<"shadowed">> => fun() -> context end}}),
    [?assertEqual({ok, 5}, call(C, ask, [<<"node.add">>, 2, 3])) || C <- [A, B]],
    ?assertEqual({ok, <<"abc">>}, call(A, ask, [<<"node.mfa">>, abc])),
    ?assertEqual({ok, node}, call(A, ask, [<<"shadowed">>])),
    ?assertEqual({ok, context}, call(B, ask, [<<"shadowed">>])),
    ok = reactor:unregister_function(<<"node.add">>),
    ?assertMatch({ok, {<<"ENOFUNCTION">>, _}}, call(A, failureOf, [<<"node.add">>, [2, 3]])),
    [ok = reactor:unregister_function(N) || N <- ['node.mfa', "shadowed"]],
    [ok = reactor_context:stop(C) || C <- [A, B]].

%% A crash rejects with the reason formatted (EEXCEPTION), an unknown name
%% at once (ENOFUNCTION), an atom this node does not have in the args
%% (EBADTERM), a result that cannot cross (EBADTERM).
beam_call_failures(_Config) ->
    Ctx = ctx(failures, #{handlers => #{<<"crash">> => fun(X) -> 1 / X end,
                                        <<"exits">> => fun() -> exit(gone) end,
                                        <<"throws">> => fun() -> throw(ball) end,
                                        <<"a_fun">> => fun() -> fun() -> ok end end,
                                        <<"ok">> => fun(X) -> X end}}),
    {ok, {<<"EEXCEPTION">>, Crash}} = call(Ctx, failureOf, [<<"crash">>, [0]]),
    ?assertMatch({match, _}, re:run(Crash, "^beam.call\\(\"crash\"\\): exception error: an error occurred when evaluating an arithmetic expression")),
    {ok, {<<"EEXCEPTION">>, Exit}} = call(Ctx, failureOf, [<<"exits">>, []]),
    ?assertMatch({match, _}, re:run(Exit, "exception exit: gone")),
    {ok, {<<"EEXCEPTION">>, Throw}} = call(Ctx, failureOf, [<<"throws">>, []]),
    ?assertMatch({match, _}, re:run(Throw, "exception throw: ball")),
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual({ok, {<<"ENOFUNCTION">>, <<"beam.call(\"none\"): no function is registered as \"none\"">>}},
                 call(Ctx, failureOf, [<<"none">>, []])),
    ?assert(erlang:monotonic_time(millisecond) - T0 < 500),
    {ok, [<<"EBADTERM">>, Atom]} = reactor_context:eval(Ctx,
        "import { beam, atom } from 'erlang-reactor';\n"
        "beam.call('ok', atom('surely_not_an_atom_of_this_node')).catch((e) => [e.code, e.message])"),
    ?assertMatch({match, _}, re:run(Atom, "'surely_not_an_atom_of_this_node'")),
    ?assertError(badarg, binary_to_existing_atom(<<"surely_not_an_atom_of_this_node">>)),
    {ok, {<<"EBADTERM">>, Fun}} = call(Ctx, failureOf, [<<"a_fun">>, []]),
    ?assertMatch({match, _}, re:run(Fun, "cannot cross")),
    ?assertEqual({ok, {<<"resolved">>, 1}}, call(Ctx, failureOf, [<<"ok">>, [1]])),
    ok = reactor_context:stop(Ctx).

%% Past its timeout (the context's beam_call_timeout, or the call's own) the
%% call rejects with ECALLTIMEOUT and the function's process is killed.
beam_call_timeout_kills_the_worker(_Config) ->
    Self = self(),
    Slow = fun() -> Self ! {worker, self()}, timer:sleep(infinity) end,
    Ctx = ctx(beam_timeout, #{beam_call_timeout => 200, handlers => #{<<"slow">> => Slow}}),
    T0 = erlang:monotonic_time(millisecond),
    {ok, {<<"ECALLTIMEOUT">>, Why}} = call(Ctx, failureOf, [<<"slow">>, []]),
    Took = erlang:monotonic_time(millisecond) - T0,
    ?assertMatch({match, _}, re:run(Why, "no result within 200 ms")),
    ?assert(Took >= 200 andalso Took < 2000),
    W1 = receive {worker, P1} -> P1 end,
    ?assertNot(is_process_alive(W1)),
    {ok, {<<"ECALLTIMEOUT">>, Why2}} = call(Ctx, failureOf, [<<"slow">>, [], 50]),
    ?assertMatch({match, _}, re:run(Why2, "no result within 50 ms")),
    W2 = receive {worker, P2} -> P2 end,
    ?assertNot(is_process_alive(W2)),
    ?assertMatch(#{beam_calls_in_flight := 0}, reactor_context:info(Ctx)),
    ok = reactor_context:stop(Ctx).

%% To a pid, a registered name (a binary, an atom), {Name, Node}; a name
%% nobody registered, or an atom this node does not have: dropped, counted.
beam_send(_Config) ->
    Ctx = ctx(send),
    Me = self(),
    ?assertEqual({ok, true}, call(Ctx, tell, [Me, {hello, <<0, 255>>}])),
    receive {hello, <<0, 255>>} -> ok after 2000 -> ct:fail(not_sent_to_pid) end,
    register(bridge_suite_sink, Me),
    ?assertEqual({ok, true}, call(Ctx, tell, [<<"bridge_suite_sink">>, by_binary])),
    ?assertEqual({ok, true}, call(Ctx, tell, [bridge_suite_sink, by_atom])),
    ?assertEqual({ok, true}, call(Ctx, tell, [{bridge_suite_sink, node()}, by_tuple])),
    [receive M -> ok after 2000 -> ct:fail({not_sent, M}) end || M <- [by_binary, by_atom, by_tuple]],
    unregister(bridge_suite_sink),
    ?assertEqual({ok, true}, call(Ctx, tell, [<<"nobody_registered_this">>, lost])),
    ?assertEqual({ok, true}, call(Ctx, tell, [<<"no_atom_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>, lost])),
    {ok, true} = reactor_context:eval(Ctx, "import { beam, atom } from 'erlang-reactor'; beam.send(atom('bridge_suite_sink'), atom('not_an_atom_here_either')); true"),
    wait_until(fun() -> maps:get(beam_sends_dropped, reactor_context:info(Ctx)) =:= 3 end),
    ?assertEqual({ok, <<"TypeError: beam.send: the destination is a Pid, a name (an Atom, a string, a binary) or tuple(name, node)">>},
                 call(Ctx, tellBadly, [])),
    receive Stray -> ct:fail({stray, Stray}) after 100 -> ok end,
    ok = reactor_context:stop(Ctx).

%% beam.self() is the context's pid: a function TypeScript calls can call
%% back into the same context through it while TypeScript awaits (neither
%% side blocks on the other).
beam_self(_Config) ->
    Ctx = ctx(self, #{handlers => #{<<"callback">> => fun(Pid) -> reactor_context:call(Pid, add, [1, 2]) end}}),
    ?assertEqual({ok, Ctx}, call(Ctx, me, [])),
    ?assertEqual({ok, {ok, 3}}, reactor_context:eval(Ctx, "import { beam } from 'erlang-reactor'; beam.call('callback', beam.self())")),
    ok = reactor_context:stop(Ctx).

%% 100,000 beam.calls from TypeScript, 1,000 per turn of the event loop,
%% while a client pings the connection: the pings are answered throughout,
%% no more than max_beam_calls are ever in flight, and the calls past it
%% are refused at once (EOVERLOADED, nothing sent).
beam_call_flood(_Config) ->
    Max = 64,
    Ctx = ctx(flood, #{max_beam_calls => Max,
                       handlers => #{<<"work">> => fun(I) -> timer:sleep(2), I end}}),
    {L, Port} = reactor_test_lib:listen(Ctx),
    C = connect(Port),
    Self = self(),
    Flood = spawn_link(fun() -> Self ! {flood, reactor_context:call(Ctx, flood, [<<"work">>, 100000, 1000], 120000)} end),
    Watch = spawn_link(fun() -> watch_in_flight(Ctx, 0) end),
    Pings = pings_until_flood_done(C, []),
    Watch ! {stop, Self},
    MostInFlight = receive {most, M} -> M end,
    {ok, {Resolved, Overloaded, Other, AtOnce}} = receive {flood, R} -> R end,
    ct:log("resolved ~b, overloaded ~b, other ~b; most in flight ~b; ~b pings, slowest ~b ms",
           [Resolved, Overloaded, Other, MostInFlight, length(Pings), lists:max(Pings)]),
    ?assertEqual(100000, Resolved + Overloaded),
    ?assertEqual(0, Other),
    ?assert(Resolved >= Max),
    ?assert(Overloaded > 0),
    ?assert(AtOnce),
    ?assert(MostInFlight =< Max),
    ?assert(length(Pings) >= 5),
    ?assert(lists:max(Pings) < 1000),
    unlink(Flood),
    gen_tcp:close(C),
    ok = reactor_test_lib:done(Ctx, L).

pings_until_flood_done(C, Acc) ->
    receive
        {flood, _} = Done -> self() ! Done, Acc
    after 0 ->
        pings_until_flood_done(C, [ping(C) | Acc])
    end.

watch_in_flight(Ctx, Most) ->
    receive
        {stop, Pid} -> Pid ! {most, Most}
    after 5 ->
        #{beam_calls_in_flight := N} = reactor_context:info(Ctx),
        watch_in_flight(Ctx, max(N, Most))
    end.

%% The bridge's options are checked when the context starts.
options_are_checked(_Config) ->
    P = fixture("bridge.ts"),
    [?assertEqual({error, {bad_option, {K, V}}}, reactor_context:start(bad, #{protocol => P, K => V}))
     || {K, V} <- [{max_calls, 0}, {max_beam_calls, -1}, {beam_call_timeout, infinity},
                   {handlers, #{{not_a_name} => fun() -> ok end}},
                   {handlers, #{<<"x">> => {lists}}}, {handlers, []}]],
    ok.

%%% PropEr

%% Generated terms (reactor_term_prop_tests's generators) go through a real
%% context, reactor_context:call(Ctx, <<"echo">>, [T]), and come back equal
%% (=:= and the same encoding). PROPER_NUMTESTS sets how many (3000).
echo_property(_Config) ->
    Ctx = ctx(echo_property),
    Helper = spawn(fun() -> receive stop -> ok end end),
    N = list_to_integer(os:getenv("PROPER_NUMTESTS", "3000")),
    Prop = proper:forall(reactor_term_prop_tests:g_term(Helper),
                         fun(T) ->
                                 case reactor_context:call(Ctx, <<"echo">>, [T]) of
                                     {ok, Back} ->
                                         Back =:= T andalso
                                             term_to_binary(Back, [deterministic]) =:=
                                                 term_to_binary(T, [deterministic]);
                                     Other ->
                                         ct:log("~p~n-> ~p", [T, Other]),
                                         false
                                 end
                         end),
    ?assertEqual(true, proper:quickcheck(Prop, [{numtests, N}, long_result, quiet])),
    ct:log("PropEr: ~b terms through reactor_context:call and back", [N]),
    Helper ! stop,
    ok = reactor_context:stop(Ctx).

%%% Helpers

wait_until(F) -> wait_until(F, 100).
wait_until(F, 0) -> ?assert(F());
wait_until(F, N) ->
    case F() of
        true -> ok;
        false -> timer:sleep(50), wait_until(F, N - 1)
    end.
