/* server/http/guard.c: bounds the request bodies clients make the server hold before any
 * handler runs. Loop thread only.
 *
 * h2o 2.2.5 buffers a request's whole body before it calls the handler (no streaming before
 * 2.3): an anonymous HTTP/2 connection could make it hold 100 streams × the largest route
 * limit, and many connections from one address many times that. There is no hook between a
 * request's headers and its body, so a timer on each loop looks every GUARD_SCAN_MS at the
 * bodies still arriving (h2o's protocol callbacks `foreach_request`; the stream fields are in
 * h2o/http2_internal.h) and
 * - refuses a stream whose body passed http.unauthenticated_body_kb while its bearer token does
 *   not verify, on a route that needs one (HTTP/2: RST_STREAM CANCEL; HTTP/1.1: the connection
 *   is closed): an upload with a bad token costs at most that much, never 20 MiB;
 * - closes a connection holding more than http.body_buffer_per_conn_mb of bodies not yet
 *   handed to a handler, and, per source address (IPv6 by /64; not for trusted proxies, whose
 *   clients are the proxy's business), the connections holding the most until the address is
 *   under http.body_buffer_per_address_mb (each loop sees only its own connections, so each
 *   holds an address to its share: the cap divided by the number of loops).
 * Between two scans a client can add at most what its link carries in GUARD_SCAN_MS. Each
 * refusal is logged once and counted (cityd_http_body_refusals_total{reason}). */
#include "http_int.h"

#include <h2o/http2.h>
#include <h2o/http2_internal.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/roles.h"

/* The structures read here are h2o 2.2.5's (Debian 12); another version must be checked. */
_Static_assert(H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2 && H2O_VERSION_PATCH == 5,
               "guard.c reads h2o 2.2.5's HTTP/2 stream structures");

#define GUARD_SCAN_MS 50
#define GUARD_ACTIONS_MAX 256 /* refusals per scan; the rest wait for the next one */

/* What one scan found of one connection. */
struct held {
    h2o_conn_t *conn;
    int fd;
    bool h2, trusted;
    unsigned char addr[17]; /* family tag, then IPv4 or the /64 of IPv6, zero-padded */
    size_t bytes;           /* bodies not yet handed to a handler */
};

struct refusal {
    h2o_conn_t *conn;
    h2o_http2_stream_t *stream; /* NULL: close the connection */
    uint32_t stream_id;
    const char *reason;
};

struct http_guard {
    struct http_loop *l;
    bool h2;
    struct held *v;
    size_t n, cap;
    struct refusal act[GUARD_ACTIONS_MAX];
    size_t nact;
};

static struct held *held_of(struct http_guard *s, h2o_conn_t *conn)
{
    struct sockaddr_storage ss;
    h2o_socket_t *sock = conn->callbacks->get_socket ? conn->callbacks->get_socket(conn) : NULL;
    struct held *h;

    /* Streams of one connection come one after another (and an HTTP/1.1 one has one). */
    if (s->n && s->v[s->n - 1].conn == conn)
        return &s->v[s->n - 1];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct held *grown = realloc(s->v, cap * sizeof *grown);
        if (!grown)
            return NULL;
        s->v = grown;
        s->cap = cap;
    }
    h = &s->v[s->n++];
    memset(h, 0, sizeof *h);
    h->conn = conn;
    h->h2 = s->h2;
    h->fd = sock ? h2o_socket_get_fd(sock) : -1;
    if (conn->callbacks->get_peername(conn, (struct sockaddr *)&ss) > 0) {
        const struct http_global *g = s->l->g;
        const unsigned char *a = NULL;
        int family = ss.ss_family;

        if (family == AF_INET)
            a = (const unsigned char *)&((struct sockaddr_in *)&ss)->sin_addr;
        else if (family == AF_INET6) {
            a = (const unsigned char *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
            if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
                a += 12;
                family = AF_INET;
            }
        }
        if (a) {
            h->addr[0] = family == AF_INET ? 4 : 6;
            memcpy(h->addr + 1, a, family == AF_INET ? 4 : 8);
            h->trusted = g->ntrusted > 0 &&
                         cidr_match(g->trusted, g->ntrusted, ss.ss_family,
                                    ss.ss_family == AF_INET
                                        ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                                        : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr);
        }
    }
    return h;
}

