/* loadgen: an epoll load generator that is not the bottleneck.
 *
 *   loadgen echo   HOST PORT CONNS DEPTH SIZE SECONDS
 *       each connection keeps DEPTH messages of SIZE bytes in flight against an
 *       echo server; a message is done when its SIZE bytes came back.
 *       (CONNS=1 DEPTH=1 is ping-pong: the cost of one event.)
 *   loadgen ws     HOST PORT CONNS DEPTH SIZE SECONDS
 *       the same against a WebSocket echo at /echo (examples/ws-chat): each
 *       connection does the opening handshake, then a message is one masked
 *       binary frame of SIZE bytes (at most 65535) out and its echo, one
 *       unmasked frame, back (RFC 6455 §5.2).
 *   loadgen stream HOST PORT CONNS 0 SIZE SECONDS
 *       each connection writes SIZE-byte chunks as fast as the server echoes them.
 *   loadgen sink   HOST PORT CONNS SIZE SECONDS
 *       CONNS connections, once all are connected, send one byte each (their
 *       subscribe), then only read: once each has had a byte (the server sends
 *       to all of them), the bytes they receive are counted; per_sec is bytes
 *       received per second / SIZE, the messages a fan-out delivered.
 *
 * Prints one JSON line: messages, seconds, per_sec, mb_per_sec, p50_us, p99_us.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_INFLIGHT_STREAM (4 << 20)

typedef struct {
    int fd;
    uint64_t *sent_at; /* ring of send times, DEPTH long (echo mode) */
    int head, count;
    size_t recv_partial; /* bytes of the oldest message already back */
    uint64_t out_bytes, in_bytes;
    size_t send_off; /* bytes of the current chunk already written */
} conn;

static int depth, size, stream_mode, ws_mode;
/* bytes of one message on the wire: out, and back (SIZE in echo mode; with
 * the frame headers and the mask in ws mode) */
static int out_size, in_size;
static char *payload, *rxbuf;
static uint64_t *lat;
static size_t nlat, caplat;
static uint64_t done_msgs, done_bytes;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void record(uint64_t us) {
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 20;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) abort();
    }
    lat[nlat++] = us;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Send until DEPTH are in flight (echo) or the socket is full (stream). */
static int pump(conn *c) {
    for (;;) {
        if (!stream_mode && c->count >= depth && c->send_off == 0) return 0;
        if (stream_mode && c->out_bytes - c->in_bytes >= MAX_INFLIGHT_STREAM) return 0;
        ssize_t n = send(c->fd, payload + c->send_off, (size_t)out_size - c->send_off, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        if (c->send_off == 0 && !stream_mode) {
            c->sent_at[(c->head + c->count) % depth] = now_us();
            c->count++;
        }
        c->send_off += (size_t)n;
        c->out_bytes += (uint64_t)n;
        if (c->send_off == (size_t)out_size) c->send_off = 0;
        else return 0; /* partial: the socket is full */
    }
}

static int drain(conn *c, int measuring) {
    for (;;) {
        ssize_t n = recv(c->fd, rxbuf, 1 << 20, 0);
        if (n == 0) return -1;
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->in_bytes += (uint64_t)n;
        if (measuring) done_bytes += (uint64_t)n;
        if (stream_mode) continue;
        size_t got = (size_t)n;
        while (got > 0 && c->count > 0) {
            size_t need = (size_t)in_size - c->recv_partial;
            if (got < need) {
                c->recv_partial += got;
                got = 0;
            } else {
                got -= need;
                c->recv_partial = 0;
                if (measuring) {
                    record(now_us() - c->sent_at[c->head]);
                    done_msgs++;
                }
                c->head = (c->head + 1) % depth;
                c->count--;
            }
        }
    }
}

/* ws: the opening handshake (RFC 6455 §4.1) on a blocking socket, with a
 * fixed key; only the answer's 101 status is checked. 0 on success. */
static int ws_handshake(int fd, const char *host, int port) {
    char req[512], res[2048];
    int n = snprintf(req, sizeof req,
                     "GET /echo HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     host, port);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) return -1;
    size_t got = 0;
    while (got < sizeof res - 1) {
        ssize_t r = recv(fd, res + got, sizeof res - 1 - got, 0);
        if (r <= 0) return -1;
        got += (size_t)r;
        res[got] = 0;
        if (strstr(res, "\r\n\r\n")) return strncmp(res, "HTTP/1.1 101 ", 13) == 0 ? 0 : -1;
    }
    return -1;
}

/* ws: one masked binary frame of `len` payload bytes into `out` (its header,
 * 2 or 4 bytes, the mask key, the payload masked); returns its length. */
static int ws_frame(char *out, const char *data, int len) {
    static const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
    int h = 0;
    out[h++] = (char)0x82; /* FIN, binary */
    if (len < 126) {
        out[h++] = (char)(0x80 | len);
    } else {
        out[h++] = (char)(0x80 | 126);
        out[h++] = (char)(len >> 8);
        out[h++] = (char)(len & 0xff);
    }
    memcpy(out + h, key, 4);
    h += 4;
    for (int i = 0; i < len; i++) out[h + i] = (char)(data[i] ^ key[i % 4]);
    return h + len;
}

static int dial(struct sockaddr_in *sa) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)sa, sizeof *sa) < 0) {
        perror("connect");
        exit(1);
    }
    ioctl(fd, FIONBIO, &one);
    return fd;
}

