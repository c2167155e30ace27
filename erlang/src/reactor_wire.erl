%% @doc The port protocol between a context and its Node process.
%%
%% The port carries control: load, handoff, logs, stats, reload, stop. Which
%% connections are ready and what Node answers for them travel as fixed-size
%% binary batches over the batch socket instead (reactor_nif:cycle/1).
%%
%% Erlang to Node: `term_to_binary' of small tuples (Node reads arrays).
%% Node to Erlang: lists of binaries and integers, decoded with
%% `binary_to_term(B, [safe])' and mapped to atoms through the fixed whitelists
%% below: nothing Node sends ever becomes a new atom. Payload bytes never ride
%% here; they move over the fds.
-module(reactor_wire).

-export([init/1, tls_config/2, handoff/3, close/2, reload/2, stats/0, connections/0, stop/0]).
-export([decode/1, max_frame/0]).

-export_type([from_node/0, action/0, transport/0]).

-include("reactor_limits.hrl").

-type id() :: 0..?MAX_ID.
%% The layers of a connection, bottom up after the fd: a PROXY header, then
%% TLS under the configuration sent with tls_config/2 under that key; or,
%% with `starttls', the configuration Protocol.startTls takes later.
-type transport() :: #{proxy := boolean(), tls := false | id(), starttls => id(), nodelay => true}.
%% What Node answers for a connection (codes in its action batches).
-type action() :: read_pending | write_pending | close | linger.
-type log_level() :: error | warning | notice | info | debug.
-type from_node() ::
    ready
    | {load_error, atom(), term()}
    | {nack, id(), atom()}
    | {log, log_level(), id() | undefined, binary()}
    | {reloaded, id(), non_neg_integer()}
    | {reload_error, id(), atom(), term()}
    | {stats, #{atom() => non_neg_integer()}}
    | {connections, [#{id := id(), bytes_in := non_neg_integer(), bytes_out := non_neg_integer(),
                       age := non_neg_integer(), state := conn_state()}]}
    | {closed, id(), #{bytes_in := non_neg_integer(), bytes_out := non_neg_integer(),
                       duration_ms := non_neg_integer(), reason := normal | binary()}}
    | {exception, id(), binary(), binary()}.
-type conn_state() :: opening | reading | writing | paused | closing | closed | unknown.

%% Frames from Node are control messages: small. A larger one means a broken port.
-define(MAX_FRAME, 4 * 1024 * 1024).

max_frame() -> ?MAX_FRAME.

%%% Erlang -> Node

-spec init(#{atom() => binary() | integer()}) -> binary().
init(Config) -> frame({init, Config}).

%% A TLS configuration that handoffs name by `Key', sent once per context and set.
-spec tls_config(id(), map()) -> binary().
tls_config(Key, Opts) -> frame({tls_config, Key, Opts}).

