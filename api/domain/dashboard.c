/* api/domain/dashboard.c: the leader's dashboard over the rollups (see dashboard.h). */
#include "api/domain/dashboard.h"

#include <stdio.h>
#include <string.h>
#include "api/domain/case_int.h"
#include "api/domain/citytime.h"
#include "api/domain/inbox.h"
#include "api/domain/refdata.h"
#include "api/domain/rollup.h"
#include "server/core/roles.h"
#include "server/db/db.h"
#include "server/db/sqlb.h"

#define DAYS_1970 719528 /* TO_DAYS('1970-01-01') */
#define MSCOL(col) "CAST(UNIX_TIMESTAMP(" col ") * 1000 AS SIGNED)"

static const char *const sources[DASH_SOURCES] = {"inspector", "citizen", "hotline", "video_ai",
                                                  "leader"};

const char *dashboard_source_name(int i)
{
    return i >= 0 && i < DASH_SOURCES ? sources[i] : NULL;
}

/* The region with its ancestors (up to four levels): ids[0] is the region itself. */
static enum err region_chain(struct rctx *cx, int64_t id, int64_t ids[4], const char *levels[4],
                             const char **name, bool *found)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT r0.id, r0.level, r0.name, r1.id, r1.level, r2.id, r2.level,"
                           " r3.id, r3.level FROM regions r0"
                           " LEFT JOIN regions r1 ON r1.id = r0.parent_id"
                           " LEFT JOIN regions r2 ON r2.id = r1.parent_id"
                           " LEFT JOIN regions r3 ON r3.id = r2.parent_id WHERE r0.id = ?",
                           DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    *found = r.nrows == 1;
    if (!*found)
        return ERR_OK;
    *name = db_cell(&r, 0, 2);
    ids[0] = db_cell_i64(&r, 0, 0);
    levels[0] = db_cell(&r, 0, 1);
    for (int k = 1; k < 4; k++) {
        ids[k] = db_cell_i64(&r, 0, 1 + 2 * k);
        levels[k] = db_cell(&r, 0, 2 + 2 * k);
    }
    return ERR_OK;
}

enum err dashboard_period(struct rctx *cx, const struct dash_scope *sc, const char *from_text,
                          const char *to_text, int64_t *from, int64_t *to)
{
    *to = citytime_day(cx->now_ms, sc->utc_offset_ms);
    if (to_text && rollup_day_parse(to_text, to))
        return rctx_fail(cx, ERR_INVALID, "to: a date YYYY-MM-DD");
    *from = *to - (DASH_PERIOD_DEFAULT_DAYS - 1);
    if (from_text && rollup_day_parse(from_text, from))
        return rctx_fail(cx, ERR_INVALID, "from: a date YYYY-MM-DD");
    if (*from > *to)
        return rctx_fail(cx, ERR_INVALID, "from must not be after to");
    if (*to - *from + 1 > DASH_PERIOD_MAX_DAYS)
        return rctx_fail(cx, ERR_INVALID, "period: at most %d days", DASH_PERIOD_MAX_DAYS);
    return ERR_OK;
}

enum err dashboard_scope(struct rctx *cx, int64_t region_id, struct dash_scope *out)
{
    int64_t ids[4] = {0}, mine = 0;
    const char *levels[4] = {0}, *name = NULL;
    bool found = false, admin = (cx->who.roles & ROLE_ADMIN) != 0;
    struct db_res r;
    enum err res;

