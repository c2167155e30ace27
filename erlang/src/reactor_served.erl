%% @doc A Node process and the connections it serves, as the process that
%% talks to it holds them (a context, or a drain after replace/2): making
%% one, what goes to Node (control frames, queries, Erlang's closes),
%% counting, handing it to another process and stopping it. What comes from
%% Node is reactor_from_node's; admitting a handoff is reactor_handoff's.
-module(reactor_served).

-export([new/3, successor/3, take_over/1, id/1, node/1, first_free/1, ids/1, is_empty/1,
         send/2, sender/1, count/2, count/3, ask/3, close/3, close_all/2, writable/1, stop/2,
         message/3, sent_to_ended/1, publish/3, group/4, group_count/2, hand_groups_over/2]).

-export_type([served/0]).

-include("reactor_served.hrl").

%% Not opaque: reactor_from_node and reactor_handoff work on its record
%% (reactor_served.hrl); the processes that hold one call the functions here.
-type served() :: #served{}.
-type opts() :: #{hot_wait => non_neg_integer(), await_policy => batch | normal, bridge => reactor_bridge:bridge(),
                  linger_timeout => non_neg_integer(), linger_max_bytes => non_neg_integer()}.

%% @doc What a context serves with Node `Node'; `Opts' are reactor_conns:new/3's
%% and the bridge's (reactor_bridge:new/1).
-spec new(term(), reactor_node:node_proc(), opts()) -> served().
new(Id, Node, Opts) ->
    #served{id = Id, node = Node, conns = conns(Node, Opts), frames = counters:new(5, []),
            bridge = bridge(Opts)}.

