/* tests/e2e/dashboard_test.c: the leader's dashboard and 考评 (api/dashboard.c,
 * api/evaluation.c, api/domain/rollup.c) through the real binary.
 *
 * - indicator values on a hand-built set of cases, each expected number tallied by this file
 *   as it drives the workflow, and the composite computed here from the default weights;
 * - jurisdiction: a leader of another district sees none of it, a street leader only the
 *   street, a region outside the jurisdiction is 404, a leader without one 403;
 * - the urgent list and urgings with read / acknowledged times;
 * - the CSV export: BOM, header, one row per subject;
 * - settings: admin only, bad input changes nothing, a change is audited and moves the grade;
 * - after a random workflow run of thousands of actions (with the deadline scanner marking
 *   overdue steps, and 核实 sent, sent on, confirmed and denied), the live rollups equal counts
 *   taken straight from cases and case_steps,
 *   and equal what `cityd rollup-rebuild` recomputes from scratch.
 * Its own server: the clock moves for everything in it. */
#include <setjmp.h>
#include <math.h>
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
#include "th_assert.h"

static struct th_server srv;
static long long sanitation, municipal, d1, d2, s1, s_other, city;
static long long inspector_id, inspector2_id; /* 核实 in the random run */

#define IN_GRID2 "\"location\":{\"lat\":31.305,\"lng\":120.615}"
#define IN_OTHER_STREET "\"location\":{\"lat\":31.305,\"lng\":120.625}"
#define OUTSIDE "\"location\":{\"lat\":31.2,\"lng\":120.7}"

static int setup(void **state)
{
    (void)state;
    /* The inspector stays checked in from Wednesday to Friday: no automatic check-out. */
    th_server_start(&srv, "testing.clock_control = true\ngps.max_duty_hours = 0\n");
    th_seed(&srv);
    sanitation = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'sanitation'");
    municipal = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'municipal'");
    city = th_sql_int(&srv, "SELECT id FROM regions WHERE code = '999900'");
    d1 = th_sql_int(&srv, "SELECT id FROM regions WHERE code = '999901'");
    d2 = th_sql_int(&srv, "SELECT id FROM regions WHERE code = '999902'");
    s1 = th_sql_int(&srv, "SELECT id FROM regions WHERE code = '999901001'");
    /* A second street of 东城区 with a grid of its own, east of 东华街道. */
    th_sql_execf(&srv,
                 "INSERT INTO regions (parent_id, level, code, name) VALUES (%lld, 'street',"
                 " '999901002', '东安街道')",
                 d1);
    s_other = th_sql_int(&srv, "SELECT id FROM regions WHERE code = '999901002'");
    inspector_id = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'inspector'");
    th_sql_execf(&srv,
                 "INSERT INTO grids (code, name, region_id, boundary) VALUES ('999901002001001',"
                 " '东安一网格', %lld, ST_GeomFromText('POLYGON((120.62 31.30,120.63 31.30,"
                 "120.63 31.31,120.62 31.31,120.62 31.30))'))",
                 s_other);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return th_server_stop(&srv);
}

static void leader_in(long long region)
{
    if (region)
        th_sql_execf(&srv, "UPDATE users SET region_id = %lld WHERE username = 'leader'", region);
    else
        th_sql_exec(&srv, "UPDATE users SET region_id = NULL WHERE username = 'leader'");
}

static json_t *get_json(const char *role, const char *path, struct th_resp *r)
{
    th_get_as(&srv, role, path, r);
    if (r->status != 200)
        fail_msg("GET %s as %s: %ld %s", path, role, r->status, r->body);
    assert_non_null(r->json);
    return r->json;
}

static long long jpath_int(json_t *o, const char *a, const char *b)
{
    json_t *x = json_object_get(o, a);
    if (b)
        x = json_object_get(x, b);
    if (!json_is_integer(x))
        fail_msg("%s.%s is not an integer", a, b ? b : "");
    return json_integer_value(x);
}

