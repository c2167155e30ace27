%% @doc Terms on the bridge between Erlang and a context's Node process.
%%
%% Both ways a term travels as its External Term Format encoding (version
%% 131), with the bounds of `reactor_limits.hrl': at most `max_size()' bytes
%% and, from Erlang, at most `max_depth()' levels of lists, tuples and maps.
%% Node decodes and encodes with ts/term.ts; docs/bridge.md has the table of
%% what each term is in TypeScript and back.
%%
%% Node never makes an atom: what it sends is read with
%% `binary_to_term(B, [safe])'. When that fails, `decode/1' looks through the
%% encoding for the atom this node does not know, so that the sender hears
%% which one (`{unknown_atom, Name}'), not just `badarg'.
-module(reactor_term).

-export([encode/1, encode/2, decode/1, max_size/0, max_depth/0]).

-export_type([encode_error/0, decode_error/0]).

-include("reactor_limits.hrl").

-type encode_error() ::
    {too_large, Size :: pos_integer()}
    | {too_deep, MaxDepth :: pos_integer()}
    | {unsupported, fun()}.
%% Why `encode/1' refuses a term: its encoding would be `Size' bytes, more
%% than `max_size()'; it nests deeper than `max_depth()'; or it holds a fun,
%% which does not cross the bridge (send `{Module, Function, Args}').

-type decode_error() ::
    {unknown_atom, Name :: binary()}
    | {too_large, Size :: pos_integer()}
    | badarg.
%% Why `decode/1' refuses a binary: it holds an atom this node does not have
%% (its name in UTF-8); it is `Size' bytes, more than `max_size()' (for a
%% compressed term, the size inside); or it is not one well-formed term.

%% @doc The most bytes of a term's encoding, version byte included (64 MiB;
%% Node: `MAX_TERM_SIZE' in ts/limits.ts).
-spec max_size() -> pos_integer().
max_size() -> ?MAX_TERM_SIZE.

%% @doc The deepest a term may nest: each list, tuple or map is a level, any
%% other term is at level 0 (Node: `MAX_TERM_DEPTH' in ts/limits.ts, which
%% refuses deeper terms both ways).
-spec max_depth() -> pos_integer().
max_depth() -> ?MAX_TERM_DEPTH.

%% @doc The encoding of `Term' for Node: `term_to_binary/1', once the term
%% is known to fit the bounds Node decodes within. The size is
%% `erlang:external_size/1', checked before anything is encoded.
-spec encode(term()) -> {ok, binary()} | {error, encode_error()}.
encode(Term) -> encode(Term, 0).

%% @doc encode/1 of a message whose first `Levels' levels (a frame's tuple,
%% a call's argument list) are the message's own: the values inside nest up
%% to max_depth/0 levels below them.
-spec encode(term(), non_neg_integer()) -> {ok, binary()} | {error, encode_error()}.
encode(Term, Levels) ->
    case erlang:external_size(Term) of
        Size when Size > ?MAX_TERM_SIZE ->
            {error, {too_large, Size}};
        _ ->
            try
                walk(Term, -Levels),
                {ok, term_to_binary(Term)}
            catch
                throw:{?MODULE, Error} -> {error, Error}
            end
    end.

%% Depth as ts/term-decode.ts counts it: the elements of a container at
%% depth D are at D + 1, an improper list's tail with them.
walk(T, D) when is_list(T) -> enter(D), walk_list(T, D + 1);
walk(T, D) when is_tuple(T) -> enter(D), walk_tuple(T, tuple_size(T), D + 1);
walk(T, D) when is_map(T) -> enter(D), walk_map(maps:next(maps:iterator(T)), D + 1);
walk(T, _) when is_function(T) -> throw({?MODULE, {unsupported, T}});
walk(_, _) -> ok.

enter(D) when D >= ?MAX_TERM_DEPTH -> throw({?MODULE, {too_deep, ?MAX_TERM_DEPTH}});
enter(_) -> ok.

walk_list([H | T], D) -> walk(H, D), walk_list(T, D);
walk_list([], _) -> ok;
walk_list(Tail, D) -> walk(Tail, D).

walk_tuple(_, 0, _) -> ok;
walk_tuple(T, I, D) -> walk(element(I, T), D), walk_tuple(T, I - 1, D).

walk_map(none, _) -> ok;
walk_map({K, V, I}, D) -> walk(K, D), walk(V, D), walk_map(maps:next(I), D).

%% @doc The term Node encoded in `Bin', read with `binary_to_term(Bin, [safe])':
%% no atom is ever created. The whole binary must be the one term (no bytes
%% after it). Depth is not checked here: Node's encoder refuses a term
%% deeper than `max_depth()', and `binary_to_term/2' needs no stack for depth.
-spec decode(binary()) -> {ok, term()} | {error, decode_error()}.
decode(Bin) when is_binary(Bin), byte_size(Bin) > ?MAX_TERM_SIZE ->
    {error, {too_large, byte_size(Bin)}};
decode(<<131, 80, Size:32, _/binary>>) when Size >= ?MAX_TERM_SIZE ->
    %% the size of the term inside, without its version byte
    {error, {too_large, Size + 1}};
