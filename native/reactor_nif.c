/* reactor_nif: the BEAM's side of every connection's fd.
 *
 * Thin on purpose: an fd resource (polled with enif_select, or armed one-shot in
 * its context's poller, an epoll set whose own fd is enif_selected), a stop
 * callback that closes Erlang's copy exactly once, a monitor on the owning
 * context so a crashed context never leaks an fd, plus dup/close/accept helpers;
 * and the hot path's one loop (cycle/1: Node's action batches applied, ready
 * batches sent), which is the only place C decodes anything: fixed-size
 * entries, bounded. Everything else (channel, wire, policy) lives in Erlang
 * where it is easy to test. Nothing here blocks but pump/3, which waits on
 * the poller on a dirty I/O scheduler, a bounded time; every other call is a
 * handful of non-blocking syscalls.
 */
#define _GNU_SOURCE
#include <erl_nif.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { FD_OPEN, FD_SELECTED, FD_CLOSING, FD_CLOSED } fd_state;

typedef struct rfd {
    ErlNifMutex *lock;
    int fd;
    int id;           /* connection id, carried in every select message */
    int is_socket;
    int is_listener;  /* shutdown() of a listening socket would stop every dup of it */
    fd_state state;
    ErlNifPid owner;
    ErlNifMonitor mon;
    int monitored;
    struct rfd *poller; /* the epoll set this fd is registered in (kept), or NULL */
    unsigned reg_id;    /* the id it is registered under there */
    /* A poller's own: its members by id (what Node's action batches name),
     * and the BEAM's end of the batch socket (-1 until attached, or gone). */
    struct members *members;
    int hot_fd;
    uint32_t *rbuf; /* RECV_BATCHES action batches, read under the poller's lock */
} rfd;

/* A poller's members: open addressing by connection id, linear probing,
 * backward-shift deletion. Guarded by the poller's lock. */
typedef struct { unsigned id; int fd; int write; } member;
typedef struct members { member *slots; unsigned cap, used; } members;

static ErlNifResourceType *rfd_type;
static ERL_NIF_TERM am_ok, am_error, am_undefined, am_closed, am_read, am_write,
    am_reactor_io, am_socket, am_fifo, am_chr, am_reg, am_dir, am_other,
    am_not_pollable, am_eagain, am_continue, am_read_pending, am_write_pending, am_close,
    am_ack, am_invalid, am_poll_failed, am_bad_batch, am_size, am_id, am_busy, am_idle;

/* errno -> atom, the way inet/socket name them. Unknown ones stay numbers:
 * we never mint atoms from data. */
static ERL_NIF_TERM errno_term(ErlNifEnv *env, int e) {
    const char *n;
    switch (e) {
    case EAGAIN: n = "eagain"; break;
    case EBADF: n = "ebadf"; break;
    case EINVAL: n = "einval"; break;
    case EINTR: n = "eintr"; break;
    case EMFILE: n = "emfile"; break;
    case ENFILE: n = "enfile"; break;
    case ENOMEM: n = "enomem"; break;
    case ENOBUFS: n = "enobufs"; break;
    case ENOTSOCK: n = "enotsock"; break;
    case ENOTCONN: n = "enotconn"; break;
    case ECONNRESET: n = "econnreset"; break;
    case ECONNABORTED: n = "econnaborted"; break;
    case EPIPE: n = "epipe"; break;
    case EACCES: n = "eacces"; break;
    case EPERM: n = "eperm"; break;
    case EOPNOTSUPP: n = "eopnotsupp"; break;
    case EPROTO: n = "eproto"; break;
    default: return enif_make_tuple2(env, enif_make_atom(env, "errno"), enif_make_int(env, e));
    }
    return enif_make_atom(env, n);
}

static ERL_NIF_TERM error_errno(ErlNifEnv *env, int e) {
    return enif_make_tuple2(env, am_error, errno_term(env, e));
}

static int get_fd(ErlNifEnv *env, ERL_NIF_TERM t, int *fd) {
    return enif_get_int(env, t, fd) && *fd >= 0;
}

static unsigned slot_of(const members *m, unsigned id) {
    return (id * 2654435761u) & (m->cap - 1);
}

static member *members_find(members *m, unsigned id) {
    if (!m || !m->cap || id == 0) return NULL;
    for (unsigned i = slot_of(m, id);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].id == id) return &m->slots[i];
        if (m->slots[i].id == 0) return NULL;
    }
}

static int members_put(members *m, unsigned id, int fd, int write);

