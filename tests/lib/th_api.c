/* tests/lib/th_api.c: requests, cases, SQL and clock helpers shared by the e2e programs. */
#include "th_api.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "th_assert.h"

/* ---- text and SQL ---------------------------------------------------------------------- */

char *th_xprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        th_die("bad format %s", fmt);
    p = malloc((size_t)n + 1);
    if (!p)
        th_die("out of memory");
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static void vformat_sql(char *q, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void vformat_sql(char *q, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(q, cap, fmt, ap);

    if (n < 0 || (size_t)n >= cap)
        th_die("SQL longer than %zu bytes: %s", cap, fmt);
}

long long th_sqlf(struct th_server *s, const char *fmt, ...)
{
    char q[4096];
    va_list ap;

    va_start(ap, fmt);
    vformat_sql(q, sizeof q, fmt, ap);
    va_end(ap);
    return th_sql_int(s, q);
}

void th_sql_execf(struct th_server *s, const char *fmt, ...)
{
    char q[4096];
    va_list ap;

    va_start(ap, fmt);
    vformat_sql(q, sizeof q, fmt, ap);
    va_end(ap);
    th_sql_exec(s, q);
}

/* ---- requests ---------------------------------------------------------------------------- */

const char *th_bearer(struct th_server *s, const char *role)
{
    static char buf[4][9000];
    static int k;
    char *b = buf[k++ % 4];

    snprintf(b, sizeof buf[0], "Authorization: Bearer %s", th_token(s, role));
    return b;
}

void th_call_tok(struct th_server *s, const char *method, const char *path, const char *token,
                 const char *key, const char *extra_header, const char *body, struct th_resp *r)
{
    char *auth = token ? th_xprintf("Authorization: Bearer %s", token) : NULL;
    char *idem = key ? th_xprintf("Idempotency-Key: %s", key) : NULL;
    const char *hs[5] = {NULL, NULL, NULL, NULL, NULL};
    size_t n = 0;

    if (body)
        hs[n++] = "Content-Type: application/json";
    if (auth)
        hs[n++] = auth;
    if (idem)
        hs[n++] = idem;
    if (extra_header)
        hs[n++] = extra_header;
    th_request(s, method, path, hs, body, body ? strlen(body) : 0, 0, r);
    free(auth);
    free(idem);
}

void th_call(struct th_server *s, const char *role, const char *method, const char *path,
             const char *key, const char *body, struct th_resp *r)
{
    th_call_tok(s, method, path, th_token(s, role), key, NULL, body, r);
}

void th_post(struct th_server *s, const char *role, const char *path, const char *key,
             const char *body, struct th_resp *r)
{
    th_call(s, role, "POST", path, key, body ? body : "", r);
}

void th_get_as(struct th_server *s, const char *role, const char *path, struct th_resp *r)
{
    th_call(s, role, "GET", path, NULL, NULL, r);
}

void th_check(struct th_server *s, const char *role, const char *method, const char *path,
              const char *body, long status, const char *code)
{
    struct th_resp r;

    th_call(s, role, method, path, NULL, body, &r);
    if (r.status != status || (code && strcmp(th_error_code(&r), code) != 0))
        fail_msg("%s %s as %s: expected %ld %s, got %ld: %s", method, path, role, status,
                 code ? code : "", r.status, r.body);
    th_resp_free(&r);
}

/* ---- cases ------------------------------------------------------------------------------- */

void th_report_resp(struct th_server *s, const char *role, const char *where, struct th_resp *r)
{
    char *body = th_xprintf("{" TH_CAT_0102 ",\"description\":\"路边暴露垃圾一堆\",%s}",
                            where ? where : TH_IN_GRID1);

    th_post(s, role, "/api/v1/cases", NULL, body, r);
    free(body);
}

long long th_report_as(struct th_server *s, const char *role, const char *where)
{
    struct th_resp r;
    long long id;

    th_report_resp(s, role, where, &r);
    if (r.status != 201)
        fail_msg("report as %s: %ld %s", role, r.status, r.body);
    id = th_jint(r.json, "id");
    th_resp_free(&r);
    assert_true(id > 0);
    return id;
}

long long th_case_version(struct th_server *s, long long id)
{
    return th_sqlf(s, "SELECT version FROM cases WHERE id = %lld", id);
}

/* member of GET /api/v1/cases/{id} as the dispatcher, into out. */
static void case_member(struct th_server *s, long long id, const char *member, char *out,
                        size_t cap)
{
    char path[64];
    struct th_resp r;

    snprintf(path, sizeof path, "/api/v1/cases/%lld", id);
    th_get_as(s, "dispatcher", path, &r);
    if (r.status != 200)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    snprintf(out, cap, "%s", th_jstr(r.json, member));
    th_resp_free(&r);
}

const char *th_case_state(struct th_server *s, long long id)
{
    static char buf[32];

    case_member(s, id, "state", buf, sizeof buf);
    return buf;
}

const char *th_case_due(struct th_server *s, long long id)
{
    static char buf[64];

    case_member(s, id, "due_at", buf, sizeof buf);
    return buf;
}

void th_act_vresp(struct th_server *s, const char *role, long long id, const char *key,
                  struct th_resp *r, const char *fmt, va_list ap)
{
    char path[64], extra[1536];
    char *body;

    vsnprintf(extra, sizeof extra, fmt, ap);
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    body = th_xprintf("{\"version\":%lld,%s}", th_case_version(s, id), extra);
    th_post(s, role, path, key, body, r);
    free(body);
}

void th_act_resp(struct th_server *s, const char *role, long long id, const char *key,
                 struct th_resp *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    th_act_vresp(s, role, id, key, r, fmt, ap);
    va_end(ap);
}

const char *th_act(struct th_server *s, const char *role, long long id, const char *key,
                   const char *fmt, ...)
{
    static char due[64];
    struct th_resp r;
    va_list ap;

    va_start(ap, fmt);
    th_act_vresp(s, role, id, key, &r, fmt, ap);
    va_end(ap);
    if (r.status != 200)
        fail_msg("%s on case %lld as %s: %ld %s", fmt, id, role, r.status, r.body);
    snprintf(due, sizeof due, "%s", th_jstr(r.json, "due_at"));
    th_resp_free(&r);
    return due;
}

/* ---- time ------------------------------------------------------------------------------ */

long long th_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Move cityd's clock to the UTC wall time given, shifted by offset_min; returns the instant. */
static long long clock_move(struct th_server *s, int y, int mo, int d, int h, int mi,
                            int offset_min)
{
    struct tm tm = {0};
    long long at;

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    at = ((long long)timegm(&tm) - offset_min * 60LL) * 1000;
    th_clock_offset(s, at - th_now_ms());
    json_object_clear(s->tokens);
    return at;
}

void th_clock_at(struct th_server *s, int y, int mo, int d, int h, int mi)
{
    clock_move(s, y, mo, d, h, mi, 0);
}

long long th_clock_local(struct th_server *s, int y, int mo, int d, int h, int mi)
{
    return clock_move(s, y, mo, d, h, mi, 8 * 60);
}

void th_wait_track_partitions(struct th_server *s, long long at)
{
    char sql[512];

    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM information_schema.partitions WHERE table_schema ="
             " DATABASE() AND table_name = 'track_points' AND partition_name <> 'pmax' AND"
             " CAST(partition_description AS SIGNED) > %lld",
             at + 86400000LL);
    for (int i = 0; i < 150 && th_sql_int(s, sql) == 0; i++)
        usleep(100 * 1000);
    assert_true(th_sql_int(s, sql) > 0);
}

