/* server/core/workpool.h: a fixed pool of worker threads with a bounded FIFO.
 *
 * Everything that blocks (MariaDB, libvips, file writes) runs here, never on an event loop.
 * Each thread gets a private value from thread_init (a database connection, say) that is
 * passed to every job it runs and released by thread_fini when the pool stops. Jobs are
 * intrusive: the caller owns struct work and must keep it alive until run() returns. */
#ifndef CITYD_WORKPOOL_H
#define CITYD_WORKPOOL_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct work {
    struct work *next; /* queue link, owned by the pool while queued */
    void (*run)(struct work *w, void *thread_arg);
    uint64_t queued_ns; /* set by workpool_submit (queue-wait metric) */
};

struct workpool;

/* Start nthreads threads named "<name>-N". thread_init(i, arg) runs on each new thread and
 * returns its private value; thread_fini(value) runs on that thread when the pool stops.
 * Either may be NULL. Returns NULL if a thread cannot be started. */
struct workpool *workpool_new(const char *name, int nthreads, size_t queue_limit,
                              void *(*thread_init)(int idx, void *arg),
                              void (*thread_fini)(void *value), void *arg);
/* Queue w. ERR_BUSY when the queue is full or the pool is stopping; w is then untouched. */
enum err workpool_submit(struct workpool *p, struct work *w) MUST_CHECK;
/* Jobs waiting (not running). */
size_t workpool_queued(struct workpool *p);
/* Stop accepting, let queued jobs run, join the threads and free the pool. NULL is a no-op. */
void workpool_free(struct workpool *p);

#endif
