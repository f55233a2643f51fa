/* proxy.c - see proxy.h. One thread accepts; one thread per connection copies both ways. */
#include "proxy.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define PROXY_MAX_CONNS 256
#define PROXY_POLL_MS 100 /* how often a thread looks at the stop flag */

struct proxy_conn {
    struct ts_proxy *p;
    int client, upstream;
    pthread_t thread;
    bool started;
};

struct ts_proxy {
    int listen_fd;
    unsigned short port, upstream_port;
    atomic_int mode;
    atomic_int dropped;
    atomic_bool stop;
    pthread_t acceptor;
    pthread_mutex_t lock; /* conns, nconns */
    struct proxy_conn *conns[PROXY_MAX_CONNS];
    int nconns;
};

static int connect_upstream(unsigned short port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Writes all of @buf; false when the peer is gone. */
static bool write_all(int fd, const char *buf, ssize_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w;
        n -= w;
    }
    return true;
}

static void *conn_main(void *arg)
{
    struct proxy_conn *c = arg;
    struct ts_proxy *p = c->p;
    char buf[16384];

    while (!atomic_load(&p->stop)) {
        struct pollfd fds[2] = {{.fd = c->client, .events = POLLIN},
                                {.fd = c->upstream, .events = POLLIN}};
        int r = poll(fds, 2, PROXY_POLL_MS);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (fds[0].revents) {
            ssize_t n = recv(c->client, buf, sizeof(buf), 0);

            if (n <= 0 || !write_all(c->upstream, buf, n))
                break;
        }
        if (fds[1].revents) {
            ssize_t n = recv(c->upstream, buf, sizeof(buf), 0);

            if (n <= 0)
                break;
            if (atomic_load(&p->mode) == TS_PROXY_DROP_RESPONSES) {
                /* the upstream did the work; the caller never hears of it */
                atomic_fetch_add(&p->dropped, 1);
                break;
            }
            if (!write_all(c->client, buf, n))
                break;
        }
    }
    shutdown(c->client, SHUT_RDWR);
    shutdown(c->upstream, SHUT_RDWR);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct ts_proxy *p = arg;

    while (!atomic_load(&p->stop)) {
        struct pollfd pfd = {.fd = p->listen_fd, .events = POLLIN};
        struct proxy_conn *c;
        int fd, up;

        if (poll(&pfd, 1, PROXY_POLL_MS) <= 0)
            continue;
        fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        up = connect_upstream(p->upstream_port);
        c = up >= 0 ? calloc(1, sizeof(*c)) : NULL;
        pthread_mutex_lock(&p->lock);
        if (!c || p->nconns == PROXY_MAX_CONNS) {
            pthread_mutex_unlock(&p->lock);
            /* no upstream (or no room): the client sees its connection closed */
            close(fd);
            if (up >= 0)
                close(up);
            free(c);
            continue;
        }
        c->p = p;
        c->client = fd;
        c->upstream = up;
        c->started = pthread_create(&c->thread, NULL, conn_main, c) == 0;
        p->conns[p->nconns++] = c;
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

struct ts_proxy *ts_proxy_start(unsigned short upstream_port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    struct ts_proxy *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->upstream_port = upstream_port;
    pthread_mutex_init(&p->lock, NULL);
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(p->listen_fd, 64) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&sa, &len) != 0) {
        fprintf(stderr, "proxy: cannot listen: %s\n", strerror(errno));
        goto bad;
    }
    p->port = ntohs(sa.sin_port);
    if (pthread_create(&p->acceptor, NULL, accept_main, p) != 0) {
        fprintf(stderr, "proxy: cannot start its thread\n");
        goto bad;
    }
    return p;
bad:
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return NULL;
}

unsigned short ts_proxy_port(const struct ts_proxy *p)
{
    return p->port;
}

void ts_proxy_set_mode(struct ts_proxy *p, enum ts_proxy_mode mode)
{
    atomic_store(&p->mode, (int)mode);
}

int ts_proxy_dropped(struct ts_proxy *p)
{
    return atomic_load(&p->dropped);
}

void ts_proxy_stop(struct ts_proxy *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    pthread_join(p->acceptor, NULL);
    close(p->listen_fd);
    for (int i = 0; i < p->nconns; i++) {
        struct proxy_conn *c = p->conns[i];

        if (c->started)
            pthread_join(c->thread, NULL);
        close(c->client);
        close(c->upstream);
        free(c);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}
