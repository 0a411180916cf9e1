/* server/http/conn.c: per-connection accounting — jobs in flight and requests abandoned by
 * the client (HTTP/2 rapid reset). Loop thread only.
 *
 * Every accepted socket has a state, indexed by its file descriptor (small, dense, unique
 * among open sockets) and stamped with a generation, so a descriptor reused by a new
 * connection never inherits or releases the old one's state: the state is made at accept and
 * released when h2o closes the socket, abusive or not. Abandoned requests count in a leaky
 * bucket: http.conn_reset_budget of them drain away every http.conn_reset_window_s, so an
 * honest app that cancels now and then over a long-lived connection is never cut, while a
 * flood fills the bucket in moments; past the budget the connection is shut down.
 *
 * HTTP/2 control frames get the same treatment: every PING and SETTINGS frame a client sends
 * makes the server queue an acknowledgement, and Debian's h2o 2.2.5 has no limit of its own
 * (the "ping flood" and "settings flood" of CVE-2019-9512/9515). Each HTTP/2 connection's frame
 * parser (h2o's `_read_expect`, h2o/http2_internal.h) is wrapped by one that counts those
 * frames in a leaky bucket of http.conn_control_frame_budget per http.conn_reset_window_s;
 * past it the connection ends with GOAWAY ENHANCE_YOUR_CALM through h2o's own error path. */
#include "http_int.h"

#include <h2o/http2.h>
#include <h2o/http2_internal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "server/core/log.h"
#include "server/core/metrics.h"

/* The structures read here are h2o 2.2.5's (Debian 12); another version must be checked. */
_Static_assert(H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2 && H2O_VERSION_PATCH == 5,
               "conn.c wraps h2o 2.2.5's HTTP/2 frame parser");

bool http__conn_open(struct http_loop *l, int fd, uint64_t *gen)
{
    struct conn_state *cs;

    if (fd < 0)
        return false;
    if ((size_t)fd >= l->nconns) {
        size_t n = l->nconns ? l->nconns : 256;
        struct conn_state *grown;

        while (n <= (size_t)fd)
            n *= 2;
        grown = realloc(l->conns, n * sizeof *grown);
        if (!grown)
            return false;
        memset(grown + l->nconns, 0, (n - l->nconns) * sizeof *grown);
        l->conns = grown;
        l->nconns = n;
    }
    cs = &l->conns[fd];
    memset(cs, 0, sizeof *cs);
    cs->gen = ++l->conn_gen;
    *gen = cs->gen;
    return true;
}

void http__conn_closed(struct http_loop *l, int fd, uint64_t gen)
{
    if (fd >= 0 && (size_t)fd < l->nconns && l->conns[fd].gen == gen)
        memset(&l->conns[fd], 0, sizeof l->conns[fd]);
}

struct conn_state *http__conn_find(struct http_loop *l, int fd, uint64_t gen)
{
    if (fd < 0 || (size_t)fd >= l->nconns || gen == 0 || l->conns[fd].gen != gen)
        return NULL;
    return &l->conns[fd];
}

struct conn_state *http__conn_of(struct http_loop *l, h2o_req_t *req, int *fd, uint64_t *gen)
{
    h2o_socket_t *sock =
        req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    int f = sock ? h2o_socket_get_fd(sock) : -1;

    if (f < 0 || (size_t)f >= l->nconns || l->conns[f].gen == 0)
        return NULL;
    *fd = f;
    *gen = l->conns[f].gen;
    return &l->conns[f];
}

/* A leaky bucket in thousandths of an event: budget events drain away per window; adds one
 * event at now and says whether the level is past the budget. */
static bool bucket_add(uint64_t *level, uint64_t *at, uint64_t now, int budget_events, int window_s)
{
    uint64_t budget = (uint64_t)budget_events * 1000;
    uint64_t window_ms = (uint64_t)window_s * 1000;
    uint64_t drained = window_ms ? (now - *at) * budget / window_ms : 0;

    *level = *level > drained ? *level - drained : 0;
    *at = now;
    *level += 1000;
    return *level > budget;
}

