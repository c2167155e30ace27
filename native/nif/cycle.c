/* The hot path's loop: one turn reads Node's action batches from the batch
 * socket and applies them (each a one-shot epoll_ctl), then sends the
 * connections ready now to Node as one ready batch. No ETF, no port, no term
 * per event: Erlang gets back only what it must handle. cycle/1 is one turn;
 * pump/3 is turns in a row on a dirty I/O scheduler. Everything here runs
 * under the poller's lock only. */
#include "reactor_nif.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

/* Entries one turn applies before it yields (the socket stays readable and
 * the poller fires again): a bound on one NIF call's work. */
#define CYCLE_MAX_ACTIONS 1024

#define ACTION_WORDS (REACTOR_ACTION_ENTRY_BYTES / 4)
_Static_assert(REACTOR_ACTION_ENTRY_BYTES == 2 * sizeof(uint32_t), "an action entry is (u32 id, u32 code)");
_Static_assert(REACTOR_READY_ENTRY_BYTES == sizeof(uint32_t), "a ready entry is one u32");

static ERL_NIF_TERM action_term(unsigned code) {
    switch (code) {
    case REACTOR_ACTION_READ_PENDING: return am_read_pending;
    case REACTOR_ACTION_WRITE_PENDING: return am_write_pending;
    case REACTOR_ACTION_CLOSE: return am_close;
    default: return 0;
    }
}

/* What Erlang must do about entry (id, code), or 0 when it was applied here. */
static ERL_NIF_TERM apply_action(ErlNifEnv *env, rfd *p, unsigned id, unsigned code) {
    ERL_NIF_TERM id_t = enif_make_uint(env, id), what = action_term(code & ~REACTOR_ACTION_ACK);
    if (!what || (code & ~(REACTOR_ACTION_ACK | 7u)))
        return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_invalid, enif_make_uint(env, code)));
    if (code & REACTOR_ACTION_ACK) return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_ack, what));
    member *m = members_find(p->members, id);
    /* a close, or a connection this set does not hold (closed here while Node
     * answered, or acked in this very batch): Erlang decides */
    if (!m || code == REACTOR_ACTION_CLOSE) return enif_make_tuple2(env, id_t, what);
    int write = code == REACTOR_ACTION_WRITE_PENDING;
    struct epoll_event ev = {.events = (write ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT,
                             .data.u64 = (uint64_t)id | (write ? POLL_WRITE_BIT : 0)};
    if (epoll_ctl(p->fd, EPOLL_CTL_MOD, m->fd, &ev) < 0)
        return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_poll_failed, errno_term(env, errno)));
    return 0;
}

/* Reads Node's batches (level-triggered: what is left fires again) and
 * applies them. Returns 0, or the reason the batch socket is unusable: Node
 * sent a malformed batch (bad_batch), or its end is gone (closed, then the
 * socket has left the set and Node's exit is reported by its port). */
