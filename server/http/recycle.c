/* server/http/recycle.c: a loop keeps the pool chunks and buffers its connections give back.
 *
 * Every h2o request has a memory pool; its first 4 KiB chunk comes from a per-thread list of
 * recycled chunks that h2o 2.2.5 caps at 16 (`mempool_allocator` in lib/common/memory.c).
 * A loop with more requests in flight than that — 500 under `h2load -c 50 -m 10`, any busy
 * HTTP/2 connection — frees every chunk past the 16th when its requests end and mallocs
 * them again for the next ones: under jemalloc that churn ran through its slow paths (arena
 * bins, their locks) and cost about a fifth of a loop's instructions per request (callgrind,
 * docs/benchmarks.md "HTTP loop speed"). A connection's socket buffer (8 KiB, the thread's
 * `h2o_socket_buffer_prototype`) and an HTTP/2 connection's write buffer (80 KiB) come from
 * per-thread lists capped at 16 the same way: h2o frees a socket buffer whenever a read has
 * been consumed whole, so with more than 16 busy connections on a loop (all 50 of wrk's land
 * on one loop when the loops share their listening socket, http.accept = shared) every request
 * freed one to jemalloc and took one back: +300 to +1,000 instructions per HTTP/1.1 request.
 *
 * An 80 KiB write buffer past the 16th is a large allocation for jemalloc (beyond its thread
 * cache): with 50 h2c connections on one loop, ~250 instructions per request.
 *
 * cityd therefore defines h2o_mem_alloc_recycle (libh2o calls it through its PLT) and, on a
 * loop thread only, raises the cap of each such list before h2o's own function runs: to what
 * LOOP_LIST_BYTES holds, between 64 and 512 entries — 512 pool chunks (2 MiB), ~250 socket
 * buffers (2 MiB), 64 write buffers (5 MiB) — for as long as the loop lives, and only as many
 * as were once in use together. Other threads (database and media workers, which use request
 * pools one at a time) keep h2o's caps. */
#include "http_int.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

_Static_assert(H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2 && H2O_VERSION_PATCH == 5,
               "recycle.c relies on h2o 2.2.5's pool chunks (lib/common/memory.c)");

/* What a loop may keep in each recycle list: 2 MiB (512 of h2o's 4 KiB pool chunks, ~250
 * socket buffers), but never fewer than 64 entries (HTTP/2 write buffers: 5 MiB). */
#define LOOP_LIST_BYTES (2u << 20)
#define LOOP_LIST_MIN 64
#define LOOP_LIST_MAX 512

static struct {
    pthread_once_t once;
    void *(*alloc)(h2o_mem_recycle_t *, size_t);
} rc = {.once = PTHREAD_ONCE_INIT};

static _Thread_local bool loop_thread;

static void rc_init(void)
{
    *(void **)&rc.alloc = dlsym(RTLD_NEXT, "h2o_mem_alloc_recycle");
    if (!rc.alloc)
        abort(); /* libh2o is linked: it must resolve */
}

void *h2o_mem_alloc_recycle(h2o_mem_recycle_t *allocator, size_t sz)
{
    pthread_once(&rc.once, rc_init);
    if (loop_thread && sz) {
        size_t cap = LOOP_LIST_BYTES / sz;
        if (cap < LOOP_LIST_MIN)
            cap = LOOP_LIST_MIN;
        if (cap > LOOP_LIST_MAX)
            cap = LOOP_LIST_MAX;
        if (allocator->max < cap)
            allocator->max = cap;
    }
    return rc.alloc(allocator, sz);
}

void http__recycle_loop_thread(void)
{
    loop_thread = true;
}

void http__recycle_init(void)
{
    pthread_once(&rc.once, rc_init);
}