    memset(out, 0, sizeof *out);
    res = refdata_utc_offset(cx, &out->utc_offset_ms);
    if (res)
        return res;
    if (!admin) {
        res = db_exec(cx, "SELECT COALESCE(region_id, 0) FROM users WHERE id = ?",
                      DB_ARGS(DBI(cx->who.user_id)), &r);
        if (res)
            return res;
        mine = r.nrows ? db_cell_i64(&r, 0, 0) : 0;
        if (!mine)
            return rctx_fail(cx, ERR_FORBIDDEN, "you have no jurisdiction (region) to look at");
        if (!region_id)
            region_id = mine;
    }
    if (!region_id) {
        out->level = "all";
        out->name = "全部";
        return ERR_OK;
    }
    res = region_chain(cx, region_id, ids, levels, &name, &found);
    if (res)
        return res;
    if (!found || (!admin && mine != ids[0] && mine != ids[1] && mine != ids[2] && mine != ids[3]))
        return rctx_fail(cx, ERR_NOTFOUND, "no such region in your jurisdiction");
    out->region_id = ids[0];
    out->level = levels[0];
    out->name = name;
    for (int k = 0; k < 4; k++)
        if (ids[k] && levels[k] && strcmp(levels[k], "city") == 0)
            out->city_id = ids[k];
    return ERR_OK;
}

enum err dashboard__subtree_sql(struct rctx *cx, const struct dash_scope *sc, const char **out)
{
    struct db_sqlb b;
    struct db_res r;
    enum err res;

    *out = NULL;
    if (!sc->region_id)
        return ERR_OK;
    res = db_exec(cx,
                  "SELECT r0.id FROM regions r0 LEFT JOIN regions r1 ON r1.id = r0.parent_id"
                  " LEFT JOIN regions r2 ON r2.id = r1.parent_id"
                  " LEFT JOIN regions r3 ON r3.id = r2.parent_id"
                  " WHERE ? IN (r0.id, r1.id, r2.id, r3.id) ORDER BY r0.id",
                  DB_ARGS(DBI(sc->region_id)), &r);
    if (res)
        return res;
    db_sqlb_init(cx, &b, 0, "(");
    for (size_t i = 0; i < r.nrows; i++)
        db_sqlb_addf(&b, "%s%lld", i ? "," : "", (long long)db_cell_i64(&r, i, 0));
    if (!r.nrows)
        db_sqlb_add(&b, "0");
    db_sqlb_add(&b, ")");
    res = db_sqlb_check(&b);
    if (!res)
        *out = b.sql;
    return res;
}

/* ---- summary ----------------------------------------------------------------------------- */

/* Where a user works: their region, else the region of their first grid (as the live map's
 * positions_latest.region_id). */
#define USER_REGION_SQL                                                                            \
    "COALESCE(u.region_id, (SELECT g.region_id FROM user_grids ug JOIN grids g ON g.id ="          \
    " ug.grid_id WHERE ug.user_id = u.id ORDER BY g.id LIMIT 1))"

/* Staff on duty on local day day (at UTC offset off_ms) in the regions sub ("(id,…)"; NULL:
 * everywhere). */
static enum err staff_on_duty_in(struct rctx *cx, const char *sub, int64_t day, int64_t off_ms,
                                 int64_t *n)
{
    struct db_res r;
    enum err res;

    *n = 0;
    if (day == citytime_day(cx->now_ms, off_ms))
        /* Today: checked in now (between check-in and check-out). */
        res = db_exec(cx,
                      rctx_printf(cx,
                                  "SELECT COUNT(*) FROM duty d JOIN users u ON u.id = d.user_id"
                                  " WHERE d.on_duty = 1 AND u.disabled = 0%s%s",
                                  sub ? " AND " USER_REGION_SQL " IN " : "", sub ? sub : ""),
                      DB_NOARGS, &r);
    else
        /* An earlier day: who checked in that day. */
        res = db_exec(cx,
                      rctx_printf(cx,
                                  "SELECT COUNT(DISTINCT c.user_id) FROM checkins c JOIN users u"
                                  " ON u.id = c.user_id WHERE c.type = 'in' AND c.local_date ="
                                  " FROM_DAYS(?)%s%s",
                                  sub ? " AND " USER_REGION_SQL " IN " : "", sub ? sub : ""),
                      DB_ARGS(DBI(day + DAYS_1970)), &r);
    if (!res)
        *n = db_cell_i64(&r, 0, 0);
    return res;
}