%% A connection for Node. `Info' is the client info; its `preread' (bytes read
%% from the connection before the handoff, fed to dataReceived first) goes
%% as base64, since Node reads a binary as UTF-8 text.
-spec handoff(id(), map(), transport()) -> binary().
handoff(Id, Info = #{preread := B}, Transport) when is_binary(B) ->
    frame({handoff, Id, Info#{preread := base64:encode(B)}, Transport});
handoff(Id, Info, Transport) -> frame({handoff, Id, Info, Transport}).

-spec close(id(), binary()) -> binary().
close(Id, Why) -> frame({close, Id, Why}).

%% New code for new connections (reactor_config:code/1); answered by
%% `reloaded' or `reload_error' with the same `Ref'.
-spec reload(id(), map()) -> binary().
reload(Ref, Code) -> frame({reload, Ref, Code}).

stats() -> frame({stats}).

%% Every live connection's bytes, age and state.
connections() -> frame({connections}).

stop() -> frame({stop}).

%% Atoms as UTF-8 (minor version 2) on every OTP release: what OTP 26 and
%% later write by default, and what Node's reader (ts/control-term.ts) is
%% tested against here on older releases too.
frame(Term) -> term_to_binary(Term, [{minor_version, 2}]).

%%% Node -> Erlang

-spec decode(binary()) -> {ok, from_node()} | {error, term()}.
decode(Bin) when byte_size(Bin) > ?MAX_FRAME ->
    {error, {frame_too_large, byte_size(Bin)}};
decode(Bin) when is_binary(Bin) ->
    try binary_to_term(Bin, [safe]) of
        Term -> message(Term)
    catch
        error:badarg -> {error, {bad_etf, snippet(Bin)}}
    end.

message([<<"nack">>, Id, Reason] = T) ->
    case is_id(Id) of
        true -> {ok, {nack, Id, nack_reason(Reason)}};
        false -> malformed(T)
    end;
message([<<"log">>, Level, Id, Text] = T) when is_binary(Text) ->
    case {log_level(Level), Id} of
        {undefined, _} -> malformed(T);
        {L, nil} -> {ok, {log, L, undefined, Text}};
        {L, _} ->
            case is_id(Id) of
                true -> {ok, {log, L, Id, Text}};
                false -> malformed(T)
            end
    end;
message([<<"ready">>]) ->
    {ok, ready};
message([<<"stats">>, Map] = T) when is_map(Map) ->
    case stats_map(maps:to_list(Map), #{}) of
        {ok, S} -> {ok, {stats, S}};
        error -> malformed(T)
    end;
message([<<"reloaded">>, Ref, Adopted] = T) ->
    case is_id(Ref) andalso is_integer(Adopted) andalso Adopted >= 0 of
        true -> {ok, {reloaded, Ref, Adopted}};
        false -> malformed(T)
    end;
message([<<"reload_error">>, Ref, Kind, Details] = T) ->
    case is_id(Ref) of
        true -> {ok, {reload_error, Ref, load_error_kind(Kind), load_details(Details)}};
        false -> malformed(T)
    end;
message([<<"connections">>, L] = T) when is_list(L) ->
    case lists:all(fun is_conn_entry/1, L) of
        true ->
            {ok, {connections, [#{id => Id, bytes_in => round(In), bytes_out => round(Out),
                                  age => round(Age), state => conn_state(St)}
                                || [Id, In, Out, Age, St] <- L]}};
        false ->
            malformed(T)
    end;
message([<<"closed">>, Id, In, Out, Ms, Reason] = T) when is_binary(Reason) ->
    case is_id(Id) andalso lists:all(fun is_count/1, [In, Out, Ms]) of
        true ->
            {ok, {closed, Id, #{bytes_in => round(In), bytes_out => round(Out), duration_ms => round(Ms),
                                reason => case Reason of <<>> -> normal; _ -> Reason end}}};
        false ->
            malformed(T)
    end;
message([<<"exception">>, Id, Callback, Stack] = T) when is_binary(Callback), is_binary(Stack) ->
    case is_id(Id) of
        true -> {ok, {exception, Id, Callback, Stack}};
        false -> malformed(T)
    end;
message([<<"load_error">>, Kind, Details]) ->
    {ok, {load_error, load_error_kind(Kind), load_details(Details)}};
message(T) ->
    malformed(T).

malformed(T) -> {error, {malformed, snippet(T)}}.

is_id(I) -> is_integer(I) andalso I >= 0 andalso I =< ?MAX_ID.

%% erlpack sends integers past 2^32 as floats.
is_count(N) -> is_number(N) andalso N >= 0.

is_conn_entry([Id, In, Out, Age, St]) ->
    is_id(Id) andalso is_count(In) andalso is_count(Out) andalso is_count(Age) andalso is_binary(St);
is_conn_entry(_) -> false.

conn_state(<<"opening">>) -> opening;
conn_state(<<"reading">>) -> reading;
conn_state(<<"writing">>) -> writing;
conn_state(<<"paused">>) -> paused;
conn_state(<<"closing">>) -> closing;
conn_state(<<"closed">>) -> closed;
conn_state(_) -> unknown.

%% The whitelists.
log_level(<<"error">>) -> error;
log_level(<<"warning">>) -> warning;
log_level(<<"notice">>) -> notice;
log_level(<<"info">>) -> info;
log_level(<<"debug">>) -> debug;
log_level(_) -> undefined.

nack_reason(<<"fd_missing">>) -> fd_missing;
nack_reason(<<"fd_truncated">>) -> fd_truncated;
nack_reason(<<"factory_failed">>) -> factory_failed;
nack_reason(<<"connection_made_failed">>) -> connection_made_failed;
nack_reason(<<"invalid_action">>) -> invalid_action;
nack_reason(<<"duplicate_id">>) -> duplicate_id;
nack_reason(<<"tls_config_failed">>) -> tls_config_failed;
nack_reason(_) -> refused.

load_error_kind(<<"protocol_typecheck">>) -> protocol_typecheck;
load_error_kind(<<"protocol_compile">>) -> protocol_compile;
load_error_kind(<<"setup_compile">>) -> setup_compile;
load_error_kind(<<"protocol_load">>) -> protocol_load;
load_error_kind(<<"setup_load">>) -> setup_load;
load_error_kind(<<"no_protocol">>) -> no_protocol;
load_error_kind(<<"channel">>) -> channel;
load_error_kind(<<"tls">>) -> tls;
load_error_kind(_) -> load_error.

%% Compile errors arrive as maps with binary keys; they leave as maps with atom keys.
load_details(L) when is_list(L) -> [compile_message(M) || M <- L];
load_details(B) when is_binary(B) -> B;
load_details(Other) -> snippet(Other).

compile_message(M) when is_map(M) ->
    #{file => field(<<"file">>, M, <<>>),
      line => field(<<"line">>, M, 0),
      column => field(<<"column">>, M, 0),
      text => field(<<"text">>, M, <<>>)};
compile_message(Other) ->
    #{file => <<>>, line => 0, column => 0, text => snippet(Other)}.

field(K, M, Default) ->
    case maps:get(K, M, Default) of
        V when is_binary(Default), is_binary(V) -> V;
        V when is_integer(Default), is_integer(V) -> V;
        _ -> Default
    end.

%% erlpack sends integers past 2^32 as floats.
stats_map([{K, V} | Rest], Acc) when is_number(V), V >= 0 ->
    case stat_key(K) of
        undefined -> stats_map(Rest, Acc);
        A -> stats_map(Rest, Acc#{A => round(V)})
    end;
stats_map([], Acc) -> {ok, Acc};
stats_map(_, _) -> error.

stat_key(<<"connections">>) -> connections;
stat_key(<<"bytes_in">>) -> bytes_in;
stat_key(<<"bytes_out">>) -> bytes_out;
stat_key(<<"events">>) -> events;
stat_key(<<"errors">>) -> errors;
stat_key(<<"buffered">>) -> buffered;
stat_key(<<"tls_queued">>) -> tls_queued;
stat_key(<<"messages_delivered">>) -> messages_delivered;
stat_key(<<"messages_queued">>) -> messages_queued;
stat_key(<<"sent_to_ended">>) -> sent_to_ended;
stat_key(_) -> undefined.

%% Bounded rendering of untrusted terms for error reasons and logs.
snippet(T) ->
    B = iolist_to_binary(io_lib:format("~0P", [T, 12])),
    case B of
        <<Head:200/binary, _/binary>> -> <<Head/binary, "...">>;
        _ -> B
    end.
