/* server/http/listen.c: listeners (HTTP/1.1, h2c, h2 over TLS), the shared h2o configuration,
 * each loop's h2o context, connection counting, and start-up/shutdown of a loop's engine. */
#include "http_int.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- addresses ---------------------------------------------------------------------------- */

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    long port;
    char *end;

    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        size_t hl = strlen(host);
        if (hl < 3 || host[hl - 1] != ']')
            return -1;
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        *len = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof host, "127.0.0.1");
        if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &a4->sin_addr) != 1)
            return -1;
        *len = sizeof *a4;
    }
    return 0;
}

/* ---- accepting and counting connections --------------------------------------------------- */

/* An accepted socket: h2o owns it from h2o_accept on and closes it through on_sock_closed, so
 * the loop counts its connections without reading h2o's private lists. */
struct http_sock {
    uv_tcp_t tcp;
    struct http_loop *loop;
    struct metrics_series *open; /* cityd_connections_open of its listener */
    int fd;
    uint64_t gen; /* its accounting state (conn.c); 0 = none */
};

static void on_sock_closed(uv_handle_t *h)
{
    struct http_sock *s = H2O_STRUCT_FROM_MEMBER(struct http_sock, tcp, (uv_tcp_t *)h);

    if (s->loop) {
        s->loop->socks--;
        if (s->open)
            metrics_gauge_add(s->open, -1);
        http__conn_closed(s->loop, s->fd, s->gen);
    }
    free(s);
}

/* Out of descriptors. libuv sheds waiting connections itself when accept() fails with
 * EMFILE/ENFILE (it closes a spare descriptor, accepts and closes them) — but only while its
 * spare is there: with several loops in one process another thread may take the freed slot,
 * and then libuv calls on_accept with the error and tries again at once, for ever. So on
 * such an error the loop's listener is closed and opened again LISTEN_PAUSE_MS later. With
 * http.accept = shared only the loop's dup of the shared socket is closed: the socket stays
 * open, connections keep queueing on it, and the other loops go on accepting them; with
 * reuseport the loop's own socket goes (the kernel resets what was queued on it) and the
 * other loops' listeners take new connections meanwhile. A loop also warns when an accepted
 * connection lands within 32 of the descriptor limit. At most one line a second per loop,
 * with the count since the last one (cityd_accept_errors_total counts the failures). */
#define LISTEN_PAUSE_MS 250

static void descriptors_short(struct http_loop *l, const char *what)
{
    uint64_t now = uv_now(l->uv);

    l->accept_errors++;
    if (l->accept_logged_ms && now - l->accept_logged_ms < 1000)
        return;
    log_warn(NULL,
             "http: accept: %s (%llu since the last such line); this loop stops accepting for "
             "%d ms at a time until descriptors are free: see LimitNOFILE / ulimit -n",
             what, (unsigned long long)l->accept_errors, LISTEN_PAUSE_MS);
    l->accept_errors = 0;
    l->accept_logged_ms = now;
}

/* Called for accepted descriptors from 64 up: a getrlimit per accept only then. */
static void check_descriptor(struct http_loop *l, int fd)
{
    struct rlimit rl;
    char what[96];

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        (rlim_t)fd + 32 < rl.rlim_cur)
        return;
    snprintf(what, sizeof what, "descriptor %d of a limit of %llu in use", fd,
             (unsigned long long)rl.rlim_cur);
    descriptors_short(l, what);
}

static void on_accept(uv_stream_t *listener, int status);

/* A socket bound to lis's address (SO_REUSEPORT when the loops have one each); -1 with
 * errbuf filled on failure. */
