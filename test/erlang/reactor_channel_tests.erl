-module(reactor_channel_tests).
-include_lib("eunit/include/eunit.hrl").
-include_lib("kernel/include/file.hrl").

%% The channel directory is private, and a peer that is not the expected
%% process is refused: it never gets to receive an fd.
foreign_peer_is_refused_test() ->
    {ok, L} = reactor_channel:open(),
    #{dir := Dir, path := Path} = L,
    {ok, #file_info{mode = Mode}} = file:read_file_info(Dir),
    ?assertEqual(8#700, Mode band 8#777),
    {ok, Foreign} = socket:open(local, seqpacket, default),
    ok = socket:connect(Foreign, #{family => local, path => Path}),
    NotUs = list_to_integer(os:getpid()) + 1000000,
    {select, LSock} = reactor_channel:accept(L, NotUs),
    %% nothing more to accept: the foreign peer was taken and refused
    receive {'$socket', LSock, select, _} -> error(unexpected_peer) after 100 -> ok end,
    %% the foreign peer was closed on: it reads the end (0 bytes), and no fd
    ?assertMatch({ok, #{iov := [<<>>], ctrl := []}}, socket:recvmsg(Foreign, 0, 64, [], 1000)),
    socket:close(Foreign),
    ok = reactor_channel:close(L),
    ?assertNot(filelib:is_dir(Dir)).

%% Once our peer is in, the directory is gone with everything in it: a BEAM
%% killed from then on leaves nothing behind.
expected_peer_is_accepted_and_the_directory_is_gone_test() ->
    {ok, L} = reactor_channel:open(),
    #{dir := Dir, path := Path} = L,
    {ok, Peer} = socket:open(local, seqpacket, default),
    ok = socket:connect(Peer, #{family => local, path => Path}),
    Us = list_to_integer(os:getpid()), % the peer is this very OS process
    {ok, Ch} = reactor_channel:accept(L, Us),
    ?assertNot(filelib:is_file(Path)), % nobody else can connect any more
    ?assertNot(filelib:is_dir(Dir)),
    {ok, R, W} = pipe_fds(),
    ok = reactor_channel:send_fds(Ch, [7], [R]),
    {ok, #{iov := [<<7:32/native>>], ctrl := [#{type := rights, data := <<_:32>>}]}} =
        socket:recvmsg(Peer, 0, 64, [], 1000),
    [reactor_nif:close_fd(F) || F <- [R, W]],
    %% the peer hanging up is seen
    {watching, S} = reactor_channel:watch(Ch),
    socket:close(Peer),
    receive {'$socket', S, select, _} -> ok after 1000 -> error(no_hangup) end,
    ?assertEqual(closed, reactor_channel:watch(Ch)),
    ok = reactor_channel:close(Ch).

%% Two fds of this BEAM: the ends of a socket pair made with the socket module.
pipe_fds() ->
    {ok, A} = socket:open(inet, stream, tcp),
    {ok, Fa} = socket:getopt(A, otp, fd),
    {ok, Da} = reactor_nif:dup(Fa),
    {ok, Db} = reactor_nif:dup(Fa),
    socket:close(A),
    {ok, Da, Db}.
