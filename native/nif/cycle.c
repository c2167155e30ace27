/* The hot path's loop: one turn takes what the poller has (connections that
 * became ready, Node's action batches on the batch socket), applies Node's
 * answers, and sends the connections ready now to Node as one ready batch.
 * Members sit in the set edge-triggered with their poll state beside them
 * (members.h): an answer from Node that says its last read drained the fd
 * costs no syscall. No ETF, no port, no term per event: Erlang gets back only
 * what it must handle. cycle/1 is one turn; pump/4 is turns in a row on a
 * dirty I/O scheduler. Everything here runs under the poller's lock only. */
#include "reactor_nif.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <sys/syscall.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Entries one turn applies before it yields (the socket stays readable and
 * the poller fires again): a bound on one NIF call's work. */
#define CYCLE_MAX_ACTIONS 1024

/* How long (us) pump/4 waits for Node's next answer alone (the poller's
 * await_fd) while Node works through what it was sent, before it listens to
 * the members again: a bound for handlers that all went pending. Longer
 * than Node's slice (ANSWER_AFTER_MS), which ends in an answer. Why 600 and
 * 2: docs/performance.md, steps 4 and 9. */
#define AWAIT_MAX_US 600
/* Connections Node holds (sent as ready, not answered) from which pump/4
 * waits for its next answer. */
#define AWAIT_MIN_READY 2

#define ACTION_WORDS (REACTOR_ACTION_ENTRY_BYTES / 4)
#define SEEN_END_EVENTS (EPOLLRDHUP | EPOLLHUP | EPOLLERR)
#define SEEN_OUT_EVENTS (EPOLLOUT | EPOLLHUP | EPOLLERR)
#define READABLE (SEEN_IN | SEEN_END)
_Static_assert(REACTOR_ACTION_ENTRY_BYTES == 2 * sizeof(uint32_t), "an action entry is (u32 id, u32 code)");
_Static_assert(REACTOR_READY_ENTRY_BYTES == sizeof(uint32_t), "a ready entry is one u32");

/* The connections one turn sends to Node, and the lingering ones whose
 * linger is over (Erlang closes them): each of a turn's two epoll_waits
 * takes at most REACTOR_READY_MAX events. */
typedef struct {
    uint32_t ids[REACTOR_READY_MAX];
    unsigned n;
    uint32_t over[2 * REACTOR_READY_MAX];
    unsigned nover;
} ready_list;

/* m's connection goes to Node, for what it was armed for: it is Node's until
 * Node answers. */
static void deliver(rfd *p, ready_list *r, member *m, int write) {
    r->ids[r->n++] = m->id | (write ? REACTOR_READY_WRITE_BIT : 0);
    m->seen &= (unsigned char)~(write ? SEEN_OUT : SEEN_IN);
    m->armed = 0;
    if (!m->held) {
        m->held = 1;
        p->held++;
    }
}

/* A lingering m reads and drops what its peer sent: 1 when the linger is
 * over (the peer's end, an error, or the poller's linger_max dropped), 0
 * while it waits for more. Reads that never drain poll m afresh, so a
 * flood is dropped a turn at a time. */
static int linger_drain(rfd *p, member *m) {
    for (int i = 0; i < LINGER_READS;) {
        ssize_t n = read(m->fd, p->scratch, LINGER_CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            m->seen &= (unsigned char)~SEEN_IN;
            return 0;
        }
        if (n <= 0) return 1;
        m->dropped += (uint64_t)n;
        if (p->linger_max && m->dropped >= p->linger_max) return 1;
        i++;
    }
    if (poller_arm(p, m, EPOLL_CTL_MOD, 0)) return 1;
    m->armed = ARMED_LINGER; /* its deadline stays */
    return 0;
}

/* m's linger is over: Erlang closes it (the poller has nothing more to do). */
static void lingered(ready_list *r, member *m) {
    r->over[r->nover++] = m->id;
    m->armed = 0;
}

/* What epoll_wait said of m: sent to Node when it is what m waits for,
 * kept in m->seen otherwise (m is Node's, or waits for the other kind);
 * dropped when m lingers. */
