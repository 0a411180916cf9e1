/* tests/e2e/gps_test.c: attendance and tracks through the real server — check-ins against a
 * shift and the grids (inside, outside, at the edge, at the shift's boundaries), tracks stored
 * once per sequence number whatever the order, every filter, the off-duty refusal, latest
 * positions, replays with the audit row, a leader of another district (404), a citizen (no
 * track), GCJ-02 in and out, the evidence check on and off the track, vehicles with machine
 * keys, and retention with a moved clock. Its own server: the clock moves for everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <time.h>
#include <cmocka.h>
#include "harness.h"
#include "ledger.h"
#include "th_api.h"
#include "th_assert.h"

#define PW "Gps-Tr4ck!2026x"

static struct th_server srv;
static long long inspector, district2, t0;
static char leader2_tok[4096];

static void call_tok(const char *tok, const char *method, const char *path, const char *key,
                     const char *body, struct th_resp *r)
{
    char auth[9000], idem[128];
    const char *hs[] = {"Content-Type: application/json", auth, key ? idem : NULL, NULL};

    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", key ? key : "");
    th_request(&srv, method, path, hs, body, body ? strlen(body) : 0, 0, r);
}

static void call(const char *role, const char *method, const char *path, const char *body,
                 struct th_resp *r)
{
    call_tok(th_token(&srv, role), method, path, NULL, body, r);
}

static long long sqlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sqlf(const char *fmt, ...)
{
    char sql[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return th_sql_int(&srv, sql);
}

static void checkin(const char *type, double lat, double lng, double acc, long status,
                    const char *want_status)
{
    struct th_resp r;
    char body[256];

    snprintf(body, sizeof body, "{\"type\":\"%s\",\"lat\":%.7f,\"lng\":%.7f,\"accuracy\":%.1f}",
             type, lat, lng, acc);
    call("inspector", "POST", "/api/v1/checkins", body, &r);
    if (r.status != status || (want_status && strcmp(th_jstr(r.json, "status"), want_status) != 0))
        fail_msg("check-in %s: expected %ld %s, got %ld: %s", type, status,
                 want_status ? want_status : "", r.status, r.body);
    th_resp_free(&r);
}

static int setup(void **state)
{
    struct th_resp r;
    char body[512];
    long long shift;

    (void)state;
    /* No automatic check-out (gps_autoout_test has it): people here stay checked in across
     * the clock's jumps, and forgotten_checkout checks that 0 turns it off. */
    th_server_start(&srv, "testing.clock_control = true\ngps.max_age_s = 600\n"
                          "gps.auto_checkout_after_min = 0\ngps.max_duty_hours = 0\n");
    th_seed(&srv);
    inspector = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'inspector'");
    district2 = th_sql_int(&srv, "SELECT id FROM regions WHERE code = '999902'");
    /* Monday 2026-12-07, 07:30 in the city. */
    t0 = th_clock_local(&srv, 2026, 12, 7, 7, 30);
    call("admin", "POST", "/api/v1/shifts",
         "{\"name\":\"白班\",\"days\":[1,2,3,4,5],\"start\":\"08:00\",\"end\":\"17:00\","
         "\"grace_min\":5}",
         &r);
    th_expect(&r, 201, NULL);
    shift = th_jint(r.json, "id");
    th_resp_free(&r);
    snprintf(body, sizeof body, "{\"user_id\":%lld}", inspector);
    {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/shifts/%lld/assignments", shift);
        call("admin", "POST", path, body, &r);
        th_expect(&r, 204, NULL);
        th_resp_free(&r);
    }
    /* A leader of the other district. */
    snprintf(body, sizeof body,
             "{\"username\":\"leader2\",\"password\":\"%s\",\"display_name\":\"西城领导\","
             "\"roles\":[\"leader\"],\"region_id\":%lld}",
             PW, district2);
    call("admin", "POST", "/api/v1/admin/users", body, &r);
    th_expect(&r, 201, NULL);
    th_resp_free(&r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return th_server_stop(&srv);
}

static const char *leader2(void)
{
    struct th_resp r;

    th_login(&srv, "leader2", PW, "leader2-phone", &r);
    th_expect(&r, 200, NULL);
    snprintf(leader2_tok, sizeof leader2_tok, "%s", th_jstr(r.json, "access_token"));
    th_resp_free(&r);
    return leader2_tok;
}

/* ---- attendance ----------------------------------------------------------------------------- */

/* The status of user in a daily summary (fails when absent from it). */
static const char *person_status(json_t *summary, long long user)
{
    json_t *people = json_object_get(summary, "people");

    for (size_t i = 0; i < json_array_size(people); i++) {
        json_t *p = json_array_get(people, i);
        if (th_jint(p, "user_id") == user)
            return th_jstr(p, "status");
    }
    fail_msg("user %lld not in the summary", user);
    return "";
}

