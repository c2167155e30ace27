/* c_server: a small epoll server, the practical limit of this machine.
 * Port 0 picks a free one; it prints "READY port=N" once it listens.
 *   c_server echo PORT   echoes every byte
 *   c_server http PORT   answers every request (up to "\r\n\r\n") with a fixed
 *                        keep-alive response, like examples/http.ts's GET /
 * One thread per CPU, each with its own SO_REUSEPORT listener and epoll set
 * (the kernel spreads connections); level-triggered; a batch of events is
 * read first and answered after, as Node's event loop does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 35\r\n"
    "Connection: keep-alive\r\n\r\nHello from TypeScript on the BEAM!\n";

typedef struct {
    int fd;
    unsigned events; /* what epoll watches now: changed only when it must */
    char *in;
    size_t in_len;
    char *out;
    size_t out_len, out_cap;
} conn;

static int http_mode;

static void queue(conn *c, const char *p, size_t n) {
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = realloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static int flush_out(conn *c) {
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t n = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) break;
            return -1;
        }
        off += (size_t)n;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    return 0;
}

static void drop(int ep, conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static int listener(int port) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) {
        perror("listen");
        exit(1);
    }
    return lfd;
}

static void *serve(void *arg) {
    int lfd = (int)(intptr_t)arg, one = 1;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    nc->in = malloc(BUF);
                    nc->events = EPOLLIN;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = recv(c->fd, c->in + c->in_len, BUF - c->in_len, 0);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN) continue;
                    drop(ep, c);
                    evs[i].data.ptr = NULL;
                    continue;
                }
                if (!http_mode) {
                    queue(c, c->in, (size_t)r);
                } else {
                    c->in_len += (size_t)r;
                    char *p = c->in, *end;
                    size_t left = c->in_len;
                    while ((end = memmem(p, left, "\r\n\r\n", 4))) {
                        queue(c, RESPONSE, sizeof RESPONSE - 1);
                        left -= (size_t)(end + 4 - p);
                        p = end + 4;
                    }
                    memmove(c->in, p, left);
                    c->in_len = left;
                }
            }
        }
        /* answers go out after the whole batch is read, as Node's event loop
         * does: fewer, fuller segments for the peer to take */
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) continue;
            if (c->out_len && flush_out(c) < 0) {
                drop(ep, c);
                continue;
            }
            unsigned want = c->out_len ? EPOLLOUT : EPOLLIN;
            if (want != c->events) {
                struct epoll_event e = {.events = want, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                c->events = want;
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: c_server echo|http PORT\n");
        return 2;
    }
    http_mode = strcmp(argv[1], "http") == 0;
    const char *env = getenv("C_SERVER_THREADS");
    int threads = env ? atoi(env) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    int first = listener(atoi(argv[2]));
    struct sockaddr_in sa;
    socklen_t salen = sizeof sa;
    getsockname(first, (struct sockaddr *)&sa, &salen);
    int port = ntohs(sa.sin_port);
    pthread_t t;
    for (int i = 1; i < threads; i++) pthread_create(&t, NULL, serve, (void *)(intptr_t)listener(port));
    printf("READY port=%d\n", port);
    fflush(stdout);
    serve((void *)(intptr_t)first);
    return 0;
}
