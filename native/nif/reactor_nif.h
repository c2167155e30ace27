/* reactor_nif's private header: the one resource type, its roles, its
 * states and locks, and what the files of native/nif/ share.
 *
 *   reactor_nif.c  load, the atoms, errno names, the function table
 *   fd.c           a resource's life (open, owner, select, close, stop, down)
 *   control.c      control-path helpers on plain fds (fd_info, dup, accept4, FIFO)
 *   poller.c       the batch socket and the poller: batch_pair, poller, arm, send_batch
 *   cycle.c        the hot path's loop: cycle/1 and pump/4
 *   members.h      a poller's id -> fd table
 */
#ifndef REACTOR_NIF_H
#define REACTOR_NIF_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, recvmmsg, ppoll, struct ucred */
#endif
#include <erl_nif.h>
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <time.h>

#include "../reactor_shared.h"
#include "members.h"

/* What a resource is for: set when it is made, never changed, so it is read
 * without the lock. One resource type for all of them: enif_select, the
 * owner's monitor, close and stop work alike for each. */
typedef enum {
    /* open/2 of an fd that is not a listening socket: a connection's (a
     * socket, pipe or tty handed off), or the read end of Node's stderr FIFO
     * (reactor_node reads it with read/2). C treats the two alike. */
    ROLE_CONN,
    /* open/2 of a listening socket: an acceptor's dup of it, for accept/1. */
    ROLE_LISTENER,
    /* batch_pair/0: the BEAM's end of the batch socket, a member of one poller. */
    ROLE_BATCH,
    /* poller/3: a context's epoll set, its connections in it edge-triggered. */
    ROLE_POLLER,
} rfd_role;

/* OPEN: never selected. SELECTED: select/2 was called, so the fd may be in
 * the BEAM's poll set and closes through enif_select's STOP: CLOSING until
 * the stop callback has run, then CLOSED. An OPEN one closes at once. A
 * connection is polled either way, never both: arm/2 takes only OPEN ones. */
typedef enum { FD_OPEN, FD_SELECTED, FD_CLOSING, FD_CLOSED } fd_state;

/* Every field says which roles use it. Each resource's `lock' guards all
 * its fields but `role'. A member (CONN, BATCH) takes its own lock, then its
 * poller's (arm/2, and a member leaving its poller when it closes); never
 * the other way round: the hot path (cycle.c) holds only the poller's, and
 * reaches a member through the poller's own copies (members, batch_fd),
 * which a member clears under the poller's lock before its fd is closed.
 * enif_select(STOP) is called without the lock: it may run the stop
 * callback directly, which takes it. */
typedef struct rfd {
    rfd_role role;      /* all */
    ErlNifMutex *lock;  /* all */
    int fd;             /* all: -1 once closed */
    fd_state state;     /* all */
    /* all: the id in select messages ({reactor_io, Id, read | write}); a
     * connection's id, 0 for the others (an acceptor, a context's poller and
     * batch socket), -OsPid for Node's stderr FIFO */
    int id;
    ErlNifPid owner;    /* all: the process its select messages go to */
    ErlNifMonitor mon;  /* all: on the owner, whose death closes it */
    int monitored;      /* all */
    /* CONN, LISTENER, BATCH: shutdown(2) applies on close (but never to a
     * listener: it would stop every dup of the listening socket) */
    int is_socket;
    /* CONN, BATCH: the poller it is registered in (a reference kept), or NULL */
    struct rfd *poller;
    /* CONN: the id it is registered under there; fixed once registered, so
     * controlling_process/2 keeps it across a drain */
    unsigned reg_id;
    /* POLLER: its members by id, what Node's action batches name */
    members *members;
    /* POLLER: its batch socket's fd (a member: data POLL_BATCH), -1 until
     * attached or once gone */
    int batch_fd;
    /* POLLER: RECV_BATCHES action batches, read under its lock */
    uint32_t *rbuf;
    /* POLLER: the members sent to Node as ready that it has not answered
     * (members.h's `held') */
    unsigned held;
    /* POLLER: Node holds AWAIT_MIN_READY connections or more (cycle.c): it
     * is working, and pump/4 waits for its next answer alone */
    int awaiting;
    /* POLLER: how long (ms) a member lingers at most, the most bytes it
     * drops (0: no bound but the time), the buffer it drops them through,
     * and how many members are the BEAM's alone (sole) */
    unsigned linger_timeout;
    uint64_t linger_max;
    unsigned char *scratch;
    unsigned nlinger;
    /* POLLER: an epoll set holding the batch socket alone, what pump/4 waits
     * on while awaiting (not the socket itself: a socket wakes its waiter as
     * a sync wake-up, which queues it behind Node's thread), or -1 */
    int await_fd;
} rfd;

