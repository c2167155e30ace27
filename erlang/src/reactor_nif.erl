%% @doc NIF stubs: the BEAM's side of every connection's fd (native/nif/).
%%
%% An fd given to {@link open/2} is owned by the calling process: polled with
%% enif_select, one-shot (`select/2' arms one `{reactor_io, Id, read | write}'
%% message), or armed in a poller (`poller/3', `arm/2', `cycle/1'), and closed
%% exactly once by `close/2' or when the owner dies. Every resource has one
%% role, fixed when it is made: a connection's fd or Node's stderr FIFO
%% (open/2), a listener (open/2 of a listening socket), a batch socket
%% (batch_pair/0) or a poller (poller/3); native/nif/reactor_nif.h documents
%% which fields and calls each role uses.
-module(reactor_nif).

-export([fd_info/1, open/2, controlling_process/2, select/2, close/2, fd/1, dup/1, close_fd/1, accept/1,
         open_fifo/1, read/2, batch_pair/0, poller/3, linger_expired/1, lingering/1, unanswered/1, arm/2, cycle/1, pump/4, send_batch/2]).

-on_load(load/0).

-nifs([fd_info/1, open/2, controlling_process/2, select/2, close/2, fd/1, dup/1, close_fd/1, accept/1,
         open_fifo/1, read/2, batch_pair/0, poller/3, linger_expired/1, lingering/1, unanswered/1, arm/2, cycle/1, pump/4, send_batch/2]).

-type res() :: reference().
-export_type([res/0]).

load() ->
    erlang:load_nif(filename:join(reactor_priv:dir(), "reactor_nif"), 0).

-spec fd_info(integer()) ->
    {ok, socket | fifo | chr | reg | dir | other, Domain :: integer(), Type :: integer()}
    | {error, term()}.
fd_info(_Fd) -> erlang:nif_error(not_loaded).

-spec open(integer(), integer()) -> {ok, res()} | {error, term()}.
open(_Fd, _Id) -> erlang:nif_error(not_loaded).

%% @doc The calling process becomes the controlling process of `Res' (its
%% owner: its select messages come here, and it closes with this process),
%% and `Id' the id they carry. As gen_tcp:controlling_process/2, except that
%% the new owner calls it: a context takes a handed-off fd, a drain takes a
%% replaced Node's. Returns `{error, closed}' for a resource closed already.
-spec controlling_process(res(), integer()) -> ok | {error, closed}.
controlling_process(_Res, _Id) -> erlang:nif_error(not_loaded).

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

%% @doc One non-blocking accept4 on a listener (open/2 of a listening
%% socket): the connection, as open/2 would make it (owned by the caller,
%% non-blocking, close-on-exec), and its peer's sockaddr. badarg for a
%% resource of another role.
-spec accept(res()) -> {ok, res(), binary()} | {error, term()}.
accept(_Res) -> erlang:nif_error(not_loaded).

%% @doc Make a FIFO at `Path' (0600) and open its read end, non-blocking.
-spec open_fifo(file:name_all()) -> {ok, integer()} | {error, term()}.
open_fifo(_Path) -> erlang:nif_error(not_loaded).

%% @doc One non-blocking read of up to `Max' bytes (at most 64 KiB) from a
%% connection's fd or Node's stderr FIFO (open/2 of a non-listening fd);
%% badarg for a listener, a batch socket or a poller.
-spec read(res(), 1..65536) -> {ok, binary()} | eof | {error, term()}.
read(_Res, _Max) -> erlang:nif_error(not_loaded).

%% @doc The batch socket between a context and its Node (a SOCK_SEQPACKET
%% pair): the BEAM's end as a resource, Node's end as an fd to send it.
-spec batch_pair() -> {ok, res(), integer()} | {error, term()}.
batch_pair() -> erlang:nif_error(not_loaded).