static int members_grow(members *m) {
    members bigger = {enif_alloc(sizeof(member) * (m->cap ? m->cap * 2 : 64)), m->cap ? m->cap * 2 : 64, 0};
    if (!bigger.slots) return 0;
    memset(bigger.slots, 0, sizeof(member) * bigger.cap);
    for (unsigned i = 0; i < m->cap; i++)
        if (m->slots[i].id) members_put(&bigger, m->slots[i].id, m->slots[i].fd, m->slots[i].write);
    if (m->slots) enif_free(m->slots);
    *m = bigger;
    return 1;
}

/* 0 when out of memory. Ids are never 0 (0 marks a free slot). */
static int members_put(members *m, unsigned id, int fd, int write) {
    member *e = members_find(m, id);
    if (!e) {
        if ((m->used + 1) * 2 > m->cap && !members_grow(m)) return 0;
        unsigned i = slot_of(m, id);
        while (m->slots[i].id) i = (i + 1) & (m->cap - 1);
        e = &m->slots[i];
        e->id = id;
        m->used++;
    }
    e->fd = fd;
    e->write = write;
    return 1;
}

static void members_del(members *m, unsigned id) {
    member *e = members_find(m, id);
    if (!e) return;
    unsigned i = (unsigned)(e - m->slots), j = i;
    /* backward shift: pull later entries of the probe run into the hole */
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->slots[j].id) break;
        unsigned home = slot_of(m, m->slots[j].id);
        if (((j - home) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].id = 0;
    m->used--;
}

/* Out of its poller first: the poller keys its registration by this fd number,
 * and Node's copy keeps the socket (and so the registration) alive. Lock order:
 * an fd's lock, then its poller's. */
static void rfd_leave_poller(rfd *r) {
    rfd *p = r->poller;
    if (!p) return;
    r->poller = NULL;
    enif_mutex_lock(p->lock);
    if (p->fd >= 0 && r->fd >= 0) epoll_ctl(p->fd, EPOLL_CTL_DEL, r->fd, NULL);
    if (r->reg_id) members_del(p->members, r->reg_id);
    else if (p->hot_fd == r->fd && r->fd >= 0) p->hot_fd = -1; /* the batch socket */
    enif_mutex_unlock(p->lock);
    enif_release_resource(p);
}

static void rfd_close_locked(rfd *r) {
    rfd_leave_poller(r);
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    r->state = FD_CLOSED;
}

/* ERL_NIF_SELECT_STOP completed: the fd has left the poll set, close it now. */
static void rfd_stop(ErlNifEnv *env, void *obj, ErlNifEvent event, int is_direct_call) {
    rfd *r = obj;
    (void)env; (void)event; (void)is_direct_call;
    enif_mutex_lock(r->lock);
    rfd_close_locked(r);
    enif_mutex_unlock(r->lock);
}

/* Must be called with the lock held. Closes through STOP when the fd may be in the
 * poll set, directly otherwise. */
static void rfd_begin_close(ErlNifEnv *env, rfd *r, int do_shutdown) {
    if (r->state == FD_CLOSING || r->state == FD_CLOSED) return;
    if (do_shutdown && r->is_socket && !r->is_listener) shutdown(r->fd, SHUT_RDWR);
    if (r->state == FD_SELECTED) {
        r->state = FD_CLOSING;
        int fd = r->fd;
        enif_mutex_unlock(r->lock); /* stop may run the callback directly */
        enif_select(env, (ErlNifEvent)fd, ERL_NIF_SELECT_STOP, r, NULL, am_undefined);
        enif_mutex_lock(r->lock);
    } else {
        rfd_close_locked(r);
    }
}

/* The owning context died (even by kill): take its fds with it. */
static void rfd_down(ErlNifEnv *env, void *obj, ErlNifPid *pid, ErlNifMonitor *mon) {
    rfd *r = obj;
    (void)pid; (void)mon;
    enif_mutex_lock(r->lock);
    r->monitored = 0;
    rfd_begin_close(env, r, 1);
    enif_mutex_unlock(r->lock);
}

static void rfd_dtor(ErlNifEnv *env, void *obj) {
    rfd *r = obj;
    (void)env;
    /* Only reachable when never selected or already stopped: enif_select keeps the
     * resource alive while the fd is in the poll set. */
    if (r->fd >= 0 && r->state == FD_OPEN) {
        rfd_leave_poller(r);
        close(r->fd);
    }
    if (r->members) {
        if (r->members->slots) enif_free(r->members->slots);
        enif_free(r->members);
    }
    if (r->rbuf) enif_free(r->rbuf);
    enif_mutex_destroy(r->lock);
}

