%% @doc Every telemetry event erlang-reactor emits, in one place.
%%
%% `telemetry' is an optional dependency: events go through
%% `telemetry:execute/3' when that module is loaded, and cost one BIF call
%% when it is not. Node reports each connection's end and each protocol
%% exception only when telemetry is there (see enabled/0).
%%
%% Durations are in native time units (`erlang:convert_time_unit/3'), as the
%% telemetry convention has them. docs/telemetry.md lists every event.
-module(reactor_telemetry).

-export([enabled/0, context_start/2, context_stop/3, context_exit/2,
         connection_start/3, connection_stop/4, protocol_exception/4,
         handoff_error/2, accept_error/2]).

%% @doc Whether events have anywhere to go (checked at a context's start:
%% Node is told whether to report connection ends and exceptions).
-spec enabled() -> boolean().
enabled() ->
    code:ensure_loaded(telemetry) =:= {module, telemetry}
        andalso erlang:function_exported(telemetry, execute, 3).

%% [reactor, context, start]: Node is up and the protocol loaded.
context_start(Ctx, OsPid) ->
    execute([reactor, context, start], #{system_time => erlang:system_time(),
                                         monotonic_time => erlang:monotonic_time()},
            #{context => Ctx, pid => self(), os_pid => OsPid}).

%% [reactor, context, stop]: the context ends (any reason), after `Start'.
context_stop(Ctx, Start, Reason) ->
    Now = erlang:monotonic_time(),
    execute([reactor, context, stop], #{duration => Now - Start, monotonic_time => Now},
            #{context => Ctx, pid => self(), reason => Reason}).

%% [reactor, context, exit]: its Node process died under it.
context_exit(Ctx, Reason) ->
    execute([reactor, context, exit], #{system_time => erlang:system_time()},
            #{context => Ctx, pid => self(), reason => Reason}).

%% [reactor, connection, start]: Node took the fd and ran connectionMade.
connection_start(Ctx, Id, Meta) ->
    execute([reactor, connection, start], #{system_time => erlang:system_time(),
                                            monotonic_time => erlang:monotonic_time()},
            maps:merge(Meta, #{context => Ctx, connection => Id})).

%% [reactor, connection, stop]: the connection ended; `Reason' is `normal'
%% or why (a binary: "ECONNRESET: read ECONNRESET", "EIDLETIMEOUT: ...").
connection_stop(Ctx, Id, Meta, #{bytes_in := In, bytes_out := Out, duration_ms := Ms, reason := Reason}) ->
    execute([reactor, connection, stop],
            #{duration => erlang:convert_time_unit(Ms, millisecond, native),
              bytes_in => In, bytes_out => Out, monotonic_time => erlang:monotonic_time()},
            maps:merge(Meta, #{context => Ctx, connection => Id, reason => Reason})).

%% [reactor, protocol, exception]: a protocol callback threw.
protocol_exception(Ctx, Id, Callback, Stack) ->
    execute([reactor, protocol, exception], #{system_time => erlang:system_time()},
            #{context => Ctx, connection => Id, callback => Callback, kind => error,
              stacktrace => Stack}).

%% [reactor, handoff, error]: a handoff did not become a connection.
handoff_error(Ctx, Reason) ->
    execute([reactor, handoff, error], #{count => 1}, #{context => Ctx, reason => Reason}).

%% [reactor, listener, accept_error]: accept(2) failed (EMFILE and the like).
accept_error(Listener, Reason) ->
    execute([reactor, listener, accept_error], #{count => 1}, #{listener => Listener, reason => Reason}).

execute(Event, Measurements, Meta) ->
    case erlang:function_exported(telemetry, execute, 3) of
        true -> telemetry:execute(Event, Measurements, Meta);
        false -> ok
    end.