static void checkin_rules(void **state)
{
    struct th_resp r;
    /* 10 m north of grid 1's north edge (31.31): inside with the 30 m tolerance. */
    double edge_lat = 31.31 + 10.0 / 111195.0, far_lng = 120.60 - 0.003; /* ~285 m west */
    (void)state;

    /* Off duty: tracks are refused with their own code and nothing is stored. */
    call("inspector", "POST", "/api/v1/tracks",
         "{\"points\":[{\"seq\":1,\"device_time\":1796600000000,\"lat\":31.305,\"lng\":120.605}]}",
         &r);
    th_expect(&r, 409, "off_duty");
    th_resp_free(&r);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points"), 0);
    checkin("out", 31.305, 120.605, 10, 409, NULL);

    /* 08:05 exactly is still on time (grace 5 min); 08:05 and a bit is late. */
    th_clock_local(&srv, 2026, 12, 7, 8, 5);
    checkin("in", edge_lat, 120.605, 10, 201, "on_time");
    checkin("in", 31.305, 120.605, 10, 409, NULL); /* twice in */
    th_clock_local(&srv, 2026, 12, 7, 16, 55);
    checkin("out", 31.305, 120.605, 10, 201, "on_time"); /* 17:00 - 5 min */
    th_clock_local(&srv, 2026, 12, 8, 8, 6);
    checkin("in", 31.305, far_lng, 10, 201, "outside_area");
    call("inspector", "GET", "/api/v1/checkins", NULL, &r);
    th_expect(&r, 200, NULL);
    {
        json_t *first = json_array_get(json_object_get(r.json, "items"), 0);
        json_t *flags = json_object_get(first, "flags");
        /* Late and outside: both findings are kept, the status is the more serious one. */
        assert_int_equal(json_array_size(flags), 2);
        assert_string_equal(json_string_value(json_array_get(flags, 0)), "late");
        assert_true(json_real_value(json_object_get(first, "distance_m")) > 250);
    }
    th_resp_free(&r);
    th_clock_local(&srv, 2026, 12, 8, 16, 54);
    checkin("out", 31.305, 120.605, 500, 201, "low_accuracy");
    th_clock_local(&srv, 2026, 12, 9, 8, 0);
    checkin("in", 31.305, 120.605, 10, 201, "on_time");
    th_clock_local(&srv, 2026, 12, 9, 16, 54);
    checkin("out", 31.305, 120.605, 10, 201, "early_leave");
    assert_int_equal(sqlf("SELECT COUNT(*) FROM checkins WHERE user_id = %lld", inspector), 6);
    assert_int_equal(
        sqlf("SELECT COUNT(*) FROM audit_log WHERE action IN ('checkin.in','checkin.out')"), 6);

    /* Daily summary of Tuesday: the inspector was late. */
    call("leader", "GET", "/api/v1/attendance/daily?date=2026-12-08", NULL, &r);
    th_expect(&r, 200, NULL);
    {
        json_t *people = json_object_get(r.json, "people");
        int found = 0;
        for (size_t i = 0; i < json_array_size(people); i++) {
            json_t *p = json_array_get(people, i);
            if (th_jint(p, "user_id") == inspector) {
                assert_string_equal(th_jstr(p, "status"), "late");
                found = 1;
            }
        }
        assert_true(found);
    }
    th_resp_free(&r);
    /* Thursday, seen on Wednesday: not absent yet, pending (the day has not come). */
    call("leader", "GET", "/api/v1/attendance/daily?date=2026-12-10", NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(person_status(r.json, inspector), "pending");
    th_resp_free(&r);
    /* Thursday 08:05 is within the grace, 08:06 is not: nobody checked in, absent. */
    th_clock_local(&srv, 2026, 12, 10, 8, 5);
    call("leader", "GET", "/api/v1/attendance/daily?date=2026-12-10", NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(person_status(r.json, inspector), "pending");
    th_resp_free(&r);
    th_clock_local(&srv, 2026, 12, 10, 8, 6);
    call("leader", "GET", "/api/v1/attendance/daily?date=2026-12-10", NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(person_status(r.json, inspector), "absent");
    th_resp_free(&r);
    /* On leave once a leave is recorded. */
    {
        char body[128];
        snprintf(body, sizeof body,
                 "{\"user_id\":%lld,\"from\":\"2026-12-10\",\"to\":\"2026-12-10\"}", inspector);
        call("shift_lead", "POST", "/api/v1/leaves", body, &r);
        th_expect(&r, 404, "not_found"); /* the seeded shift lead leads no region */
        th_resp_free(&r);
        call("leader", "POST", "/api/v1/leaves", body, &r);
        th_expect(&r, 201, NULL);
        th_resp_free(&r);
    }
    call("leader", "GET", "/api/v1/attendance/daily?date=2026-12-10", NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(person_status(r.json, inspector), "on_leave");
    th_resp_free(&r);
}

/* ---- tracks --------------------------------------------------------------------------------- */

/* Points seq from..to (step 1 or -1), 10 s apart from base, walking east 10 m a step. */
static char *batch(long long base, int from, int to, const char *extra)
{
    size_t cap = 200000, len = 0;
    char *b = malloc(cap);
    int step = from <= to ? 1 : -1;

    len += (size_t)snprintf(b + len, cap - len, "{%s\"points\":[", extra ? extra : "");
    for (int s = from;; s += step) {
        len +=
            (size_t)snprintf(b + len, cap - len,
                             "%s{\"seq\":%d,\"device_time\":%lld,\"lat\":31.305,\"lng\":%.7f,"
                             "\"accuracy\":8,\"speed\":1.0,\"battery\":80}",
                             s == from ? "" : ",", s, base + s * 10000LL, 120.601 + s * 0.000105);
        if (s == to)
            break;
    }
    snprintf(b + len, cap - len, "]}");
    return b;
}

static void post_batch(const char *tok, const char *body, long status, int fresh, int dup,
                       int filtered)
{
    struct th_resp r;

    call_tok(tok, "POST", "/api/v1/tracks", NULL, body, &r);
    if (r.status != status ||
        (status == 200 && (th_jint(r.json, "new") != fresh || th_jint(r.json, "duplicate") != dup ||
                           th_jint(r.json, "filtered") != filtered)))
        fail_msg("expected %ld new %d dup %d filtered %d, got %ld: %s", status, fresh, dup,
                 filtered, r.status, r.body);
    th_resp_free(&r);
}

static long long base; /* fix times of the main track */

static void tracks_once_per_seq(void **state)
{
    char *b;
    (void)state;

    /* Friday 2026-12-11: check in at 07:40, walk from 08:00, send at 08:07. */
    th_wait_track_partitions(&srv, th_clock_local(&srv, 2026, 12, 11, 7, 40));
    {
        /* A retried check-in (same Idempotency-Key, same body) is the first one. */
        struct th_resp r;
        const char *body = "{\"type\":\"in\",\"lat\":31.305,\"lng\":120.601,\"accuracy\":10}";
        long long n = sqlf("SELECT COUNT(*) FROM checkins"), id;
        call_tok(th_token(&srv, "inspector"), "POST", "/api/v1/checkins", "gps-in-1211", body, &r);
        th_expect(&r, 201, NULL);
        assert_string_equal(th_jstr(r.json, "status"), "on_time");
        id = th_jint(r.json, "id");
        th_resp_free(&r);
        call_tok(th_token(&srv, "inspector"), "POST", "/api/v1/checkins", "gps-in-1211", body, &r);
        th_expect(&r, 201, NULL);
        assert_int_equal(th_jint(r.json, "id"), id);
        th_resp_free(&r);
        assert_int_equal(sqlf("SELECT COUNT(*) FROM checkins"), n + 1);
    }
    base = th_clock_local(&srv, 2026, 12, 11, 8, 7) - 7 * 60000;
    b = batch(base, 1, 20, NULL);
    post_batch(th_token(&srv, "inspector"), b, 200, 20, 0, 0);
    post_batch(th_token(&srv, "inspector"), b, 200, 0, 20, 0); /* resend */
    free(b);
    /* Out of order and overlapping: 40..21 backwards, then 15..30. */
    b = batch(base, 40, 21, NULL);
    post_batch(th_token(&srv, "inspector"), b, 200, 20, 0, 0);
    free(b);
    b = batch(base, 15, 30, NULL);
    post_batch(th_token(&srv, "inspector"), b, 200, 0, 16, 0);
    free(b);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points"), 40);
    assert_int_equal(sqlf("SELECT COUNT(DISTINCT seq) FROM track_points"), 40);
    /* A phone that re-stamps queued fixes: seqs 38..40 again with device times 3 s later are
     * duplicates all the same. */
    b = batch(base + 3000, 38, 40, NULL);
    post_batch(th_token(&srv, "inspector"), b, 200, 0, 3, 0);
    free(b);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points"), 40);
    {
        /* The fault suite's ledger (tests/lib/ledger.h): each acknowledged point stored once. */
        struct ledger *led = ledger_new();
        for (int q = 1; q <= 40; q++)
            ledger_gps(led, "user", inspector, "test-device", q);
        ledger_assert_clean(led, &srv);
        ledger_free(led);
    }
}

static void tracks_filters(void **state)
{
    struct th_resp r;
    char body[4096];
    long long now = th_clock_local(&srv, 2026, 12, 11, 8, 10);
    (void)state;

    /* One point per filter, after the walk's last fix (seq 40 at base + 400 s). */
    snprintf(body, sizeof body,
             "{\"device\":\"filters\",\"points\":["
             "{\"seq\":1,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.606},"
             "{\"seq\":2,\"device_time\":%lld,\"lat\":0,\"lng\":0},"
             "{\"seq\":3,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.606,\"accuracy\":500},"
             "{\"seq\":4,\"device_time\":%lld,\"lat\":31.405,\"lng\":120.606},"
             "{\"seq\":5,\"device_time\":%lld,\"lat\":31.3051,\"lng\":120.606},"
             "{\"seq\":6,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.606},"
             "{\"seq\":7,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.606},"
             "{\"seq\":8,\"device_time\":%lld,\"lat\":31.3052,\"lng\":120.606}]}",
             now - 60000, now - 50000, now - 40000, now - 30000, now - 60000, now + 3600000,
             now - 700000, now - 20000);
    call("inspector", "POST", "/api/v1/tracks", body, &r);
    th_expect(&r, 200, NULL);
    {
        json_t *by = json_object_get(r.json, "filtered_by");
        assert_int_equal(th_jint(r.json, "new"), 2); /* seq 1 and 8 */
        assert_int_equal(th_jint(r.json, "filtered"), 6);
        assert_int_equal(th_jint(by, "invalid_coordinates"), 1);
        assert_int_equal(th_jint(by, "accuracy"), 1);
        assert_int_equal(th_jint(by, "speed"), 1); /* 11 km in 30 s */
        assert_int_equal(th_jint(by, "duplicate_time"), 1);
        assert_int_equal(th_jint(by, "future"), 1);
        assert_int_equal(th_jint(by, "too_old"), 1);
    }
    th_resp_free(&r);
    /* Kept with their reasons, never dropped. */
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.device = 'filters' AND p.filtered <> 'ok'"),
                     6);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.device = 'filters' AND p.filtered = 'speed' AND"
                          " p.seq = 4"),
                     1);
    /* Resent, the batch is all duplicates (the filtered ones too). */
    call("inspector", "POST", "/api/v1/tracks", body, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "duplicate"), 8);
    th_resp_free(&r);
    /* A batch over 500 points changes nothing. */
    {
        char *big = batch(base, 1000, 1500, NULL);
        call("inspector", "POST", "/api/v1/tracks", big, &r);
        th_expect(&r, 400, "invalid_argument");
        th_resp_free(&r);
        free(big);
    }
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points WHERE seq >= 1000"), 0);
}

