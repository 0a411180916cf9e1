/* server/http/recycle.c: a loop keeps the pool chunks its requests give back.
 *
 * Every h2o request has a memory pool; its first 4 KiB chunk comes from a per-thread list of
 * recycled chunks that h2o 2.2.5 caps at 16 (`mempool_allocator` in lib/common/memory.c).
 * A loop with more requests in flight than that — 500 under `h2load -c 50 -m 10`, any busy
 * HTTP/2 connection — frees every chunk past the 16th when its requests end and mallocs
 * them again for the next ones: under jemalloc that churn ran through its slow paths (arena
 * bins, their locks) and cost about a fifth of a loop's instructions per request (callgrind,
 * docs/benchmarks.md "HTTP loop speed").
 *
 * cityd therefore defines h2o_mem_alloc_recycle (libh2o calls it through its PLT) and, on a
 * loop thread only, raises the cap of the pool-chunk list to LOOP_CHUNKS before h2o's own
 * function runs: at most 2 MiB kept per loop, for as long as the loop lives. Other threads
 * (database and media workers, which use request pools one at a time) and every other list
 * (socket buffers) keep h2o's caps. */
#include "http_int.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

_Static_assert(H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2 && H2O_VERSION_PATCH == 5,
               "recycle.c relies on h2o 2.2.5's pool chunks (lib/common/memory.c)");

/* h2o 2.2.5's struct st_h2o_mem_pool_chunk_t: a 4 KiB chunk. */
#define POOL_CHUNK 4096
#define LOOP_CHUNKS 512

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
    if (loop_thread && sz == POOL_CHUNK && allocator->max < LOOP_CHUNKS)
        allocator->max = LOOP_CHUNKS;
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