/* probe: one connection's ping-pong latency (64 B) while IDLE connections sit
 * open and TRICKLE connections each send one byte every 100 ms (their echoes
 * are read and dropped): what a quiet request costs on a busy server. */
static int probe(struct sockaddr_in *sa, int nidle, int ntrickle, double seconds) {
    int *idle = calloc((size_t)nidle + 1, sizeof(int)), *trickle = calloc((size_t)ntrickle + 1, sizeof(int));
    for (int i = 0; i < nidle; i++) idle[i] = dial(sa);
    for (int i = 0; i < ntrickle; i++) trickle[i] = dial(sa);
    int pfd = dial(sa);
    char msg[64], in[65536];
    memset(msg, 'p', sizeof msg);
    uint64_t start = now_us(), warm = start + (uint64_t)(seconds * 100000.0);
    uint64_t end = warm + (uint64_t)(seconds * 1000000.0), sent = 0, next_tick = start;
    size_t got = 0;
    int waiting = 0, next_trickle = 0, measuring = 0, errors = 0;
    uint64_t rounds = 0;
    for (;;) {
        uint64_t t = now_us();
        if (!measuring && t >= warm) measuring = 1, rounds = 0, nlat = 0;
        if (t >= end) break;
        /* 100 ms per round of trickles, spread over 1 ms ticks */
        if (t >= next_tick && ntrickle > 0) {
            int per_tick = (ntrickle + 99) / 100;
            for (int k = 0; k < per_tick; k++, next_trickle = (next_trickle + 1) % ntrickle)
                if (send(trickle[next_trickle], "t", 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN) errors++;
            next_tick = t + 1000;
            if (next_trickle < per_tick) /* a round done: drop the echoes */
                for (int i = 0; i < ntrickle; i++)
                    while (recv(trickle[i], in, sizeof in, 0) > 0) {}
        }
        if (!waiting) {
            if (send(pfd, msg, sizeof msg, MSG_NOSIGNAL) != (ssize_t)sizeof msg) errors++;
            sent = now_us(), got = 0, waiting = 1;
        }
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        if (poll(&p, 1, 1) > 0) {
            ssize_t n = recv(pfd, in, sizeof in, 0);
            if (n <= 0) return fprintf(stderr, "probe connection lost\n"), 1;
            got += (size_t)n;
            if (got >= sizeof msg) {
                if (measuring) record(now_us() - sent), rounds++;
                waiting = 0;
            }
        }
    }
    double secs = (double)(now_us() - warm) / 1e6;
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    uint64_t p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(nlat * 99) / 100] : 0;
    printf("{\"messages\":%llu,\"seconds\":%.3f,\"per_sec\":%.1f,\"mb_per_sec\":0,"
           "\"p50_us\":%llu,\"p99_us\":%llu,\"errors\":%d}\n",
           (unsigned long long)rounds, secs, (double)rounds / secs, (unsigned long long)p50,
           (unsigned long long)p99, errors);
    return 0;
}


/* sink: CONNS connections that read and count what a fan-out server sends. */
static int sink(struct sockaddr_in *sa, int nconns, int msg_size, double seconds) {
    int ep = epoll_create1(EPOLL_CLOEXEC), errors = 0, waiting = nconns;
    int *fds = calloc((size_t)nconns, sizeof *fds);
    char *had = calloc((size_t)nconns, 1), *in = malloc(1 << 20);
    for (int i = 0; i < nconns; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        fds[i] = dial(sa);
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    /* subscribe only now, and after a pause for the server to accept them all: plain
     * Node busy sending to the first members accepted the rest late (seconds) */
    usleep(500000);
    for (int i = 0; i < nconns; i++)
        if (send(fds[i], "s", 1, MSG_NOSIGNAL) != 1) errors++;
    /* once every connection has had a byte (or 10 s went by): warm up 10%, then measure */
    uint64_t give_up = now_us() + 10000000, warm = UINT64_MAX, end = UINT64_MAX, bytes = 0;
    struct epoll_event evs[256];
    for (int measuring = 0;;) {
        uint64_t t = now_us();
        if (warm == UINT64_MAX && (waiting == 0 || t >= give_up)) {
            if (waiting) errors++, fprintf(stderr, "sink: %d of %d connections had no byte in 10 s\n", waiting, nconns);
            warm = t + (uint64_t)(seconds * 100000.0), end = warm + (uint64_t)(seconds * 1000000.0);
        }
        if (!measuring && t >= warm) measuring = 1, bytes = 0;
        if (t >= end) break;
        int n = epoll_wait(ep, evs, 256, 10);
        for (int i = 0; i < n; i++) {
            uint32_t k = evs[i].data.u32;
            ssize_t r;
            uint64_t here = 0;
            while ((r = recv(fds[k], in, 1 << 20, 0)) > 0) here += (uint64_t)r;
            bytes += here;
            if (!had[k] && here > 0) had[k] = 1, waiting--;
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fds[k], NULL);
                errors++;
            }
        }
    }
    double secs = (double)(now_us() - warm) / 1e6, msgs = (double)bytes / msg_size;
    printf("{\"messages\":%.0f,\"seconds\":%.3f,\"per_sec\":%.1f,\"mb_per_sec\":%.2f,"
           "\"p50_us\":0,\"p99_us\":0,\"errors\":%d}\n",
           msgs, secs, msgs / secs, (double)bytes / secs / 1e6, errors);
    return 0;
}

