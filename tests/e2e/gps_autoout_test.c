/* tests/e2e/gps_autoout_test.c: the automatic check-out (docs/attendance.md) through the real
 * server with a moved clock. A day-shift worker who forgets to check out is checked out by the
 * job once the clock passes the shift's end + gps.auto_checkout_after_min (30 here, not the
 * default, so the key is read) — not a minute before; people without a shift after
 * gps.max_duty_hours (10 here). The check-out is a checkins row of type out with status auto
 * and no position, on the date of the check-in it closes; duty and the live-map row go off
 * duty, the dashboard stops counting the person, an audit row names them, the daily summary
 * shows last_out with no_checkout, and the phone's next batch is refused (409 off_duty).
 * Later runs of the job add nothing, and a manual check-out racing the job gives one
 * check-out. gps_test runs with both keys 0 and checks that nothing is closed then. Its own
 * server: the clock moves for everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>
#include <sys/time.h>
#include <time.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"
#include "th_assert.h"

static struct th_server srv;
static long long inspector, handler, operator_id;
static long long job_phase; /* real time (ms) about when the job ran once */

static int on_duty(long long user)
{
    return (int)th_sqlf(&srv, "SELECT COUNT(*) FROM duty WHERE user_id = %lld AND on_duty = 1",
                        user);
}

static long long auto_outs(long long user)
{
    return th_sqlf(&srv,
                   "SELECT COUNT(*) FROM checkins WHERE user_id = %lld AND type = 'out' AND"
                   " status = 'auto'",
                   user);
}

/* Wait (at most 30 s: the job runs every 10 s) until user is off duty. */
static void wait_off_duty(long long user)
{
    for (int i = 0; i < 300 && on_duty(user); i++)
        usleep(100 * 1000);
    if (on_duty(user))
        fail_msg("user %lld still on duty after 30 s", user);
}

static void checkin_as(const char *role, const char *type, long status, const char *want)
{
    struct th_resp r;
    char body[160];

    snprintf(body, sizeof body, "{\"type\":\"%s\",\"lat\":31.305,\"lng\":120.605,\"accuracy\":10}",
             type);
    th_post(&srv, role, "/api/v1/checkins", NULL, body, &r);
    if (r.status != status || (want && strcmp(th_jstr(r.json, "status"), want) != 0))
        fail_msg("%s check-%s: expected %ld %s, got %ld: %s", role, type, status, want ? want : "",
                 r.status, r.body);
    th_resp_free(&r);
}

/* One fix of the inspector's phone at t (ms): the answer's status. */
static long fix_at(int seq, long long t)
{
    struct th_resp r;
    char body[256];
    long status;

    snprintf(body, sizeof body,
             "{\"points\":[{\"seq\":%d,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.605,"
             "\"accuracy\":8}]}",
             seq, t);
    th_post(&srv, "inspector", "/api/v1/tracks", NULL, body, &r);
    status = r.status;
    if (status != 200)
        assert_string_equal(th_error_code(&r), "off_duty");
    th_resp_free(&r);
    return status;
}

static long long staff_on_duty_today(void)
{
    struct th_resp r;
    long long n;

    th_get_as(&srv, "leader", "/api/v1/dashboard/summary", &r);
    th_expect(&r, 200, NULL);
    n = th_jint(json_object_get(r.json, "today"), "staff_on_duty");
    th_resp_free(&r);
    return n;
}

static int setup(void **state)
{
    struct th_resp r;
    char body[64], path[64];
    long long shift;

    (void)state;
    th_server_start(&srv, "testing.clock_control = true\ngps.max_age_s = 600\n"
                          "gps.auto_checkout_after_min = 30\ngps.max_duty_hours = 10\n");
    th_seed(&srv);
    inspector = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'inspector'");
    handler = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'handler'");
    operator_id = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'operator'");
    /* 白班 08:00–17:00 for the inspector; the handler and the operator have no shift. */
    th_post(&srv, "admin", "/api/v1/shifts", NULL,
            "{\"name\":\"白班\",\"days\":[1,2,3,4,5],\"start\":\"08:00\",\"end\":\"17:00\","
            "\"grace_min\":5}",
            &r);
    th_expect(&r, 201, NULL);
    shift = th_jint(r.json, "id");
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/shifts/%lld/assignments", shift);
    snprintf(body, sizeof body, "{\"user_id\":%lld}", inspector);
    th_post(&srv, "admin", path, NULL, body, &r);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM shift_assignments WHERE user_id IN (%lld, %lld)"
                             " OR department_id IS NOT NULL",
                             handler, operator_id),
                     0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return th_server_stop(&srv);
}

/* Monday 2026-12-07. The operator checks in at 07:00 (no shift: closed at 17:00 after 10 h),
 * the inspector at 07:55 for 08:00–17:00 (closed at 17:30), the handler at 07:50 (no shift:
 * 17:50). */
