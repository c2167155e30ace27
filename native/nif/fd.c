/* A resource's life, for every role: made (open/2 here; batch_pair/0 and
 * poller/3 in poller.c), owned and monitored, selected one-shot, handed to
 * another owner, closed exactly once (through enif_select's STOP when it may
 * be in the BEAM's poll set), and closed with its owner when that dies. */
#include "reactor_nif.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Out of its poller first: the poller keys its registration by this fd
 * number, and Node's copy keeps the socket (and so the registration) alive;
 * unless Node's copy is closed already (a linger handed over): then the
 * close that follows takes it out. Called with r's lock held; takes the
 * poller's (the lock order). */
static void rfd_leave_poller(rfd *r) {
    rfd *p = r->poller;
    if (!p) return;
    r->poller = NULL;
    enif_mutex_lock(p->lock);
    member *m = r->role == ROLE_BATCH ? NULL : members_find(p->members, r->reg_id);
    if (p->fd >= 0 && r->fd >= 0 && !(m && m->sole)) epoll_ctl(p->fd, EPOLL_CTL_DEL, r->fd, NULL);
    if (m && m->sole) p->nlinger--;
    if (m && m->held) p->held--;
    if (r->role == ROLE_BATCH) {
        if (p->batch_fd == r->fd && r->fd >= 0) p->batch_fd = -1;
    } else {
        members_del(p->members, r->reg_id);
    }
    enif_mutex_unlock(p->lock);
    enif_release_resource(p);
}

static void rfd_close_locked(rfd *r) {
    rfd_leave_poller(r);
    if (r->role == ROLE_POLLER && r->await_fd >= 0) {
        close(r->await_fd);
        r->await_fd = -1;
    }
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    r->state = FD_CLOSED;
}

/* ERL_NIF_SELECT_STOP completed: the fd has left the poll set, close it now. */
void rfd_stop(ErlNifEnv *env, void *obj, ErlNifEvent event, int is_direct_call) {
    rfd *r = obj;
    (void)env; (void)event; (void)is_direct_call;
    enif_mutex_lock(r->lock);
    rfd_close_locked(r);
    enif_mutex_unlock(r->lock);
}

/* Called with the lock held. Closes through STOP when the fd may be in the
 * poll set, directly otherwise. */
static void rfd_begin_close(ErlNifEnv *env, rfd *r, int do_shutdown) {
    if (rfd_gone(r)) return;
    if (do_shutdown && r->is_socket && r->role != ROLE_LISTENER) shutdown(r->fd, SHUT_RDWR);
    if (r->state == FD_SELECTED) {
        r->state = FD_CLOSING;
        int fd = r->fd;
        enif_mutex_unlock(r->lock); /* STOP may run the callback directly */
        enif_select(env, (ErlNifEvent)fd, ERL_NIF_SELECT_STOP, r, NULL, am_undefined);
        enif_mutex_lock(r->lock);
    } else {
        rfd_close_locked(r);
    }
}

/* The owner died (even by kill): take its fds with it. */
void rfd_down(ErlNifEnv *env, void *obj, ErlNifPid *pid, ErlNifMonitor *mon) {
    rfd *r = obj;
    (void)pid; (void)mon;
    enif_mutex_lock(r->lock);
    r->monitored = 0;
    rfd_begin_close(env, r, 1);
    enif_mutex_unlock(r->lock);
}

void rfd_dtor(ErlNifEnv *env, void *obj) {
    rfd *r = obj;
    (void)env;
    /* Only reachable when never selected or already stopped: enif_select
     * keeps the resource alive while the fd is in the poll set. */
    if (r->fd >= 0 && r->state == FD_OPEN) {
        rfd_leave_poller(r);
        close(r->fd);
    }
    if (r->role == ROLE_POLLER && r->await_fd >= 0) close(r->await_fd);
    members_free(r->members);
    if (r->rbuf) enif_free(r->rbuf);
    if (r->scratch) enif_free(r->scratch);
    if (r->lock) enif_mutex_destroy(r->lock);
}

/* A resource for fd, owned (monitored) by the calling process; NULL when
 * out of memory (fd is the caller's still). */
rfd *rfd_new(ErlNifEnv *env, rfd_role role, int fd, int id) {
    rfd *r = enif_alloc_resource(rfd_type, sizeof *r);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    r->lock = enif_mutex_create("reactor_fd");
    if (!r->lock) {
        r->fd = -1; /* the dtor closes nothing */
        enif_release_resource(r);
        return NULL;
    }
    r->role = role;
    r->fd = fd;
    r->id = id;
    r->batch_fd = -1;
    r->state = FD_OPEN;
    enif_self(env, &r->owner);
    r->monitored = enif_monitor_process(env, r, &r->owner, &r->mon) == 0;
    return r;
}

