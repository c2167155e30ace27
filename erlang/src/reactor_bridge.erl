%% @doc The bridge: terms both ways between Erlang and a context's Node
%% process, on the port beside the control protocol (reactor_wire).
%%
%% A port frame whose payload starts with 131 is control; one that starts with
%% `$B' is a bridge message, `<<$B, ETF/binary>>', the ETF a tuple whose first
%% element is an atom naming its kind. Erlang encodes with reactor_term:encode/1
%% (bounded), Node with ts/term.ts; what Node sends is read with
%% reactor_term:decode/1 (`binary_to_term(B, [safe])'): Node never makes an atom.
%% docs/bridge.md, "Wire", has every message.
%%
%% Erlang to Node (built here): `{call, CallId, Name, Args}', `{eval, CallId,
%% Source}' (reactor_context:call/4, eval/3: request/4 in the caller, then
%% handle_call/3 in the context) and `{reply, ReqId, ok | error, Term}'
%% (reactor_beam_call, in the worker that ran the function), `{joined, ConnId,
%% Group}' (the answer to a join: the context is in the pg group).
%% Node to Erlang (from_node/2, one clause of kind/4 per kind): `{result,
%% CallId, ok | error, Term}', `{call, ReqId, Name, Args, Timeout}' (beam.call),
%% `{send, Dest, Term}' (beam.send).
%%
%% Extension point: a new kind from Node is a name in kind_name/1 and a clause
%% of kind/4, which gets the elements after the kind still encoded (decode them
%% with elements/2, or take a leading integer id with id/1); a new kind to Node
%% is a frame/1 of its tuple, sent with reactor_served:send/2.
%%
%% What a context serves holds one bridge() (reactor_served), so the calls in
%% flight to a Node move with it when replace/2 hands it to a drain.
-module(reactor_bridge).

-export([new/1, take_over/1, stop/1, in_flight/1]).
-export([request/4, handle_call/3]).
-export([frame/1, frame/3, from_node/2, parse/1, elements/2, id/1]).
-export([encode_request/2, request_frame/3]).

-export_type([bridge/0, handler/0]).

-include("reactor_served.hrl").
-include("reactor_limits.hrl").

%% A function Erlang offers to beam.call: a fun of as many arguments as the
%% call gives, or `{Module, Function}' applied to them.
-type handler() :: fun() | {module(), atom()}.
-type call_id() :: 0..?MAX_ID.

-record(bridge, {
    %% reactor_context:call/eval in flight: the caller, and when (monotonic
    %% ms) it stops waiting. The caller's own gen_server:call times out; an
    %% entry past its time stays until Node answers or max_calls is reached
    %% (purge/2), so that no call needs a timer here.
    calls = #{} :: #{call_id() => {gen_server:from(), integer() | infinity}},
    next = 0 :: call_id(),
    max_calls :: pos_integer(),
    %% beam.call: the functions, and the calls in flight (their workers
    %% decrement it, reactor_beam_call)
    handlers :: #{binary() => handler()},
    beam :: atomics:atomics_ref(),
    max_beam_calls :: pos_integer(),
    beam_call_timeout :: non_neg_integer()
}).

-opaque bridge() :: #bridge{}.

%% Room for a message's head (tag, kind, id) around the elements of the caller's.
-define(HEAD_ROOM, 64).

%%% The bridge of what a context serves

%% @doc A bridge with a context's options (reactor_config: `max_calls',
%% `handlers', `max_beam_calls', `beam_call_timeout').
-spec new(map()) -> bridge().
new(Opts) ->
    #bridge{max_calls = reactor_config:get(max_calls, Opts),
            handlers = maps:fold(fun(N, F, Acc) -> Acc#{reactor_config:handler_name(N) => F} end,
                                 #{}, reactor_config:get(handlers, Opts)),
            beam = atomics:new(1, []),
            max_beam_calls = reactor_config:get(max_beam_calls, Opts),
            beam_call_timeout = reactor_config:get(beam_call_timeout, Opts)}.

%% @doc The calling process (a drain) takes over the calls in flight: they
%% need nothing moved (no timers), their callers' aliases reach any process.
-spec take_over(bridge()) -> bridge().
take_over(B) -> B.

