%% @doc Handoff calls waiting for Node: one batch per call, one result per fd
%% in the caller's order, the reply sent when the last result is in.
-module(reactor_batches).

-export([new/0, open/4, result/4, stop_all/2]).

-export_type([batches/0]).

-opaque batches() :: #{reference() => {gen_server:from(), #{pos_integer() => term()},
                                        Waiting :: pos_integer(), Total :: pos_integer()}}.

-spec new() -> batches().
new() -> #{}.

%% @doc A batch of `Total' results, `Known' already decided (index => result),
%% the others to come through result/4.
-spec open(gen_server:from(), #{pos_integer() => term()}, pos_integer(), batches()) ->
    {reference(), batches()}.
open(From, Known, Total, B) ->
    Ref = make_ref(),
    {Ref, B#{Ref => {From, Known, Total - map_size(Known), Total}}}.

%% @doc Result `I' of a batch is in; the last one sends the reply.
-spec result(reference(), pos_integer(), term(), batches()) -> batches().
result(Batch, I, Result, B) ->
    case maps:find(Batch, B) of
        {ok, {From, Known, 1, Total}} ->
            gen_server:reply(From, fill(Known#{I => Result}, Total, undefined)),
            maps:remove(Batch, B);
        {ok, {From, Known, N, Total}} ->
            B#{Batch => {From, Known#{I => Result}, N - 1, Total}};
        error ->
            B
    end.

%% @doc The context is going: every waiting result is `{error, Reason}'.
-spec stop_all(term(), batches()) -> ok.
stop_all(Reason, B) ->
    maps:foreach(fun(_, {From, Known, _, Total}) ->
                         gen_server:reply(From, fill(Known, Total, {error, Reason}))
                 end, B).

fill(Known, Total, Default) ->
    [maps:get(I, Known, Default) || I <- lists:seq(1, Total)].