static void act(const char *role, long long id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void act(const char *role, long long id, const char *fmt, ...)
{
    struct th_resp r;
    va_list ap;

    va_start(ap, fmt);
    th_act_vresp(&srv, role, id, NULL, &r, fmt, ap);
    va_end(ap);
    if (r.status != 200)
        fail_msg("case %lld: %s: %ld %s", id, role, r.status, r.body);
    th_resp_free(&r);
}

/* The documented heat-map cell of cell_m metres of a point (openapi.yaml,
 * getDashboardHotspots), computed here. */
static void cell_of(double cell_m, double lat, double lng, long long *cy, long long *cx,
                    double *clat)
{
    double y = floor(lat * 111320.0 / cell_m), lat_c = (y + 0.5) * cell_m / 111320.0;
    *cy = (long long)y;
    *cx = (long long)floor(lng * 111320.0 * cos(lat_c * M_PI / 180.0) / cell_m);
    *clat = lat_c;
}

/* The week's five reports in cells of cell_m: four at grid 1's point, one at 东安's. */
static void cells_match(json_t *j, double cell_m)
{
    json_t *hm = json_object_get(j, "heatmap"), *cells = json_object_get(hm, "cells"), *c;
    long long cy1, cx1, cy2, cx2, sum = 0, at1 = 0, at2 = 0;
    double lat1, lat2;
    size_t i;

    assert_true(json_real_value(json_object_get(hm, "cell_m")) == cell_m);
    cell_of(cell_m, 31.305, 120.605, &cy1, &cx1, &lat1);
    cell_of(cell_m, 31.305, 120.625, &cy2, &cx2, &lat2);
    json_array_foreach(cells, i, c)
    {
        long long cy = th_jint(c, "cy"), cx = th_jint(c, "cx"), n = th_jint(c, "count");
        sum += n;
        if (cy == cy1 && cx == cx1)
            at1 += n, assert_true(fabs(json_real_value(json_object_get(c, "lat")) - lat1) < 1e-9);
        if (cy == cy2 && cx == cx2)
            at2 += n;
    }
    assert_int_equal(sum, 5);
    if (cy1 == cy2 && cx1 == cx2) {
        assert_int_equal(json_array_size(cells), 1);
        assert_int_equal(at1, 5);
    } else {
        assert_int_equal(json_array_size(cells), 2);
        assert_int_equal(at1, 4);
        assert_int_equal(at2, 1);
    }
}

static long long report(const char *role, const char *where, bool urgent)
{
    struct th_resp r;
    long long id;
    char *body = th_xprintf("{" TH_CAT_0102 ",\"description\":\"路边暴露垃圾一堆\",%s%s}", where,
                            urgent ? ",\"urgency\":\"urgent\"" : "");

    th_post(&srv, role, "/api/v1/cases", NULL, body, &r);
    free(body);
    if (r.status != 201)
        fail_msg("report as %s: %ld %s", role, r.status, r.body);
    id = th_jint(r.json, "id");
    th_resp_free(&r);
    return id;
}

/* ---- the hand-built set ------------------------------------------------------------------ */

/* Expected marks, tallied as the workflow runs: [indicator] = {num, den}, per scope. */
struct tally {
    long long n[11][2];
};
enum {
    VR,  /* valid_report */
    OC,  /* on_time_check */
    OR,  /* on_time_register */
    AR,  /* accurate_register */
    OCL, /* on_time_close */
    OD,  /* on_time_dispatch */
    AD,  /* accurate_dispatch */
    OH,  /* on_time_handle */
    RW,  /* rework_rate: num = not reworked */
    CR,  /* close_rate */
};
static const char *const ind_names[] = {"valid_report",      "on_time_check",  "on_time_register",
                                        "accurate_register", "on_time_close",  "on_time_dispatch",
                                        "accurate_dispatch", "on_time_handle", "rework_rate",
                                        "close_rate"};
static struct tally east; /* 东城区 */

static void mark(struct tally *t, int ind, bool ok)
{
    t->n[ind][0] += ok;
    t->n[ind][1]++;
}

static json_t *subject(json_t *items, const char *type, long long id, const char *role)
{
    size_t i;
    json_t *it;

    json_array_foreach(items, i, it)
    {
        if (strcmp(th_jstr(it, "subject_type"), type) == 0 && th_jint(it, "subject_id") == id &&
            strcmp(th_jstr(it, "role"), role) == 0)
            return it;
    }
    fail_msg("no %s %lld as %s in the evaluation", type, id, role);
    return NULL;
}

static void expect_ind(json_t *subj, int ind, const struct tally *t)
{
    json_t *x = json_object_get(json_object_get(subj, "indicators"), ind_names[ind]);
    if (!x)
        fail_msg("indicator %s missing", ind_names[ind]);
    if (th_jint(x, "num") != t->n[ind][0] || th_jint(x, "den") != t->n[ind][1])
        fail_msg("%s: %lld/%lld, expected %lld/%lld", ind_names[ind], th_jint(x, "num"),
                 th_jint(x, "den"), t->n[ind][0], t->n[ind][1]);
}

/* 100 × Σ w·(num/den) / Σ w over indicators with data. */
static double composite(const struct tally *t, const int *inds, const double *w, size_t n)
{
    double s = 0, ws = 0;
    for (size_t i = 0; i < n; i++) {
        if (!t->n[inds[i]][1])
            continue;
        s += w[i] * (double)t->n[inds[i]][0] / (double)t->n[inds[i]][1];
        ws += w[i];
    }
    return 100 * s / ws;
}

static long long case_a, case_b, case_c, case_d, case_e, case_f;

static void indicators_on_hand_built_set(void **state)
{
    struct th_resp r;
    json_t *j, *items, *insp, *sl, *disp, *dept;
    char path[256];
    long long inspector = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'inspector'");
    long long shiftlead = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'shiftlead'");
    long long dispatcher = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'dispatcher'");
    (void)state;

    leader_in(d1);
    /* Wednesday 2030-03-06 10:00 local. */
    th_clock_at(&srv, 2030, 3, 6, 2, 0);

    /* A: an inspector's report, every step on time. */
    case_a = report("inspector", TH_IN_GRID1, false);
    act("operator", case_a, "\"action\":\"accept\"");
    act("shift_lead", case_a, "\"action\":\"register\"");
    mark(&east, VR, true), mark(&east, OR, true), mark(&east, AR, true);
    act("dispatcher", case_a, "\"action\":\"dispatch\",\"department_id\":%lld", sanitation);
    mark(&east, OD, true), mark(&east, AD, true);
    act("handler", case_a, "\"action\":\"handle\",\"text\":\"已清理\"");
    mark(&east, OH, true);
    act("inspector", case_a, "\"action\":\"verify_pass\"");
    mark(&east, OC, true), mark(&east, RW, true);
    act("shift_lead", case_a, "\"action\":\"close\"");
    mark(&east, OCL, true), mark(&east, CR, true);

    /* B: an inspector's report the 值班长 voids: not valid, not an accurate 立案. */
    case_b = report("inspector", TH_IN_GRID1, false);
    act("operator", case_b, "\"action\":\"accept\"");
    act("shift_lead", case_b, "\"action\":\"invalidate\",\"text\":\"不属于城管范围\"");
    mark(&east, VR, false), mark(&east, AR, false);

    /* C: a citizen's report, reworked once (核查不通过). */
    case_c = report("citizen", TH_IN_GRID1, false);
    act("operator", case_c, "\"action\":\"accept\"");
    act("shift_lead", case_c, "\"action\":\"register\"");
    mark(&east, OR, true), mark(&east, AR, true);
    act("dispatcher", case_c, "\"action\":\"dispatch\",\"department_id\":%lld", sanitation);
    mark(&east, OD, true), mark(&east, AD, true);
    act("handler", case_c, "\"action\":\"handle\",\"text\":\"已清理\"");
    mark(&east, OH, true);
    act("inspector", case_c, "\"action\":\"verify_fail\",\"text\":\"仍有垃圾\"");
    mark(&east, OC, true), mark(&east, RW, false);
    act("handler", case_c, "\"action\":\"handle\",\"text\":\"已彻底清理\"");
    mark(&east, OH, true);
    act("inspector", case_c, "\"action\":\"verify_pass\"");
    mark(&east, OC, true), mark(&east, RW, true);
    act("shift_lead", case_c, "\"action\":\"close\"");
    mark(&east, OCL, true), mark(&east, CR, true);

    /* D: 西城区, not the east's. */
    case_d = report("citizen", TH_IN_GRID3, false);
    act("operator", case_d, "\"action\":\"accept\"");
    act("shift_lead", case_d, "\"action\":\"register\"");

    /* F: another street of 东城区, urgent, left open. */
    case_f = report("citizen", IN_OTHER_STREET, true);

    /* E: an inspector's report whose 立案 comes two days late, dispatched, returned (回退),
     * dispatched again. */
    case_e = report("inspector", TH_IN_GRID1, false);

    /* The inspector (of grid 1, in the east) is checked in: staff on duty by attendance. */
    th_post(&srv, "inspector", "/api/v1/checkins", NULL,
            "{\"type\":\"in\",\"lat\":31.305,\"lng\":120.605,\"accuracy\":10}", &r);
    th_expect(&r, 201, NULL);
    th_resp_free(&r);

    /* The summary of that Wednesday, for the district leader. */
    j = get_json("leader", "/api/v1/dashboard/summary", &r);
    assert_int_equal(jpath_int(json_object_get(j, "today"), "new_total", NULL), 5);
    assert_int_equal(jpath_int(json_object_get(j, "today"), "new_by_source", "inspector"), 3);
    assert_int_equal(jpath_int(json_object_get(j, "today"), "new_by_source", "citizen"), 2);
    assert_int_equal(jpath_int(json_object_get(j, "today"), "closed", NULL), 2);
    assert_int_equal(jpath_int(json_object_get(j, "today"), "closed_on_time", NULL), 2);
    assert_int_equal(jpath_int(json_object_get(j, "today"), "open", NULL), 2);   /* E, F */
    assert_int_equal(jpath_int(json_object_get(j, "today"), "urgent", NULL), 1); /* F */
    /* inspector, operator, shift lead, dispatcher, handler acted on the east's cases; only the
     * inspector is checked in. */
    assert_int_equal(jpath_int(json_object_get(j, "today"), "staff_active", NULL), 5);
    assert_int_equal(jpath_int(json_object_get(j, "today"), "staff_on_duty", NULL), 1);
    assert_string_equal(th_jstr(j, "staff_on_duty_basis"), "attendance");
    assert_string_equal(th_jstr(json_object_get(j, "scope"), "level"), "district");
    th_resp_free(&r);
    /* The live tile of 东城区 reaches the gateway's "tiles" stream within a few seconds. */
    for (int i = 0; i < 40; i++) {
        if (th_sqlf(&srv,
                    "SELECT COUNT(*) FROM stream_items WHERE stream = 'tiles' AND type ="
                    " 'dashboard.summary' AND JSON_VALUE(payload, '$.scope_id') = %lld AND"
                    " JSON_VALUE(payload, '$.new_total') = 5",
                    d1) > 0)
            break;
        usleep(250 * 1000);
    }
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) > 0 FROM stream_items WHERE stream = 'tiles' AND"
                             " JSON_VALUE(payload, '$.scope_id') = %lld AND"
                             " JSON_VALUE(payload, '$.new_total') = 5",
                             d1),
                     1);

    th_clock_at(&srv, 2030, 3, 8, 2, 0);
    act("operator", case_e, "\"action\":\"accept\"");
    act("shift_lead", case_e, "\"action\":\"register\"");
    mark(&east, VR, true), mark(&east, OR, false), mark(&east, AR, true);
    act("dispatcher", case_e, "\"action\":\"dispatch\",\"department_id\":%lld", sanitation);
    mark(&east, OD, true), mark(&east, AD, true), mark(&east, CR, false);
    act("handler", case_e, "\"action\":\"return\",\"text\":\"不属本部门\"");
    /* The dispatch is no longer accurate; the department's 应结案 drops it. */
    east.n[AD][0]--, east.n[CR][1]--;
    act("dispatcher", case_e, "\"action\":\"dispatch\",\"department_id\":%lld", sanitation);
    mark(&east, OD, true), mark(&east, AD, true), mark(&east, CR, false);

    snprintf(path, sizeof path, "/api/v1/evaluation?from=2030-03-01&to=2030-03-08");
    j = get_json("leader", path, &r);
    items = json_object_get(j, "items");
    insp = subject(items, "user", inspector, "inspector");
    expect_ind(insp, VR, &east);
    expect_ind(insp, OC, &east);
    sl = subject(items, "user", shiftlead, "shift_lead");
    expect_ind(sl, OR, &east);
    expect_ind(sl, AR, &east);
    expect_ind(sl, OCL, &east);
    disp = subject(items, "user", dispatcher, "dispatcher");
    expect_ind(disp, OD, &east);
    expect_ind(disp, AD, &east);
    dept = subject(items, "department", sanitation, "department");
    expect_ind(dept, OH, &east);
    expect_ind(dept, RW, &east);
    expect_ind(dept, CR, &east);
    {
        /* 返工率 is shown as reworked / outcomes. */
        json_t *rw = json_object_get(json_object_get(dept, "indicators"), "rework_rate");
        assert_float_equal(json_real_value(json_object_get(rw, "rate")),
                           1.0 - (double)east.n[RW][0] / (double)east.n[RW][1], 1e-9);
        /* Default weights (domain.md 4.5); 按时核实率 has no data and drops out. */
        int di[] = {AD, OD};
        double dw[] = {40, 40};
        int ii[] = {VR, OC};
        double iw[] = {40, 20};
        int si[] = {OR, AR, OCL};
        double sw[] = {25, 40, 35};
        int pi[] = {CR, OH, RW};
        double pw[] = {30, 30, 30};
        double want = composite(&east, di, dw, 2);
        assert_float_equal(json_real_value(json_object_get(disp, "score")), want, 1e-6);
        assert_string_equal(th_jstr(disp, "grade"), want >= 90   ? "A"
                                                    : want >= 75 ? "B"
                                                    : want >= 60 ? "C"
                                                    : want >= 40 ? "D"
                                                                 : "E");
        assert_float_equal(json_real_value(json_object_get(insp, "score")),
                           composite(&east, ii, iw, 2), 1e-6);
        assert_float_equal(json_real_value(json_object_get(sl, "score")),
                           composite(&east, si, sw, 3), 1e-6);
        assert_float_equal(json_real_value(json_object_get(dept, "score")),
                           composite(&east, pi, pw, 3), 1e-6);
        assert_true(json_is_null(json_object_get(
            json_object_get(json_object_get(insp, "indicators"), "on_time_verify"), "rate")));
    }
    th_resp_free(&r);

    /* Drill-down: the late 立案 of E costs the 值班长 a point, with why. */
    snprintf(path, sizeof path,
             "/api/v1/evaluation/marks?subject_type=user&subject_id=%lld&indicator="
             "on_time_register&failed=true&from=2030-03-01&to=2030-03-08",
             shiftlead);
    j = get_json("leader", path, &r);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_int_equal(th_jint(json_array_get(items, 0), "case_id"), case_e);
    assert_non_null(strstr(th_jstr(json_array_get(items, 0), "reason"), "超时"));
    th_resp_free(&r);
    /* The dispatcher's lost point is E's first dispatch, returned. */
    snprintf(path, sizeof path,
             "/api/v1/evaluation/marks?subject_type=user&subject_id=%lld&failed=true"
             "&from=2030-03-01&to=2030-03-08",
             dispatcher);
    j = get_json("leader", path, &r);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(th_jstr(json_array_get(items, 0), "reason"), "回退");
    th_resp_free(&r);

    /* Friday's summary against Thursday (nothing happened) and the week before (nothing). The
     * inspector checked out on Wednesday evening and in on Thursday (rows as the check-in
     * writes them; local days). */
    th_post(&srv, "inspector", "/api/v1/checkins", NULL,
            "{\"type\":\"out\",\"lat\":31.305,\"lng\":120.605,\"accuracy\":10}", &r);
    th_expect(&r, 201, NULL);
    th_resp_free(&r);
    th_sqlf(&srv,
            "INSERT INTO checkins (user_id, type, at, local_date, lat, lng, accuracy_m, status)"
            " VALUES (%lld, 'in', '2030-03-07 00:30:00', '2030-03-07', 31.305, 120.605, 10,"
            " 'on_time') RETURNING 0",
            inspector);
    j = get_json("leader", "/api/v1/dashboard/summary", &r);
    assert_int_equal(jpath_int(json_object_get(j, "today"), "staff_on_duty", NULL), 0);
    assert_int_equal(jpath_int(json_object_get(j, "yesterday"), "staff_on_duty", NULL), 1);
    assert_int_equal(jpath_int(json_object_get(j, "same_day_last_week"), "staff_on_duty", NULL), 0);
    assert_int_equal(jpath_int(json_object_get(j, "yesterday"), "new_total", NULL), 0);
    assert_int_equal(jpath_int(json_object_get(j, "yesterday"), "open", NULL), 2);
    assert_int_equal(jpath_int(json_object_get(j, "same_day_last_week"), "open", NULL), 0);
    assert_int_equal(jpath_int(json_object_get(j, "today"), "open", NULL), 2);
    th_resp_free(&r);

    /* Hotspots of the week: 暴露垃圾 is the top category, grid 1 the top grid. */
    j = get_json("leader", "/api/v1/dashboard/hotspots?from=2030-03-01&to=2030-03-08", &r);
    assert_int_equal(th_jint(j, "total"), 5);
    assert_int_equal(th_jint(json_array_get(json_object_get(j, "categories"), 0), "count"), 5);
    assert_string_equal(th_jstr(json_array_get(json_object_get(j, "grids"), 0), "code"),
                        TH_GRID1_CODE);
    assert_int_equal(th_jint(json_array_get(json_object_get(j, "grids"), 0), "count"), 4);
    /* All five were reported at 10:00 local. */
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "hours"), 10)), 5);
    cells_match(j, 500); /* 8 days: 500 m cells */
    th_resp_free(&r);

    /* The heat map's cells by the period: 250 m up to 7 days, 500 m up to 31, 1 km beyond (the
     * same five reports in each); a coarser size may be asked for, a finer one than the period
     * allows or another size is refused. */
    cells_match(get_json("leader", "/api/v1/dashboard/hotspots?from=2030-03-02&to=2030-03-08", &r),
                250);
    th_resp_free(&r);
    cells_match(get_json("leader", "/api/v1/dashboard/hotspots?from=2030-02-06&to=2030-03-08", &r),
                500);
    th_resp_free(&r);
    cells_match(get_json("leader", "/api/v1/dashboard/hotspots?from=2030-02-05&to=2030-03-08", &r),
                1000);
    th_resp_free(&r);
    cells_match(get_json("leader",
                         "/api/v1/dashboard/hotspots?from=2030-03-02&to=2030-03-08&cell_m=1000",
                         &r),
                1000);
    th_resp_free(&r);
    cells_match(get_json("leader",
                         "/api/v1/dashboard/hotspots?from=2030-03-01&to=2030-03-08&cell_m=500", &r),
                500);
    th_resp_free(&r);
    th_check(&srv, "leader", "GET",
             "/api/v1/dashboard/hotspots?from=2030-03-01&to=2030-03-08&cell_m=250", NULL, 400,
             "invalid_argument");
    th_check(&srv, "leader", "GET",
             "/api/v1/dashboard/hotspots?from=2030-02-05&to=2030-03-08&cell_m=500", NULL, 400,
             "invalid_argument");
    th_check(&srv, "leader", "GET", "/api/v1/dashboard/hotspots?cell_m=300", NULL, 400,
             "invalid_argument");
}