static int load(ErlNifEnv *env, void **priv, ERL_NIF_TERM info) {
    (void)priv; (void)info;
    ErlNifResourceTypeInit init = {.dtor = rfd_dtor, .stop = rfd_stop, .down = rfd_down};
    rfd_type = enif_open_resource_type_x(env, "reactor_fd", &init, ERL_NIF_RT_CREATE, NULL);
    if (!rfd_type) return -1;
#define A(v, s) v = enif_make_atom(env, s)
    A(am_ok, "ok"); A(am_error, "error"); A(am_undefined, "undefined");
    A(am_closed, "closed"); A(am_read, "read"); A(am_write, "write");
    A(am_reactor_io, "reactor_io"); A(am_socket, "socket"); A(am_fifo, "fifo");
    A(am_chr, "chr"); A(am_reg, "reg"); A(am_dir, "dir"); A(am_other, "other");
    A(am_not_pollable, "not_pollable"); A(am_eagain, "eagain");
    A(am_continue, "continue"); A(am_read_pending, "read_pending");
    A(am_write_pending, "write_pending"); A(am_close, "close"); A(am_ack, "ack");
    A(am_invalid, "invalid"); A(am_poll_failed, "poll_failed"); A(am_bad_batch, "bad_batch");
    A(am_size, "size"); A(am_id, "id"); A(am_busy, "busy"); A(am_idle, "idle");
#undef A
    return 0;
}

static ERL_NIF_TERM file_kind(mode_t m) {
    if (S_ISSOCK(m)) return am_socket;
    if (S_ISFIFO(m)) return am_fifo;
    if (S_ISCHR(m)) return am_chr;
    if (S_ISREG(m)) return am_reg;
    if (S_ISDIR(m)) return am_dir;
    return am_other;
}

/* fd_info(Fd) -> {ok, Kind, Domain, SockType} | {error, Reason}
 * What kind of fd this is; Domain/SockType are 0 for non-sockets. */
static ERL_NIF_TERM nif_fd_info(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    int fd, domain = 0, type = 0;
    struct stat st;
    (void)argc;
    if (!get_fd(env, argv[0], &fd)) return enif_make_badarg(env);
    if (fstat(fd, &st) < 0) return error_errno(env, errno);
    if (S_ISSOCK(st.st_mode)) {
        socklen_t l = sizeof domain;
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l);
        l = sizeof type;
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
    }
    return enif_make_tuple4(env, am_ok, file_kind(st.st_mode), enif_make_int(env, domain),
                            enif_make_int(env, type));
}

/* peercred(Fd) -> {ok, {Pid, Uid, Gid}} | {error, Reason}: who is at the other
 * end of a Unix socket. */
static ERL_NIF_TERM nif_peercred(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    int fd;
    struct ucred cred;
    socklen_t len = sizeof cred;
    (void)argc;
    if (!get_fd(env, argv[0], &fd)) return enif_make_badarg(env);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return error_errno(env, errno);
    return enif_make_tuple2(env, am_ok,
                            enif_make_tuple3(env, enif_make_int(env, cred.pid),
                                             enif_make_uint(env, cred.uid),
                                             enif_make_uint(env, cred.gid)));
}

/* A resource for fd, owned (monitored) by the calling process; NULL when out
 * of memory. */
static rfd *new_rfd(ErlNifEnv *env, int fd, int id) {
    rfd *r = enif_alloc_resource(rfd_type, sizeof *r);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->lock = enif_mutex_create("reactor_fd");
    r->fd = fd;
    r->id = id;
    r->hot_fd = -1;
    r->state = FD_OPEN;
    enif_self(env, &r->owner);
    r->monitored = enif_monitor_process(env, r, &r->owner, &r->mon) == 0;
    return r;
}

static ERL_NIF_TERM ok_resource(ErlNifEnv *env, rfd *r) {
    ERL_NIF_TERM t = enif_make_resource(env, r);
    enif_release_resource(r);
    return enif_make_tuple2(env, am_ok, t);
}

/* open(Fd, Id) -> {ok, Res} | {error, Reason}
 * Takes ownership of Fd on success: it becomes non-blocking and close-on-exec, is
 * owned by the calling process (monitored), and is closed exactly once. Regular
 * files and directories cannot be polled and are refused (left open: the caller
 * still owns a refused fd). */