/* A poller's epoll data: a connection's id; POLL_BATCH for the batch socket. */
#define POLL_BATCH (1ULL << 33)
/* A connection's events in the poller, from its first arming to its close:
 * what it waits for is its member's state (members.h). EPOLLOUT is in the
 * mask only from a write_pending to the next read_pending that polls the fd
 * afresh: room that frees up while it reads would only wake the poller. */
#define POLL_EVENTS(write) (EPOLLIN | EPOLLRDHUP | EPOLLET | ((write) ? EPOLLOUT : 0))

/* Member m of poller p waits for room (write) or bytes, its readiness taken
 * afresh: `op' (EPOLL_CTL_ADD, or MOD) queues an event at once when the fd
 * is ready already. 0, or the errno. Called with p's lock held. */
static inline int poller_arm(rfd *p, member *m, int op, int write) {
    struct epoll_event ev = {.events = POLL_EVENTS(write), .data.u64 = m->id};
    m->armed = write ? ARMED_WRITE : ARMED_READ;
    m->seen = 0;
    m->out = (unsigned char)write;
    return epoll_ctl(p->fd, op, m->fd, &ev) < 0 ? errno : 0;
}
/* A lingering member's drop buffer, and the reads one readiness takes
 * before the member is polled afresh (a flood waits for the next turn). */
#define LINGER_CHUNK 65536
#define LINGER_READS 16
static inline int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Member m of poller p lingers from now (Node's copy is closed): the poller
 * reads and drops for it until the peer's end, p->linger_max bytes or its
 * deadline. Called with p's lock held. */
static inline void poller_linger(rfd *p, member *m) {
    if (!m->sole) p->nlinger++;
    m->sole = 1;
    m->armed = ARMED_LINGER;
    m->dropped = 0;
    m->deadline = monotonic_ms() + p->linger_timeout;
}

/* Events one epoll_wait takes, so connections per ready batch. */
#define POLL_MAX REACTOR_READY_MAX
/* Action batches one recvmmsg takes (into the poller's rbuf). */
#define RECV_BATCHES 8

extern ErlNifResourceType *rfd_type;

#define REACTOR_ATOMS(X)                                                              \
    X(ok) X(error) X(undefined) X(true) X(closed) X(eof) X(read) X(write)             \
    X(reactor_io) X(socket) X(fifo) X(chr) X(reg) X(dir) X(other) X(not_pollable)     \
    X(eagain) X(read_pending) X(write_pending) X(close) X(ack) X(invalid)             \
    X(poll_failed) X(bad_batch) X(size) X(id) X(busy) X(idle) X(linger) X(lingering) X(none)  \
    X(batch) X(normal)
#define X(a) extern ERL_NIF_TERM am_##a;
REACTOR_ATOMS(X)
#undef X

/* reactor_nif.c */
ERL_NIF_TERM errno_term(ErlNifEnv *env, int e);
ERL_NIF_TERM error_errno(ErlNifEnv *env, int e);
ERL_NIF_TERM error_closed(ErlNifEnv *env);
int get_fd(ErlNifEnv *env, ERL_NIF_TERM t, int *fd);

/* fd.c */
void rfd_stop(ErlNifEnv *env, void *obj, ErlNifEvent event, int is_direct_call);
void rfd_down(ErlNifEnv *env, void *obj, ErlNifPid *pid, ErlNifMonitor *mon);
void rfd_dtor(ErlNifEnv *env, void *obj);
rfd *rfd_new(ErlNifEnv *env, rfd_role role, int fd, int id);
ERL_NIF_TERM ok_resource(ErlNifEnv *env, rfd *r);

/* Closing or closed: nothing may use its fd. Called with its lock held. */
static inline int rfd_gone(const rfd *r) {
    return r->state == FD_CLOSING || r->state == FD_CLOSED;
}

#define NIF(name) ERL_NIF_TERM name(ErlNifEnv *env, int argc, const ERL_NIF_TERM argv[])
NIF(nif_open);
NIF(nif_controlling_process);
NIF(nif_select);
NIF(nif_close);
NIF(nif_fd);
NIF(nif_read);
/* control.c */
NIF(nif_fd_info);
NIF(nif_dup);
NIF(nif_close_fd);
NIF(nif_accept);
NIF(nif_open_fifo);
/* poller.c */
NIF(nif_batch_pair);
NIF(nif_poller);
NIF(nif_arm);
NIF(nif_send_batch);
NIF(nif_linger_expired);
NIF(nif_lingering);
NIF(nif_unanswered);
/* cycle.c */
NIF(nif_cycle);
NIF(nif_pump);

#endif