static ERL_NIF_TERM read_batches(ErlNifEnv *env, rfd *p, ERL_NIF_TERM *out, unsigned *nout, unsigned *nbatches) {
    struct mmsghdr msgs[RECV_BATCHES];
    struct iovec iov[RECV_BATCHES];
    const size_t max_bytes = REACTOR_ACTIONS_MAX * REACTOR_ACTION_ENTRY_BYTES;
    unsigned applied = 0;
    while (applied < CYCLE_MAX_ACTIONS) {
        memset(msgs, 0, sizeof msgs);
        for (int k = 0; k < RECV_BATCHES; k++) {
            iov[k].iov_base = p->rbuf + (size_t)k * ACTION_WORDS * REACTOR_ACTIONS_MAX;
            iov[k].iov_len = max_bytes;
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
        }
        /* several batches per syscall, and no EAGAIN call after the last */
        int got = recvmmsg(p->batch_fd, msgs, RECV_BATCHES, MSG_DONTWAIT | MSG_TRUNC, NULL);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (got <= 0) {
            epoll_ctl(p->fd, EPOLL_CTL_DEL, p->batch_fd, NULL);
            return am_closed;
        }
        for (int k = 0; k < got; k++) {
            size_t n = msgs[k].msg_len; /* the real size: MSG_TRUNC */
            (*nbatches)++;
            if (n == 0) { /* Node's end closed */
                epoll_ctl(p->fd, EPOLL_CTL_DEL, p->batch_fd, NULL);
                return am_closed;
            }
            if (n > max_bytes || n % REACTOR_ACTION_ENTRY_BYTES)
                return enif_make_tuple2(env, am_bad_batch, enif_make_tuple2(env, am_size, enif_make_int64(env, (ErlNifSInt64)n)));
            const uint32_t *e = (const uint32_t *)iov[k].iov_base;
            for (size_t i = 0; i < n / 4; i += ACTION_WORDS) {
                unsigned id = e[i], code = e[i + 1];
                if (id == 0 || id > REACTOR_MAX_ID)
                    return enif_make_tuple2(env, am_bad_batch, enif_make_tuple2(env, am_id, enif_make_uint(env, id)));
                ERL_NIF_TERM t = apply_action(env, p, id, code);
                if (t) out[(*nout)++] = t;
            }
            applied += (unsigned)(n / REACTOR_ACTION_ENTRY_BYTES);
        }
        if (got < RECV_BATCHES) return 0;
    }
    return 0;
}

/* What turns have done so far in one NIF call. */
typedef struct {
    ERL_NIF_TERM out[CYCLE_MAX_ACTIONS + REACTOR_ACTIONS_MAX]; /* Results, in order */
    unsigned nout;
    unsigned ready;   /* connections sent to Node as ready */
    unsigned sent;    /* ready batches sent */
    unsigned batches; /* Node's action batches read */
    ErlNifBinary unsent;
} tally;

/* One turn, under the poller's lock: Node's batches applied, then the
 * connections ready now sent as one batch. Returns 0, or why the poller
 * cannot go on (closed, or Node sent a malformed batch). */
static ERL_NIF_TERM turn(ErlNifEnv *env, rfd *p, tally *t) {
    struct epoll_event evs[POLL_MAX];
    uint32_t ready[POLL_MAX];
    unsigned nr = 0;
    enif_mutex_lock(p->lock);
    if (rfd_gone(p) || p->fd < 0) {
        enif_mutex_unlock(p->lock);
        return am_closed;
    }
    /* Node's answers first: an fd re-armed here that already has data (the
     * client answered while Node's batch was on its way) is ready in the
     * epoll_wait below, in this same turn, rather than in a wake-up of its own. */
    ERL_NIF_TERM why = p->batch_fd >= 0 ? read_batches(env, p, t->out, &t->nout, &t->batches) : 0;
    if (why == am_closed) p->batch_fd = -1;
    if (why && why != am_closed) {
        enif_mutex_unlock(p->lock);
        return why;
    }
    int n = epoll_wait(p->fd, evs, POLL_MAX, 0);
    for (int i = 0; i < n; i++) {
        uint64_t d = evs[i].data.u64;
        if (d != POLL_BATCH) /* the batch socket: read above, or fires again */
            ready[nr++] = (uint32_t)(d & REACTOR_MAX_ID) | ((d & POLL_WRITE_BIT) ? REACTOR_READY_WRITE_BIT : 0);
    }
    if (nr && p->batch_fd >= 0) {
        size_t bytes = nr * REACTOR_READY_ENTRY_BYTES;
        ssize_t s;
        do {
            s = send(p->batch_fd, ready, bytes, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (s < 0 && errno == EINTR);
        if (s >= 0) t->sent++;
        else if ((errno == EAGAIN || errno == EWOULDBLOCK) && enif_alloc_binary(bytes, &t->unsent))
            memcpy(t->unsent.data, ready, bytes);
        /* any other error: Node is gone, and its port says so */
    }
    enif_mutex_unlock(p->lock);
    t->ready += nr;
    return 0;
}

static ERL_NIF_TERM unsent_term(ErlNifEnv *env, tally *t) {
    ERL_NIF_TERM rest;
    if (t->unsent.data) return enif_make_binary(env, &t->unsent);
    enif_make_new_binary(env, 0, &rest);
    return rest;
}

static ERL_NIF_TERM turn_error(ErlNifEnv *env, ERL_NIF_TERM why, tally *t) {
    if (t->unsent.data) enif_release_binary(&t->unsent);
    return enif_make_tuple2(env, am_error, why);
}

/* cycle(Poller) -> {Events, Batches, Results, Unsent} | {error, closed | {bad_batch, _}}
 * One turn of the hot path, never waiting: Node's Batches applied (Results:
 * the entries only Erlang can handle, in order: {Id, close}, {Id, {ack, A}},
 * {Id, A} for an id not in the set, {Id, {invalid, Code}},
 * {Id, {poll_failed, Reason}}), then the Events connections ready now sent to
 * Node as one batch. Unsent is that batch when Node's end is full (<<>>
 * otherwise): the caller sends it with send_batch/2 once the socket is
 * writable. The caller selects the poller again. */
NIF(nif_cycle) {
    rfd *p;
    tally t = {.nout = 0};
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&p) || p->role != ROLE_POLLER)
        return enif_make_badarg(env);
    ERL_NIF_TERM why = turn(env, p, &t);
    if (why) return turn_error(env, why, &t);
    if (t.nout + t.ready > 64) enif_consume_timeslice(env, (int)((t.nout + t.ready) / 32 > 100 ? 100 : (t.nout + t.ready) / 32));
    return enif_make_tuple4(env, enif_make_uint(env, t.ready), enif_make_uint(env, t.batches),
                            enif_make_list_from_array(env, t.out, t.nout), unsent_term(env, &t));
}

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static ERL_NIF_TERM pumped(ErlNifEnv *env, tally *t, ERL_NIF_TERM why) {
    ERL_NIF_TERM e[6] = {enif_make_uint(env, t->ready), enif_make_uint(env, t->sent),
                         enif_make_uint(env, t->batches), enif_make_list_from_array(env, t->out, t->nout),
                         unsent_term(env, t), why};
    return enif_make_tuple_from_array(env, e, 6);
}