enum err dashboard_staff_on_duty(struct rctx *cx, const struct dash_scope *sc, int64_t day,
                                 int64_t *n)
{
    const char *sub;
    enum err res = dashboard__subtree_sql(cx, sc, &sub);

    return res ? res : staff_on_duty_in(cx, sub, day, sc->utc_offset_ms, n);
}

enum err dashboard_summary(struct rctx *cx, const struct dash_scope *sc, struct dash_summary *out)
{
    int64_t today = citytime_day(cx->now_ms, sc->utc_offset_ms);
    int64_t days[3] = {today, today - 1, today - 7};
    struct dash_counts *c[3] = {&out->today, &out->yesterday, &out->last_week};
    struct db_res r;
    enum err res;

    memset(out, 0, sizeof *out);
    out->day = today;
    res = db_exec(cx,
                  "SELECT TO_DAYS(day) - 719528, new_inspector, new_citizen, new_hotline,"
                  " new_video_ai, new_leader, closed, closed_on_time FROM dash_day"
                  " WHERE scope_id = ? AND day IN (FROM_DAYS(?), FROM_DAYS(?), FROM_DAYS(?))",
                  DB_ARGS(DBI(sc->region_id), DBI(days[0] + DAYS_1970), DBI(days[1] + DAYS_1970),
                          DBI(days[2] + DAYS_1970)),
                  &r);
    if (res)
        return res;
    for (size_t i = 0; i < r.nrows; i++) {
        int64_t d = db_cell_i64(&r, i, 0);
        for (int k = 0; k < 3; k++) {
            if (d != days[k])
                continue;
            for (int s = 0; s < DASH_SOURCES; s++) {
                c[k]->new_by_source[s] = db_cell_i64(&r, i, 1 + (size_t)s);
                c[k]->new_total += c[k]->new_by_source[s];
            }
            c[k]->closed = db_cell_i64(&r, i, 6);
            c[k]->closed_on_time = db_cell_i64(&r, i, 7);
        }
    }
    /* Stocks: the sum of the daily changes up to the end of each day (today: everything). */
    res = db_exec(cx,
                  "SELECT COALESCE(SUM(open_delta), 0), COALESCE(SUM(urgent_delta), 0),"
                  " COALESCE(SUM(overdue_delta), 0),"
                  " COALESCE(SUM(IF(day <= FROM_DAYS(?), open_delta, 0)), 0),"
                  " COALESCE(SUM(IF(day <= FROM_DAYS(?), urgent_delta, 0)), 0),"
                  " COALESCE(SUM(IF(day <= FROM_DAYS(?), overdue_delta, 0)), 0),"
                  " COALESCE(SUM(IF(day <= FROM_DAYS(?), open_delta, 0)), 0),"
                  " COALESCE(SUM(IF(day <= FROM_DAYS(?), urgent_delta, 0)), 0),"
                  " COALESCE(SUM(IF(day <= FROM_DAYS(?), overdue_delta, 0)), 0)"
                  " FROM dash_day WHERE scope_id = ?",
                  DB_ARGS(DBI(days[1] + DAYS_1970), DBI(days[1] + DAYS_1970),
                          DBI(days[1] + DAYS_1970), DBI(days[2] + DAYS_1970),
                          DBI(days[2] + DAYS_1970), DBI(days[2] + DAYS_1970), DBI(sc->region_id)),
                  &r);
    if (res)
        return res;
    for (int k = 0; k < 3; k++) {
        c[k]->open = db_cell_i64(&r, 0, 3 * (size_t)k);
        c[k]->urgent = db_cell_i64(&r, 0, 3 * (size_t)k + 1);
        c[k]->overdue = db_cell_i64(&r, 0, 3 * (size_t)k + 2);
    }
    /* Staff who acted on a case of the scope (the rollups' dash_staff). */
    res = db_exec(cx,
                  "SELECT TO_DAYS(day) - 719528, COUNT(*) FROM dash_staff WHERE scope_id = ?"
                  " AND day IN (FROM_DAYS(?), FROM_DAYS(?), FROM_DAYS(?)) GROUP BY day",
                  DB_ARGS(DBI(sc->region_id), DBI(days[0] + DAYS_1970), DBI(days[1] + DAYS_1970),
                          DBI(days[2] + DAYS_1970)),
                  &r);
    if (res)
        return res;
    for (size_t i = 0; i < r.nrows; i++)
        for (int k = 0; k < 3; k++)
            if (db_cell_i64(&r, i, 0) == days[k])
                c[k]->staff_active = db_cell_i64(&r, i, 1);
    {
        const char *sub; /* the scope's regions, resolved once for the three days */
        res = dashboard__subtree_sql(cx, sc, &sub);
        for (int k = 0; !res && k < 3; k++)
            res = staff_on_duty_in(cx, sub, days[k], sc->utc_offset_ms, &c[k]->staff_on_duty);
        if (res)
            return res;
    }
    return ERR_OK;
}