/* Refusals are carried out after the walk over h2o's streams (a reset changes the table the
 * walk is on); until then nothing frees a stream or a connection. */
static void refuse(struct http_guard *s, h2o_conn_t *conn, h2o_http2_stream_t *st,
                   const char *reason)
{
    for (size_t i = 0; i < s->nact; i++)
        if (s->act[i].conn == conn && !s->act[i].stream)
            return; /* the connection goes anyway */
    if (s->nact < GUARD_ACTIONS_MAX)
        s->act[s->nact++] = (struct refusal){conn, st, st ? st->stream_id : 0, reason};
}

/* Whether a request whose body is still arriving would be refused for its token: a route that
 * needs one, and no bearer token that verifies (signature and claims; no database). */
static bool token_fails(struct http_loop *l, h2o_req_t *req)
{
    const struct http_config *hc = l->g->hc;
    /* The request is not processed yet: only its input fields are set. */
    const h2o_iovec_t *method = &req->input.method, *path = &req->input.path;
    const char *q;
    size_t plen;
    struct route_match m;
    char allow[96], why[160];
    struct actor who;
    ssize_t ai;
    const h2o_iovec_t *v;

    if (!method->base || !method->len || !path->base || !path->len)
        return false;
    q = memchr(path->base, '?', path->len);
    plen = q ? (size_t)(q - path->base) : path->len;
    if (router_match(hc->router, method->base, method->len, path->base, plen, &m, allow,
                     sizeof allow) != ERR_OK)
        return false; /* the router answers it (404/405) once it arrives: no token to check */
    if (m.route->roles == ROLE_PUBLIC)
        return false;
    ai = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (ai < 0)
        return true;
    v = &req->headers.entries[ai].value;
    if (v->len < 8 || strncasecmp(v->base, "Bearer ", 7) != 0 || !hc->authenticate)
        return true;
    return hc->authenticate(v->base + 7, v->len - 7, &who, why, sizeof why) != ERR_OK;
}

static int scan_h2(h2o_req_t *req, void *arg)
{
    struct http_guard *s = arg;
    h2o_http2_stream_t *st = H2O_STRUCT_FROM_MEMBER(h2o_http2_stream_t, req, req);
    struct held *h;
    size_t bytes;

    if (st->state != H2O_HTTP2_STREAM_STATE_RECV_BODY || !st->_req_body)
        return 0;
    bytes = st->_req_body->size;
    h = held_of(s, req->conn);
    if (!h)
        return 0;
    h->bytes += bytes;
    if (bytes > (size_t)s->l->g->hc->cfg->http_unauthenticated_body_kb * 1024 &&
        token_fails(s->l, req))
        refuse(s, req->conn, st, "unauthenticated");
    return 0;
}

static int scan_h1(h2o_req_t *req, void *arg)
{
    struct http_guard *s = arg;
    h2o_socket_t *sock =
        req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    int fd = sock ? h2o_socket_get_fd(sock) : -1;
    struct conn_state *cs =
        fd >= 0 && (size_t)fd < s->l->nconns && s->l->conns[fd].gen ? &s->l->conns[fd] : NULL;
    struct held *h;

    /* The body of an HTTP/1.1 request is its socket's input until the request is done; while
     * a job of the connection runs, the body was handed over. */
    if (!sock || !sock->input || sock->input->size == 0 || (cs && cs->inflight))
        return 0;
    h = held_of(s, req->conn);
    if (!h)
        return 0;
    h->bytes += sock->input->size;
    if (sock->input->size > (size_t)s->l->g->hc->cfg->http_unauthenticated_body_kb * 1024 &&
        token_fails(s->l, req))
        refuse(s, req->conn, NULL, "unauthenticated");
    return 0;
}

static int by_addr_then_bytes(const void *a, const void *b)
{
    const struct held *x = a, *y = b;
    int c = memcmp(x->addr, y->addr, sizeof x->addr);

    if (c)
        return c;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0; /* biggest first */
}