static void day_shift_forgotten(void **state)
{
    struct th_resp r;
    long long moved, t_auto, id, before;
    const char *s;
    (void)state;

    th_wait_track_partitions(&srv, th_clock_local(&srv, 2026, 12, 7, 7, 0));
    checkin_as("operator", "in", 201, "on_time");
    th_clock_local(&srv, 2026, 12, 7, 7, 50);
    checkin_as("handler", "in", 201, "on_time");
    th_clock_local(&srv, 2026, 12, 7, 7, 55);
    checkin_as("inspector", "in", 201, "on_time");
    /* On duty: the phone's fixes are stored and the live-map row is on duty. */
    assert_int_equal(fix_at(1, th_clock_local(&srv, 2026, 12, 7, 8, 0)), 200);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT on_duty FROM positions_latest WHERE owner_type = 'user' AND"
                             " owner_id = %lld",
                             inspector),
                     1);

    /* 17:29: the operator's ten hours are over, the inspector's 17:00 + 30 min is not. Once
     * the job has checked the operator out, the same run judged the inspector: still on. */
    th_clock_local(&srv, 2026, 12, 7, 17, 29);
    wait_off_duty(operator_id);
    assert_int_equal(on_duty(inspector), 1);
    assert_int_equal(on_duty(handler), 1);
    assert_int_equal(auto_outs(inspector), 0);
    assert_int_equal(auto_outs(operator_id), 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM checkins WHERE user_id = %lld AND type = 'out'"
                             " AND local_date = '2026-12-07' AND at >= '2026-12-07 09:00:00'",
                             operator_id),
                     1);
    before = staff_on_duty_today();
    assert_true(before >= 1);

    /* 17:31: past the inspector's limit. */
    moved = th_clock_local(&srv, 2026, 12, 7, 17, 31);
    wait_off_duty(inspector);
    assert_int_equal(auto_outs(inspector), 1);
    id = th_sqlf(&srv, "SELECT id FROM checkins WHERE user_id = %lld AND status = 'auto'",
                 inspector);
    t_auto =
        th_sqlf(&srv, "SELECT FLOOR(UNIX_TIMESTAMP(at) * 1000) FROM checkins WHERE id = %lld", id);
    /* Made at the server's clock when the job ran, after the move; no position, no device
     * time; on the date of the check-in it closes, paired like a manual check-out. */
    assert_in_range(t_auto, moved, moved + 30000);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM checkins WHERE id = %lld AND type = 'out' AND"
                             " lat IS NULL AND lng IS NULL AND accuracy_m IS NULL AND"
                             " device_at IS NULL AND local_date = '2026-12-07' AND flags = ''"
                             " AND shift_id IS NOT NULL",
                             id),
                     1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT on_duty FROM positions_latest WHERE owner_type = 'user' AND"
                             " owner_id = %lld",
                             inspector),
                     0);
    assert_int_equal(staff_on_duty_today(), before - 1);
    /* One audit row per person: no actor (the job), the check-in row, the person named. */
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'checkin.auto_out' AND"
                             " actor_id IS NULL AND object_type = 'checkin' AND object_id = %lld"
                             " AND detail = 'user=%lld'",
                             id, inspector),
                     1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM events WHERE type = 'checkin.created' AND"
                             " subject_id = %lld",
                             id),
                     1);
    /* The handler (no shift, in at 07:50) is not due before 17:50. */
    assert_int_equal(on_duty(handler), 1);

    /* The phone's next fix is refused, as after any check-out; one before it is stored. */
    assert_int_equal(fix_at(2, t_auto + 1000), 409);
    assert_int_equal(fix_at(3, t_auto - 60000), 200);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                             " p.dev_id WHERE d.owner_type = 'user' AND d.owner_id = %lld",
                             inspector),
                     2);

    /* GET /api/v1/checkins shows it: status auto, no position. */
    th_get_as(&srv, "inspector", "/api/v1/checkins", &r);
    th_expect(&r, 200, NULL);
    {
        json_t *c = json_array_get(json_object_get(r.json, "items"), 0);
        assert_int_equal(th_jint(c, "id"), id);
        assert_string_equal(th_jstr(c, "type"), "out");
        assert_string_equal(th_jstr(c, "status"), "auto");
        assert_string_equal(th_jstr(c, "local_date"), "2026-12-07");
        assert_true(json_is_null(json_object_get(c, "lat")));
        assert_true(json_is_null(json_object_get(c, "lng")));
        assert_true(json_is_null(json_object_get(c, "accuracy")));
        assert_int_equal(json_array_size(json_object_get(c, "flags")), 0);
    }
    th_resp_free(&r);
    /* The same with crs=gcj02: nothing to convert. */
    th_get_as(&srv, "leader", "/api/v1/checkins?all=true&crs=gcj02", &r);
    th_expect(&r, 200, NULL);
    {
        json_t *items = json_object_get(r.json, "items");
        int seen = 0;
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *c = json_array_get(items, i);
            if (th_jint(c, "id") == id) {
                seen = 1;
                assert_true(json_is_null(json_object_get(c, "lat")));
            } else {
                assert_true(json_is_real(json_object_get(c, "lat")));
            }
        }
        assert_true(seen);
    }
    th_resp_free(&r);

    /* The daily summary (an admin's: everyone): present, last_out the automatic check-out,
     * flagged no_checkout. */
    th_get_as(&srv, "admin", "/api/v1/attendance/daily?date=2026-12-07", &r);
    th_expect(&r, 200, NULL);
    {
        json_t *people = json_object_get(r.json, "people");
        int seen = 0;
        for (size_t i = 0; i < json_array_size(people); i++) {
            json_t *p = json_array_get(people, i);
            long long u = th_jint(p, "user_id");
            if (u == inspector) {
                seen++;
                assert_string_equal(th_jstr(p, "status"), "present");
                s = th_jstr(p, "last_out");
                assert_non_null(s);
                assert_true(json_is_true(json_object_get(p, "no_checkout")));
            } else if (u == handler) {
                seen++;
                /* Still on duty: no check-out yet, nothing flagged. */
                assert_true(json_is_null(json_object_get(p, "last_out")));
                assert_true(json_is_false(json_object_get(p, "no_checkout")));
            }
        }
        assert_int_equal(seen, 2);
    }
    th_resp_free(&r);

    /* 17:51: the handler's ten hours are over. The job has run several times since the
     * inspector's check-out: still one check-out and one audit row each. */
    th_clock_local(&srv, 2026, 12, 7, 17, 51);
    wait_off_duty(handler);
    job_phase = th_now_ms();
    assert_int_equal(auto_outs(handler), 1);
    assert_true(th_sqlf(&srv,
                        "SELECT FLOOR(UNIX_TIMESTAMP(at) * 1000) FROM checkins WHERE user_id = %lld"
                        " AND status = 'auto'",
                        handler) >= t_auto + 19 * 60000LL);
    usleep(11 * 1000 * 1000); /* at least one more run of the job */
    for (int k = 0; k < 3; k++) {
        long long u = k == 0 ? inspector : k == 1 ? handler : operator_id;
        assert_int_equal(th_sqlf(&srv,
                                 "SELECT COUNT(*) FROM checkins WHERE user_id = %lld AND"
                                 " type = 'out'",
                                 u),
                         1);
        assert_int_equal(th_sqlf(&srv,
                                 "SELECT COUNT(*) FROM audit_log WHERE action = 'checkin.auto_out'"
                                 " AND detail = 'user=%lld'",
                                 u),
                         1);
    }
    /* A manual check-out now finds nobody checked in. */
    checkin_as("inspector", "out", 409, NULL);
}

