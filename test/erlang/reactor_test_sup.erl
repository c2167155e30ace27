%% @doc A supervisor of the test's own, as a user's application has: the
%% suites put contexts and listeners in it (reactor:child_spec/2,
%% reactor:listener_child_spec/2) to see them restarted the OTP way.
-module(reactor_test_sup).
-behaviour(supervisor).

-export([start/1, stop/1]).
-export([init/1]).

%% @doc A one_for_one supervisor of Children (20 restarts in 10 s), not
%% linked to the caller, so that a case that kills its children survives.
-spec start([supervisor:child_spec()]) -> pid().
start(Children) ->
    {ok, Sup} = supervisor:start_link(?MODULE, Children),
    unlink(Sup),
    Sup.

%% @doc Shuts the supervisor down and waits for it (15 s at most).
-spec stop(pid()) -> ok.
stop(Sup) ->
    Ref = monitor(process, Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Ref, process, Sup, _} -> ok after 15000 -> error(sup_stuck) end.

%% @private
init(Children) ->
    {ok, {#{strategy => one_for_one, intensity => 20, period => 10}, Children}}.
