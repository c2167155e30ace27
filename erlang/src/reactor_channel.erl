%% @doc The fd channel: a Unix SOCK_SEQPACKET socket in a private 0700 directory
%% over which a context passes fds (SCM_RIGHTS) to its Node process.
%%
%% It accepts exactly one peer, and only one whose SO_PEERCRED pid is the port's
%% OS pid; then the listening socket is closed and the directory removed with
%% everything in it, so nobody else can ever receive an fd from it and nothing
%% is left behind even if the BEAM is killed later. Directories left by a BEAM
%% killed during a start are removed by {@link remove_stale/0}.
-module(reactor_channel).

-export([open/0, dir/1, path/1, accept/2, peercred/1, send_fds/3, watch/1, give/2, close/1, remove_stale/0]).

-export_type([listening/0, channel/0]).

-include_lib("kernel/include/file.hrl").

-opaque listening() :: #{dir := file:filename(), path := binary(), lsock := socket:socket()}.
-opaque channel() :: #{sock := socket:socket()}.

%% SO_PEERCRED is option 17 at SOL_SOCKET on Linux: pid, uid, gid, native 32-bit.
-define(SO_PEERCRED, 17).
-define(PREFIX, "reactor-").

-spec open() -> {ok, listening()} | {error, term()}.
open() ->
    case private_dir(5) of
        {ok, Dir} ->
            Path = iolist_to_binary(filename:join(Dir, "fd.sock")),
            case listen(Path) of
                {ok, L} -> {ok, #{dir => Dir, path => Path, lsock => L}};
                {error, _} = E -> remove_dir(Dir), E
            end;
        {error, _} = E -> E
    end.

%% @doc The private directory: the context puts Node's stderr FIFO there too.
-spec dir(listening()) -> file:filename().
dir(#{dir := Dir}) -> Dir.

%% @doc The socket's path, for Node to connect to.
-spec path(listening()) -> binary().
path(#{path := Path}) -> Path.

listen(Path) ->
    case socket:open(local, seqpacket, default) of
        {ok, S} ->
            case socket:bind(S, #{family => local, path => Path}) of
                ok ->
                    ok = socket:listen(S, 4),
                    {ok, S};
                {error, _} = E ->
                    socket:close(S),
                    E
            end;
        {error, _} = E -> % emfile at the fd limit
            E
    end.

%% A fresh directory nobody else can enter; make_dir fails if the name exists,
%% so a directory planted in advance is never reused.
private_dir(0) ->
    {error, cannot_create_channel_dir};
private_dir(N) ->
    Rand = binary:encode_hex(rand:bytes(8)),
    Dir = filename:join(tmp_dir(), ?PREFIX ++ os:getpid() ++ "-" ++ binary_to_list(Rand)),
    case file:make_dir(Dir) of
        ok ->
            ok = file:change_mode(Dir, 8#700),
            {ok, Dir};
        {error, eexist} ->
            private_dir(N - 1);
        {error, _} = E ->
            E
    end.

tmp_dir() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        "" -> "/tmp";
        T -> T
    end.

%% @doc Take the peer if it has connected. Foreign peers are refused (closed at
%% once) and waited past. `{select, LSock}': nothing yet; a
%% `{'$socket', LSock, select, _}' message says when to call again. Once ours is
%% in, the directory is gone.
-spec accept(listening(), non_neg_integer()) ->
    {ok, channel()} | {select, socket:socket()} | {error, term()}.
accept(L = #{lsock := LSock}, OsPid) ->
    case socket:accept(LSock, nowait) of
        {ok, S} ->
            case peer_pid(S) of
                OsPid ->
                    close(L),
                    {ok, #{sock => S}};
                Other ->
                    logger:warning("reactor: refused fd channel peer with pid ~p "
                                   "(expected the port's pid ~p)", [Other, OsPid]),
                    socket:close(S),
                    accept(L, OsPid)
            end;
        {select, _} ->
            {select, LSock};
        {error, _} = E ->
            E
    end.

peer_pid(S) ->
    case peercred(S) of
        {ok, {Pid, _Uid, _Gid}} -> Pid;
        Other -> Other
    end.

%% @doc Who is at the other end of a Unix socket (SO_PEERCRED): its OS pid,
%% uid and gid, as the kernel recorded them at connect (an unconnected socket
%% says `{0, 16#ffffffff, 16#ffffffff}'). Given an fd, it asks through a
%% socket of its own on a dup of it, closed before it returns.
-spec peercred(socket:socket() | non_neg_integer()) ->
    {ok, {integer(), non_neg_integer(), non_neg_integer()}} | {error, term()}.
peercred(Fd) when is_integer(Fd) ->
    case socket:open(Fd, #{dup => true}) of
        {ok, S} ->
            try peercred(S) after socket:close(S) end;
        {error, _} = E ->
            E
    end;
peercred(S) ->
    case socket:getopt_native(S, {socket, ?SO_PEERCRED}, 12) of
        {ok, <<Pid:32/native-signed, Uid:32/native, Gid:32/native>>} -> {ok, {Pid, Uid, Gid}};
        {ok, _} -> {error, einval};
        {error, _} = E -> E
    end.

%% @doc One message: the ids in the payload (int32 each, in order) and the fds
%% in one SCM_RIGHTS control message. The kernel gives the peer its own copies.
-spec send_fds(channel(), [integer()], [integer()]) -> ok | {error, term()}.
send_fds(#{sock := S}, Ids, Fds) when length(Ids) =:= length(Fds), Ids =/= [] ->
    Msg = #{iov => [<<<<Id:32/native-signed>> || Id <- Ids>>],
            ctrl => [#{level => socket, type => rights,
                       data => <<<<Fd:32/native-signed>> || Fd <- Fds>>}]},
    %% A few seconds at most: Node drains the channel as it reads the handoff
    %% messages, so a full buffer means Node is stuck, and the caller gets an error.
    case socket:sendmsg(S, Msg, 5000) of
        ok -> ok;
        {error, {Reason, _Rest}} -> {error, Reason};
        {error, _} = E -> E
    end.

%% @doc Watch for Node hanging up. Node never writes to the channel, so it
%% becomes readable only when Node's end closes: `{watching, Sock}' means a
%% `{'$socket', Sock, select | abort, _}' message will come then (call again to
%% tell which); `closed' means it has.
-spec watch(channel()) -> {watching, socket:socket()} | closed.
watch(#{sock := S}) ->
    case socket:recv(S, 0, nowait) of
        {select, _} -> {watching, S};
        {ok, <<>>} -> closed; % SOCK_SEQPACKET says end of file with an empty read
        {ok, _} -> watch(#{sock => S}); % not Node's to send; dropped
        {error, _} -> closed
    end.

-spec close(listening() | channel()) -> ok.
%% @doc `Pid' owns the connected channel from now on (a replaced Node's drain).
-spec give(channel(), pid()) -> ok.
give(#{sock := S}, Pid) ->
    _ = socket:setopt(S, otp, controlling_process, Pid),
    ok.

close(#{sock := S}) ->
    _ = socket:close(S),
    ok;
close(#{lsock := L, dir := Dir}) ->
    _ = socket:close(L),
    remove_dir(Dir).

%% The directory holds only what we put there (the socket, the stderr FIFO).
remove_dir(Dir) ->
    case file:list_dir(Dir) of
        {ok, Names} -> [_ = file:delete(filename:join(Dir, N)) || N <- Names];
        {error, _} -> ok
    end,
    _ = file:del_dir(Dir),
    ok.

%% @doc Remove channel directories of BEAMs that no longer run (one killed
%% while a context was starting). Only ours: owned by this user, named as we
%% name them, their OS pid gone.
-spec remove_stale() -> non_neg_integer().
remove_stale() ->
    Uid = own_uid(),
    Stale = [D || D <- filelib:wildcard(filename:join(tmp_dir(), ?PREFIX ++ "*-*")),
                  stale(D, Uid)],
    [remove_dir(D) || D <- Stale],
    length(Stale).

stale(Dir, Uid) ->
    case string:split(filename:basename(Dir), "-", all) of
        ["reactor", Pid, Rand] when length(Rand) =:= 16 ->
            case {string:to_integer(Pid), file:read_link_info(Dir)} of
                {{N, []}, {ok, #file_info{type = directory, uid = Uid}}} ->
                    Pid =/= os:getpid()
                        andalso not filelib:is_dir("/proc/" ++ integer_to_list(N));
                _ -> false
            end;
        _ -> false
    end.

own_uid() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    {match, [Uid]} = re:run(Status, "\\nUid:\\s+(\\d+)", [{capture, all_but_first, binary}]),
    binary_to_integer(Uid).
