/* reactor_nif: the BEAM's side of every connection's fd.
 *
 * Thin on purpose: an fd resource (polled with enif_select, or armed one-shot
 * in its context's poller, an epoll set whose own fd is enif_selected), a stop
 * callback that closes Erlang's copy exactly once, a monitor on the owner so
 * a crashed context never leaks an fd, a few control-path helpers on plain
 * fds; and the hot path's one loop (cycle/1: Node's action batches applied,
 * ready batches sent), the only place C decodes anything: fixed-size entries,
 * bounded (native/reactor_shared.h). Everything else (the fd channel, the
 * wire, policy) lives in Erlang where it is easy to test. Nothing here blocks
 * but pump/4, which waits on the poller on a dirty I/O scheduler, a bounded
 * time; every other call is a handful of non-blocking syscalls.
 *
 * This file: load, the atoms, errno names, the function table. The resource
 * and its roles: reactor_nif.h.
 */
#include "reactor_nif.h"

#include <errno.h>

ErlNifResourceType *rfd_type;

#define X(a) ERL_NIF_TERM am_##a;
REACTOR_ATOMS(X)
#undef X

/* errno -> atom, the way inet and socket name them. Unknown ones stay
 * numbers: we never mint atoms from data. */
ERL_NIF_TERM errno_term(ErlNifEnv *env, int e) {
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

ERL_NIF_TERM error_errno(ErlNifEnv *env, int e) {
    return enif_make_tuple2(env, am_error, errno_term(env, e));
}

ERL_NIF_TERM error_closed(ErlNifEnv *env) {
    return enif_make_tuple2(env, am_error, am_closed);
}

int get_fd(ErlNifEnv *env, ERL_NIF_TERM t, int *fd) {
    return enif_get_int(env, t, fd) && *fd >= 0;
}

static int load(ErlNifEnv *env, void **priv, ERL_NIF_TERM info) {
    (void)priv; (void)info;
    ErlNifResourceTypeInit init = {.dtor = rfd_dtor, .stop = rfd_stop, .down = rfd_down};
    rfd_type = enif_open_resource_type_x(env, "reactor_fd", &init, ERL_NIF_RT_CREATE, NULL);
    if (!rfd_type) return -1;
#define X(a) am_##a = enif_make_atom(env, #a);
    REACTOR_ATOMS(X)
#undef X
    return 0;
}

static ErlNifFunc funcs[] = {
    /* control.c: plain fds */
    {"fd_info", 1, nif_fd_info, 0},
    {"dup", 1, nif_dup, 0},
    {"close_fd", 1, nif_close_fd, 0},
    {"accept", 1, nif_accept, 0},
    {"open_fifo", 1, nif_open_fifo, 0},
    /* fd.c: any resource */
    {"open", 2, nif_open, 0},
    {"controlling_process", 2, nif_controlling_process, 0},
    {"select", 2, nif_select, 0},
    {"close", 2, nif_close, 0},
    {"fd", 1, nif_fd, 0},
    {"read", 2, nif_read, 0},
    /* poller.c, cycle.c: the hot path */
    {"batch_pair", 0, nif_batch_pair, 0},
    {"poller", 3, nif_poller, 0},
    {"linger_expired", 1, nif_linger_expired, 0},
    {"lingering", 1, nif_lingering, 0},
    {"unanswered", 1, nif_unanswered, 0},
    {"arm", 2, nif_arm, 0},
    {"cycle", 1, nif_cycle, 0},
    {"pump", 4, nif_pump, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"send_batch", 2, nif_send_batch, 0},
};

ERL_NIF_INIT(reactor_nif, funcs, load, NULL, NULL, NULL)
