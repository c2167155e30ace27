%% @doc The fd channel: a Unix SOCK_SEQPACKET socket in a private 0700 directory
%% over which a context passes fds (SCM_RIGHTS) to its Node process.
%%
%% It accepts exactly one peer, and only one whose SO_PEERCRED pid is the port's
%% OS pid; then the listening socket is closed and its path unlinked, so nobody
%% else can ever receive an fd from it.
-module(reactor_channel).

-export([open/0, accept/3, send_fds/3, close/1]).

-export_type([listening/0, channel/0]).

-opaque listening() :: #{dir := file:filename(), path := binary(), lsock := socket:socket()}.
-opaque channel() :: #{dir := file:filename(), sock := socket:socket()}.

%% SO_PEERCRED is option 17 at SOL_SOCKET on Linux: pid, uid, gid, native 32-bit.
-define(SO_PEERCRED, 17).

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

listen(Path) ->
    {ok, S} = socket:open(local, seqpacket, default),
    case socket:bind(S, #{family => local, path => Path}) of
        ok ->
            ok = socket:listen(S, 4),
            {ok, S};
        {error, _} = E ->
            socket:close(S),
            E
    end.

%% A fresh directory nobody else can enter; make_dir fails if the name exists,
%% so a directory planted in advance is never reused.
private_dir(0) ->
    {error, cannot_create_channel_dir};
private_dir(N) ->
    Base = case os:getenv("TMPDIR") of
               false -> "/tmp";
               "" -> "/tmp";
               T -> T
           end,
    Rand = binary:encode_hex(rand:bytes(8)),
    Dir = filename:join(Base, "reactor-" ++ os:getpid() ++ "-" ++ binary_to_list(Rand)),
    case file:make_dir(Dir) of
        ok ->
            ok = file:change_mode(Dir, 8#700),
            {ok, Dir};
        {error, eexist} ->
            private_dir(N - 1);
        {error, _} = E ->
            E
    end.

%% @doc Wait for the Node process with OS pid `OsPid' to connect. Foreign peers
%% are refused (closed at once) and waited past. Returns when ours arrived, or
%% when `Port' exits or `Timeout' ms pass. Port messages that arrive meanwhile are
%% left in the mailbox.
-spec accept(listening(), non_neg_integer(), timeout()) ->
    {ok, channel()} | {error, term()}.
accept(#{lsock := L, dir := Dir, path := Path}, OsPid, Timeout) ->
    Deadline = deadline(Timeout),
    case accept_loop(L, OsPid, Deadline) of
        {ok, S} ->
            socket:close(L),
            _ = file:delete(Path),
            {ok, #{dir => Dir, sock => S}};
        {error, _} = E ->
            E
    end.

accept_loop(L, OsPid, Deadline) ->
    case socket:accept(L, nowait) of
        {ok, S} ->
            case peer_pid(S) of
                OsPid ->
                    {ok, S};
                Other ->
                    logger:warning("reactor: refused fd channel peer with pid ~p "
                                   "(expected the port's pid ~p)", [Other, OsPid]),
                    socket:close(S),
                    accept_loop(L, OsPid, Deadline)
            end;
        {select, {select_info, _, Ref}} ->
            receive
                {'$socket', L, select, Ref} -> accept_loop(L, OsPid, Deadline)
            after remaining(Deadline) ->
                _ = socket:cancel(L, {select_info, accept, Ref}),
                {error, channel_timeout}
            end;
        {error, _} = E ->
            E
    end.

peer_pid(S) ->
    case socket:getopt_native(S, {socket, ?SO_PEERCRED}, 12) of
        {ok, <<Pid:32/native-signed, _Uid:32/native, _Gid:32/native>>} -> Pid;
        Other -> Other
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

-spec close(listening() | channel()) -> ok.
close(Ch) ->
    case Ch of
        #{sock := S} -> socket:close(S);
        #{lsock := L} -> socket:close(L)
    end,
    case Ch of
        #{path := P} -> _ = file:delete(P);
        _ -> _ = file:delete(filename:join(maps:get(dir, Ch), "fd.sock"))
    end,
    remove_dir(maps:get(dir, Ch)),
    ok.

remove_dir(Dir) -> _ = file:del_dir(Dir), ok.

deadline(infinity) -> infinity;
deadline(T) -> erlang:monotonic_time(millisecond) + T.

remaining(infinity) -> infinity;
remaining(D) -> max(0, D - erlang:monotonic_time(millisecond)).
