%% A BEAM started under `ulimit -n 256' (prlimit), in interactive mode as
%% `erl -pa' and rebar3 shell run it: a listener driven past the fd limit by
%% real clients from this node (what stops first, and that the limit stops
%% neither the acceptors nor the listener), and contexts started with no fd
%% left for them (docs/performance.md, "Limits").
-module(reactor_fd_limit_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-define(LIMIT, 256).
-define(CLIENTS, 300).
-define(ACCEPTORS, 4).

all() -> [listener_past_the_fd_limit, node_past_its_fd_limit, context_start_at_the_fd_limit].

suite() -> [{timetrap, {minutes, 2}}].

%% The BEAM holds one fd per connection (Node holds its own copy, under a
%% limit of its own): past its limit the acceptors back off (10 ms doubling to
%% 1 s, a warning each time), the connections wait in the backlog, and the
%% listener goes on. An acceptor restarted at the limit, which has no fd for
%% its dup of the listening socket, is started all the same. Once fds free
%% up, every waiting connection is served; a context stops at the limit too.
%% Before: the acceptors died in timer:sleep/1 (undef: loading `timer' took
%% an fd), their restarts died on the dup, and the listener was lost.
listener_past_the_fd_limit(_Config) ->
    P = start_limited_peer(),
    try
        ?assertEqual(?LIMIT, call(P, ?MODULE, open_file_limit, [])),
        Base = call(P, reactor_test_lib, fd_count, []),
        {Ctx, L, Port} = call(P, ?MODULE, serve, [reactor_test_lib:example("echo.ts")]),
        Clients = [connect(Port) || _ <- lists:seq(1, ?CLIENTS)],
        [ok = gen_tcp:send(C, <<"x">>) || C <- Clients],
        timer:sleep(3000),
        {Served, Waiting} = lists:partition(fun(C) -> gen_tcp:recv(C, 1, 0) =:= {ok, <<"x">>} end, Clients),
        ct:pal("under a limit of ~p fds (~p open before the listener): ~p of ~p clients served, "
               "~p waiting", [?LIMIT, Base, length(Served), ?CLIENTS, length(Waiting)]),
        ?assert(length(Served) > ?LIMIT div 2),
        ?assert(length(Served) < ?LIMIT),
        ?assertEqual(?CLIENTS, length(Served) + length(Waiting)),
        %% at the limit: backing off, not spinning (at most ~8 tries per
        %% acceptor in its first second, one a second after that)
        #{accept_errors := E0} = info(P, L),
        timer:sleep(2000),
        #{accept_errors := E1, acceptors := ?ACCEPTORS} = info(P, L),
        ct:pal("accept errors: ~p, then ~p two seconds later", [E0, E1]),
        ?assert(E0 >= 1),
        ?assert(E1 - E0 =< ?ACCEPTORS * 3),
        %% an acceptor restarted with no fd left for its copy of the socket
        Holder = call(P, ?MODULE, restart_acceptor_at_limit, [L]),
        ?assertMatch(#{acceptors := ?ACCEPTORS}, info(P, L)),
        %% fds free again: every waiting connection is served (its first
        %% byte, sent above, comes back first)
        ok = call(P, ?MODULE, release, [Holder]),
        {Closed, Kept} = lists:split(length(Served) - 40, Served),
        [gen_tcp:close(C) || C <- Closed],
        [?assertEqual({ok, <<"x">>}, gen_tcp:recv(C, 1, 5000)) || C <- Waiting],
        [?assert(echoes(C, 1000)) || C <- Kept ++ Waiting],
        ?assertMatch(#{acceptors := ?ACCEPTORS}, info(P, L)),
        %% a context stops with no fd left (gen_server:stop/3 needs sys), and
        %% its clients all see the end
        Holder2 = call(P, ?MODULE, take_every_fd, []),
        ?assertEqual(ok, call(P, reactor_context, stop, [Ctx])),
        [?assertEqual({error, closed}, gen_tcp:recv(C, 0, 5000)) || C <- Kept ++ Waiting],
        ok = call(P, ?MODULE, release, [Holder2]),
        ok = call(P, reactor, stop_listener, [L]),
        ?assertEqual(ok, reactor_test_lib:wait_until(
                           fun() -> call(P, reactor_test_lib, fd_count, []) =< Base end, 5000))
    after
        peer:stop(P)
    end.

%% A context's Node under a lower limit than its BEAM's (64 fds, 21 its own):
%% the connections past it reach the listener but not Node, which refuses each
%% fd the kernel could not give it; the clients see the end at once, the
%% acceptor's warning says that Node is out of fds (before: only
%% `fd_truncated'), and once connections close Node takes new ones again.
node_past_its_fd_limit(_Config) ->
    H = reactor_test_lib:capture_logs(),
    Node = os:find_executable("node"),
    Ctx = reactor_test_lib:start_ctx(node_limited, #{protocol => reactor_test_lib:example("echo.ts"),
                                                     node => "prlimit", node_args => ["--nofile=64:64", Node]}),
    {L, Port} = reactor_test_lib:listen(Ctx),
    try
        Clients = [connect(Port) || _ <- lists:seq(1, 80)],
        [ok = gen_tcp:send(C, <<"x">>) || C <- Clients],
        Answers = [{C, gen_tcp:recv(C, 1, 5000)} || C <- Clients],
        Served = [C || {C, {ok, <<"x">>}} <- Answers],
        Refused = [C || {C, {error, closed}} <- Answers],
        ct:pal("Node under 64 fds: ~p of 80 served, ~p refused", [length(Served), length(Refused)]),
        ?assertEqual(80, length(Served) + length(Refused)),
        ?assert(length(Served) > 20),
        ?assert(length(Refused) > 0),
        reactor_test_lib:logged("failed: \\{error,fd_truncated\\} \\(the context's Node is out of file descriptors", 5000),
        %% the acceptors count a batch's refusals after its clients see them closed
        ?assertEqual(ok, reactor_test_lib:wait_until(
                           fun() -> maps:get(handoff_errors, reactor:listener_info(L)) >= length(Refused) end, 5000)),
        [gen_tcp:close(C) || C <- Served],
        ok = reactor_test_lib:wait_until(fun() -> maps:get(connections, reactor_context:info(Ctx)) =:= 0 end, 5000),
        Again = [connect(Port) || _ <- lists:seq(1, 10)],
        [?assert(echoes(C, 5000)) || C <- Again],
        [gen_tcp:close(C) || C <- Again]
    after
        reactor_test_lib:stop_capture(H),
        reactor_test_lib:done(Ctx, L)
    end.

%% A context keeps 6 fds (the channel, the stderr FIFO, the port's two pipes,
%% the batch socket, the poller) and needs 7 free to start (measured: 0..6
%% refused, 7 served): started with 0 to 9 left, each start is served or says
%% which fd the OS refused, and leaves no fd and no channel directory behind. Before: with none
%% left it died on a badmatch in reactor_channel and left its directory in
%% /tmp; with 2 to 6 left open_port/2 raised emfile and the context died; its
%% first start at the limit died in base64 (undef: not loaded yet).
context_start_at_the_fd_limit(_Config) ->
    P = start_limited_peer(),
    try
        Base = call(P, reactor_test_lib, fd_count, []),
        Results = call(P, ?MODULE, start_with_free, [reactor_test_lib:example("echo.ts"), lists:seq(0, 9)]),
        ct:pal("context starts with 0..9 fds left: ~p", [Results]),
        Refused = [R || {_, {error, R}} <- Results],
        [?assertMatch({Kind, emfile} when Kind =:= channel; Kind =:= stderr_fifo; Kind =:= node_spawn;
                                          Kind =:= batch_socket, R) || R <- Refused],
        ?assertMatch({0, {error, {channel, emfile}}}, hd(Results)),
        ?assertMatch({9, ok}, lists:last(Results)),
        ?assertEqual([], call(P, ?MODULE, channel_dirs, [])),
        ?assertEqual(ok, reactor_test_lib:wait_until(
                           fun() -> call(P, reactor_test_lib, fd_count, []) =< Base end, 5000))
    after
        peer:stop(P)
    end.

%%% In this node

%% A peer BEAM under prlimit, with this build's code and this suite's on its
%% path, the reactor application started; no distribution (its control
%% connection is its stdio).
start_limited_peer() ->
    Paths = [filename:dirname(code:which(?MODULE))
             | [D || D <- code:get_path(), string:find(D, "_build") =/= nomatch]],
    Limit = "--nofile=" ++ integer_to_list(?LIMIT) ++ ":" ++ integer_to_list(?LIMIT),
    {ok, P, _} = peer:start_link(#{connection => standard_io,
                                exec => {os:find_executable("prlimit"), [Limit, os:find_executable("erl")]},
                                args => ["-pa" | Paths]}),
    {ok, _} = call(P, application, ensure_all_started, [reactor]),
    P.