/* ---- hotspots ---------------------------------------------------------------------------- */

static enum err top_of(struct rctx *cx, const char *sql, const struct dash_scope *sc,
                       int64_t from_day, int64_t to_day, int top, size_t *n, struct dash_top **out)
{
    struct db_res r;
    enum err res;

    (void)from_day, (void)to_day; /* already in sql */
    res = db_exec(cx, sql, DB_ARGS(DBI(sc->region_id), DBI(top)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++) {
        (*out)[i].id = db_cell_i64(&r, i, 0);
        (*out)[i].n = db_cell_i64(&r, i, 1);
        (*out)[i].code = db_cell(&r, i, 2);
        (*out)[i].name = db_cell(&r, i, 3);
    }
    return ERR_OK;
}

enum err dashboard_hotspots(struct rctx *cx, const struct dash_scope *sc, int64_t from_day,
                            int64_t to_day, int top, int cells, int cell_m,
                            struct dash_hotspots *out)
{
    struct db_res r;
    const char *per;
    int64_t days;
    enum err res;

    memset(out, 0, sizeof *out);
    if (to_day < from_day || to_day - from_day + 1 > DASH_PERIOD_MAX_DAYS)
        return rctx_fail(cx, ERR_INVALID, "period: from must not be after to, at most %d days",
                         DASH_PERIOD_MAX_DAYS);
    days = to_day - from_day + 1;
    if (cell_m == 0)
        cell_m = days <= DASH_CELL_250_MAX_DAYS   ? (int)ROLLUP_CELL_M
                 : days <= DASH_CELL_500_MAX_DAYS ? (int)ROLLUP_CELL_500_M
                                                  : (int)ROLLUP_CELL_KM_M;
    if (cell_m != (int)ROLLUP_CELL_M && cell_m != (int)ROLLUP_CELL_500_M &&
        cell_m != (int)ROLLUP_CELL_KM_M)
        return rctx_fail(cx, ERR_INVALID, "cell_m: 250, 500 or 1000");
    if ((cell_m == (int)ROLLUP_CELL_M && days > DASH_CELL_250_MAX_DAYS) ||
        (cell_m == (int)ROLLUP_CELL_500_M && days > DASH_CELL_500_MAX_DAYS))
        return rctx_fail(cx, ERR_INVALID, "cell_m: %d m cells for at most %d days", cell_m,
                         cell_m == (int)ROLLUP_CELL_M ? DASH_CELL_250_MAX_DAYS
                                                      : DASH_CELL_500_MAX_DAYS);
    out->cell_m = cell_m;
    per = rollup_period_sql(cx, from_day, to_day);
    res = top_of(cx,
                 rctx_printf(cx,
                             "SELECT t.category_id, t.n, cat.full_code, cat.minor_name FROM"
                             " (SELECT category_id, SUM(n) AS n FROM dash_category WHERE"
                             " scope_id = ? AND %s GROUP BY category_id ORDER BY n DESC,"
                             " category_id LIMIT ?) t JOIN categories cat ON cat.id ="
                             " t.category_id ORDER BY t.n DESC, t.category_id",
                             per),
                 sc, from_day, to_day, top, &out->ncategories, &out->categories);
    if (!res)
        res = top_of(cx,
                     rctx_printf(cx,
                                 "SELECT t.grid_id, t.n, g.code, g.name FROM (SELECT grid_id,"
                                 " SUM(n) AS n FROM dash_grid WHERE scope_id = ? AND %s GROUP BY"
                                 " grid_id ORDER BY n DESC, grid_id LIMIT ?) t LEFT JOIN grids g"
                                 " ON g.id = t.grid_id ORDER BY t.n DESC, t.grid_id",
                                 per),
                     sc, from_day, to_day, top, &out->ngrids, &out->grids);
    if (res)
        return res;
    res = db_exec(cx,
                  rctx_printf(cx,
                              "SELECT hour, SUM(n) FROM dash_hour WHERE scope_id = ? AND %s"
                              " GROUP BY hour",
                              per),
                  DB_ARGS(DBI(sc->region_id)), &r);
    if (res)
        return res;
    for (size_t i = 0; i < r.nrows; i++) {
        int64_t h = db_cell_i64(&r, i, 0);
        if (h >= 0 && h < 24) {
            out->hours[h] = db_cell_i64(&r, i, 1);
            out->total += out->hours[h];
        }
    }
    res = db_exec(
        cx,
        rctx_printf(cx,
                    "SELECT cy, cx, SUM(n) AS n FROM %s WHERE scope_id = ? AND %s%s"
                    " GROUP BY cy, cx ORDER BY n DESC, cy, cx LIMIT ?",
                    cell_m == (int)ROLLUP_CELL_M ? "dash_cell" : "dash_cell_coarse",
                    cell_m == (int)ROLLUP_CELL_M ? "" : rctx_printf(cx, "cell_m = %d AND ", cell_m),
                    per),
        DB_ARGS(DBI(sc->region_id), DBI(cells)), &r);
    if (res)
        return res;
    out->ncells = r.nrows;
    out->cells = rctx_zalloc(cx, (r.nrows + 1) * sizeof *out->cells);
    for (size_t i = 0; i < r.nrows; i++) {
        struct dash_cell *c = &out->cells[i];
        c->cy = (int32_t)db_cell_i64(&r, i, 0);
        c->cx = (int32_t)db_cell_i64(&r, i, 1);
        c->n = db_cell_i64(&r, i, 2);
        rollup_cell_center(out->cell_m, c->cy, c->cx, &c->lat, &c->lng);
    }
    return ERR_OK;
}

/* ---- lists ------------------------------------------------------------------------------- */

enum err dashboard_alerts(struct rctx *cx, const struct dash_scope *sc, const char *kind, int limit,
                          size_t *n, struct dash_alert **out)
{
    const char *filter = "";
    struct db_res r;
    char sql[1024];
    enum err res;

    if (kind && strcmp(kind, "urgent") == 0)
        filter = " AND h.urgent = 1";
    else if (kind && strcmp(kind, "overdue") == 0)
        filter = " AND h.overdue = 1";
    else if (kind)
        return rctx_fail(cx, ERR_INVALID, "kind: urgent or overdue");
    snprintf(sql, sizeof sql,
             "SELECT h.case_id, h.urgent, h.overdue, IF(YEAR(h.due_at) >= 9999, 0, " MSCOL(
                 "h.due_at") "), c.state, c.step, cat.minor_name, c.address,"
                             " COALESCE(c.department_id, 0), " MSCOL(
                                 "c.created_at") " FROM dash_hot h JOIN cases c ON c.id ="
                                                 " h.case_id JOIN categories cat ON cat.id ="
                                                 " c.category_id WHERE h.scope_id = ?%s"
                                                 " ORDER BY h.due_at, h.case_id LIMIT ?",
             filter);
    res = db_exec(cx, rctx_strdup(cx, sql), DB_ARGS(DBI(sc->region_id), DBI(limit)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++) {
        struct dash_alert *a = &(*out)[i];
        a->case_id = db_cell_i64(&r, i, 0);
        a->urgent = db_cell_i64(&r, i, 1) != 0;
        a->overdue = db_cell_i64(&r, i, 2) != 0;
        a->due_ms = db_cell_i64(&r, i, 3);
        a->state = db_cell(&r, i, 4);
        a->step = db_cell(&r, i, 5);
        a->category_name = db_cell(&r, i, 6);
        a->address = db_cell(&r, i, 7);
        a->department_id = db_cell_i64(&r, i, 8);
        a->created_ms = db_cell_i64(&r, i, 9);
        case__number(a->case_id, a->created_ms, a->case_no);
    }
    return ERR_OK;
}

enum err dashboard_urgings(struct rctx *cx, const struct dash_scope *sc, int64_t from_ms,
                           int64_t to_ms, bool open_only, int limit, size_t *n,
                           struct dash_urging **out, struct dash_urging_stats *st)
{
    const char *sub = NULL, *where;
    struct db_res r;
    enum err res;

    memset(st, 0, sizeof *st);
    res = dashboard__subtree_sql(cx, sc, &sub);
    if (res)
        return res;
    /* A scope below everything starts from the period's urgings (index on sent_at) and keeps
     * its regions' ones: newest first by id, the optimizer walked every urging of all time
     * and looked up each one's case when the scope held few (116 ms p50 for a street at
     * 1,000,000 cases, measured). Everything (scope 0) needs no case: urgings.case_id is a
     * foreign key. */
    where = rctx_printf(cx,
                        " FROM case_urgings u%s%s"
                        " LEFT JOIN users lu ON lu.id = u.leader_id"
                        " LEFT JOIN departments d ON d.id = u.department_id"
                        " WHERE u.sent_at >= FROM_UNIXTIME(? / 1000)"
                        " AND u.sent_at < FROM_UNIXTIME(? / 1000)%s%s%s",
                        sub ? " FORCE INDEX (case_urgings_sent)" : "",
                        sub ? " JOIN cases c ON c.id = u.case_id" : "",
                        sub ? " AND c.region_id IN " : "", sub ? sub : "",
                        open_only ? " AND u.acked_at IS NULL" : "");
    res = db_exec(cx,
                  rctx_printf(cx,
                              "SELECT u.id, u.case_id, u.leader_id, COALESCE(u.department_id, 0),"
                              " u.note, lu.display_name, d.name, %s, %s, %s%s ORDER BY u.id DESC"
                              " LIMIT ?",
                              MSCOL("u.sent_at"), MSCOL("u.read_at"), MSCOL("u.acked_at"), where),
                  DB_ARGS(DBI(from_ms), DBI(to_ms), DBI(limit)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++) {
        struct dash_urging *u = &(*out)[i];
        u->id = db_cell_i64(&r, i, 0);
        u->case_id = db_cell_i64(&r, i, 1);
        u->leader_id = db_cell_i64(&r, i, 2);
        u->department_id = db_cell_i64(&r, i, 3);
        u->note = db_cell(&r, i, 4);
        u->leader_name = db_cell(&r, i, 5);
        u->department_name = db_cell(&r, i, 6);
        u->sent_ms = db_cell_i64(&r, i, 7);
        u->read_ms = db_cell_i64(&r, i, 8);
        u->acked_ms = db_cell_i64(&r, i, 9);
    }
    res = db_exec(cx,
                  rctx_printf(cx,
                              "SELECT COUNT(*), COUNT(u.read_at), COUNT(u.acked_at),"
                              " COALESCE(AVG(TIMESTAMPDIFF(SECOND, u.sent_at, u.read_at)), 0),"
                              " COALESCE(AVG(TIMESTAMPDIFF(SECOND, u.sent_at, u.acked_at)), 0)%s",
                              where),
                  DB_ARGS(DBI(from_ms), DBI(to_ms)), &r);
    if (res)
        return res;
    st->sent = db_cell_i64(&r, 0, 0);
    st->read = db_cell_i64(&r, 0, 1);
    st->acked = db_cell_i64(&r, 0, 2);
    st->avg_read_s = (int64_t)(db_cell_f64(&r, 0, 3) + 0.5);
    st->avg_ack_s = (int64_t)(db_cell_f64(&r, 0, 4) + 0.5);
    return ERR_OK;
}

enum err dashboard_tiles_changed(struct rctx *cx, int64_t since_ms, size_t max, size_t *n,
                                 int64_t **scopes, int64_t *latest_ms)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT scope_id, " MSCOL("changed_at") " FROM dash_tiles WHERE"
                                                                   " changed_at > FROM_UNIXTIME(?"
                                                                   " / 1000) ORDER BY changed_at"
                                                                   " LIMIT ?",
                           DB_ARGS(DBI(since_ms), DBI(max)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *scopes = rctx_zalloc(cx, (r.nrows + 1) * sizeof **scopes);
    *latest_ms = since_ms;
    for (size_t i = 0; i < r.nrows; i++) {
        (*scopes)[i] = db_cell_i64(&r, i, 0);
        if (db_cell_i64(&r, i, 1) > *latest_ms)
            *latest_ms = db_cell_i64(&r, i, 1);
    }
    return ERR_OK;
}

/* The live tiles: the summary of every scope changed since the last run, as a "latest value"
 * item of the leaders' stream "tiles" (inbox.h). Runs every second as a job, so a scope is
 * published at most once a second; a client keeps the newest item per scope_id. */
#define TILES_PER_RUN 64
static int64_t tiles_since_ms = -1;

enum err dashboard_tiles_job(struct rctx *cx)
{
    int64_t *scopes = NULL, latest = 0, since = __atomic_load_n(&tiles_since_ms, __ATOMIC_ACQUIRE);
    int64_t off_ms = 0;
    size_t n = 0;
    enum err res;

    if (since < 0) /* a new process starts with what changed in the last minute */
        since = cx->now_ms - 60000;
    res = dashboard_tiles_changed(cx, since, TILES_PER_RUN, &n, &scopes, &latest);
    if (!res && n)
        res = refdata_utc_offset(cx, &off_ms);
    for (size_t i = 0; !res && i < n; i++) {
        struct dash_scope sc = {
            .region_id = scopes[i], .level = "", .name = "", .utc_offset_ms = off_ms};
        struct dash_summary s;
        int64_t offset = 0;
        const struct dash_counts *t = &s.today;
        res = dashboard_summary(cx, &sc, &s);
        if (res)
            break;
        res = inbox_stream_publish(
            cx, "tiles", "dashboard.summary",
            rctx_printf(cx,
                        "{\"scope_id\":%lld,\"new_total\":%lld,\"open\":%lld,\"urgent\":%lld,"
                        "\"overdue\":%lld,\"closed\":%lld,\"closed_on_time\":%lld,"
                        "\"staff_on_duty\":%lld}",
                        (long long)scopes[i], (long long)t->new_total, (long long)t->open,
                        (long long)t->urgent, (long long)t->overdue, (long long)t->closed,
                        (long long)t->closed_on_time, (long long)t->staff_on_duty),
            &offset);
    }
    if (!res)
        __atomic_store_n(&tiles_since_ms, latest, __ATOMIC_RELEASE);
    return res;
}
