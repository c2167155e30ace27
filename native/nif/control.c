/* Control-path helpers on plain fds, each a syscall or two that OTP's socket
 * module cannot do for us: it knows nothing of pipes and ttys (fd_info, dup,
 * close_fd), cannot make a FIFO (open_fifo), and would cost every accepted
 * connection a socket of its own and a dup (accept). Who is at the other end
 * of a Unix socket is asked in Erlang (reactor_channel:peercred/1). */
#include "reactor_nif.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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
NIF(nif_fd_info) {
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

/* dup(Fd) -> {ok, NewFd} | {error, Reason}. The copy is close-on-exec. */
NIF(nif_dup) {
    int fd, nfd;
    (void)argc;
    if (!get_fd(env, argv[0], &fd)) return enif_make_badarg(env);
    if ((nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) return error_errno(env, errno);
    return enif_make_tuple2(env, am_ok, enif_make_int(env, nfd));
}

/* close_fd(Fd) -> ok | {error, Reason}. For an fd the reactor was given but
 * refused: ownership passed to us, so we must not leak it. */
NIF(nif_close_fd) {
    int fd;
    (void)argc;
    if (!get_fd(env, argv[0], &fd)) return enif_make_badarg(env);
    if (close(fd) < 0) return error_errno(env, errno);
    return am_ok;
}

/* accept(Listener) -> {ok, Conn, SockAddr :: binary()} | {error, eagain | closed | Reason}
 * Non-blocking accept4 on a listener resource (badarg for another role). The
 * connection comes as a CONN resource the caller owns, as open/2 makes one:
 * accept4 gave it O_NONBLOCK and FD_CLOEXEC and it is a connected socket, so
 * open/2's four syscalls asking it that are not made. The sockaddr is decoded
 * in Erlang (reactor_acceptor:decode_sockaddr/1). */
NIF(nif_accept) {
    rfd *r;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ErlNifBinary bin;
    (void)argc;
    if (!enif_get_resource(env, argv[0], rfd_type, (void **)&r) || r->role != ROLE_LISTENER)
        return enif_make_badarg(env);
    enif_mutex_lock(r->lock);
    int lfd = rfd_gone(r) ? -1 : r->fd;
    enif_mutex_unlock(r->lock);
    if (lfd < 0) return error_closed(env);
    int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return e == EWOULDBLOCK ? enif_make_tuple2(env, am_error, am_eagain) : error_errno(env, e);
    }
    if (len > sizeof ss) len = sizeof ss;
    rfd *c;
    if (!enif_alloc_binary(len, &bin)) {
        close(fd);
        return error_errno(env, ENOMEM);
    }
    if (!(c = rfd_new(env, ROLE_CONN, fd, 0))) {
        enif_release_binary(&bin);
        close(fd);
        return error_errno(env, ENOMEM);
    }
    c->is_socket = 1;
    memcpy(bin.data, &ss, len);
    ERL_NIF_TERM conn = enif_make_resource(env, c);
    enif_release_resource(c);
    return enif_make_tuple3(env, am_ok, conn, enif_make_binary(env, &bin));
}

/* open_fifo(Path) -> {ok, Fd} | {error, Reason}
 * A new FIFO (0600; fails if the name exists) and its read end, non-blocking,
 * so the writer's open never waits. Node's stderr is written into it. */
NIF(nif_open_fifo) {
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