/* The compact form (docs/attendance.md): points as arrays [seq, device_time, lat, lng,
 * accuracy, speed, heading, altitude, battery], trailing values left out or null. The same
 * points sent as objects to another device are stored alike, column by column; a resend in
 * the other form is all duplicates; malformed arrays change nothing. */
static void tracks_compact_form(void **state)
{
    struct th_resp r;
    char compact[2048], objects[2048];
    long long now = th_clock_local(&srv, 2026, 12, 11, 8, 10), t = now - 120000;
    (void)state;

    snprintf(compact, sizeof compact,
             "{\"device\":\"compact\",\"points\":["
             "[1,%lld,31.305,120.6061,6.5,1.25,90,12.5,76],"
             "[2,%lld,31.305,120.6062,7,null,null,null,75],"
             "[3,%lld,31.305,120.6063],"
             "{\"seq\":4,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.6064,\"speed\":0.5},"
             "[5,%lld,31.305,120.6065,4,0.75,180,-3]]}",
             t + 10000, t + 20000, t + 30000, t + 40000, t + 50000);
    snprintf(objects, sizeof objects,
             "{\"device\":\"objects\",\"points\":["
             "{\"seq\":1,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.6061,\"accuracy\":6.5,"
             "\"speed\":1.25,\"heading\":90,\"altitude\":12.5,\"battery\":76},"
             "{\"seq\":2,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.6062,\"accuracy\":7,"
             "\"battery\":75},"
             "{\"seq\":3,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.6063},"
             "{\"seq\":4,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.6064,\"speed\":0.5},"
             "{\"seq\":5,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.6065,\"accuracy\":4,"
             "\"speed\":0.75,\"heading\":180,\"altitude\":-3}]}",
             t + 10000, t + 20000, t + 30000, t + 40000, t + 50000);
    post_batch(th_token(&srv, "inspector"), compact, 200, 5, 0, 0);
    post_batch(th_token(&srv, "inspector"), objects, 200, 5, 0, 0);
    assert_int_equal(
        sqlf("SELECT COUNT(*) FROM track_points a JOIN track_devices da ON da.id = a.dev_id"
             " JOIN track_points b JOIN track_devices db ON db.id = b.dev_id WHERE"
             " da.device = 'compact' AND db.device = 'objects' AND a.seq = b.seq AND a.t = b.t"
             " AND a.lat = b.lat AND a.lng = b.lng AND a.accuracy_m <=> b.accuracy_m AND"
             " a.speed <=> b.speed AND a.heading <=> b.heading AND a.altitude <=> b.altitude"
             " AND a.battery <=> b.battery AND a.filtered = b.filtered"),
        5);
    /* Something to compare: the values went in, NULL where nothing was sent. */
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.device = 'compact' AND p.seq = 5 AND p.altitude = -3"
                          " AND p.heading = 180 AND p.battery IS NULL AND p.accuracy_m = 4"),
                     1);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.device = 'compact' AND p.seq = 3 AND p.accuracy_m"
                          " IS NULL AND p.speed IS NULL AND p.battery IS NULL"),
                     1);
    /* The objects again, as the compact device: stored before. */
    memcpy(strstr(objects, "objects"), "compact", 7);
    post_batch(th_token(&srv, "inspector"), objects, 200, 0, 5, 0);
    /* Too few values, too many, a string for a number, a negative seq: 400, nothing stored. */
    {
        /* Each point as its text before and after the fix time. */
        static const char *const bad[][2] = {
            {"[6,", ",31.305]"},
            {"[6,", ",31.305,120.6066,1,1,1,1,1,1]"},
            {"[6,", ",31.305,\"120.6066\"]"},
            {"[-6,", ",31.305,120.6066]"},
            {"[6,", ",31.305,120.6066,5,0,0,0,101]"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            char pt[128], body[512];
            snprintf(pt, sizeof pt, "%s%lld%s", bad[i][0], t + 60000, bad[i][1]);
            snprintf(body, sizeof body,
                     "{\"device\":\"compact\",\"points\":[[7,%lld,31.305,120.6067],%s]}", t + 70000,
                     pt);
            call("inspector", "POST", "/api/v1/tracks", body, &r);
            th_expect(&r, 400, "invalid_argument");
            th_resp_free(&r);
        }
    }
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.device = 'compact'"),
                     5);
}

static void latest_and_replay(void **state)
{
    struct th_resp r;
    char path[256];
    (void)state;

    call("leader", "GET", "/api/v1/positions/latest?bbox=120.59,31.29,120.63,31.32", NULL, &r);
    th_expect(&r, 200, NULL);
    {
        json_t *items = json_object_get(r.json, "items");
        assert_int_equal(json_array_size(items), 1);
        assert_int_equal(th_jint(json_array_get(items, 0), "owner_id"), inspector);
    }
    th_resp_free(&r);
    call_tok(leader2(), "GET", "/api/v1/positions/latest?bbox=120.59,31.29,120.63,31.32", NULL,
             NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);
    call("leader", "GET", "/api/v1/positions/latest?bbox=121,31.29,122,31.32", NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    th_resp_free(&r);
    /* The same bbox rules as /cases (api_query_bbox): a malformed box is a 400. */
    call("leader", "GET", "/api/v1/positions/latest?bbox=121,31.29,122", NULL, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    call("leader", "GET", "/api/v1/positions/latest?bbox=122,31.29,121,31.32", NULL, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/tracks?user=%lld&from=%lld&to=%lld&simplify=5", inspector,
             base - 3600000, base + 3600000);
    call("leader", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    /* 40 fixes on a straight line east plus 2 from the filter batch (other device). */
    assert_int_equal(th_jint(r.json, "raw_points"), 42);
    assert_true(json_array_size(json_object_get(r.json, "points")) < 42);
    {
        json_t *day = json_array_get(json_object_get(r.json, "days"), 0);
        double dist = json_real_value(json_object_get(day, "distance_m"));
        assert_string_equal(th_jstr(day, "date"), "2026-12-11");
        /* 39 steps of ~10 m, then the second device's fixes nearby. */
        assert_true(dist > 380 && dist < 2000);
        assert_true(th_jint(day, "on_duty_minutes") > 0);
    }
    th_resp_free(&r);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM audit_log WHERE action = 'track.read' AND"
                          " object_id = %lld AND result = 'ok'",
                          inspector),
                     1);

    /* Another district's leader: as if the person did not exist. A citizen: no track at all. */
    call_tok(leader2_tok, "GET", path, NULL, NULL, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    call("citizen", "GET", path, NULL, &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);
    call("handler", "GET", path, NULL, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM audit_log WHERE action = 'track.read' AND"
                          " object_id = %lld AND result = 'denied'",
                          inspector),
                     2);
}

static void gcj02_round_trip(void **state)
{
    struct th_resp r;
    char body[512], path[256];
    long long t = base + 420000;
    (void)state;

    /* GCJ-02 (45, 123) is WGS-84 (44.99804071, 122.99395597) by an independent implementation
     * (hujiulong/gcoord's test suite). */
    snprintf(body, sizeof body,
             "{\"crs\":\"gcj02\",\"device\":\"gcj\",\"points\":[{\"seq\":1,\"device_time\":%lld,"
             "\"lat\":45.0,\"lng\":123.0,\"accuracy\":5}]}",
             t);
    call("inspector", "POST", "/api/v1/tracks", body, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "new"), 1);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/tracks?user=%lld&from=%lld&to=%lld", inspector, t - 1,
             t + 1);
    call("inspector", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    {
        json_t *p = json_array_get(json_object_get(r.json, "points"), 0);
        double lat = json_real_value(json_object_get(p, "lat"));
        double lng = json_real_value(json_object_get(p, "lng"));
        double dy = (lat - 44.99804071) * 111195.0, dx = (lng - 122.99395597) * 111195.0 * 0.7071;
        assert_true(dx * dx + dy * dy < 1.0);
    }
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/tracks?user=%lld&from=%lld&to=%lld&crs=gcj02", inspector,
             t - 1, t + 1);
    call("inspector", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    {
        json_t *p = json_array_get(json_object_get(r.json, "points"), 0);
        double dy = (json_real_value(json_object_get(p, "lat")) - 45.0) * 111195.0;
        double dx = (json_real_value(json_object_get(p, "lng")) - 123.0) * 111195.0 * 0.7071;
        assert_string_equal(th_jstr(r.json, "crs"), "gcj02");
        assert_true(dx * dx + dy * dy < 1.0);
    }
    th_resp_free(&r);
}

