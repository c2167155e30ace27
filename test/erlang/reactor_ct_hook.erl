%% @doc The Common Test hook of every suite here (rebar.config's ct_opts), as
%% ranch's ranch_ct_hook: the application is started once for the whole run,
%% not by each suite's init_per_suite.
%%
%% A suite may stop the application in a case (reactor_faults_SUITE does, and
%% starts it again); the next suite finds it running all the same. What a
%% suite leaves registered (a listener or a context of a case that failed
%% midway) is stopped after it and logged, so that it cannot fail the next
%% suite with `already_started'.
-module(reactor_ct_hook).

-export([init/2, pre_init_per_suite/3, post_end_per_suite/4, terminate/1]).

%% @doc Called once, before the first suite: starts reactor.
-spec init(term(), term()) -> {ok, undefined}.
init(_Id, _Opts) ->
    {ok, _} = application:ensure_all_started(reactor),
    {ok, undefined}.

%% @doc Before each suite's init_per_suite: reactor runs (again, if a suite
%% before this one stopped it and did not start it).
-spec pre_init_per_suite(atom(), Config, State) -> {Config, State}
              when Config :: list() | {fail, term()} | {skip, term()}, State :: undefined.
pre_init_per_suite(_Suite, Config, State) ->
    {ok, _} = application:ensure_all_started(reactor),
    {Config, State}.

%% @doc After each suite's end_per_suite: its leftovers are stopped.
-spec post_end_per_suite(atom(), list(), Return, State) -> {Return, State}
              when Return :: term(), State :: undefined.
post_end_per_suite(Suite, _Config, Return, State) ->
    Left = case whereis(reactor_registry) of
               undefined -> [];
               _ -> reactor_registry:names()
           end,
    [begin
         ct:log("~p left ~p (~p) behind: stopped", [Suite, Name, Pid]),
         stop(Name, Pid)
     end || {Name, Pid} <- Left],
    {Return, State}.

%% @doc Once, after the last suite.
-spec terminate(undefined) -> ok.
terminate(_State) ->
    _ = application:stop(reactor),
    ok.

stop({listener, Name}, _Pid) -> catch reactor:stop_listener(Name);
stop({context, _Id}, Pid) -> catch reactor_context:stop(Pid);
stop(_, _) -> ok.
