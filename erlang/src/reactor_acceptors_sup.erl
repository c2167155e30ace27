%% @private
%% A listener's acceptors. Started after the listener, which owns the socket
%% they accept on; not started at all while the listener is suspended.
-module(reactor_acceptors_sup).
-behaviour(supervisor).

-export([start_link/2, init/1]).

start_link(Name, N) ->
    supervisor:start_link(?MODULE, {Name, N}).

init({Name, N}) ->
    case reactor_listener:acceptor_args(Name) of
        {ok, Args} ->
            %% ranch's bound: a few crashes are restarts, a loop is a failure
            Intensity = 1 + ceil(math:log2(N)),
            {ok, {#{strategy => one_for_one, intensity => Intensity, period => 5},
                  [#{id => {acceptor, I},
                     start => {reactor_acceptor, start_link, [Args#{index => I}]},
                     shutdown => 5000} || I <- lists:seq(1, N)]}};
        suspended ->
            ignore
    end.
