%% @doc The frames a holder (a context, a drain) writes to its Node's port,
%% queued while it works through its mailbox and written as one batch.
%%
%% The first frame queued posts `{reactor_port_out, flush, Port}' to the
%% holder itself; when the holder gets to it (flush_message/2) everything
%% queued meanwhile goes in one write, or sooner past ?BATCH_FRAMES frames or
%% ?BATCH_BYTES bytes. Under load the calls, messages and publishes of many
%% callers so cost one write and one wake-up of Node, not one each
%% (docs/performance.md). Frames keep their order, and a write that cannot
%% wait (send_now/2) flushes them first. Several go as one `$M' frame, each
%% a 32-bit big-endian length and the frame (docs/bridge.md, "Wire").
%%
%% The queue is the holder's, in its process dictionary keyed by the port:
%% every path that sends (the bridge, handoffs, closes) shares it without a
%% record threaded back out of each of them.
-module(reactor_port_out).

-export([send/2, send_now/2, flush/1, flush_message/2, forget/1]).

-define(BATCH_FRAMES, 256).
-define(BATCH_BYTES, 65536).
-define(OUT(Port), {?MODULE, out, Port}).
-define(FLUSH(Port), {?MODULE, flush, Port}).

%% @doc Queue `Frame' for `Port' (a frame this big or bigger goes alone, now).
-spec send(port(), iodata()) -> ok.
send(Port, Frame) ->
    Size = iolist_size(Frame),
    case get(?OUT(Port)) of
        _ when Size >= ?BATCH_BYTES ->
            send_now(Port, Frame);
        undefined ->
            self() ! ?FLUSH(Port),
            put(?OUT(Port), {1, Size, [{Size, Frame}]}),
            ok;
        {Count, Bytes, Frames} when Count + 1 >= ?BATCH_FRAMES; Bytes + Size >= ?BATCH_BYTES ->
            put(?OUT(Port), {Count + 1, Bytes + Size, [{Size, Frame} | Frames]}),
            flush(Port);
        {Count, Bytes, Frames} ->
            put(?OUT(Port), {Count + 1, Bytes + Size, [{Size, Frame} | Frames]}),
            ok
    end.

%% @doc `Frame' now, after what send/2 queued. A port that has just closed
%% takes nothing: the `EXIT' or exit status that says so is already on its
%% way. From a process that is not the holder (a beam.call's worker) it is
%% the only way: that process has no queue.
-spec send_now(port(), iodata()) -> ok.
send_now(Port, Frame) ->
    ok = flush(Port),
    command(Port, Frame).

%% @doc What send/2 queued goes now: one frame as it is, several as one `$M'.
-spec flush(port()) -> ok.
flush(Port) ->
    case erase(?OUT(Port)) of
        undefined -> ok;
        {1, _, [{_, Frame}]} -> command(Port, Frame);
        %% queued newest first, each with the size send/2 measured
        {_, _, Frames} -> command(Port, [$M | lists:foldl(fun({S, F}, Acc) -> [<<S:32>>, F | Acc] end, [], Frames)])
    end.

%% @doc A message to the holder: `true' (and the queue written) when it is
%% the flush message of `Port', `stale' when it is one of another port (one
%% closed or handed over since: flushed then), `false' otherwise.
-spec flush_message(term(), port() | undefined) -> true | stale | false.
flush_message(?FLUSH(Port), Port) when is_port(Port) -> ok = flush(Port), true;
flush_message(?FLUSH(_), _) -> stale;
flush_message(_, _) -> false.

%% @doc The port closed: what was queued for it goes nowhere.
-spec forget(port()) -> ok.
forget(Port) ->
    erase(?OUT(Port)),
    ok.

command(Port, Frame) ->
    try port_command(Port, Frame) of
        true -> ok
    catch
        error:badarg -> ok
    end.
