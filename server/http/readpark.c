/* server/http/readpark.c: stop reading a keep-alive connection without telling epoll.
 *
 * h2o stops reading an HTTP/1.1 connection while it answers a request (the request's method,
 * path and headers point into the socket's input buffer, which a read could move) and starts
 * again when the response is written. On its own event loop that costs nothing; on libuv 1.44,
 * which cityd runs h2o on to share loop 0 with libwebsockets, `uv_read_stop` forgets the
 * descriptor's registration and `uv_read_start` adds it again: `EPOLL_CTL_ADD`, EEXIST, then
 * `EPOLL_CTL_MOD` — two system calls per request, a tenth of what a loop-answered request
 * costs (docs/benchmarks.md, "HTTP loop speed").
 *
 * cityd therefore defines h2o_socket_read_stop and h2o_socket_read_start itself (libh2o calls
 * them through its PLT, so its own calls bind here; the executable exports both, see
 * server/CMakeLists.txt) and, for a plain TCP socket, *parks* the libuv stream instead of
 * stopping it: the stream stays registered for input, but its allocation callback hands libuv
 * an empty buffer, so nothing is read — libuv reports UV_ENOBUFS without consuming a byte. If
 * input does arrive while parked (a pipelined request, a closing client), the park callback
 * stops the stream for real, exactly as h2o would have; the bytes wait in the kernel and are
 * read when h2o starts reading again. Starting a parked stream only puts h2o's callbacks back:
 * no system call. h2o's own view is unchanged: `_cb.read` is NULL while stopped, as
 * h2o_socket_is_reading expects, and the input buffer is never touched while parked.
 *
 * TLS sockets, and anything not shaped as expected, take h2o's own path (dlsym RTLD_NEXT). */
#include "http_int.h"

#include <dlfcn.h>
#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <uv.h>
#include "server/core/metrics.h"

_Static_assert(H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2 && H2O_VERSION_PATCH == 5,
               "readpark.c relies on h2o 2.2.5's libuv socket (lib/common/socket/uv-binding.c.h)");

/* The head of h2o 2.2.5's `struct st_h2o_uv_socket_t`; every socket of a libuv build is one.
 * Checked at run time too: h2o sets the stream's `data` to the socket. */
struct uv_socket_head {
    h2o_socket_t super;
    struct {
        uv_stream_t *stream;
        uv_close_cb close_cb;
    } uv;
};

static struct {
    pthread_once_t once;
    void (*read_start)(h2o_socket_t *, h2o_socket_cb);
    void (*read_stop)(h2o_socket_t *);
    /* h2o's callbacks for plain TCP input (alloc_inbuf_tcp, on_read_tcp), learnt from the
     * first stream parked; the same for every plain TCP socket. */
    _Atomic(uv_alloc_cb) tcp_alloc;
    _Atomic(uv_read_cb) tcp_read;
    struct metrics_series *parked, *resumed, *stopped; /* cityd_http_read_parks_total */
} rp = {.once = PTHREAD_ONCE_INIT};

/* Parks and resumes happen once per request on every loop: each loop thread counts its own
 * and adds them to the shared counters in steps, so a request touches no shared cache line. */
#define RP_FLUSH 64
static _Thread_local struct {
    unsigned parked, resumed;
} rp_local;

static void rp_init(void)
{
    *(void **)&rp.read_start = dlsym(RTLD_NEXT, "h2o_socket_read_start");
    *(void **)&rp.read_stop = dlsym(RTLD_NEXT, "h2o_socket_read_stop");
    if (!rp.read_start || !rp.read_stop)
        abort(); /* libh2o is linked: both must resolve */
#define RP_HELP                                                                                    \
    "Keep-alive reads h2o stopped without a system call (parked), started again, "                 \
    "or stopped for real because input arrived while parked."
    rp.parked = metrics_counter("cityd_http_read_parks_total", RP_HELP, "outcome=\"parked\"");
    rp.resumed = metrics_counter("cityd_http_read_parks_total", RP_HELP, "outcome=\"resumed\"");
    rp.stopped =
        metrics_counter("cityd_http_read_parks_total", RP_HELP, "outcome=\"stopped_for_input\"");
}

static void park_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = NULL;
    buf->len = 0; /* libuv: "can't or won't handle the read" → UV_ENOBUFS, nothing read */
}

static void park_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)nread;
    (void)buf;
    /* Input while parked: stop for real, as h2o asked; it is read after h2o starts again. */
    uv_read_stop(stream);
    metrics_inc(rp.stopped);
}

static uv_stream_t *plain_tcp_stream(h2o_socket_t *sock)
{
    uv_stream_t *stream;

    if (sock->ssl)
        return NULL;
    stream = ((struct uv_socket_head *)sock)->uv.stream;
    if (!stream || stream->type != UV_TCP || stream->data != sock)
        return NULL;
    return stream;
}

void h2o_socket_read_stop(h2o_socket_t *sock)
{
    uv_stream_t *stream;
    uv_alloc_cb alloc;
    uv_read_cb read;

    pthread_once(&rp.once, rp_init);
    stream = plain_tcp_stream(sock);
    if (!stream || !stream->read_cb) { /* not reading (libuv clears read_cb on stop) */
        rp.read_stop(sock);
        return;
    }
    if (stream->read_cb == park_read) { /* already parked */
        sock->_cb.read = NULL;
        return;
    }
    alloc = atomic_load_explicit(&rp.tcp_alloc, memory_order_relaxed);
    read = atomic_load_explicit(&rp.tcp_read, memory_order_relaxed);
    if (!read) {
        atomic_store_explicit(&rp.tcp_alloc, stream->alloc_cb, memory_order_relaxed);
        atomic_store_explicit(&rp.tcp_read, stream->read_cb, memory_order_relaxed);
    } else if (stream->read_cb != read || stream->alloc_cb != alloc) {
        rp.read_stop(sock); /* not h2o's plain TCP reader: leave it to h2o */
        return;
    }
    sock->_cb.read = NULL;
    stream->alloc_cb = park_alloc;
    stream->read_cb = park_read;
    if (++rp_local.parked == RP_FLUSH) {
        metrics_add(rp.parked, RP_FLUSH);
        rp_local.parked = 0;
    }
}

void h2o_socket_read_start(h2o_socket_t *sock, h2o_socket_cb cb)
{
    uv_stream_t *stream;

    pthread_once(&rp.once, rp_init);
    stream = plain_tcp_stream(sock);
    if (stream && stream->read_cb == park_read) {
        stream->alloc_cb = atomic_load_explicit(&rp.tcp_alloc, memory_order_relaxed);
        stream->read_cb = atomic_load_explicit(&rp.tcp_read, memory_order_relaxed);
        sock->_cb.read = cb;
        if (++rp_local.resumed == RP_FLUSH) {
            metrics_add(rp.resumed, RP_FLUSH);
            rp_local.resumed = 0;
        }
        return;
    }
    rp.read_start(sock, cb);
}

void http__readpark_init(void)
{
    pthread_once(&rp.once, rp_init);
}