bridge(#{bridge := B}) -> B;
bridge(_) -> reactor_bridge:new(#{}).

%% @doc What a context serves with `Node', the replacement of `Old''s: ids
%% go on after Old's (so that a connection's id says which Node has it), and
%% so do the counters; Old's connections, calls and queries stay Old's.
-spec successor(reactor_node:node_proc(), opts(), served()) -> served().
successor(Node, Opts, #served{id = Id, conns = T, frames = F, counters = C}) ->
    #served{id = Id, node = Node, conns = conns(Node, Opts#{first_id => reactor_conns:first_free(T)}),
            frames = F, counters = C, bridge = bridge(Opts)}.

%% The connections are armed in an epoll set of their own, with Node's batch
%% socket in it, selected by this process.
conns(Node, Opts) ->
    B = reactor_node:batch(Node),
    {ok, P} = reactor_nif:poller(B, maps:get(linger_timeout, Opts, 0), maps:get(linger_max_bytes, Opts, 0)),
    ok = reactor_nif:select(P, read),
    reactor_conns:new(P, B, Opts).

%% @doc The calling process takes over Node (its port, channel, stderr, batch
%% socket) and every fd of the connections, after reactor_node:hand_over/2
%% in the process that held them.
-spec take_over(served()) -> served().
take_over(Sv = #served{node = N, conns = T, bridge = B}) ->
    Sv#served{node = reactor_node:take_over(N), conns = reactor_conns:take_over(T),
              bridge = reactor_bridge:take_over(B)}.

%% @doc The context's id.
-spec id(served()) -> term().
id(#served{id = Id}) -> Id.

-spec node(served()) -> reactor_node:node_proc().
node(#served{node = N}) -> N.

%% @doc The id the next connection would get.
-spec first_free(served()) -> pos_integer().
first_free(#served{conns = T}) -> reactor_conns:first_free(T).

%% @doc Ids of every connection, live or opening.
-spec ids(served()) -> [pos_integer()].
ids(#served{conns = T}) -> reactor_conns:ids(T).

-spec is_empty(served()) -> boolean().
is_empty(#served{conns = T}) -> reactor_conns:is_empty(T).

%% @doc A frame to Node, counted; it goes with the others the holder sends
%% before it next reads its mailbox empty (reactor_node:send/2).
-spec send(served(), iodata()) -> ok.
send(#served{node = N, frames = F}, Bin) ->
    counters:add(F, 1, 1),
    reactor_node:send(N, Bin).

%% @doc How another process sends a frame to this Node, counted as send/2
%% does (a beam.call's worker replies so: reactor_beam_call).
-spec sender(served()) -> fun((iodata()) -> ok).
sender(#served{node = N, frames = F}) ->
    fun(Bin) ->
            counters:add(F, 1, 1),
            reactor_node:send_now(N, Bin)
    end.

-spec count(atom(), served()) -> served().
count(K, Sv) -> count(K, 1, Sv).

-spec count(atom(), non_neg_integer(), served()) -> served().
count(K, N, Sv = #served{counters = C}) -> Sv#served{counters = C#{K => maps:get(K, C) + N}}.

%% @doc Ask Node for its stats (info/1) or its connections (connections/1);
%% reactor_from_node hands the answer back with `From'.
-spec ask(stats | connections, gen_server:from(), served()) -> served().
ask(What, From, Sv = #served{queries = Q}) ->
    send(Sv, case What of
                 stats -> reactor_wire:stats();
                 connections -> reactor_wire:connections()
             end),
    Sv#served{queries = queue:in({What, From}, Q)}.

%% @doc Close a live connection from Erlang: the BEAM's copy of its fd here,
%% Node's with `connectionLost' given `Reason'.
-spec close(pos_integer(), binary(), served()) -> {ok, served()} | {error, not_found}.
close(Id, Reason, Sv = #served{conns = T}) ->
    case reactor_conns:close(Id, T) of
        {ok, T1} ->
            send(Sv, reactor_wire:close(Id, Reason)),
            {ok, count(closed, Sv#served{conns = T1})};
        {error, _} = E ->
            E
    end.

%% @doc Close every connection as close/3 does; Node is told of the opening
%% ones too, whose fds close here when the holder stops (stop/2).
-spec close_all(binary(), served()) -> served().
close_all(Reason, Sv) ->
    lists:foldl(fun(Id, Acc) ->
                        case close(Id, Reason, Acc) of
                            {ok, Acc1} -> Acc1;
                            {error, not_found} -> send(Acc, reactor_wire:close(Id, Reason)), Acc
                        end
                end, Sv, ids(Sv)).

%% @doc A message for connection `Id' (reactor:send/2), its term encoded:
%% to Node in a bridge frame, unless the connection is not here (ended, a
%% drain's, or never was).
-spec message(pos_integer(), binary(), served()) -> sent | not_here.
message(Id, Encoded, Sv = #served{conns = T}) ->
    case reactor_conns:meta(Id, T) of
        undefined ->
            not_here;
        _ ->
            send(Sv, reactor_bridge:frame(message, Id, Encoded)),
            sent
    end.

%% @doc A message found its connection ended: dropped, and counted
%% (`sent_to_ended' in info/1; Node counts those that find it so there).
-spec sent_to_ended(served()) -> ok.
sent_to_ended(#served{frames = F}) -> counters:add(F, 5, 1).

%% @doc A publish to `Group' (reactor:publish/2): one bridge frame to Node,
%% which delivers it to every member; none when no connection here is in it
%% any more (the last left while the publish was on its way).
-spec publish(reactor_groups:group(), binary(), served()) -> ok.
publish(G, Encoded, Sv = #served{groups = Gs}) ->
    case reactor_groups:count(G, Gs) of
        0 -> ok;
        _ -> send(Sv, reactor_bridge:frame(publish, G, Encoded))
    end.

%% @doc Node says connection `Id' joined or left `Group': the holder joins
%% the pg group with its first member and leaves it with its last
%% (reactor_groups). A join of a connection that is not here (it ended
%% meanwhile: its leaves follow) changes nothing; `error' for a name that
%% is not a group's.
-spec group(join | leave, pos_integer(), term(), served()) -> {ok, served()} | error.
group(Op, Id, G, Sv = #served{conns = T, groups = Gs}) ->
    case reactor_groups:is_group(G) of
        false -> error;
        true when Op =:= leave -> {ok, Sv#served{groups = reactor_groups:leave(Id, G, Gs)}};
        true ->
            case reactor_conns:meta(Id, T) of
                undefined -> {ok, Sv};
                _ -> {ok, Sv#served{groups = reactor_groups:join(Id, G, Gs)}}
            end
    end.

%% @doc How many connections here are in `Group' (reactor:members/1).
-spec group_count(reactor_groups:group(), served()) -> non_neg_integer().
group_count(G, #served{groups = Gs}) -> reactor_groups:count(G, Gs).

%% @doc The calling process hands the groups of these connections to `To'
%% (replace/2: a drain takes the old Node over).
-spec hand_groups_over(served(), pid()) -> ok.
hand_groups_over(#served{groups = Gs}, To) -> reactor_groups:hand_over(Gs, To).

%% @doc The batch socket is writable again: what waited for it goes.
-spec writable(served()) -> served().
writable(Sv = #served{conns = T}) -> Sv#served{conns = reactor_conns:writable(T)}.

%% @doc The holder is going: Node stops (its connections get `connectionLost',
%% and what it says meanwhile still counts: logs, telemetry), every fd is
%% closed, and whoever waits on a handoff or a query gets `{error, stopped}'.
%% Calls to Node in flight get `{error, not_running}' first, at once.
-spec stop(served(), timeout()) -> ok.
stop(Sv = #served{node = N, conns = T, calls = Calls, queries = Q, bridge = B}, Timeout) ->
    _ = reactor_bridge:stop(B),
    ok = reactor_node:stop(N, Timeout, fun(Frame) -> reactor_from_node:stopping(Frame, Sv) end),
    reactor_conns:close_all(T),
    reactor_handoff_calls:stop_all(stopped, Calls),
    [gen_server:reply(F, {error, stopped}) || {_, F} <- queue:to_list(Q)],
    ok.