static ERL_NIF_TERM nif_open(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    int fd, id, fl;
    struct stat st;
    (void)argc;
    if (!get_fd(env, argv[0], &fd) || !enif_get_int(env, argv[1], &id)) return enif_make_badarg(env);
    if (fstat(fd, &st) < 0) return error_errno(env, errno);
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return enif_make_tuple2(env, am_error, am_not_pollable);
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return error_errno(env, errno);
    if ((fl = fcntl(fd, F_GETFD)) >= 0) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);

    rfd *r = new_rfd(env, fd, id);
    if (!r) return error_errno(env, ENOMEM);
    r->is_socket = S_ISSOCK(st.st_mode);
    if (r->is_socket) {
        int acc = 0;
        socklen_t l = sizeof acc;
        r->is_listener = getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) == 0 && acc;
    }
    return ok_resource(env, r);
}

/* take(Res, Id) -> ok | {error, closed}
 * The calling process becomes the owner (a handoff: the caller opened it, the
 * context takes it; or a drain takes a replaced Node's). Until then a context
 * that died with the handoff still in its mailbox leaves the fd with the
 * caller, who closes it: never leaked. */
static ERL_NIF_TERM nif_take(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *r;
    int id;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r) || !enif_get_int(env, argv[1], &id))
        return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    if (r->state == FD_CLOSING || r->state == FD_CLOSED) {
        enif_mutex_unlock(r->lock);
        return enif_make_tuple2(env, am_error, am_closed);
    }
    /* A selected fd may change hands too (a replaced Node's connections and
     * stderr go to its drain): its next select names the new owner. */
    if (r->monitored) enif_demonitor_process(env, r, &r->mon);
    enif_self(env, &r->owner);
    r->monitored = enif_monitor_process(env, r, &r->owner, &r->mon) == 0;
    r->id = id;
    enif_mutex_unlock(r->lock);
    return am_ok;
}

/* select(Res, read | write) -> ok | {error, closed | Reason}
 * One-shot: the owner gets {reactor_io, Id, read | write} once. */
static ERL_NIF_TERM nif_select(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *r;
    int rv;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r)) return enif_make_badarg(env);
    int want_write = enif_is_identical(argv[1], am_write);
    if (!want_write && !enif_is_identical(argv[1], am_read)) return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    if (r->state == FD_CLOSING || r->state == FD_CLOSED) {
        enif_mutex_unlock(r->lock);
        return enif_make_tuple2(env, am_error, am_closed);
    }
    ERL_NIF_TERM msg = enif_make_tuple3(env, am_reactor_io, enif_make_int(env, r->id),
                                        want_write ? am_write : am_read);
    if (want_write)
        rv = enif_select_write(env, (ErlNifEvent)r->fd, r, &r->owner, msg, NULL);
    else
        rv = enif_select_read(env, (ErlNifEvent)r->fd, r, &r->owner, msg, NULL);
    if (rv >= 0) r->state = FD_SELECTED;
    enif_mutex_unlock(r->lock);
    if (rv < 0) return error_errno(env, EINVAL);
    return am_ok;
}

/* close(Res, Shutdown) -> ok. Idempotent. With Shutdown = true a socket is shut
 * down first, so the peer sees the end even if another copy of the fd lives on. */
static ERL_NIF_TERM nif_close(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *r;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r)) return enif_make_badarg(env);
    int do_shutdown = enif_is_identical(argv[1], enif_make_atom(env, "true"));
    enif_mutex_lock(r->lock);
    if (r->monitored) {
        enif_demonitor_process(env, r, &r->mon);
        r->monitored = 0;
    }
    rfd_begin_close(env, r, do_shutdown);
    enif_mutex_unlock(r->lock);
    return am_ok;
}

/* fd(Res) -> Fd | closed. Used to pass Erlang's copy over the channel. */
static ERL_NIF_TERM nif_fd(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *r;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r)) return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    int fd = (r->state == FD_CLOSING || r->state == FD_CLOSED) ? -1 : r->fd;
    enif_mutex_unlock(r->lock);
    return fd < 0 ? am_closed : enif_make_int(env, fd);
}

/* dup(Fd) -> {ok, NewFd} | {error, Reason}. The copy is close-on-exec. */
static ERL_NIF_TERM nif_dup(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    int fd, nfd;
    (void)argc;
    if (!get_fd(env, argv[0], &fd)) return enif_make_badarg(env);
    if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) return error_errno(env, errno);
    return enif_make_tuple2(env, am_ok, enif_make_int(env, nfd));
}

/* close_fd(Fd) -> ok | {error, Reason}. For an fd the reactor was given but
 * refused: ownership passed to us, so we must not leak it. */
