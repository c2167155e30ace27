%% @private
-module(reactor_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    reactor_sup:start_link().

stop(_State) ->
    ok.