/* A case reported by the inspector whose report photo says where and when it was taken (as
 * media stores it from EXIF before stripping): on the track, then far from it. */
static void evidence(void **state)
{
    struct th_resp r;
    long long cat, case_id, media;
    char body[512], path[64];
    (void)state;

    cat = th_sql_int(&srv, "SELECT id FROM categories WHERE code_set = 'gbt30428' AND"
                           " kind = 'event' AND full_code = '0102'");
    assert_true(cat > 0);
    snprintf(body, sizeof body,
             "{\"code_set\":\"gbt30428\",\"full_code\":\"0102\",\"kind\":\"event\","
             "\"description\":\"暴露垃圾\",\"location\":{\"lat\":31.305,\"lng\":120.603}}");
    call("inspector", "POST", "/api/v1/cases", body, &r);
    th_expect(&r, 201, NULL);
    case_id = th_jint(r.json, "id");
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/evidence", case_id);
    call("operator", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "status"), "unknown");
    assert_string_equal(th_jstr(r.json, "reason"), "no_photo_metadata");
    th_resp_free(&r);

    /* Taken at fix 20 (base + 200 s = 08:03:20 local), where the walk was then. */
    {
        char sql[1024];
        snprintf(sql, sizeof sql,
                 "INSERT INTO media (public_id, kind, mime, bytes, sha_original, upload_sha,"
                 " taken_at, gps_lat, gps_lng, owner_id) VALUES ('evidencephoto000000001',"
                 " 'image', 'image/jpeg', 1, REPEAT('a', 64), REPEAT('b', 64),"
                 " '2026-12-11 08:03:20', 31.305, %.7f, %lld)",
                 120.601 + 20 * 0.000105, inspector);
        th_sql_exec(&srv, sql);
        media = th_sql_int(&srv, "SELECT MAX(id) FROM media");
        snprintf(sql, sizeof sql,
                 "INSERT INTO media_attachments (media_id, owner_type, owner_id, purpose)"
                 " VALUES (%lld, 'case', %lld, 'report')",
                 media, case_id);
        th_sql_exec(&srv, sql);
    }
    call("operator", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "status"), "consistent");
    assert_true(json_real_value(json_object_get(r.json, "distance_m")) < 5);
    th_resp_free(&r);
    /* The same photo claimed 500 m away from where the phone was. */
    th_sql_exec(&srv, "UPDATE media SET gps_lat = 31.3095 WHERE public_id ="
                      " 'evidencephoto000000001'");
    call("operator", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(r.json, "status"), "inconsistent");
    assert_true(json_real_value(json_object_get(r.json, "distance_m")) > 400);
    th_resp_free(&r);
    call_tok(leader2_tok, "GET", path, NULL, NULL, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    call("citizen", "GET", path, NULL, &r);
    th_expect(&r, 403, NULL);
    th_resp_free(&r);
    /* The case read carries it for operators and leaders, not for the reporter. */
    snprintf(path, sizeof path, "/api/v1/cases/%lld", case_id);
    call("operator", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(json_object_get(r.json, "evidence"), "status"), "inconsistent");
    th_resp_free(&r);
    call("leader", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_string_equal(th_jstr(json_object_get(r.json, "evidence"), "status"), "inconsistent");
    th_resp_free(&r);
    call("inspector", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_null(json_object_get(r.json, "evidence"));
    th_resp_free(&r);
}

static void vehicles(void **state)
{
    struct th_resp r;
    char body[1024];
    long long machine, vehicle;
    const char *key;
    char tok[4096];
    (void)state;

    call("admin", "POST", "/api/v1/admin/api-keys",
         "{\"name\":\"渣土车终端\",\"scopes\":[\"tracks:write\"]}", &r);
    th_expect(&r, 201, NULL);
    machine = th_jint(r.json, "user_id");
    key = th_jstr(r.json, "api_key");
    snprintf(body, sizeof body, "{\"api_key\":\"%s\"}", key);
    th_resp_free(&r);
    {
        struct th_resp t;
        const char *hs[] = {"Content-Type: application/json", NULL};
        th_request(&srv, "POST", "/api/v1/auth/token", hs, body, strlen(body), 0, &t);
        th_expect(&t, 200, NULL);
        snprintf(tok, sizeof tok, "%s", th_jstr(t.json, "access_token"));
        th_resp_free(&t);
    }
    snprintf(body, sizeof body,
             "{\"plate\":\"苏E12345\",\"name\":\"渣土车1号\",\"region_id\":%lld,\"user_id\":%lld}",
             district2, machine);
    call("admin", "POST", "/api/v1/vehicles", body, &r);
    th_expect(&r, 201, NULL);
    vehicle = th_jint(r.json, "id");
    th_resp_free(&r);
    snprintf(body, sizeof body,
             "{\"vehicle_id\":%lld,\"points\":[{\"seq\":1,\"device_time\":%lld,\"lat\":31.305,"
             "\"lng\":120.585,\"speed\":8}]}",
             vehicle, base + 590000);
    post_batch(tok, body, 200, 1, 0, 0);
    post_batch(tok, body, 200, 0, 1, 0);
    /* Not its vehicle: 404. */
    snprintf(body, sizeof body,
             "{\"vehicle_id\":%lld,\"points\":[{\"seq\":1,\"device_time\":%lld,\"lat\":31.305,"
             "\"lng\":120.585}]}",
             vehicle + 100, base + 590000);
    post_batch(tok, body, 404, 0, 0, 0);
    call_tok(leader2_tok, "GET", "/api/v1/positions/latest?bbox=120.57,31.29,120.63,31.32", NULL,
             NULL, &r);
    th_expect(&r, 200, NULL);
    {
        json_t *items = json_object_get(r.json, "items");
        assert_int_equal(json_array_size(items), 1);
        assert_string_equal(th_jstr(json_array_get(items, 0), "owner_type"), "vehicle");
    }
    th_resp_free(&r);
    /* The live-map hook: a position.updated event per owner. */
    assert_true(sqlf("SELECT COUNT(*) FROM events WHERE type = 'position.updated' AND"
                     " subject_type = 'vehicle' AND subject_id = %lld",
                     vehicle) == 1);
}

static void retention(void **state)
{
    long long before = sqlf("SELECT COUNT(*) FROM track_points"), clock_cutoff;
    int waited = 0;
    (void)state;

    assert_true(before > 40);
    /* 182 days later the job drops the day partitions of December. */
    clock_cutoff = th_clock_local(&srv, 2027, 6, 11, 9, 0) - 180LL * 86400000;
    while (sqlf("SELECT COUNT(*) FROM track_points WHERE t BETWEEN %lld AND %lld",
                base - 86400000LL, base + 86400000LL) > 0 &&
           waited < 40) {
        sleep(1);
        waited++;
    }
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points WHERE t BETWEEN %lld AND %lld",
                          base - 86400000LL, base + 86400000LL),
                     0);
    /* Whole partitions went: none is left that ends before the retention cutoff, and the
     * days ahead exist. */
    assert_int_equal(sqlf("SELECT COUNT(*) FROM information_schema.partitions WHERE"
                          " table_schema = DATABASE() AND table_name = 'track_points' AND"
                          " partition_name NOT IN ('p_old', 'pmax') AND"
                          " CAST(partition_description AS SIGNED) <= %lld",
                          clock_cutoff),
                     0);
    /* New points still have a place: pmax and the day partitions to come. */
    assert_int_equal(sqlf("SELECT COUNT(*) FROM information_schema.partitions WHERE"
                          " table_schema = DATABASE() AND table_name = 'track_points' AND"
                          " partition_name = 'pmax'"),
                     1);
}