static ERL_NIF_TERM nif_close_fd(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    int fd;
    (void)argc;
    if (!get_fd(env, argv[0], &fd)) return enif_make_badarg(env);
    if (close(fd) < 0) return error_errno(env, errno);
    return am_ok;
}

/* accept(ListenRes) -> {ok, Fd, SockAddr :: binary()} | {error, eagain | Reason}
 * Non-blocking accept4 on a listener resource; the sockaddr is decoded in Erlang. */
static ERL_NIF_TERM nif_accept(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *r;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ErlNifBinary bin;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r)) return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    int lfd = (r->state == FD_CLOSING || r->state == FD_CLOSED) ? -1 : r->fd;
    enif_mutex_unlock(r->lock);
    if (lfd < 0) return enif_make_tuple2(env, am_error, am_closed);
    int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return e == EWOULDBLOCK ? enif_make_tuple2(env, am_error, am_eagain) : error_errno(env, e);
    }
    if (len > sizeof ss) len = sizeof ss;
    if (!enif_alloc_binary(len, &bin)) {
        close(fd);
        return error_errno(env, ENOMEM);
    }
    memcpy(bin.data, &ss, len);
    return enif_make_tuple3(env, am_ok, enif_make_int(env, fd), enif_make_binary(env, &bin));
}

/* open_fifo(Path) -> {ok, Fd} | {error, Reason}
 * A new FIFO (0600; fails if the name exists) and its read end, non-blocking,
 * so the writer's open never waits. Node's stderr is written into it. */
static ERL_NIF_TERM nif_open_fifo(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary path;
    char buf[PATH_MAX];
    (void)argc;
    if (!enif_inspect_iolist_as_binary(env, argv[0], &path) || path.size == 0 || path.size >= sizeof buf ||
        memchr(path.data, 0, path.size))
        return enif_make_badarg(env);
    memcpy(buf, path.data, path.size);
    buf[path.size] = 0;
    if (mkfifo(buf, 0600) < 0) return error_errno(env, errno);
    int fd = open(buf, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        unlink(buf);
        return error_errno(env, e);
    }
    return enif_make_tuple2(env, am_ok, enif_make_int(env, fd));
}

/* The hot path. A context polls its connections through one epoll set of its
 * own (the poller) whose fd alone is enif_selected, and talks to Node about
 * them over a SOCK_SEQPACKET socketpair (the batch socket) that sits in the
 * same set. One select message, one cycle/1 call: Node's action batches are
 * applied (each a one-shot epoll_ctl), the ready connections are sent to Node
 * as one batch. No ETF, no port, no term per event.
 *
 * Layouts, host byte order (both ends run on this host):
 *   to Node:   a packet of u32, one per ready connection: id | 1 << 31 when it
 *              was armed for writing (ids are < 2^31);
 *   from Node: a packet of (u32 id, u32 code) pairs, at most BATCH_MAX_ACTIONS;
 *              code 1 continue, 2 read_pending, 3 write_pending, 4 close, and
 *              ACK | action for a handoff's first answer.
 * A connection's epoll data is its id, bit 32 set when armed for writing. */
#define POLL_WRITE_BIT (1ULL << 32)
#define POLL_HOT ((uint64_t)1 << 33)
#define POLL_MAX 1024
#define READY_WRITE_BIT 0x80000000u
#define MAX_CONN_ID 0x7fffffffu
#define BATCH_MAX_ACTIONS 1024
/* Entries one cycle applies before it yields (the socket stays readable and
 * the poller fires again): a NIF call stays well under a millisecond. */
#define CYCLE_MAX_ACTIONS 1024
/* Batches one recvmmsg takes (into the poller's rbuf). */
#define RECV_BATCHES 8
enum { ACT_CONTINUE = 1, ACT_READ = 2, ACT_WRITE = 3, ACT_CLOSE = 4, ACT_ACK = 0x10 };

/* batch_pair() -> {ok, Res, NodeFd} | {error, Reason}: the batch socket. Res
 * is the BEAM's end (non-blocking); NodeFd is for Node: the caller sends it
 * over the fd channel and closes its copy. */
