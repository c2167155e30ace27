%% @doc One listener, shaped as ranch shapes it: the listener (its socket, its
%% counters, the contexts it feeds) and then the supervisor of its acceptors,
%% `rest_for_one': a listener that restarts takes fresh acceptors with it, an
%% acceptor that crashes is restarted alone, and a crash loop stops at the
%% restart intensity instead of spinning.
-module(reactor_listener_sup).
-behaviour(supervisor).

-export([start_link/2, child_spec/2, init/1]).

-spec start_link(term(), reactor_listener:opts()) -> supervisor:startlink_ret().
start_link(Name, Opts) ->
    supervisor:start_link({via, reactor_registry, {listener_sup, Name}}, ?MODULE, {Name, Opts}).

%% @doc For a supervisor of your own; see reactor:listener_child_spec/2.
-spec child_spec(term(), reactor_listener:opts()) -> supervisor:child_spec().
child_spec(Name, Opts) ->
    #{id => {reactor_listener, Name},
      start => {?MODULE, start_link, [Name, Opts]},
      type => supervisor,
      shutdown => infinity,
      modules => [?MODULE]}.

init({Name, Opts}) ->
    N = maps:get(acceptors, Opts, 4),
    {ok, {#{strategy => rest_for_one, intensity => 10, period => 10},
          [#{id => reactor_listener,
             start => {reactor_listener, start_link, [Name, Opts]},
             shutdown => 5000},
           #{id => reactor_acceptors_sup,
             start => {reactor_acceptors_sup, start_link, [Name, N]},
             type => supervisor,
             shutdown => infinity}]}}.
