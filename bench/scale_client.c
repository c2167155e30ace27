/* scale_client: one of make bench-scale's client processes; it opens N idle
 * connections to an echo server and holds them.
 *
 *   scale_client HOST PORT SOURCE_ADDR N WINDOW
 *
 * Connections come from SOURCE_ADDR (127.0.0.x: each client process its own,
 * so that the ephemeral port range bounds each address, not the run), with
 * IP_BIND_ADDRESS_NO_PORT so the port is picked per 4-tuple at connect. A
 * connection counts once the server has echoed its first byte: it was
 * accepted, and (for the reactor) handed off to Node, which answered. At most
 * WINDOW connections are between connect() and that echo at once, so the
 * rate measured is the server's, not the listen backlog's overflow.
 *
 * Prints "CONNECTED n=N ms=T errors=E" once all N echoed (or nothing moved for
 * 10 s: n is then how many did, and "stalled=1" is added), then holds them,
 * reading commands on stdin:
 *   eof SECONDS   wait until every connection has seen its end (EOF or reset)
 *                 or SECONDS passed: "CLOSED n=K ms=T", T from the command to
 *                 the last end seen
 * and exits when stdin ends. Exit status 2 for bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define STALL_US 10000000u
#define STDIN_TAG UINT32_MAX

enum { CONNECTING, ECHOING, HELD, ENDED };

typedef struct { int fd, state; } conn;

static conn *conns;
static int ep, errors;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void watch(uint32_t i, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.u32 = i};
    if (epoll_ctl(ep, op, conns[i].fd, &ev) < 0) perror("epoll_ctl"), exit(1);
}

/* Starts connection i; 0 when the socket could not even be made. */
static int dial(uint32_t i, const struct sockaddr_in *dst, const struct sockaddr_in *src) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return perror("socket"), 0;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)src, sizeof *src) < 0 ||
        (connect(fd, (const struct sockaddr *)dst, sizeof *dst) < 0 && errno != EINPROGRESS)) {
        perror("connect");
        close(fd);
        return 0;
    }
    conns[i] = (conn){fd, CONNECTING};
    watch(i, EPOLLOUT, EPOLL_CTL_ADD);
    return 1;
}

/* An event on connection i; returns 1 when it has just been echoed. */
static int step(uint32_t i) {
    conn *c = &conns[i];
    char b[256];
    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err || send(c->fd, "h", 1, MSG_NOSIGNAL) != 1) goto ended;
        c->state = ECHOING;
        watch(i, EPOLLIN, EPOLL_CTL_MOD);
        return 0;
    }
    ssize_t n = recv(c->fd, b, sizeof b, 0);
    if (n > 0) {
        if (c->state != ECHOING) return 0; /* held: nothing else is sent */
        c->state = HELD;
        return 1;
    }
    if (n < 0 && errno == EAGAIN) return 0;
ended:
    if (c->state != HELD) errors++;
    c->state = ENDED;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: scale_client HOST PORT SOURCE_ADDR N WINDOW\n");
        return 2;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    struct sockaddr_in src = {.sin_family = AF_INET};
    int n = atoi(argv[4]), window = atoi(argv[5]);
    if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 || inet_pton(AF_INET, argv[3], &src.sin_addr) != 1 ||
        n < 1 || window < 1) {
        fprintf(stderr, "scale_client: bad HOST, SOURCE_ADDR, N or WINDOW\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) rl.rlim_cur = rl.rlim_max, setrlimit(RLIMIT_NOFILE, &rl);
    conns = calloc((size_t)n, sizeof *conns);
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = STDIN_TAG}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);

    /* connect phase: WINDOW at a time between connect() and the echo */
    uint64_t start = now_us(), moved = start;
    int started = 0, echoed = 0, pending = 0, stalled = 0;
    while (echoed + errors < n) {
        while (pending < window && started < n) {
            if (dial((uint32_t)started++, &dst, &src)) pending++;
            else errors++;
        }
        int k = epoll_wait(ep, evs, 256, 100);
        for (int j = 0; j < k; j++) {
            uint32_t i = evs[j].data.u32;
            if (i == STDIN_TAG) continue;
            int before = errors, got = step(i);
            if (got || errors > before) pending--, moved = now_us();
            echoed += got;
        }
        if (now_us() - moved > STALL_US) {
            stalled = 1;
            break;
        }
    }
    printf("CONNECTED n=%d ms=%.1f errors=%d%s\n", echoed, (double)(moved - start) / 1000.0, errors,
           stalled ? " stalled=1" : "");
    fflush(stdout);

    /* hold: commands on stdin; ends seen as they come */
    char line[128];
    size_t len = 0;
    int open = echoed;
    for (;;) {
        int k = epoll_wait(ep, evs, 256, -1);
        for (int j = 0; j < k; j++) {
            uint32_t i = evs[j].data.u32;
            if (i != STDIN_TAG) {
                int was = conns[i].state;
                step(i);
                if (was == HELD && conns[i].state == ENDED) open--;
                continue;
            }
            ssize_t r = read(0, line + len, sizeof line - 1 - len);
            if (r <= 0) return 0;
            len += (size_t)r;
            line[len] = 0;
            char *nl = strchr(line, '\n');
            if (!nl) continue;
            *nl = 0;
            double secs;
            if (sscanf(line, "eof %lf", &secs) == 1) {
                uint64_t t0 = now_us(), last = t0, until = t0 + (uint64_t)(secs * 1e6);
                int ended = 0, total = open;
                while (open > 0 && now_us() < until) {
                    int m = epoll_wait(ep, evs, 256, 100);
                    for (int q = 0; q < m; q++) {
                        uint32_t x = evs[q].data.u32;
                        if (x == STDIN_TAG) continue;
                        step(x);
                        if (conns[x].state == ENDED) open--, ended++, last = now_us();
                    }
                }
                printf("CLOSED n=%d of=%d ms=%.1f\n", ended, total, (double)(last - t0) / 1000.0);
                fflush(stdout);
            }
            len = 0;
        }
    }
}