static ERL_NIF_TERM nif_batch_pair(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    int sv[2];
    (void)argc; (void)argv;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return error_errno(env, errno);
    /* room for a few thousand batches either way before a sender waits */
    int size = 1 << 20;
    for (int i = 0; i < 2; i++) {
        setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    int fl = fcntl(sv[0], F_GETFL);
    if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return error_errno(env, e);
    }
    rfd *r = new_rfd(env, sv[0], 0);
    if (!r) {
        close(sv[0]);
        close(sv[1]);
        return error_errno(env, ENOMEM);
    }
    r->is_socket = 1;
    ERL_NIF_TERM t = enif_make_resource(env, r);
    enif_release_resource(r);
    return enif_make_tuple3(env, am_ok, t, enif_make_int(env, sv[1]));
}

/* poller(Batch) -> {ok, Res} | {error, Reason}: a new epoll set, owned by the
 * caller, with the batch socket in it (select/2 it for read to hear when a
 * connection is ready or Node has answered; its messages carry id 0). */
static ERL_NIF_TERM nif_poller(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *b;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&b)) return enif_make_badarg(env);
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return error_errno(env, errno);
    rfd *p = new_rfd(env, fd, 0);
    members *m = enif_alloc(sizeof *m);
    uint32_t *rbuf = enif_alloc(sizeof(uint32_t) * 2 * BATCH_MAX_ACTIONS * RECV_BATCHES);
    if (!p || !m || !rbuf) {
        if (m) enif_free(m);
        if (rbuf) enif_free(rbuf);
        if (p) enif_release_resource(p); /* its dtor closes fd */
        else close(fd);
        return error_errno(env, ENOMEM);
    }
    memset(m, 0, sizeof *m);
    p->members = m;
    p->rbuf = rbuf;
    int e = 0;
    enif_mutex_lock(b->lock);
    if (b->state != FD_OPEN || b->fd < 0 || b->poller || b->members) {
        e = EINVAL;
    } else {
        /* level-triggered: a cycle that leaves batches unread fires again */
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = POLL_HOT};
        if (epoll_ctl(fd, EPOLL_CTL_ADD, b->fd, &ev) < 0) {
            e = errno;
        } else {
            p->hot_fd = b->fd;
            enif_keep_resource(p);
            b->poller = p;
        }
    }
    enif_mutex_unlock(b->lock);
    if (e) {
        enif_release_resource(p);
        return error_errno(env, e);
    }
    return ok_resource(env, p);
}

/* arm(Poller, [{Res, read | write}]) -> [{Id, Reason}]: each fd armed one-shot
 * in the poller (registered, under its id, on its first arming); what could
 * not be armed is returned with why, and its connection must close. */
