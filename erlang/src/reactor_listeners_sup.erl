%% @private
%% The listeners started with reactor:start_listener/2, one reactor_listener_sup
%% each. Listeners in users' own trees (reactor:listener_child_spec/2) are not here.
-module(reactor_listeners_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, []}}.
