/* tests/unit/test_workpool.c: server/core/workpool.c — overload shedding (workpool_set_shedding,
 * workpool_admit, shed()). Only lower bounds on time are relied on (a sleep longer than a
 * threshold), except one generous upper bound: a burst is admitted within 300 ms of queueing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>
#include "server/core/metrics.h"
#include "server/core/workpool.h"

#define MS 1000000u

static atomic_int blocker_started, blocker_release, ran, shed;

static void run_blocker(struct work *w, void *arg)
{
    (void)w;
    (void)arg;
    atomic_store(&blocker_started, 1);
    while (!atomic_load(&blocker_release))
        usleep(1000);
}

static void run_count(struct work *w, void *arg)
{
    (void)w;
    (void)arg;
    atomic_fetch_add(&ran, 1);
}

static void shed_count(struct work *w, void *arg)
{
    (void)w;
    (void)arg;
    atomic_fetch_add(&shed, 1);
}

/* One thread held by a blocker job, then n jobs queued behind it. */
static struct workpool *held_pool(const char *name, struct work *blocker, struct work *jobs, int n,
                                  bool sheddable)
{
    struct workpool *p = workpool_new(name, 1, 100, NULL, NULL, NULL);

    assert_non_null(p);
    atomic_store(&blocker_started, 0);
    atomic_store(&blocker_release, 0);
    atomic_store(&ran, 0);
    atomic_store(&shed, 0);
    *blocker = (struct work){.run = run_blocker};
    assert_int_equal(workpool_submit(p, blocker), ERR_OK);
    for (int i = 0; i < 500 && !atomic_load(&blocker_started); i++)
        usleep(10000);
    assert_true(atomic_load(&blocker_started));
    for (int i = 0; i < n; i++) {
        jobs[i] = (struct work){.run = run_count, .shed = sheddable ? shed_count : NULL};
        assert_int_equal(workpool_submit(p, &jobs[i]), ERR_OK);
    }
    return p;
}

static void wait_done(int n)
{
    for (int i = 0; i < 500 && atomic_load(&ran) + atomic_load(&shed) < n; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&ran) + atomic_load(&shed), n);
}

static double shed_metric(const char *pool)
{
    char lb[64];
    metrics_labels(lb, sizeof lb, "pool", pool, (const char *)NULL);
    return metrics_value(metrics_counter("cityd_workpool_shed_jobs_total", "", lb));
}

/* A stalled pool: a burst is queued, not refused, and later served in full; once nothing has
 * been taken for the interval new jobs are refused; jobs queued while it is overloaded that
 * wait twice the target are shed unrun; an empty queue admits again. */
static void test_stalled_pool_sheds(void **state)
{
    struct work blocker, jobs[10], late[5];
    struct workpool *p = held_pool("shedtest", &blocker, jobs, 10, true);
    uint64_t wait = 0;
    (void)state;

    workpool_set_shedding(p, 20 * MS, 300 * MS);
    assert_int_equal(workpool_admit(p, &wait), ERR_OK); /* a burst, not yet a standing queue */
    usleep(400000);
    assert_int_equal(workpool_admit(p, &wait), ERR_BUSY);
    assert_true(wait >= 300 * MS);
    /* Queued anyway (a caller that did not ask workpool_admit): these wait past 2 x 20 ms. */
    for (int i = 0; i < 5; i++) {
        late[i] = (struct work){.run = run_count, .shed = shed_count};
        assert_int_equal(workpool_submit(p, &late[i]), ERR_OK);
    }
    usleep(100000);
    atomic_store(&blocker_release, 1);
    wait_done(15);
    assert_int_equal(atomic_load(&ran), 10);
    assert_int_equal(atomic_load(&shed), 5);
    assert_int_equal(workpool_queued(p), 0);
    assert_int_equal(workpool_admit(p, NULL), ERR_OK); /* nothing waits */
    assert_true(shed_metric("shedtest") >= 6);
    workpool_free(p);
}

/* Jobs without shed() always run, overloaded or not. */
static void test_unsheddable_jobs_run(void **state)
{
    struct work blocker, jobs[10];
    struct workpool *p = held_pool("noshedtest", &blocker, jobs, 5, false);
    (void)state;

    workpool_set_shedding(p, 1 * MS, 50 * MS);
    usleep(200000);
    assert_int_equal(workpool_admit(p, NULL), ERR_BUSY);
    for (int i = 0; i < 5; i++) { /* queued while overloaded, but without shed() */
        jobs[5 + i] = (struct work){.run = run_count};
        assert_int_equal(workpool_submit(p, &jobs[5 + i]), ERR_OK);
    }
    usleep(50000);
    atomic_store(&blocker_release, 1);
    wait_done(10);
    assert_int_equal(atomic_load(&ran), 10);
    assert_int_equal(atomic_load(&shed), 0);
    workpool_free(p);
}

/* Shedding off (the default, or target 0): everything queues and runs. */
static void test_off_queues_everything(void **state)
{
    struct work blocker, jobs[10];
    struct workpool *p = held_pool("offtest", &blocker, jobs, 10, true);
    (void)state;

    workpool_set_shedding(p, 0, 50 * MS);
    usleep(200000);
    assert_int_equal(workpool_admit(p, NULL), ERR_OK);
    atomic_store(&blocker_release, 1);
    wait_done(10);
    assert_int_equal(atomic_load(&ran), 10);
    assert_int_equal(atomic_load(&shed), 0);
    assert_true(shed_metric("offtest") == 0);
    workpool_free(p);
}

static void run_10ms(struct work *w, void *arg)
{
    (void)w;
    (void)arg;
    usleep(10000);
    atomic_fetch_add(&ran, 1);
}

/* Threads that keep taking jobs, but a queue that would take far longer than the target to
 * drain: a new job is refused on the expected wait (queued x average run time / threads), and
 * *wait_ns says how long. Jobs run at least 10 ms, so the wait is at least 26 x 10 / 2 ms. */
static void test_long_queue_refused(void **state)
{
    struct work warm[4], jobs[40];
    struct workpool *p = workpool_new("esttest", 2, 100, NULL, NULL, NULL);
    uint64_t wait = 0;
    (void)state;

    assert_non_null(p);
    atomic_store(&ran, 0);
    atomic_store(&shed, 0);
    workpool_set_shedding(p, 20 * MS, 50 * MS);
    for (int i = 0; i < 4; i++) {
        warm[i] = (struct work){.run = run_10ms};
        assert_int_equal(workpool_submit(p, &warm[i]), ERR_OK);
    }
    wait_done(4);
    atomic_store(&ran, 0);
    for (int i = 0; i < 40; i++) {
        /* No shed(): sheddable ones, all queued at once, would all be dropped as soon as the
         * queue stands, leaving it empty. */
        jobs[i] = (struct work){.run = run_10ms};
        assert_int_equal(workpool_submit(p, &jobs[i]), ERR_OK);
    }
    usleep(60000); /* at most 2 x 7 jobs taken: at least 26 wait, for 130 ms at least */
    assert_int_equal(workpool_admit(p, &wait), ERR_BUSY);
    assert_true(wait >= 20 * MS);
    wait_done(40);
    workpool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stalled_pool_sheds),
        cmocka_unit_test(test_unsheddable_jobs_run),
        cmocka_unit_test(test_off_queues_everything),
        cmocka_unit_test(test_long_queue_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
