%% @doc What Node says, applied to what it serves (reactor_served): port
%% frames (bridge frames go to reactor_bridge; handoff refusals, reload results, logs, stats and connection
%% lists, connection ends, exceptions), what reactor_node makes of its port,
%% stderr and channel (its death), and what a hot-path turn on the batch
%% socket leaves to Erlang (acks, invalid actions, poll failures).
%%
%% Answers that are the holder's to give come back to it as an `answer()':
%% a context and a drain reply to info/1, connections/1 and reload/2 each in
%% their own terms.
-module(reactor_from_node).

-export([turn/1, message/2, stopping/2, log/5]).

-export_type([answer/0]).

-include("reactor_served.hrl").

-type answer() :: none
                | {stats, gen_server:from(), #{atom() => term()}}
                | {connections, gen_server:from(), [#{atom() => term()}]}
                | {reloaded, non_neg_integer(), non_neg_integer()}
                | {reload_error, non_neg_integer(), {atom(), term()}}
                | {not_here, pos_integer(), term()}.

%%% The hot path

%% @doc One turn of the hot path (the poller's `{reactor_io, 0, read}'):
%% Node's action batches applied and every connection ready sent to Node as
%% one batch, in one NIF call (reactor_conns:cycle/1); what is left here is
%% what only Erlang can do (handoff acks, closes, errors), then the re-arms it
%% decided. A malformed batch is `{error, Reason}': Node's side is broken.
-spec turn(#served{}) -> {ok, #served{}} | {error, term()}.
turn(Sv = #served{node = Node, conns = T, frames = F}) ->
    %% what waits for Node goes before the turn, which may pump for a while
    ok = reactor_node:flush(Node),
    case reactor_conns:cycle(T) of
        {ok, N, Sent, Batches, Results, T1} ->
            counters:add(F, 3, Sent),
            counters:add(F, 4, Batches),
            Sv1 = lists:foldl(fun from_batch/2, Sv#served{conns = T1}, Results),
            {ok, armed(reactor_served:count(events, N, Sv1))};
        {error, Reason} ->
            logger:error("reactor context ~0p: malformed batch from Node: ~0p", [Sv#served.id, Reason]),
            {error, Reason}
    end.

from_batch({Id, {ack, Action}}, Sv) ->
    case reactor_conns:acked(Id, Sv#served.conns) of
        {ok, {Call, I}, T} ->
            reactor_telemetry:connection_start(Sv#served.id, Id, reactor_conns:meta(Id, T)),
            Sv1 = act(Id, Action, reactor_served:count(handoffs, Sv#served{conns = T})),
            call_result(Call, I, {ok, Id}, Sv1);
        error ->
            Sv
    end;
from_batch({Id, {invalid, Code}}, Sv) ->
    act(Id, {invalid, integer_to_binary(Code)}, Sv);
from_batch({Id, {poll_failed, Reason}}, Sv) ->
    logger:warning("reactor context ~0p conn ~p: cannot poll: ~0p", [Sv#served.id, Id, Reason]),
    case reactor_served:close(Id, <<"poll failed">>, Sv) of
        {ok, Sv1} -> Sv1;
        {error, not_found} -> Sv
    end;
from_batch({Id, Action}, Sv) ->
    act(Id, Action, Sv).

act(Id, Action, Sv) ->
    {Result, T} = reactor_conns:act(Id, Action, Sv#served.conns),
    Sv1 = Sv#served{conns = T},
    case Result of
        armed -> Sv1;
        stale -> Sv1;
        closed -> reactor_served:count(closed, Sv1);
        {invalid, What} ->
            logger:error("reactor context ~0p conn ~p: invalid action ~ts from Node; "
                         "closing the connection", [Sv#served.id, Id, What]),
            reactor_served:send(Sv1, reactor_wire:close(Id, <<"invalid action">>)),
            reactor_served:count(node_errors, reactor_served:count(closed, Sv1))
    end.

%% The re-arms a turn or a frame decided, in one NIF call; a connection that
%% cannot be polled any more closes.
armed(Sv = #served{conns = T}) ->
    {Failed, T1} = reactor_conns:flush(T),
    lists:foldl(fun({Id, Reason}, Acc) ->
                        logger:warning("reactor context ~0p conn ~p: cannot poll: ~0p",
                                       [Acc#served.id, Id, Reason]),
                        reactor_served:send(Acc, reactor_wire:close(Id, <<"poll failed">>)),
                        reactor_served:count(closed, Acc)
                end, Sv#served{conns = T1}, Failed).

call_result(Call, I, Result, Sv = #served{calls = Calls}) ->
    Sv#served{calls = reactor_handoff_calls:result(Call, I, Result, Calls)}.

%%% The port, stderr and the channel

%% @doc A message to the holder about its Node (reactor_node:handle/2): a
%% frame applied, with the answer it holds for the holder to give; `{exit,
%% Reason, Served}' when Node died; `{error, Reason}' for a frame that does
%% not decode (a broken port); `ignore' when it is not about this Node.
%% Messages for its connections (reactor:send/2, reactor:publish/2) go to
%% Node; one for a connection that is not here is the answer `{not_here, Id,
%% Msg}' (a context passes it to the drain that has it, or counts it).
-spec message(term(), #served{}) ->
    {ok, #served{}, answer()} | {exit, term(), #served{}} | {error, term()} | ignore.
message({'$reactor_message', Id, Encoded} = M, Sv) when is_integer(Id), is_binary(Encoded) ->
    case reactor_served:message(Id, Encoded, Sv) of
        sent -> {ok, Sv, none};
        not_here -> {ok, Sv, {not_here, Id, M}}
    end;
message({timeout, TRef, reactor_linger}, Sv = #served{conns = T}) ->
    case reactor_conns:linger_timeout(TRef, T) of
        {Closed, T1} ->
            {ok, reactor_served:count(closed, length(Closed), Sv#served{conns = T1}), none};
        stale ->
            {ok, Sv, none}
    end;
message({'$reactor_publish', G, Encoded}, Sv) when is_binary(G), is_binary(Encoded) ->
    ok = reactor_served:publish(G, Encoded, Sv),
    {ok, Sv, none};
message(Msg, Sv = #served{node = Node}) ->
    case reactor_node:handle(Msg, Node) of
        {data, <<$B, _/binary>> = Bin} ->
            %% a bridge frame (reactor_bridge); control frames start with 131
            counters:add(Sv#served.frames, 2, 1),
            {ok, reactor_bridge:from_node(Bin, Sv), none};
        {data, <<$M, Frames/binary>>} ->
            %% bridge frames Node sent in one write (docs/bridge.md, "Wire")
            bridge_frames(Frames, Sv);
        {data, Bin} ->
            counters:add(Sv#served.frames, 2, 1),
            case reactor_wire:decode(Bin) of
                {ok, M} ->
                    {Sv1, Answer} = frame(M, Sv),
                    {ok, armed(Sv1), Answer};
                {error, Reason} ->
                    logger:error("reactor context ~0p: malformed frame from Node: ~0p", [Sv#served.id, Reason]),
                    {error, {bad_frame, Reason}}
            end;
        {ok, Node1} ->
            {ok, Sv#served{node = Node1}, none};
        {exit, Reason, Node1} ->
            logger:error("reactor context ~0p: Node died: ~0p", [Sv#served.id, Reason]),
            reactor_telemetry:context_exit(Sv#served.id, Reason),
            {exit, Reason, Sv#served{node = Node1}};
        ignore ->
            ignore
    end.

%% The frames of a batch from Node (docs/bridge.md, "Wire"): bridge frames only.
bridge_frames(<<Len:32, Bin:Len/binary, Rest/binary>>, Sv) when Len > 0, binary_part(Bin, 0, 1) =:= <<$B>> ->
    counters:add(Sv#served.frames, 2, 1),
    bridge_frames(Rest, reactor_bridge:from_node(Bin, Sv));
bridge_frames(<<>>, Sv) ->
    {ok, Sv, none};
bridge_frames(Bad, Sv) ->
    logger:error("reactor context ~0p: malformed frame batch from Node: ~0P", [Sv#served.id, Bad, 12]),
    {error, {bad_frame, batch}}.

%% @doc A frame Node sends while it stops (reactor_node:stop/3): its logs,
%% exceptions and connection ends still count; the rest, and a frame that
%% does not decode, are dropped.
-spec stopping(binary(), #served{}) -> ok.
stopping(Bin, Sv) ->
    case reactor_wire:decode(Bin) of
        {ok, M = {Kind, _, _, _}} when Kind =:= log; Kind =:= exception -> _ = frame(M, Sv), ok;
        {ok, M = {closed, _, _}} -> _ = frame(M, Sv), ok;
        _ -> ok
    end.

frame({nack, Id, Reason}, Sv) ->
    case reactor_conns:nacked(Id, Sv#served.conns) of
        {ok, {Call, I}, T} ->
            Sv1 = reactor_served:count(refused, Sv#served{conns = T}),
            {call_result(Call, I, {error, Reason}, Sv1), none};
        error ->
            {Sv, none}
    end;
frame({reloaded, Ref, Adopted}, Sv) ->
    {Sv, {reloaded, Ref, Adopted}};
frame({reload_error, Ref, Kind, Details}, Sv) ->
    {Sv, {reload_error, Ref, {Kind, Details}}};
frame({log, Level, ConnId, Text}, Sv = #served{id = Ctx, conns = T}) ->
    Meta = case reactor_conns:peer(ConnId, T) of
               undefined -> #{};
               Peer -> #{peer => Peer}
           end,
    log(Ctx, Level, ConnId, Text, Meta),
    {Sv, none};
frame({stats, NodeStats}, Sv) ->
    answer(stats, Sv, fun() -> stats(NodeStats, Sv) end);
frame({connections, List}, Sv = #served{conns = T}) ->
    answer(connections, Sv,
           fun() ->
                   [maps:merge(#{peer => undefined, type => undefined, transport => undefined},
                               maps:merge(default_meta(reactor_conns:meta(Id, T)), C))
                    || C = #{id := Id} <- List]
           end);
frame({closed, Id, Summary}, Sv = #served{id = Ctx}) ->
    {Meta, T} = reactor_conns:ended(Id, Sv#served.conns),
    reactor_telemetry:connection_stop(Ctx, Id, default_meta(Meta), Summary),
    {Sv#served{conns = T}, none};
frame({exception, Id, Callback, Stack}, Sv = #served{id = Ctx}) ->
    reactor_telemetry:protocol_exception(Ctx, Id, Callback, Stack),
    {Sv, none};
frame(Unexpected, Sv) ->
    logger:warning("reactor context ~0p: unexpected message from Node: ~0p", [Sv#served.id, Unexpected]),
    {Sv, none}.

%% Node answers queries in the order they were asked; an answer nobody asked
%% for is dropped.
answer(Kind, Sv = #served{queries = Q}, Reply) ->
    case queue:peek(Q) of
        {value, {Kind, From}} -> {Sv#served{queries = queue:drop(Q)}, {Kind, From, Reply()}};
        _ -> {Sv, none}
    end.

%% info/1's counters: the holder's own, Node's, and the frames and batches
%% both ways; the holder adds `draining'.
stats(NodeStats, #served{counters = C, conns = T, frames = F, node = N, bridge = B}) ->
    #{node_errors := NodeErrors} = C,
    Info = maps:merge(maps:merge(maps:remove(node_errors, C), NodeStats), reactor_bridge:in_flight(B)),
    Info#{errors => maps:get(errors, NodeStats, 0) + NodeErrors,
          pending => reactor_conns:opening(T),
          lingering => reactor_conns:lingering(T),
          unanswered => reactor_conns:unanswered(T),
          frames_to_node => counters:get(F, 1),
          frames_from_node => counters:get(F, 2),
          batches_to_node => counters:get(F, 3),
          batches_from_node => counters:get(F, 4),
          sent_to_ended => counters:get(F, 5) + maps:get(sent_to_ended, NodeStats, 0),
          os_pid => reactor_node:os_pid(N)}.

default_meta(undefined) -> #{};
default_meta(Meta) -> Meta.

%% @doc A protocol's log event: the context, the connection and its peer as
%% metadata. No domain: OTP's default handler drops events of domains it does
%% not know.
-spec log(term(), logger:level(), pos_integer() | undefined, unicode:chardata(), logger:metadata()) -> ok.
log(Ctx, Level, ConnId, Text, Meta0) ->
    Meta = Meta0#{reactor_context => Ctx, connection => ConnId},
    case ConnId of
        undefined -> logger:log(Level, "reactor context ~0p: ~ts", [Ctx, Text], Meta);
        _ -> logger:log(Level, "reactor context ~0p conn ~p: ~ts", [Ctx, ConnId, Text], Meta)
    end.