decode(Bin) when is_binary(Bin) ->
    Size = byte_size(Bin),
    try binary_to_term(Bin, [safe, used]) of
        {Term, Size} -> {ok, Term};
        {_, _} -> {error, badarg}
    catch
        error:badarg ->
            case unknown_atom(Bin) of
                {ok, Name} -> {error, {unknown_atom, Name}};
                none -> {error, badarg}
            end
    end;
decode(_) ->
    {error, badarg}.

%% The first atom in the encoding that this node does not have, in the order
%% of the bytes; `none' when there is none or the bytes are not a term.
unknown_atom(<<131, 80, Size:32, Z/binary>>) ->
    try atoms(inflate(Z, Size), 1) catch _:_ -> none end;
unknown_atom(<<131, Rest/binary>>) ->
    try atoms(Rest, 1) catch _:_ -> none end;
unknown_atom(_) ->
    none.

%% Reads `N' more terms from the front of the binary, without recursion: a
%% container's tag adds its elements to `N'. Pids, ports and references have
%% their node's atom in them; funs their module's.
atoms(_, 0) -> none;
atoms(<<97, _, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<98, _:32, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<70, _:64, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<99, _:31/binary, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<110, Len, _, _:Len/binary, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<111, Len:32, _, _:Len/binary, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<100, Len:16, Name:Len/binary, R/binary>>, N) -> atom(Name, latin1, R, N - 1);
atoms(<<115, Len, Name:Len/binary, R/binary>>, N) -> atom(Name, latin1, R, N - 1);
atoms(<<118, Len:16, Name:Len/binary, R/binary>>, N) -> atom(Name, utf8, R, N - 1);
atoms(<<119, Len, Name:Len/binary, R/binary>>, N) -> atom(Name, utf8, R, N - 1);
atoms(<<106, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<107, Len:16, _:Len/binary, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<108, Len:32, R/binary>>, N) -> atoms(R, N + Len);
atoms(<<104, Arity, R/binary>>, N) -> atoms(R, N - 1 + Arity);
atoms(<<105, Arity:32, R/binary>>, N) -> atoms(R, N - 1 + Arity);
atoms(<<116, Arity:32, R/binary>>, N) -> atoms(R, N - 1 + 2 * Arity);
atoms(<<109, Len:32, _:Len/binary, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<77, Len:32, _, _:Len/binary, R/binary>>, N) -> atoms(R, N - 1);
atoms(<<103, R/binary>>, N) -> node_atom(R, 9, N - 1);
atoms(<<88, R/binary>>, N) -> node_atom(R, 12, N - 1);
atoms(<<102, R/binary>>, N) -> node_atom(R, 5, N - 1);
atoms(<<89, R/binary>>, N) -> node_atom(R, 8, N - 1);
atoms(<<120, R/binary>>, N) -> node_atom(R, 12, N - 1);
atoms(<<101, R/binary>>, N) -> node_atom(R, 5, N - 1);
atoms(<<114, Len:16, R/binary>>, N) -> node_atom(R, 1 + 4 * Len, N - 1);
atoms(<<90, Len:16, R/binary>>, N) -> node_atom(R, 4 + 4 * Len, N - 1);
%% EXPORT_EXT: module, function, arity
atoms(<<113, R/binary>>, N) -> atoms(R, N - 1 + 3);
%% NEW_FUN_EXT: module, old index, old uniq, pid, then the free variables
atoms(<<112, _Size:32, _Arity, _Uniq:16/binary, _Index:32, Free:32, R/binary>>, N) ->
    atoms(R, N - 1 + 4 + Free);
atoms(_, _) -> none.

%% A node's atom at the front, then `Skip' bytes of numbers.
node_atom(Bin, Skip, N) ->
    case atom_at(Bin) of
        {Name, Encoding, <<_:Skip/binary, Rest/binary>>} -> atom(Name, Encoding, Rest, N);
        _ -> none
    end.

atom_at(<<100, Len:16, Name:Len/binary, R/binary>>) -> {Name, latin1, R};
atom_at(<<115, Len, Name:Len/binary, R/binary>>) -> {Name, latin1, R};
atom_at(<<118, Len:16, Name:Len/binary, R/binary>>) -> {Name, utf8, R};
atom_at(<<119, Len, Name:Len/binary, R/binary>>) -> {Name, utf8, R};
atom_at(_) -> none.

%% The atom `Name' if this node does not have it; else the terms after it.
atom(Name, Encoding, R, N) ->
    try binary_to_existing_atom(Name, Encoding) of
        _ -> atoms(R, N)
    catch
        error:badarg ->
            case unicode:characters_to_binary(Name, Encoding) of
                Utf8 when is_binary(Utf8) -> {ok, Utf8};
                _ -> none
            end
    end.

%% Inflates at most `Size' bytes; more is an error.
inflate(Z, Size) ->
    S = zlib:open(),
    try
        ok = zlib:inflateInit(S),
        inflate(S, zlib:safeInflate(S, Z), Size, [])
    after
        zlib:close(S)
    end.

inflate(S, {continue, Out}, Left, Acc) ->
    More = Left - iolist_size(Out),
    true = More >= 0,
    inflate(S, zlib:safeInflate(S, []), More, [Acc | Out]);
inflate(_, {finished, Out}, Left, Acc) ->
    0 = Left - iolist_size(Out),
    iolist_to_binary([Acc | Out]).
