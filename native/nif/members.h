/* A poller's members: connection id -> fd and poll state, what Node's action
 * batches name. Open addressing, linear probing, backward-shift deletion; ids
 * are never 0 (0 marks a free slot). Guarded by the poller's lock. Inline:
 * cycle.c looks an id up per event and per action, on the hot path. */
#ifndef REACTOR_NIF_MEMBERS_H
#define REACTOR_NIF_MEMBERS_H

#include <erl_nif.h>
#include <stdint.h>
#include <string.h>

/* A member's fd sits in the epoll set edge-triggered (EPOLLIN | EPOLLOUT |
 * EPOLLET) from its first arming to its close, so an answer from Node costs
 * no epoll_ctl. What one-shot arming gave, these bits keep:
 *   armed  what Node waits for: ARMED_READ, ARMED_WRITE, or 0 while the
 *          connection is Node's (sent as ready, not answered yet);
 *          ARMED_LINGER: nothing, Node is done with it (REACTOR_ACTION_LINGER):
 *          the poller reads and drops what comes until the peer's end;
 *   seen   readiness harvested from the set and not yet sent to Node as that
 *          kind of event: SEEN_IN (bytes), SEEN_OUT (room), SEEN_END (the
 *          peer's FIN, a hang-up or an error: a state, not an edge, so it
 *          stays: a short read before the EOF does not drain it).
 * An edge that comes while the connection is Node's is kept in `seen' and
 * sent when Node answers; sending an event clears its kind of `seen'.
 *   held   it was sent to Node as ready and Node has not answered it yet
 *          (the poller's `held' counts these);
 *   out    EPOLLOUT is in its mask (POLL_EVENTS in reactor_nif.h);
 *   sole   the BEAM's copy is the fd's last (Node closed its own before it
 *          handed the linger over): its close takes it out of the set, and
 *          no EPOLL_CTL_DEL is needed;
 *   dropped  bytes a lingering connection has dropped;
 *   deadline when its linger ends at the latest (CLOCK_MONOTONIC ms). */
enum { ARMED_READ = 1, ARMED_WRITE = 2, ARMED_LINGER = 3 };
enum { SEEN_IN = 1, SEEN_OUT = 2, SEEN_END = 4 };

typedef struct {
    unsigned id;
    int fd;
    unsigned char armed, seen, held, out, sole;
    uint64_t dropped;
    int64_t deadline;
} member;
typedef struct members { member *slots; unsigned cap, used; } members;

static inline unsigned members_slot(const members *m, unsigned id) {
    return (id * 2654435761u) & (m->cap - 1);
}

static inline member *members_find(members *m, unsigned id) {
    if (!m || !m->cap || id == 0) return NULL;
    for (unsigned i = members_slot(m, id);; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].id == id) return &m->slots[i];
        if (m->slots[i].id == 0) return NULL;
    }
}

/* Into a table known to have room for it and not to hold it. */
static inline void members_place(members *m, unsigned id, int fd) {
    unsigned i = members_slot(m, id);
    while (m->slots[i].id) i = (i + 1) & (m->cap - 1);
    m->slots[i] = (member){id, fd, 0, 0, 0, 0, 0, 0, 0};
    m->used++;
}

static inline int members_grow(members *m) {
    unsigned cap = m->cap ? m->cap * 2 : 64;
    members bigger = {enif_alloc(sizeof(member) * cap), cap, 0};
    if (!bigger.slots) return 0;
    memset(bigger.slots, 0, sizeof(member) * cap);
    for (unsigned i = 0; i < m->cap; i++)
        if (m->slots[i].id) {
            members_place(&bigger, m->slots[i].id, m->slots[i].fd);
            *members_find(&bigger, m->slots[i].id) = m->slots[i];
        }
    if (m->slots) enif_free(m->slots);
    *m = bigger;
    return 1;
}

/* 0 when out of memory. */
static inline int members_put(members *m, unsigned id, int fd) {
    member *e = members_find(m, id);
    if (e) {
        e->fd = fd;
        return 1;
    }
    if ((m->used + 1) * 2 > m->cap && !members_grow(m)) return 0;
    members_place(m, id, fd);
    return 1;
}

static inline void members_del(members *m, unsigned id) {
    member *e = members_find(m, id);
    if (!e) return;
    unsigned i = (unsigned)(e - m->slots), j = i;
    /* backward shift: pull later entries of the probe run into the hole */
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->slots[j].id) break;
        unsigned home = members_slot(m, m->slots[j].id);
        if (((j - home) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].id = 0;
    m->used--;
}

static inline void members_free(members *m) {
    if (!m) return;
    if (m->slots) enif_free(m->slots);
    enif_free(m);
}

#endif