static int bound_socket(struct listener *lis, bool reuseport, char *errbuf, size_t errlen)
{
    struct sockaddr_storage *ss = lis->addr;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;

    if (fd < 0) {
        snprintf(errbuf, errlen, "http: socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    if (bind(fd, (const struct sockaddr *)ss, lis->addrlen) != 0) {
        snprintf(errbuf, errlen, "http.listen: cannot bind: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (((struct sockaddr_in *)ss)->sin_port == 0) {
        /* Port 0: take the kernel's choice so later loops (and reopening) bind the same port. */
        socklen_t l2 = lis->addrlen;
        getsockname(fd, (struct sockaddr *)ss, &l2);
    }
    return fd;
}

static int listen_on(struct listener *lis, char *errbuf, size_t errlen)
{
    int fd;

    if (lis->shared) {
        /* http.accept = shared: the first loop opens the socket, every loop listens on a dup
         * of it (its own descriptor in its own epoll set, the same accept queue). */
        if (*lis->shared < 0) {
            int s = bound_socket(lis, false, errbuf, errlen);
            if (s < 0)
                return -1;
            if (listen(s, 1024) != 0) {
                snprintf(errbuf, errlen, "http.listen: cannot listen: %s", strerror(errno));
                close(s);
                return -1;
            }
            *lis->shared = s;
        }
        fd = fcntl(*lis->shared, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(errbuf, errlen, "http: dup of the listening socket: %s", strerror(errno));
            return -1;
        }
    } else {
        fd = bound_socket(lis, true, errbuf, errlen);
        if (fd < 0)
            return -1;
    }
    uv_tcp_init(lis->loop->uv, &lis->tcp);
    lis->open = true; /* from here on the handle is the loop's: it must be closed */
    if (uv_tcp_open(&lis->tcp, fd) != 0) {
        close(fd); /* not the handle's yet */
        snprintf(errbuf, errlen, "http.listen: cannot listen");
        return -1;
    }
    if (uv_listen((uv_stream_t *)&lis->tcp, 1024, on_accept) != 0) {
        snprintf(errbuf, errlen, "http.listen: cannot listen");
        return -1;
    }
    return 0;
}

static void on_retry(uv_timer_t *t);

static void on_paused(uv_handle_t *h)
{
    struct listener *lis = H2O_STRUCT_FROM_MEMBER(struct listener, tcp, (uv_tcp_t *)h);

    lis->closing = false;
    if (!lis->loop->listeners_stopped)
        uv_timer_start(&lis->retry, on_retry, LISTEN_PAUSE_MS, 0);
}

/* Stop accepting on lis for a while: close its socket, open it again from the timer. */
static void pause_listener(struct listener *lis)
{
    if (!lis->open || lis->closing)
        return;
    lis->open = false;
    lis->closing = true;
    uv_close((uv_handle_t *)&lis->tcp, on_paused);
}

static void on_retry(uv_timer_t *t)
{
    struct listener *lis = t->data;
    char err[160];

    if (lis->loop->listeners_stopped || lis->open || lis->closing)
        return;
    if (listen_on(lis, err, sizeof err) == 0)
        return;
    descriptors_short(lis->loop, err);
    if (lis->open)
        pause_listener(lis); /* the handle exists: close it, then the timer runs again */
    else
        uv_timer_start(&lis->retry, on_retry, LISTEN_PAUSE_MS, 0);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct listener *lis = H2O_STRUCT_FROM_MEMBER(struct listener, tcp, (uv_tcp_t *)listener);
    struct http_sock *s;
    h2o_socket_t *sock;

    if (status != 0) {
        metrics_inc(lis->loop->g->accept_errors);
        descriptors_short(lis->loop, uv_strerror(status));
        if (status == UV_EMFILE || status == UV_ENFILE || status == UV_ENOBUFS ||
            status == UV_ENOMEM)
            pause_listener(lis);
        return;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return;
    uv_tcp_init(listener->loop, &s->tcp);
    if (uv_accept(listener, (uv_stream_t *)&s->tcp) != 0) {
        uv_close((uv_handle_t *)&s->tcp, on_sock_closed);
        return;
    }
    s->loop = lis->loop;
    s->loop->socks++;
    s->open = lis->open_conns;
    metrics_gauge_add(s->open, 1);
    metrics_inc(lis->accepted);
    s->fd = -1;
    if (uv_fileno((uv_handle_t *)&s->tcp, &s->fd) != 0 || !http__conn_open(s->loop, s->fd, &s->gen))
        s->gen = 0;
    if (s->fd >= 64)
        check_descriptor(s->loop, s->fd);
    uv_tcp_nodelay(&s->tcp, 1);
    sock = h2o_uv_socket_create((uv_stream_t *)&s->tcp, on_sock_closed);
    h2o_accept(lis->actx, sock);
}

/* Set lis up on loop l and open it. "http" carries HTTP/1.1 and h2c, "https" HTTP/1.1 and h2
 * over TLS; which version each request used is counted by cityd_http_version_requests_total. */
static int listener_start(struct http_loop *l, struct listener *lis, struct sockaddr_storage *ss,
                          socklen_t sl, int *shared, const char *protocol, char *errbuf,
                          size_t errlen)
{
    lis->loop = l;
    lis->addr = ss;
    lis->addrlen = sl;
    lis->shared = l->g->shared_accept ? shared : NULL;
    lis->open_conns =
        metrics_gauge("cityd_connections_open", "Open client connections by protocol.", protocol);
    lis->accepted = metrics_counter("cityd_connections_accepted_total",
                                    "Client connections accepted, by protocol.", protocol);
    uv_timer_init(l->uv, &lis->retry);
    lis->retry.data = lis;
    lis->retry_on = true;
    return listen_on(lis, errbuf, errlen);
}

static void listener_stop(struct listener *lis)
{
    if (lis->retry_on) {
        uv_timer_stop(&lis->retry);
        uv_close((uv_handle_t *)&lis->retry, NULL);
        lis->retry_on = false;
    }
    if (lis->open) {
        uv_close((uv_handle_t *)&lis->tcp, NULL);
        lis->open = false;
    }
    /* a listener closing for a pause finishes closing; on_paused sees listeners_stopped */
}

static void close_shared(struct http_global *g)
{
    if (g->lfd >= 0)
        close(g->lfd);
    if (g->tls_lfd >= 0)
        close(g->tls_lfd);
    g->lfd = g->tls_lfd = -1;
}

static void close_listeners(struct http_loop *l)
{
    l->listeners_stopped = true;
    listener_stop(&l->lis);
    listener_stop(&l->lis_tls);
    /* The last loop to stop closes the shared sockets: no connection queues for nobody. Loops
     * still listening keep them (they dup them again after a pause). */
    if (l->holds_shared) {
        l->holds_shared = false;
        if (atomic_fetch_sub(&l->g->holders, 1) == 1)
            close_shared(l->g);
    }
}

/* ---- global and per-loop setup ------------------------------------------------------------ */

struct http_global *http_global_new(const struct http_config *hc, char *errbuf, size_t errlen)
{
    struct http_global *g = calloc(1, sizeof *g);
    h2o_pathconf_t *pc;
    h2o_handler_t *h;
    const struct cfg *c = hc->cfg;

    if (!g) {
        snprintf(errbuf, errlen, "http: out of memory");
        return NULL;
    }
    g->hc = hc;
    g->shared_accept = strcmp(c->http_accept, "reuseport") != 0;
    g->lfd = g->tls_lfd = -1;
    http__readpark_init();
    http__hpack_init();
    http__recycle_init();
    if (parse_addr(c->http_listen, &g->addr, &g->addrlen)) {
        snprintf(errbuf, errlen, "config: http.listen: expected host:port, got \"%s\"",
                 c->http_listen);
        free(g);
        return NULL;
    }
    g->ntrusted = cidr_parse_list(c->http_trusted_proxies, g->trusted, CIDR_LIST_MAX);
    if (g->ntrusted < 0) {
        snprintf(errbuf, errlen,
                 "config: http.trusted_proxies: not a list of addresses or CIDR blocks: \"%s\"",
                 c->http_trusted_proxies);
        free(g);
        return NULL;
    }
    g->accept_errors =
        metrics_counter("cityd_accept_errors_total",
                        "Failed accepts of client connections (e.g. out of descriptors).", "");
    h2o_config_init(&g->conf);
    g->conf.server_name = h2o_iovec_init(H2O_STRLIT("cityd"));
    /* h2o's default is 1 GiB; nothing we route takes more than the largest route limit.
     * Bodies up to 1 MiB always reach the router, so a body over a route's own limit gets a
     * 413 in JSON rather than h2o's REFUSED_STREAM. */
    g->conf.max_request_entity_size =
        router_max_body(hc->router) > (1u << 20) ? router_max_body(hc->router) : (1u << 20);
    g->conf.http1.req_timeout = (uint64_t)c->http_body_timeout_ms;
    g->conf.http2.max_concurrent_requests_per_connection = 100;
    /* Big bodies spill to an unlinked temp file instead of anonymous memory. */
    h2o_socket_buffer_mmap_settings.threshold = 4u << 20;
    g->host = h2o_config_register_host(&g->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    pc = h2o_config_register_path(g->host, "/", 0);
    h = h2o_create_handler(pc, sizeof(*h));
    h->on_req = http__on_req;
    if (c->http_tls_cert[0]) {
        if (parse_addr(c->http_tls_listen[0] ? c->http_tls_listen : "127.0.0.1:8443", &g->tls_addr,
                       &g->tls_addrlen)) {
            snprintf(errbuf, errlen, "config: http.tls_listen: expected host:port");
            goto fail;
        }
        g->ssl = SSL_CTX_new(TLS_server_method());
        SSL_CTX_set_min_proto_version(g->ssl, TLS1_2_VERSION);
        SSL_CTX_set_options(g->ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
        if (SSL_CTX_use_certificate_chain_file(g->ssl, c->http_tls_cert) != 1) {
            snprintf(errbuf, errlen, "config: http.tls_cert: cannot load %s", c->http_tls_cert);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(g->ssl, c->http_tls_key, SSL_FILETYPE_PEM) != 1) {
            snprintf(errbuf, errlen, "config: http.tls_key: cannot load %s", c->http_tls_key);
            goto fail;
        }
        h2o_ssl_register_alpn_protocols(g->ssl, h2o_http2_alpn_protocols);
    }
    atomic_store(&g->port, -1);
    return g;
fail:
    if (g->ssl)
        SSL_CTX_free(g->ssl);
    h2o_config_dispose(&g->conf);
    free(g);
    return NULL;
}

void http_global_free(struct http_global *g)
{
    if (!g)
        return;
    close_shared(g);
    if (g->ssl)
        SSL_CTX_free(g->ssl);
    h2o_config_dispose(&g->conf);
    free(g);
}

int http_global_port(const struct http_global *g)
{
    return atomic_load(&g->port);
}

/* Release everything of l on its loop (which is not running, or is this thread's) and free
 * it. h2o_context_dispose runs the loop once, so the closed handles are gone before free. */
static void loop_release(struct http_loop *l)
{
    close_listeners(l);
    http__guard_stop(l);
    http__jobs_dispose(l);
    http__watchq_stop(l);
    h2o_multithread_unregister_receiver(l->ctx.queue, &l->receiver);
    h2o_context_dispose(&l->ctx);
    http__guard_free(l);
    free(l->conns);
    free(l);
}

struct http_loop *http_loop_new(struct http_global *g, uv_loop_t *loop, char *errbuf, size_t errlen)
{
    struct http_loop *l = calloc(1, sizeof *l);

    if (!l) {
        snprintf(errbuf, errlen, "http: out of memory");
        return NULL;
    }
    l->g = g;
    l->uv = loop;
    h2o_context_init(&l->ctx, loop, &g->conf);
    h2o_multithread_register_receiver(l->ctx.queue, &l->receiver, http__job_on_messages);
    l->actx.ctx = &l->ctx;
    l->actx.hosts = g->conf.hosts;
    l->actx_tls = l->actx;
    l->actx_tls.ssl_ctx = g->ssl;
    l->lis.actx = &l->actx;
    l->lis_tls.actx = &l->actx_tls;
    http__watchq_start(l); /* first: libuv runs the newest prepare handle first, this one last */
    http__jobs_init(l);
    if (http__guard_start(l)) {
        snprintf(errbuf, errlen, "http: out of memory");
        goto fail;
    }
    if (g->shared_accept) {
        l->holds_shared = true;
        atomic_fetch_add(&g->holders, 1);
    }
    if (listener_start(l, &l->lis, &g->addr, g->addrlen, &g->lfd, "protocol=\"http\"", errbuf,
                       errlen))
        goto fail;
    if (g->ssl && listener_start(l, &l->lis_tls, &g->tls_addr, g->tls_addrlen, &g->tls_lfd,
                                 "protocol=\"https\"", errbuf, errlen))
        goto fail;
    atomic_store(&g->port, ntohs(((struct sockaddr_in *)&g->addr)->sin_port));
    return l;
fail:
    /* A listener may already be open on the loop: close it before the memory goes. */
    loop_release(l);
    return NULL;
}

void http_loop_shutdown(struct http_loop *l)
{
    close_listeners(l);
    if (!l->shutdown_ms)
        l->shutdown_ms = uv_now(l->uv) + 1; /* never 0 */
    h2o_context_request_shutdown(&l->ctx);
}

bool http_loop_idle(struct http_loop *l)
{
    /* h2o's HTTP/2 shutdown re-sends GOAWAY after one second from its one_sec_timeout (and
     * waits graceful_shutdown_timeout more for stragglers); h2o_context_dispose asserts while
     * that timer is linked. With no connection left, it is unlinked once it has fired. */
    uint64_t grace = 1000 + 100 + l->g->conf.http2.graceful_shutdown_timeout;

    if (l->jobs != 0 || l->socks != 0)
        return false;
    return !l->shutdown_ms || uv_now(l->uv) >= l->shutdown_ms + grace;
}

void http_loop_free(struct http_loop *l, bool force)
{
    if (!l)
        return;
    if (force) {
        /* Connections are still open: h2o_context_dispose would assert. The process is about
         * to exit; leave the context as it is. */
        return;
    }
    loop_release(l);
}
