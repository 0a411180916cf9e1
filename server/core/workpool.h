/* server/core/workpool.h: a fixed pool of worker threads with a bounded FIFO.
 *
 * Everything that blocks (MariaDB, libvips, file writes) runs here, never on an event loop.
 * Each thread gets a private value from thread_init (a database connection, say) that is
 * passed to every job it runs and released by thread_fini when the pool stops. Jobs are
 * intrusive: the caller owns struct work and must keep it alive until run() (or shed())
 * returns.
 *
 * Overload shedding (off unless workpool_set_shedding is called; CoDel's idea of a "standing
 * queue", applied to a request queue as Facebook's "Fail at Scale" describes): the pool is
 * *overloaded* while jobs have been waiting without a break for at least `interval` — a burst
 * that drains within it is never shed. While overloaded, a new job whose owner asks
 * workpool_admit is refused at once when it would wait `target` or longer (the jobs ahead of
 * it at the rate the threads have been running jobs), or when no thread has taken a job for
 * `interval` (threads stalled); and a job queued while the pool was overloaded that has
 * still waited twice `target` when a thread takes it is handed to its shed() instead of run()
 * (jobs without shed() always run; jobs queued before — a burst — are all served). So under
 * sustained overload the queue holds about `target` of work and never empties — admitted jobs wait
 * about `target`, the rest are told at once — and it empties, ending the overload, only once fewer
 * jobs arrive than the threads take. */
#ifndef CITYD_WORKPOOL_H
#define CITYD_WORKPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct work {
    struct work *next; /* queue link, owned by the pool while queued */
    void (*run)(struct work *w, void *thread_arg);
    /* NULL: never shed. Otherwise called on the worker thread instead of run() when the
     * overloaded pool sheds w (it must answer "busy" without doing the work). */
    void (*shed)(struct work *w, void *thread_arg);
    uint64_t queued_ns; /* set by workpool_submit (queue wait, shedding) */
    bool overloaded;    /* set by workpool_submit: queued while the pool was overloaded */
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
/* Turn on overload shedding (see the top of this file) with the given queue-wait target and
 * interval; target_ns 0 turns it off. Any thread. */
void workpool_set_shedding(struct workpool *p, uint64_t target_ns, uint64_t interval_ns);
/* Admission control, before a job is built or submitted: ERR_BUSY when the pool is overloaded
 * and a new job would wait the target or longer (see above); the refusal is counted
 * (cityd_workpool_shed_jobs_total) and *wait_ns (may be NULL) gets that expected wait. ERR_OK
 * otherwise, and always when shedding is off. Lock-free (a few atomic loads): meant for event
 * loops. */
enum err workpool_admit(struct workpool *p, uint64_t *wait_ns) MUST_CHECK;
/* Jobs waiting (not running). */
size_t workpool_queued(struct workpool *p);
/* Stop accepting, let queued jobs run, join the threads and free the pool. NULL is a no-op. */
void workpool_free(struct workpool *p);

#endif
