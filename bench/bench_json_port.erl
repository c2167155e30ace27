%% make bench's peers for reactor_context:call/4: elixir-nodejs's design
%% (NodeJS.Worker), without Elixir. One Erlang port runs
%% `node bench/json_port.mjs'; a request is one JSON line on its stdin,
%% [Id, Function, Args], and the answer one line on its stdout,
%% PREFIX [Id, true, Result] (or [Id, false, Message]); PREFIX is
%% elixir-nodejs's marker that tells answers from what the script prints.
%% The caller encodes its request and decodes its answer, as a reactor_context
%% caller does; this process adds the id and reads the id back.
%%
%% Two modes. `sync' is elixir-nodejs's own: its worker's handle_call writes
%% the request, then waits for the answer before it takes the next call, one
%% call in flight per Node process (its pool, poolboy, 4 workers by default,
%% has as many Node processes; one worker here, as one context has one Node;
%% its Task and poolboy checkout per call are left out, in its favour).
%% `multiplexed' goes further than elixir-nodejs: every caller's request in
%% flight at once on the one port, told apart by id.
-module(bench_json_port).

-export([start_link/2, call/3, os_pid/1]).
-export([encode/1, decode/1]).

-define(PREFIX, "__elixirnodejs__UOSBsDUP6bp9IF5__").
-define(MAX_LINE, 65536).

start_link(Script, Mode) when Mode =:= sync; Mode =:= multiplexed ->
    Self = self(),
    Pid = spawn_link(fun() -> put(mode, Mode), init(Self, Script) end),
    receive {Pid, started} -> {ok, Pid} end.

%% @doc Calls `Function' (a binary) of the script with `Args' (a list):
%% `{ok, Result}' or `{error, Message}'.
call(P, Function, Args) ->
    Ref = erlang:monitor(process, P),
    P ! {call, self(), Ref, [encode(Function), $,, encode(Args)]},
    receive
        {Ref, Answer} ->
            erlang:demonitor(Ref, [flush]),
            case decode(<<"[", Answer/binary>>) of
                [true, Result] -> {ok, Result};
                [false, Message] -> {error, Message}
            end;
        {'DOWN', Ref, process, _, Why} ->
            {error, Why}
    end.

os_pid(P) ->
    P ! {os_pid, self()},
    receive {P, OsPid} -> OsPid end.