/* A selfie with a check-in must be the user's own upload; an admin ends an assignment. */
#define SELFIE_BODY                                                                                \
    "{\"type\":\"in\",\"lat\":31.305,\"lng\":120.605,\"accuracy\":10,\"selfie\":\"%s\"}"
static void selfie_and_unassign(void **state)
{
    struct th_resp r;
    long long handler = sqlf("SELECT id FROM users WHERE username = 'handler'");
    long long shift = sqlf("SELECT id FROM shifts WHERE name = '白班'");
    char sql[512], path[128];
    char b[256];
    (void)state;

    snprintf(sql, sizeof sql,
             "INSERT INTO media (public_id, kind, mime, bytes, sha_original, upload_sha, owner_id)"
             " VALUES ('selfiehandler000000001', 'image', 'image/jpeg', 1, REPEAT('c', 64),"
             " REPEAT('d', 64), %lld), ('selfieinspector0000001', 'image', 'image/jpeg', 1,"
             " REPEAT('e', 64), REPEAT('f', 64), %lld)",
             handler, inspector);
    th_sql_exec(&srv, sql);
    /* Someone else's photo is no selfie: refused, nothing stored. */
    snprintf(b, sizeof b, SELFIE_BODY, "selfieinspector0000001");
    call("handler", "POST", "/api/v1/checkins", b, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM checkins WHERE user_id = %lld", handler), 0);
    snprintf(b, sizeof b, SELFIE_BODY, "selfiehandler000000001");
    call("handler", "POST", "/api/v1/checkins", b, &r);
    th_expect(&r, 201, NULL);
    assert_true(json_is_true(json_object_get(r.json, "selfie")));
    th_resp_free(&r);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM checkins c JOIN media m ON m.id ="
                          " c.selfie_media_id WHERE c.user_id = %lld AND m.public_id ="
                          " 'selfiehandler000000001'",
                          handler),
                     1);

    /* Unassign: exactly one of user_id and department_id; once, then 404. */
    snprintf(path, sizeof path, "/api/v1/shifts/%lld/assignments", shift);
    call("admin", "DELETE", path, NULL, &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/shifts/%lld/assignments?user_id=%lld", shift, inspector);
    call("inspector", "DELETE", path, NULL, &r);
    th_expect(&r, 403, "permission_denied");
    th_resp_free(&r);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM shift_assignments WHERE user_id = %lld", inspector),
                     1);
    call("admin", "DELETE", path, NULL, &r);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM shift_assignments WHERE user_id = %lld", inspector),
                     0);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM audit_log WHERE action = 'shift.unassign'"), 1);
    call("admin", "DELETE", path, NULL, &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
}

/* ---- night shifts (夜班) ----------------------------------------------------------------------
 */

/* Check the inspector in or out at a China wall time of 2027 (returned, ms); the answer's
 * status and local_date. */
static long long night_checkin(int mo, int d, int h, int mi, const char *type,
                               const char *want_status, const char *want_date)
{
    struct th_resp r;
    char body[160];
    long long at = th_clock_local(&srv, 2027, mo, d, h, mi);

    snprintf(body, sizeof body, "{\"type\":\"%s\",\"lat\":31.305,\"lng\":120.605,\"accuracy\":10}",
             type);
    call("inspector", "POST", "/api/v1/checkins", body, &r);
    if (r.status != 201 || strcmp(th_jstr(r.json, "status"), want_status) != 0 ||
        strcmp(th_jstr(r.json, "local_date"), want_date) != 0)
        fail_msg("%02d-%02d %02d:%02d %s: expected %s on %s, got %ld: %s", mo, d, h, mi, type,
                 want_status, want_date, r.status, r.body);
    th_resp_free(&r);
    return at;
}

/* ms of an API time ("2027-06-14T11:55:00.000Z"; whole seconds are all these tests need). */
static long long th_jtime(json_t *o, const char *k)
{
    const char *s = th_jstr(o, k);
    struct tm tm = {0};

    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec) != 6)
        fail_msg("%s: not a time: %s", k, s ? s : "(null)");
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000;
}

/* The inspector's line of the daily summary of date: status, first in and last out. */
static void night_summary(const char *date, const char *want_status, long long first_in,
                          long long last_out)
{
    struct th_resp r;
    char path[96];
    json_t *people;
    int found = 0;

    snprintf(path, sizeof path, "/api/v1/attendance/daily?date=%s", date);
    call("leader", "GET", path, NULL, &r);
    th_expect(&r, 200, NULL);
    people = json_object_get(r.json, "people");
    for (size_t i = 0; i < json_array_size(people); i++) {
        json_t *p = json_array_get(people, i);
        if (th_jint(p, "user_id") != inspector)
            continue;
        found = 1;
        if (strcmp(th_jstr(p, "status"), want_status) != 0)
            fail_msg("%s: expected %s: %s", date, want_status, r.body);
        /* The server stamps the time it handled the request: a little after the clock's move
         * (whole seconds here). */
        if (first_in)
            assert_in_range(th_jtime(p, "first_in"), first_in - 1000, first_in + 30000);
        else
            assert_true(json_is_null(json_object_get(p, "first_in")));
        if (last_out)
            assert_in_range(th_jtime(p, "last_out"), last_out - 1000, last_out + 30000);
        else
            assert_true(json_is_null(json_object_get(p, "last_out")));
    }
    assert_true(found);
    /* The department counts agree with the people. */
    {
        json_t *depts = json_object_get(r.json, "departments");
        long long n = 0, want = 0;
        for (size_t i = 0; i < json_array_size(depts); i++)
            n += th_jint(json_array_get(depts, i), want_status);
        for (size_t i = 0; i < json_array_size(people); i++)
            want += strcmp(th_jstr(json_array_get(people, i), "status"), want_status) == 0;
        assert_int_equal(n, want);
        assert_true(n >= 1);
    }
    th_resp_free(&r);
}

/* staff_on_duty of the leader's dashboard: today's and yesterday's. */
static void dash_on_duty(long long *today, long long *yesterday)
{
    struct th_resp r;

    call("leader", "GET", "/api/v1/dashboard/summary", NULL, &r);
    th_expect(&r, 200, NULL);
    *today = th_jint(json_object_get(r.json, "today"), "staff_on_duty");
    *yesterday = th_jint(json_object_get(r.json, "yesterday"), "staff_on_duty");
    th_resp_free(&r);
}

/* 夜班 20:00–08:00 with 15 minutes' grace: the check-ins around both ends, the night counted
 * on the day it starts (check-outs of the next morning and a check-in after midnight
 * included), pending and absent by the server's clock, tracks across midnight, and the
 * dashboard's staff on duty. Monday 2027-06-14 to Friday 06-18. */