ERL_NIF_TERM ok_resource(ErlNifEnv *env, rfd *r) {
    ERL_NIF_TERM t = enif_make_resource(env, r);
    enif_release_resource(r);
    return enif_make_tuple2(env, am_ok, t);
}

/* open(Fd, Id) -> {ok, Res} | {error, Reason}
 * Takes ownership of Fd on success: it becomes non-blocking and
 * close-on-exec, is owned by the calling process (monitored), and is closed
 * exactly once. A listening socket is a LISTENER, anything else pollable a
 * CONN. Regular files and directories cannot be polled and are refused (left
 * open: the caller still owns a refused fd). */
NIF(nif_open) {
    int fd, id, fl;
    struct stat st;
    (void)argc;
    if (!get_fd(env, argv[0], &fd) || !enif_get_int(env, argv[1], &id)) return enif_make_badarg(env);
    if (fstat(fd, &st) < 0) return error_errno(env, errno);
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return enif_make_tuple2(env, am_error, am_not_pollable);
    /* set only when not set already: an acceptor's accept4 gave both */
    if ((fl = fcntl(fd, F_GETFL)) < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        return error_errno(env, errno);
    if ((fl = fcntl(fd, F_GETFD)) >= 0 && !(fl & FD_CLOEXEC)) fcntl(fd, F_SETFD, fl | FD_CLOEXEC);

    int is_socket = S_ISSOCK(st.st_mode), listening = 0;
    if (is_socket) {
        socklen_t l = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0) listening = 0;
    }
    rfd *r = rfd_new(env, listening ? ROLE_LISTENER : ROLE_CONN, fd, id);
    if (!r) return error_errno(env, ENOMEM);
    r->is_socket = is_socket;
    return ok_resource(env, r);
}

/* controlling_process(Res, Id) -> ok | {error, closed}
 * The calling process becomes the owner (a handoff: the caller opened it, the
 * context takes it; or a drain takes a replaced Node's). Until then a context
 * that died with the handoff still in its mailbox leaves the fd with the
 * caller, who closes it: never leaked. */
NIF(nif_controlling_process) {
    rfd *r;
    int id;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r) || !enif_get_int(env, argv[1], &id))
        return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    if (rfd_gone(r)) {
        enif_mutex_unlock(r->lock);
        return error_closed(env);
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
NIF(nif_select) {
    rfd *r;
    int rv;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r)) return enif_make_badarg(env);
    int want_write = enif_is_identical(argv[1], am_write);
    if (!want_write && !enif_is_identical(argv[1], am_read)) return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    if (rfd_gone(r)) {
        enif_mutex_unlock(r->lock);
        return error_closed(env);
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

/* close(Res, Shutdown) -> ok. Idempotent. With Shutdown = true a socket is
 * shut down first, so the peer sees the end even if another copy of the fd
 * lives on. */
NIF(nif_close) {
    rfd *r;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r)) return enif_make_badarg(env);
    int do_shutdown = enif_is_identical(argv[1], am_true);
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
NIF(nif_fd) {
    rfd *r;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r)) return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    int fd = rfd_gone(r) ? -1 : r->fd;
    enif_mutex_unlock(r->lock);
    return fd < 0 ? am_closed : enif_make_int(env, fd);
}

/* read(Res, Max) -> {ok, Bin} | eof | {error, eagain | closed | Reason}
 * One non-blocking read of at most Max (<= 64 KiB) bytes: Node's stderr.
 * CONN only (badarg for another role): a batch socket's packets are the hot
 * path's, a listener or a poller has no bytes. */
NIF(nif_read) {
    rfd *r;
    unsigned max;
    ErlNifBinary bin;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r) || r->role != ROLE_CONN ||
        !enif_get_uint(env, argv[1], &max) || max == 0 || max > 65536)
        return enif_make_badarg(env);
    if (!enif_alloc_binary(max, &bin)) return error_errno(env, ENOMEM);
    enif_mutex_lock(r->lock);
    ssize_t n = rfd_gone(r) ? -2 : read(r->fd, bin.data, max);
    int e = errno;
    enif_mutex_unlock(r->lock);
    if (n <= 0) {
        enif_release_binary(&bin);
        if (n == 0) return am_eof;
        if (n == -2) return error_closed(env);
        return e == EWOULDBLOCK ? enif_make_tuple2(env, am_error, am_eagain) : error_errno(env, e);
    }
    if ((size_t)n < bin.size) enif_realloc_binary(&bin, n);
    return enif_make_tuple2(env, am_ok, enif_make_binary(env, &bin));
}
