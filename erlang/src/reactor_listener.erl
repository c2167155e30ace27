%% @doc A listener: its listening TCP socket, its counters, and the contexts
%% its acceptors hand connections to (see {@link reactor_acceptor}). Found by
%% name through {@link reactor_registry}, wherever it is supervised.
%%
%% Contexts are resolved at every handoff, never held as pids: a context
%% given by name, or by the pid of a context (which stands for its id), is
%% found again after its supervisor restarts it.
%%
%% Socket options (`socket_opts') are set on the listening socket, and every
%% socket accept(2) returns carries them: Linux copies TCP_NODELAY,
%% SO_KEEPALIVE, SO_SNDBUF and SO_RCVBUF from the listener to each
%% connection (reactor_sockopts_tests reads them back), so an accept costs
%% no setsockopt. `nodelay' is on unless told otherwise, as Node's http
%% sets it on every socket it serves.
%%
%% Suspending stops the acceptors (each hands off what waits in the backlog)
%% and closes the socket, so new connects are refused while the connections
%% made so far go on; resuming listens again on the same port.
-module(reactor_listener).
-behaviour(gen_server).

-export([start_link/2, acceptor_args/1, port/1, info/1, suspend/1, resume/1, contexts/1,
         whereis/1, socket_opts/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-type socket_opts() :: #{nodelay => boolean(),
                         keepalive => boolean(),
                         sndbuf => pos_integer(),
                         recbuf => pos_integer()}.
-type opts() :: #{port => inet:port_number(),
                  ip => inet:ip_address(),
                  context => reactor_context:context(),
                  pool => [reactor_context:context()],
                  acceptors => pos_integer(),
                  backlog => pos_integer(),
                  info => reactor_context:client_info(),
                  proxy_protocol => boolean(),
                  tls => reactor_tls:opts(),
                  starttls => reactor_tls:opts(),
                  socket_opts => socket_opts()}.
-export_type([opts/0, socket_opts/0]).

-define(ACCEPTED, 1).
-define(HANDOFF_ERRORS, 2).
-define(ACCEPT_ERRORS, 3).

-record(state, {name, opts :: opts(), sockopts = [] :: [gen_tcp:option()],
                lsock :: gen_tcp:socket() | undefined,
                port :: inet:port_number(), contexts :: tuple(),
                counters :: counters:counters_ref()}).

start_link(Name, Opts) ->
    gen_server:start_link({via, reactor_registry, {listener, Name}}, ?MODULE, {Name, Opts}, []).

%% @doc The listener named `Name', or undefined.
-spec whereis(term()) -> pid() | undefined.
whereis(Name) -> reactor_registry:whereis_name({listener, Name}).

%% @private What an acceptor needs: the socket's fd, the contexts, counters.
acceptor_args(Name) -> gen_server:call(ref(Name), acceptor_args).

port(Name) -> gen_server:call(ref(Name), port).
info(Name) -> gen_server:call(ref(Name), info).
contexts(Name) -> gen_server:call(ref(Name), contexts).

%% @doc Stop the acceptors (each hands off the backlog), then close the socket.
-spec suspend(term()) -> ok.
suspend(Name) ->
    ok = supervisor:terminate_child(sup(Name), reactor_acceptors_sup),
    gen_server:call(ref(Name), close_socket).

%% @doc Listen again on the same port and restart the acceptors.
-spec resume(term()) -> ok | {error, term()}.
resume(Name) ->
    case gen_server:call(ref(Name), open_socket) of
        ok ->
            case supervisor:restart_child(sup(Name), reactor_acceptors_sup) of
                {ok, _} -> ok;
                {ok, _, _} -> ok;
                {error, running} -> ok;
                {error, _} = E -> E
            end;
        {error, _} = E ->
            E
    end.

ref(Name) -> {via, reactor_registry, {listener, Name}}.
sup(Name) -> {via, reactor_registry, {listener_sup, Name}}.

init({Name, Opts}) ->
    process_flag(trap_exit, true),
    try
        Contexts = [resolve(C) || C <- context_opts(Opts)],
        %% TLS options of a listener travel with each connection's client info:
        %% the context terminates TLS for it with them, from the start (`tls')
        %% or once its protocol calls startTls (`starttls'), never both
        Info = maps:merge(maps:get(info, Opts, #{}), tls_info(Opts)),
        S = #state{name = Name, opts = Opts#{info => Info}, port = maps:get(port, Opts, 0),
                   sockopts = socket_opts(maps:get(socket_opts, Opts, #{})),
                   contexts = list_to_tuple(Contexts),
                   counters = counters:new(3, [write_concurrency])},
        case listen(S) of
            {ok, S1} -> {ok, S1};
            {error, Reason} -> {stop, Reason}
        end
    catch
        throw:Why -> {stop, Why}
    end.

tls_info(#{tls := _, starttls := _}) -> throw({conflicting_options, [tls, starttls]});
tls_info(#{tls := Tls}) -> #{tls => reactor_tls:options(Tls)};
tls_info(#{starttls := StartTls}) -> #{starttls => reactor_tls:options(StartTls)};
tls_info(_) -> #{}.

context_opts(#{pool := [_ | _] = Pool}) -> Pool;
context_opts(#{pool := Bad}) -> throw({bad_pool, Bad});
context_opts(#{context := Ctx}) -> [Ctx];
context_opts(_) -> [reactor_default_context].

%% What the listener keeps for a context: something that finds it again after
%% a restart. A pid stands for the id its context was started with.
resolve(Pid) when is_pid(Pid) ->
    case [Id || {context, Id} <- reactor_registry:name_of(Pid)] of
        [Id | _] -> reactor_context:ref(Id);
        [] -> throw({no_context, Pid})
    end;
resolve(Name) when is_atom(Name) ->
    is_pid(erlang:whereis(Name)) orelse throw({no_context, Name}),
    Name;
resolve({via, Mod, Key} = Ref) ->
    is_pid(Mod:whereis_name(Key)) orelse throw({no_context, Ref}),
    Ref;
resolve({global, Key} = Ref) ->
    is_pid(global:whereis_name(Key)) orelse throw({no_context, Ref}),
    Ref;
resolve(Other) ->
    throw({no_context, Other}).

%% @doc The `gen_tcp' options of a listener's `socket_opts', defaults
%% included (`nodelay' on); throws `{bad_option, {Name, Value}}' for an
%% unknown name or a bad value.
-spec socket_opts(socket_opts()) -> [gen_tcp:option()].
socket_opts(Given) when is_map(Given) ->
    [socket_opt(K, V) || {K, V} <- lists:sort(maps:to_list(maps:merge(#{nodelay => true}, Given)))];
socket_opts(Given) ->
    throw({bad_option, {socket_opts, Given}}).

socket_opt(nodelay, V) when is_boolean(V) -> {nodelay, V};
socket_opt(keepalive, V) when is_boolean(V) -> {keepalive, V};
socket_opt(sndbuf, V) when is_integer(V), V > 0 -> {sndbuf, V};
socket_opt(recbuf, V) when is_integer(V), V > 0 -> {recbuf, V};
socket_opt(K, V) -> throw({bad_option, {K, V}}).

%% Listen on the port we had, once one was picked.
listen(S = #state{opts = Opts, port = Port, sockopts = SockOpts}) ->
    Ip = maps:get(ip, Opts, {0, 0, 0, 0}),
    Family = case tuple_size(Ip) of 8 -> [inet6]; _ -> [] end,
    ListenOpts = Family ++ [binary, {active, false}, {reuseaddr, true}, {ip, Ip},
                            {backlog, maps:get(backlog, Opts, 1024)} | SockOpts],
    case gen_tcp:listen(Port, ListenOpts) of
        {ok, LSock} ->
            {ok, Bound} = inet:port(LSock),
            {ok, S#state{lsock = LSock, port = Bound}};
        {error, _} = E ->
            E
    end.

handle_call(acceptor_args, _From, S = #state{lsock = undefined}) ->
    {reply, suspended, S};
handle_call(acceptor_args, _From, S = #state{lsock = LSock, opts = Opts}) ->
    {ok, Fd} = inet:getfd(LSock),
    {reply, {ok, #{name => S#state.name, listen_fd => Fd, contexts => S#state.contexts,
                   counters => S#state.counters, info => maps:get(info, Opts, #{}),
                   proxy_protocol => maps:get(proxy_protocol, Opts, false),
                   nodelay => proplists:get_value(nodelay, S#state.sockopts, false),
                   local_port => S#state.port}}, S};
handle_call(port, _From, S) ->
    {reply, S#state.port, S};
handle_call(contexts, _From, S) ->
    {reply, tuple_to_list(S#state.contexts), S};
handle_call(info, _From, S = #state{counters = C}) ->
    {reply, #{port => S#state.port,
              suspended => S#state.lsock =:= undefined,
              acceptors => acceptors(S#state.name),
              accepted => counters:get(C, ?ACCEPTED),
              handoff_errors => counters:get(C, ?HANDOFF_ERRORS),
              accept_errors => counters:get(C, ?ACCEPT_ERRORS)}, S};
handle_call(close_socket, _From, S) ->
    {reply, ok, close(S)};
handle_call(open_socket, _From, S = #state{lsock = undefined}) ->
    case listen(S) of
        {ok, S1} -> {reply, ok, S1};
        {error, _} = E -> {reply, E, S}
    end;
handle_call(open_socket, _From, S) ->
    {reply, ok, S};
handle_call(_, _From, S) ->
    {reply, {error, unknown_call}, S}.

acceptors(Name) ->
    try supervisor:which_children(sup(Name)) of
        Children ->
            case lists:keyfind(reactor_acceptors_sup, 1, Children) of
                {_, Pid, _, _} when is_pid(Pid) ->
                    length([P || {_, P, _, _} <- supervisor:which_children(Pid), is_pid(P)]);
                _ -> 0
            end
    catch
        exit:_ -> 0
    end.

handle_cast(_, S) ->
    {noreply, S}.

handle_info({'EXIT', _, Reason}, S) when Reason =/= normal ->
    {stop, Reason, S};
handle_info(_, S) ->
    {noreply, S}.

terminate(_Reason, S) ->
    _ = close(S),
    ok.

close(S = #state{lsock = undefined}) -> S;
close(S = #state{lsock = LSock}) ->
    gen_tcp:close(LSock),
    S#state{lsock = undefined}.
