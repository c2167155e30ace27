%% @doc erlang-reactor: BEAM network servers whose protocol logic lives in
%% TypeScript. This module is the facade; contexts are in {@link reactor_context}.
-module(reactor).

-export([dup_fd/1, handoff_socket/2, handoff_socket/3, child_spec/2, listener_child_spec/2,
         start_listener/2, stop_listener/1, listener_port/1, listener_info/1,
         suspend_listener/1, resume_listener/1, drain_listener/2,
         info/0, cluster_info/0, cluster_info/1, reload/1, reload/2,
         register_function/2, unregister_function/1,
         send/2, publish/2, members/1, members/2]).
-export([conn_ref/2]).

-export_type([conn_ref/0]).

%% A connection's address: what `reactor:send/2' takes, what
%% `reactor_context:connections/1' lists as `ref', what telemetry's connection
%% events carry and what a protocol has as `this.ref' (the same term, sent
%% back by TypeScript, is the same ref). It names the context by its pid, so
%% it is good for as long as that connection lives, whichever Node serves it.
-opaque conn_ref() :: {reactor_conn, pid(), pos_integer()}.

%% How long members/1 waits for each context's count, by default.
-define(MEMBERS_TIMEOUT, 5000).

%% Most bytes handoff_socket takes out of a gen_tcp port's buffer; the rest waits in the kernel.
-define(MAX_TAKEN, 65536).

%% @doc Offer `Handler' to every context's TypeScript as `Name':
%% `beam.call(Name, ...args)' runs it in a process of its own with the args
%% as its arguments (a fun of that arity, or `{Module, Function}' applied to
%% them) and resolves with what it returns. A context's own `handlers' option
%% comes first. Registering a name again replaces it. `{error, badarg}' for a
%% name that is not text or a handler that is neither.
-spec register_function(unicode:chardata() | atom(), fun() | {module(), atom()}) -> ok | {error, badarg | not_started}.
register_function(Name, Handler) when is_atom(Name) -> register_function(atom_to_binary(Name), Handler);
register_function(Name, Handler) ->
    case unicode:characters_to_binary(Name) of
        B when is_binary(B) -> reactor_functions:register(B, Handler);
        _ -> {error, badarg}
    end.

%% @doc Withdraw a function register_function/2 offered: beam.calls to it
%% fail with no_function from then on.
-spec unregister_function(unicode:chardata() | atom()) -> ok | {error, badarg | not_started}.
unregister_function(Name) when is_atom(Name) -> unregister_function(atom_to_binary(Name));
unregister_function(Name) ->
    case unicode:characters_to_binary(Name) of
        B when is_binary(B) -> reactor_functions:unregister(B);
        _ -> {error, badarg}
    end.

%% @doc An independent copy of `Fd' (close-on-exec): hand the copy off and
%% close the original whenever you like.
-spec dup_fd(integer()) -> {ok, integer()} | {error, term()}.
dup_fd(Fd) when is_integer(Fd), Fd >= 0, Fd =< 16#7fffffff -> reactor_nif:dup(Fd);
dup_fd(Fd) when is_integer(Fd) -> {error, ebadf};
dup_fd(_) -> {error, badarg}.

%% @doc A context as a child of your own supervisor. Listeners given this
%% context (its `name', or its pid) find it again when the supervisor restarts it.
-spec child_spec(term(), reactor_context:opts()) -> supervisor:child_spec().
child_spec(Id, Opts) -> reactor_context:child_spec(Id, Opts).

%% @doc A listener as a child of your own supervisor (after its context), as
%% `ranch:child_spec/5' gives one. The listener and its acceptors are a
%% supervisor of their own; `listener_port/1' and the rest find it by name.
-spec listener_child_spec(term(), reactor_listener:opts()) -> supervisor:child_spec().
listener_child_spec(Name, Opts) -> reactor_listener_sup:child_spec(Name, Opts).

%% @doc Hand a `gen_tcp' or `socket' socket to the default context.
handoff_socket(Sock, Info) ->
    handoff_socket(reactor_default_context, Sock, Info).

%% @doc Hand a `gen_tcp', `gen_udp' or `socket' socket to a context: its fd is duplicated,
%% the copy handed off and the original closed, so users never touch
%% `inet:getfd/1'. `Info' is merged over what the socket says of its peer.
%% Either `inet_backend' will do: the default (a port) or `socket' (whose fd
%% is its `fd' option). Anything else is `{error, not_a_socket}'.
%%
%% Bytes a `gen_tcp' socket has read from the kernel but not delivered (the
%% rest of the segment after a `{packet, line}' or `{packet, N}' recv, or a
%% partial packet) live in its port (or, with `{inet_backend, socket}', its
%% process), not in the fd: they are taken out
%% (the socket set to `{active, false}, {packet, raw}' and read with a zero
%% timeout, up to 64 KiB; beyond that the bytes stay in the kernel, where
%% Node reads them) and handed off as `preread', which the protocol's
%% `dataReceived' gets before anything read from the fd. Messages the socket
%% already delivered to a process (`{tcp, S, Data}' in active mode) are that
%% process's: set `{active, false}' and take them before the handoff, as for
%% `gen_tcp:controlling_process/2'.
-spec handoff_socket(reactor_context:context(), gen_tcp:socket() | gen_udp:socket() | socket:socket(),
                     reactor_context:client_info()) -> {ok, integer()} | {error, term()}.
handoff_socket(Ctx, Sock, Info) ->
    case socket_fd(Sock) of
        {ok, Fd} ->
            Peer = peer_info(Sock),
            %% dup first: a port that meets EOF while its buffer is read may close its fd
            Dup = reactor_nif:dup(Fd),
            Preread = take_buffered(Sock),
            close_socket(Sock),
            case Dup of
                {ok, NewFd} ->
                    reactor_context:handoff(Ctx, NewFd, with_preread(maps:merge(Peer, Info), Preread));
                {error, _} = E -> E
            end;
        {error, _} = E ->
            E
    end.

take_buffered(S) ->
    case is_buffered_stream(S) of
        true ->
            case inet:setopts(S, [{active, false}, {packet, raw}]) of
                ok -> take_buffered(S, 0, []);
                {error, _} -> <<>> % closed already: nothing is buffered
            end;
        false -> <<>>
    end.

%% A gen_tcp socket keeps what it read from the kernel and did not deliver:
%% the inet driver's port, or the process of an {inet_backend, socket} one.
%% A datagram socket delivers whole datagrams (it holds none back), and a
%% `socket' socket has no buffer of its own.
is_buffered_stream(S) when is_port(S) -> erlang:port_info(S, name) =:= {name, "tcp_inet"};
is_buffered_stream({'$inet', gen_tcp_socket, _}) -> true;
is_buffered_stream(_) -> false.

take_buffered(_S, N, Acc) when N >= ?MAX_TAKEN ->
    iolist_to_binary(lists:reverse(Acc));
take_buffered(S, N, Acc) ->
    case gen_tcp:recv(S, 0, 0) of
        {ok, Data} ->
            B = iolist_to_binary(Data), % list mode, or a `header' option
            take_buffered(S, N + byte_size(B), [B | Acc]);
        {error, _} -> % timeout: nothing more now; closed or reset: Node sees it on the fd
            iolist_to_binary(lists:reverse(Acc))
    end.

%% The caller's own `preread' bytes were read from the socket before these.
with_preread(Info, <<>>) -> Info;
with_preread(Info = #{preread := Mine}, B) when is_binary(Mine) -> Info#{preread := <<Mine/binary, B/binary>>};
with_preread(Info, B) -> maps:merge(#{preread => B}, Info). % a bad one is refused as it is

%% A gen_tcp / gen_udp socket of {inet_backend, socket} is no port, and
%% inet:getfd/1 does not take it (OTP 25); its `fd' option, which it reads as
%% the `socket' module's {otp, fd}, is the fd.
socket_fd({'$socket', _} = S) -> socket:getopt(S, otp, fd);
socket_fd(S) when is_port(S) -> inet:getfd(S);
socket_fd({'$inet', _, _} = S) ->
    try inet:getopts(S, [fd]) of
        {ok, [{fd, Fd}]} when is_integer(Fd) -> {ok, Fd};
        {error, _} = E -> E;
        _ -> {error, {unsupported, inet_backend_socket}}
    catch
        _:_ -> {error, {unsupported, inet_backend_socket}}
    end;
socket_fd(_) -> {error, not_a_socket}.

peer_info({'$socket', _} = S) ->
    case socket:peername(S) of
        {ok, #{family := F, addr := A, port := P}} when F =:= inet; F =:= inet6 ->
            #{addr => list_to_binary(inet:ntoa(A)), port => P, family => F};
        _ -> #{}
    end;
peer_info(S) ->
    case inet:peername(S) of
        {ok, {A, P}} when (tuple_size(A) =:= 4 orelse tuple_size(A) =:= 8), is_integer(P) ->
            #{addr => list_to_binary(inet:ntoa(A)), port => P};
        _ -> #{} % a Unix socket ({local, Path}): the fd says who (SO_PEERCRED)
    end.

close_socket({'$socket', _} = S) -> socket:close(S);
close_socket(S) -> inet:close(S). % gen_tcp or gen_udp

%% @doc Listen and hand every accepted connection to a context (or a pool),
%% under the reactor application's supervisor.
%% Opts: port (0 picks one), ip, context | pool, acceptors, backlog, info,
%% proxy_protocol, tls (TLS from the first byte), starttls (TLS once the
%% protocol calls startTls; not with tls). Errors are plain: `{error,
%% eaddrinuse}', `{error, {no_context, Ctx}}', `{error, {already_started,
%% Pid}}', `{error, {conflicting_options, [tls, starttls]}}', the TLS errors
%% of reactor_tls:options/1.
-spec start_listener(term(), reactor_listener:opts()) -> {ok, pid()} | {error, term()}.
start_listener(Name, Opts) ->
    case supervisor:start_child(reactor_listeners_sup, listener_child_spec(Name, Opts)) of
        {ok, Pid} -> {ok, Pid};
        {error, {already_started, _}} = E -> E;
        {error, already_present} -> {error, {already_started, reactor_listener:whereis(Name)}};
        {error, Reason} -> {error, start_error(Reason)}
    end.

%% What failed inside the listener's supervisor, without the wrapping.
start_error({shutdown, {failed_to_start_child, _, Reason}}) -> start_error(Reason);
start_error({Reason, Child}) when element(1, Child) =:= child -> start_error(Reason);
start_error({already_started, Pid}) when is_pid(Pid) -> {already_started, Pid};
start_error(Reason) -> Reason.

-spec stop_listener(term()) -> ok | {error, not_found}.
stop_listener(Name) ->
    Id = {reactor_listener, Name},
    case supervisor:terminate_child(reactor_listeners_sup, Id) of
        ok -> ok = supervisor:delete_child(reactor_listeners_sup, Id);
        {error, _} = E -> E
    end.

%% @doc Stop accepting: the listening socket closes (new connects are refused);
%% connections already handed off go on.
-spec suspend_listener(term()) -> ok.
suspend_listener(Name) -> reactor_listener:suspend(listener(Name)).

%% @doc Listen again, on the same port.
-spec resume_listener(term()) -> ok | {error, term()}.
resume_listener(Name) -> reactor_listener:resume(listener(Name)).

%% @doc For a rolling release: suspend the listener, then wait until the
%% contexts it feeds have no connections left (or `Timeout' ms pass): none
%% open, opening or lingering, and no replaced Node still draining its own
%% (reactor_context:replace/2). In `{timeout, Left}' such a drain counts as one.
-spec drain_listener(term(), timeout()) -> ok | {error, {timeout, non_neg_integer()}}.
drain_listener(Name, Timeout) ->
    Pid = listener(Name),
    ok = reactor_listener:suspend(Pid),
    Deadline = case Timeout of
                   infinity -> infinity;
                   _ -> erlang:monotonic_time(millisecond) + Timeout
               end,
    wait_drained(reactor_listener:contexts(Pid), Deadline).

wait_drained(Ctxs, Deadline) ->
    Left = lists:sum([connections(C) || C <- Ctxs]),
    Now = erlang:monotonic_time(millisecond),
    if
        Left =:= 0 -> ok;
        Deadline =/= infinity, Now >= Deadline -> {error, {timeout, Left}};
        true -> timer:sleep(50), wait_drained(Ctxs, Deadline)
    end.

connections(Ctx) ->
    try reactor_context:info(Ctx) of
        #{connections := N, pending := P} = Info ->
            %% a drain stops with its last connection: while it runs it holds one
            N + P + maps:get(lingering, Info, 0) + maps:get(draining, Info, 0)
    catch
        exit:_ -> 0 % a context that is gone holds nothing
    end.

-spec listener_port(term()) -> inet:port_number().
listener_port(Name) -> reactor_listener:port(listener(Name)).

-spec listener_info(term()) -> map().
listener_info(Name) -> reactor_listener:info(listener(Name)).

%% The listener's name, once it is known to exist: calls go through the registry.
listener(Name) ->
    case reactor_listener:whereis(Name) of
        Pid when is_pid(Pid) -> Name;
        undefined -> error({no_listener, Name})
    end.

%%% What is live, here and across the cluster

%% @doc Every context and listener on this node, with their counters.
-spec info() -> #{node := node(), contexts := [map()], listeners := [map()]}.
info() ->
    Names = reactor_registry:names(),
    #{node => node(),
      contexts => [#{id => Id, pid => Pid, group => reactor_cluster:group_of(Pid),
                     info => alive_info(fun() -> reactor_context:info(Pid) end)}
                   || {{context, Id}, Pid} <- Names],
      listeners => [#{name => Name, pid => Pid, info => alive_info(fun() -> listener_info(Name) end)}
                    || {{listener, Name}, Pid} <- Names]}.

alive_info(F) ->
    try F()
    catch
        exit:_ -> #{} ; % stopped while we asked
        error:_ -> #{}
    end.

%% @doc info/0 of every connected node (and this one): `#{Node => Info}', or
%% `{error, Reason}' for a node that did not answer within 5 s.
-spec cluster_info() -> #{node() => map() | {error, term()}}.
cluster_info() -> cluster_info(5000).

-spec cluster_info(timeout()) -> #{node() => map() | {error, term()}}.
cluster_info(Timeout) -> reactor_cluster:info(Timeout).

%% @doc Reload the protocol of every context in pg group `Group' (a context's
%% `group' option, by default its id) on every connected node, in parallel.
%% Returns `#{Node => [{Pid, Result}]}' with reactor_context:reload/2's results.
-spec reload(term()) -> #{node() => [{pid(), term()}]}.
reload(Group) -> reload(Group, #{}).

-spec reload(term(), map()) -> #{node() => [{pid(), term()}]}.
reload(Group, Changes) -> reactor_cluster:reload(Group, Changes).

%%% Talking to connections

%% @private The ref of connection `Id' of the context `Ctx' (a context makes
%% its connections' refs; users get them, never make them).
-spec conn_ref(pid(), pos_integer()) -> conn_ref().
conn_ref(Ctx, Id) when is_pid(Ctx), is_integer(Id), Id > 0 -> {reactor_conn, Ctx, Id}.

%% @doc Deliver `Term' to the connection `Ref' names: its protocol's
%% `messageReceived(term)' runs with the term as docs/bridge.md maps it.
%% Returns `ok' at once, as `erlang:send/2' does, whether or not the
%% connection is still there: one that has ended drops the message, and the
%% context counts it (`sent_to_ended' in reactor_context:info/1). Messages
%% from one process arrive in the order sent. A connection whose protocol
%% does not keep up holds at most `max_queued_messages' of them; past that it
%% is closed (`connectionLost' gets EMESSAGEOVERFLOW).
%%
%% The term is encoded here: one that does not cross the bridge fails at
%% once with `error({badarg, Why})', `Why' as reactor_term:encode/1 says
%% (`{too_large, Size}', `{too_deep, Max}', `{unsupported, Fun}').
-spec send(conn_ref(), term()) -> ok.
send({reactor_conn, Ctx, Id}, Term) when is_pid(Ctx), is_integer(Id), Id > 0 ->
    Ctx ! {'$reactor_message', Id, encoded(Term)},
    ok;
send(Ref, _Term) ->
    error({badarg, {not_a_conn_ref, Ref}}).

%% @doc Deliver `Term' to every connection in `Group' (a binary, 1 to 255
%% bytes: a TypeScript `this.join("room")' joins `<<"room">>') on every
%% connected node: `messageReceived(term)' runs in each. One message goes to
%% each context with members (which sends its Node one frame for all of
%% them), through the `pg' scope `reactor_groups_scope'; returns `ok' at once.
%% A connection that joins during the publish may or may not get it; one
%% that has ended never does. Errors as send/2's, and
%% `error({badarg, {not_a_group, Group}})'.
-spec publish(binary(), term()) -> ok.
publish(Group, Term) ->
    reactor_groups:is_group(Group) orelse error({badarg, {not_a_group, Group}}),
    reactor_groups:publish(Group, encoded(Term)).

%% @doc How many connections are in `Group', per node: `#{Node => Count}',
%% nodes with none left out. Each context in the group is asked (at once, in
%% parallel); one that does not answer within 5 s counts 0.
-spec members(binary()) -> #{node() => pos_integer()}.
members(Group) -> members(Group, ?MEMBERS_TIMEOUT).

-spec members(binary(), timeout()) -> #{node() => pos_integer()}.
members(Group, Timeout) ->
    reactor_groups:is_group(Group) orelse error({badarg, {not_a_group, Group}}),
    reactor_groups:members(Group, Timeout).

encoded(Term) ->
    case reactor_term:encode(Term) of
        {ok, Bin} -> Bin;
        {error, Why} -> error({badarg, Why})
    end.
