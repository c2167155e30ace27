%% @doc The caller's side of a handoff: take ownership of each fd (a NIF
%% resource the calling process owns), describe it, check its client info,
%% take its transport settings (`proxy_protocol', `tls') out of it, check the
%% bytes already read from it (`preread', which Node feeds first), ask the
%% context, and close whatever did not become a connection: refused, the
%% context dead before it read the request, or never there. An fd handed in is
%% never left behind.
-module(reactor_handoff).

-export([run/2]).

-define(HANDOFF_TIMEOUT, 30000).
-define(MAX_INFO_BYTES, 65536).
%% bytes read before the handoff, which dataReceived gets first
-define(MAX_PREREAD, 1048576).
%% Linux values, as fd_info reports them
-define(AF_UNIX, 1).
-define(SOCK_STREAM, 1).
-define(SOCK_DGRAM, 2).

-spec run(reactor_context:context(), [{integer(), reactor_context:client_info()}]) ->
    [{ok, integer()} | {error, term()}].
run(_Ctx, []) ->
    [];
run(Ctx, List) ->
    Prepared = [prepare(Fd, Info) || {Fd, Info} <- List],
    Send = [{Res, Info, Transport} || {ok, Res, Info, Transport} <- Prepared],
    Results = case Send of
                  [] -> [];
                  _ -> call(Ctx, Send)
              end,
    Merged = merge(Prepared, Results),
    [reactor_telemetry:handoff_error(Ctx, Reason) || {error, Reason} <- Merged],
    Merged.

call(Ctx, Send) ->
    try
        gen_server:call(Ctx, {handoff, Send}, ?HANDOFF_TIMEOUT)
    catch
        exit:{noproc, _} -> [{error, no_context} || _ <- Send];
        exit:{{nodedown, _}, _} -> [{error, no_context} || _ <- Send];
        exit:{timeout, _} -> [{error, timeout} || _ <- Send];
        exit:{Reason, _} -> [{error, {context_down, Reason}} || _ <- Send]
    end.

merge([{ok, _, _, _} = P | Ps], [R | Rs]) -> [settle(P, R) | merge(Ps, Rs)];
merge([{error, _} = E | Ps], Rs) -> [E | merge(Ps, Rs)];
merge([], []) -> [].

settle(_, {ok, _} = Ok) -> Ok;
settle({ok, Res, _, _}, {error, _} = E) ->
    ok = reactor_nif:close(Res, true), % idempotent: a no-op if the context closed it
    E.

prepare(Fd, Info) when is_integer(Fd), Fd >= 0, is_map(Info) ->
    try {transport(Info), preread(Info), normalize_info(maps:without([proxy_protocol, tls, preread], Info))} of
        {Transport, Preread, Norm} ->
            case byte_size(term_to_binary(Norm)) =< ?MAX_INFO_BYTES of
                false -> refuse_fd(Fd, client_info_too_large);
                true -> own(Fd, Norm, Transport, Preread)
            end
    catch
        throw:{bad_client_info, _} = Bad -> refuse_fd(Fd, Bad);
        throw:preread_too_large -> refuse_fd(Fd, preread_too_large)
    end;
prepare(Fd, _Info) when is_integer(Fd), Fd >= 0 ->
    refuse_fd(Fd, {bad_client_info, not_a_map});
prepare(_Fd, _Info) ->
    {error, badfd}.

%% The layers the connection's bytes pass through: a PROXY header first, then
%% TLS (`default': the context's own, if it has one). The context gives a TLS
%% option set its key.
transport(Info) ->
    Proxy = case maps:get(proxy_protocol, Info, false) of
                P when is_boolean(P) -> P;
                _ -> throw({bad_client_info, proxy_protocol})
            end,
    Tls = case maps:get(tls, Info, default) of
              T when T =:= default; T =:= true -> default;
              false -> false;
              T when is_map(T) -> T;
              _ -> throw({bad_client_info, tls})
          end,
    #{proxy => Proxy, tls => Tls}.

%% Bytes the caller read from the connection before handing it off
%% (reactor:handoff_socket/3 takes them out of a gen_tcp port).
preread(Info) ->
    case maps:get(preread, Info, <<>>) of
        B when is_binary(B), byte_size(B) =< ?MAX_PREREAD -> B;
        B when is_binary(B) -> throw(preread_too_large);
        _ -> throw({bad_client_info, preread})
    end.

own(Fd, Info0, Transport, Preread) ->
    Info = maps:merge(describe_fd(Fd), Info0),
    Datagrams = lists:member(maps:get(type, Info, undefined), [udp, unix_dgram]),
    if
        Preread =/= <<>>, Datagrams -> refuse_fd(Fd, {bad_client_info, preread}); % a stream's bytes
        true ->
            case reactor_nif:open(Fd, 0) of
                {ok, Res} -> {ok, Res, with_preread(Info, Preread), Transport};
                {error, ebadf} -> {error, ebadf};
                {error, Reason} -> refuse_fd(Fd, Reason)
            end
    end.

with_preread(Info, <<>>) -> Info;
with_preread(Info, B) -> Info#{preread => B}.

%% What the fd itself says: its `type' (tcp, udp, unix, pipe, tty, ...) and,
%% for Unix sockets, the peer's credentials. What the caller gave wins.
describe_fd(Fd) ->
    case reactor_nif:fd_info(Fd) of
        {ok, socket, Domain, SockType} ->
            Type = socket_type(Domain, SockType),
            case Domain of
                ?AF_UNIX ->
                    case reactor_channel:peercred(Fd) of
                        {ok, {Pid, Uid, Gid}} -> #{type => Type, peer => #{pid => Pid, uid => Uid, gid => Gid}};
                        _ -> #{type => Type}
                    end;
                _ -> #{type => Type}
            end;
        {ok, fifo, _, _} -> #{type => pipe};
        {ok, chr, _, _} -> #{type => tty};
        _ -> #{}
    end.

socket_type(?AF_UNIX, ?SOCK_DGRAM) -> unix_dgram;
socket_type(?AF_UNIX, _) -> unix;
socket_type(_, ?SOCK_DGRAM) -> udp;
socket_type(_, ?SOCK_STREAM) -> tcp;
socket_type(_, _) -> socket.

refuse_fd(Fd, Reason) ->
    _ = reactor_nif:close_fd(Fd),
    {error, Reason}.

%% What Node's erlpack can take, readably: strings and IP tuples become binaries.
normalize_info(M) when is_map(M) ->
    maps:fold(fun(K, V, Acc) when is_atom(K); is_binary(K) -> Acc#{K => normalize_value(K, V)};
                 (K, _, _) -> throw({bad_client_info, K})
              end, #{}, M).

normalize_value(_, V) when is_binary(V); is_integer(V), abs(V) < 16#80000000; is_float(V);
                           is_atom(V) -> V;
normalize_value(_, V) when is_integer(V) -> integer_to_binary(V); % erlpack has no bignums
normalize_value(K, V) when is_list(V) ->
    case io_lib:printable_unicode_list(V) of
        true -> unicode:characters_to_binary(V);
        false -> [normalize_value(K, E) || E <- V]
    end;
normalize_value(K, V) when is_tuple(V), tuple_size(V) =:= 4; is_tuple(V), tuple_size(V) =:= 8 ->
    case inet:ntoa(V) of
        {error, _} -> throw({bad_client_info, K});
        S -> list_to_binary(S)
    end;
normalize_value(_, V) when is_map(V) -> normalize_info(V);
normalize_value(K, _) -> throw({bad_client_info, K}).