int main(int argc, char **argv) {
    int is_probe = argc == 7 && strcmp(argv[1], "probe") == 0, is_sink = argc == 7 && strcmp(argv[1], "sink") == 0;
    if (is_probe || is_sink) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
        inet_pton(AF_INET, argv[2], &sa.sin_addr);
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) rl.rlim_cur = rl.rlim_max, setrlimit(RLIMIT_NOFILE, &rl);
        if (is_sink) return sink(&sa, atoi(argv[4]), atoi(argv[5]), atof(argv[6]));
        return probe(&sa, atoi(argv[4]), atoi(argv[5]), atof(argv[6]));
    }
    if (argc != 8) {
        fprintf(stderr, "usage: loadgen echo|stream|ws HOST PORT CONNS DEPTH SIZE SECONDS\n"
                        "       loadgen probe HOST PORT IDLE TRICKLE SECONDS\n"
                        "       loadgen sink HOST PORT CONNS SIZE SECONDS\n");
        return 2;
    }
    stream_mode = strcmp(argv[1], "stream") == 0;
    ws_mode = strcmp(argv[1], "ws") == 0;
    const char *host = argv[2];
    int port = atoi(argv[3]), nconns = atoi(argv[4]);
    depth = atoi(argv[5]);
    size = atoi(argv[6]);
    double seconds = atof(argv[7]);
    if (depth < 1) depth = 1;
    if (ws_mode && (size < 0 || size > 65535)) {
        fprintf(stderr, "loadgen ws: SIZE is at most 65535\n");
        return 2;
    }
    char *data = malloc((size_t)size + 1);
    for (int i = 0; i < size; i++) data[i] = (char)('a' + i % 26);
    out_size = in_size = size;
    payload = data;
    if (ws_mode) {
        payload = malloc((size_t)size + 8);
        out_size = ws_frame(payload, data, size);
        in_size = size + (size < 126 ? 2 : 4);
    }
    rxbuf = malloc(1 << 20);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    conn *conns = calloc((size_t)nconns, sizeof *conns);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    for (int i = 0; i < nconns; i++) {
        conn *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            perror("connect");
            return 1;
        }
        if (ws_mode && ws_handshake(c->fd, host, port) < 0) {
            fprintf(stderr, "loadgen ws: no 101 from %s:%d/echo\n", host, port);
            return 1;
        }
        int nb = 1;
        ioctl(c->fd, FIONBIO, &nb);
        c->sent_at = calloc((size_t)depth, sizeof(uint64_t));
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }

    /* warm up for 10% of the time, then measure */
    uint64_t start = now_us(), warm = start + (uint64_t)(seconds * 100000.0);
    uint64_t end = warm + (uint64_t)(seconds * 1000000.0);
    struct epoll_event evs[256];
    int measuring = 0, errors = 0;
    for (int i = 0; i < nconns; i++) pump(&conns[i]);
    for (;;) {
        uint64_t t = now_us();
        if (!measuring && t >= warm) measuring = 1, done_msgs = 0, done_bytes = 0, nlat = 0;
        if (t >= end) break;
        int n = epoll_wait(ep, evs, 256, 10);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            if (drain(c, measuring) < 0 || pump(c) < 0) {
                close(c->fd);
                c->fd = -1;
                errors++;
            }
        }
    }
    double secs = (double)(now_us() - warm) / 1e6;
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    uint64_t p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(nlat * 99) / 100] : 0;
    printf("{\"messages\":%llu,\"seconds\":%.3f,\"per_sec\":%.1f,\"mb_per_sec\":%.2f,"
           "\"p50_us\":%llu,\"p99_us\":%llu,\"errors\":%d}\n",
           (unsigned long long)done_msgs, secs, (double)done_msgs / secs,
           (double)done_bytes / secs / 1e6, (unsigned long long)p50, (unsigned long long)p99,
           errors);
    return 0;
}
