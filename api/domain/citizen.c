/* api/domain/citizen.c: citizens' report limits and "my reports" (see citizen.h). */
#include "api/domain/citizen.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include "api/domain/case_int.h"
#include "api/domain/citytime.h"
#include "api/domain/refdata.h"
#include "server/core/roles.h"
#include "server/db/db.h"

#define MS_HOUR 3600000LL

static struct citizen_config conf = {10, 30, 60, 300};

void citizen_configure(const struct citizen_config *c)
{
    conf = *c;
}

/* Start of the local day holding ms. */
static int64_t local_day_start(int64_t ms, int64_t off_ms)
{
    return citytime_day_start_ms(citytime_day(ms, off_ms), off_ms);
}

/* "2030-01-04 10:20 +08:00", local time, for messages. */
static void local_time(int64_t ms, int64_t off_ms, char out[32])
{
    struct citytime_civil t;
    char zone[8];

    citytime_civil(ms, off_ms, &t);
    citytime_zone(off_ms, zone);
    snprintf(out, 32, "%04u-%02u-%02u %02u:%02u %s", (unsigned)t.year % 10000u,
             (unsigned)t.month % 100u, (unsigned)t.day % 100u, (unsigned)t.hour % 100u,
             (unsigned)t.minute % 100u, zone);
}

static enum err refuse(struct rctx *cx, int64_t until_ms, int64_t off_ms, const char *who,
                       int limit, const char *per)
{
    char when[32];
    int64_t wait_ms = until_ms - cx->now_ms;
    int secs = (int)((wait_ms + 999) / 1000);

    if (secs < 1)
        secs = 1;
    local_time(until_ms, off_ms, when);
    return rctx_fail_retry(cx, secs,
                           "too many reports: at most %d %s %s; retry in %d s (after %s local "
                           "time)",
                           limit, per, who, secs, when);
}

/* col is "reporter_id" or "source_ip" (ours, never input). Counts in the rolling hour and in
 * the local day, with the oldest report of the hour (when the next slot frees). */
static enum err count(struct rctx *cx, const char *sql, struct db_val key, int64_t off_ms,
                      int64_t *hour, int64_t *oldest, int64_t *day)
{
    int64_t day0 = local_day_start(cx->now_ms, off_ms);
    int64_t since = cx->now_ms - MS_HOUR < day0 ? cx->now_ms - MS_HOUR : day0;
    struct db_res r;
    enum err res = db_exec(
        cx, sql,
        DB_ARGS(DBI(cx->now_ms - MS_HOUR), DBI(cx->now_ms - MS_HOUR), DBI(day0), key, DBI(since)),
        &r);
    if (res)
        return res;
    *hour = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
    *oldest = r.nrows ? db_cell_i64(&r, 0, 1) : 0;
    *day = r.nrows ? db_cell_i64(&r, 0, 2) : 0;
    return ERR_OK;
}

#define COUNT_SQL(col)                                                                             \
    "SELECT COALESCE(SUM(created_at > FROM_UNIXTIME(? / 1000)), 0),"                               \
    " COALESCE(" CASE__MS(                                                                         \
        "MIN(IF(created_at > FROM_UNIXTIME(? / 1000), created_at, NULL))") ", 0), "                \
                                                                           "COALESCE(SUM(created_" \
                                                                           "at >= "                \
                                                                           "FROM_UNIXTIME(? / "    \
                                                                           "1000)), 0)"            \
                                                                           " FROM cases "          \
                                                                           "WHERE " col            \
                                                                           " = ? AND created_at "  \
                                                                           "> FROM_UNIXTIME(? / "  \
                                                                           "1000)"

static enum err check_one(struct rctx *cx, const char *sql, struct db_val key, int64_t off_ms,
                          int per_hour, int per_day, const char *who)
{
    int64_t hour, oldest, day;
    enum err res;

    if (per_hour <= 0 && per_day <= 0)
        return ERR_OK;
    res = count(cx, sql, key, off_ms, &hour, &oldest, &day);
    if (res)
        return res;
    if (per_day > 0 && day >= per_day)
        return refuse(cx, local_day_start(cx->now_ms, off_ms) + CITYTIME_DAY_MS, off_ms, who,
                      per_day, "a day");
    if (per_hour > 0 && hour >= per_hour)
        return refuse(cx, (oldest ? oldest : cx->now_ms) + MS_HOUR, off_ms, who, per_hour,
                      "an hour");
    return ERR_OK;
}

