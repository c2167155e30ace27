%% @private
%% reactor_sup: the registry, the default context (when the application env
%% names one) and the listeners started with reactor:start_listener/2.
-module(reactor_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Default = case application:get_env(reactor, default_context) of
                  {ok, Opts} when is_map(Opts) ->
                      [#{id => reactor_default_context,
                         start => {reactor_context, start_link,
                                   [default, Opts#{name => reactor_default_context}]},
                         shutdown => maps:get(stop_timeout, Opts, 5000) + 5000
                         }];
                  _ ->
                      []
              end,
    Registry = #{id => reactor_registry, start => {reactor_registry, start_link, []}},
    Listeners = #{id => reactor_listeners_sup,
                  start => {reactor_listeners_sup, start_link, []},
                  type => supervisor},
    %% rest_for_one: everything registers in the registry
    {ok, {#{strategy => rest_for_one, intensity => 10, period => 10},
          [Registry] ++ Default ++ [Listeners]}}.