%% @doc The holder is going: every call in flight gets `{error, not_running}'.
-spec stop(bridge()) -> bridge().
stop(B = #bridge{calls = Calls}) ->
    maps:foreach(fun(_, {From, _}) -> gen_server:reply(From, {error, not_running}) end, Calls),
    B#bridge{calls = #{}}.

%% @doc Calls in flight, as info/1 counts them: to Node (call/eval) and
%% from it (beam.call).
-spec in_flight(bridge()) -> #{calls_in_flight := non_neg_integer(), beam_calls_in_flight := non_neg_integer()}.
in_flight(#bridge{calls = C, beam = A}) ->
    #{calls_in_flight => map_size(purge(C, now_ms())), beam_calls_in_flight => atomics:get(A, 1)}.

%%% Erlang calls Node

%% @doc In the caller (reactor_context:call/4, eval/3): `{call, CallId, Name,
%% Args}' or `{eval, CallId, Source}' to the context's Node, and its result.
%% The elements after the id are encoded here, not in the context, which adds
%% the kind and the id. Raises `{bad_term, reactor_term:encode_error()}' for
%% elements that cannot cross, as encodeTerm throws a TypeError at its call site.
-spec request(reactor_context:context(), call | eval, [term()], timeout()) -> {ok, term()} | {error, term()}.
request(Ctx, call, [Name, Args], Timeout) when is_list(Args) ->
    send_request(Ctx, call, {text(Name), Args}, Timeout);
request(Ctx, eval, [Source], Timeout) ->
    send_request(Ctx, eval, {text(Source)}, Timeout).

send_request(Ctx, Kind, Elements, Timeout) ->
    case encode_request(Kind, Elements) of
        {ok, Encoded} ->
            try gen_server:call(Ctx, {?MODULE, {Kind, Encoded, Timeout}}, Timeout) of
                {?MODULE, Status, Result} -> result(Status, Result);
                {error, _} = E -> E % overloaded, not_running
            catch
                exit:{timeout, _} -> {error, timeout};
                %% gone (noproc, nodedown), stopping, or died while we waited
                exit:{_, {gen_server, call, _}} -> {error, not_running}
            end;
        {error, Why} ->
            error({bad_term, Why})
    end.

%% @doc A request's elements after its id, encoded in the caller; the
%% context adds the kind and the id (request_frame/3).
-spec encode_request(call | eval, tuple()) -> {ok, {non_neg_integer(), binary()}} | {error, reactor_term:encode_error()}.
encode_request(_Kind, Elements) when tuple_size(Elements) < 254 ->
    Max = reactor_term:max_size() - ?HEAD_ROOM,
    %% {Name, Args}: the tuple and the list are the message's, each argument nests max_depth/0
    case reactor_term:encode(Elements, 2) of
        {ok, <<131, 104, N, Body/binary>>} when byte_size(Body) =< Max -> {ok, {N, Body}};
        {ok, Bin} -> {error, {too_large, byte_size(Bin) + ?HEAD_ROOM}};
        {error, _} = E -> E
    end.

%% @doc The frame of request `Id': `{Kind, Id, Elements...}'.
-spec request_frame(call | eval, call_id(), {non_neg_integer(), binary()}) -> iodata().
request_frame(Kind, Id, {N, Body}) -> [<<$B, 131, 104, (N + 2)>>, ext(Kind), id_ext(Id), Body].

%% The id as term_to_binary writes an integer of 0..?MAX_ID.
id_ext(Id) when Id =< 255 -> <<97, Id>>;
id_ext(Id) -> <<98, Id:32>>.

text(A) when is_atom(A) -> atom_to_binary(A);
text(S) ->
    case unicode:characters_to_binary(S) of
        B when is_binary(B) -> B;
        _ -> error({bad_term, {not_text, S}})
    end.

%% The elements after the id in Node's `{result, CallId, Status, Term}', decoded here in the caller.
result(Status, Encoded) ->
    case reactor_term:decode(Encoded) of
        {ok, {Term}} when Status =:= ok -> {ok, Term};
        {ok, {{exception, Message, Stack} = E}} when is_binary(Message), is_binary(Stack) -> {error, E};
        {ok, {{no_function, Name} = E}} when is_binary(Name) -> {error, E};
        {ok, Other} -> {error, {exception, <<"bad result from Node">>, snippet(Other)}};
        {error, {unknown_atom, Name}} ->
            {error, {exception, <<"TypeError: the result holds the atom '", Name/binary,
                                  "', which this node does not have">>, <<>>}};
        {error, Why} ->
            {error, {exception, <<"TypeError: the result cannot be decoded">>, snippet(Why)}}
    end.