static void harvest(rfd *p, ready_list *r, member *m, uint32_t events) {
    if (events & EPOLLIN) m->seen |= SEEN_IN;
    if (events & SEEN_END_EVENTS) m->seen |= SEEN_END;
    if (events & SEEN_OUT_EVENTS) m->seen |= SEEN_OUT;
    if (m->armed == ARMED_LINGER) {
        if ((m->seen & READABLE) && linger_drain(p, m)) lingered(r, m);
    } else if (m->armed == ARMED_READ && (m->seen & READABLE)) deliver(p, r, m, 0);
    else if (m->armed == ARMED_WRITE && (m->seen & SEEN_OUT)) deliver(p, r, m, 1);
}

/* Takes what the set has ready, at most the room left in r: members' edges,
 * sent or kept (harvest). Returns whether Node has answered. */
static int poll_set(rfd *p, ready_list *r) {
    struct epoll_event evs[POLL_MAX];
    int n = epoll_wait(p->fd, evs, (int)(REACTOR_READY_MAX - r->n), 0), answered = 0;
    for (int i = 0; i < n; i++) {
        uint64_t d = evs[i].data.u64;
        member *m;
        if (d == POLL_BATCH) answered = 1;
        else if ((m = members_find(p->members, (unsigned)d))) harvest(p, r, m, evs[i].events);
        /* else: it left the set (closed by Erlang) after its edge came */
    }
    return answered;
}

static ERL_NIF_TERM action_term(unsigned code) {
    switch (code) {
    case REACTOR_ACTION_READ_PENDING: return am_read_pending;
    case REACTOR_ACTION_WRITE_PENDING: return am_write_pending;
    case REACTOR_ACTION_CLOSE: return am_close;
    case REACTOR_ACTION_LINGER: return am_linger;
    default: return 0;
    }
}

/* What Erlang must do about entry (id, code), or 0 when it was applied here.
 * *polled counts the fds polled afresh: their events come at the next
 * epoll_wait. */
static ERL_NIF_TERM apply_action(ErlNifEnv *env, rfd *p, ready_list *r, unsigned id, unsigned code, unsigned *polled) {
    const unsigned flags = REACTOR_ACTION_ACK | REACTOR_ACTION_DRAINED;
    ERL_NIF_TERM id_t = enif_make_uint(env, id), what = action_term(code & ~flags);
    if (!what || (code & ~(flags | 7u)))
        return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_invalid, enif_make_uint(env, code)));
    if (code & REACTOR_ACTION_ACK) return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_ack, what));
    member *m = members_find(p->members, id);
    if (m && m->held) {
        m->held = 0;
        p->held--;
    }
    /* a close, or a connection this set does not hold (closed here while Node
     * answered, or acked in this very batch): Erlang decides */
    if (!m || what == am_close) return enif_make_tuple2(env, id_t, what);
    if (what == am_linger) {
        /* Node's copy is closed: from here on the fd is the poller's to drain,
         * and Erlang's to close (`lingering': its linger_timeout starts) */
        if ((code & REACTOR_ACTION_DRAINED) && !m->out) {
            poller_linger(p, m);
            if ((m->seen & READABLE) && linger_drain(p, m)) {
                m->armed = 0;
                return enif_make_tuple2(env, id_t, am_close);
            }
        } else {
            int e = poller_arm(p, m, EPOLL_CTL_MOD, 0);
            poller_linger(p, m);
            if (e) {
                m->armed = 0;
                return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_poll_failed, errno_term(env, e)));
            }
            (*polled)++;
        }
        return enif_make_tuple2(env, id_t, am_lingering);
    }
    if (what == am_read_pending && (code & REACTOR_ACTION_DRAINED) && !m->out && r->n < REACTOR_READY_MAX) {
        /* what came after Node's last read is in m->seen, or comes as an edge */
        m->armed = ARMED_READ;
        if (m->seen & READABLE) deliver(p, r, m, 0);
        return 0;
    }
    /* Node may have left bytes, or waits for room (or reads again after
     * waiting for it): poll the fd afresh, which queues an event at once when
     * it is ready already */
    int e = poller_arm(p, m, EPOLL_CTL_MOD, what == am_write_pending);
    if (e) return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_poll_failed, errno_term(env, e)));
    (*polled)++;
    return 0;
}

