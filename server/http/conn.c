/* server/http/conn.c: per-connection accounting — jobs in flight and requests abandoned by
 * the client (HTTP/2 rapid reset). Loop thread only.
 *
 * Every accepted socket has a state, indexed by its file descriptor (small, dense, unique
 * among open sockets) and stamped with a generation, so a descriptor reused by a new
 * connection never inherits or releases the old one's state: the state is made at accept and
 * released when h2o closes the socket, abusive or not. Abandoned requests count in a leaky
 * bucket: http.conn_reset_budget of them drain away every http.conn_reset_window_s, so an
 * honest app that cancels now and then over a long-lived connection is never cut, while a
 * flood fills the bucket in moments; past the budget the connection is shut down. */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

bool http__conn_abandoned(struct http_loop *l, struct conn_state *cs, int fd)
{
    const struct cfg *c = l->g->hc->cfg;
    uint64_t now = uv_now(l->uv);
    uint64_t budget = (uint64_t)c->http_conn_reset_budget * 1000;
    uint64_t window_ms = (uint64_t)c->http_conn_reset_window_s * 1000;
    /* In thousandths of a request: budget * 1000 drain away per window. */
    uint64_t drained = window_ms ? (now - cs->reset_at) * budget / window_ms : 0;

    cs->resets = cs->resets > drained ? cs->resets - drained : 0;
    cs->reset_at = now;
    cs->resets += 1000;
    if (cs->resets <= budget || cs->poisoned)
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