void th_assert_minute(const char *got, const char *want)
{
    if (strncmp(got, want, 16) != 0)
        fail_msg("due %s, expected %.16s", got, want);
}

/* Checksum of a table's rows over the given columns, skipping rows where skip holds. */
static long long table_sum(struct th_server *s, const char *table, const char *cols,
                           const char *skip)
{
    return th_sqlf(s,
                   "SELECT COALESCE(SUM(CRC32(CONCAT_WS('|', %s))), 0) + COUNT(*) * 1000003"
                   " FROM %s WHERE NOT (%s)",
                   cols, table, skip);
}

static const struct {
    const char *table, *cols, *skip;
} rollup_tables[] = {
    {"rollup_cases", "case_id, state, step, due_at, overdue, late, department_id, dispatcher_id",
     "0"},
    {"dash_day",
     "scope_id, day, new_inspector, new_citizen, new_hotline, new_video_ai, new_leader, closed,"
     " closed_on_time, open_delta, urgent_delta, overdue_delta",
     "new_inspector = 0 AND new_citizen = 0 AND new_hotline = 0 AND new_video_ai = 0 AND"
     " new_leader = 0 AND closed = 0 AND closed_on_time = 0 AND open_delta = 0 AND"
     " urgent_delta = 0 AND overdue_delta = 0"},
    {"dash_category", "scope_id, span, day, category_id, n", "n = 0"},
    {"dash_grid", "scope_id, span, day, grid_id, n", "n = 0"},
    {"dash_hour", "scope_id, span, day, hour, n", "n = 0"},
    {"dash_cell", "scope_id, span, day, cy, cx, n", "n = 0"},
    {"dash_cell_coarse", "scope_id, cell_m, span, day, cy, cx, n", "n = 0"},
    {"dash_staff", "scope_id, day, user_id", "0"},
    {"dash_hot", "scope_id, case_id, due_at, urgent, overdue", "0"},
    {"eval_marks",
     "case_id, region_id, day, subject_type, subject_id, indicator, ok, reason, step_id", "0"},
    {"eval_day", "scope_id, span, day, subject_type, subject_id, indicator, num, den",
     "num = 0 AND den = 0"},
};
#define N_ROLLUP_TABLES (sizeof rollup_tables / sizeof rollup_tables[0])

void th_rollups_match_rebuild(struct th_server *s)
{
    long long before[N_ROLLUP_TABLES];

    for (size_t i = 0; i < N_ROLLUP_TABLES; i++)
        before[i] =
            table_sum(s, rollup_tables[i].table, rollup_tables[i].cols, rollup_tables[i].skip);
    if (th_cityd(s, "rollup-rebuild") != 0) {
        th_sh("cat %s/cli.log >&2", s->dir);
        fail_msg("cityd rollup-rebuild failed");
    }
    for (size_t i = 0; i < N_ROLLUP_TABLES; i++)
        if (table_sum(s, rollup_tables[i].table, rollup_tables[i].cols, rollup_tables[i].skip) !=
            before[i])
            fail_msg("%s differs after rollup-rebuild", rollup_tables[i].table);
}
