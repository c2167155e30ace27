/* reactor_shared.h: the one home of every fact C, Erlang and TypeScript share.
 *
 * The NIF (native/nif/) and the addon (native/addon/) include it; the others
 * keep a copy each, which the golden tests hold to this file:
 *
 *   erlang/src/reactor_limits.hrl    MAX_ID, MAX_FDS_PER_MSG, MAX_TERM_SIZE, MAX_TERM_DEPTH, MAX_READ_SIZE
 *   erlang/src/reactor_config.erl    the DEFAULT_* below (default/1)
 *   erlang/src/reactor_groups.erl    MAX_GROUP_BYTES, MAX_GROUPS_PER_CONNECTION
 *   ts/limits.ts                     MAX_ID, DEFAULTS, MAX_TERM_SIZE, MAX_TERM_DEPTH, MAX_READ_SIZE, the groups' bounds
 *   ts/batch.ts                      the batch layout and the action codes
 *
 * (Node has no copy of MAX_FDS_PER_MSG: only the addon uses it.)
 *
 * test/erlang/reactor_wire_golden_tests.erl and test/ts/golden.test.ts parse
 * this file, so every fact is one line `#define REACTOR_NAME VALUE`, VALUE a
 * decimal or 0x integer (a trailing u allowed), and no name here goes
 * unchecked on either side. Change a value here, then its copies.
 */
#ifndef REACTOR_SHARED_H
#define REACTOR_SHARED_H

/* Connection ids are 1..MAX_ID: erlpack's integers are 32-bit signed, and the
 * top bit of a ready entry says "armed for writing". 0 is no connection (the
 * batch socket's own id on the channel, a free slot in the NIF's tables). */
#define REACTOR_MAX_ID 0x7fffffffu

/* fds per SCM_RIGHTS message on the fd channel: Erlang sends at most this
 * many, the addon receives at most this many (ids in the payload, int32 each). */
#define REACTOR_MAX_FDS_PER_MSG 64

/* The batch socket: a SOCK_SEQPACKET pair between a context and its Node, one
 * batch per packet, fixed-size entries in host byte order (both ends run on
 * this host), no ETF.
 *
 * Ready batch (Erlang -> Node): one u32 per ready connection, its id, with
 * READY_WRITE_BIT set when it was armed for writing; at most READY_MAX
 * entries (the poller's epoll_wait size). */
#define REACTOR_READY_ENTRY_BYTES 4
#define REACTOR_READY_WRITE_BIT 0x80000000u
#define REACTOR_READY_MAX 1024

/* Action batch (Node -> Erlang): (u32 id, u32 code) per answer, at most
 * ACTIONS_MAX entries; the NIF refuses a larger or ragged packet. */
#define REACTOR_ACTION_ENTRY_BYTES 8
#define REACTOR_ACTIONS_MAX 1024

/* The codes: what to arm next, or close. Node maps a handler's "continue" to
 * the code of the event it answers, so there is no code for it. ACK is added
 * to the code of a handoff's first answer (connectionMade's). */
#define REACTOR_ACTION_READ_PENDING 2
#define REACTOR_ACTION_WRITE_PENDING 3
#define REACTOR_ACTION_CLOSE 4
/* A lingering close handed to the poller: Node has sent the FIN and closed
 * its copy of the fd; the poller reads and drops what the peer still sends
 * until the peer's end, an error or the context's linger_max_bytes, then
 * Erlang closes its copy (or at linger_timeout). */
#define REACTOR_ACTION_LINGER 5
#define REACTOR_ACTION_ACK 0x10
/* Added to READ_PENDING when Node's last read of the fd took all the kernel
 * held (a short read, or EAGAIN) and Erlang has sent no READ since: bytes
 * that came after it were seen by the poller as an edge, so the poller need
 * not poll the fd again (no epoll_ctl); without it, it polls the fd afresh. */
#define REACTOR_ACTION_DRAINED 0x20

/* The largest read_size (bytes) a context takes: Erlang refuses more at
 * start, Node an init frame with more. C has no use for it. */
#define REACTOR_MAX_READ_SIZE 16777216

/* The defaults of the context options that reach Node in its init frame:
 * Erlang fills in what the user left out, Node uses them where a test or
 * tool builds a Reactor without Erlang. C has no use for them. */
#define REACTOR_DEFAULT_READ_SIZE 1048576
#define REACTOR_DEFAULT_WRITE_HIGH_WATER 1048576
#define REACTOR_DEFAULT_CALLBACK_TIMEOUT 0
#define REACTOR_DEFAULT_IDLE_TIMEOUT 0
#define REACTOR_DEFAULT_HANDSHAKE_TIMEOUT 10000
#define REACTOR_DEFAULT_CLOSE_TIMEOUT 30000
#define REACTOR_DEFAULT_LINGER_TIMEOUT 1000
#define REACTOR_DEFAULT_LINGER_MAX_BYTES 67108864
/* The bridge (beam.call): calls in flight per context, ms each may take */
#define REACTOR_DEFAULT_MAX_BEAM_CALLS 1024
#define REACTOR_DEFAULT_BEAM_CALL_TIMEOUT 5000
/* Messages a connection holds while its protocol does not take them */
#define REACTOR_DEFAULT_MAX_QUEUED_MESSAGES 1000

/* Groups of connections (Protocol.join, reactor_groups): the longest name in
 * bytes, and the most groups one connection is in. C has no use for them. */
#define REACTOR_MAX_GROUP_BYTES 255
#define REACTOR_MAX_GROUPS_PER_CONNECTION 1024

/* The bridge's terms (docs/bridge.md): the largest encoded term, in bytes,
 * and the deepest nesting (each list, tuple or map a level), checked on both
 * sides when encoding and decoding. C has no use for them. */
#define REACTOR_MAX_TERM_SIZE 67108864
#define REACTOR_MAX_TERM_DEPTH 1000

#endif
