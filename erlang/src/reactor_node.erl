%% @doc The life of a context's Node process: spawn it with its stderr on a
%% FIFO, wait until it has connected the fd channel and loaded the protocol,
%% log what it writes to stderr and keep the tail for the exit reason, notice
%% its death whichever way shows first (its exit status, the port closing on a
%% write that hit EPIPE, the fd channel hanging up), and stop it.
%%
%% Node's stderr goes to a FIFO rather than the BEAM's own stderr so that its
%% last words (a module that failed to load, a fatal V8 error) end up in the
%% reason a context stops with and in the logger, where operators look.
%%
%% Node's frames are reactor_from_node's to apply (handle/2 and stop/3 hand
%% them on as bytes), but for the start: until `ready' there is nothing
%% served to apply them to, and `ready', `load_error' (and `log', given to the
%% caller's log fun) are what decide whether start/2 succeeds, so this module
%% reads them itself (reactor_wire:decode/1).
-module(reactor_node).

-export([start/2, send/2, send_now/2, flush/1, handle/2, stop/3, os_pid/1, channel/1, batch/1, owns/2, hand_over/2, take_over/1]).

-export_type([node_proc/0, log_fun/0]).

-ifdef(TEST).
-export([stand_in/3]).
-endif.

%% The stderr FIFO's select messages carry minus Node's OS pid (connections are
%% positive): one context process may poll two Nodes' stderr while a
%% replaced one hands over.
-define(TAIL_BYTES, 4096).
-define(READ_CHUNK, 65536).
-define(MAX_LINE, 4096).
%% How long a hang-up of the channel waits for the exit status it implies.
-define(EXIT_STATUS_GRACE, 200).

-record(node, {
    id :: term(),
    port :: port() | undefined,
    os_pid :: integer(),
    channel :: reactor_channel:channel() | undefined,
    %% the BEAM's end of the batch socket (ready and action batches; the port
    %% carries everything else)
    batch :: reactor_nif:res() | undefined,
    watch :: socket:socket() | undefined,
    stderr :: reactor_nif:res() | undefined,
    stderr_id = 0 :: integer(),
    partial = <<>> :: binary(),  % a stderr line not ended yet
    tail = <<>> :: binary()      % the last bytes of stderr, whole lines
}).

-opaque node_proc() :: #node{}.
-type log_fun() :: fun((logger:level(), integer() | undefined, unicode:chardata()) -> any()).

%% @doc Spawn Node with `Args', send it `Init(ChannelPath)', and return once it is connected
%% and ready. If it exits or fails first, returns at once with why:
%% `{node_exit, Status, StderrTail}', `{Kind, Details}' from a load error,
%% `start_timeout', or what the OS refused on the way (`{channel, R}',
%% `{stderr_fifo, R}', `{node_spawn, R}', `{batch_socket, R}': R is `emfile' at
%% the fd limit); nothing it made is left behind.
-spec start(term(), #{node := file:filename(), args := [string()],
                      init := fun((ChannelPath :: binary()) -> iodata()),
                      timeout := timeout(), log := log_fun()}) ->
    {ok, node_proc()} | {error, term()}.
start(Id, #{node := Exe, args := Args, init := Init, timeout := Timeout, log := Log}) ->
    case reactor_channel:open() of
        {ok, L} ->
            Fifo = filename:join(reactor_channel:dir(L), "stderr"),
            case open_stderr(Fifo) of
                {ok, Res} ->
                    case spawn_node(Exe, Args, Fifo) of
                        {ok, Port} ->
                            {os_pid, OsPid} = erlang:port_info(Port, os_pid),
                            ok = reactor_nif:controlling_process(Res, -OsPid),
                            ok = reactor_nif:select(Res, read),
                            N = #node{id = Id, port = Port, os_pid = OsPid, stderr = Res, stderr_id = -OsPid},
                            true = port_command(Port, Init(reactor_channel:path(L))),
                            starting(N, L, {accepting, undefined}, false, deadline(Timeout), Log);
                        {error, Reason} ->
                            reactor_nif:close(Res, false),
                            reactor_channel:close(L),
                            {error, {node_spawn, Reason}}
                    end;
                {error, Reason} ->
                    reactor_channel:close(L),
                    {error, {stderr_fifo, Reason}}
            end;
        {error, Reason} ->
            {error, {channel, Reason}}
    end.

%% open_port/2 raises what the OS said (emfile at the fd limit): returned.
spawn_node(Exe, Args, Fifo) ->
    try
        {ok, open_port({spawn_executable, "/bin/sh"},
                       [{args, ["-c", "exec \"$@\" 2>\"$REACTOR_STDERR\"", "reactor-node", Exe | Args]},
                        {env, [{"REACTOR_STDERR", Fifo}]},
                        {packet, 4}, binary, exit_status, use_stdio, hide])}
    catch
        error:Reason -> {error, Reason}
    end.

open_stderr(Fifo) ->
    case reactor_nif:open_fifo(Fifo) of
        {ok, Fd} ->
            reactor_nif:open(Fd, 0); % its id (and its poll) once Node's pid is known
        {error, _} = E ->
            E
    end.

%% Both must happen: the channel accepted (Node connected) and `ready' read.
starting(N, _L, {connected, Ch}, true, _Deadline, _Log) ->
    {ok, arm_watch(N#node{channel = Ch})};
starting(N = #node{os_pid = OsPid}, L, {accepting, _}, Ready, Deadline, Log) ->
    case reactor_channel:accept(L, OsPid) of
        {ok, Ch} ->
            case give_batch(Ch) of
                {ok, B} -> starting(N#node{batch = B}, L, {connected, Ch}, Ready, Deadline, Log);
                {error, Reason} -> start_failed(N, L, {connected, Ch}, {batch_socket, Reason})
            end;
        {select, LSock} -> wait_start(N, L, {accepting, LSock}, Ready, Deadline, Log);
        {error, Reason} -> start_failed(N, L, {accepting, undefined}, {channel, Reason})
    end;
starting(N, L, Chan, Ready, Deadline, Log) ->
    wait_start(N, L, Chan, Ready, Deadline, Log).

wait_start(N = #node{port = Port}, L, Chan, Ready, Deadline, Log) ->
    LSock = case Chan of {accepting, S} -> S; _ -> none end,
    receive
        {'$socket', LSock, select, _} ->
            starting(N, L, {accepting, undefined}, Ready, Deadline, Log);
        {Port, {data, Bin}} ->
            case reactor_wire:decode(Bin) of
                {ok, ready} ->
                    starting(N, L, Chan, true, Deadline, Log);
                {ok, {log, Level, ConnId, Text}} ->
                    Log(Level, ConnId, Text),
                    starting(N, L, Chan, Ready, Deadline, Log);
                {ok, {load_error, Kind, Details}} ->
                    start_failed(N, L, Chan, {Kind, Details});
                {ok, Other} ->
                    start_failed(N, L, Chan, {unexpected_message, Other});
                {error, Reason} ->
                    start_failed(N, L, Chan, {bad_frame, Reason})
            end;
        {Port, {exit_status, Status}} ->
            exited(N#node{port = undefined}, L, Chan, Status);
        {'EXIT', Port, Why} ->
            exited(N#node{port = undefined}, L, Chan, Why);
        {reactor_io, StderrId, read} when StderrId =:= N#node.stderr_id ->
            wait_start(read_stderr(N), L, Chan, Ready, Deadline, Log)
    after remaining(Deadline) ->
        start_failed(N, L, Chan, start_timeout)
    end.

%% The batch socket's Node end goes first on the channel, as id 0 (connection
%% ids start at 1); Node waits for it before it says ready.
give_batch(Ch) ->
    case reactor_nif:batch_pair() of
        {ok, B, NodeFd} ->
            Sent = reactor_channel:send_fds(Ch, [0], [NodeFd]),
            ok = reactor_nif:close_fd(NodeFd),
            case Sent of
                ok -> {ok, B};
                {error, _} = E -> reactor_nif:close(B, false), E
            end;
        {error, _} = E ->
            E
    end.

exited(N, L, Chan, Status) ->
    N1 = drain_stderr(N),
    start_failed(N1, L, Chan, {node_exit, Status, N1#node.tail}).

start_failed(N, L, Chan, Reason) ->
    N#node.batch =:= undefined orelse reactor_nif:close(N#node.batch, false),
    case Chan of
        {connected, Ch} -> reactor_channel:close(Ch);
        _ -> ok
    end,
    reactor_channel:close(L),
    _ = kill(N),
    {error, Reason}.

arm_watch(N = #node{channel = Ch}) ->
    case reactor_channel:watch(Ch) of
        {watching, S} -> N#node{watch = S};
        closed -> N#node{watch = undefined}
    end.

-ifdef(TEST).
%% A Node process for unit tests of what works on a served state
%% (reactor_handoff_tests): control frames go to `Port', fds on channel `Ch',
%% and `Batch' is the BEAM's end of a batch socket; no stderr, no watch.
%% The port's OS process stands for Node's: kill/1 would kill it.
-spec stand_in(port(), reactor_channel:channel(), reactor_nif:res()) -> node_proc().
stand_in(Port, Ch, Batch) ->
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    #node{id = stand_in, port = Port, os_pid = OsPid, channel = Ch, batch = Batch}.
-endif.

-spec os_pid(node_proc()) -> integer().
os_pid(#node{os_pid = P}) -> P.

-spec channel(node_proc()) -> reactor_channel:channel() | undefined.
channel(#node{channel = Ch}) -> Ch.

-spec batch(node_proc()) -> reactor_nif:res().
batch(#node{batch = B}) -> B.

%% @doc A frame to Node, queued with what the holder sends until it next
%% reads its mailbox empty (reactor_port_out: one write for them all).
-spec send(node_proc(), iodata()) -> ok.
send(#node{port = undefined}, _) -> ok;
send(#node{port = Port}, Frame) -> reactor_port_out:send(Port, Frame).

%% @doc A frame to Node now, after what send/2 queued (reactor_port_out:send_now/2).
-spec send_now(node_proc(), iodata()) -> ok.
send_now(#node{port = undefined}, _) -> ok;
send_now(#node{port = Port}, Frame) -> reactor_port_out:send_now(Port, Frame).

%% @doc What send/2 queued goes now.
-spec flush(node_proc()) -> ok.
flush(#node{port = undefined}) -> ok;
flush(#node{port = Port}) -> reactor_port_out:flush(Port).

%% @doc What a message to the context means for its Node process: a frame
%% from Node, Node's death (with why and its last stderr lines), stderr that
%% was logged, or nothing to do with Node.
-spec handle(term(), node_proc()) ->
    {data, binary()} | {exit, term(), node_proc()} | {ok, node_proc()} | ignore.
handle({Port, {data, Bin}}, #node{port = Port}) ->
    {data, Bin};
handle({reactor_io, Id, read}, N = #node{stderr_id = Id}) ->
    {ok, read_stderr(N)};
handle({Port, {exit_status, Status}}, N = #node{port = Port}) ->
    died(closed(N), Status);
handle({'EXIT', Port, Why}, N = #node{port = Port}) ->
    %% A write hit EPIPE before the exit status was read: no status follows.
    died(closed(N), Why);
handle({'$socket', S, Kind, _}, N = #node{watch = S}) when Kind =:= select; Kind =:= abort ->
    case arm_watch(N) of
        N1 = #node{watch = undefined} -> hung_up(N1);
        N1 -> {ok, N1}
    end;
handle(Msg, N = #node{port = Port}) ->
    case reactor_port_out:flush_message(Msg, Port) of
        false -> ignore;
        _ -> {ok, N} % this port's queue written, or a stale one's (a Node gone or handed over)
    end.

%% @doc Whether a message is about this Node process (its port, its stderr,
%% its channel): what a context forwards to the process it handed Node to.
-spec owns(term(), node_proc()) -> boolean().
owns({Port, _}, #node{port = Port}) when is_port(Port) -> true;
owns({'EXIT', Port, _}, #node{port = Port}) when is_port(Port) -> true;
owns({reactor_io, Id, _}, #node{stderr_id = Id}) -> true;
owns({'$socket', S, _, _}, #node{watch = S}) when S =/= undefined -> true;
owns(_, _) -> false.

%% @doc Give this Node process to `Pid' (which then calls take_over/1): its
%% port and channel are Pid's from here on. Returns the messages about it
%% already in the caller's mailbox, oldest first, for Pid to handle first;
%% what arrives later the caller forwards (owns/2).
-spec hand_over(node_proc(), pid()) -> [term()].
hand_over(N = #node{port = Port, channel = Ch}, Pid) ->
    ok = flush(N),
    Ch =:= undefined orelse reactor_channel:give(Ch, Pid),
    case Port of
        undefined ->
            ok;
        _ ->
            try
                true = erlang:port_connect(Port, Pid),
                unlink(Port),
                %% a synchronous round trip to the port: every message it sent
                %% us before the switch is in our mailbox now
                _ = erlang:port_info(Port, connected)
            catch
                error:badarg -> ok % closed meanwhile: its EXIT/status is collected below
            end
    end,
    collect(N, []).

collect(N = #node{port = Port, stderr_id = Sid, watch = W}, Acc) ->
    receive
        {P, _} = M when P =:= Port, Port =/= undefined -> collect(N, [M | Acc]);
        {'EXIT', P, _} = M when P =:= Port, Port =/= undefined -> collect(N, [M | Acc]);
        {reactor_io, Sid, _} = M -> collect(N, [M | Acc]);
        {'$socket', S, _, _} = M when S =:= W, W =/= undefined -> collect(N, [M | Acc])
    after 0 ->
        lists:reverse(Acc)
    end.

%% @doc The other half of hand_over/2, in the process Node was given to.
-spec take_over(node_proc()) -> node_proc().
take_over(N = #node{port = Port, stderr = Res, stderr_id = Sid, batch = B}) ->
    Port =:= undefined orelse link(Port), % an EPIPE close comes as an 'EXIT'
    B =:= undefined orelse reactor_nif:controlling_process(B, 0),
    Res =:= undefined orelse reactor_nif:controlling_process(Res, Sid),
    %% its poll may have fired at the old owner: read what is there, re-arm here
    read_stderr(N).

%% Node closed the channel: it is dying. Its exit status usually follows at once.
hung_up(N = #node{port = Port}) ->
    receive
        {Port, {exit_status, Status}} -> died(closed(N), Status)
    after ?EXIT_STATUS_GRACE ->
        died(N, channel_closed)
    end.

%% The port is closed: what send/2 queued for it goes nowhere.
closed(N = #node{port = Port}) ->
    ok = reactor_port_out:forget(Port),
    N#node{port = undefined}.

died(N, How) ->
    N1 = drain_stderr(N),
    {exit, {node_exit, How, N1#node.tail}, N1}.

%% @doc Ask Node to stop and wait for it to exit; kill it if it does not in
%% time. What it says meanwhile (logs, connections ending), each frame as it
%% came, goes to `Said' (reactor_from_node:stopping/2).
-spec stop(node_proc(), timeout(), fun((binary()) -> any())) -> ok.
stop(N = #node{port = undefined}, _Timeout, _Said) ->
    release(N);
stop(N = #node{port = Port}, Timeout, Said) ->
    ok = send_now(N, reactor_wire:stop()),
    N1 = wait_exit(N, Port, deadline(Timeout), Said),
    release(N1).

wait_exit(N, Port, Deadline, Said) ->
    receive
        {Port, {exit_status, 0}} ->
            N#node{port = undefined};
        {Port, {exit_status, Status}} ->
            N1 = drain_stderr(N#node{port = undefined}),
            logger:warning("reactor context ~0p: Node exited with status ~p while stopping~ts",
                           [N#node.id, Status, tail_text(N1#node.tail)]),
            N1;
        {'EXIT', Port, _} ->
            N#node{port = undefined};
        {Port, {data, Bin}} ->
            Said(Bin),
            wait_exit(N, Port, Deadline, Said)
    after remaining(Deadline) ->
        logger:warning("reactor context ~0p: Node did not stop in time; killing it", [N#node.id]),
        kill(N)
    end.

%% Kill only while the port is open and no exit status was read: then the OS
%% pid is still Node's (a child stays unreaped until its status is collected).
kill(N = #node{port = undefined}) ->
    N;
kill(N = #node{port = Port, os_pid = OsPid}) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(OsPid) ++ " 2>/dev/null"),
    catch port_close(Port),
    receive {Port, {exit_status, _}} -> ok after 1000 -> ok end,
    receive {'EXIT', Port, _} -> ok after 0 -> ok end,
    N#node{port = undefined}.

release(#node{channel = Ch, stderr = Res, batch = B}) ->
    Ch =:= undefined orelse reactor_channel:close(Ch),
    B =:= undefined orelse reactor_nif:close(B, false),
    Res =:= undefined orelse reactor_nif:close(Res, false),
    ok.

%%% stderr

%% What is there now, logged line by line; re-armed unless Node's end closed.
read_stderr(N = #node{stderr = undefined}) ->
    N;
read_stderr(N = #node{stderr = Res}) ->
    case reactor_nif:read(Res, ?READ_CHUNK) of
        {ok, Bin} ->
            read_stderr(lines(N, Bin));
        {error, eagain} ->
            _ = reactor_nif:select(Res, read),
            N;
        _ -> % eof: every writer is gone
            ok = reactor_nif:close(Res, false),
            flush_partial(N#node{stderr = undefined})
    end.

%% After Node's death: everything it wrote is already in the pipe.
drain_stderr(N = #node{stderr = undefined}) ->
    N;
drain_stderr(N = #node{stderr = Res}) ->
    case reactor_nif:read(Res, ?READ_CHUNK) of
        {ok, Bin} -> drain_stderr(lines(N, Bin));
        _ -> flush_partial(N)
    end.

lines(N = #node{partial = P}, Bin) ->
    case binary:split(<<P/binary, Bin/binary>>, <<"\n">>, [global]) of
        [Last] when byte_size(Last) > ?MAX_LINE ->
            line(N#node{partial = <<>>}, Last);
        Parts ->
            {Whole, [Last]} = lists:split(length(Parts) - 1, Parts),
            lists:foldl(fun(L, Acc) -> line(Acc, L) end, N#node{partial = Last}, Whole)
    end.

flush_partial(N = #node{partial = <<>>}) -> N;
flush_partial(N = #node{partial = P}) -> line(N#node{partial = <<>>}, P).

line(N, <<>>) ->
    N;
line(N = #node{tail = T}, Line0) ->
    Line = binary:part(Line0, 0, min(byte_size(Line0), ?MAX_LINE)),
    logger:warning("reactor context ~0p: node stderr: ~ts", [N#node.id, Line],
                   #{reactor_context => N#node.id}),
    N#node{tail = keep_tail(<<T/binary, Line/binary, "\n">>)}.

%% The last ?TAIL_BYTES, cut at a line start.
keep_tail(T) when byte_size(T) =< ?TAIL_BYTES -> T;
keep_tail(T) ->
    Cut = binary:part(T, byte_size(T) - ?TAIL_BYTES, ?TAIL_BYTES),
    case binary:split(Cut, <<"\n">>) of
        [_, Rest] when Rest =/= <<>> -> Rest;
        _ -> Cut
    end.

tail_text(<<>>) -> "";
tail_text(T) -> [": ", T].

deadline(infinity) -> infinity;
deadline(T) -> erlang:monotonic_time(millisecond) + T.

remaining(infinity) -> infinity;
remaining(D) -> max(0, D - erlang:monotonic_time(millisecond)).