/* ---- jurisdiction ------------------------------------------------------------------------ */

static void jurisdiction_scoping(void **state)
{
    struct th_resp r;
    json_t *j;
    char path[128];
    (void)state;

    /* 西城区's leader: only D. */
    leader_in(d2);
    j = get_json("leader", "/api/v1/dashboard/hotspots?from=2030-03-01&to=2030-03-08", &r);
    assert_int_equal(th_jint(j, "total"), 1);
    th_resp_free(&r);
    j = get_json("leader", "/api/v1/evaluation?from=2030-03-01&to=2030-03-08&role=department", &r);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    th_resp_free(&r);
    j = get_json("leader", "/api/v1/dashboard/alerts?kind=urgent", &r);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    th_resp_free(&r);
    /* Asking for 东城区 from 西城区 is not found. */
    snprintf(path, sizeof path, "/api/v1/dashboard/summary?region_id=%lld", d1);
    th_check(&srv, "leader", "GET", path, NULL, 404, "not_found");

    /* 东华街道's leader: A, B, C, E but not F (东安街道). */
    leader_in(s1);
    j = get_json("leader", "/api/v1/dashboard/hotspots?from=2030-03-01&to=2030-03-08", &r);
    assert_int_equal(th_jint(j, "total"), 4);
    th_resp_free(&r);
    j = get_json("leader", "/api/v1/dashboard/alerts?kind=urgent", &r);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    th_resp_free(&r);

    /* 东城区's leader sees F among the urgent ones, and may narrow to 东安街道. */
    leader_in(d1);
    j = get_json("leader", "/api/v1/dashboard/alerts?kind=urgent", &r);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    assert_int_equal(th_jint(json_array_get(json_object_get(j, "items"), 0), "case_id"), case_f);
    th_resp_free(&r);
    snprintf(path, sizeof path,
             "/api/v1/dashboard/hotspots?from=2030-03-01&to=2030-03-08&region_id=%lld", s_other);
    j = get_json("leader", path, &r);
    assert_int_equal(th_jint(j, "total"), 1);
    th_resp_free(&r);

    /* The city (as admin, or a city leader): all six. */
    j = get_json("admin", "/api/v1/dashboard/hotspots?from=2030-03-01&to=2030-03-08", &r);
    assert_int_equal(th_jint(j, "total"), 6);
    th_resp_free(&r);
    /* Periods read from weeks and months: the same six. */
    j = get_json("admin", "/api/v1/dashboard/hotspots?from=2030-02-25&to=2030-04-30", &r);
    assert_int_equal(th_jint(j, "total"), 6);
    assert_int_equal(th_jint(json_array_get(json_object_get(j, "categories"), 0), "count"), 6);
    th_resp_free(&r);
    j = get_json("admin", "/api/v1/dashboard/hotspots?from=2030-01-01&to=2030-12-31", &r);
    assert_int_equal(th_jint(j, "total"), 6);
    th_resp_free(&r);
    j = get_json("admin", "/api/v1/dashboard/hotspots?from=2030-03-07&to=2030-12-31", &r);
    assert_int_equal(th_jint(j, "total"), 0);
    th_resp_free(&r);
    leader_in(city);
    j = get_json("leader", "/api/v1/dashboard/hotspots?from=2030-03-01&to=2030-03-08", &r);
    assert_int_equal(th_jint(j, "total"), 6);
    th_resp_free(&r);

    /* No jurisdiction: 403; others' roles: 403; bad dates: 400. */
    leader_in(0);
    th_check(&srv, "leader", "GET", "/api/v1/dashboard/summary", NULL, 403, "permission_denied");
    th_check(&srv, "dispatcher", "GET", "/api/v1/dashboard/summary", NULL, 403,
             "permission_denied");
    th_check(&srv, "admin", "GET", "/api/v1/dashboard/hotspots?from=2030-02-30", NULL, 400,
             "invalid_argument");
    th_check(&srv, "admin", "GET", "/api/v1/dashboard/hotspots?from=2030-03-09&to=2030-03-08", NULL,
             400, "invalid_argument");
    leader_in(d1);
}

