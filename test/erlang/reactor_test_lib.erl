%% @doc Helpers shared by the Common Test suites: paths and files, contexts
%% and listeners to serve from, clients of every transport, fd and memory
%% counts, telemetry events, and a logger handler that forwards log events to
%% a test process. The application itself is started by reactor_ct_hook; a
%% supervisor of the test's own is reactor_test_sup, traffic for the
%% live-operation suites reactor_test_traffic.
-module(reactor_test_lib).

-export([root/0, fixture/1, example/1, write_file/3, sh/2, git_snapshot/1, make_certs/1,
         init_tls/1, free_port/0, tcp_pair/0]).
-export([start_ctx/2, listen/1, listen/2, faulty/2, done/2, versioned/2, versioned/3]).
-export([connect/1, roundtrip/2, roundtrip/3, recv_exact/3, recv_count/2, recv_line/1,
         recv_rest/1, http_request/2]).
-export([say/2, line/1, silent/1]).
-export([fd_count/0, settled_fd_count/0, fd_table/0, node_fd_count/1, os_pid/1, os_alive/1,
         rss_kb/1, channel_dirs/0, file_fd/1, file_fd/2, wait_until/2]).
-export([telemetry_event/1, telemetry_event/2, wait_stop/1]).
-export([capture_logs/0, stop_capture/1, logged/2, flush_logs/0]).
-export([log/2]).

-export_type([client/0]).

%% A client's end of a connection: a gen_tcp socket, a socket module socket,
%% or a socket tagged with its module (`{ssl, S}' for TLS, as ranch passes a
%% Transport module).
-type client() :: gen_tcp:socket() | socket:socket() | {gen_tcp | ssl, term()}.

%%% Paths and files

%% @doc The root of the working tree (reactor's priv/..).
-spec root() -> string().
root() ->
    string:trim(os:cmd("readlink -f " ++ code:priv_dir(reactor) ++ "/..")).

%% @doc test/fixtures/Name, absolute.
-spec fixture(string()) -> string().
fixture(Name) -> filename:join([root(), "test", "fixtures", Name]).

%% @doc examples/Name, absolute.
-spec example(string()) -> string().
example(Name) -> filename:join([root(), "examples", Name]).

%% @doc Writes Text to Dir/Rel, making the directories on the way.
-spec write_file(file:filename(), file:filename(), iodata()) -> ok.
write_file(Dir, Rel, Text) ->
    Path = filename:join(Dir, Rel),
    ok = filelib:ensure_dir(Path),
    ok = file:write_file(Path, Text).

%% @doc A shell command run in Dir; what it printed.
-spec sh(file:filename(), string()) -> string().
sh(Dir, Cmd) ->
    os:cmd("cd '" ++ Dir ++ "' && " ++ Cmd).

%% @doc The working tree as a git repository in Dir/reactor-src (branch
%% main), so that a dependency on it is fetched as users fetch it,
%% uncommitted changes included. Returns its path.
-spec git_snapshot(file:filename()) -> file:filename().
git_snapshot(Dir) ->
    Src = filename:join(Dir, "reactor-src"),
    ok = file:make_dir(Src),
    Copy = os:cmd("cd '" ++ root() ++ "' && git ls-files -co --exclude-standard -z"
                  " | xargs -0 cp --parents -t '" ++ Src ++ "' 2>&1"),
    "" = Copy,
    _ = os:cmd("cd '" ++ Src ++ "' && git init -q -b main && git add -A && "
               "git -c user.name=t -c user.email=t@t commit -qm snapshot 2>&1"),
    Src.

%% @doc A CA (ca.pem, ca.key), a server certificate for localhost and
%% 127.0.0.1 (server.pem, server.key) and a client certificate (client.pem,
%% client.key), made with openssl in Dir (never committed). Returns Dir.
-spec make_certs(file:filename()) -> file:filename().
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

%% @doc init_per_suite of a suite with TLS clients: ssl started, and
%% make_certs/1's files in priv_dir/certs, that directory under `certs'.
-spec init_tls(list()) -> list().
init_tls(Config) ->
    {ok, _} = application:ensure_all_started(ssl),
    Dir = make_certs(filename:join(proplists:get_value(priv_dir, Config), "certs")),
    [{certs, Dir} | Config].

%% @doc A TCP port nobody listens on now.
-spec free_port() -> inet:port_number().
free_port() ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, P} = inet:port(L),
    gen_tcp:close(L),
    P.

