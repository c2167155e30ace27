/* The hot path's two resources. A context polls its connections through one
 * epoll set of its own (the poller) whose fd alone is enif_selected, and
 * talks to Node about them over a SOCK_SEQPACKET socketpair (the batch
 * socket) that sits in the same set: one select message covers "a connection
 * is ready" and "Node has answered". The layouts: native/reactor_shared.h.
 * The loop over them: cycle.c. */
#include "reactor_nif.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* batch_pair() -> {ok, Batch, NodeFd} | {error, Reason}: the batch socket.
 * Batch is the BEAM's end (non-blocking); NodeFd is for Node: the caller
 * sends it over the fd channel and closes its copy. */
NIF(nif_batch_pair) {
    int sv[2];
    (void)argc; (void)argv;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return error_errno(env, errno);
    /* room for a few thousand batches either way before a sender waits */
    int size = 1 << 20;
    for (int i = 0; i < 2; i++) {
        setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    int fl = fcntl(sv[0], F_GETFL), e = ENOMEM;
    rfd *r = NULL;
    if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) e = errno;
    else r = rfd_new(env, ROLE_BATCH, sv[0], 0);
    if (!r) {
        close(sv[0]);
        close(sv[1]);
        return error_errno(env, e);
    }
    r->is_socket = 1;
    ERL_NIF_TERM t = enif_make_resource(env, r);
    enif_release_resource(r);
    return enif_make_tuple3(env, am_ok, t, enif_make_int(env, sv[1]));
}

/* poller(Batch, LingerTimeoutMs, LingerMaxBytes) -> {ok, Poller} | {error, Reason}:
 * a new epoll set, owned by the caller, with the batch socket in it
 * (select/2 it for read to hear when a connection is ready or Node has
 * answered; its messages carry id 0). A batch socket has one poller. A
 * lingering connection lingers LingerTimeoutMs at most (linger_expired/1
 * says which are past it) and drops at most LingerMaxBytes (0: no bound
 * but the time). */
NIF(nif_poller) {
    rfd *b;
    unsigned linger_timeout;
    ErlNifUInt64 linger_max;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&b) || !enif_get_uint(env, argv[1], &linger_timeout) ||
        !enif_get_uint64(env, argv[2], &linger_max))
        return enif_make_badarg(env);
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return error_errno(env, errno);
    rfd *p = rfd_new(env, ROLE_POLLER, fd, 0);
    members *m = enif_alloc(sizeof *m);
    uint32_t *rbuf = enif_alloc(REACTOR_ACTIONS_MAX * REACTOR_ACTION_ENTRY_BYTES * RECV_BATCHES);
    unsigned char *scratch = enif_alloc(LINGER_CHUNK);
    if (!p || !m || !rbuf || !scratch) {
        if (scratch) enif_free(scratch);
        if (m) enif_free(m);
        if (rbuf) enif_free(rbuf);
        if (p) enif_release_resource(p); /* its dtor closes fd */
        else close(fd);
        return error_errno(env, ENOMEM);
    }
    memset(m, 0, sizeof *m);
    p->members = m;
    p->rbuf = rbuf;
    p->scratch = scratch;
    p->linger_timeout = linger_timeout;
    p->linger_max = linger_max;
    p->await_fd = -1;
    p->held = 0;
    int e = 0;
    enif_mutex_lock(b->lock);
    if (b->role != ROLE_BATCH || b->state != FD_OPEN || b->fd < 0 || b->poller) {
        e = EINVAL;
    } else {
        /* level-triggered: a cycle that leaves batches unread fires again */
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = POLL_BATCH};
        if (epoll_ctl(fd, EPOLL_CTL_ADD, b->fd, &ev) < 0) {
            e = errno;
        } else {
            p->batch_fd = b->fd; /* p is not shared yet: no need of its lock */
            enif_keep_resource(p);
            b->poller = p;
            /* without it, pump/4 only waits on the whole set */
            p->await_fd = epoll_create1(EPOLL_CLOEXEC);
            if (p->await_fd >= 0 && epoll_ctl(p->await_fd, EPOLL_CTL_ADD, b->fd, &ev) < 0) {
                close(p->await_fd);
                p->await_fd = -1;
            }
        }
    }
    enif_mutex_unlock(b->lock);
    if (e) {
        enif_release_resource(p);
        return error_errno(env, e);
    }
    return ok_resource(env, p);
}

/* arm(Poller, [{Conn, read | write | linger}]) -> [{Id, Reason}]: each fd
 * armed in the poller (registered, under its id, on its first arming; armed
 * again, its readiness is taken afresh: EPOLL_CTL_MOD polls it); `linger':
 * Node has closed its copy, the poller reads and drops until the peer's end
 * (REACTOR_ACTION_LINGER);
 * what could not be armed is returned with why, and its connection must
 * close. badarg unless Poller is a POLLER and each Conn a CONN (the batch
 * socket joins its poller by poller/3, never by arm/2). */
