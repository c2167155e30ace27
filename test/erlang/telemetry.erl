%% A stand-in for the telemetry library (not in Debian): the same execute/3,
%% sending each event to the process registered by attach/0.
-module(telemetry).
-export([execute/3, attach/0, detach/0]).

execute(Event, Measurements, Metadata) ->
    case persistent_term:get(?MODULE, undefined) of
        Pid when is_pid(Pid) -> Pid ! {telemetry, Event, Measurements, Metadata}, ok;
        undefined -> ok
    end.

attach() -> persistent_term:put(?MODULE, self()).

detach() -> persistent_term:erase(?MODULE).
