/* tests/fault/clock_test.c: clock skew between two cityd nodes on one database, made with
 * libfaketime (Debian's faketime: LD_PRELOAD + FAKETIME; the monotonic clock is left alone so
 * the loops' timers keep their pace). Node A keeps the real time and mints the tokens; node B
 * (th_server_twin) runs with its wall clock moved.
 * Checked:
 *   - tokens inside auth.leeway_s (30 s) of B's clock are accepted (B 20 s behind: the token
 *     was issued "in B's future" by less than the leeway), outside refused (B 10 min behind:
 *     401); a token is still good on a node 10 min ahead (access TTL 15 min) and expired on
 *     one 20 min ahead (401);
 *   - ordering comes from database sequences, not wall time: a case reported on B, 10 min
 *     behind, after one reported on A, is listed before it (GET /api/v1/cases is newest first
 *     by id) although its created_at is older;
 *   - the deadline scan across a backwards jump of a running node's wall clock (node B under
 *     libfaketime with FAKETIME_TIMESTAMP_FILE, the file rewritten while it runs): a reminder
 *     already raised is not raised again after the jump back, and what falls due once the
 *     clock is forward again is raised once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"

static struct th_server a;

static int setup(void **state)
{
    (void)state;
    th_server_start(&a, "testing.clock_control = true\n");
    th_seed(&a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return th_server_stop(&a);
}

/* Node B's clock file when it is moved while running (deadline_scan_across_a_backwards_jump). */
static char timestamp_file[400];

/* A twin of a whose wall clock is offset ("-10m", "+20s", ... as FAKETIME takes it); with
 * offset NULL, moved by rewriting timestamp_file while it runs. */
static void twin_skewed(struct th_server *b, const char *offset)
{
    th_server_twin_faked(b, &a, offset, offset ? NULL : timestamp_file);
}

static long me_on(struct th_server *s, const char *token)
{
    struct th_resp r;
    long st;
    th_get(s, "/api/v1/me", token, &r);
    st = r.status;
    if (st == 401)
        assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);
    return st;
}

/* B's idea of now, from its own Date header, minus ours, in seconds. */
static long long skew_of(struct th_server *b)
{
    struct th_resp r;
    char date[64];
    struct tm tm = {0};
    long long d;

    th_get(b, "/healthz", NULL, &r);
    assert_true(th_header(&r, "date", date, sizeof date));
    th_resp_free(&r);
    assert_non_null(strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm));
    d = (long long)timegm(&tm) - (long long)time(NULL);
    return d;
}

static void token_leeway_across_skewed_nodes(void **state)
{
    static const struct {
        const char *offset;
        long want;
    } cases[] = {{"-20s", 200}, {"-10m", 401}, {"+10m", 200}, {"+20m", 401}};
    char token[9000];
    (void)state;

    snprintf(token, sizeof token, "%s", th_token(&a, "inspector"));
    assert_int_equal(me_on(&a, token), 200);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct th_server b;
        long long skew;
        long got;
        twin_skewed(&b, cases[i].offset);
        skew = skew_of(&b);
        got = me_on(&b, token);
        fprintf(
            stderr,
            "clock_test: node at %s (Date says %+lld s): token from the real-time node -> %ld\n",
            cases[i].offset, skew, got);
        assert_int_equal(got, cases[i].want);
        assert_int_equal(th_server_stop(&b), 0);
    }
    /* The skewed nodes changed nothing for the real one. */
    assert_int_equal(me_on(&a, token), 200);
}

