%% @private
%% One acceptor of a listener: its own dup of the listening fd, polled with
%% enif_select; on readiness it accepts everything queued (up to
%% ?MAX_ACCEPTS) and hands what it accepted to the contexts, one call each.
%% Told to shut down by its supervisor, it first hands off what already
%% waits in the backlog, which closing the socket would reset.
%%
%% At the fd limit (EMFILE, ENFILE, and the kernel's ENOBUFS, ENOMEM) it backs
%% off, 10 ms doubling to 1 s, instead of spinning, as ranch's acceptor does,
%% and takes the waiting connections once fds free up; its supervisor's
%% shutdown ends a back-off at once. One started at the limit (a restart, a
%% resumed listener) has no fd for its dup yet: it is started all the same and
%% takes its copy the same way, so the fd limit never stops a listener.
-module(reactor_acceptor).

-export([start_link/1, init/2, decode_sockaddr/1]).

%% connections accepted before they are handed off
-define(MAX_ACCEPTS, 64).
-define(BACKOFF_MIN, 10).
-define(BACKOFF_MAX, 1000).
%% what accept4 and dup say at the fd limit, or with the kernel out of memory
-define(OUT_OF_FDS(R), (R =:= emfile orelse R =:= enfile orelse R =:= enobufs orelse R =:= enomem)).

-define(ACCEPTED, 1).
-define(HANDOFF_ERRORS, 2).
-define(ACCEPT_ERRORS, 3).

%% Returns once the acceptor holds its copy of the listening fd (a listener
%% that has started is accepting), or is waiting for an fd to make it.
start_link(Args) ->
    proc_lib:start_link(?MODULE, init, [self(), Args]).

init(Parent, Args) ->
    process_flag(trap_exit, true),
    St = Args#{parent => Parent, next => maps:get(index, Args), backoff => ?BACKOFF_MIN,
               static_info => static_info(Args)},
    case copy(St) of
        {ok, Res} ->
            proc_lib:init_ack(Parent, {ok, self()}),
            loop(St#{res => Res});
        {error, Reason} when ?OUT_OF_FDS(Reason) ->
            proc_lib:init_ack(Parent, {ok, self()}),
            loop(copy_when_free(back_off(Reason, St)));
        {error, Reason} ->
            proc_lib:init_ack(Parent, {error, Reason}),
            exit(Reason)
    end.

%% This acceptor's own copy of the listening socket, as a NIF resource.
copy(#{listen_fd := LFd}) ->
    case reactor_nif:dup(LFd) of
        {ok, Fd} ->
            case reactor_nif:open(Fd, 0) of
                {ok, _} = Ok -> Ok;
                {error, _} = E -> _ = reactor_nif:close_fd(Fd), E
            end;
        {error, _} = E -> E
    end.

copy_when_free(St) ->
    case copy(St) of
        {ok, Res} -> St#{res => Res, backoff => ?BACKOFF_MIN};
        {error, Reason} when ?OUT_OF_FDS(Reason) -> copy_when_free(back_off(Reason, St));
        {error, Reason} -> exit({dup, Reason})
    end.

loop(St = #{res := Res}) ->
    case accept_queued(Res, St, ?MAX_ACCEPTS, []) of
        {Accepted, eagain} ->
            St1 = handoff(Accepted, St),
            ok = reactor_nif:select(Res, read),
            receive
                {reactor_io, 0, read} ->
                    loop(St1#{backoff => ?BACKOFF_MIN});
                {'EXIT', Parent, Reason} when Parent =:= map_get(parent, St1) ->
                    shut_down(Reason, St1)
            end;
        {Accepted, full} ->
            loop(handoff(Accepted, St));
        {Accepted, {error, Reason}} when ?OUT_OF_FDS(Reason) ->
            loop(back_off(Reason, handoff(Accepted, St)));
        {Accepted, {error, Reason}} when Reason =:= econnaborted; Reason =:= eintr; Reason =:= eproto;
                                      Reason =:= eperm ->
            %% A connection that died in the backlog and the like: next one.
            counters:add(maps:get(counters, St), ?ACCEPT_ERRORS, 1),
            reactor_telemetry:accept_error(maps:get(name, St), Reason),
            logger:info("reactor listener ~0p: accept: ~p", [maps:get(name, St), Reason]),
            loop(handoff(Accepted, St));
        {Accepted, {error, Reason}} ->
            %% The socket itself is broken (einval, ebadf, closed): retrying
            %% would spin. Its supervisor decides, within its restart intensity.
            _ = handoff(Accepted, St),
            counters:add(maps:get(counters, St), ?ACCEPT_ERRORS, 1),
            reactor_telemetry:accept_error(maps:get(name, St), Reason),
            exit({accept, Reason})
    end.

%% Out of fds: counted, told, logged, then a pause that doubles up to
%% ?BACKOFF_MAX. A receive, not timer:sleep/1: the parent's shutdown ends it,
%% and no module is loaded for it (loading one needs an fd too).
back_off(Reason, St = #{backoff := B, counters := C, name := Name, parent := Parent}) ->
    counters:add(C, ?ACCEPT_ERRORS, 1),
    reactor_telemetry:accept_error(Name, Reason),
    logger:warning("reactor listener ~0p: accept failed: ~p (~s, see docs/performance.md); "
                   "retrying in ~p ms", [Name, Reason, out_of(Reason), B]),
    receive
        {'EXIT', Parent, Why} -> shut_down(Why, St)
    after B ->
        St#{backoff => min(B * 2, ?BACKOFF_MAX)}
    end.

%% What waits in the backlog is handed off before the socket closes.
shut_down(Reason, St = #{res := Res}) ->
    {Last, _} = accept_queued(Res, St, ?MAX_ACCEPTS, []),
    _ = handoff(Last, St),
    exit(Reason);
shut_down(Reason, _St) ->
    exit(Reason).

accept_queued(_Res, _St, 0, Acc) ->
    {lists:reverse(Acc), full};
accept_queued(Res, St, N, Acc) ->
    case reactor_nif:accept(Res) of
        {ok, Conn, SockAddr} ->
            accept_queued(Res, St, N - 1, [{Conn, client_info(SockAddr, St)} | Acc]);
        {error, eagain} ->
            {lists:reverse(Acc), eagain};
        {error, _} = E ->
            {lists:reverse(Acc), E}
    end.

handoff([], St) ->
    St;
handoff(Accepted, St = #{contexts := Ctxs, next := Next, counters := C, name := Name}) ->
    counters:add(C, ?ACCEPTED, length(Accepted)),
    %% spread them over the pool connection by connection: a burst of
    %% connects often comes in one accept_queued/4
    N = tuple_size(Ctxs),
    Numbered = lists:zip(lists:seq(0, length(Accepted) - 1), Accepted),
    Groups = lists:foldl(fun({I, Conn}, Acc) ->
                                 maps:update_with((Next + I) rem N, fun(L) -> [Conn | L] end,
                                                  [Conn], Acc)
                         end, #{}, Numbered),
    maps:foreach(fun(K, Conns) ->
                         handoff_to(element(K + 1, Ctxs), lists:reverse(Conns), C, Name)
                 end, Groups),
    St#{next => Next + length(Accepted)}.

handoff_to(Ctx, Conns, C, Name) ->
    Results = reactor_context:handoff_many(Ctx, Conns),
    case [R || {error, _} = R <- Results] of
        [] -> ok;
        Errors ->
            counters:add(C, ?HANDOFF_ERRORS, length(Errors)),
            logger:warning("reactor listener ~0p: ~p of ~p handoffs to ~0p failed: ~0p~s",
                           [Name, length(Errors), length(Conns), Ctx, hd(Errors), hint(hd(Errors))])
    end.

out_of(emfile) -> "the BEAM is out of file descriptors: raise its limit";
out_of(enfile) -> "the system is out of open files: raise fs.file-max";
out_of(_) -> "the kernel is out of memory for sockets".

%% What a limit's refusal means, for the operator reading the warning.
hint({error, fd_truncated}) ->
    " (the context's Node is out of file descriptors: raise its limit, see docs/performance.md)";
hint({error, max_connections}) ->
    " (the context holds max_connections: raise it, or add a context to the pool)";
hint(_) ->
    "".

%% A connection's client info: its peer's address, then what every
%% connection of this listener has (static_info/1), which wins.
client_info(SockAddr, #{static_info := Static}) ->
    case decode_sockaddr(SockAddr) of
        {Family, Addr, Port} -> maps:merge(#{addr => Addr, port => Port, family => Family}, Static);
        unknown -> Static
    end.

%% The listener's part of the client info, made once: the socket's type and
%% port, the listener's name, its transport flags and its `info'.
static_info(#{info := Extra, local_port := LPort, name := Name} = St) ->
    Proxy = case maps:get(proxy_protocol, St, false) of
                true -> #{proxy_protocol => true};
                false -> #{}
            end,
    %% accept(2) copied the listener's TCP_NODELAY (reactor_listener)
    NoDelay = case maps:get(nodelay, St, false) of
                  true -> #{nodelay => true};
                  false -> #{}
              end,
    maps:merge(maps:merge(#{type => tcp, local_port => LPort, listener => listener_name(Name)},
                          maps:merge(Proxy, NoDelay)), Extra).

listener_name(Name) when is_atom(Name); is_binary(Name) -> Name;
listener_name(Name) -> iolist_to_binary(io_lib:format("~0p", [Name])).

%% struct sockaddr_in / sockaddr_in6 as accept4 fills them (Linux layout).
decode_sockaddr(<<2:16/native, Port:16/big, A, B, C, D, _/binary>>) ->
    %% what inet:ntoa/1 writes, built as a binary at once
    {inet, <<(integer_to_binary(A))/binary, $., (integer_to_binary(B))/binary, $.,
             (integer_to_binary(C))/binary, $., (integer_to_binary(D))/binary>>, Port};
decode_sockaddr(<<10:16/native, Port:16/big, _Flow:32, Addr:16/binary, _/binary>>) ->
    <<A:16, B:16, C:16, D:16, E:16, F:16, G:16, H:16>> = Addr,
    {inet6, list_to_binary(inet:ntoa({A, B, C, D, E, F, G, H})), Port};
decode_sockaddr(_) ->
    unknown.