NIF(nif_arm) {
    rfd *p, *r;
    ERL_NIF_TERM list = argv[1], head, failed = enif_make_list(env, 0);
    const ERL_NIF_TERM *pair;
    int arity;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&p) || p->role != ROLE_POLLER ||
        !enif_is_list(env, list))
        return enif_make_badarg(env);
    while (enif_get_list_cell(env, list, &head, &list)) {
        if (!enif_get_tuple(env, head, &arity, &pair) || arity != 2 ||
            !enif_get_resource(env, pair[0], rfd_type, (void **)&r) || r->role != ROLE_CONN)
            return enif_make_badarg(env);
        int write = enif_is_identical(pair[1], am_write), linger = enif_is_identical(pair[1], am_linger);
        int e = 0;
        enif_mutex_lock(r->lock);
        if (r->state != FD_OPEN || r->fd < 0 || r->id <= 0 || (r->poller && r->poller != p)) {
            e = EBADF;
        } else {
            enif_mutex_lock(p->lock);
            if (p->fd < 0) {
                e = EBADF;
            } else if (!r->poller && !members_put(p->members, (unsigned)r->id, r->fd)) {
                e = ENOMEM;
            } else {
                member *m = members_find(p->members, (unsigned)r->id);
                if ((e = poller_arm(p, m, r->poller ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, write))) {
                    if (!r->poller) members_del(p->members, (unsigned)r->id);
                } else if (linger) {
                    poller_linger(p, m);
                }
            }
            enif_mutex_unlock(p->lock);
            if (!e && !r->poller) {
                enif_keep_resource(p);
                r->poller = p;
                r->reg_id = (unsigned)r->id;
            }
        }
        int id = r->id;
        enif_mutex_unlock(r->lock);
        if (e) failed = enif_make_list_cell(env, enif_make_tuple2(env, enif_make_int(env, id), errno_term(env, e)), failed);
    }
    return failed;
}

/* send_batch(Batch, Bin) -> ok | {error, eagain | closed | Reason}: a ready
 * batch cycle/1 could not send (select the socket for write and retry). */
NIF(nif_send_batch) {
    rfd *r;
    ErlNifBinary bin;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r) || r->role != ROLE_BATCH ||
        !enif_inspect_binary(env, argv[1], &bin) || bin.size == 0 ||
        bin.size > REACTOR_READY_MAX * REACTOR_READY_ENTRY_BYTES || bin.size % REACTOR_READY_ENTRY_BYTES)
        return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    ssize_t s;
    if (rfd_gone(r) || r->fd < 0) {
        s = -2;
    } else {
        do {
            s = send(r->fd, bin.data, bin.size, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (s < 0 && errno == EINTR);
    }
    int e = errno;
    enif_mutex_unlock(r->lock);
    if (s == -2) return error_closed(env);
    if (s < 0) return e == EAGAIN || e == EWOULDBLOCK ? enif_make_tuple2(env, am_error, am_eagain) : error_errno(env, e);
    return am_ok;
}

/* linger_expired(Poller) -> {[Id], NextMs | none}: the lingering connections
 * past their deadline, whose lingers are over here (Erlang closes them), and
 * how long until the next deadline of those left. A scan of the members:
 * Erlang calls it from a timer, not per event. */
NIF(nif_linger_expired) {
    rfd *p;
    ERL_NIF_TERM ids = enif_make_list(env, 0);
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&p) || p->role != ROLE_POLLER) return enif_make_badarg(env);
    int64_t now = monotonic_ms(), next = -1;
    enif_mutex_lock(p->lock);
    members *ms = p->members;
    for (unsigned i = 0; ms && i < ms->cap; i++) {
        member *m = &ms->slots[i];
        if (!m->id || m->armed != ARMED_LINGER) continue;
        if (m->deadline <= now) {
            m->armed = 0;
            ids = enif_make_list_cell(env, enif_make_uint(env, m->id), ids);
        } else if (next < 0 || m->deadline - now < next) {
            next = m->deadline - now;
        }
    }
    enif_mutex_unlock(p->lock);
    return enif_make_tuple2(env, ids, next < 0 ? am_none : enif_make_int64(env, next));
}

/* A count the poller keeps under its lock (an unsigned field of rfd at
 * `offset'), read for Erlang. */
static ERL_NIF_TERM poller_count(ErlNifEnv *env, ERL_NIF_TERM arg, size_t offset) {
    rfd *p;
    if (!enif_get_resource(env, arg, rfd_type, (void **)&p) || p->role != ROLE_POLLER) return enif_make_badarg(env);
    enif_mutex_lock(p->lock);
    unsigned n = *(const unsigned *)((const char *)p + offset);
    enif_mutex_unlock(p->lock);
    return enif_make_uint(env, n);
}

/* lingering(Poller) -> Count: connections the poller holds alone (Node's
 * copy closed, a linger handed over), until Erlang closes them. */
NIF(nif_lingering) {
    (void)argc;
    return poller_count(env, argv[0], offsetof(rfd, nlinger));
}

/* unanswered(Poller) -> Count: connections sent to Node as ready that it has
 * not answered yet (members.h's `held'): what Node is working on. */
NIF(nif_unanswered) {
    (void)argc;
    return poller_count(env, argv[0], offsetof(rfd, held));
}