static void night_shift(void **state)
{
    struct th_resp r;
    char path[96], body[128], *b;
    long long shift, t_in, t_out, today, yesterday, today0;
    (void)state;

    /* The inspector starts off duty, without a shift (selfie_and_unassign ended it). */
    if (sqlf("SELECT COUNT(*) FROM duty WHERE user_id = %lld AND on_duty = 1", inspector)) {
        th_clock_local(&srv, 2027, 6, 12, 12, 0);
        call("inspector", "POST", "/api/v1/checkins",
             "{\"type\":\"out\",\"lat\":31.305,\"lng\":120.605,\"accuracy\":10}", &r);
        th_expect(&r, 201, NULL);
        th_resp_free(&r);
    }
    /* An end equal to the start is no shift; an end before it is overnight. */
    call("admin", "POST", "/api/v1/shifts",
         "{\"name\":\"空班\",\"days\":[1],\"start\":\"20:00\",\"end\":\"20:00\"}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM shifts WHERE name = '空班'"), 0);
    call("admin", "POST", "/api/v1/shifts",
         "{\"name\":\"夜班\",\"days\":[1,2,3,4,5,6,7],\"start\":\"20:00\",\"end\":\"08:00\","
         "\"grace_min\":15}",
         &r);
    th_expect(&r, 201, NULL);
    shift = th_jint(r.json, "id");
    assert_string_equal(th_jstr(r.json, "end"), "08:00");
    assert_true(json_is_true(json_object_get(r.json, "overnight")));
    th_resp_free(&r);
    assert_int_equal(sqlf("SELECT end_min FROM shifts WHERE id = %lld", shift), 480);
    snprintf(path, sizeof path, "/api/v1/shifts/%lld/assignments", shift);
    snprintf(body, sizeof body, "{\"user_id\":%lld}", inspector);
    call("admin", "POST", path, body, &r);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);

    /* Monday noon: tonight's shift has not started, so Monday is pending, not absent. */
    th_wait_track_partitions(&srv, th_clock_local(&srv, 2027, 6, 14, 12, 0));
    night_summary("2027-06-14", "pending", 0, 0);
    dash_on_duty(&today0, &yesterday);

    /* Monday night: in at 19:55 (on time), out on Tuesday at 07:50 (within the grace). */
    t_in = night_checkin(6, 14, 19, 55, "in", "on_time", "2027-06-14");
    /* On duty across midnight: a fix of 23:59 sent at 00:00, one of 00:29 at 00:30. */
    b = malloc(512);
    for (int k = 0; k < 2; k++) {
        long long now = th_clock_local(&srv, 2027, 6, 15, 0, k ? 30 : 0);
        snprintf(b, 512,
                 "{\"points\":[{\"seq\":%d,\"device_time\":%lld,\"lat\":31.305,"
                 "\"lng\":%.3f}]}",
                 k + 1, now - 60000LL, 120.601 + k * 0.001);
        post_batch(th_token(&srv, "inspector"), b, 200, 1, 0, 0);
    }
    free(b);
    /* At 02:00 the inspector counts as on duty today (Tuesday), and Monday's night is
     * Monday's: present, no check-out yet. */
    th_clock_local(&srv, 2027, 6, 15, 2, 0);
    dash_on_duty(&today, &yesterday);
    assert_int_equal(today, today0 + 1);
    assert_true(yesterday >= 1);
    night_summary("2027-06-14", "present", t_in, 0);
    /* Tuesday's own night has not started: pending, although Monday's is still running. */
    night_summary("2027-06-15", "pending", 0, 0);
    t_out = night_checkin(6, 15, 7, 50, "out", "on_time", "2027-06-14");
    dash_on_duty(&today, &yesterday);
    assert_int_equal(today, today0);
    /* After the check-out the phone's fixes are refused again. */
    b = malloc(512);
    snprintf(b, 512,
             "{\"points\":[{\"seq\":3,\"device_time\":%lld,\"lat\":31.305,\"lng\":120.603}]}",
             t_out + 60000LL);
    call("inspector", "POST", "/api/v1/tracks", b, &r);
    th_expect(&r, 409, "off_duty");
    th_resp_free(&r);
    free(b);
    night_summary("2027-06-14", "present", t_in, t_out);

    /* Tuesday night: in at 20:20 (late: after 20:15), out on Wednesday at 07:44 (early leave:
     * before 07:45). */
    t_in = night_checkin(6, 15, 20, 20, "in", "late", "2027-06-15");
    t_out = night_checkin(6, 16, 7, 44, "out", "early_leave", "2027-06-15");
    night_summary("2027-06-15", "late", t_in, t_out);

    /* Wednesday night: in after midnight (Wednesday's night, late), out at 08:05 (on time). */
    t_in = night_checkin(6, 17, 0, 30, "in", "late", "2027-06-16");
    t_out = night_checkin(6, 17, 8, 5, "out", "on_time", "2027-06-16");
    night_summary("2027-06-16", "late", t_in, t_out);
    /* The dashboard counts that night on Wednesday too: checked in that day (its start). */
    dash_on_duty(&today, &yesterday);
    assert_int_equal(yesterday, 1);

    /* Thursday: nobody came. Pending through 20:15, absent from 20:16 — also the next
     * morning, when the summary of both days is read. */
    th_clock_local(&srv, 2027, 6, 17, 20, 15);
    night_summary("2027-06-17", "pending", 0, 0);
    th_clock_local(&srv, 2027, 6, 17, 20, 16);
    night_summary("2027-06-17", "absent", 0, 0);
    th_clock_local(&srv, 2027, 6, 18, 9, 0);
    night_summary("2027-06-16", "late", t_in, t_out);
    night_summary("2027-06-17", "absent", 0, 0);
    night_summary("2027-06-18", "pending", 0, 0);
    /* Six check-ins, each on its night's date. */
    assert_int_equal(sqlf("SELECT COUNT(*) FROM checkins WHERE user_id = %lld AND shift_id = %lld"
                          " AND local_date BETWEEN '2027-06-14' AND '2027-06-16'",
                          inspector, shift),
                     6);
}

/* Exactly once per (device, seq) under concurrency: four processes send the same 50 seqs five
 * times each, at once, every process stamping the fixes a little differently (a phone that
 * re-stamps its queue): the device's lock makes them take turns, so 50 rows are stored. */
static void tracks_concurrent_resends(void **state)
{
    char tok[4096];
    pid_t kids[4];
    long long at;
    int status;
    (void)state;

    at = th_clock_local(&srv, 2027, 6, 18, 20, 0);
    th_wait_track_partitions(&srv, at);
    {
        struct th_resp r;
        call("inspector", "POST", "/api/v1/checkins",
             "{\"type\":\"in\",\"lat\":31.305,\"lng\":120.605,\"accuracy\":10}", &r);
        th_expect(&r, 201, NULL);
        assert_string_equal(th_jstr(r.json, "status"), "on_time"); /* Friday's 夜班 */
        at = th_jtime(r.json, "at") + 1000; /* the fixes come after the check-in */
        th_resp_free(&r);
    }
    assert_int_equal(sqlf("SELECT on_duty FROM duty WHERE user_id = %lld", inspector), 1);
    snprintf(tok, sizeof tok, "%s", th_token(&srv, "inspector"));
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            char *b = malloc(16384);
            size_t len = 0;
            int bad = 0;
            len += (size_t)snprintf(b + len, 16384 - len, "{\"device\":\"race\",\"points\":[");
            for (int q = 0; q < 50; q++)
                len += (size_t)snprintf(b + len, 16384 - len,
                                        "%s{\"seq\":%d,\"device_time\":%lld,\"lat\":31.305,"
                                        "\"lng\":120.605}",
                                        q ? "," : "", 1000 + q, at + q * 1000LL + k * 7);
            snprintf(b + len, 16384 - len, "]}");
            for (int n = 0; n < 5; n++) {
                struct th_resp r;
                call_tok(tok, "POST", "/api/v1/tracks", NULL, b, &r);
                if (r.status != 200 ||
                    th_jint(r.json, "new") + th_jint(r.json, "duplicate") != 50) {
                    fprintf(stderr, "process %d send %d: %ld %s\n", k, n, r.status, r.body);
                    bad++;
                }
                th_resp_free(&r);
            }
            _exit(bad ? 1 : 0);
        }
    }
    for (int k = 0; k < 4; k++) {
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.device = 'race'"),
                     50);
    assert_int_equal(sqlf("SELECT COUNT(DISTINCT p.seq) FROM track_points p JOIN track_devices d"
                          " ON d.id = p.dev_id WHERE d.device = 'race'"),
                     50);
    assert_int_equal(sqlf("SELECT max_seq FROM track_devices WHERE device = 'race'"), 1049);

    /* Four devices of one person at once, five batches each and each sent twice: the devices'
     * locks do not hold each other up, every batch is answered in full, every point stored
     * once. */
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            char *b = malloc(16384);
            int bad = 0;
            for (int n = 0; n < 5; n++) {
                struct th_resp r;
                size_t len = 0;
                len += (size_t)snprintf(b + len, 16384 - len,
                                        "{\"device\":\"group-%d\",\"points\":[", k);
                for (int q = 0; q < 10; q++)
                    len += (size_t)snprintf(b + len, 16384 - len,
                                            "%s{\"seq\":%d,\"device_time\":%lld,\"lat\":31.305,"
                                            "\"lng\":120.605}",
                                            q ? "," : "", n * 10 + q, at + (n * 10 + q) * 1000LL);
                snprintf(b + len, 16384 - len, "]}");
                for (int again = 0; again < 2; again++) {
                    call_tok(tok, "POST", "/api/v1/tracks", NULL, b, &r);
                    if (r.status != 200 || th_jint(r.json, "new") != (again ? 0 : 10) ||
                        th_jint(r.json, "duplicate") != (again ? 10 : 0)) {
                        fprintf(stderr, "device %d batch %d: %ld %s\n", k, n, r.status, r.body);
                        bad++;
                    }
                    th_resp_free(&r);
                }
            }
            _exit(bad ? 1 : 0);
        }
    }
    for (int k = 0; k < 4; k++) {
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.device LIKE 'group-%%'"),
                     200);
    assert_int_equal(sqlf("SELECT COUNT(DISTINCT p.dev_id, p.seq) FROM track_points p JOIN"
                          " track_devices d ON d.id = p.dev_id WHERE d.device LIKE 'group-%%'"),
                     200);
}

