%% @doc Client programs a suite runs as OS processes (a Node script,
%% mosquitto_sub, ...): each a port owned by the calling process, its stdout
%% and stderr read line by line (stdio line-buffered with coreutils' stdbuf:
%% C programs buffer a pipe whole), its OS pid at hand for `kill -9'. A
%% program still running when the caller exits (a case that failed) is killed.
-module(reactor_test_os).

-export([start/2, os_pid/1, expect/3, finish/2, kill/1, close/1, run/3, executable/1]).

-export_type([proc/0]).

%% A running program: its port, and the lines it printed that nobody has
%% taken yet (expect/3 takes up to the one that matched).
-opaque proc() :: #{port := port(), lines := [binary()], reaper := pid()}.

%% @doc Starts Program (a name on the PATH, or a path) with Args; stdin is
%% the port's (closed by close/1: a program that waits for its end sees it).
-spec start(string(), [string() | binary()]) -> proc().
start(Program, Args) ->
    Port = open_port({spawn_executable, executable("stdbuf")},
                     [{args, ["-oL", "-eL", executable(Program) | Args]}, {line, 1 bsl 16}, binary,
                      exit_status, use_stdio, stderr_to_stdout, hide]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    #{port => Port, lines => [], reaper => reaper(self(), OsPid)}.

%% Kills OsPid if Owner exits before the program is done (done/1).
reaper(Owner, OsPid) ->
    spawn(fun() ->
                  Ref = monitor(process, Owner),
                  receive
                      done -> ok;
                      {'DOWN', Ref, process, _, _} -> os:cmd("kill -9 " ++ integer_to_list(OsPid))
                  end
          end).

done(#{reaper := R}) -> R ! done.

%% @doc The OS pid of a running program.
-spec os_pid(proc()) -> non_neg_integer().
os_pid(#{port := Port}) ->
    {os_pid, Pid} = erlang:port_info(Port, os_pid),
    Pid.

%% @doc Waits up to Timeout ms for a line matching Regex: `{Captures, Proc}'
%% (the first capture group, or the whole line without one). Lines before it
%% are kept in Proc's history for finish/2. Fails with `{no_line, Regex,
%% Lines}' on timeout or if the program exits first.
-spec expect(proc(), iodata(), timeout()) -> {binary(), proc()}.
expect(P, Regex, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    expect_(P, Regex, Deadline).

expect_(P = #{port := Port, lines := Lines}, Regex, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Port, {data, {eol, L}}} ->
            P1 = P#{lines := [L | Lines]},
            case re:run(L, Regex, [{capture, all, binary}]) of
                {match, [Whole]} -> {Whole, P1};
                {match, [_, First | _]} -> {First, P1};
                nomatch -> expect_(P1, Regex, Deadline)
            end;
        {Port, {data, {noeol, L}}} ->
            expect_(P#{lines := [L | Lines]}, Regex, Deadline);
        {Port, {exit_status, S}} ->
            error({no_line, iolist_to_binary(Regex), {exited, S}, lists:reverse(Lines)})
    after Left ->
        error({no_line, iolist_to_binary(Regex), timeout, lists:reverse(Lines)})
    end.

%% @doc Waits up to Timeout ms for the program to exit: `{ExitStatus, Lines}'
%% with every line it printed (128 + N for a signal N). Fails with
%% `{still_running, Lines}' after Timeout (the program is killed).
-spec finish(proc(), timeout()) -> {integer(), [binary()]}.
finish(P = #{port := Port, lines := Lines}, Timeout) ->
    receive
        {Port, {data, {eol, L}}} -> finish(P#{lines := [L | Lines]}, Timeout);
        {Port, {data, {noeol, L}}} -> finish(P#{lines := [L | Lines]}, Timeout);
        {Port, {exit_status, S}} -> done(P), {S, lists:reverse(Lines)}
    after Timeout ->
        kill(P),
        error({still_running, lists:reverse(Lines)})
    end.

%% @doc `kill -9' of the program: `{ExitStatus, Lines}' once its port has
%% seen it exit.
-spec kill(proc()) -> {integer(), [binary()]}.
kill(P) ->
    _ = os:cmd("kill -9 " ++ integer_to_list(os_pid(P))),
    finish(P, 10000).

%% @doc Closes the program's stdin (the port), then waits up to 10 s for it
%% to exit: `{closed, Lines}' (a closed port no longer reports the status).
-spec close(proc()) -> {closed, [binary()]}.
close(P = #{port := Port, lines := Lines}) ->
    OsPid = os_pid(P),
    port_close(Port),
    Rest = drain(Port, []),
    %% the port no longer says when it exits: wait for the process to go
    ok = reactor_test_lib:wait_until(fun() -> not reactor_test_lib:os_alive(OsPid) end, 10000),
    done(P),
    {closed, lists:reverse(Lines) ++ Rest}.

drain(Port, Acc) ->
    receive
        {Port, {data, {_, L}}} -> drain(Port, [L | Acc]);
        {Port, {exit_status, _}} -> lists:reverse(Acc)
    after 0 -> lists:reverse(Acc)
    end.

%% @doc Runs Program with Args to its end (Timeout ms at most): `{ExitStatus, Lines}'.
-spec run(string(), [string() | binary()], timeout()) -> {integer(), [binary()]}.
run(Program, Args, Timeout) ->
    finish(start(Program, Args), Timeout).

%% @doc The absolute path of a program on the PATH (or Program itself when
%% it is a path); fails with `{not_found, Program}'.
-spec executable(string()) -> string().
executable(Program) ->
    case os:find_executable(Program) of
        false -> error({not_found, Program});
        Path -> Path
    end.