%% @doc A connected TCP pair on 127.0.0.1: our side as a raw fd the caller
%% owns (a dup, the gen_tcp socket closed), the peer a passive binary
%% gen_tcp socket that sees whatever happens to that fd.
-spec tcp_pair() -> {Fd :: non_neg_integer(), Peer :: gen_tcp:socket()}.
tcp_pair() ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}]),
    {ok, Port} = inet:port(L),
    {ok, Peer} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    {ok, Ours} = gen_tcp:accept(L),
    {ok, Fd} = inet:getfd(Ours),
    {ok, Dup} = reactor:dup_fd(Fd),
    gen_tcp:close(Ours),
    gen_tcp:close(L),
    {Dup, Peer}.

%%% What the tests serve from

%% @doc reactor_context:start/2, its pid. Not linked: tests that kill Node
%% must survive their context's death.
-spec start_ctx(term(), map()) -> pid().
start_ctx(Id, Opts) ->
    {ok, Pid} = reactor_context:start(Id, Opts),
    Pid.

%% @doc A listener on 127.0.0.1, on a port the kernel picks, handing off to
%% Ctx (`undefined': none given, as with a `pool' in Extra); Extra is merged
%% into its options. Returns its name and port.
-spec listen(pid() | atom() | undefined) -> {term(), inet:port_number()}.
listen(Ctx) -> listen(Ctx, #{}).

-spec listen(pid() | atom() | undefined, map()) -> {term(), inet:port_number()}.
listen(Ctx, Extra) ->
    Name = {test_listener, erlang:unique_integer([positive])},
    Base = case Ctx of
               undefined -> #{ip => {127, 0, 0, 1}, port => 0};
               _ -> #{ip => {127, 0, 0, 1}, port => 0, context => Ctx}
           end,
    {ok, _} = reactor:start_listener(Name, maps:merge(Base, Extra)),
    {Name, reactor:listener_port(Name)}.

%% @doc The context `faulty' running test/fixtures/faulty.ts with Opts, and a
%% listener whose connections carry `tag => Tag' (the tag its log lines
%% start with: "lost Tag ...").
-spec faulty(binary(), map()) -> {pid(), term(), inet:port_number()}.
faulty(Tag, Opts) ->
    Ctx = start_ctx(faulty, Opts#{protocol => fixture("faulty.ts")}),
    {L, Port} = listen(Ctx, #{info => #{tag => Tag}}),
    {Ctx, L, Port}.

%% @doc The end of a case that served: its listener stopped, then its context.
-spec done(pid(), term()) -> ok | {error, term()}.
done(Ctx, L) ->
    reactor:stop_listener(L),
    reactor_context:stop(Ctx).

%% @doc Dir/versioned.ts: a protocol that answers every request with its
%% version, "v<N>:" ++ request; Extra goes into its class body. Returns its path.
-spec versioned(file:filename(), non_neg_integer()) -> file:filename().
versioned(Dir, N) -> versioned(Dir, N, "").

-spec versioned(file:filename(), non_neg_integer(), string()) -> file:filename().
versioned(Dir, N, Extra) ->
    File = filename:join(Dir, "versioned.ts"),
    ok = file:write_file(File, io_lib:format(
        "import { Action, Protocol } from \"erlang-reactor\";~n"
        "export default class V~b extends Protocol {~n~ts"
        "  dataReceived(data: Buffer): Action {~n"
        "    this.writeBuffer.push(\"v~b:\" + data.toString());~n"
        "    return \"write_pending\";~n"
        "  }~n"
        "}~n", [N, Extra, N])),
    File.

%%% Clients

%% @doc A gen_tcp client of 127.0.0.1:Port: binary, passive, no Nagle.
-spec connect(inet:port_number()) -> gen_tcp:socket().
connect(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {nodelay, true}], 5000),
    S.

%% @doc Sends Bin, reads as many bytes back (each read within 5 s).
-spec roundtrip(client(), binary()) -> {ok, binary()} | {error, term()}.
roundtrip(C, Bin) -> roundtrip(C, Bin, 5000).

%% @doc Sends Bin, reads as many bytes back, each read within Timeout ms.
-spec roundtrip(client(), binary(), timeout()) -> {ok, binary()} | {error, term()}.
roundtrip(C, Bin, Timeout) ->
    ok = send(C, Bin),
    recv_exact(C, byte_size(Bin), Timeout).

%% @doc Exactly N bytes, each read within Timeout ms; `{error, {too_much,
%% Bytes}}' when a read goes past them.
-spec recv_exact(client(), non_neg_integer(), timeout()) -> {ok, binary()} | {error, term()}.
recv_exact(C, N, Timeout) -> recv_exact(C, N, Timeout, []).

recv_exact(_C, 0, _T, Acc) -> {ok, iolist_to_binary(lists:reverse(Acc))};
recv_exact(C, N, T, Acc) ->
    case recv(C, 0, T) of
        {ok, B} when byte_size(B) =< N -> recv_exact(C, N - byte_size(B), T, [B | Acc]);
        {ok, B} -> {error, {too_much, iolist_to_binary(lists:reverse([B | Acc]))}};
        {error, _} = E -> E
    end.

%% @doc Reads until at least Want bytes came (each read within 10 s): how
%% many came. For answers too big to keep.
-spec recv_count(client(), non_neg_integer()) -> {ok, non_neg_integer()} | {error, term()}.
recv_count(C, Want) -> recv_count(C, Want, 0).

recv_count(_C, Want, Got) when Got >= Want -> {ok, Got};
recv_count(C, Want, Got) ->
    case recv(C, 0, 10000) of
        {ok, B} -> recv_count(C, Want, Got + byte_size(B));
        E -> E
    end.

%%% A line protocol's client: a gen_tcp socket of {packet, line}

%% @doc One line to the peer, "\n" added.
-spec say(gen_tcp:socket(), iodata()) -> ok.
say(S, Line) -> ok = gen_tcp:send(S, [Line, $\n]).

%% @doc The next line, without its "\n", within 5 s; `{error, Why}' else.
-spec line(gen_tcp:socket()) -> binary() | {error, term()}.
line(S) ->
    case gen_tcp:recv(S, 0, 5000) of
        {ok, L} -> string:trim(L, trailing, "\n");
        E -> E
    end.

%% @doc Nothing more comes within 300 ms; `error({not_silent, Got})' else.
-spec silent(gen_tcp:socket()) -> ok.
silent(S) ->
    case gen_tcp:recv(S, 0, 300) of
        {error, timeout} -> ok;
        Got -> error({not_silent, Got})
    end.

%% @doc The first line, without its "\n" (each read within 5 s); what came
%% after it is dropped.
-spec recv_line(client()) -> {ok, binary()} | {error, term()}.
recv_line(C) -> recv_line(C, <<>>).

recv_line(C, Acc) ->
    case binary:split(Acc, <<"\n">>) of
        [Line, _] -> {ok, Line};
        [_] ->
            case recv(C, 0, 5000) of
                {ok, B} -> recv_line(C, <<Acc/binary, B/binary>>);
                E -> E
            end
    end.

%% @doc Whatever remains until the peer closes (each read within 5 s):
%% `{closed, Bytes}'.
-spec recv_rest(client()) -> {closed, binary()} | {error, term()}.
recv_rest(C) -> recv_rest(C, <<>>).

recv_rest(C, Acc) ->
    case recv(C, 0, 5000) of
        {ok, B} -> recv_rest(C, <<Acc/binary, B/binary>>);
        {error, closed} -> {closed, Acc};
        {error, _} = E -> E
    end.

%% @doc Sends an HTTP/1.1 request, reads one response: its head and a body
%% of its Content-Length. Crashes on a read error.
-spec http_request(client(), iodata()) -> {ok, binary()}.
http_request(C, Req) ->
    ok = send(C, Req),
    http_response(C, <<>>).

http_response(C, Acc) ->
    case binary:split(Acc, <<"\r\n\r\n">>) of
        [Head, Body] ->
            {match, [Len]} = re:run(Head, "Content-Length: (\\d+)", [{capture, all_but_first, binary}]),
            Need = binary_to_integer(Len) - byte_size(Body),
            {ok, Rest} = recv_exact(C, Need, 5000),
            {ok, <<Head/binary, "\r\n\r\n", Body/binary, Rest/binary>>};
        [_] ->
            {ok, B} = recv(C, 0, 5000),
            http_response(C, <<Acc/binary, B/binary>>)
    end.

send({'$socket', _} = S, B) -> socket:send(S, B);
send({M, S}, B) when M =:= gen_tcp; M =:= ssl -> M:send(S, B);
send(S, B) -> gen_tcp:send(S, B).

recv({'$socket', _} = S, N, T) -> socket:recv(S, N, T);
recv({M, S}, N, T) when M =:= gen_tcp; M =:= ssl -> M:recv(S, N, T);
recv(S, N, T) -> gen_tcp:recv(S, N, T).

%%% Fds, OS processes, memory

%% @doc The fds open now: those whose link can be read (the listing's own
%% fd, and one closing while we look, cannot).
-spec fd_count() -> non_neg_integer().
fd_count() -> length([F || {_, {ok, _}} = F <- fd_table()]).

%% @doc The count once it holds still for 200 ms (3 s at most): a baseline
%% taken right after a round trip can include the accepted fd that the BEAM
%% closes only when Node's handoff reply arrives, after the client already
%% has its echo.
-spec settled_fd_count() -> non_neg_integer().
settled_fd_count() -> settled_fd_count(fd_count(), 0, 3000).

settled_fd_count(N, Still, _Left) when Still >= 200 -> N;
settled_fd_count(N, _Still, Left) when Left =< 0 -> N;
settled_fd_count(N, Still, Left) ->
    timer:sleep(20),
    case fd_count() of
        N -> settled_fd_count(N, Still + 20, Left - 20);
        M -> settled_fd_count(M, 0, Left - 20)
    end.

%% @doc What each fd of this BEAM is, to say which ones leaked: `{Fd,
%% file:read_link/1 of it}', sorted.
-spec fd_table() -> [{non_neg_integer(), {ok, string()} | {error, term()}}].
fd_table() ->
    {ok, Fds} = file:list_dir("/proc/self/fd"),
    lists:sort([{list_to_integer(F), file:read_link("/proc/self/fd/" ++ F)} || F <- Fds]).

%% @doc How many fds an OS process has open.
-spec node_fd_count(non_neg_integer()) -> non_neg_integer().
node_fd_count(OsPid) ->
    {ok, L} = file:list_dir("/proc/" ++ integer_to_list(OsPid) ++ "/fd"),
    length(L).

%% @doc The OS pid of a context's Node.
-spec os_pid(pid() | atom()) -> non_neg_integer().
os_pid(Ctx) -> maps:get(os_pid, reactor_context:info(Ctx)).

%% @doc Whether an OS process exists.
-spec os_alive(non_neg_integer()) -> boolean().
os_alive(OsPid) -> filelib:is_dir("/proc/" ++ integer_to_list(OsPid)).

%% @doc An OS process's resident memory (VmRSS), in KiB.
-spec rss_kb(non_neg_integer()) -> non_neg_integer().
rss_kb(OsPid) ->
    {ok, B} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/status"),
    {match, [Kb]} = re:run(B, "VmRSS:\\s+(\\d+)", [{capture, all_but_first, binary}]),
    binary_to_integer(Kb).

%% @doc This BEAM's channel directories in /tmp, sorted.
-spec channel_dirs() -> [string()].
channel_dirs() ->
    lists:sort(filelib:wildcard("/tmp/reactor-" ++ os:getpid() ++ "-*")).

%% @doc An fd of a regular file or FIFO: opened (raw, read; Modes in
%% file_fd/2), then found in /proc/self/fd. Returns the handle and the fd.
-spec file_fd(file:filename()) -> {file:io_device(), non_neg_integer()}.
file_fd(Path) -> file_fd(Path, [read, raw]).

-spec file_fd(file:filename(), [file:mode()]) -> {file:io_device(), non_neg_integer()}.
file_fd(Path, Modes) ->
    {ok, H} = file:open(Path, Modes),
    {ok, Fds} = file:list_dir("/proc/self/fd"),
    [Fd] = [list_to_integer(F) || F <- Fds,
                                  file:read_link("/proc/self/fd/" ++ F) =:= {ok, Path}],
    {H, Fd}.

%% @doc `ok' once Fun returns true, tried every 20 ms; after Timeout ms, one
%% last try, and `error(wait_until_timeout)' if that fails too.
-spec wait_until(fun(() -> term()), integer()) -> ok | true.
wait_until(Fun, Timeout) when Timeout =< 0 ->
    Fun() orelse error(wait_until_timeout);
wait_until(Fun, Timeout) ->
    case Fun() of
        true -> ok;
        _ -> timer:sleep(20), wait_until(Fun, Timeout - 20)
    end.

%%% Telemetry

%% @doc The next telemetry event called Name that the telemetry stand-in
%% (test/erlang/telemetry.erl, attach/0) sent this process, within 5 s (or
%% Timeout ms): `{Measurements, Metadata}'.
-spec telemetry_event([atom()]) -> {map(), map()}.
telemetry_event(Name) -> telemetry_event(Name, 5000).

-spec telemetry_event([atom()], timeout()) -> {map(), map()}.
telemetry_event(Name, Timeout) ->
    receive
        {telemetry, Name, Measurements, Meta} -> {Measurements, Meta}
    after Timeout -> error({no_event, Name})
    end.

%% @doc The next `[reactor, connection, stop]' whose metadata passes `Pred':
%% `{Measurements, Metadata}' (telemetry_event/1's wait for each).
-spec wait_stop(fun((map()) -> boolean())) -> {map(), map()}.
wait_stop(Pred) ->
    {M, Meta} = telemetry_event([reactor, connection, stop]),
    case Pred(Meta) of
        true -> {M, Meta};
        false -> wait_stop(Pred)
    end.

%%% Log capture

%% @doc Every log event, at any level, also sent to this process as
%% `{logged, Level, Text, Meta}' until stop_capture/1; the primary level is
%% lowered to `all' meanwhile (console.log is info). Returns the handler id.
-spec capture_logs() -> logger:handler_id().
capture_logs() ->
    Id = list_to_atom("reactor_test_capture_" ++ integer_to_list(erlang:unique_integer([positive]))),
    #{level := Primary} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, all),
    ok = logger:add_handler(Id, ?MODULE, #{level => all, config => #{pid => self(), primary => Primary}}),
    Id.

%% @doc Ends capture_logs/0: the handler removed, the primary level restored.
-spec stop_capture(logger:handler_id()) -> ok | {error, term()}.
stop_capture(Id) ->
    {ok, #{config := #{primary := Primary}}} = logger:get_handler_config(Id),
    ok = logger:set_primary_config(level, Primary),
    logger:remove_handler(Id).

%% @private logger handler callback: the event, as text, to the test process.
log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{pid := Pid}}) ->
    Text = case Msg of
               {string, S} -> unicode:characters_to_binary(S);
               {report, R} -> iolist_to_binary(io_lib:format("~0p", [R]));
               {F, A} -> unicode:characters_to_binary(io_lib:format(F, A))
           end,
    Pid ! {logged, Level, Text, Meta},
    ok.

%% @doc Waits for a captured log event whose text matches Regex (those
%% before it are dropped): `{Level, Text, Meta}'; `error({not_logged, Regex})'
%% after Timeout ms.
-spec logged(iodata(), timeout()) -> {logger:level(), binary(), logger:metadata()}.
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

%% @doc Drops the captured log events waiting in the mailbox.
-spec flush_logs() -> ok.
flush_logs() ->
    receive {logged, _, _, _} -> flush_logs() after 0 -> ok end.