enum err citizen_report_check(struct rctx *cx, const char *src)
{
    struct db_res r;
    int64_t off_ms = 0;
    enum err res;

    if (!(cx->who.roles & ROLE_CITIZEN) || !cx->who.user_id)
        return ERR_OK;
    /* One user's reports are counted one at a time: the row lock orders them. The offset is
     * read after it, so the transaction's snapshot (REPEATABLE READ: its first plain read)
     * starts after the wait and the counts see the reports committed meanwhile. */
    res = db_exec(cx, "SELECT id FROM users WHERE id = ? FOR UPDATE", DB_ARGS(DBI(cx->who.user_id)),
                  &r);
    if (!res)
        res = refdata_utc_offset(cx, &off_ms);
    if (!res)
        res = check_one(cx, COUNT_SQL("reporter_id"), DBI(cx->who.user_id), off_ms,
                        conf.reports_per_hour, conf.reports_per_day, "per user");
    if (!res && src && src[0])
        res = check_one(cx, COUNT_SQL("source_ip"), DBS(src), off_ms, conf.address_reports_per_hour,
                        conf.address_reports_per_day, "from one network address");
    return res;
}

/* ---- my reports -------------------------------------------------------------------------- */

static const struct {
    const char *action, *label;
} step_labels[] = {
    {"report", "上报"},
    {"accept", "受理"},
    {"register", "立案"},
    {"invalidate", "不予受理"},
    {"dispatch", "派遣"},
    {"return", "退回重新派遣"},
    {"handle", "处置"},
    {"verify_pass", "核查通过"},
    {"verify_fail", "核查未通过，返工"},
    {"close", "结案"},
    {"suspend", "挂账"},
    {"resume", "恢复办理"},
    {"reopen", "重新立案"},
    {"merge", "合并为重复案件"},
    {"not_fixed", "市民反映未解决，返工"},
    {"rate", "评价"},
    {"request_confirmation", "派员现场核实"},
    {"confirm", "核实属实"},
    {"deny", "核实不属实，不予受理"},
};

static const struct {
    const char *state, *label;
} state_labels[] = {
    {"reported", "待受理"},   {"accepted", "已受理"},   {"registered", "已立案"},
    {"dispatched", "处置中"}, {"handled", "待核查"},    {"verified", "待结案"},
    {"closed", "已结案"},     {"invalid", "不予受理"},  {"suspended", "挂账"},
    {"merged", "已合并"},     {"confirming", "核实中"},
};

static const char *label_of_step(const char *action)
{
    for (size_t i = 0; i < sizeof step_labels / sizeof step_labels[0]; i++)
        if (strcmp(step_labels[i].action, action) == 0)
            return step_labels[i].label;
    return NULL; /* not shown to citizens: 督办, reminders, extensions */
}

static const char *label_of_state(const char *state)
{
    for (size_t i = 0; i < sizeof state_labels / sizeof state_labels[0]; i++)
        if (strcmp(state_labels[i].state, state) == 0)
            return state_labels[i].label;
    return state;
}

/* clang-format off */
#define REPORT_COLS                                                                                \
    "c.id, c.state, cat.minor_name, c.description, c.address, d.name, c.lat, c.lng, c.version,"   \
    " c.rework_count, " CASE__MS("c.created_at") ", " CASE__MS("c.updated_at") ", "                 \
    CASE__MS("c.closed_at") ", (SELECT COUNT(*) FROM case_ratings cr WHERE cr.case_id = c.id)"
#define REPORT_FROM                                                                                \
    " FROM cases c JOIN categories cat ON cat.id = c.category_id"                                  \
    " LEFT JOIN departments d ON d.id = c.department_id"
