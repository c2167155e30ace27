%% The two codecs of the port protocol (reactor_wire.erl and ts/codec.ts) are
%% held together by golden frames in test/golden/: Erlang writes the frames it
%% sends (to_node_*.etf) and decodes the ones Node sends (from_node_*.etf);
%% test/ts/golden.test.ts does the reverse. A change on one side that the other
%% does not follow fails here or there. REACTOR_GOLDEN=write rewrites this
%% side's files (then commit them and run both suites).
%%
%% The facts C, Erlang and Node share have one home, native/reactor_shared.h:
%% shared_facts_test_ holds Erlang's copies to it (golden.test.ts Node's).
-module(reactor_wire_golden_tests).
-include_lib("eunit/include/eunit.hrl").
-include("../../erlang/src/reactor_limits.hrl").

%% What Erlang sends; golden.test.ts says what Node must make of each.
to_node() ->
    [{"init", reactor_wire:init(#{context => <<"golden">>, channel => <<"/tmp/reactor-1-00/fd.sock">>,
                                  protocol => <<"/srv/echo.ts">>, setup_code => <<>>,
                                  read_size => 1048576, write_high_water => 65536,
                                  callback_timeout => 5000, idle_timeout => 0, close_timeout => 7000,
                                  linger_timeout => 250, linger_max_bytes => 1048576, tls => nil})},
     {"handoff", reactor_wire:handoff(7, #{addr => <<"10.0.0.1">>, port => 4242, type => tcp,
                                           tag => <<"web">>, listener => web},
                                      #{proxy => false, tls => false})},
     {"handoff_proxy_tls", reactor_wire:handoff(8, #{addr => <<"10.0.0.2">>, port => 1}, #{proxy => true, tls => 3})},
     {"handoff_nodelay", reactor_wire:handoff(11, #{type => tcp}, #{proxy => false, tls => false, nodelay => true})},
     {"handoff_preread", reactor_wire:handoff(10, #{type => tcp, preread => <<"DATA1\n", 0, 255, 195>>},
                                              #{proxy => false, tls => false})},
     {"tls_config", reactor_wire:tls_config(3, #{certfile => <<"/etc/c.pem">>, keyfile => <<"/etc/k.pem">>,
                                                 verify => verify_peer, fail_if_no_peer_cert => false,
                                                 alpn => [<<"h2">>, <<"http/1.1">>],
                                                 handshake_timeout => 2500})},
     {"close", reactor_wire:close(9, <<"closed by Erlang">>)},
     {"stats", reactor_wire:stats()},
     {"connections", reactor_wire:connections()},
     {"reload", reactor_wire:reload(4, #{protocol => <<"/srv/v2.ts">>, setup_code => <<>>, typecheck => false})},
     {"stop", reactor_wire:stop()},
     %% the bridge (reactor_bridge): "B", then the ETF of the message
     {"bridge_call", bridge_request(call, 7, {<<"add">>, [1, 2]})},
     {"bridge_eval", bridge_request(eval, 8, {<<"1 + 2">>})},
     {"bridge_reply_ok", bridge_frame({reply, 3, ok, {ok, <<0, 255>>, 1 bsl 70}})},
     {"bridge_reply_error", bridge_frame({reply, 4, error, {no_function, <<"no function is registered as \"x\"">>}})},
     %% messages for connections: the term encoded once by the sender
     {"bridge_message", reactor_bridge:frame(message, 5, encoded({<<"hi">>, [1, 2.5]}))},
     {"bridge_publish", reactor_bridge:frame(publish, <<"room">>, encoded(<<0, 255>>))}].

encoded(Term) ->
    {ok, Bin} = reactor_term:encode(Term),
    Bin.

bridge_request(Kind, Id, Elements) ->
    {ok, Encoded} = reactor_bridge:encode_request(Kind, Elements),
    reactor_bridge:request_frame(Kind, Id, Encoded).

bridge_frame(Message) ->
    {ok, Frame} = reactor_bridge:frame(Message),
    Frame.

%% What Node sends (written by golden.test.ts) and what Erlang makes of it.
from_node() ->
    [{"ready", {ok, ready}},
     {"nack", {ok, {nack, 8, fd_missing}}},
     {"log", {ok, {log, notice, 5, <<"got ping">>}}},
     {"log_context", {ok, {log, error, undefined, <<"port exiting">>}}},
     {"stats", {ok, {stats, #{connections => 2, bytes_in => 10, bytes_out => 20, events => 30,
                              errors => 0, buffered => 0, tls_queued => 0, messages_delivered => 40,
                              messages_queued => 3, sent_to_ended => 1}}}},
     {"reloaded", {ok, {reloaded, 4, 2}}},
     {"reload_error", {ok, {reload_error, 5, no_protocol, <<"v3.ts yields no protocol">>}}},
     {"connections", {ok, {connections, [#{id => 1, bytes_in => 10, bytes_out => 20, age => 1500, state => reading},
                                         #{id => 2, bytes_in => 0, bytes_out => 0, age => 3, state => opening}]}}},
     {"closed", {ok, {closed, 9, #{bytes_in => 100, bytes_out => 200, duration_ms => 42, reason => normal}}}},
     {"closed_reason", {ok, {closed, 9, #{bytes_in => 1, bytes_out => 0, duration_ms => 7,
                                         reason => <<"ECONNRESET: read ECONNRESET">>}}}},
     {"exception", {ok, {exception, 3, <<"dataReceived">>, <<"Error: boom\n    at x.ts:1:1">>}}},
     {"load_error", {ok, {load_error, protocol_compile,
                          [#{file => <<"/srv/bad.ts">>, line => 3, column => 7,
                             text => <<"Expected \";\"">>}]}}},
     %% the bridge: its kind, and the elements after it (reactor_bridge:parse/1, elements/2)
     {"bridge_result_ok", {bridge, result, {7, ok, {ok, <<0, 255>>, 1 bsl 70}}}},
     {"bridge_result_exception", {bridge, result, {9, error, {exception, <<"Error: boom">>,
                                                               <<"Error: boom\n    at x.ts:1:1">>}}}},
     {"bridge_result_no_function", {bridge, result, {10, error, {no_function, <<"nope">>}}}},
     {"bridge_call", {bridge, call, {0, <<"auth.check">>, [<<"tok">>], 5000}}},
     {"bridge_send", {bridge, send, {<<"logger_proc">>, {hello, <<1, 2>>}}}},
     {"bridge_join", {bridge, join, {3, <<"room">>}}},
     {"bridge_leave", {bridge, leave, {3, <<"room">>}}},
     {"bridge_publish", {bridge, publish, {<<"room">>, {hi, 1}}}}].

decode(<<$B, _/binary>> = Frame) ->
    {ok, Kind, N, Elements} = reactor_bridge:parse(Frame),
    {ok, T} = reactor_bridge:elements(N, Elements),
    {bridge, Kind, T};
decode(Frame) ->
    reactor_wire:decode(Frame).

dir() -> filename:join(reactor_test_lib:root(), "test/golden").
file(Dir, Name) -> filename:join(dir(), Dir ++ "_" ++ Name ++ ".etf").

to_node_frames_are_golden_test_() ->
    [{Name, fun() ->
                    Path = file("to_node", Name),
                    case os:getenv("REACTOR_GOLDEN") of
                        "write" -> ok = file:write_file(Path, Frame);
                        _ -> ok
                    end,
                    {ok, Golden} = file:read_file(Path),
                    ?assertEqual(Golden, iolist_to_binary(Frame))
            end} || {Name, Frame} <- to_node()].

from_node_frames_decode_test_() ->
    [{Name, fun() ->
                    {ok, Frame} = file:read_file(file("from_node", Name)),
                    ?assertEqual(Want, decode(Frame))
            end} || {Name, Want} <- from_node()].

%% Every golden file has its case on both sides: none is left unchecked.
every_file_has_a_case_test() ->
    Files = [filename:basename(F, ".etf") || F <- filelib:wildcard(filename:join(dir(), "*.etf"))],
    Cases = ["to_node_" ++ N || {N, _} <- to_node()] ++ ["from_node_" ++ N || {N, _} <- from_node()],
    ?assertEqual(lists:sort(Cases), lists:sort(Files)).

%% native/reactor_shared.h as #{Name => Value}: its `#define REACTOR_NAME VALUE'
%% lines, the prefix dropped. A define of another shape is an error, not a
%% fact skipped.
shared_facts() ->
    {ok, H} = file:read_file(filename:join(reactor_test_lib:root(), "native/reactor_shared.h")),
    Defines = [L || L <- binary:split(H, <<"\n">>, [global]), match =:= re:run(L, "^#define REACTOR_", [{capture, none}]),
                    L =/= <<"#define REACTOR_SHARED_H">>],
    maps:from_list([fact(L) || L <- Defines]).

fact(Line) ->
    case re:run(Line, "^#define REACTOR_([A-Z0-9_]+) +(0x[0-9a-fA-F]+|[0-9]+)u?$", [{capture, all_but_first, binary}]) of
        {match, [Name, <<"0x", Hex/binary>>]} -> {Name, binary_to_integer(Hex, 16)};
        {match, [Name, Dec]} -> {Name, binary_to_integer(Dec)};
        nomatch -> error({not_a_fact, Line})
    end.

%% Erlang's copy of each fact it shares: the .hrl's and the context options'
%% defaults (DEFAULT_WRITE_HIGH_WATER is reactor_config:default(write_high_water)).
erlang_copy(<<"MAX_ID">>) -> ?MAX_ID;
erlang_copy(<<"MAX_FDS_PER_MSG">>) -> ?MAX_FDS_PER_MSG;
erlang_copy(<<"MAX_TERM_SIZE">>) -> ?MAX_TERM_SIZE;
erlang_copy(<<"MAX_TERM_DEPTH">>) -> ?MAX_TERM_DEPTH;
erlang_copy(<<"MAX_READ_SIZE">>) -> ?MAX_READ_SIZE;
erlang_copy(<<"MAX_GROUP_BYTES">>) -> reactor_groups:max_group_bytes();
erlang_copy(<<"MAX_GROUPS_PER_CONNECTION">>) -> reactor_groups:max_groups_per_connection();
erlang_copy(<<"DEFAULT_", Option/binary>>) ->
    {module, _} = code:ensure_loaded(reactor_config), % its atoms: the options' names
    reactor_config:default(binary_to_existing_atom(string:lowercase(Option)));
%% The batch layout and the action codes are C's and Node's: Erlang sees
%% only what cycle/1 makes of them.
erlang_copy(<<"READY_", _/binary>>) -> not_erlangs;
erlang_copy(<<"ACTION", _/binary>>) -> not_erlangs.

shared_facts_test_() ->
    Facts = shared_facts(),
    [{binary_to_list(Name), ?_assertEqual({Name, Value}, {Name, erlang_copy(Name)})}
     || {Name, Value} <- lists:sort(maps:to_list(Facts)), erlang_copy(Name) =/= not_erlangs].

%% What the header must hold: a header that lost a fact Erlang relies on fails.
shared_facts_are_there_test() ->
    Facts = shared_facts(),
    [?assert(is_map_key(N, Facts))
     || N <- [<<"MAX_ID">>, <<"MAX_FDS_PER_MSG">>, <<"MAX_TERM_SIZE">>, <<"MAX_TERM_DEPTH">>, <<"MAX_READ_SIZE">>, <<"DEFAULT_READ_SIZE">>, <<"DEFAULT_WRITE_HIGH_WATER">>,
              <<"DEFAULT_CALLBACK_TIMEOUT">>, <<"DEFAULT_IDLE_TIMEOUT">>, <<"DEFAULT_HANDSHAKE_TIMEOUT">>,
              <<"DEFAULT_CLOSE_TIMEOUT">>, <<"DEFAULT_LINGER_TIMEOUT">>, <<"DEFAULT_LINGER_MAX_BYTES">>,
              <<"DEFAULT_MAX_QUEUED_MESSAGES">>]].
