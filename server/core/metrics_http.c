/* server/core/metrics_http.c: the /metrics listener. See metrics_http.h. */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "cidr.h"
#include "log.h"
#include "metrics.h"

#define HEAD_MAX 4096
#define IO_TIMEOUT_S 2

struct metrics_http {
    int fd;
    int stop_pipe[2];
    int port;
    pthread_t tid;
    int nallow;
    struct cidr allow[CIDR_LIST_MAX];
    struct metrics_series *scrapes, *denied;
};

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    char *end;
    long port;
    size_t hl;

    if (!colon)
        return -1;
    hl = (size_t)(colon - s);
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons((uint16_t)port);
            *len = sizeof *a4;
        } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
            a6->sin6_family = AF_INET6;
            a6->sin6_port = htons((uint16_t)port);
            *len = sizeof *a6;
        } else {
            return -1;
        }
    }
    return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* time-out or peer gone: nothing to do but close */
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int status, const char *reason, const char *ctype, const char *body,
                    size_t len, bool head_only)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, reason, ctype, len);
    write_all(fd, head, (size_t)n);
    if (!head_only)
        write_all(fd, body, len);
}

static void serve_one(struct metrics_http *m, int fd, const struct sockaddr_storage *peer)
{
    char head[HEAD_MAX + 1];
    size_t got = 0;
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    const unsigned char *addr;
    bool head_only;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    addr = peer->ss_family == AF_INET
               ? (const unsigned char *)&((const struct sockaddr_in *)peer)->sin_addr
               : (const unsigned char *)&((const struct sockaddr_in6 *)peer)->sin6_addr;
    if (m->nallow && !cidr_match(m->allow, m->nallow, peer->ss_family, addr)) {
        metrics_inc(m->denied);
        respond(fd, 403, "Forbidden", "text/plain", "forbidden\n", 10, false);
        return;
    }
    /* The deadline is per read; a client trickling bytes is still bounded by HEAD_MAX reads. */
    while (got < HEAD_MAX) {
        ssize_t r = recv(fd, head + got, HEAD_MAX - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        got += (size_t)r;
        head[got] = '\0';
        if (strstr(head, "\r\n\r\n") || strstr(head, "\n\n"))
            break;
    }
    head[got] = '\0';
    if (!strstr(head, "\r\n\r\n") && !strstr(head, "\n\n")) {
        respond(fd, 431, "Request Header Fields Too Large", "text/plain", "too large\n", 10, false);
        return;
    }
    head_only = strncmp(head, "HEAD ", 5) == 0;
    if (strncmp(head, "GET ", 4) != 0 && !head_only) {
        respond(fd, 405, "Method Not Allowed", "text/plain", "GET only\n", 9, false);
        return;
    }
    {
        const char *path = head + (head_only ? 5 : 4);
        size_t plen = strcspn(path, " ?\r\n");
        if (plen != 8 || memcmp(path, "/metrics", 8) != 0) {
            respond(fd, 404, "Not Found", "text/plain", "not found; try /metrics\n", 24, head_only);
            return;
        }
    }
    {
        size_t len = 0;
        char *body;

        metrics_inc(m->scrapes);
        body = metrics_render(&len);
        if (!body) {
            respond(fd, 503, "Service Unavailable", "text/plain", "out of memory\n", 14, head_only);
            return;
        }
        respond(fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len, head_only);
        free(body);
    }
}

static void *thread_main(void *arg)
{
    struct metrics_http *m = arg;

    pthread_setname_np(pthread_self(), "metrics");
    for (;;) {
        struct pollfd pf[2] = {{.fd = m->fd, .events = POLLIN},
                               {.fd = m->stop_pipe[0], .events = POLLIN}};
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        int c;

        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error(NULL, "metrics listener: poll: %s", strerror(errno));
            break;
        }
        if (pf[1].revents)
            break;
        if (!(pf[0].revents & POLLIN))
            continue;
        c = accept4(m->fd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        serve_one(m, c, &peer);
        /* Half-close first so the client reads the whole answer before the reset of close. */
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

struct metrics_http *metrics_http_start(const char *where, const char *allow, char *errbuf,
                                        size_t errlen)
{
    struct metrics_http *m = calloc(1, sizeof *m);
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1;

    if (!m) {
        snprintf(errbuf, errlen, "metrics: out of memory");
        return NULL;
    }
    m->fd = -1;
    m->stop_pipe[0] = m->stop_pipe[1] = -1;
    m->nallow = cidr_parse_list(allow, m->allow, CIDR_LIST_MAX);
    if (m->nallow < 0) {
        snprintf(errbuf, errlen,
                 "metrics.allow: not a list of addresses or CIDR blocks (at most %d): %s",
                 CIDR_LIST_MAX, allow);
        goto fail;
    }
    if (parse_listen(where, &ss, &sl)) {
        snprintf(errbuf, errlen, "metrics.listen: expected host:port, got %s", where);
        goto fail;
    }
    m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(m->fd, (struct sockaddr *)&ss, sl) || listen(m->fd, 16)) {
        snprintf(errbuf, errlen, "metrics.listen: cannot listen on %s: %s", where, strerror(errno));
        goto fail;
    }
    sl = sizeof ss;
    getsockname(m->fd, (struct sockaddr *)&ss, &sl);
    m->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
    if (pipe2(m->stop_pipe, O_CLOEXEC)) {
        snprintf(errbuf, errlen, "metrics: pipe: %s", strerror(errno));
        goto fail;
    }
    m->scrapes = metrics_counter("cityd_metrics_scrapes_total", "Answers served by /metrics.", "");
    m->denied = metrics_counter("cityd_metrics_scrapes_denied_total",
                                "Connections to the metrics listener from peers not allowed.", "");
    if (pthread_create(&m->tid, NULL, thread_main, m) != 0) {
        snprintf(errbuf, errlen, "metrics: cannot start the listener thread");
        goto fail;
    }
    return m;
fail:
    if (m->fd >= 0)
        close(m->fd);
    if (m->stop_pipe[0] >= 0) {
        close(m->stop_pipe[0]);
        close(m->stop_pipe[1]);
    }
    free(m);
    return NULL;
}

int metrics_http_port(const struct metrics_http *m)
{
    return m->port;
}

void metrics_http_stop(struct metrics_http *m)
{
    char b = 1;

    if (!m)
        return;
    if (write(m->stop_pipe[1], &b, 1) != 1)
        log_error(NULL, "metrics listener: cannot signal the thread to stop");
    pthread_join(m->tid, NULL);
    close(m->fd);
    close(m->stop_pipe[0]);
    close(m->stop_pipe[1]);
    free(m);
}
