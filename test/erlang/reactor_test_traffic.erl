%% @doc Traffic for the live-operation suites (reload, replace): clients that
%% keep asking while the operation runs, each process recording what it was
%% answered and what failed.
-module(reactor_test_traffic).

-export([start/4, stop/1]).

%% @doc `Live' clients that ask on one connection each, lock-step, and
%% `Fresh' clients that connect, ask once and close, over and over, until
%% stop/1; `Ask(Socket)' -> `{ok, Answer} | {error, Why}'. Returns the pids
%% of each kind (linked to the caller).
-spec start(inet:port_number(), fun((gen_tcp:socket()) -> {ok, term()} | {error, term()}),
            non_neg_integer(), non_neg_integer()) -> {[pid()], [pid()]}.
start(Port, Ask, Live, Fresh) ->
    Self = self(),
    L = [spawn_link(fun() -> S = reactor_test_lib:connect(Port), loop(Self, fun() -> Ask(S) end, [], []) end)
         || _ <- lists:seq(1, Live)],
    F = [spawn_link(fun() -> loop(Self, fun() -> ask_once(Port, Ask) end, [], []) end)
         || _ <- lists:seq(1, Fresh)],
    {L, F}.

%% @doc Stops start/4's clients: per client in order, `#{answers, failed}'
%% (answers in the order they came).
-spec stop([pid()]) -> [#{answers := [term()], failed := [term()]}].
stop(Clients) ->
    [P ! stop || P <- Clients],
    [receive {P, R} -> R after 10000 -> error({no_result, P}) end || P <- Clients].

ask_once(Port, Ask) ->
    S = reactor_test_lib:connect(Port),
    R = Ask(S),
    gen_tcp:close(S),
    R.

loop(Parent, Ask, Answers, Failed) ->
    receive
        stop -> Parent ! {self(), #{answers => lists:reverse(Answers), failed => Failed}}
    after 0 ->
        case Ask() of
            {ok, A} -> loop(Parent, Ask, [A | Answers], Failed);
            {error, E} -> loop(Parent, Ask, Answers, [E | Failed])
        end
    end.