static void act(struct http_guard *s)
{
    for (size_t i = 0; i < s->nact; i++) {
        struct refusal *r = &s->act[i];
        char lb[48];
        h2o_socket_t *sock =
            r->conn->callbacks->get_socket ? r->conn->callbacks->get_socket(r->conn) : NULL;

        metrics_labels(lb, sizeof lb, "reason", r->reason, (const char *)NULL);
        metrics_inc(metrics_counter("cityd_http_body_refusals_total",
                                    "Request bodies refused while still arriving, by reason.", lb));
        if (r->stream) {
            h2o_http2_conn_t *c = (h2o_http2_conn_t *)r->conn;
            h2o_http2_stream_t *st = r->stream;
            if (c->state >= H2O_HTTP2_CONN_STATE_IS_CLOSING)
                continue;
            log_warn(NULL, "http: stream %u refused: its body arrives with a token that fails",
                     r->stream_id);
            h2o_http2_encode_rst_stream_frame(&c->_write.buf, r->stream_id,
                                              -H2O_HTTP2_ERROR_CANCEL);
            h2o_http2_conn_request_write(c);
            h2o_http2_stream_reset(c, st);
        } else if (sock && h2o_socket_get_fd(sock) >= 0) {
            log_warn(NULL, "http: connection closed: %s",
                     !strcmp(r->reason, "unauthenticated")
                         ? "a request body arrives with a token that fails"
                     : !strcmp(r->reason, "connection")
                         ? "more request bodies buffered than http.body_buffer_per_conn_mb"
                         : "its address buffers more than http.body_buffer_per_address_mb");
            shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
        }
    }
}

static void on_scan(uv_timer_t *t)
{
    struct http_loop *l = t->data;
    const struct cfg *c = l->g->hc->cfg;
    size_t conn_max = (size_t)c->http_body_buffer_per_conn_mb << 20;
    /* Each loop sees its own connections: it holds an address to its share of the cap. */
    size_t addr_max = ((size_t)c->http_body_buffer_per_address_mb << 20) /
                      (size_t)(l->g->hc->loops > 0 ? l->g->hc->loops : 1);
    struct http_guard *s = l->guard;

    http__conn_watch_h2(l); /* conn.c: new HTTP/2 connections under the control-frame budget */
    s->l = l;
    s->n = 0;
    s->nact = 0;
    s->h2 = true;
    l->g->conf.http2.callbacks.foreach_request(&l->ctx, scan_h2, s);
    s->h2 = false;
    l->g->conf.http1.callbacks.foreach_request(&l->ctx, scan_h1, s);
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].bytes > conn_max)
            refuse(s, s->v[i].conn, NULL, "connection");
    if (s->n > 1)
        qsort(s->v, s->n, sizeof *s->v, by_addr_then_bytes);
    for (size_t i = 0, j; i < s->n; i = j) {
        size_t sum = 0;
        for (j = i; j < s->n && !memcmp(s->v[j].addr, s->v[i].addr, sizeof s->v[i].addr); j++)
            sum += s->v[j].bytes;
        /* Close the biggest holders until the address is under its cap. */
        for (size_t k = i; k < j && sum > addr_max; k++) {
            if (s->v[k].trusted)
                break;
            refuse(s, s->v[k].conn, NULL, "address");
            sum -= s->v[k].bytes;
        }
    }
    act(s);
}

int http__guard_start(struct http_loop *l)
{
    l->guard = calloc(1, sizeof *l->guard);
    if (!l->guard)
        return -1;
    uv_timer_init(l->uv, &l->guard_timer);
    l->guard_timer.data = l;
    uv_timer_start(&l->guard_timer, on_scan, GUARD_SCAN_MS, GUARD_SCAN_MS);
    uv_unref((uv_handle_t *)&l->guard_timer);
    l->guard_on = true;
    return 0;
}

void http__guard_stop(struct http_loop *l)
{
    if (l->guard_on) {
        uv_timer_stop(&l->guard_timer);
        uv_close((uv_handle_t *)&l->guard_timer, NULL);
        l->guard_on = false;
    }
}

void http__guard_free(struct http_loop *l)
{
    if (l->guard)
        free(l->guard->v);
    free(l->guard);
    l->guard = NULL;
}