/* What turns have done so far in one NIF call. */
typedef struct {
    ERL_NIF_TERM out[CYCLE_MAX_ACTIONS + REACTOR_ACTIONS_MAX + 2 * REACTOR_READY_MAX]; /* Results, in order */
    unsigned nout;
    unsigned ready;   /* connections sent to Node as ready */
    unsigned sent;    /* ready batches sent */
    unsigned batches; /* Node's action batches read */
    unsigned polled;  /* this turn's fds polled afresh */
    ErlNifBinary unsent;
    ready_list r;     /* this turn's ready batch */
} tally;

/* Reads Node's batches (level-triggered: what is left fires again) and
 * applies them. Returns 0, or the reason the batch socket is unusable: Node
 * sent a malformed batch (bad_batch), or its end is gone (closed, then the
 * socket has left the set and Node's exit is reported by its port). */
static ERL_NIF_TERM read_batches(ErlNifEnv *env, rfd *p, tally *t) {
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
            t->batches++;
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
                ERL_NIF_TERM res = apply_action(env, p, &t->r, id, code, &t->polled);
                if (res) t->out[t->nout++] = res;
            }
            applied += (unsigned)(n / REACTOR_ACTION_ENTRY_BYTES);
        }
        if (got < RECV_BATCHES) return 0;
    }
    return 0;
}

/* One turn, under the poller's lock: the set polled (members that became
 * ready, and whether Node has answered), Node's batches applied, then the
 * connections ready now sent as one batch. Returns 0, or why the poller
 * cannot go on (closed, or Node sent a malformed batch). */