/* clang-format on */

static void report_row(struct rctx *cx, const struct db_res *r, size_t i, struct citizen_report *o)
{
    memset(o, 0, sizeof *o);
    o->id = db_cell_i64(r, i, 0);
    o->state = db_cell(r, i, 1);
    o->state_label = label_of_state(o->state);
    o->category_name = db_cell(r, i, 2);
    o->description = db_cell(r, i, 3);
    o->address = db_cell(r, i, 4);
    o->department = db_cell(r, i, 5);
    o->lat = db_cell_f64(r, i, 6);
    o->lng = db_cell_f64(r, i, 7);
    o->version = db_cell_i64(r, i, 8);
    o->rework_count = db_cell_i64(r, i, 9);
    o->created_ms = db_cell_i64(r, i, 10);
    o->updated_ms = db_cell_i64(r, i, 11);
    o->closed_ms = db_cell_i64(r, i, 12);
    o->rated = db_cell_i64(r, i, 13) > 0;
    o->can_report_not_fixed = strcmp(o->state, "closed") == 0 && o->closed_ms &&
                              cx->now_ms - o->closed_ms <= CITIZEN_REWORK_DAYS * CITYTIME_DAY_MS;
    case__number(o->id, o->created_ms, o->case_no);
}

enum err citizen_reports_list(struct rctx *cx, int64_t before_id, int limit, size_t *n,
                              struct citizen_report **out, int64_t *next_before)
{
    struct db_res r;
    enum err res;

    if (limit < 1 || limit > CITIZEN_REPORTS_MAX)
        return rctx_fail(cx, ERR_INVALID, "limit: 1 to %d", CITIZEN_REPORTS_MAX);
    res = db_exec(
        cx,
        "SELECT " REPORT_COLS REPORT_FROM " WHERE c.reporter_id = ? AND c.id < ?"
        " ORDER BY c.id DESC LIMIT ?",
        DB_ARGS(DBI(cx->who.user_id), DBI(before_id > 0 ? before_id : INT64_MAX), DBI(limit + 1)),
        &r);
    if (res)
        return res;
    *n = r.nrows > (size_t)limit ? (size_t)limit : r.nrows;
    *out = rctx_zalloc(cx, (*n + 1) * sizeof **out);
    for (size_t i = 0; i < *n; i++)
        report_row(cx, &r, i, &(*out)[i]);
    *next_before = r.nrows > (size_t)limit ? (*out)[*n - 1].id : 0;
    return ERR_OK;
}

enum err citizen_report_get(struct rctx *cx, int64_t case_id, struct citizen_report *out)
{
    struct db_res r, s;
    size_t k = 0;
    enum err res;

    res = db_exec(cx, "SELECT " REPORT_COLS REPORT_FROM " WHERE c.id = ? AND c.reporter_id = ?",
                  DB_ARGS(DBI(case_id), DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such report of yours");
    report_row(cx, &r, 0, out);
    /* The department a step names, by name only: never the actor, the assignee or a phone. */
    res = db_exec(
        cx,
        "SELECT s.action, s.to_state, s.text, d.name, " CASE__MS(
            "s.created_at") " FROM case_steps s LEFT JOIN departments d ON d.id = s.department_id"
                            " WHERE s.case_id = ? ORDER BY s.id",
        DB_ARGS(DBI(case_id)), &s);
    if (res)
        return res;
    out->steps = rctx_zalloc(cx, (s.nrows + 1) * sizeof *out->steps);
    for (size_t i = 0; i < s.nrows; i++) {
        const char *label = label_of_step(db_cell(&s, i, 0));
        struct citizen_step *p = &out->steps[k];
        if (!label)
            continue;
        p->action = db_cell(&s, i, 0);
        p->label = label;
        p->state = db_cell(&s, i, 1);
        p->reply = db_cell(&s, i, 2);
        p->department = db_cell(&s, i, 3);
        p->at_ms = db_cell_i64(&s, i, 4);
        k++;
    }
    out->nsteps = k;
    return ERR_OK;
}
