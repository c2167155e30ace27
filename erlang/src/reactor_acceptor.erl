%% @private
%% One acceptor of a listener: its own dup of the listening fd, polled with
%% enif_select; on readiness it accepts everything queued (up to
%% ?MAX_ACCEPTS) and hands what it accepted to the contexts, one call each. At the fd limit it backs off
%% instead of spinning. Told to shut down by its supervisor, it first hands
%% off what already waits in the backlog, which closing the socket would reset.
-module(reactor_acceptor).

-export([start_link/1, init/2, decode_sockaddr/1]).

%% connections accepted before they are handed off
-define(MAX_ACCEPTS, 64).
-define(BACKOFF_MIN, 10).
-define(BACKOFF_MAX, 1000).

-define(ACCEPTED, 1).
-define(HANDOFF_ERRORS, 2).
-define(ACCEPT_ERRORS, 3).

%% Returns once the acceptor holds its copy of the listening fd: a listener
%% that has started is accepting.
start_link(Args) ->
    proc_lib:start_link(?MODULE, init, [self(), Args]).

init(Parent, Args = #{listen_fd := LFd}) ->
    process_flag(trap_exit, true),
    {ok, Fd} = reactor_nif:dup(LFd),
    {ok, Res} = reactor_nif:open(Fd, 0),
    proc_lib:init_ack(Parent, {ok, self()}),
    loop(Args#{res => Res, parent => Parent, next => maps:get(index, Args), backoff => ?BACKOFF_MIN}).

loop(St = #{res := Res}) ->
    case accept_queued(Res, St, ?MAX_ACCEPTS, []) of
        {Accepted, eagain} ->
            St1 = handoff(Accepted, St),
            ok = reactor_nif:select(Res, read),
            receive
                {reactor_io, 0, read} ->
                    loop(St1#{backoff => ?BACKOFF_MIN});
                {'EXIT', Parent, Reason} when Parent =:= map_get(parent, St1) ->
                    {Last, _} = accept_queued(Res, St1, ?MAX_ACCEPTS, []),
                    _ = handoff(Last, St1),
                    exit(Reason)
            end;
        {Accepted, full} ->
            loop(handoff(Accepted, St));
        {Accepted, {error, Reason}} when Reason =:= emfile; Reason =:= enfile; Reason =:= enobufs;
                                      Reason =:= enomem ->
            St1 = handoff(Accepted, St),
            #{backoff := B, counters := C} = St1,
            counters:add(C, ?ACCEPT_ERRORS, 1),
            reactor_telemetry:accept_error(maps:get(name, St), Reason),
            logger:warning("reactor listener ~0p: accept failed: ~p; retrying in ~p ms",
                           [maps:get(name, St), Reason, B]),
            timer:sleep(B),
            loop(St1#{backoff => min(B * 2, ?BACKOFF_MAX)});
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

accept_queued(_Res, _St, 0, Acc) ->
    {lists:reverse(Acc), full};
accept_queued(Res, St, N, Acc) ->
    case reactor_nif:accept(Res) of
        {ok, Fd, SockAddr} ->
            accept_queued(Res, St, N - 1, [{Fd, client_info(SockAddr, St)} | Acc]);
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
            logger:warning("reactor listener ~0p: ~p of ~p handoffs to ~0p failed: ~0p",
                           [Name, length(Errors), length(Conns), Ctx, hd(Errors)])
    end.

client_info(SockAddr, #{info := Extra, local_port := LPort, name := Name} = St) ->
    Base = case decode_sockaddr(SockAddr) of
               {Family, Addr, Port} -> #{addr => Addr, port => Port, family => Family};
               unknown -> #{}
           end,
    Proxy = case maps:get(proxy_protocol, St, false) of
                true -> #{proxy_protocol => true};
                false -> #{}
            end,
    maps:merge(maps:merge(Base#{type => tcp, local_port => LPort, listener => listener_name(Name)},
                          Proxy), Extra).

listener_name(Name) when is_atom(Name); is_binary(Name) -> Name;
listener_name(Name) -> iolist_to_binary(io_lib:format("~0p", [Name])).

%% struct sockaddr_in / sockaddr_in6 as accept4 fills them (Linux layout).
decode_sockaddr(<<2:16/native, Port:16/big, A, B, C, D, _/binary>>) ->
    {inet, list_to_binary(inet:ntoa({A, B, C, D})), Port};
decode_sockaddr(<<10:16/native, Port:16/big, _Flow:32, Addr:16/binary, _/binary>>) ->
    <<A:16, B:16, C:16, D:16, E:16, F:16, G:16, H:16>> = Addr,
    {inet6, list_to_binary(inet:ntoa({A, B, C, D, E, F, G, H})), Port};
decode_sockaddr(_) ->
    unknown.