static ERL_NIF_TERM turn(ErlNifEnv *env, rfd *p, tally *t) {
    ready_list *r = &t->r;
    r->n = 0;
    r->nover = 0;
    t->polled = 0;
    enif_mutex_lock(p->lock);
    if (rfd_gone(p) || p->fd < 0) {
        enif_mutex_unlock(p->lock);
        return am_closed;
    }
    /* Polled first: an edge of a connection that is Node's is kept in its
     * member, so an answer applied below that finds one sends it at once.
     * The batch socket is read only when it has something (no EAGAIN call). */
    int answered = poll_set(p, r);
    ERL_NIF_TERM why = answered && p->batch_fd >= 0 ? read_batches(env, p, t) : 0;
    if (why == am_closed) p->batch_fd = -1;
    if (why && why != am_closed) {
        enif_mutex_unlock(p->lock);
        return why;
    }
    /* an answer that polled its fd afresh: ready already, it goes in this batch */
    if (t->polled && r->n < REACTOR_READY_MAX) poll_set(p, r);
    /* an answer came (or a batch goes): Node is still working while it holds
     * two or more, and its next answer is what to wait for */
    if (answered || r->n) p->awaiting = p->held >= AWAIT_MIN_READY;
    for (unsigned i = 0; i < r->nover; i++)
        t->out[t->nout++] = enif_make_tuple2(env, enif_make_uint(env, r->over[i]), am_close);
    if (r->n && p->batch_fd >= 0) {
        size_t bytes = r->n * REACTOR_READY_ENTRY_BYTES;
        ssize_t s;
        do {
            s = send(p->batch_fd, r->ids, bytes, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (s < 0 && errno == EINTR);
        if (s >= 0) t->sent++;
        else if ((errno == EAGAIN || errno == EWOULDBLOCK) && enif_alloc_binary(bytes, &t->unsent))
            memcpy(t->unsent.data, r->ids, bytes);
        /* any other error: Node is gone, and its port says so */
    }
    enif_mutex_unlock(p->lock);
    t->ready += r->n;
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
 * the entries only Erlang can handle, in order: {Id, close} (Node's, or a
 * linger that is over), {Id, {ack, A}}, {Id, A} for an id not in the set,
 * {Id, lingering} (a linger taken over here: its timeout is Erlang's),
 * {Id, {invalid, Code}}, {Id, {poll_failed, Reason}}), then the Events connections ready now sent to
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

/* A thread whose switch to SCHED_BATCH was refused (a seccomp filter): it is
 * not asked again. */
static __thread int batch_refused;

/* The await's policy (await_policy batch): a SCHED_BATCH thread's wake-up
 * does not preempt the thread running on its core (check_preempt_wakeup_fair
 * in the kernel's sched/fair.c), so Node's answer is queued for the pump
 * without the IPI that preempting costs Node's thread, and the pump takes it
 * when that core's thread blocks or its slice ends. Unprivileged threads may
 * switch between SCHED_OTHER and SCHED_BATCH at the same nice value
 * (sched(7)). Only a SCHED_OTHER thread is switched, asked each time: a
 * thread put under another policy (chrt) keeps it. Raw syscalls: musl's
 * wrappers are stubs. Why: docs/performance.md, step 11. */
static int await_as_batch(void) {
    const struct sched_param sp = {0};
    if (batch_refused || syscall(SYS_sched_getscheduler, 0) != SCHED_OTHER) return 0;
    if (syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &sp) == 0) return 1;
    batch_refused = 1;
    return 0;
}

static void await_done(void) {
    const struct sched_param sp = {0};
    syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp);
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

/* pump(Poller, IdleUs, BudgetUs, AwaitPolicy) ->
 *     {Events, Sent, Batches, Results, Unsent, idle | busy} | {error, _}
 * Turns in a row on a dirty I/O scheduler, waiting on the poller itself in
 * between: while traffic flows, neither the BEAM's poll thread nor the
 * caller's scheduler wakes per event. Returns once Erlang has something to
 * do (Results, Unsent) or BudgetUs has passed (busy: call again after the
 * mailbox), or after IdleUs with nothing ready (idle: select the poller).
 * Sent counts the ready batches sent (Events connections in all).
 * AwaitPolicy (batch | normal): the thread's scheduling policy while it
 * waits for Node's answer alone (await_as_batch). */
NIF(nif_pump) {
    rfd *p;
    unsigned idle_us, budget_us;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&p) || p->role != ROLE_POLLER ||
        !enif_get_uint(env, argv[1], &idle_us) || !enif_get_uint(env, argv[2], &budget_us) ||
        idle_us > 1000000 || budget_us > 1000000 ||
        !(enif_is_identical(argv[3], am_batch) || enif_is_identical(argv[3], am_normal)))
        return enif_make_badarg(env);
    const int batch = enif_is_identical(argv[3], am_batch);
    tally *t = enif_alloc(sizeof *t); /* 20 KiB: not on a dirty stack */
    if (!t) return error_errno(env, ENOMEM);
    memset(t, 0, sizeof *t);
    const int64_t end = now_us() + budget_us;
    const struct timespec idle = {.tv_sec = idle_us / 1000000, .tv_nsec = (long)(idle_us % 1000000) * 1000};
    const struct timespec await = {.tv_sec = 0, .tv_nsec = (long)(idle_us < AWAIT_MAX_US ? idle_us : AWAIT_MAX_US) * 1000};
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
        /* Only the caller turns this poller, and it is here: the fds stay
         * open while we wait. While Node works through what it holds, wait
         * for its next answer alone: the members' edges wait in the set
         * (those of connections that are Node's would only wake us), and
         * what they made ready goes with the turn that answer wakes, in one
         * batch. Then the epoll fd: readable when one of its members is ready
         * or Node has answered. */
        enif_mutex_lock(p->lock);
        struct pollfd bfd = {.fd = p->awaiting && p->batch_fd >= 0 ? p->await_fd : -1, .events = POLLIN};
        enif_mutex_unlock(p->lock);
        if (bfd.fd >= 0) {
            const int as_batch = batch && await_as_batch();
            const int answered = ppoll(&bfd, 1, &await, NULL);
            if (as_batch) await_done();
            if (answered != 0) continue;
            enif_mutex_lock(p->lock);
            p->awaiting = 0; /* slow, or every handler is pending on a Promise */
            enif_mutex_unlock(p->lock);
        }
        struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
        if (ppoll(&pfd, 1, &idle, NULL) == 0) {
            r = pumped(env, t, am_idle);
            break;
        }
    }
    enif_free(t);
    return r;
}