/* ---- urgings ----------------------------------------------------------------------------- */

static void urgings_with_read_and_ack_times(void **state)
{
    struct th_resp r;
    json_t *j, *it;
    char path[96];
    long long uid;
    (void)state;

    leader_in(d1);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/urge", case_e);
    th_post(&srv, "leader", path, NULL, "{\"note\":\"尽快处理\"}", &r);
    if (r.status != 201 && r.status != 200)
        fail_msg("urge: %ld %s", r.status, r.body);
    uid = th_jint(r.json, "id");
    th_resp_free(&r);
    j = get_json("leader", "/api/v1/dashboard/urgings?from=2030-03-01&to=2030-03-08", &r);
    assert_int_equal(jpath_int(j, "stats", "sent"), 1);
    assert_int_equal(jpath_int(j, "stats", "acked"), 0);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/urgings/%lld/ack", uid);
    th_post(&srv, "handler", path, NULL, "{\"text\":\"已安排\"}", &r);
    if (r.status != 200)
        fail_msg("ack: %ld %s", r.status, r.body);
    th_resp_free(&r);
    j = get_json("leader", "/api/v1/dashboard/urgings?from=2030-03-01&to=2030-03-08", &r);
    assert_int_equal(jpath_int(j, "stats", "sent"), 1);
    assert_int_equal(jpath_int(j, "stats", "read"), 1);
    assert_int_equal(jpath_int(j, "stats", "acked"), 1);
    it = json_array_get(json_object_get(j, "items"), 0);
    assert_int_equal(th_jint(it, "case_id"), case_e);
    assert_true(json_is_integer(json_object_get(it, "acked_after_s")));
    assert_true(th_jint(it, "acked_after_s") >= 0);
    th_resp_free(&r);
    /* 西城区 sees no urging of the east. */
    leader_in(d2);
    j = get_json("leader", "/api/v1/dashboard/urgings?from=2030-03-01&to=2030-03-08", &r);
    assert_int_equal(jpath_int(j, "stats", "sent"), 0);
    th_resp_free(&r);
    leader_in(d1);
}

