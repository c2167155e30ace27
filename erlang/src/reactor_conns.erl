%% @doc A context's table of connections: the BEAM's copy of each fd (a NIF
%% resource), what it is polled for, who is at the other end; the
%% connections opening (handed off, Node has not answered yet); and the ids.
%% One table per Node, owned by the process that talks to it: the context
%% for its current Node, a drain (after take_over/1) for a replaced one.
-module(reactor_conns).

-export([new/2, new/3, active/1, opening/1, lingering/1, unanswered/1, is_empty/1, first_free/1, next_id/1, open/6,
         acked/2, nacked/2, cycle/1, writable/1, peer/2, meta/2, ended/2, ids/1, take_over/1, act/3,
         flush/1, close/2, close_all/1, linger_timeout/2]).

-export_type([table/0, act_result/0, meta/0]).

-include("reactor_limits.hrl").

%% Who is at the other end and how, and the connection's address
%% (reactor:send/2): for logs, telemetry and connections/1.
%% `starttls => true': its protocol may start TLS (Erlang does not see
%% whether it did).
-type meta() :: #{peer := term(), type := term(),
                  transport := #{proxy := boolean(), tls := boolean(), starttls => true},
                  ref := reactor:conn_ref()}.

-record(conn, {res :: reactor_nif:res(), meta :: meta(),
               since :: integer(),
               %% Node's report of its end came before its close
               reported = false :: boolean()}).
-record(table, {
    %% the epoll set every connection's fd is armed in (reactor_nif:poller/3);
    %% its select messages are {reactor_io, 0, read}
    poller :: reactor_nif:res(),
    %% the batch socket to Node (in the poller); selected for write, as
    %% {reactor_io, 0, write}, only while a ready batch waits in `unsent'
    batch :: reactor_nif:res(),
    unsent = <<>> :: binary(),
    %% how long (us) a busy hot path waits on a dirty I/O scheduler for more
    %% before going back to enif_select (0: never waits)
    hot_wait = 0 :: non_neg_integer(),
    %% the pump's scheduling policy while it waits for Node's answer
    %% (reactor_nif:pump/4)
    await_policy = batch :: batch | normal,
    %% turns left before the pump is tried again, after one that did too
    %% little to pay for its trip to a dirty scheduler
    cool = 0 :: non_neg_integer(),
    %% re-arms decided since the last flush/1, newest first: flush/1 makes
    %% them all in one reactor_nif:arm/2 call, dropping an arm whose
    %% connection closed before it
    arms = [] :: [{pos_integer(), reactor_nif:res(), read | write}],
    conns = #{} :: #{pos_integer() => #conn{}},
    %% opening: handed off to Node, waiting for its ack; the handoff call
    %% and the index of this fd in it, Id => {Call, Index, Res, Meta,
    %% Reported} (Reported: Node's report of its end came already, as it
    %% does for one that ended in the handoff's own turn)
    opening = #{} :: #{pos_integer() => {reference(), pos_integer(), reactor_nif:res(), meta(), boolean()}},
    next_id = 1 :: pos_integer(),
    %% lingering closes the poller took over from Node (act/3's `linger'):
    %% how long each may take (ms; the poller keeps each one's deadline), and
    %% the timer that ends those past it, while any may linger
    linger_timeout = 0 :: non_neg_integer(),
    linger_timer :: reference() | undefined,
    %% Who was at the other end of connections closed here, until Node's
    %% report of their end (a `closed' frame, sent only for telemetry) comes
    %% by the port, which may be after the close came by the batch socket.
    %% `none' when Node sends no such reports.
    ended = none :: none | #{pos_integer() => meta()}
}).

%% The longest (us) one reactor_nif:pump/4 call keeps the context from its
%% mailbox while traffic flows.
-define(PUMP_BUDGET, 2000).
%% A pump that Erlang's work (acks, closes) ended after fewer events and
%% batches than this did not pay for its two thread switches: the next
%% ?PUMP_COOL turns go by enif_select (why 8 and 16: docs/performance.md,
%% "Constants chosen by measurement").
-define(PUMP_WORTH, 8).
-define(PUMP_COOL, 16).

%% The shortest wait (ms) between two sweeps of lingering connections.
-define(LINGER_SWEEP_MIN, 10).

%% The most ended connections remembered at once (reports outstanding).
-define(MAX_ENDED, 65536).

-opaque table() :: #table{}.
-type act_result() :: armed | stale | closed | {invalid, binary()}.

%% @doc A table polling through `Poller' (owned and selected by the caller),
%% talking to Node over `Batch' (the batch socket in it).
-spec new(reactor_nif:res(), reactor_nif:res()) -> table().
new(Poller, Batch) -> new(Poller, Batch, #{}).

%% @doc The same, with options: `first_id' (a replacement's ids start after
%% its predecessor's), `hot_wait' and `await_policy' (see cycle/1) and
%% `linger_timeout' (ms a linger taken over from Node may take; see act/3).
-spec new(reactor_nif:res(), reactor_nif:res(),
          #{first_id => pos_integer(), hot_wait => non_neg_integer(), await_policy => batch | normal,
            linger_timeout => non_neg_integer(), atom() => term()}) -> table().
new(Poller, Batch, Opts) ->
    #table{poller = Poller, batch = Batch, next_id = maps:get(first_id, Opts, 1),
           hot_wait = maps:get(hot_wait, Opts, 0), await_policy = maps:get(await_policy, Opts, batch),
           linger_timeout = maps:get(linger_timeout, Opts, 0),
           ended = ended_map()}.

%% Node reports each end when telemetry is there (reactor_config:node_init/2).
ended_map() ->
    case reactor_telemetry:enabled() of
        true -> #{};
        false -> none
    end.

%% @doc The id the next connection would get.
-spec first_free(table()) -> pos_integer().
first_free(#table{next_id = Id}) -> Id.

-spec is_empty(table()) -> boolean().
is_empty(#table{conns = C, opening = P}) -> map_size(C) =:= 0 andalso map_size(P) =:= 0.

%% @doc Ids of every connection, live or opening.
-spec ids(table()) -> [pos_integer()].
ids(#table{conns = C, opening = P}) -> maps:keys(C) ++ maps:keys(P).

%% @doc The calling process takes over every fd of the table (a drain after
%% replace/1): it is their controlling process now, and their select messages
%% come to it.
-spec take_over(table()) -> table().
take_over(T = #table{poller = Poller, batch = B, conns = C, opening = P, unsent = U}) ->
    _ = reactor_nif:controlling_process(Poller, 0),
    %% the old owner's timer would tell the old owner
    T1 = T#table{linger_timer = undefined},
    %% a write select made by the old owner would tell the old owner
    U =:= <<>> orelse reactor_nif:select(B, write),
    maps:foreach(fun(Id, #conn{res = R}) -> _ = reactor_nif:controlling_process(R, Id) end, C),
    maps:foreach(fun(Id, {_, _, R, _, _}) -> _ = reactor_nif:controlling_process(R, Id) end, P),
    case reactor_nif:lingering(Poller) of
        0 -> T1;
        _ -> T1#table{linger_timer = erlang:start_timer(0, self(), reactor_linger)}
    end.

%% @doc Connections live and opening: what max_connections bounds.
-spec active(table()) -> non_neg_integer().
active(#table{conns = C, opening = P}) -> map_size(C) + map_size(P).

%% @doc Connections the poller lingers on: Node is done with them, the BEAM
%% still holds their fd (act/3's `linger').
-spec lingering(table()) -> non_neg_integer().
lingering(#table{poller = P}) -> reactor_nif:lingering(P).

%% @doc Connections Node is working on: sent to it as ready, not answered yet.
-spec unanswered(table()) -> non_neg_integer().
unanswered(#table{poller = P}) -> reactor_nif:unanswered(P).

%% @doc Connections opening: handoffs Node has not answered yet.
-spec opening(table()) -> non_neg_integer().
opening(#table{opening = P}) -> map_size(P).

%% @doc An id no live or opening connection has; ids wrap at the bound.
-spec next_id(table()) -> {pos_integer(), table()}.
next_id(T = #table{next_id = Id, conns = C, opening = P}) ->
    Next = case Id >= ?MAX_ID of true -> 1; false -> Id + 1 end,
    case is_map_key(Id, C) orelse is_map_key(Id, P) of
        true -> next_id(T#table{next_id = Next});
        false -> {Id, T#table{next_id = Next}}
    end.

%% @doc A handoff sent to Node: connection `Id' is opening until Node acks
%% (acked/2) or refuses (nacked/2) it, as result `I' of handoff call `Call'.
-spec open(pos_integer(), {reference(), pos_integer()}, reactor_nif:res(), map(),
           reactor_wire:transport(), table()) -> table().
open(Id, {Call, I}, Res, Info, #{proxy := Proxy, tls := Tls} = Layers, T = #table{opening = P}) ->
    Transport = #{proxy => Proxy, tls => Tls =/= false},
    Meta = #{peer => peer_of(Info), type => maps:get(type, Info, undefined),
             transport => case Layers of
                              #{starttls := _} -> Transport#{starttls => true};
                              _ -> Transport
                          end,
             %% the context is the caller: its pid names the connection
             ref => reactor:conn_ref(self(), Id)},
    T#table{opening = P#{Id => {Call, I, Res, Meta, false}}}.

%% @doc Node took it: a connection now, polled for nothing until act/3.
-spec acked(pos_integer(), table()) -> {ok, {reference(), pos_integer()}, table()} | error.
acked(Id, T = #table{opening = P, conns = C}) ->
    case maps:take(Id, P) of
        {{Call, I, Res, Meta, Reported}, P1} ->
            Conn = #conn{res = Res, meta = Meta, since = erlang:monotonic_time(millisecond),
                         reported = Reported},
            {ok, {Call, I}, T#table{opening = P1, conns = C#{Id => Conn}}};
        error ->
            error
    end.

%% @doc Node refused it: the BEAM's copy is closed.
-spec nacked(pos_integer(), table()) -> {ok, {reference(), pos_integer()}, table()} | error.
nacked(Id, T = #table{opening = P}) ->
    case maps:take(Id, P) of
        {{Call, I, Res, _, _}, P1} ->
            ok = reactor_nif:close(Res, true),
            {ok, {Call, I}, T#table{opening = P1}};
        error ->
            error
    end.

%% @doc One turn of the hot path (reactor_nif:cycle/1): Node's batches
%% applied, the ready connections sent; returns how many were ready, how many
%% batches Node had sent, and what of Node's answers is left to Erlang (act/3
%% and acked/2 take it from here).
%%
%% A turn that found traffic goes on in reactor_nif:pump/4 when `hot_wait' is
%% set: turns in a row on a dirty I/O scheduler, which waits on the poller
%% itself, so that while traffic flows neither the BEAM's poll thread nor this
%% process's scheduler wakes per event (docs/performance.md, step 3, has what
%% those wake-ups cost). It hands back after ?PUMP_BUDGET us (the
%% longest this process is away from its mailbox), when Erlang has something
%% to do, or after `hot_wait' us with nothing ready; the turns go on with a
%% message to self, and an idle poller is selected again. While Node works
%% through connections it was sent, the pump waits for its answer under
%% `await_policy' (batch: SCHED_BATCH, whose wake-up does not preempt the
%% thread running on the pump's core). When Node's end of
%% the batch socket is full, the socket is selected for write instead
%% (writable/1 then sends what waits).
-spec cycle(table()) -> {ok, Events :: non_neg_integer(), Sent :: non_neg_integer(),
                         Batches :: non_neg_integer(), [{pos_integer(), term()}], table()}
                        | {error, term()}.
cycle(T = #table{poller = Poller, cool = Cool}) ->
    case reactor_nif:cycle(Poller) of
        {N, Batches, [], <<>>} when N + Batches > 0, T#table.hot_wait > 0, Cool =:= 0 ->
            case reactor_nif:pump(Poller, T#table.hot_wait, ?PUMP_BUDGET, T#table.await_policy) of
                {N1, Sent, B1, Results, Unsent, Why} ->
                    T1 = case Results =/= [] andalso N1 + B1 < ?PUMP_WORTH of
                             true -> T#table{cool = ?PUMP_COOL};
                             false -> T
                         end,
                    turned(N + N1, sent(N) + Sent, Batches + B1, Results, Unsent, Why, T1);
                {error, closed} -> {ok, N, sent(N), Batches, [], T};
                {error, _} = E -> E
            end;
        {N, Batches, Results, Unsent} ->
            turned(N, sent(N), Batches, Results, Unsent, idle, T#table{cool = max(Cool - 1, 0)});
        {error, closed} ->
            {ok, 0, 0, 0, [], T}; % the context is going
        {error, _} = E ->
            E
    end.

sent(0) -> 0;
sent(_) -> 1.

turned(N, Sent, Batches, Results, <<>>, idle, T) ->
    _ = reactor_nif:select(T#table.poller, read),
    {ok, N, Sent, Batches, Results, T};
turned(N, Sent, Batches, Results, <<>>, busy, T) ->
    self() ! {reactor_io, 0, read},
    {ok, N, Sent, Batches, Results, T};
turned(N, Sent, Batches, Results, Unsent, _, T) ->
    _ = reactor_nif:select(T#table.batch, write),
    {ok, N, Sent, Batches, Results, T#table{unsent = Unsent}}.

%% @doc The batch socket is writable: the ready batch that waited goes, and
%% the poller is selected again.
-spec writable(table()) -> table().
writable(T = #table{unsent = <<>>}) ->
    T; % a stale select (a drain took the socket over)
writable(T = #table{poller = Poller, batch = B, unsent = Bin}) ->
    case reactor_nif:send_batch(B, Bin) of
        {error, eagain} ->
            _ = reactor_nif:select(B, write),
            T;
        _ -> % sent, or Node is gone (its port says so)
            _ = reactor_nif:select(Poller, read),
            T#table{unsent = <<>>}
    end.

%% @doc Who is at the other end, for log metadata (opening ones too).
-spec peer(pos_integer() | undefined, table()) -> term().
peer(Id, T) ->
    case meta(Id, T) of
        #{peer := Peer} -> Peer;
        undefined -> undefined
    end.

%% @doc Peer, type and transport of a connection (opening ones too).
-spec meta(pos_integer() | undefined, table()) -> meta() | undefined.
meta(Id, #table{conns = C, opening = P}) ->
    case {C, P} of
        {#{Id := #conn{meta = Meta}}, _} -> Meta;
        {_, #{Id := {_, _, _, Meta, _}}} -> Meta;
        _ -> undefined
    end.

%% @doc What Node answered for a connection: poll its fd for reading or
%% writing, or forget it (Node closed its copy already, or the action was not
%% one: then both copies close). `linger': Node sent its FIN and closed its
%% copy; the poller reads and drops what the peer still sends until its end
%% (then cycle/1 says `close'), for `linger_timeout' ms at most
%% (linger_timeout/2). `lingering': the poller took such a linger over
%% itself, in the turn that said so; only its time is started here.
-spec act(pos_integer(), reactor_wire:action() | lingering | {invalid, binary()}, table()) -> {act_result(), table()}.
act(Id, Action, T = #table{conns = Conns}) ->
    case Conns of
        #{Id := C} ->
            case Action of
                read_pending -> arm(Id, C, read, T);
                write_pending -> arm(Id, C, write, T);
                linger ->
                    {armed, T1} = arm(Id, C, linger, T),
                    {armed, lingers(T1)};
                lingering -> {armed, lingers(T)};
                close ->
                    ok = reactor_nif:close(C#conn.res, false),
                    {closed, forget(Id, C, T)};
                {invalid, _} = Invalid ->
                    ok = reactor_nif:close(C#conn.res, true),
                    {Invalid, forget(Id, C, T)}
            end;
        _ ->
            {stale, T} % closed here while Node was answering
    end.

arm(Id, #conn{res = Res}, Mode, T = #table{arms = Arms}) ->
    {armed, T#table{arms = [{Id, Res, Mode} | Arms]}}.

%% A connection began to linger: the timer runs while any may.
lingers(T = #table{linger_timer = undefined, linger_timeout = Ms}) ->
    T#table{linger_timer = erlang:start_timer(Ms, self(), reactor_linger)};
lingers(T) ->
    T.

%% @doc The linger timer `{timeout, TRef, reactor_linger}' fired: the
%% connections whose linger passed `linger_timeout' are closed here (as
%% cowboy's linger_timeout and nginx's lingering_time end theirs), and the
%% timer is set for the next deadline, ?LINGER_SWEEP_MIN ms or a tenth of
%% `linger_timeout' away at the soonest (one sweep ends a burst of them).
%% Returns their ids; `stale' for a timer this table did not start (a drain
%% took it over).
-spec linger_timeout(reference(), table()) -> {[pos_integer()], table()} | stale.
linger_timeout(TRef, T = #table{linger_timer = TRef, poller = P, linger_timeout = Ms}) ->
    {Ids, Next} = reactor_nif:linger_expired(P),
    Closed = [Id || Id <- Ids, is_map_key(Id, T#table.conns)],
    T1 = lists:foldl(fun(Id, Acc) -> {ok, Acc1} = close(Id, false, Acc), Acc1 end, T, Closed),
    Timer = case Next of
                none -> undefined;
                _ -> erlang:start_timer(max(Next, max(?LINGER_SWEEP_MIN, Ms div 10)), self(), reactor_linger)
            end,
    {Closed, T1#table{linger_timer = Timer}};
linger_timeout(_, _) ->
    stale.

%% @doc Arm what act/3 decided since the last flush, in one NIF call. An arm
%% whose connection closed since it was decided (a handoff's ack and Node's
%% close in the same turn, or Erlang's close between them) is dropped: the
%% close wins and its fd is not touched again. The connections that could not
%% be armed are closed here: their ids and why.
-spec flush(table()) -> {[{pos_integer(), term()}], table()}.
flush(T = #table{arms = []}) ->
    {[], T};
flush(T = #table{poller = Poller, arms = Arms, conns = Conns}) ->
    %% the newest arm of each connection (Arms is newest first): arming it
    %% twice in a row would poll it twice
    Live = [{Res, Mode} || {Id, Res, Mode} <- lists:ukeysort(1, Arms), is_live(Id, Res, Conns)],
    Failed = case Live of
                 [] -> [];
                 _ -> reactor_nif:arm(Poller, Live)
             end,
    lists:foldl(fun({Id, _} = F, {Closed, Acc}) ->
                        case close(Id, Acc) of
                            {ok, Acc1} -> {[F | Closed], Acc1};
                            {error, not_found} -> {Closed, Acc} % closed meanwhile: nothing to tell
                        end
                end, {[], T#table{arms = []}}, Failed).

is_live(Id, Res, Conns) ->
    case Conns of
        #{Id := #conn{res = R}} -> R =:= Res;
        _ -> false
    end.

%% @doc Close the BEAM's copy of a live connection's fd.
-spec close(pos_integer(), table()) -> {ok, table()} | {error, not_found}.
close(Id, T) -> close(Id, true, T).

close(Id, Shutdown, T = #table{conns = Conns}) ->
    case Conns of
        #{Id := C} ->
            ok = reactor_nif:close(C#conn.res, Shutdown),
            {ok, forget(Id, C, T)};
        _ ->
            {error, not_found}
    end.

forget(Id, #conn{meta = Meta, reported = Reported}, T = #table{conns = Conns, ended = Ended}) ->
    T1 = T#table{conns = maps:remove(Id, Conns)},
    case Ended of
        #{} when not Reported, map_size(Ended) < ?MAX_ENDED -> T1#table{ended = Ended#{Id => Meta}};
        _ -> T1
    end.

%% @doc Who was at the other end of a connection Node reports the end of
%% (live, opening, or closed here already), and forgets it: its close after
%% this keeps nothing for a report.
-spec ended(pos_integer(), table()) -> {meta() | undefined, table()}.
ended(Id, T = #table{conns = Conns, opening = P, ended = Ended}) ->
    case {Conns, Ended, P} of
        {#{Id := C = #conn{meta = Meta}}, _, _} -> {Meta, T#table{conns = Conns#{Id := C#conn{reported = true}}}};
        {_, #{Id := Meta}, _} -> {Meta, T#table{ended = maps:remove(Id, Ended)}};
        {_, _, #{Id := {Call, I, Res, Meta, _}}} -> {Meta, T#table{opening = P#{Id := {Call, I, Res, Meta, true}}}};
        _ -> {undefined, T}
    end.

%% @doc The context is going: every fd it holds is closed.
-spec close_all(table()) -> ok.
close_all(#table{poller = Poller, conns = C, opening = P}) ->
    maps:foreach(fun(_, #conn{res = R}) -> reactor_nif:close(R, true) end, C),
    maps:foreach(fun(_, {_, _, R, _, _}) -> reactor_nif:close(R, true) end, P),
    reactor_nif:close(Poller, false).

peer_of(#{addr := A, port := P}) -> {A, P};
peer_of(#{addr := A}) -> A;
peer_of(_) -> undefined.
