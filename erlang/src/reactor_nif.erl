%% @doc NIF stubs: the BEAM's side of every connection's fd (native/reactor_nif.c).
%%
%% An fd given to {@link open/2} is owned by the calling process: polled with
%% enif_select, one-shot (`select/2' arms one `{reactor_io, Id, read | write}'
%% message), or armed in a poller (`poller/0', `arm/2', `poll/2'), and closed
%% exactly once by `close/2' or when the owner dies.
-module(reactor_nif).

-export([fd_info/1, peercred/1, open/2, take/2, select/2, close/2, fd/1, dup/1, close_fd/1, accept/1,
         open_fifo/1, read/2, poller/0, arm/2, poll/2]).

-on_load(load/0).

-nifs([fd_info/1, peercred/1, open/2, take/2, select/2, close/2, fd/1, dup/1, close_fd/1, accept/1,
         open_fifo/1, read/2, poller/0, arm/2, poll/2]).

-type res() :: reference().
-export_type([res/0]).

load() ->
    erlang:load_nif(filename:join(reactor_priv:dir(), "reactor_nif"), 0).

-spec fd_info(integer()) ->
    {ok, socket | fifo | chr | reg | dir | other, Domain :: integer(), Type :: integer()}
    | {error, term()}.
fd_info(_Fd) -> erlang:nif_error(not_loaded).

-spec peercred(integer()) -> {ok, {integer(), non_neg_integer(), non_neg_integer()}} | {error, term()}.
peercred(_Fd) -> erlang:nif_error(not_loaded).

-spec open(integer(), integer()) -> {ok, res()} | {error, term()}.
open(_Fd, _Id) -> erlang:nif_error(not_loaded).

%% @doc The calling process becomes the owner, and `Id' the connection id.
-spec take(res(), integer()) -> ok | {error, closed}.
take(_Res, _Id) -> erlang:nif_error(not_loaded).

-spec select(res(), read | write) -> ok | {error, term()}.
select(_Res, _Mode) -> erlang:nif_error(not_loaded).

-spec close(res(), Shutdown :: boolean()) -> ok.
close(_Res, _Shutdown) -> erlang:nif_error(not_loaded).

-spec fd(res()) -> integer() | closed.
fd(_Res) -> erlang:nif_error(not_loaded).

-spec dup(integer()) -> {ok, integer()} | {error, term()}.
dup(_Fd) -> erlang:nif_error(not_loaded).

-spec close_fd(integer()) -> ok | {error, term()}.
close_fd(_Fd) -> erlang:nif_error(not_loaded).

-spec accept(res()) -> {ok, integer(), binary()} | {error, term()}.
accept(_Res) -> erlang:nif_error(not_loaded).

%% @doc Make a FIFO at `Path' (0600) and open its read end, non-blocking.
-spec open_fifo(file:name_all()) -> {ok, integer()} | {error, term()}.
open_fifo(_Path) -> erlang:nif_error(not_loaded).

%% @doc One non-blocking read of up to `Max' bytes (at most 64 KiB).
-spec read(res(), 1..65536) -> {ok, binary()} | eof | {error, term()}.
read(_Res, _Max) -> erlang:nif_error(not_loaded).

%% @doc A new epoll set for a context's connections, owned by the caller;
%% `select(Poller, read)' sends `{reactor_io, 0, read}' when one is ready.
-spec poller() -> {ok, res()} | {error, term()}.
poller() -> erlang:nif_error(not_loaded).

%% @doc Arm each fd one-shot in the poller, in one call. Returns the ids that
%% could not be armed, with why.
-spec arm(res(), [{res(), read | write}]) -> [{integer(), term()}].
arm(_Poller, _Arms) -> erlang:nif_error(not_loaded).

%% @doc The ids ready now in the poller (at most `Max', up to 1024), by the
%% event they were armed for. Never waits.
-spec poll(res(), 1..1024) -> {[non_neg_integer()], [non_neg_integer()]} | {error, term()}.
poll(_Poller, _Max) -> erlang:nif_error(not_loaded).
