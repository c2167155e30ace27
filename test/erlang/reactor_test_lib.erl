%% Helpers shared by the Common Test suites: paths, clients, fd counting, and a
%% logger handler that forwards log events to a test process.
-module(reactor_test_lib).

-export([make_certs/1, free_port/0, write_file/3, sh/2, git_snapshot/1, fd_table/0, root/0, fixture/1, example/1, start_ctx/2, listen/1, listen/2, connect/1,
         roundtrip/2, recv_exact/3, fd_count/0, settled_fd_count/0, node_fd_count/1, os_pid/1, wait_until/2,
         capture_logs/0, stop_capture/1, logged/2, flush_logs/0, os_alive/1,
         channel_dirs/0, file_fd/1, http_request/2, start_traffic/4, stop_traffic/1]).
-export([log/2]).

root() ->
    string:trim(os:cmd("readlink -f " ++ code:priv_dir(reactor) ++ "/..")).

%% A CA, a server certificate for localhost and 127.0.0.1, and a client
%% certificate, made with openssl in Dir (never committed).
make_certs(Dir) ->
    ok = filelib:ensure_path(Dir),
    Sh = fun(Cmd) ->
                 Out = os:cmd("cd '" ++ Dir ++ "' && " ++ Cmd ++ " 2>&1; echo rc=$?"),
                 {match, _} = re:run(Out, "rc=0\\n$"),
                 ok
         end,
    Sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=reactor test CA'"),
    Sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost'"),
    Sh("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext"),
    Sh("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext"),
    Sh("openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj '/CN=test client'"),
    Sh("openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2"),
    Dir.

%% A TCP port nobody listens on now.
free_port() ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, P} = inet:port(L),
    gen_tcp:close(L),
    P.

write_file(Dir, Rel, Text) ->
    Path = filename:join(Dir, Rel),
    ok = filelib:ensure_dir(Path),
    ok = file:write_file(Path, Text).

%% A shell command run in Dir; what it printed.
sh(Dir, Cmd) ->
    os:cmd("cd '" ++ Dir ++ "' && " ++ Cmd).

%% The working tree as a git repository in Dir/reactor-src (branch main), so
%% that a dependency on it is fetched as users fetch it, uncommitted changes
%% included.
git_snapshot(Dir) ->
    Src = filename:join(Dir, "reactor-src"),
    ok = file:make_dir(Src),
    Copy = os:cmd("cd '" ++ root() ++ "' && git ls-files -co --exclude-standard -z"
                  " | xargs -0 cp --parents -t '" ++ Src ++ "' 2>&1"),
    "" = Copy,
    _ = os:cmd("cd '" ++ Src ++ "' && git init -q -b main && git add -A && "
               "git -c user.name=t -c user.email=t@t commit -qm snapshot 2>&1"),
    Src.

fixture(Name) -> filename:join([root(), "test", "fixtures", Name]).
example(Name) -> filename:join([root(), "examples", Name]).

%% Not linked: tests that kill Node must survive their context's death.
start_ctx(Id, Opts) ->
    {ok, Pid} = reactor_context:start(Id, Opts),
    Pid.

listen(Ctx) -> listen(Ctx, #{}).
listen(Ctx, Extra) ->
    Name = {test_listener, erlang:unique_integer([positive])},
    Base = case Ctx of
               undefined -> #{ip => {127, 0, 0, 1}, port => 0};
               _ -> #{ip => {127, 0, 0, 1}, port => 0, context => Ctx}
           end,
    {ok, _} = reactor:start_listener(Name, maps:merge(Base, Extra)),
    {Name, reactor:listener_port(Name)}.

connect(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {nodelay, true}], 5000),
    S.

roundtrip(S, Bin) ->
    ok = gen_tcp:send(S, Bin),
    recv_exact(S, byte_size(Bin), 5000).

recv_exact(S, N, Timeout) -> recv_exact(S, N, Timeout, []).
recv_exact(_S, 0, _T, Acc) -> {ok, iolist_to_binary(lists:reverse(Acc))};
recv_exact(S, N, T, Acc) ->
    case gen_tcp:recv(S, 0, T) of
        {ok, B} when byte_size(B) =< N -> recv_exact(S, N - byte_size(B), T, [B | Acc]);
        {ok, B} -> {error, {too_much, iolist_to_binary(lists:reverse([B | Acc]))}};
        {error, _} = E -> E
    end.

http_request(S, Req) ->
    ok = gen_tcp:send(S, Req),
    http_response(S, <<>>).

http_response(S, Acc) ->
    case binary:split(Acc, <<"\r\n\r\n">>) of
        [Head, Body] ->
            {match, [Len]} = re:run(Head, "Content-Length: (\\d+)", [{capture, all_but_first, binary}]),
            Need = binary_to_integer(Len) - byte_size(Body),
            {ok, Rest} = recv_exact(S, Need, 5000),
            {ok, <<Head/binary, "\r\n\r\n", Body/binary, Rest/binary>>};
        [_] ->
            {ok, B} = gen_tcp:recv(S, 0, 5000),
            http_response(S, <<Acc/binary, B/binary>>)
    end.

