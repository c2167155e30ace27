%% @doc A context's table of connections: the BEAM's copy of each fd (a NIF
%% resource), what it is polled for, who is at the other end; the handoffs
%% Node has not answered yet; and the ids. The context owns one table.
-module(reactor_conns).

-export([new/0, active/1, waiting/1, next_id/1, pending/5, acked/2, nacked/2, ready/2, peer/2,
         act/3, close/2, close_all/1]).

-export_type([table/0, act_result/0]).

-include("reactor_limits.hrl").

%% Ready fds per frame to Node: a full mailbox still yields to Node's answers.
-define(MAX_EVENTS_PER_FRAME, 1024).

-record(conn, {res :: reactor_nif:res(), mode = read :: read | write, peer :: term()}).
-record(table, {
    conns = #{} :: #{pos_integer() => #conn{}},
    %% sent to Node, waiting for its ack: Id => {Batch, Index, Res, Peer}
    pending = #{} :: #{pos_integer() => {reference(), pos_integer(), reactor_nif:res(), term()}},
    next_id = 1 :: pos_integer()
}).

-opaque table() :: #table{}.
-type act_result() :: armed | stale | closed | {invalid, binary()} | {poll_failed, term()}.

-spec new() -> table().
new() -> #table{}.

%% @doc Connections and unanswered handoffs: what max_connections bounds.
-spec active(table()) -> non_neg_integer().
active(#table{conns = C, pending = P}) -> map_size(C) + map_size(P).

%% @doc Handoffs Node has not answered yet.
-spec waiting(table()) -> non_neg_integer().
waiting(#table{pending = P}) -> map_size(P).

%% @doc An id no live or pending connection has; ids wrap at the bound.
-spec next_id(table()) -> {pos_integer(), table()}.
next_id(T = #table{next_id = Id, conns = C, pending = P}) ->
    Next = case Id >= ?MAX_ID of true -> 1; false -> Id + 1 end,
    case is_map_key(Id, C) orelse is_map_key(Id, P) of
        true -> next_id(T#table{next_id = Next});
        false -> {Id, T#table{next_id = Next}}
    end.

%% @doc A handoff sent to Node: result `I' of `Batch' once Node answers.
-spec pending(pos_integer(), {reference(), pos_integer()}, reactor_nif:res(), map(), table()) -> table().
pending(Id, {Batch, I}, Res, Info, T = #table{pending = P}) ->
    T#table{pending = P#{Id => {Batch, I, Res, peer_of(Info)}}}.

%% @doc Node took it: a connection now, polled for nothing until act/3.
-spec acked(pos_integer(), table()) -> {ok, {reference(), pos_integer()}, table()} | error.
acked(Id, T = #table{pending = P, conns = C}) ->
    case maps:take(Id, P) of
        {{Batch, I, Res, Peer}, P1} ->
            {ok, {Batch, I}, T#table{pending = P1, conns = C#{Id => #conn{res = Res, peer = Peer}}}};
        error ->
            error
    end.

%% @doc Node refused it: the BEAM's copy is closed.
-spec nacked(pos_integer(), table()) -> {ok, {reference(), pos_integer()}, table()} | error.
nacked(Id, T = #table{pending = P}) ->
    case maps:take(Id, P) of
        {{Batch, I, Res, _}, P1} ->
            ok = reactor_nif:close(Res, true),
            {ok, {Batch, I}, T#table{pending = P1}};
        error ->
            error
    end.

%% @doc The ready event `First' and every other one already in the mailbox,
%% of live connections (an event of one closed meanwhile is stale), in order.
-spec ready({pos_integer(), read | write}, table()) -> {[pos_integer()], [pos_integer()], non_neg_integer()}.
ready(First, #table{conns = C}) -> drain(First, [], [], 0, C).

drain({Id, Kind}, Reads, Writes, N, C) when N < ?MAX_EVENTS_PER_FRAME ->
    {Reads1, Writes1, N1} = case is_map_key(Id, C) of
                                false -> {Reads, Writes, N};
                                true when Kind =:= read -> {[Id | Reads], Writes, N + 1};
                                true -> {Reads, [Id | Writes], N + 1}
                            end,
    receive
        {reactor_io, Id2, Kind2} when Id2 > 0 -> drain({Id2, Kind2}, Reads1, Writes1, N1, C)
    after 0 ->
        {lists:reverse(Reads1), lists:reverse(Writes1), N1}
    end;
drain(_, Reads, Writes, N, _C) ->
    {lists:reverse(Reads), lists:reverse(Writes), N}.

%% @doc Who is at the other end, for log metadata (pending ones too).
-spec peer(pos_integer() | undefined, table()) -> term().
peer(Id, #table{conns = C, pending = P}) ->
    case {C, P} of
        {#{Id := #conn{peer = Peer}}, _} -> Peer;
        {_, #{Id := {_, _, _, Peer}}} -> Peer;
        _ -> undefined
    end.

%% @doc What Node answered for a connection: poll its fd for reading or
%% writing, or forget it (Node closed its copy already, or the action was not
%% one: then both copies close).
-spec act(pos_integer(), reactor_wire:action() | {invalid, binary()}, table()) -> {act_result(), table()}.
act(Id, Action, T = #table{conns = Conns}) ->
    case Conns of
        #{Id := C} ->
            case Action of
                read_pending -> arm(Id, C, read, T);
                write_pending -> arm(Id, C, write, T);
                continue -> arm(Id, C, C#conn.mode, T);
                close ->
                    ok = reactor_nif:close(C#conn.res, false),
                    {closed, T#table{conns = maps:remove(Id, Conns)}};
                {invalid, _} = Invalid ->
                    ok = reactor_nif:close(C#conn.res, true),
                    {Invalid, T#table{conns = maps:remove(Id, Conns)}}
            end;
        _ ->
            {stale, T} % closed here while Node was answering
    end.

arm(Id, C = #conn{res = Res}, Mode, T = #table{conns = Conns}) ->
    case reactor_nif:select(Res, Mode) of
        ok ->
            {armed, T#table{conns = Conns#{Id => C#conn{mode = Mode}}}};
        {error, Reason} ->
            ok = reactor_nif:close(Res, true),
            {{poll_failed, Reason}, T#table{conns = maps:remove(Id, Conns)}}
    end.

%% @doc Close the BEAM's copy of a live connection's fd.
-spec close(pos_integer(), table()) -> {ok, table()} | {error, not_found}.
close(Id, T = #table{conns = Conns}) ->
    case maps:take(Id, Conns) of
        {C, Rest} ->
            ok = reactor_nif:close(C#conn.res, true),
            {ok, T#table{conns = Rest}};
        error ->
            {error, not_found}
    end.

%% @doc The context is going: every fd it holds is closed.
-spec close_all(table()) -> ok.
close_all(#table{conns = C, pending = P}) ->
    maps:foreach(fun(_, #conn{res = R}) -> reactor_nif:close(R, true) end, C),
    maps:foreach(fun(_, {_, _, R, _}) -> reactor_nif:close(R, true) end, P).

peer_of(#{addr := A, port := P}) -> {A, P};
peer_of(#{addr := A}) -> A;
peer_of(_) -> undefined.
