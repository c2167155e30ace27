%% @private
%% reactor_sup: the application's tree. The registry, the pg scopes of
%% reactor_cluster and reactor_groups, the functions beam.call reaches
%% (reactor_functions), then (init(servers)) the default context, when the
%% application env names one, and the listeners started with
%% reactor:start_listener/2.
-module(reactor_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% The registry first, everything that registers after it: if the registry
%% restarts, so does the rest (rest_for_one), since the names were lost.
init([]) ->
    Registry = #{id => reactor_registry, start => {reactor_registry, start_link, []}},
    %% contexts join groups here, for the cluster view (reactor_cluster)
    Pg = #{id => reactor_pg, start => {pg, start_link, [reactor_cluster:scope()]}},
    %% the functions beam.call finds on every context (reactor:register_function/2)
    Functions = #{id => reactor_functions, start => {reactor_functions, start_link, []}},
    %% connections join groups here (reactor_groups): a scope of its own
    Groups = #{id => reactor_groups_scope, start => {pg, start_link, [reactor_groups:scope()]}},
    Servers = #{id => reactor_servers_sup,
                start => {supervisor, start_link, [?MODULE, servers]},
                type => supervisor},
    {ok, {#{strategy => rest_for_one, intensity => 10, period => 10},
          [Registry, Pg, Functions, Groups, Servers]}};
%% The default context and the listeners restart on their own: a context that
%% restarts never takes the listeners with it.
init(servers) ->
    Default = case application:get_env(reactor, default_context) of
                  {ok, Opts} when is_map(Opts) ->
                      [#{id => reactor_default_context,
                         start => {reactor_context, start_link,
                                   [default, Opts#{name => reactor_default_context}]},
                         shutdown => reactor_config:get(stop_timeout, Opts) + 5000}];
                  _ ->
                      []
              end,
    Listeners = #{id => reactor_listeners_sup,
                  start => {reactor_listeners_sup, start_link, []},
                  type => supervisor},
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, Default ++ [Listeners]}}.