static ERL_NIF_TERM nif_arm(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *p, *r;
    ERL_NIF_TERM list = argv[1], head, failed = enif_make_list(env, 0);
    const ERL_NIF_TERM *pair;
    int arity;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&p) || !p->members || !enif_is_list(env, list))
        return enif_make_badarg(env);
    while (enif_get_list_cell(env, list, &head, &list)) {
        if (!enif_get_tuple(env, head, &arity, &pair) || arity != 2 ||
            !enif_get_resource(env, pair[0], rfd_type, (void **)&r) || r == p || r->members)
            return enif_make_badarg(env);
        int write = enif_is_identical(pair[1], am_write);
        int e = 0;
        enif_mutex_lock(r->lock);
        if (r->state != FD_OPEN || r->fd < 0 || r->id <= 0 || (r->poller && r->poller != p)) {
            e = EBADF;
        } else {
            struct epoll_event ev = {.events = (write ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT,
                                     .data.u64 = (uint64_t)(unsigned)r->id | (write ? POLL_WRITE_BIT : 0)};
            enif_mutex_lock(p->lock);
            if (p->fd < 0) {
                e = EBADF;
            } else if (!r->poller && !members_put(p->members, (unsigned)r->id, r->fd, write)) {
                e = ENOMEM;
            } else if (epoll_ctl(p->fd, r->poller ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, r->fd, &ev) < 0) {
                e = errno;
                if (!r->poller) members_del(p->members, (unsigned)r->id);
            } else if (r->poller) {
                members_put(p->members, r->reg_id, r->fd, write);
            }
            enif_mutex_unlock(p->lock);
            if (!e && !r->poller) {
                enif_keep_resource(p);
                /* ids are fixed once registered: take/2 keeps them across a drain */
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

static ERL_NIF_TERM action_term(unsigned code) {
    switch (code) {
    case ACT_CONTINUE: return am_continue;
    case ACT_READ: return am_read_pending;
    case ACT_WRITE: return am_write_pending;
    case ACT_CLOSE: return am_close;
    default: return 0;
    }
}

/* What Erlang must do about entry (id, code), or 0 when it was applied here. */
static ERL_NIF_TERM apply_action(ErlNifEnv *env, rfd *p, unsigned id, unsigned code) {
    ERL_NIF_TERM id_t = enif_make_uint(env, id), what = action_term(code & ~ACT_ACK);
    if (!what || (code & ~(ACT_ACK | 7u)))
        return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_invalid, enif_make_uint(env, code)));
    if (code & ACT_ACK) return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_ack, what));
    member *m = members_find(p->members, id);
    /* a close, or a connection this set does not hold (closed here while Node
     * answered, or acked in this very batch): Erlang decides */
    if (!m || code == ACT_CLOSE) return enif_make_tuple2(env, id_t, what);
    int write = code == ACT_WRITE || (code == ACT_CONTINUE && m->write);
    struct epoll_event ev = {.events = (write ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT,
                             .data.u64 = (uint64_t)id | (write ? POLL_WRITE_BIT : 0)};
    if (epoll_ctl(p->fd, EPOLL_CTL_MOD, m->fd, &ev) < 0)
        return enif_make_tuple2(env, id_t, enif_make_tuple2(env, am_poll_failed, errno_term(env, errno)));
    m->write = write;
    return 0;
}

/* Reads Node's batches (level-triggered: what is left fires again) and applies
 * them. Returns 0, or the reason the batch socket is unusable: Node sent a
 * malformed batch (bad_batch), or its end is gone (closed, then the socket has
 * left the set and Node's exit is reported by its port). */
static ERL_NIF_TERM read_batches(ErlNifEnv *env, rfd *p, ERL_NIF_TERM *out, unsigned *nout, unsigned *nbatches) {
    struct mmsghdr msgs[RECV_BATCHES];
    struct iovec iov[RECV_BATCHES];
    unsigned applied = 0;
    while (applied < CYCLE_MAX_ACTIONS) {
        memset(msgs, 0, sizeof msgs);
        for (int k = 0; k < RECV_BATCHES; k++) {
            iov[k].iov_base = p->rbuf + (size_t)k * 2 * BATCH_MAX_ACTIONS;
            iov[k].iov_len = BATCH_MAX_ACTIONS * 8;
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
        }
        /* several batches per syscall, and no EAGAIN call after the last */
        int got = recvmmsg(p->hot_fd, msgs, RECV_BATCHES, MSG_DONTWAIT | MSG_TRUNC, NULL);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (got <= 0) {
            epoll_ctl(p->fd, EPOLL_CTL_DEL, p->hot_fd, NULL);
            return am_closed;
        }
        for (int k = 0; k < got; k++) {
            size_t n = msgs[k].msg_len; /* the real size: MSG_TRUNC */
            (*nbatches)++;
            if (n == 0) { /* Node's end closed */
                epoll_ctl(p->fd, EPOLL_CTL_DEL, p->hot_fd, NULL);
                return am_closed;
            }
            if (n > BATCH_MAX_ACTIONS * 8 || n % 8)
                return enif_make_tuple2(env, am_bad_batch, enif_make_tuple2(env, am_size, enif_make_int64(env, (ErlNifSInt64)n)));
            const uint32_t *e = (const uint32_t *)iov[k].iov_base;
            for (size_t i = 0; i < n / 4; i += 2) {
                unsigned id = e[i], code = e[i + 1];
                if (id == 0 || id > MAX_CONN_ID)
                    return enif_make_tuple2(env, am_bad_batch, enif_make_tuple2(env, am_id, enif_make_uint(env, id)));
                ERL_NIF_TERM t = apply_action(env, p, id, code);
                if (t) out[(*nout)++] = t;
            }
            applied += (unsigned)(n / 8);
        }
        if (got < RECV_BATCHES) return 0;
    }
    return 0;
}

/* What turns have done so far in one NIF call. */
typedef struct {
    ERL_NIF_TERM out[CYCLE_MAX_ACTIONS + BATCH_MAX_ACTIONS]; /* Results, in order */
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
    if (p->state == FD_CLOSING || p->state == FD_CLOSED || p->fd < 0) {
        enif_mutex_unlock(p->lock);
        return am_closed;
    }
    /* Node's answers first: an fd re-armed here that already has data (the
     * client answered while Node's batch was on its way) is ready in the
     * epoll_wait below, in this same turn, rather than in a wake-up of its own. */
    ERL_NIF_TERM why = p->hot_fd >= 0 ? read_batches(env, p, t->out, &t->nout, &t->batches) : 0;
    if (why == am_closed) p->hot_fd = -1;
    if (why && why != am_closed) {
        enif_mutex_unlock(p->lock);
        return why;
    }
    int n = epoll_wait(p->fd, evs, POLL_MAX, 0);
    for (int i = 0; i < n; i++) {
        uint64_t d = evs[i].data.u64;
        if (d != POLL_HOT) /* the batch socket: read above, or fires again */
            ready[nr++] = (uint32_t)(d & MAX_CONN_ID) | ((d & POLL_WRITE_BIT) ? READY_WRITE_BIT : 0);
    }
    if (nr && p->hot_fd >= 0) {
        ssize_t s;
        do {
            s = send(p->hot_fd, ready, nr * 4, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (s < 0 && errno == EINTR);
        if (s >= 0) t->sent++;
        else if ((errno == EAGAIN || errno == EWOULDBLOCK) && enif_alloc_binary(nr * 4, &t->unsent))
            memcpy(t->unsent.data, ready, nr * 4);
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
static ERL_NIF_TERM nif_cycle(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *p;
    tally t = {.nout = 0};
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&p) || !p->members) return enif_make_badarg(env);
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
static ERL_NIF_TERM nif_pump(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *p;
    unsigned idle_us, budget_us;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&p) || !p->members ||
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

/* send_batch(Batch, Bin) -> ok | {error, eagain | closed | Reason}: a ready
 * batch cycle/1 could not send (select the socket for write and retry). */
static ERL_NIF_TERM nif_send_batch(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *r;
    ErlNifBinary bin;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r) || !enif_inspect_binary(env, argv[1], &bin) ||
        bin.size == 0 || bin.size > POLL_MAX * 4 || bin.size % 4)
        return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    ssize_t s;
    if (r->state == FD_CLOSING || r->state == FD_CLOSED || r->fd < 0) {
        s = -2;
    } else {
        do {
            s = send(r->fd, bin.data, bin.size, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (s < 0 && errno == EINTR);
    }
    int e = errno;
    enif_mutex_unlock(r->lock);
    if (s == -2) return enif_make_tuple2(env, am_error, am_closed);
    if (s < 0) return e == EAGAIN || e == EWOULDBLOCK ? enif_make_tuple2(env, am_error, am_eagain) : error_errno(env, e);
    return am_ok;
}

/* read(Res, Max) -> {ok, Bin} | eof | {error, eagain | Reason}
 * One non-blocking read of at most Max (<= 64 KiB) bytes. */
static ERL_NIF_TERM nif_read(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[]) {
    rfd *r;
    unsigned max;
    ErlNifBinary bin;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r) || !enif_get_uint(env, argv[1], &max) ||
        max == 0 || max > 65536)
        return enif_make_badarg(env);
    if (!enif_alloc_binary(max, &bin)) return error_errno(env, ENOMEM);
    enif_mutex_lock(r->lock);
    ssize_t n = (r->state == FD_CLOSING || r->state == FD_CLOSED) ? -2 : read(r->fd, bin.data, max);
    int e = errno;
    enif_mutex_unlock(r->lock);
    if (n <= 0) {
        enif_release_binary(&bin);
        if (n == 0) return enif_make_atom(env, "eof");
        if (n == -2) return enif_make_tuple2(env, am_error, am_closed);
        return e == EWOULDBLOCK ? enif_make_tuple2(env, am_error, am_eagain) : error_errno(env, e);
    }
    if ((size_t)n < bin.size) enif_realloc_binary(&bin, n);
    return enif_make_tuple2(env, am_ok, enif_make_binary(env, &bin));
}

static ErlNifFunc funcs[] = {
    {"fd_info", 1, nif_fd_info, 0},
    {"peercred", 1, nif_peercred, 0},
    {"open", 2, nif_open, 0},
    {"controlling_process", 2, nif_take, 0},
    {"select", 2, nif_select, 0},
    {"close", 2, nif_close, 0},
    {"fd", 1, nif_fd, 0},
    {"dup", 1, nif_dup, 0},
    {"close_fd", 1, nif_close_fd, 0},
    {"accept", 1, nif_accept, 0},
    {"open_fifo", 1, nif_open_fifo, 0},
    {"read", 2, nif_read, 0},
    {"batch_pair", 0, nif_batch_pair, 0},
    {"poller", 1, nif_poller, 0},
    {"arm", 2, nif_arm, 0},
    {"cycle", 1, nif_cycle, 0},
    {"pump", 3, nif_pump, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"send_batch", 2, nif_send_batch, 0},
};

ERL_NIF_INIT(reactor_nif, funcs, load, NULL, NULL, NULL)