/* pump(Poller, IdleUs, BudgetUs) ->
 *     {Events, Sent, Batches, Results, Unsent, idle | busy} | {error, _}
 * Turns in a row on a dirty I/O scheduler, waiting on the poller itself in
 * between: while traffic flows, neither the BEAM's poll thread nor the
 * caller's scheduler wakes per event. Returns once Erlang has something to
 * do (Results, Unsent) or BudgetUs has passed (busy: call again after the
 * mailbox), or after IdleUs with nothing ready (idle: select the poller).
 * Sent counts the ready batches sent (Events connections in all). */
NIF(nif_pump) {
    rfd *p;
    unsigned idle_us, budget_us;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&p) || p->role != ROLE_POLLER ||
        !enif_get_uint(env, argv[1], &idle_us) || !enif_get_uint(env, argv[2], &budget_us) ||
        idle_us > 1000000 || budget_us > 1000000)
        return enif_make_badarg(env);
    tally *t = enif_alloc(sizeof *t); /* 16 KiB of terms: not on a dirty stack */
    if (!t) return error_errno(env, ENOMEM);
    memset(t, 0, sizeof *t);
    const int64_t end = now_us() + budget_us;
    const struct timespec idle = {.tv_sec = idle_us / 1000000, .tv_nsec = (long)(idle_us % 1000000) * 1000};
    ERL_NIF_TERM r;
    for (;;) {
        ERL_NIF_TERM why = turn(env, p, t);
        if (why) {
            r = turn_error(env, why, t);
            break;
        }
        if (t->nout || t->unsent.data || now_us() >= end) {
            r = pumped(env, t, am_busy);
            break;
        }
        /* Only the caller turns this poller, and it is here: the fd stays
         * open while we wait. The epoll fd is readable when one of its
         * members is ready or Node has answered. */
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (ppoll(&pfd, 1, &idle, NULL) == 0) {
            r = pumped(env, t, am_idle);
            break;
        }
    }
    enif_free(t);
    return r;
}
