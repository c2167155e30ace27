%% @private
%% The application: removes what killed BEAMs left behind, then starts reactor_sup.
-module(reactor_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    %% a BEAM killed while a context was starting left its channel directory
    _ = reactor_channel:remove_stale(),
    reactor_sup:start_link().

stop(_State) ->
    ok.