%% @doc In the context: a request/4 goes to Node with a fresh id, or is
%% refused at once when `max_calls' whose callers still wait are in flight.
%% The context's handle_call/3 gives this every `{reactor_bridge, Request}'.
-spec handle_call(tuple(), gen_server:from(), #served{}) -> {noreply, #served{}} | {reply, term(), #served{}}.
handle_call({Kind, Encoded, Timeout}, From, Sv = #served{bridge = B}) ->
    #bridge{calls = Calls0, next = Next, max_calls = Max} = B,
    Now = now_ms(),
    Calls = case map_size(Calls0) >= Max of
                true -> purge(Calls0, Now);
                false -> Calls0
            end,
    case map_size(Calls) >= Max of
        true ->
            {reply, {error, overloaded}, Sv#served{bridge = B#bridge{calls = Calls}}};
        false ->
            Id = free_id(Next, Calls),
            reactor_served:send(Sv, request_frame(Kind, Id, Encoded)),
            Deadline = case Timeout of infinity -> infinity; _ -> Now + Timeout end,
            Calls1 = Calls#{Id => {From, Deadline}},
            {noreply, Sv#served{bridge = B#bridge{calls = Calls1, next = (Id + 1) band ?MAX_ID}}}
    end.

%% The calls whose callers still wait (a result for one that gave up would be
%% dropped by its alias anyway).
purge(Calls, Now) -> maps:filter(fun(_, {_, Deadline}) -> Deadline >= Now end, Calls).

%% Ids wrap at 2^31: one still in flight from the last round is skipped.
free_id(Id, Calls) when is_map_key(Id, Calls) -> free_id((Id + 1) band ?MAX_ID, Calls);
free_id(Id, _) -> Id.

%%% Frames

%% @doc A bridge frame of `Message' for Node, or why it cannot cross.
-spec frame(tuple()) -> {ok, iodata()} | {error, reactor_term:encode_error()}.
frame(Message) when is_tuple(Message) ->
    case reactor_term:encode(Message) of
        {ok, Bin} -> {ok, [$B, Bin]};
        {error, _} = E -> E
    end.

%% @doc A bridge frame of `{Kind, Head, Term}' whose term is encoded already
%% (reactor_term:encode/1): a message for a connection or a group's publish,
%% its term encoded once by the sender, however many contexts it goes to.
-spec frame(message | publish, term(), binary()) -> iodata().
frame(Kind, Head, <<131, Term/binary>>) ->
    [<<$B, 131, 104, 3>>, ext(Kind), ext(Head), Term].

%% @doc A bridge frame from Node, applied. A frame that is not a tagged tuple
%% is logged and dropped: the port's framing is intact, the next one is read.
-spec from_node(binary(), #served{}) -> #served{}.
from_node(Frame, Sv) ->
    case parse(Frame) of
        {ok, Kind, N, Elements} -> kind(Kind, N, Elements, Sv);
        error -> malformed(Frame, Sv)
    end.

%% @doc A bridge frame from Node, its kind read: the kind (of the
%% whitelist), and its other elements, how many and still encoded (elements/2
%% decodes them).
-spec parse(binary()) -> {ok, atom(), non_neg_integer(), binary()} | error.
parse(<<$B, 131, 104, Arity, Rest/binary>>) when Arity >= 1 ->
    case atom_ext(Rest) of
        {ok, Name, Elements} ->
            case kind_name(Name) of
                undefined -> error;
                Kind -> {ok, Kind, Arity - 1, Elements}
            end;
        error ->
            error
    end;
parse(_) ->
    error.

%% The kinds Node sends (a whitelist: nothing Node sends becomes an atom).
kind_name(<<"result">>) -> result;
kind_name(<<"call">>) -> call;
kind_name(<<"send">>) -> send;
kind_name(<<"join">>) -> join;
kind_name(<<"leave">>) -> leave;
kind_name(<<"publish">>) -> publish;
kind_name(_) -> undefined.

%% One clause per kind: `N' elements after the kind, still encoded.
kind(result, 3, Elements, Sv = #served{bridge = B = #bridge{calls = Calls}}) ->
    case id(Elements) of
        {ok, Id, Rest} ->
            case maps:take(Id, Calls) of
                {{From, _}, Calls1} ->
                    case atom_ext(Rest) of
                        {ok, <<"ok">>, Term} -> gen_server:reply(From, {?MODULE, ok, encoded(1, Term)});
                        {ok, <<"error">>, Term} -> gen_server:reply(From, {?MODULE, error, encoded(1, Term)});
                        _ ->
                            gen_server:reply(From, {error, {exception, <<"bad result from Node">>, <<>>}})
                    end,
                    Sv#served{bridge = B#bridge{calls = Calls1}};
                error ->
                    Sv % Node answered a call it was not given: a stale id
            end;
        error ->
            malformed(Elements, Sv)
    end;
kind(call, 4, Elements, Sv = #served{bridge = B}) ->
    case id(Elements) of
        {ok, ReqId, Rest} ->
            #bridge{beam = A, max_beam_calls = Max, handlers = H, beam_call_timeout = T} = B,
            reactor_beam_call:start(#{send => reactor_served:sender(Sv), in_flight => A, max => Max,
                                      handlers => H, timeout => T, id => ReqId,
                                      request => encoded(3, Rest), context => Sv#served.id}),
            Sv;
        error ->
            malformed(Elements, Sv)
    end;
kind(send, 2, Elements, Sv) ->
    case reactor_beam_call:send(elements(2, Elements), Sv#served.id) of
        ok -> Sv;
        dropped -> reactor_served:count(beam_sends_dropped, Sv)
    end;
kind(Op, 2, Elements, Sv) when Op =:= join; Op =:= leave ->
    case elements(2, Elements) of
        {ok, {Id, G}} when is_integer(Id) ->
            case reactor_served:group(Op, Id, G, Sv) of
                {ok, Sv1} when Op =:= join ->
                    %% the context is in the pg group now: join()'s Promise resolves
                    {ok, Joined} = frame({joined, Id, G}),
                    reactor_served:send(Sv1, Joined),
                    Sv1;
                {ok, Sv1} -> Sv1;
                error -> malformed({Op, Id, G}, Sv)
            end;
        _ ->
            malformed({Op, Elements}, Sv)
    end;
kind(publish, 2, <<109, Len:32, G:Len/binary, Term/binary>>, Sv) ->
    %% the term goes on as Node encoded it, once it is known to be one
    Encoded = <<131, Term/binary>>,
    case reactor_groups:is_group(G) andalso reactor_term:decode(Encoded) of
        {ok, _} ->
            reactor_groups:publish(G, Encoded),
            Sv;
        {error, Why} ->
            logger:warning("reactor context ~0p: beam.publish to ~0p dropped: ~0p", [Sv#served.id, G, Why]),
            reactor_served:count(publishes_dropped, Sv);
        false ->
            malformed({publish, G}, Sv)
    end;
kind(Kind, N, Elements, Sv) ->
    malformed({Kind, N, Elements}, Sv).

%% @doc `N' encoded elements of a message, decoded (as a tuple of them).
-spec elements(non_neg_integer(), binary()) -> {ok, tuple()} | {error, reactor_term:decode_error()}.
elements(N, Encoded) -> reactor_term:decode(encoded(N, Encoded)).

encoded(N, Encoded) -> <<131, 104, N, Encoded/binary>>.

%% @doc The integer that leads encoded elements (a call's or a request's id), and the rest.
-spec id(binary()) -> {ok, non_neg_integer(), binary()} | error.
id(<<97, I, Rest/binary>>) -> {ok, I, Rest};
id(<<98, I:32/signed, Rest/binary>>) when I >= 0 -> {ok, I, Rest};
id(_) -> error.

%% An atom's name (the forms Node and term_to_binary write), and what follows it.
atom_ext(<<119, Len, Name:Len/binary, Rest/binary>>) -> {ok, Name, Rest};
atom_ext(<<118, Len:16, Name:Len/binary, Rest/binary>>) -> {ok, Name, Rest};
atom_ext(<<115, Len, Name:Len/binary, Rest/binary>>) -> {ok, Name, Rest};
atom_ext(<<100, Len:16, Name:Len/binary, Rest/binary>>) -> {ok, Name, Rest};
atom_ext(_) -> error.

%% A small term's encoding without the version byte: a message's head.
ext(T) ->
    <<131, B/binary>> = term_to_binary(T),
    B.

malformed(What, Sv) ->
    logger:error("reactor context ~0p: malformed bridge frame from Node: ~ts", [Sv#served.id, snippet(What)]),
    reactor_served:count(node_errors, Sv).

snippet(T) ->
    B = iolist_to_binary(io_lib:format("~0P", [T, 12])),
    case B of
        <<Head:200/binary, _/binary>> -> <<Head/binary, "...">>;
        _ -> B
    end.

now_ms() -> erlang:monotonic_time(millisecond).


