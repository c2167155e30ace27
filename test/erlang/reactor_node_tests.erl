%% The queue of frames to Node (reactor_node:send/2, send_now/2, flush/1 over
%% reactor_port_out), over
%% a stand-in Node: `cat' as the port, so that each write comes back as the
%% one frame it was.
-module(reactor_node_tests).

-include_lib("eunit/include/eunit.hrl").

stand_in() ->
    Port = open_port({spawn, "cat"}, [{packet, 4}, binary]),
    {Port, reactor_node:stand_in(Port, undefined, undefined)}.

writes(Port) ->
    receive {Port, {data, Bin}} -> [Bin | writes(Port)] after 100 -> [] end.

%% What the holder's flush message does: handle/2 gives it to flush/1.
flush_message(Port, N) ->
    receive {reactor_port_out, flush, Port} = M -> {ok, _} = reactor_node:handle(M, N), ok
    after 1000 -> error(no_flush_message)
    end.

queued_frames_go_as_one_batch_at_the_flush_message_test() ->
    {Port, N} = stand_in(),
    ok = reactor_node:send(N, <<"B1">>),
    ok = reactor_node:send(N, [<<"B2">>, <<"2">>]),
    ?assertEqual([], writes(Port)),
    ok = flush_message(Port, N),
    ?assertEqual([<<$M, 2:32, "B1", 3:32, "B22">>], writes(Port)),
    %% one frame goes as it is
    ok = reactor_node:send(N, <<"B3">>),
    ok = flush_message(Port, N),
    ?assertEqual([<<"B3">>], writes(Port)),
    port_close(Port).

a_direct_write_goes_after_what_was_queued_test() ->
    {Port, N} = stand_in(),
    ok = reactor_node:send(N, <<"B1">>),
    ok = reactor_node:send_now(N, <<131, "stop">>),
    ?assertEqual([<<"B1">>, <<131, "stop">>], writes(Port)),
    %% the flush message, when it comes, finds nothing to send
    ok = flush_message(Port, N),
    ?assertEqual([], writes(Port)),
    port_close(Port).

the_queue_is_bounded_by_frames_and_bytes_test() ->
    {Port, N} = stand_in(),
    [ok = reactor_node:send(N, <<"B", I:16>>) || I <- lists:seq(1, 256)],
    [<<$M, Batch/binary>>] = writes(Port),
    ?assertEqual(256 * 7, byte_size(Batch)),
    ok = flush_message(Port, N),
    %% a frame as big as a batch may be goes alone, after what was queued
    Big = binary:copy(<<"B">>, 65536),
    ok = reactor_node:send(N, <<"Bsmall">>),
    ok = reactor_node:send(N, Big),
    ?assertEqual([<<"Bsmall">>, Big], writes(Port)),
    port_close(Port).

a_closed_port_drops_the_queue_test() ->
    {Port, N} = stand_in(),
    ok = reactor_node:send(N, <<"B1">>),
    port_close(Port),
    ok = flush_message(Port, N), % badarg from the closed port: nothing raised
    ?assertEqual(undefined, get({reactor_port_out, out, Port})).