/* Tuesday 2026-12-08: the inspector forgets again; a manual check-out comes when the job is
 * due too, both waiting for the duty row, held by hand for 2.5 s (under db.read_timeout_s: a
 * longer wait fails the statement). The hold starts about a second before the job's next run
 * (its phase taken from the handler's check-out above) and the manual check-out comes after
 * that run, so with InnoDB's first-come order the job usually wins. Either way one check-out
 * is made — the job's (the manual one refused as "not checked in") or the manual one (the job
 * then finds nothing). */
static void race_with_manual_checkout(void **state)
{
    struct th_resp r;
    long manual;
    (void)state;

    th_wait_track_partitions(&srv, th_clock_local(&srv, 2026, 12, 8, 7, 55));
    checkin_as("inspector", "in", 201, "on_time");
    while ((th_now_ms() - job_phase) % 10000 < 8800 || (th_now_ms() - job_phase) % 10000 > 9000)
        usleep(20 * 1000);
    assert_int_equal(th_sh("mariadb --no-defaults -uroot --socket=%s %s -e 'START TRANSACTION;"
                           " SELECT on_duty FROM duty WHERE user_id = %lld FOR UPDATE;"
                           " DO SLEEP(2.5); COMMIT' >/dev/null 2>&1 &",
                           srv.socket, srv.dbname, inspector),
                     0);
    for (int i = 0; i < 100 && !th_sqlf(&srv, "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                                              " WHERE INFO LIKE 'DO SLEEP%%'");
         i++)
        usleep(20000);
    th_clock_local(&srv, 2026, 12, 8, 17, 45);
    usleep(1400 * 1000);
    th_post(&srv, "inspector", "/api/v1/checkins", NULL,
            "{\"type\":\"out\",\"lat\":31.305,\"lng\":120.605,\"accuracy\":10}", &r);
    manual = r.status;
    if (manual == 409)
        assert_string_equal(th_error_code(&r), "invalid_state");
    else
        th_expect(&r, 201, NULL);
    th_resp_free(&r);
    usleep(11 * 1000 * 1000); /* the job runs at least once after */
    print_message("manual check-out: %ld (%s)\n", manual,
                  manual == 201 ? "the job found nothing" : "the job was first");
    assert_int_equal(on_duty(inspector), 0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM checkins WHERE user_id = %lld AND type = 'out'"
                             " AND local_date = '2026-12-08'",
                             inspector),
                     1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM checkins WHERE user_id = %lld AND type = 'out'"
                             " AND local_date = '2026-12-08' AND status = 'auto'",
                             inspector),
                     manual == 201 ? 0 : 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(day_shift_forgotten),
        cmocka_unit_test(race_with_manual_checkout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
