-module(reactor_wire_tests).
-include_lib("eunit/include/eunit.hrl").

enc(T) -> term_to_binary(T).

decodes_node_messages_test() ->
    ?assertEqual({ok, ready}, reactor_wire:decode(enc([<<"ready">>]))),
    ?assertEqual({ok, {nack, 5, fd_missing}}, reactor_wire:decode(enc([<<"nack">>, 5, <<"fd_missing">>]))),
    ?assertEqual({ok, {nack, 5, refused}}, reactor_wire:decode(enc([<<"nack">>, 5, <<"whatever">>]))),
    ?assertEqual({ok, {log, warning, undefined, <<"hi">>}},
                 reactor_wire:decode(enc([<<"log">>, <<"warning">>, nil, <<"hi">>]))),
    ?assertEqual({ok, {stats, #{connections => 2, bytes_in => 1099511627776}}},
                 reactor_wire:decode(enc([<<"stats">>, #{<<"connections">> => 2,
                                                         <<"bytes_in">> => 1099511627776.0,
                                                         <<"bogus">> => 1}]))),
    ?assertMatch({ok, {load_error, protocol_compile,
                       [#{file := <<"a.ts">>, line := 3, column := 7, text := <<"x">>}]}},
                 reactor_wire:decode(enc([<<"load_error">>, <<"protocol_compile">>,
                                          [#{<<"file">> => <<"a.ts">>, <<"line">> => 3,
                                             <<"column">> => 7, <<"text">> => <<"x">>}]]))).

malformed_messages_are_errors_test() ->
    %% actions travel in binary batches now (reactor_poller_tests): on the port they are errors
    Bad = [[<<"act">>, [1, <<"close">>]], [<<"ack">>, 1, <<"read_pending">>],
           [<<"log">>, <<"shout">>, nil, <<"x">>], [<<"log">>, <<"info">>, <<"id">>, <<"x">>],
           {ready}, [<<"unknown">>], 42, [<<"stats">>, #{<<"events">> => -1}]],
    [?assertMatch({error, {malformed, _}}, reactor_wire:decode(enc(B))) || B <- Bad],
    ?assertMatch({error, {bad_etf, _}}, reactor_wire:decode(<<131, 255, 1, 2>>)),
    ?assertMatch({error, {frame_too_large, _}},
                 reactor_wire:decode(binary:copy(<<0>>, reactor_wire:max_frame() + 1))).

%% Nothing Node sends becomes an atom: 100,000 distinct bogus names, no new atoms.
no_atoms_from_node_test() ->
    Frames = [enc([<<"nack">>, I, <<"bogus_reason_", (integer_to_binary(I))/binary>>])
              || I <- lists:seq(1, 100000)],
    Logs = [enc([<<"log">>, <<"level_", (integer_to_binary(I))/binary>>, nil, <<"x">>])
            || I <- lists:seq(1, 1000)],
    Before = erlang:system_info(atom_count),
    [{ok, {nack, _, refused}} = reactor_wire:decode(F) || F <- Frames],
    [{error, _} = reactor_wire:decode(F) || F <- Logs],
    ?assertEqual(Before, erlang:system_info(atom_count)).

%% An atom Node should not be able to make is refused by binary_to_term's safe mode.
new_atoms_in_etf_are_refused_test() ->
    Name = <<"never_seen_atom_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    Frame = <<131, 108, 1:32, 119, (byte_size(Name)), Name/binary, 106>>,
    ?assertMatch({error, {bad_etf, _}}, reactor_wire:decode(Frame)).

%% Seeded random and mutated frames: only {ok, _} or {error, _}, never a crash.
%% `make fuzz` sets FUZZ_CASES much higher.
fuzz_test_() ->
    N = list_to_integer(os:getenv("FUZZ_CASES", "20000")),
    {timeout, 3600, fun() -> fuzz(N, 42) end}.

fuzz(N, Seed) ->
    rand:seed(exsss, {Seed, Seed, Seed}),
    Good = [enc([<<"act">>, [1, <<"read_pending">>, 2, <<"close">>]]),
            enc([<<"ack">>, 7, <<"write_pending">>]),
            enc([<<"log">>, <<"error">>, 3, <<"some text">>]),
            enc([<<"stats">>, #{<<"events">> => 5}])],
    Before = erlang:system_info(atom_count),
    lists:foreach(
      fun(I) ->
              F = case I rem 3 of
                      0 -> rand:bytes(rand:uniform(64));
                      _ -> mutate(lists:nth(1 + I rem length(Good), Good))
                  end,
              case reactor_wire:decode(F) of
                  {ok, _} -> ok;
                  {error, _} -> ok
              end
      end, lists:seq(1, N)),
    ?assertEqual(Before, erlang:system_info(atom_count)).

mutate(B) ->
    Pos = rand:uniform(byte_size(B)) - 1,
    <<H:Pos/binary, _, T/binary>> = B,
    <<H/binary, (rand:uniform(256) - 1), T/binary>>.

sockaddr_decoding_test() ->
    In4 = <<2:16/native, 8080:16/big, 127, 0, 0, 1, 0:64>>,
    ?assertEqual({inet, <<"127.0.0.1">>, 8080}, reactor_acceptor:decode_sockaddr(In4)),
    In6 = <<10:16/native, 443:16/big, 0:32, 0:120, 1, 0:32>>,
    ?assertEqual({inet6, <<"::1">>, 443}, reactor_acceptor:decode_sockaddr(In6)),
    ?assertEqual(unknown, reactor_acceptor:decode_sockaddr(<<1:16/native, "/tmp/x">>)).