%% @doc A new epoll set for a context's connections, owned by the caller,
%% with the batch socket in it; `select(Poller, read)' sends
%% `{reactor_io, 0, read}' when a connection is ready or Node has answered.
%% A connection armed to linger (arm/2) lingers `LingerTimeoutMs' at most
%% (linger_expired/1) and drops at most `LingerMaxBytes' of what its peer
%% still sends (0: no bound but the time).
-spec poller(res(), non_neg_integer(), non_neg_integer()) -> {ok, res()} | {error, term()}.
poller(_Batch, _LingerTimeoutMs, _LingerMaxBytes) -> erlang:nif_error(not_loaded).

%% @doc The lingering connections past their deadline, whose linger is over
%% (the caller closes them), and the ms until the next deadline, or `none'
%% when no other lingers. A scan of the poller's members.
-spec linger_expired(res()) -> {[pos_integer()], non_neg_integer() | none}.
linger_expired(_Poller) -> erlang:nif_error(not_loaded).

%% @doc How many connections the poller holds alone: handed to it to linger
%% (Node's copy closed) and not closed yet.
-spec lingering(res()) -> non_neg_integer().
lingering(_Poller) -> erlang:nif_error(not_loaded).

%% @doc How many connections the poller sent to Node as ready that Node has
%% not answered yet: what Node is working on. While there are two or more,
%% pump/4 waits for Node's next answer rather than for the members' edges.
-spec unanswered(res()) -> non_neg_integer().
unanswered(_Poller) -> erlang:nif_error(not_loaded).

%% @doc Arm each fd in the poller, in one call: for reading, for writing, or
%% `linger' (Node has closed its copy after its FIN: the poller reads and
%% drops until the peer's end, then cycle/1 returns `{Id, close}'). Returns
%% the ids that could not be armed, with why. badarg unless `Poller' is a
%% poller and each fd a connection's (open/2 of a non-listening fd).
-spec arm(res(), [{res(), read | write | linger}]) -> [{integer(), term()}].
arm(_Poller, _Arms) -> erlang:nif_error(not_loaded).

-type action() :: read_pending | write_pending | close | linger.
-type cycle_result() :: {pos_integer(), action() | {ack, action()} | lingering
                                        | {invalid, non_neg_integer()} | {poll_failed, term()}}.

%% @doc One turn of the hot path, never waiting: Node's action batches (how
%% many) applied in the poller (what only Erlang can handle comes back, in order),
%% then the connections ready now sent to Node as one batch; `Unsent' is
%% that batch if Node's end was full (send it with send_batch/2).
-spec cycle(res()) -> {Events :: non_neg_integer(), Batches :: non_neg_integer(), [cycle_result()],
                       Unsent :: binary()}
                      | {error, closed | {bad_batch, {size | id, integer()}}}.
cycle(_Poller) -> erlang:nif_error(not_loaded).

%% @doc Turns of cycle/1 in a row on a dirty I/O scheduler, waiting on the
%% poller in between, until Erlang has something to do (results, unsent),
%% `BudgetUs' has passed (busy) or nothing was ready for `IdleUs' (idle);
%% `Sent' counts the ready batches sent. Both times are at most a second.
%% `AwaitPolicy' is the thread's scheduling policy while it waits for Node's
%% answer alone: `batch' is SCHED_BATCH (sched(7)), whose wake-up does not
%% preempt the thread running on its core; the thread is back to SCHED_OTHER
%% after each wait, and one that runs under another policy keeps it.
%% `normal' leaves it SCHED_OTHER.
-spec pump(res(), non_neg_integer(), non_neg_integer(), batch | normal) ->
          {Events :: non_neg_integer(), Sent :: non_neg_integer(), Batches :: non_neg_integer(),
           [cycle_result()], Unsent :: binary(), idle | busy}
          | {error, closed | {bad_batch, {size | id, integer()}}}.
pump(_Poller, _IdleUs, _BudgetUs, _AwaitPolicy) -> erlang:nif_error(not_loaded).

%% @doc Send a ready batch cycle/1 could not.
-spec send_batch(res(), binary()) -> ok | {error, term()}.
send_batch(_Batch, _Bin) -> erlang:nif_error(not_loaded).