/* ---- CSV and settings -------------------------------------------------------------------- */

static void csv_export_and_settings(void **state)
{
    struct th_resp r;
    json_t *j;
    size_t subjects, lines = 0;
    const char *want_header = "对象类型,对象编号,名称,岗位,有效上报率,按时核实率,按时核查率,"
                              "按时立案率,准确立案率,按时结案率,按时派遣率,准确派遣率,"
                              "按期处置率,返工率,结案率,综合得分,等级\r\n";
    char ct[128];
    long long audits;
    (void)state;

    leader_in(d1);
    j = get_json("leader", "/api/v1/evaluation?from=2030-03-01&to=2030-03-08", &r);
    subjects = json_array_size(json_object_get(j, "items"));
    assert_true(subjects >= 4);
    th_resp_free(&r);
    th_get_as(&srv, "leader", "/api/v1/evaluation/export?from=2030-03-01&to=2030-03-08", &r);
    assert_int_equal(r.status, 200);
    assert_true(th_header(&r, "content-type", ct, sizeof ct));
    assert_non_null(strstr(ct, "text/csv"));
    assert_true(r.body_len > 3 && memcmp(r.body, "\xEF\xBB\xBF", 3) == 0);
    assert_int_equal(strncmp(r.body + 3, want_header, strlen(want_header)), 0);
    for (size_t i = 0; i < r.body_len; i++)
        lines += r.body[i] == '\n';
    assert_int_equal(lines, 1 + subjects);
    th_resp_free(&r);

    /* Settings: admins only; a bad change changes nothing; a good one is audited. */
    th_check(&srv, "leader", "PUT", "/api/v1/admin/evaluation/settings",
             "{\"weights\":{\"valid_report\":10}}", 403, "permission_denied");
    th_check(&srv, "admin", "PUT", "/api/v1/admin/evaluation/settings",
             "{\"grades\":{\"A\":50,\"B\":60}}", 400, "invalid_argument");
    th_check(&srv, "admin", "PUT", "/api/v1/admin/evaluation/settings",
             "{\"weights\":{\"nonsense\":1}}", 400, "invalid_argument");
    th_check(&srv, "admin", "PUT", "/api/v1/admin/evaluation/settings",
             "{\"weights\":{\"valid_report\":-1}}", 400, "invalid_argument");
    assert_int_equal(th_sql_int(&srv, "SELECT grade_a FROM eval_settings WHERE city_id = 0"), 90);
    audits =
        th_sql_int(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'evaluation.settings'");
    {
        /* The city's own bounds: everyone at 100 % of a dispatch is A only at >= 100. */
        char *body = th_xprintf("{\"city_id\":%lld,\"grades\":{\"A\":99.9,\"B\":99,\"C\":98,"
                                "\"D\":97}}",
                                city);
        th_call(&srv, "admin", "PUT", "/api/v1/admin/evaluation/settings", NULL, body, &r);
        free(body);
        assert_int_equal(r.status, 200);
        th_resp_free(&r);
    }
    assert_int_equal(
        th_sql_int(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'evaluation.settings'"),
        audits + 1);
    j = get_json("leader", "/api/v1/evaluation?from=2030-03-01&to=2030-03-08&role=dispatcher", &r);
    /* 87.5 under the default bounds is B; under the city's it is E. */
    assert_string_equal(th_jstr(json_array_get(json_object_get(j, "items"), 0), "grade"), "E");
    th_resp_free(&r);
    th_sql_execf(&srv, "DELETE FROM eval_settings WHERE city_id = %lld", city);
}

/* ---- random run: live rollups = straight counts = rebuild ------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

struct rcase {
    long long id;
    char state[16];
    bool verifiable; /* in the inspector's grids or outside every grid */
    bool ours;       /* dispatched to the handler's department */
    bool ext;        /* an extension request pending */
    bool east;       /* in 东城区: the district leader may urge it */
    int confirm_by;  /* confirming: 1 the inspector, 2 the second inspector (no log-in) */
};

#define NCASES 160
static struct rcase cs[NCASES];
static size_t ncs;
static long actions;

static void set_state(struct rcase *c, const char *s)
{
    snprintf(c->state, sizeof c->state, "%s", s);
}

static bool final(const struct rcase *c)
{
    return strcmp(c->state, "invalid") == 0 || strcmp(c->state, "merged") == 0;
}

/* One random allowed step for c, by the workflow table. */
static void step(struct rcase *c)
{
    const char *s = c->state;
    unsigned k = rnd(100);
    long long dept = rnd(5) ? sanitation : municipal;

    actions++;
    if (c->east && strcmp(s, "closed") != 0 && rnd(30) == 0) {
        /* 督办: a timeline row that must move no rollup. */
        struct th_resp r;
        char path[64];
        snprintf(path, sizeof path, "/api/v1/cases/%lld/urge", c->id);
        th_post(&srv, "leader", path, NULL, "{\"note\":\"请加快\"}", &r);
        if (r.status != 201)
            fail_msg("urge %lld: %ld %s", c->id, r.status, r.body);
        th_resp_free(&r);
        return;
    }
    if (strcmp(s, "reported") == 0) {
        if (k < 55) {
            act("operator", c->id, "\"action\":\"accept\"");
            set_state(c, "accepted");
        } else if (k < 75) {
            /* 核实: to the demo inspector, or to a second one who never answers (the operator
             * sends it on, 改派). */
            c->confirm_by = rnd(3) ? 1 : 2;
            act("operator", c->id, "\"action\":\"request_confirmation\",\"inspector_id\":%lld",
                c->confirm_by == 1 ? inspector_id : inspector2_id);
            set_state(c, "confirming");
        } else if (k < 90) {
            act("operator", c->id, "\"action\":\"invalidate\",\"text\":\"重复\"");
            set_state(c, "invalid");
        } else {
            /* 合并 into the first case when it is not final itself. */
            if (c == &cs[0] || final(&cs[0]))
                return;
            act("operator", c->id, "\"action\":\"merge\",\"duplicate_of\":%lld", cs[0].id);
            set_state(c, "merged");
        }
    } else if (strcmp(s, "confirming") == 0) {
        if (c->confirm_by == 2) {
            act("operator", c->id, "\"action\":\"request_confirmation\",\"inspector_id\":%lld",
                inspector_id);
            c->confirm_by = 1;
        } else if (k < 65) {
            act("inspector", c->id, "\"action\":\"confirm\"");
            set_state(c, "accepted");
        } else {
            act("inspector", c->id, "\"action\":\"deny\",\"text\":\"现场未发现\"");
            set_state(c, "invalid");
        }
    } else if (strcmp(s, "accepted") == 0) {
        if (k < 85) {
            act("shift_lead", c->id, "\"action\":\"register\"");
            set_state(c, "registered");
        } else {
            act("shift_lead", c->id, "\"action\":\"invalidate\",\"text\":\"不予立案\"");
            set_state(c, "invalid");
        }
    } else if (strcmp(s, "registered") == 0) {
        if (k < 90) {
            act("dispatcher", c->id, "\"action\":\"dispatch\",\"department_id\":%lld", dept);
            set_state(c, "dispatched");
            c->ours = dept == sanitation;
            c->ext = false;
        } else {
            act("dispatcher", c->id, "\"action\":\"suspend\"");
            set_state(c, "suspended");
        }
    } else if (strcmp(s, "dispatched") == 0) {
        if (c->ext) {
            if (k < 60)
                act("dispatcher", c->id, "\"action\":\"approve_extension\"");
            else
                act("dispatcher", c->id, "\"action\":\"reject_extension\",\"text\":\"不同意\"");
            c->ext = false;
        } else if (!c->ours || k < 8) {
            act("dispatcher", c->id, "\"action\":\"dispatch\",\"department_id\":%lld", sanitation);
            c->ours = true;
        } else if (k < 70) {
            act("handler", c->id, "\"action\":\"handle\",\"text\":\"已处置\"");
            set_state(c, "handled");
        } else if (k < 80) {
            act("handler", c->id, "\"action\":\"return\",\"text\":\"非本部门\"");
            set_state(c, "registered");
        } else if (k < 92) {
            act("handler", c->id, "\"action\":\"request_extension\",\"extension_hours\":8");
            c->ext = true;
        } else {
            act("dispatcher", c->id, "\"action\":\"suspend\"");
            set_state(c, "suspended");
            c->ext = false;
        }
    } else if (strcmp(s, "handled") == 0) {
        if (!c->verifiable)
            return;
        if (k < 75) {
            act("inspector", c->id, "\"action\":\"verify_pass\"");
            set_state(c, "verified");
        } else {
            act("inspector", c->id, "\"action\":\"verify_fail\",\"text\":\"未处置到位\"");
            set_state(c, "dispatched");
        }
    } else if (strcmp(s, "verified") == 0) {
        act("shift_lead", c->id, "\"action\":\"close\"");
        set_state(c, "closed");
    } else if (strcmp(s, "closed") == 0) {
        if (k < 10) {
            act("shift_lead", c->id, "\"action\":\"reopen\",\"text\":\"市民投诉未解决\"");
            set_state(c, "registered");
        } else {
            actions--;
        }
    } else if (strcmp(s, "suspended") == 0) {
        act("dispatcher", c->id, "\"action\":\"resume\"");
        set_state(c, "registered");
    } else {
        actions--;
    }
}

static void new_case(void)
{
    static const char *const roles[] = {"citizen", "inspector", "operator", "leader"};
    static const char *const wheres[] = {TH_IN_GRID1, IN_GRID2, TH_IN_GRID3, IN_OTHER_STREET,
                                         OUTSIDE};
    unsigned w = rnd(5), role = rnd(4);
    struct rcase *c = &cs[ncs++];

    c->id = report(roles[role], wheres[w], rnd(6) == 0);
    /* The inspector sees its grids' cases, and outside every grid only its own reports. */
    c->verifiable = w == 0 || w == 1 || (w == 4 && role == 1);
    c->east = w == 0 || w == 1 || w == 3;
    set_state(c, "reported");
    actions++;
}

/* Move cityd's clock and wait until the deadline scanner has raised every passed point. */
static void advance_and_scan(int y, int mo, int d, int h)
{
    char when[32];

    th_clock_at(&srv, y, mo, d, h, 0);
    snprintf(when, sizeof when, "%04d-%02d-%02d %02d:00:00", y, mo, d, h);
    for (int i = 0; i < 120; i++) {
        if (th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE next_alert_at <= '%s'", when) == 0)
            return;
        usleep(250 * 1000);
    }
    fail_msg("the deadline scanner did not catch up");
}

#define OPEN "state NOT IN ('closed', 'invalid', 'merged')"

static void straight_counts_match(long long scope)
{
    char in[320];

    if (scope)
        snprintf(in, sizeof in,
                 " AND region_id IN (SELECT r0.id FROM regions r0 LEFT JOIN regions r1 ON"
                 " r1.id = r0.parent_id LEFT JOIN regions r2 ON r2.id = r1.parent_id WHERE"
                 " %lld IN (r0.id, r1.id, r2.id))",
                 scope);
    else
        in[0] = '\0';
    assert_int_equal(
        th_sqlf(&srv, "SELECT COALESCE(SUM(open_delta), 0) FROM dash_day WHERE scope_id = %lld",
                scope),
        th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE " OPEN "%s", in));
    assert_int_equal(
        th_sqlf(&srv, "SELECT COALESCE(SUM(urgent_delta), 0) FROM dash_day WHERE scope_id = %lld",
                scope),
        th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE " OPEN " AND urgency = 'urgent'%s", in));
    assert_int_equal(
        th_sqlf(&srv, "SELECT COALESCE(SUM(overdue_delta), 0) FROM dash_day WHERE scope_id = %lld",
                scope),
        th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE " OPEN " AND overdue = 1%s", in));
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM dash_hot WHERE scope_id = %lld", scope),
                     th_sqlf(&srv,
                             "SELECT COUNT(*) FROM cases WHERE " OPEN
                             " AND (urgency = 'urgent' OR overdue = 1)%s",
                             in));
    assert_int_equal(
        th_sqlf(&srv, "SELECT COALESCE(SUM(new_citizen), 0) FROM dash_day WHERE scope_id = %lld",
                scope),
        th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE source = 'citizen'%s", in));
    assert_int_equal(
        th_sqlf(&srv,
                "SELECT COALESCE(SUM(n), 0) FROM dash_category WHERE scope_id = %lld AND span = 0",
                scope),
        th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE 1 = 1%s", in));
    for (int m = 500; m <= 1000; m += 500)
        assert_int_equal(th_sqlf(&srv,
                                 "SELECT COALESCE(SUM(n), 0) FROM dash_cell_coarse WHERE scope_id"
                                 " = %lld AND cell_m = %d AND span = 0",
                                 scope, m),
                         th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE 1 = 1%s", in));
    assert_int_equal(
        th_sqlf(&srv, "SELECT COALESCE(SUM(closed), 0) FROM dash_day WHERE scope_id = %lld", scope),
        th_sqlf(&srv,
                "SELECT COUNT(*) FROM case_steps s JOIN cases c ON c.id = s.case_id WHERE"
                " s.action = 'close'%s",
                scope ? strstr(in, " AND") : ""));
    assert_int_equal(
        th_sqlf(&srv,
                "SELECT COALESCE(SUM(den), 0) FROM eval_day WHERE scope_id = %lld AND span = 0"
                " AND indicator = 'on_time_handle'",
                scope),
        th_sqlf(&srv,
                "SELECT COUNT(*) FROM case_steps s JOIN cases c ON c.id = s.case_id WHERE"
                " s.action = 'handle'%s",
                scope ? strstr(in, " AND") : ""));
    assert_int_equal(
        th_sqlf(&srv,
                "SELECT COALESCE(SUM(den), 0) FROM eval_day WHERE scope_id = %lld AND span = 0"
                " AND indicator = 'on_time_check'",
                scope),
        th_sqlf(&srv,
                "SELECT COUNT(*) FROM case_steps s JOIN cases c ON c.id = s.case_id WHERE"
                " s.action IN ('verify_pass', 'verify_fail')%s",
                scope ? strstr(in, " AND") : ""));
    /* 应核实: every 核实 sent, but those sent on to another inspector before their limit. */
    assert_int_equal(
        th_sqlf(&srv,
                "SELECT COALESCE(SUM(den), 0) FROM eval_day WHERE scope_id = %lld AND span = 0"
                " AND indicator = 'on_time_verify'",
                scope),
        th_sqlf(&srv,
                "SELECT COUNT(*) FROM case_steps s JOIN cases c ON c.id = s.case_id WHERE"
                " s.action = 'request_confirmation' AND NOT (s.from_state = 'confirming' AND"
                " s.created_at <= (SELECT p.due_at FROM case_steps p WHERE p.case_id ="
                " s.case_id AND p.id < s.id ORDER BY p.id DESC LIMIT 1))%s",
                scope ? strstr(in, " AND") : ""));
}

/* Weeks and months hold the same totals as their days. */
static void spans_match(long long scope)
{
    static const char *const t[] = {"dash_category", "dash_grid", "dash_hour", "dash_cell",
                                    "dash_cell_coarse"};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        for (int span = 1; span <= 2; span++)
            assert_int_equal(th_sqlf(&srv,
                                     "SELECT COALESCE(SUM(n), 0) FROM %s WHERE scope_id = %lld AND"
                                     " span = %d",
                                     t[i], scope, span),
                             th_sqlf(&srv,
                                     "SELECT COALESCE(SUM(n), 0) FROM %s WHERE scope_id = %lld AND"
                                     " span = 0",
                                     t[i], scope));
    for (int span = 1; span <= 2; span++)
        assert_int_equal(
            th_sqlf(&srv,
                    "SELECT COALESCE(SUM(num) * 1000003 + SUM(den), 0) FROM eval_day WHERE"
                    " scope_id = %lld AND span = %d",
                    scope, span),
            th_sqlf(&srv,
                    "SELECT COALESCE(SUM(num) * 1000003 + SUM(den), 0) FROM eval_day WHERE"
                    " scope_id = %lld AND span = 0",
                    scope));
}

static void rollups_equal_rebuild_after_random_run(void **state)
{
    long long overdue;
    (void)state;

    {
        /* A second inspector, only ever sent a 核实 the operator then sends on. */
        struct th_resp r;
        th_call_tok(&srv, "POST", "/api/v1/admin/users", th_token(&srv, "admin"), NULL, NULL,
                    "{\"username\":\"inspector2\",\"password\":\"Gr1d-Ops!2024x\","
                    "\"display_name\":\"监督员二\",\"roles\":[\"inspector\"]}",
                    &r);
        th_expect(&r, 201, NULL);
        inspector2_id = th_jint(r.json, "id");
        th_resp_free(&r);
    }
    leader_in(d1);
    advance_and_scan(2030, 4, 1, 1);
    for (int day = 0; day < 4; day++) {
        for (int i = 0; i < NCASES / 4; i++)
            new_case();
        for (int i = 0; i < 5000 && actions < (day + 1) * 560; i++) {
            struct rcase *c = &cs[rnd((unsigned)ncs)];
            if (!final(c))
                step(c);
        }
        /* The next morning: the scanner marks what ran out. */
        advance_and_scan(2030, 4, 2 + day, 1 + (day % 3) * 3);
    }
    print_message("random run: %zu cases, %ld actions\n", ncs, actions);
    assert_true(actions >= 2000);
    /* 核实 answered both ways, and sent on. */
    assert_true(th_sql_int(&srv, "SELECT COUNT(*) FROM case_steps WHERE action = 'confirm'") > 10);
    assert_true(th_sql_int(&srv, "SELECT COUNT(*) FROM case_steps WHERE action = 'deny'") > 5);
    assert_true(th_sql_int(&srv, "SELECT COUNT(*) FROM case_steps WHERE action ="
                                 " 'request_confirmation' AND from_state = 'confirming'") > 5);
    overdue = th_sql_int(&srv, "SELECT COUNT(*) FROM case_steps WHERE action = 'overdue'");
    assert_true(overdue > 0);
    assert_true(th_sql_int(&srv, "SELECT COUNT(*) FROM case_steps WHERE action = 'urge'") > 10);

    straight_counts_match(0);
    straight_counts_match(city);
    straight_counts_match(d1);
    straight_counts_match(s1);
    straight_counts_match(d2);
    spans_match(0);
    spans_match(d1);

    th_rollups_match_rebuild(&srv);
    /* And the dashboard still answers from the rebuilt tables. */
    straight_counts_match(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(indicators_on_hand_built_set),
        cmocka_unit_test(jurisdiction_scoping),
        cmocka_unit_test(urgings_with_read_and_ack_times),
        cmocka_unit_test(csv_export_and_settings),
        cmocka_unit_test(rollups_equal_rebuild_after_random_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
