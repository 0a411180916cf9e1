/* server/http/conn.c: per-connection accounting — jobs in flight and requests abandoned by
 * the client (HTTP/2 rapid reset). Loop thread only. */
#include "http_int.h"

#include <string.h>
#include <sys/socket.h>

struct conn_state *http__conn_get(struct http_loop *l, uint64_t id, bool create)
{
    size_t h = (size_t)(id * 0x9E3779B97F4A7C15ull >> 54) % CONN_SLOTS;
    struct conn_state *free_slot = NULL;

    for (size_t i = 0; i < CONN_PROBE; i++) {
        struct conn_state *s = &l->conns[(h + i) % CONN_SLOTS];
        if (s->id == id)
            return s;
        if (!free_slot && (s->id == 0 || (s->inflight == 0 && !s->poisoned)))
            free_slot = s;
    }
    if (!create || !free_slot)
        return NULL;
    /* Reuse an idle slot: an idle connection's abandon count starts again, which only makes
     * the budget more lenient for it. */
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->id = id;
    return free_slot;
}

void http__conn_close(h2o_req_t *req)
{
    h2o_socket_t *sock =
        req->conn->callbacks->get_socket ? req->conn->callbacks->get_socket(req->conn) : NULL;
    int fd = sock ? h2o_socket_get_fd(sock) : -1;

    /* Debian's h2o 2.2.5 has no reset budget of its own and no public call to close one
     * connection. Shutting the socket down makes h2o see the end of the stream and close
     * the connection through its own path, streams and all. */
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    req->http1_is_persistent = 0;
}