/* A night worker who forgets to check out and does so the next evening after 20:00 closes the
 * night they checked in for — on time, on its date — not an early leave of the new night.
 * (tracks_concurrent_resends left the inspector checked in for Friday's 夜班 at 20:00.) */
static void forgotten_checkout(void **state)
{
    long long asked, waited;
    (void)state;
    assert_int_equal(sqlf("SELECT on_duty FROM duty WHERE user_id = %lld", inspector), 1);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM checkins WHERE user_id = %lld AND type = 'in'"
                          " AND local_date = '2027-06-18'",
                          inspector),
                     1);
    /* With gps.auto_checkout_after_min and gps.max_duty_hours 0 nothing closes the duty by
     * itself: 12 h past the night's end (the default would have closed it at 10:00) and a
     * run of the job later (every 10 s), still on duty, no automatic check-out anywhere. */
    th_clock_local(&srv, 2027, 6, 19, 20, 0);
    sleep(11);
    assert_int_equal(sqlf("SELECT on_duty FROM duty WHERE user_id = %lld", inspector), 1);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM checkins WHERE status = 'auto'"), 0);
    night_checkin(6, 19, 20, 30, "out", "on_time", "2027-06-18");
    assert_int_equal(sqlf("SELECT on_duty FROM duty WHERE user_id = %lld", inspector), 0);
    /* Saturday's own night is untouched: nobody came, absent after 20:15. */
    night_summary("2027-06-19", "absent", 0, 0);
    /* The next check-in and check-out pair as usual. */
    night_checkin(6, 20, 19, 50, "in", "on_time", "2027-06-20");
    /* A check-out waits for the person's track batches in flight: a batch holds its device's
     * row lock to its commit (held here by hand for 2 s), and the check-out must not commit
     * while a batch that read "on duty" can still store points after it. */
    assert_int_equal(th_sh("mariadb --no-defaults -uroot --socket=%s %s -e 'START TRANSACTION;"
                           " SELECT id FROM track_devices WHERE device = \"race\" FOR UPDATE;"
                           " DO SLEEP(2); COMMIT' >/dev/null 2>&1 &",
                           srv.socket, srv.dbname),
                     0);
    for (int i = 0; i < 100 && !sqlf("SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                                     " WHERE INFO LIKE 'DO SLEEP%%'");
         i++)
        usleep(50000);
    asked = th_now_ms();
    night_checkin(6, 21, 7, 40, "out", "early_leave", "2027-06-20");
    waited = th_now_ms() - asked;
    print_message("check-out waited %lld ms for the device lock\n", waited);
    assert_true(waited >= 1000);
}

/* ---- batches stored together ---------------------------------------------------------------- */

/* A batch body: seqs from..to of device dev, fix times at + seq s, one point (bad_seq) with an
 * accuracy past the filter's limit. */
static char *group_batch(const char *dev, long long vehicle, long long at, int from, int to,
                         int bad_seq)
{
    size_t cap = 8192, len = 0;
    char *b = malloc(cap);

    if (vehicle)
        len += (size_t)snprintf(b + len, cap - len, "{\"vehicle_id\":%lld,\"points\":[", vehicle);
    else
        len += (size_t)snprintf(b + len, cap - len, "{\"device\":\"%s\",\"points\":[", dev);
    for (int s = from; s <= to; s++)
        len += (size_t)snprintf(b + len, cap - len,
                                "%s{\"seq\":%d,\"device_time\":%lld,\"lat\":31.31,\"lng\":%.7f,"
                                "\"accuracy\":%d}",
                                s == from ? "" : ",", s, at + s * 1000LL, 120.6 + s * 0.0001,
                                s == bad_seq ? 500 : 8);
    snprintf(b + len, cap - len, "]}");
    return b;
}

static void add_req(json_t *reqs, const char *tok, char *body)
{
    char *auth = th_xprintf("Bearer %s", tok);
    json_array_append_new(reqs, json_pack("{s:s,s:s,s:s,s:s}", "path", "/api/v1/tracks", "method",
                                          "POST", "authorization", auth, "body", body));
    free(auth);
    free(body);
}

/* Answer i of a burst: status, and for 200 received / new / duplicate / filtered. */
static void burst_expect(json_t *res, size_t i, long status, int received, int fresh, int dup,
                         int filtered)
{
    json_t *a = json_array_get(res, i);
    long got = (long)json_integer_value(json_object_get(a, "status"));
    const char *text = json_string_value(json_object_get(a, "body"));
    json_t *body = json_loads(text ? text : "", 0, NULL);

    if (got != status ||
        (status == 200 &&
         (th_jint(body, "received") != received || th_jint(body, "new") != fresh ||
          th_jint(body, "duplicate") != dup || th_jint(body, "filtered") != filtered)) ||
        (status == 409 && strcmp(th_jstr(json_object_get(body, "error"), "code"), "off_duty")))
        fail_msg("request %zu: expected %ld received %d new %d dup %d filtered %d, got %ld: %s", i,
                 status, received, fresh, dup, filtered, got, text ? text : "");
    json_decref(body);
}

/* Points stored of device dev of a person (count, distinct seqs, the highest seq). */
static void stored(long long user, const char *dev, long long n)
{
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.owner_type = 'user' AND d.owner_id = %lld AND"
                          " d.device = '%s'",
                          user, dev),
                     n);
    assert_int_equal(sqlf("SELECT COUNT(DISTINCT p.seq) FROM track_points p JOIN track_devices d"
                          " ON d.id = p.dev_id WHERE d.owner_type = 'user' AND d.owner_id = %lld"
                          " AND d.device = '%s'",
                          user, dev),
                     n);
}

/* Batches of five people (one of them off duty), one person's second device, a resend and a
 * vehicle, sent at once on one HTTP/2 connection: the server stores batches that arrive
 * together in one transaction (one batch per owner; a refused batch sends the others of its
 * group through one by one). Every answer must be its own request's — the batches differ in
 * size so a mixed-up answer shows — and every point is stored once. */
