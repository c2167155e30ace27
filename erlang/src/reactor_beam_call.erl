%% @doc TypeScript calls Erlang: beam.call and beam.send, as a context's
%% bridge (reactor_bridge) hands them over.
%%
%% A beam.call runs in a process of its own, never the context's: a worker
%% (spawned here) decodes the call, finds the function (the context's
%% `handlers', then the node's, reactor_functions), runs it in a process it
%% monitors (`spawn_monitor'), kills it when the timeout passes, and sends the
%% reply frame to the Node that asked itself (any process may write to a
%% port). So a slow or crashing function costs the context nothing, and a
%% reply reaches its Node even after replace/2 gave that Node to a drain.
%%
%% Calls in flight per context are bounded (`max_beam_calls'): Node refuses
%% past its bound at once (EOVERLOADED), and this side refuses past the same
%% bound too, should Node's count ever be behind.
-module(reactor_beam_call).

-export([start/1, send/2]).
-export([run/1]). % spawned

-export_type([call/0]).

%% What the context gives a worker: how to send a frame to the Node that
%% asked, the counter of calls in flight and its bound, the functions, the
%% default timeout, the request's id and its elements still encoded
%% (`{Name, Args, Timeout}'), and the context's id for the log.
-type call() :: #{send := fun((iodata()) -> ok), in_flight := atomics:atomics_ref(),
                  max := pos_integer(), handlers := #{binary() => reactor_bridge:handler()},
                  timeout := non_neg_integer(), id := non_neg_integer(), request := binary(),
                  context := term()}.

%% A crash's formatted reason is cut here.
-define(MAX_MESSAGE, 65536).

%% @doc A beam.call: its worker started, or `overloaded' answered at once.
-spec start(call()) -> ok.
start(Call = #{in_flight := A, max := Max, send := Send, id := Id}) ->
    case atomics:add_get(A, 1, 1) > Max of
        true ->
            atomics:sub(A, 1, 1),
            reply(Send, Id, {error, {overloaded, iolist_to_binary(
                                                  io_lib:format("~b beam.calls are in flight (max_beam_calls)", [Max]))}});
        false ->
            _ = spawn(?MODULE, run, [Call]),
            ok
    end.

%% @private The worker.
-spec run(call()) -> ok.
run(#{send := Send, in_flight := A, handlers := Handlers, timeout := Default, id := Id, request := Request}) ->
    Result = case reactor_term:decode(Request) of
                 {ok, {Name, Args, Timeout}} when is_binary(Name), is_list(Args) ->
                     case handler(Name, Handlers) of
                         {ok, H} -> execute(H, Args, call_timeout(Timeout, Default));
                         error -> {error, {no_function, <<"no function is registered as \"", Name/binary, "\"">>}}
                     end;
                 {ok, _} ->
                     {error, {bad_term, <<"malformed beam.call">>}};
                 {error, Why} ->
                     {error, {bad_term, decode_error(Why)}}
             end,
    %% Node's count of calls in flight drops when the reply arrives: ours first
    atomics:sub(A, 1, 1),
    reply(Send, Id, Result).

call_timeout(T, _) when is_integer(T), T >= 0, T =< 16#FFFFFFFF -> T; % receive's own bound
call_timeout(_, Default) -> Default.

%% The context's own functions first, then the node's.
handler(Name, Handlers) ->
    case Handlers of
        #{Name := H} -> {ok, H};
        _ -> reactor_functions:lookup(Name)
    end.

%% The function in a process of its own; its result (or its crash, formatted)
%% leaves in its exit reason, so the one 'DOWN' says everything.
execute(H, Args, Timeout) ->
    Tag = make_ref(),
    {Pid, MRef} = spawn_monitor(fun() -> exit({Tag, invoke(H, Args)}) end),
    receive
        {'DOWN', MRef, process, Pid, {Tag, Result}} ->
            Result;
        {'DOWN', MRef, process, Pid, Reason} ->
            {error, {exception, bounded(io_lib:format("exit: ~0p", [Reason]))}}
    after Timeout ->
        exit(Pid, kill),
        demonitor(MRef, [flush]),
        {error, {timeout, iolist_to_binary(io_lib:format("no result within ~b ms", [Timeout]))}}
    end.

invoke(H, Args) ->
    try apply_handler(H, Args) of
        V -> {ok, V}
    catch
        Class:Reason:Stack ->
            {error, {exception, bounded(erl_error:format_exception(Class, Reason, Stack))}}
    end.

apply_handler({M, F}, Args) -> apply(M, F, Args);
apply_handler(Fun, Args) -> apply(Fun, Args).

%% `{reply, ReqId, ok, Term}', or `{reply, ReqId, error, {Code, Message}}'
%% (Code: exception, no_function, timeout, overloaded, bad_term).
reply(Send, Id, {ok, V}) ->
    case reactor_bridge:frame({reply, Id, ok, V}) of
        {ok, Frame} ->
            Send(Frame);
        {error, Why} ->
            reply(Send, Id, {error, {bad_term, bounded(io_lib:format("the result cannot cross the bridge: ~0P",
                                                                     [Why, 8]))}})
    end;
reply(Send, Id, {error, {Code, Message}}) ->
    {ok, Frame} = reactor_bridge:frame({reply, Id, error, {Code, Message}}),
    Send(Frame).

decode_error({unknown_atom, Name}) ->
    <<"the arguments hold the atom '", Name/binary, "', which ", (atom_to_binary(node()))/binary,
      " does not have">>;
decode_error(Why) ->
    bounded(io_lib:format("the arguments cannot be decoded: ~0p", [Why])).

%% @doc A beam.send, decoded (reactor_bridge:elements/2): `Term' to a pid, a
%% registered name (an atom, or a binary naming an existing atom) or
%% `{Name, Node}'. Like `erlang:send/2' it does not say whether anyone got
%% it; unlike it, a name nobody has registered, or an atom this node does not
%% have, does not raise (Node cannot hear it): the send is dropped, logged,
%% and `dropped' comes back for the context to count.
-spec send({ok, {term(), term()}} | {error, term()}, term()) -> ok | dropped.
send({ok, {Dest, Term}}, Ctx) ->
    case dest(Dest) of
        {ok, To} ->
            try erlang:send(To, Term) of
                _ -> ok
            catch
                error:badarg -> dropped(Ctx, io_lib:format("no process is registered as ~0p", [To]))
            end;
        error ->
            dropped(Ctx, io_lib:format("~0P is not a pid or a registered name", [Dest, 8]))
    end;
send({error, {unknown_atom, Name}}, Ctx) ->
    dropped(Ctx, ["it holds the atom '", Name, "', which this node does not have"]);
send({error, Why}, Ctx) ->
    dropped(Ctx, io_lib:format("it cannot be decoded: ~0p", [Why])).

dest(P) when is_pid(P) -> {ok, P};
dest(A) when is_atom(A) -> {ok, A};
dest(B) when is_binary(B) -> existing(B);
dest({Name, Node}) ->
    case {dest(Name), dest(Node)} of
        {{ok, N}, {ok, Nd}} when is_atom(N), is_atom(Nd) -> {ok, {N, Nd}};
        _ -> error
    end;
dest(_) -> error.

existing(B) ->
    try {ok, binary_to_existing_atom(B)}
    catch error:badarg -> error
    end.

dropped(Ctx, Why) ->
    logger:warning("reactor context ~0p: beam.send dropped: ~ts", [Ctx, Why], #{reactor_context => Ctx}),
    dropped.

bounded(Chars) ->
    B = unicode:characters_to_binary(Chars),
    case B of
        <<Head:?MAX_MESSAGE/binary, _/binary>> -> <<Head/binary, "...">>;
        _ -> B
    end.
