%% @doc A listening TCP socket and its acceptors: connections are accepted by the
%% NIF (non-blocking accept4 on the fd, polled with enif_select) and handed to a
%% context, or spread over a pool of contexts. Users need no accept loop.
-module(reactor_listener).
-behaviour(gen_server).

-export([start_link/2, port/1, info/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type opts() :: #{port => inet:port_number(),
                  ip => inet:ip_address(),
                  context => reactor_context:context(),
                  pool => [reactor_context:context()],
                  acceptors => pos_integer(),
                  backlog => pos_integer(),
                  info => reactor_context:client_info()}.
-export_type([opts/0]).

-record(state, {name, lsock, port, acceptors = #{} :: #{pid() => pos_integer()}, counters, args}).

start_link(Name, Opts) ->
    gen_server:start_link(?MODULE, {Name, Opts}, []).

port(Pid) -> gen_server:call(Pid, port).

info(Pid) -> gen_server:call(Pid, info).

init({Name, Opts}) ->
    process_flag(trap_exit, true),
    Contexts = case Opts of
                   #{pool := [_ | _] = Pool} -> Pool;
                   #{context := Ctx} -> [Ctx];
                   _ -> [reactor_default_context]
               end,
    Ip = maps:get(ip, Opts, {0, 0, 0, 0}),
    Family = case tuple_size(Ip) of 8 -> [inet6]; _ -> [] end,
    ListenOpts = Family ++ [binary, {active, false}, {reuseaddr, true}, {ip, Ip},
                            {backlog, maps:get(backlog, Opts, 1024)}],
    case gen_tcp:listen(maps:get(port, Opts, 0), ListenOpts) of
        {ok, LSock} ->
            {ok, Fd} = inet:getfd(LSock),
            {ok, Port} = inet:port(LSock),
            Counters = counters:new(4, [write_concurrency]),
            Args = #{name => Name, listen_fd => Fd, contexts => list_to_tuple(Contexts),
                     counters => Counters, info => maps:get(info, Opts, #{}),
                     local_port => Port},
            S = #state{name = Name, lsock = LSock, port = Port, counters = Counters, args = Args},
            N = maps:get(acceptors, Opts, 4),
            {ok, lists:foldl(fun(I, Acc) -> start_acceptor(I, Acc) end, S, lists:seq(1, N))};
        {error, Reason} ->
            {stop, {listen, Reason}}
    end.

start_acceptor(I, S = #state{args = Args, acceptors = A}) ->
    Pid = reactor_acceptor:start_link(Args#{index => I}),
    S#state{acceptors = A#{Pid => I}}.

handle_call(port, _From, S) ->
    {reply, S#state.port, S};
handle_call(info, _From, S = #state{counters = C}) ->
    {reply, #{port => S#state.port,
              acceptors => map_size(S#state.acceptors),
              accepted => counters:get(C, 1),
              handoff_errors => counters:get(C, 2),
              accept_errors => counters:get(C, 3)}, S};
handle_call(_, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_, S) ->
    {noreply, S}.

handle_info({'EXIT', Pid, Reason}, S = #state{acceptors = A}) when is_map_key(Pid, A) ->
    {I, A1} = maps:take(Pid, A),
    logger:error("reactor listener ~0p: acceptor ~p exited: ~0p; restarting it",
                 [S#state.name, I, Reason]),
    {noreply, start_acceptor(I, S#state{acceptors = A1})};
handle_info({'EXIT', _, Reason}, S) ->
    {stop, Reason, S};
handle_info(_, S) ->
    {noreply, S}.

terminate(_Reason, S) ->
    [begin unlink(P), exit(P, shutdown) end || P <- maps:keys(S#state.acceptors)],
    gen_tcp:close(S#state.lsock),
    ok.
