%% @doc A listening TCP socket and its acceptors: connections are accepted by the
%% NIF (non-blocking accept4 on the fd, polled with enif_select) and handed to a
%% context, or spread over a pool of contexts. Users need no accept loop.
%%
%% A listener can be suspended (its socket closed, so new connects are refused
%% while the connections it made finish) and resumed on the same port.
-module(reactor_listener).
-behaviour(gen_server).

-export([start_link/2, port/1, info/1, suspend/1, resume/1, contexts/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type opts() :: #{port => inet:port_number(),
                  ip => inet:ip_address(),
                  context => reactor_context:context(),
                  pool => [reactor_context:context()],
                  acceptors => pos_integer(),
                  backlog => pos_integer(),
                  info => reactor_context:client_info(),
                  proxy_protocol => boolean(),
                  tls => reactor_tls:opts()}.
-export_type([opts/0]).

-define(ACCEPTED, 1).
-define(HANDOFF_ERRORS, 2).
-define(ACCEPT_ERRORS, 3).

-record(state, {name, opts :: opts(), lsock :: gen_tcp:socket() | undefined,
                port :: inet:port_number(), contexts :: tuple(),
                acceptors = #{} :: #{pid() => pos_integer()},
                counters :: counters:counters_ref()}).

start_link(Name, Opts) ->
    gen_server:start_link(?MODULE, {Name, Opts}, []).

port(Pid) -> gen_server:call(Pid, port).
info(Pid) -> gen_server:call(Pid, info).
suspend(Pid) -> gen_server:call(Pid, suspend).
resume(Pid) -> gen_server:call(Pid, resume).
contexts(Pid) -> gen_server:call(Pid, contexts).

init({Name, Opts}) ->
    process_flag(trap_exit, true),
    try
        init_listener(Name, Opts)
    catch
        throw:Reason -> {stop, Reason}
    end.

init_listener(Name, Opts) ->
    Contexts = case Opts of
                   #{pool := [_ | _] = Pool} -> Pool;
                   #{context := Ctx} -> [Ctx];
                   _ -> [reactor_default_context]
               end,
    %% TLS options of a listener travel with each connection's client info:
    %% the context terminates TLS for it with them
    Info = case Opts of
               #{tls := Tls} -> (maps:get(info, Opts, #{}))#{tls => reactor_tls:options(Tls)};
               _ -> maps:get(info, Opts, #{})
           end,
    S = #state{name = Name, opts = Opts#{info => Info}, port = maps:get(port, Opts, 0),
               contexts = list_to_tuple(Contexts), counters = counters:new(3, [write_concurrency])},
    case open(S) of
        {ok, S1} -> {ok, S1};
        {error, Reason} -> {stop, {listen, Reason}}
    end.

%% Listen (on the port we had, once one was picked) and start the acceptors.
open(S = #state{opts = Opts, port = Port}) ->
    Ip = maps:get(ip, Opts, {0, 0, 0, 0}),
    Family = case tuple_size(Ip) of 8 -> [inet6]; _ -> [] end,
    ListenOpts = Family ++ [binary, {active, false}, {reuseaddr, true}, {ip, Ip},
                            {backlog, maps:get(backlog, Opts, 1024)}],
    case gen_tcp:listen(Port, ListenOpts) of
        {ok, LSock} ->
            {ok, Fd} = inet:getfd(LSock),
            {ok, Bound} = inet:port(LSock),
            S1 = S#state{lsock = LSock, port = Bound},
            Args = #{name => S#state.name, listen_fd => Fd, contexts => S#state.contexts,
                     counters => S#state.counters, info => maps:get(info, Opts, #{}),
                     proxy_protocol => maps:get(proxy_protocol, Opts, false),
                     local_port => Bound},
            N = maps:get(acceptors, Opts, 4),
            {ok, lists:foldl(fun(I, Acc) -> start_acceptor(I, Args, Acc) end, S1,
                             lists:seq(1, N))};
        {error, _} = E ->
            E
    end.

%% Stop accepting: the acceptors exit (each one's copy of the fd closes with it)
%% and the socket closes, so the kernel refuses new connections.
close(S = #state{lsock = undefined}) ->
    S;
close(S = #state{acceptors = A, lsock = LSock}) ->
    %% Each acceptor hands off what waits in the backlog and exits; one that is
    %% stuck is shut down. Linked, and we trap exits: wait for each to be gone,
    %% so its copy of the fd is closed before the socket is.
    [P ! {stop_accepting, self()} || P <- maps:keys(A)],
    [receive
         {'EXIT', P, _} -> ok
     after 5000 ->
         exit(P, kill),
         receive {'EXIT', P, _} -> ok end
     end || P <- maps:keys(A)],
    flush_stopped(),
    gen_tcp:close(LSock),
    S#state{acceptors = #{}, lsock = undefined}.

flush_stopped() ->
    receive {stopped_accepting, _} -> flush_stopped() after 0 -> ok end.

start_acceptor(I, Args, S = #state{acceptors = A}) ->
    Pid = reactor_acceptor:start_link(Args#{index => I}),
    S#state{acceptors = A#{Pid => {I, Args}}}.

handle_call(port, _From, S) ->
    {reply, S#state.port, S};
handle_call(contexts, _From, S) ->
    {reply, tuple_to_list(S#state.contexts), S};
handle_call(info, _From, S = #state{counters = C}) ->
    {reply, #{port => S#state.port,
              suspended => S#state.lsock =:= undefined,
              acceptors => map_size(S#state.acceptors),
              accepted => counters:get(C, ?ACCEPTED),
              handoff_errors => counters:get(C, ?HANDOFF_ERRORS),
              accept_errors => counters:get(C, ?ACCEPT_ERRORS)}, S};
handle_call(suspend, _From, S) ->
    {reply, ok, close(S)};
handle_call(resume, _From, S = #state{lsock = undefined}) ->
    case open(S) of
        {ok, S1} -> {reply, ok, S1};
        {error, _} = E -> {reply, E, S}
    end;
handle_call(resume, _From, S) ->
    {reply, ok, S};
handle_call(_, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_, S) ->
    {noreply, S}.

handle_info({'EXIT', Pid, Reason}, S = #state{acceptors = A}) when is_map_key(Pid, A) ->
    {{I, Args}, A1} = maps:take(Pid, A),
    logger:error("reactor listener ~0p: acceptor ~p exited: ~0p; restarting it",
                 [S#state.name, I, Reason]),
    {noreply, start_acceptor(I, Args, S#state{acceptors = A1})};
handle_info({'EXIT', _, Reason}, S) ->
    {stop, Reason, S};
handle_info(_, S) ->
    {noreply, S}.

terminate(_Reason, S) ->
    _ = close(S),
    ok.