static void tracks_grouped(void **state)
{
    char tok[5][4096], vtok[4096], body[512];
    long long uid[5], at, vehicle, machine;
    json_t *reqs, *res;
    int fallbacks;
    struct th_resp r;
    (void)state;

    at = th_clock_local(&srv, 2027, 6, 23, 9, 0);
    th_wait_track_partitions(&srv, at);
    for (int k = 0; k < 5; k++) {
        snprintf(body, sizeof body,
                 "{\"username\":\"grp%d\",\"password\":\"%s\",\"display_name\":\"巡查%d\","
                 "\"roles\":[\"inspector\"],\"region_id\":%lld}",
                 k, PW, k, district2);
        call("admin", "POST", "/api/v1/admin/users", body, &r);
        th_expect(&r, 201, NULL);
        uid[k] = th_jint(r.json, "id");
        th_resp_free(&r);
        snprintf(body, sizeof body, "grp%d", k);
        th_login(&srv, body, PW, "grp-phone", &r);
        th_expect(&r, 200, NULL);
        snprintf(tok[k], sizeof tok[k], "%s", th_jstr(r.json, "access_token"));
        th_resp_free(&r);
        if (k == 4)
            continue; /* grp4 never checks in */
        call_tok(tok[k], "POST", "/api/v1/checkins", NULL,
                 "{\"type\":\"in\",\"lat\":31.31,\"lng\":120.6,\"accuracy\":10}", &r);
        th_expect(&r, 201, NULL);
        th_resp_free(&r);
    }
    call("admin", "POST", "/api/v1/admin/api-keys",
         "{\"name\":\"环卫车终端\",\"scopes\":[\"tracks:write\"]}", &r);
    th_expect(&r, 201, NULL);
    machine = th_jint(r.json, "user_id");
    snprintf(body, sizeof body, "{\"api_key\":\"%s\"}", th_jstr(r.json, "api_key"));
    th_resp_free(&r);
    {
        const char *hs[] = {"Content-Type: application/json", NULL};
        th_request(&srv, "POST", "/api/v1/auth/token", hs, body, strlen(body), 0, &r);
        th_expect(&r, 200, NULL);
        snprintf(vtok, sizeof vtok, "%s", th_jstr(r.json, "access_token"));
        th_resp_free(&r);
    }
    snprintf(body, sizeof body,
             "{\"plate\":\"苏E67890\",\"name\":\"环卫车2号\",\"region_id\":%lld,\"user_id\":%lld}",
             district2, machine);
    call("admin", "POST", "/api/v1/vehicles", body, &r);
    th_expect(&r, 201, NULL);
    vehicle = th_jint(r.json, "id");
    th_resp_free(&r);
    /* grp2 sent seqs 1..4 before. */
    at += 30000; /* the fixes come after the check-ins */
    {
        char *b = group_batch("b2", 0, at, 1, 4, 0);
        post_batch(tok[2], b, 200, 4, 0, 0);
        free(b);
    }

    /* 1: with a batch refused (grp4 is off duty) and a resend of grp0's batch. */
    reqs = json_array();
    add_req(reqs, tok[0], group_batch("g", 0, at, 1, 7, 0));      /* 7 new */
    add_req(reqs, tok[1], group_batch("g", 0, at, 1, 9, 5));      /* 8 new, 1 filtered */
    add_req(reqs, tok[2], group_batch("b2", 0, at, 1, 11, 0));    /* 7 new, 4 duplicates */
    add_req(reqs, tok[4], group_batch("g", 0, at, 1, 5, 0));      /* off duty */
    add_req(reqs, tok[0], group_batch("g", 0, at, 1, 7, 0));      /* the resend */
    add_req(reqs, vtok, group_batch(NULL, vehicle, at, 1, 6, 0)); /* 6 new */
    add_req(reqs, tok[3], group_batch("g", 0, at, 1, 3, 0));      /* 3 new */
    add_req(reqs, tok[1], group_batch("g2", 0, at, 1, 2, 0));     /* grp1's other phone: 2 new */
    res = th_burst(&srv, reqs);
    burst_expect(res, 1, 200, 9, 8, 0, 1);
    burst_expect(res, 2, 200, 11, 7, 4, 0);
    burst_expect(res, 3, 409, 0, 0, 0, 0);
    burst_expect(res, 5, 200, 6, 6, 0, 0);
    burst_expect(res, 6, 200, 3, 3, 0, 0);
    burst_expect(res, 7, 200, 2, 2, 0, 0);
    {
        /* The batch and its resend: one stored the 7 points, the other found them all. */
        json_t *a =
            json_loads(json_string_value(json_object_get(json_array_get(res, 0), "body")), 0, NULL);
        bool first = th_jint(a, "new") == 7;
        json_decref(a);
        burst_expect(res, 0, 200, 7, first ? 7 : 0, first ? 0 : 7, 0);
        burst_expect(res, 4, 200, 7, first ? 0 : 7, first ? 7 : 0, 0);
    }
    json_decref(res);
    json_decref(reqs);
    usleep(300 * 1000);
    fallbacks = th_log_count(srv.log, "stored one by one");
    print_message("groups that went one by one: %d\n", fallbacks);
    stored(uid[0], "g", 7);
    stored(uid[1], "g", 9);
    stored(uid[1], "g2", 2);
    stored(uid[2], "b2", 11);
    stored(uid[3], "g", 3);
    stored(uid[4], "g", 0);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_devices WHERE owner_type = 'user' AND"
                          " owner_id = %lld",
                          uid[4]),
                     0); /* a refused batch leaves no device behind */
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.owner_type = 'vehicle' AND d.owner_id = %lld",
                          vehicle),
                     6);
    assert_int_equal(sqlf("SELECT COUNT(*) FROM track_points p JOIN track_devices d ON d.id ="
                          " p.dev_id WHERE d.owner_type = 'user' AND d.owner_id = %lld AND"
                          " p.filtered = 'accuracy' AND p.seq = 5",
                          uid[1]),
                     1);

    /* 2: every batch accepted, one of them partly a resend. */
    reqs = json_array();
    add_req(reqs, tok[0], group_batch("g", 0, at, 8, 12, 0));     /* 5 new */
    add_req(reqs, tok[1], group_batch("g", 0, at, 10, 15, 0));    /* 6 new */
    add_req(reqs, tok[2], group_batch("b2", 0, at, 12, 14, 0));   /* 3 new */
    add_req(reqs, tok[3], group_batch("g", 0, at, 1, 7, 0));      /* 4 new, 3 duplicates */
    add_req(reqs, vtok, group_batch(NULL, vehicle, at, 7, 8, 0)); /* 2 new */
    res = th_burst(&srv, reqs);
    burst_expect(res, 0, 200, 5, 5, 0, 0);
    burst_expect(res, 1, 200, 6, 6, 0, 0);
    burst_expect(res, 2, 200, 3, 3, 0, 0);
    burst_expect(res, 3, 200, 7, 4, 3, 0);
    burst_expect(res, 4, 200, 2, 2, 0, 0);
    json_decref(res);
    json_decref(reqs);
    stored(uid[0], "g", 12);
    stored(uid[1], "g", 15);
    stored(uid[2], "b2", 14);
    stored(uid[3], "g", 7);
    /* Each owner's live-map row shows its own newest fix. */
    for (int k = 0; k < 4; k++) {
        static const int last[] = {12, 15, 14, 7};
        assert_int_equal(sqlf("SELECT t FROM positions_latest WHERE owner_type = 'user' AND"
                              " owner_id = %lld",
                              uid[k]),
                         at + last[k] * 1000LL);
    }
    assert_int_equal(sqlf("SELECT t FROM positions_latest WHERE owner_type = 'vehicle' AND"
                          " owner_id = %lld",
                          vehicle),
                     at + 8000);
    usleep(300 * 1000);
    /* No batch of the second burst was refused: its group was not taken apart. */
    assert_int_equal(th_log_count(srv.log, "stored one by one"), fallbacks);
    print_message("largest batch of POST /api/v1/tracks: %lld\n",
                  th_largest_batch(&srv, "\"path\":\"/api/v1/tracks\""));
    assert_true(th_largest_batch(&srv, "\"path\":\"/api/v1/tracks\"") > 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checkin_rules),
        cmocka_unit_test(tracks_once_per_seq),
        cmocka_unit_test(tracks_filters),
        cmocka_unit_test(latest_and_replay),
        cmocka_unit_test(tracks_compact_form),
        cmocka_unit_test(gcj02_round_trip),
        cmocka_unit_test(evidence),
        cmocka_unit_test(vehicles),
        cmocka_unit_test(retention),
        cmocka_unit_test(selfie_and_unassign),
        cmocka_unit_test(night_shift),
        cmocka_unit_test(tracks_concurrent_resends),
        cmocka_unit_test(forgotten_checkout),
        cmocka_unit_test(tracks_grouped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