bool http__conn_abandoned(struct http_loop *l, struct conn_state *cs, int fd)
{
    const struct cfg *c = l->g->hc->cfg;

    if (!bucket_add(&cs->resets, &cs->reset_at, uv_now(l->uv), c->http_conn_reset_budget,
                    c->http_conn_reset_window_s) ||
        cs->poisoned)
        return false;
    cs->poisoned = true;
    /* Debian's h2o 2.2.5 has no reset budget of its own and no public call to close one
     * connection. Shutting the socket down makes h2o see the end of the stream and close
     * the connection through its own path, streams and all; the state goes with it. */
    shutdown(fd, SHUT_RDWR);
    return true;
}

void http__conn_close(h2o_req_t *req)
{
    h2o_socket_t *sock =
        req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    int fd = sock ? h2o_socket_get_fd(sock) : -1;

    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    req->http1_is_persistent = 0;
}

/* ---- HTTP/2 control frames ---------------------------------------------------------------- */

#define FRAME_HEADER 9
#define FRAME_SETTINGS 4
#define FRAME_PING 6
#define FLAG_ACK 1

/* One more PING or SETTINGS frame; true past the budget. */
static bool control_frame(struct http_loop *l, struct conn_state *cs)
{
    const struct cfg *c = l->g->hc->cfg;

    return bucket_add(&cs->control, &cs->control_at, uv_now(l->uv),
                      c->http_conn_control_frame_budget, c->http_conn_reset_window_s);
}

static ssize_t expect_counted(h2o_http2_conn_t *conn, const uint8_t *src, size_t len,
                              const char **err_desc)
{
    struct http_loop *l = H2O_STRUCT_FROM_MEMBER(struct http_loop, ctx, conn->super.ctx);
    int fd = h2o_socket_get_fd(conn->sock);
    struct conn_state *cs =
        fd >= 0 && (size_t)fd < l->nconns && l->conns[fd].h2 == conn ? &l->conns[fd] : NULL;
    ssize_t (*inner)(h2o_http2_conn_t *, const uint8_t *, size_t, const char **);
    ssize_t ret;

    if (!cs || !cs->expect) {
        /* Cannot happen (the state lives as long as the socket); refuse rather than guess. */
        *err_desc = "internal error";
        return H2O_HTTP2_ERROR_INTERNAL;
    }
    inner = cs->expect;
    conn->_read_expect = inner; /* as h2o left it, while h2o's parser runs */
    ret = inner(conn, src, len, err_desc);
    /* h2o may have moved on to another state (a HEADERS frame without END_HEADERS). */
    cs->expect = conn->_read_expect;
    conn->_read_expect = expect_counted;
    if (ret > 0 && len >= FRAME_HEADER && (src[3] == FRAME_PING || src[3] == FRAME_SETTINGS) &&
        !(src[4] & FLAG_ACK) && control_frame(l, cs)) {
        metrics_inc(metrics_counter("cityd_http_conn_closed_total",
                                    "Connections closed for abuse, by reason.",
                                    "reason=\"control_frames\""));
        log_warn(NULL, "http: connection closed: more PING/SETTINGS frames than "
                       "http.conn_control_frame_budget (GOAWAY ENHANCE_YOUR_CALM)");
        *err_desc = "too many PING/SETTINGS frames";
        return H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM;
    }
    return ret;
}

void http__conn_watch_h2(struct http_loop *l)
{
    h2o_linklist_t *anchor = &l->ctx.http2._conns;

    /* h2o appends new connections at the tail: walk back to the first one already watched. */
    for (h2o_linklist_t *n = anchor->prev; n != anchor; n = n->prev) {
        h2o_http2_conn_t *c = H2O_STRUCT_FROM_MEMBER(h2o_http2_conn_t, _conns, n);
        int fd;
        struct conn_state *cs;

        if (c->_read_expect == expect_counted)
            break;
        if (c->state >= H2O_HTTP2_CONN_STATE_IS_CLOSING || !c->sock)
            continue;
        fd = h2o_socket_get_fd(c->sock);
        if (fd < 0 || (size_t)fd >= l->nconns || l->conns[fd].gen == 0)
            continue;
        cs = &l->conns[fd];
        cs->h2 = c;
        cs->expect = c->_read_expect;
        cs->control_at = uv_now(l->uv);
        c->_read_expect = expect_counted;
    }
}
