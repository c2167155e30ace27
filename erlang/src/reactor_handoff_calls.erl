%% @doc The handoff calls a context has not answered yet because Node has
%% not acknowledged all their fds: one entry per call, one result per fd in
%% the caller's order, the reply sent (gen_server:reply/2) when the last
%% result is in.
-module(reactor_handoff_calls).

-export([new/0, add/4, result/4, stop_all/2]).

-export_type([calls/0]).

-opaque calls() :: #{reference() => {gen_server:from(), #{pos_integer() => term()},
                                      Waiting :: pos_integer(), Total :: pos_integer()}}.

-spec new() -> calls().
new() -> #{}.

%% @doc A call from `From' for `Total' fds, `Known' of their results already
%% decided (index => result), the others to come through result/4. Returns
%% the reference those name the call by.
-spec add(gen_server:from(), #{pos_integer() => term()}, pos_integer(), calls()) ->
    {reference(), calls()}.
add(From, Known, Total, Calls) when map_size(Known) < Total ->
    Ref = make_ref(),
    {Ref, Calls#{Ref => {From, Known, Total - map_size(Known), Total}}}.

%% @doc Result `I' of call `Ref' is in; the last one sends the reply. A call
%% unknown here (answered already) is left alone.
-spec result(reference(), pos_integer(), term(), calls()) -> calls().
result(Ref, I, Result, Calls) ->
    case maps:find(Ref, Calls) of
        {ok, {From, Known, 1, Total}} ->
            gen_server:reply(From, fill(Known#{I => Result}, Total, undefined)),
            maps:remove(Ref, Calls);
        {ok, {From, Known, N, Total}} ->
            Calls#{Ref => {From, Known#{I => Result}, N - 1, Total}};
        error ->
            Calls
    end.

%% @doc The context is going: every result still to come is `{error, Reason}'.
-spec stop_all(term(), calls()) -> ok.
stop_all(Reason, Calls) ->
    maps:foreach(fun(_, {From, Known, _, Total}) ->
                         gen_server:reply(From, fill(Known, Total, {error, Reason}))
                 end, Calls).

fill(Known, Total, Default) ->
    [maps:get(I, Known, Default) || I <- lists:seq(1, Total)].