%% The fds open now: those whose link can be read (the listing's own fd, and
%% one closing while we look, cannot).
fd_count() -> length([F || {_, {ok, _}} = F <- fd_table()]).

%% The count once it holds still for 200 ms: a baseline taken right after a
%% round trip can include the accepted fd that the BEAM closes only when
%% Node's handoff reply arrives, after the client already has its echo.
settled_fd_count() -> settled_fd_count(fd_count(), 0, 3000).

settled_fd_count(N, Still, _Left) when Still >= 200 -> N;
settled_fd_count(N, _Still, Left) when Left =< 0 -> N;
settled_fd_count(N, Still, Left) ->
    timer:sleep(20),
    case fd_count() of
        N -> settled_fd_count(N, Still + 20, Left - 20);
        M -> settled_fd_count(M, 0, Left - 20)
    end.

%% What each fd of this BEAM is, to say which ones leaked.
fd_table() ->
    {ok, Fds} = file:list_dir("/proc/self/fd"),
    lists:sort([{list_to_integer(F), file:read_link("/proc/self/fd/" ++ F)} || F <- Fds]).

node_fd_count(OsPid) ->
    {ok, L} = file:list_dir("/proc/" ++ integer_to_list(OsPid) ++ "/fd"),
    length(L).

os_pid(Ctx) -> maps:get(os_pid, reactor_context:info(Ctx)).

os_alive(OsPid) -> filelib:is_dir("/proc/" ++ integer_to_list(OsPid)).

channel_dirs() ->
    lists:sort(filelib:wildcard("/tmp/reactor-" ++ os:getpid() ++ "-*")).

wait_until(Fun, Timeout) when Timeout =< 0 ->
    Fun() orelse error(wait_until_timeout);
wait_until(Fun, Timeout) ->
    case Fun() of
        true -> ok;
        _ -> timer:sleep(20), wait_until(Fun, Timeout - 20)
    end.

%% An fd of a regular file: open it, then find it in /proc/self/fd.
file_fd(Path) ->
    {ok, H} = file:open(Path, [read, raw]),
    {ok, Fds} = file:list_dir("/proc/self/fd"),
    [Fd] = [list_to_integer(F) || F <- Fds,
                                  file:read_link("/proc/self/fd/" ++ F) =:= {ok, Path}],
    {H, Fd}.

%%% Log capture

capture_logs() ->
    Id = list_to_atom("reactor_test_capture_" ++ integer_to_list(erlang:unique_integer([positive]))),
    #{level := Primary} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, all), % console.log is info
    ok = logger:add_handler(Id, ?MODULE, #{level => all, config => #{pid => self(), primary => Primary}}),
    Id.

stop_capture(Id) ->
    {ok, #{config := #{primary := Primary}}} = logger:get_handler_config(Id),
    ok = logger:set_primary_config(level, Primary),
    logger:remove_handler(Id).

log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{pid := Pid}}) ->
    Text = case Msg of
               {string, S} -> unicode:characters_to_binary(S);
               {report, R} -> iolist_to_binary(io_lib:format("~0p", [R]));
               {F, A} -> unicode:characters_to_binary(io_lib:format(F, A))
           end,
    Pid ! {logged, Level, Text, Meta},
    ok.

%% Wait for a log event whose text matches Regex; returns {Level, Text, Meta}.
logged(Regex, Timeout) ->
    receive
        {logged, L, T, M} ->
            case re:run(T, Regex) of
                {match, _} -> {L, T, M};
                nomatch -> logged(Regex, Timeout)
            end
    after Timeout ->
        error({not_logged, Regex})
    end.

flush_logs() ->
    receive {logged, _, _, _} -> flush_logs() after 0 -> ok end.

%% Traffic for the live-operation suites: `Live' clients that ask on one
%% connection each, lock-step, and `Fresh' clients that connect, ask once and
%% close, over and over; `Ask(Socket)' -> {ok, Answer} | {error, Why}.
%% stop_traffic/1 returns, per client in order, `#{answers, failed}'.
start_traffic(Port, Ask, Live, Fresh) ->
    Self = self(),
    L = [spawn_link(fun() -> S = connect(Port), traffic_loop(Self, fun() -> Ask(S) end, [], []) end)
         || _ <- lists:seq(1, Live)],
    F = [spawn_link(fun() -> traffic_loop(Self, fun() -> ask_once(Port, Ask) end, [], []) end)
         || _ <- lists:seq(1, Fresh)],
    {L, F}.

stop_traffic(Clients) ->
    [P ! stop || P <- Clients],
    [receive {P, R} -> R after 10000 -> error({no_result, P}) end || P <- Clients].

ask_once(Port, Ask) ->
    S = connect(Port),
    R = Ask(S),
    gen_tcp:close(S),
    R.

traffic_loop(Parent, Ask, Answers, Failed) ->
    receive
        stop -> Parent ! {self(), #{answers => lists:reverse(Answers), failed => Failed}}
    after 0 ->
        case Ask() of
            {ok, A} -> traffic_loop(Parent, Ask, [A | Answers], Failed);
            {error, E} -> traffic_loop(Parent, Ask, Answers, [E | Failed])
        end
    end.