init(Parent, Script) ->
    Port = open_port({spawn_executable, os:find_executable("node")},
                     [{args, [Script]}, {line, ?MAX_LINE}, binary, use_stdio, exit_status]),
    Parent ! {self(), started},
    loop(Port, 0, #{}, <<>>).

loop(Port, Next, Waiting, Partial) ->
    receive
        {call, From, Ref, Request} ->
            port_command(Port, ["[", integer_to_binary(Next), ",", Request, "]\n"]),
            Waiting1 = Waiting#{Next => {From, Ref}},
            case get(mode) of
                multiplexed -> loop(Port, (Next + 1) band 16#7fffffff, Waiting1, Partial);
                sync -> answered(Port, (Next + 1) band 16#7fffffff, Waiting1, Partial)
            end;
        {Port, {data, {noeol, Part}}} ->
            loop(Port, Next, Waiting, <<Partial/binary, Part/binary>>);
        {Port, {data, {eol, Part}}} ->
            loop(Port, Next, line(<<Partial/binary, Part/binary>>, Waiting), <<>>);
        {os_pid, From} ->
            {os_pid, OsPid} = erlang:port_info(Port, os_pid),
            From ! {self(), OsPid},
            loop(Port, Next, Waiting, Partial);
        {Port, {exit_status, S}} ->
            exit({node_exited, S})
    end.

%% sync: only the port's answer is taken until the call in flight has it.
answered(Port, Next, Waiting, Partial) ->
    receive
        {Port, {data, {noeol, Part}}} ->
            answered(Port, Next, Waiting, <<Partial/binary, Part/binary>>);
        {Port, {data, {eol, Part}}} ->
            case line(<<Partial/binary, Part/binary>>, Waiting) of
                Left when map_size(Left) =:= 0 -> loop(Port, Next, Left, <<>>);
                Left -> answered(Port, Next, Left, <<>>) % a line the script printed
            end;
        {Port, {exit_status, S}} ->
            exit({node_exited, S})
    end.

%% An answer line goes to its caller; a line the script printed is dropped.
line(<<?PREFIX, "[", Rest/binary>>, Waiting) ->
    [Id, Answer] = binary:split(Rest, <<",">>),
    {{From, Ref}, Left} = maps:take(binary_to_integer(Id), Waiting),
    From ! {Ref, Answer},
    Left;
line(_Printed, Waiting) ->
    Waiting.

%% JSON, what the scenario's term needs: integers, floats, binaries as
%% strings, lists, maps with binary keys, true, false and null.
encode(true) -> <<"true">>;
encode(false) -> <<"false">>;
encode(null) -> <<"null">>;
encode(I) when is_integer(I) -> integer_to_binary(I);
encode(F) when is_float(F) -> float_to_binary(F, [short]);
encode(B) when is_binary(B) -> [$", escape(B), $"];
encode(L) when is_list(L) -> [$[, lists:join($,, [encode(X) || X <- L]), $]];
encode(M) when is_map(M) ->
    [${, lists:join($,, [[encode(K), $:, encode(V)] || {K, V} <- maps:to_list(M)]), $}].

escape(B) -> [esc(C) || <<C>> <= B].
esc($") -> <<"\\\"">>;
esc($\\) -> <<"\\\\">>;
esc(C) when C < 16#20 -> io_lib:format("\\u~4.16.0b", [C]);
esc(C) -> C.

decode(B) ->
    {V, Rest} = value(ws(B)),
    <<>> = ws(Rest),
    V.

value(<<"true", R/binary>>) -> {true, R};
value(<<"false", R/binary>>) -> {false, R};
value(<<"null", R/binary>>) -> {null, R};
value(<<$", R/binary>>) -> string(R, []);
value(<<$[, R/binary>>) -> items(ws(R), $], fun value/1, []);
value(<<${, R/binary>>) -> items(ws(R), $}, fun pair/1, []);
value(B) -> number(B).

pair(B) ->
    {K, R1} = value(B),
    <<$:, R2/binary>> = ws(R1),
    {V, R3} = value(ws(R2)),
    {{K, V}, R3}.

items(<<Close, R/binary>>, Close, _, []) -> {close(Close, []), R};
items(B, Close, Item, Acc) ->
    {X, R1} = Item(ws(B)),
    case ws(R1) of
        <<$,, R2/binary>> -> items(R2, Close, Item, [X | Acc]);
        <<Close, R2/binary>> -> {close(Close, lists:reverse([X | Acc])), R2}
    end.

close($], L) -> L;
close($}, Pairs) -> maps:from_list(Pairs).

string(<<$", R/binary>>, Acc) -> {iolist_to_binary(lists:reverse(Acc)), R};
string(<<$\\, $u, Hex:4/binary, R/binary>>, Acc) ->
    string(R, [unicode:characters_to_binary([binary_to_integer(Hex, 16)]) | Acc]);
string(<<$\\, C, R/binary>>, Acc) ->
    string(R, [unescape(C) | Acc]);
string(<<C, R/binary>>, Acc) -> string(R, [C | Acc]).

unescape($n) -> $\n;
unescape($t) -> $\t;
unescape($r) -> $\r;
unescape($b) -> $\b;
unescape($f) -> $\f;
unescape(C) -> C. % " \ /

number(B) ->
    N = numlen(B, 0),
    <<Text:N/binary, R/binary>> = B,
    {try binary_to_integer(Text) catch error:badarg -> binary_to_float(Text) end, R}.

numlen(B, N) ->
    case B of
        <<_:N/binary, C, _/binary>> when C >= $0, C =< $9; C =:= $-; C =:= $+; C =:= $.; C =:= $e; C =:= $E ->
            numlen(B, N + 1);
        _ -> N
    end.

ws(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> ws(R);
ws(B) -> B.
