%% The term bridge, judged from the Erlang side: PropEr generates terms,
%% reactor_term:encode/1 sends each to a real `node' running ts/term.ts
%% (test/ts/term-echo.ts, bundled with esbuild for the run), Node decodes and
%% encodes it back, and reactor_term:decode/1 must give the very same term.
%% One Node process serves every case over a {packet, 4} port.
%% PROPER_NUMTESTS sets the number of cases (3000 by default).
-module(reactor_term_prop_tests).
%% The generators: reactor_bridge_SUITE sends the same terms through a context.
-export([g_term/1]).

-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

-define(TIMEOUT, 10000).

numtests() -> list_to_integer(os:getenv("PROPER_NUMTESTS", "3000")).

%%% Node

start() ->
    Fds = reactor_test_lib:fd_count(),
    Root = reactor_test_lib:root(),
    Dir = filename:join(os:getenv("TMPDIR", "/tmp"),
                        "reactor_term_" ++ integer_to_list(erlang:unique_integer([positive]))),
    Script = filename:join(Dir, "term-echo.js"),
    Esbuild = filename:join(Root, "node_modules/.bin/esbuild"),
    Out = os:cmd(Esbuild ++ " --bundle --platform=node --log-level=warning --outfile='" ++ Script ++ "' '"
                 ++ filename:join(Root, "test/ts/term-echo.ts") ++ "' 2>&1"),
    ?assertEqual({"", true}, {Out, filelib:is_regular(Script)}),
    Port = open_port({spawn_executable, os:find_executable("node")},
                     [{args, [Script]}, {packet, 4}, binary, exit_status, use_stdio]),
    {ok, Limits} = reactor_term:decode(answer(Port)),
    #{port => Port, setup => self(), dir => Dir, fds => Fds, limits => Limits,
      helper => spawn(fun() -> receive stop -> ok end end)}.

stop(#{port := Port, dir := Dir, fds := Fds, helper := Helper}) ->
    Helper ! stop,
    port_close(Port),
    ok = file:del_dir_r(Dir),
    %% the port's pipes are closed: no fd is left behind
    ?assertEqual(Fds, reactor_test_lib:settled_fd_count()).

%% What Node answers for Bin, or its error as a test failure.
echo(Port, Bin) ->
    true = port_command(Port, Bin),
    answer(Port).

answer(Port) ->
    receive
        {Port, {data, <<0, Term/binary>>}} -> Term;
        {Port, {data, <<1, Error/binary>>}} -> error({node, Error});
        {Port, {exit_status, S}} -> error({node_exited, S})
    after ?TIMEOUT -> error(node_timeout)
    end.

%%% Generators (named g_*: proper.hrl imports integer/0, binary/0...)

%% Atoms this node has: every one is written in this module.
g_atom() ->
    oneof([ok, error, true, false, undefined, nil, null, '', 'hello world', 'héllo', '日本',
           '😀', limits, 'Elixir.Reactor', 'other@box']).

g_integer() ->
    oneof([integer(), integer(-16#80000000, 16#7fffffff),
           %% both sides of JavaScript's safe integers, and bignums of any size up to 3000 bits
           ?LET({S, D}, {oneof([1, -1]), integer(-3, 3)}, S * ((1 bsl 53) + D)),
           ?LET({S, Bits, Low}, {oneof([1, -1]), integer(32, 3000), non_neg_integer()},
                S * ((1 bsl Bits) + Low))]).

g_float() ->
    oneof([float(), ?LET(I, integer(), float(I)), ?LET(I, g_integer(), safe_float(I)),
           oneof([0.0, -0.0, 1.0, -1.0, 0.5, 5.0e-324, 1.0e300, -1.7976931348623157e308,
                  9007199254740991.0, 9007199254740992.0, 1.0e15])]).

safe_float(I) when abs(I) < 1 bsl 1000 -> float(I);
safe_float(_) -> 2.5.

g_binary() ->
    oneof([binary(), utf8(), bitstring(),
           %% never UTF-8
           ?LET(B, binary(), <<16#ff, B/binary, 16#c3>>)]).

g_pid(Helper) ->
    oneof([self(), Helper, list_to_pid("<0.0.0>"),
           ?LET({Id, Serial, Creation}, {integer(0, 16#fffffff), integer(0, 8191), integer(0, 16#ffffffff)},
                binary_to_term(<<131, 88, 119, 9, "other@box", Id:32, Serial:32, Creation:32>>))]).

g_ref() ->
    oneof([?LET(_, integer(), make_ref()), ?LET(_, integer(), erlang:alias()),
           ?LET({Creation, A, B, C}, {integer(0, 16#ffffffff), integer(0, 16#3ffff), integer(0, 16#ffffffff),
                                      integer(0, 16#ffffffff)},
                binary_to_term(<<131, 90, 3:16, 119, 9, "other@box", Creation:32, A:32, B:32, C:32>>))]).

g_port() ->
    oneof([hd(erlang:ports()), lists:last(erlang:ports()),
           ?LET({Id, Creation}, {integer(0, 16#ffffffffffff), integer(0, 16#ffffffff)},
                binary_to_term(<<131, 120, 119, 9, "other@box", Id:64, Creation:32>>))]).

g_leaf(Helper) ->
    oneof([g_integer(), g_float(), g_binary(), g_atom(), g_pid(Helper), g_ref(), g_port()]).

%% Terms of up to 5 levels, containers of up to 6 elements (PropEr's size
%% halves at each level); now and then a tuple past 255 elements or a map past
%% 32 keys (Erlang's hash map), both of leaves.
g_term(Helper) ->
    frequency([{30, ?SIZED(Size, g_term(Helper, Size))},
               {1, ?LET(L, vector(300, g_leaf(Helper)), list_to_tuple(L))},
               {1, ?LET(L, vector(40, {g_leaf(Helper), g_leaf(Helper)}), maps:from_list(L))}]).

g_term(Helper, Size) when Size =< 1 -> g_leaf(Helper);
g_term(Helper, Size) ->
    Sub = ?LAZY(g_term(Helper, Size div 2)),
    Some = fun(G) -> ?LET(N, integer(0, 6), vector(N, G)) end,
    frequency([{4, g_leaf(Helper)},
               {2, Some(Sub)},
               {1, Some(integer(0, 255))},
               {1, ?LET(L, Some(Sub), list_to_tuple(L))},
               {1, ?LET({H, L, T}, {Sub, Some(Sub), g_leaf(Helper)}, [H | L] ++ T)},
               {1, ?LET(L, Some({Sub, Sub}), maps:from_list(L))}]).

%%% Properties

prop_echo(#{port := Port, helper := Helper}) ->
    ?FORALL(T, g_term(Helper),
            holds(fun() ->
                          {ok, Bin} = reactor_term:encode(T),
                          {ok, Back} = reactor_term:decode(echo(Port, Bin)),
                          %% =:= and the same encoding: OTP 25's =:= does not tell -0.0 from 0.0
                          ?WHENFAIL(io:format(user, "sent ~p~nback ~p~n", [T, Back]),
                                    Back =:= T andalso
                                        term_to_binary(Back, [deterministic]) =:=
                                            term_to_binary(T, [deterministic]))
                  end)).

%% An atom only Node has, anywhere in a term: the sender hears its name,
%% and the atom is not made here.
prop_unknown_atom(#{port := Port, helper := Helper}) ->
    ?FORALL({Suffix, T}, {utf8(20), g_term(Helper)},
            holds(fun() ->
                          Name = <<"reactor_term_never_",
                                   (integer_to_binary(erlang:unique_integer([positive])))/binary, Suffix/binary>>,
                          {ok, Bin} = reactor_term:encode({'$with_atom', Name, T}),
                          Result = reactor_term:decode(echo(Port, Bin)),
                          ?WHENFAIL(io:format(user, "~p~n", [Result]),
                                    Result =:= {error, {unknown_atom, Name}} andalso not exists(Name))
                  end)).

%% Debian's PropEr 1.2 calls erlang:get_stacktrace/0, gone since OTP 23, when a
%% property raises: these properties report what was raised and fail instead.
holds(Fun) ->
    try
        Fun()
    catch
        C:R:S ->
            io:format(user, "~p:~p~n~p~n", [C, R, S]),
            false
    end.

exists(Name) ->
    try binary_to_existing_atom(Name, utf8) of _ -> true catch error:badarg -> false end.

%%% Tests

bridge_test_() ->
    {setup, fun start/0, fun stop/1,
     fun(Ctx) ->
             [{"Node's bounds are Erlang's", fun() -> limits(Ctx) end},
              {timeout, 900, {"PropEr: terms go to Node and back equal",
                              owner(Ctx, fun() -> check(prop_echo(Ctx), numtests()) end)}},
              {timeout, 900, {"PropEr: an atom Node made is named, never created",
                              owner(Ctx, fun() -> check(prop_unknown_atom(Ctx), numtests() div 6) end)}},
              {"the deepest term Node takes, and one level more", owner(Ctx, fun() -> depth(Ctx) end)},
              {"Node's decoding errors reach Erlang as text", owner(Ctx, fun() -> node_errors(Ctx) end)}]
     end}.

%% Each test runs in a process of its own: Node's answers go there while it
%% runs, then back to the setup's process (a port closes with its owner).
owner(#{port := Port, setup := Setup}, Test) ->
    fun() ->
            true = erlang:port_connect(Port, self()),
            try Test() after erlang:port_connect(Port, Setup), unlink(Port) end
    end.

check(Prop, N) ->
    ?assertEqual(true, proper:quickcheck(Prop, [{numtests, N}, long_result, quiet])),
    io:format(user, "~n    PropEr: ~b cases passed~n", [N]).

limits(#{limits := Limits}) ->
    ?assertEqual({limits, reactor_term:max_size(), reactor_term:max_depth(), 4194296}, Limits),
    %% MAX_BIG_BYTES is Erlang's own largest integer: one byte more and binary_to_term refuses it
    Big = fun(N) -> <<131, 111, N:32, 0, (binary:copy(<<255>>, N))/binary>> end,
    ?assertMatch({ok, _}, reactor_term:decode(Big(4194296))),
    ?assertEqual({error, badarg}, reactor_term:decode(Big(4194297))).

depth(#{port := Port}) ->
    Deepest = nest(reactor_term:max_depth()),
    {ok, Bin} = reactor_term:encode(Deepest),
    ?assertEqual({ok, Deepest}, reactor_term:decode(echo(Port, Bin))),
    ?assertEqual({error, {too_deep, 1000}}, reactor_term:encode(nest(1001))),
    ?assertEqual({error, {too_deep, 1000}}, reactor_term:encode(#{k => {[nest(999)]}})),
    %% Node refuses it too, when it comes by another way than encode/1
    ?assertError({node, <<"RangeError: the term nests deeper than 1000 levels", _/binary>>},
                 echo(Port, term_to_binary(nest(1001)))).

node_errors(#{port := Port}) ->
    ?assertError({node, <<"TypeError: a fun at byte 1: funs do not cross the bridge", _/binary>>},
                 echo(Port, term_to_binary(fun lists:map/2))),
    ?assertError({node, <<"SyntaxError: malformed term at byte 1: unknown tag 255">>}, echo(Port, <<131, 255>>)).

nest(1) -> [];
nest(N) -> [nest(N - 1)].

%% Erlang only: bounds and malformed input.
encode_bounds_test() ->
    Max = reactor_term:max_size(),
    ?assertMatch({ok, B} when byte_size(B) =:= Max, reactor_term:encode(binary:copy(<<0>>, Max - 6))),
    ?assertEqual({error, {too_large, Max + 1}}, reactor_term:encode(binary:copy(<<0>>, Max - 5))),
    F = fun() -> ok end,
    ?assertEqual({error, {unsupported, F}}, reactor_term:encode({ok, [#{a => F}]})).

decode_bounds_test() ->
    Max = reactor_term:max_size(),
    ?assertEqual({error, {too_large, Max + 1}}, reactor_term:decode(binary:copy(<<131>>, Max + 1))),
    ?assertEqual({error, {too_large, 16#ffffffff + 1}},
                 reactor_term:decode(<<131, 80, 16#ffffffff:32, (zlib:compress(<<97, 1>>))/binary>>)),
    %% one term and nothing after it
    ?assertEqual({error, badarg}, reactor_term:decode(<<131, 97, 1, 2>>)),
    ?assertEqual({error, badarg}, reactor_term:decode(<<131, 255>>)),
    ?assertEqual({error, badarg}, reactor_term:decode(not_a_binary)),
    ?assertEqual({ok, [1, 2]}, reactor_term:decode(term_to_binary([1, 2]))).

unknown_atoms_test() ->
    Name = <<"reactor_term_never_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    N = byte_size(Name),
    Unknown = {error, {unknown_atom, Name}},
    %% as a node's name, in a pid, a port and a reference
    ?assertEqual(Unknown, reactor_term:decode(<<131, 88, 119, N, Name/binary, 1:32, 0:32, 0:32>>)),
    ?assertEqual(Unknown, reactor_term:decode(<<131, 120, 119, N, Name/binary, 1:64, 0:32>>)),
    ?assertEqual(Unknown, reactor_term:decode(<<131, 104, 2, 97, 1, 90, 2:16, 119, N, Name/binary, 0:32, 1:32, 2:32>>)),
    %% after a map, a binary and a bignum; in a compressed term
    Inner = <<104, 4, 116, 1:32, 97, 1, 97, 2, 109, 3:32, "abc", 110, 1, 0, 5, 119, N, Name/binary>>,
    ?assertEqual(Unknown, reactor_term:decode(<<131, Inner/binary>>)),
    ?assertEqual(Unknown, reactor_term:decode(<<131, 80, (byte_size(Inner)):32, (zlib:compress(Inner))/binary>>)),
    %% Latin-1 names (ATOM_EXT) are given in UTF-8
    ?assertEqual({error, {unknown_atom, <<"caf", 16#c3, 16#a9, Name/binary>>}},
                 reactor_term:decode(<<131, 100, (N + 4):16, "caf", 16#e9, Name/binary>>)),
    ?assertNot(exists(Name)).

%% Seeded random and mutated binaries: {ok, _} or {error, _}, never a crash or a new atom.
fuzz_test_() ->
    N = list_to_integer(os:getenv("FUZZ_CASES", "20000")),
    {timeout, 3600, fun() -> fuzz(N, 19) end}.

fuzz(N, Seed) ->
    rand:seed(exsss, {Seed, Seed, Seed}),
    Good = [term_to_binary(T) || T <- [{ok, [1, 2.5, <<"x">>], #{a => self()}}, [make_ref(), hd(erlang:ports()) | x],
                                       {1 bsl 70, 'héllo', "abc", <<1:3>>}]],
    Before = erlang:system_info(atom_count),
    lists:foreach(
      fun(I) ->
              B = case I rem 3 of
                      0 -> <<131, (rand:bytes(rand:uniform(64)))/binary>>;
                      _ -> mutate(lists:nth(1 + I rem length(Good), Good))
                  end,
              case reactor_term:decode(B) of
                  {ok, _} -> ok;
                  {error, {unknown_atom, Name}} when is_binary(Name) -> ok;
                  {error, {too_large, _}} -> ok;
                  {error, badarg} -> ok
              end
      end, lists:seq(1, N)),
    ?assertEqual(Before, erlang:system_info(atom_count)).

mutate(B) ->
    Pos = 1 + rand:uniform(byte_size(B) - 1) - 1,
    <<H:Pos/binary, _, T/binary>> = B,
    <<H/binary, (rand:uniform(256) - 1), T/binary>>.