static void ordering_from_sequences_not_wall_time(void **state)
{
    struct th_server b;
    struct th_resp r;
    long long first, second;
    json_t *items;
    (void)state;

    first = th_report_as(&a, "inspector", NULL);
    twin_skewed(&b, "-10m");
    json_object_clear(b.tokens);                  /* log in on b: a token of b's own clock */
    second = th_report_as(&b, "inspector", NULL); /* later, on a clock 10 min behind */
    assert_true(second > first);
    assert_int_equal(th_sqlf(&a,
                             "SELECT (SELECT created_at FROM cases WHERE id = %lld) < (SELECT "
                             "created_at FROM cases WHERE id = %lld)",
                             second, first),
                     1);
    th_get_as(&a, "dispatcher", "/api/v1/cases?limit=50", &r);
    assert_int_equal(r.status, 200);
    items = json_object_get(r.json, "items");
    assert_true(json_array_size(items) >= 2);
    {
        long long pos_first = -1, pos_second = -1;
        for (size_t i = 0; i < json_array_size(items); i++) {
            long long id =
                (long long)json_integer_value(json_object_get(json_array_get(items, i), "id"));
            if (id == first)
                pos_first = (long long)i;
            if (id == second)
                pos_second = (long long)i;
        }
        assert_true(pos_second >= 0 && pos_first >= 0);
        assert_true(pos_second < pos_first); /* newest by sequence first */
    }
    th_resp_free(&r);
    assert_int_equal(th_server_stop(&b), 0);
}

static long long events_of(long long id, const char *type)
{
    return th_sqlf(&a, "SELECT COUNT(*) FROM events WHERE subject_id = %lld AND type = '%s'", id,
                   type);
}

static void wait_level(long long id, long long level)
{
    for (int k = 0;
         k < 150 && th_sqlf(&a, "SELECT alert_level FROM cases WHERE id = %lld", id) < level; k++)
        usleep(100000);
    assert_int_equal(th_sqlf(&a, "SELECT alert_level FROM cases WHERE id = %lld", id), level);
}

/* Moves node B's wall clock to a UTC instant (it keeps running from there). */
static void b_clock_at(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    FILE *f = fopen(timestamp_file, "w");

    assert_non_null(f);
    fprintf(f, "%+llds\n", (long long)timegm(&tm) - (long long)time(NULL));
    assert_int_equal(fclose(f), 0);
}

/* The deadline scan (every 5 s) across a backwards jump of a running node's wall clock, made by
 * libfaketime: what it already raised is not raised again, and what falls due after the clock
 * comes forward again is raised once — nothing skipped, nothing repeated. Node A keeps the
 * real time (2026): the case falls due in 2030 by B's clock only, so A's scans leave it alone. */
static void deadline_scan_across_a_backwards_jump(void **state)
{
    struct th_server b;
    long long id;
    (void)state;

    snprintf(timestamp_file, sizeof timestamp_file, "%s/faketime", a.dir);
    /* Wednesday 2030-01-09 10:00 local: the 立案时限 of 30 working minutes ends 10:30. */
    b_clock_at(2030, 1, 9, 2, 0);
    twin_skewed(&b, NULL);
    assert_true(skew_of(&b) > 3LL * 365 * 86400);
    json_object_clear(b.tokens); /* log in on b: tokens of b's own clock */
    id = th_report_as(&b, "citizen", NULL);
    b_clock_at(2030, 1, 9, 2, 20); /* 10:20: past 50 % */
    wait_level(id, 1);
    assert_int_equal(events_of(id, "case.reminder"), 1);
    b_clock_at(2030, 1, 9, 2, 5); /* back to 10:05, before the 50 % mark */
    {
        /* B's own Date header shows the jump (2030-01-09 02:05 UTC = 1894154700). */
        long long b_now = (long long)time(NULL) + skew_of(&b);
        assert_true(b_now >= 1894154700LL - 5 && b_now <= 1894154700LL + 5);
    }
    sleep(11); /* two scans at least */
    assert_int_equal(events_of(id, "case.reminder"), 1);
    assert_int_equal(th_sqlf(&a, "SELECT alert_level FROM cases WHERE id = %lld", id), 1);
    b_clock_at(2030, 1, 9, 2, 20); /* 10:20 a second time: the 50 % mark is behind again */
    sleep(6);
    assert_int_equal(events_of(id, "case.reminder"), 1);
    b_clock_at(2030, 1, 9, 3, 0); /* 11:00: past 80 %, the deadline and escalation */
    wait_level(id, 4);
    assert_int_equal(events_of(id, "case.reminder"), 2);
    assert_int_equal(events_of(id, "case.overdue"), 1);
    assert_int_equal(events_of(id, "case.escalated"), 1);
    assert_int_equal(th_server_stop(&b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_leeway_across_skewed_nodes),
        cmocka_unit_test(ordering_from_sequences_not_wall_time),
        cmocka_unit_test(deadline_scan_across_a_backwards_jump),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