call(P, M, F, A) -> peer:call(P, M, F, A, 30000).

info(P, L) -> call(P, reactor, listener_info, [L]).

connect(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    S.

echoes(C, Timeout) ->
    ok = gen_tcp:send(C, <<"x">>),
    gen_tcp:recv(C, 1, Timeout) =:= {ok, <<"x">>}.

%%% In the peer

open_file_limit() ->
    list_to_integer(string:trim(os:cmd("prlimit --pid " ++ os:getpid() ++ " --nofile --noheadings --output SOFT"))).

%% A context and a listener of ?ACCEPTORS, owned by the application (not by
%% the peer:call that starts them).
serve(Protocol) ->
    {ok, Ctx} = reactor_context:start(limited, #{protocol => Protocol}),
    {ok, _} = reactor:start_listener(limited, #{ip => {127, 0, 0, 1}, port => 0, context => Ctx,
                                                acceptors => ?ACCEPTORS}),
    {Ctx, limited, reactor:listener_port(limited)}.

%% Stops one acceptor (its copy of the socket closes), takes every fd left
%% (a holder process keeps them until told `release'), and restarts it: its
%% dup fails with emfile. Returns the holder.
restart_acceptor_at_limit(L) ->
    Sup = acceptors_sup(L),
    [{Id, _, _, _} | _] = supervisor:which_children(Sup),
    ok = supervisor:terminate_child(Sup, Id),
    Holder = take_every_fd(),
    ?assertEqual({error, emfile}, reactor_nif:dup(0)),
    ?assertMatch({ok, _}, supervisor:restart_child(Sup, Id)),
    Holder.

%% For each count in Free: a context started with that many fds left, and
%% stopped if it started: `{Free, ok | {error, Reason}}'.
start_with_free(Protocol, Free) ->
    Base = reactor_test_lib:fd_count(),
    [begin
         %% what the last one's stop closes, closed first
         ok = reactor_test_lib:wait_until(fun() -> reactor_test_lib:fd_count() =< Base end, 5000),
         Holder = take_every_fd(),
         ok = release(Holder, N),
         Result = reactor_context:start({limited, N}, #{protocol => Protocol}),
         ok = release(Holder),
         case Result of
             {ok, Ctx} -> ok = reactor_context:stop(Ctx), {N, ok};
             {error, _} = E -> {N, E}
         end
     end || N <- Free].

channel_dirs() ->
    filelib:wildcard("/tmp/reactor-" ++ os:getpid() ++ "-*").

%% A process holding every fd this BEAM has left, until release/1. (Its pid
%% means nothing outside the peer, which has no distribution: release/1 is
%% called there.)
take_every_fd() ->
    Self = self(),
    Holder = spawn(fun() ->
                           Socks = fill([]),
                           Self ! {filled, self()},
                           hold(Socks)
                   end),
    receive {filled, Holder} -> Holder end.

hold(Socks) ->
    receive
        {release, N, From} ->
            {Freed, Kept} = lists:split(min(N, length(Socks)), Socks),
            [gen_udp:close(S) || S <- Freed],
            From ! {released, self()},
            hold(Kept);
        release ->
            [gen_udp:close(S) || S <- Socks]
    end.

release(Holder) ->
    Holder ! release,
    ok.

%% N of the holder's fds given back (it keeps the rest).
release(Holder, N) ->
    Holder ! {release, N, self()},
    receive {released, Holder} -> ok end.

fill(Acc) ->
    case gen_udp:open(0) of
        {ok, S} -> fill([S | Acc]);
        {error, emfile} -> Acc
    end.

acceptors_sup(L) ->
    {_, Sup, _, _} = lists:keyfind(reactor_acceptors_sup, 1,
                                   supervisor:which_children({via, reactor_registry, {listener_sup, L}})),
    Sup.
