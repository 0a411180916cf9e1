/* api/domain/evaluation.c: 考评 indicators, composite and grades (see evaluation.h). */
#include "api/domain/evaluation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/domain/audit.h"
#include "api/domain/case_int.h"
#include "server/db/db.h"
#include "server/db/sqlb.h"

#define DAYS_1970 719528

static const char *const roles[] = {"inspector", "shift_lead", "dispatcher", "department"};

static bool known_role(const char *r)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(roles[i], r) == 0)
            return true;
    return false;
}

static int role_rank(const char *r)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(roles[i], r) == 0)
            return (int)i;
    return 99;
}

/* ---- settings ------------------------------------------------------------------------------ */

static const char *settings_cols(struct rctx *cx)
{
    const char *s = "";
    for (int i = 0; i < EVAL__COUNT; i++)
        s = rctx_printf(cx, "%sw_%s, ", s, eval_indicator_name((enum eval_indicator)i));
    return rctx_printf(cx, "%sgrade_a, grade_b, grade_c, grade_d", s);
}

enum err evaluation_settings_get(struct rctx *cx, int64_t city_id, struct eval_settings *out)
{
    struct db_res r;
    enum err res;

    memset(out, 0, sizeof *out);
    res = db_exec(cx,
                  rctx_printf(cx,
                              "SELECT city_id, %s FROM eval_settings WHERE city_id IN (?, 0)"
                              " ORDER BY city_id DESC LIMIT 1",
                              settings_cols(cx)),
                  DB_ARGS(DBI(city_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_INTERNAL, "eval_settings has no default row");
    out->city_id = city_id;
    out->is_default = db_cell_i64(&r, 0, 0) != city_id || city_id == 0;
    for (size_t i = 0; i < EVAL__COUNT; i++)
        out->weight[i] = db_cell_f64(&r, 0, 1 + i);
    for (size_t i = 0; i < 4; i++)
        out->grade_min[i] = db_cell_f64(&r, 0, 1 + EVAL__COUNT + i);
    return ERR_OK;
}

enum err evaluation_settings_put(struct rctx *cx, const struct eval_settings *in)
{
    struct db_val args[1 + EVAL__COUNT + 4 + 1];
    const char *qs = "?";
    char detail[256];
    size_t k = 0, dl = 0;
    struct db_res r;
    enum err res;

    for (int i = 0; i < EVAL__COUNT; i++)
        if (!(in->weight[i] >= 0 && in->weight[i] <= EVAL_WEIGHT_MAX))
            return rctx_fail(cx, ERR_INVALID, "weights.%s: 0 to %g",
                             eval_indicator_name((enum eval_indicator)i), EVAL_WEIGHT_MAX);
    for (int i = 0; i < 4; i++) {
        if (!(in->grade_min[i] >= 0 && in->grade_min[i] <= 100))
            return rctx_fail(cx, ERR_INVALID, "grades.%c: 0 to 100", 'A' + i);
        if (i && !(in->grade_min[i] < in->grade_min[i - 1]))
            return rctx_fail(cx, ERR_INVALID, "grades: A > B > C > D");
    }
    if (in->city_id) {
        res = db_exec(cx, "SELECT 1 FROM regions WHERE id = ? AND level = 'city'",
                      DB_ARGS(DBI(in->city_id)), &r);
        if (res)
            return res;
        if (r.nrows == 0)
            return rctx_fail(cx, ERR_INVALID, "city_id: no such city");
    }
    args[k++] = DBI(in->city_id);
    for (int i = 0; i < EVAL__COUNT; i++) {
        args[k++] = DBF(in->weight[i]);
        qs = rctx_printf(cx, "%s,?", qs);
    }
    for (int i = 0; i < 4; i++) {
        args[k++] = DBF(in->grade_min[i]);
        qs = rctx_printf(cx, "%s,?", qs);
    }
    args[k++] = cx->who.user_id ? DBI(cx->who.user_id) : DBNULL;
    for (int i = 0; i < EVAL__COUNT && dl < sizeof detail; i++)
        dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "%s%g",
                               i ? "," : "w=", in->weight[i]);
    if (dl < sizeof detail)
        snprintf(detail + dl, sizeof detail - dl, " grades=%g,%g,%g,%g", in->grade_min[0],
                 in->grade_min[1], in->grade_min[2], in->grade_min[3]);

    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  rctx_printf(cx,
                              "REPLACE INTO eval_settings (city_id, %s, updated_by)"
                              " VALUES (%s,?)",
                              settings_cols(cx), qs),
                  args, k, NULL);
    if (!res)
        res = audit_write(cx, "evaluation.settings", "region", in->city_id, AUDIT_OK, detail);
    return db_tx_end(cx, res);
}

/* ---- report -------------------------------------------------------------------------------- */

double evaluation_rate(enum eval_indicator i, struct eval_value v)
{
    double r;

    if (v.den <= 0)
        return -1;
    r = (double)v.num / (double)v.den;
    return i == EVAL_REWORK ? 1.0 - r : r;
}

static void score(struct eval_subject *s, const struct eval_settings *st)
{
    double sum = 0, wsum = 0;

    for (int i = 0; i < EVAL__COUNT; i++) {
        double w = st->weight[i];
        if (strcmp(eval_indicator_role((enum eval_indicator)i), s->role) != 0 || w <= 0 ||
            s->v[i].den <= 0)
            continue;
        /* The composite counts what went well: num/den (for 返工率, 1 − 返工率). */
        sum += w * (double)s->v[i].num / (double)s->v[i].den;
        wsum += w;
    }
    s->scored = wsum > 0;
    if (!s->scored)
        return;
    s->score = 100.0 * sum / wsum;
    s->grade = 'E';
    for (int g = 3; g >= 0; g--)
        if (s->score >= st->grade_min[g] - 1e-9)
            s->grade = (char)('A' + g);
}

static int cmp_subject(const void *a, const void *b)
{
    const struct eval_subject *x = a, *y = b;
    int rx = role_rank(x->role), ry = role_rank(y->role);

    if (rx != ry)
        return rx - ry;
    if (x->scored != y->scored)
        return x->scored ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->subject_id > y->subject_id) - (x->subject_id < y->subject_id);
}

enum err evaluation_report(struct rctx *cx, const struct dash_scope *sc, int64_t from_day,
                           int64_t to_day, const char *role, size_t *n, struct eval_subject **out)
{
    struct eval_settings st;
    struct db_res r;
    struct eval_subject *v;
    size_t nv = 0;
    enum err res;

    *n = 0;
    *out = NULL;
    if (role && !known_role(role))
        return rctx_fail(cx, ERR_INVALID, "role: inspector, shift_lead, dispatcher or department");
    if (to_day < from_day || to_day - from_day + 1 > DASH_PERIOD_MAX_DAYS)
        return rctx_fail(cx, ERR_INVALID, "period: from must not be after to, at most %d days",
                         DASH_PERIOD_MAX_DAYS);
    res = evaluation_settings_get(cx, sc->city_id, &st);
    if (res)
        return res;
    res = db_exec(cx,
                  rctx_printf(cx,
                              "SELECT t.subject_type, t.subject_id, t.indicator, t.num, t.den,"
                              " COALESCE(u.display_name, d.name, '') FROM (SELECT subject_type,"
                              " subject_id, indicator, SUM(num) AS num, SUM(den) AS den FROM"
                              " eval_day WHERE scope_id = ? AND %s GROUP BY subject_type,"
                              " subject_id, indicator) t"
                              " LEFT JOIN users u ON t.subject_type = 'user' AND u.id ="
                              " t.subject_id LEFT JOIN departments d ON t.subject_type ="
                              " 'department' AND d.id = t.subject_id ORDER BY t.subject_type,"
                              " t.subject_id",
                              rollup_period_sql(cx, from_day, to_day)),
                  DB_ARGS(DBI(sc->region_id)), &r);
    if (res)
        return res;
    v = rctx_zalloc(cx, (r.nrows + 1) * sizeof *v);
    for (size_t i = 0; i < r.nrows; i++) {
        int ind = eval_indicator_from_name(db_cell(&r, i, 2));
        const char *type = db_cell(&r, i, 0), *irole;
        int64_t id = db_cell_i64(&r, i, 1);
        struct eval_subject *s = NULL;
        if (ind < 0)
            continue;
        irole = eval_indicator_role((enum eval_indicator)ind);
        if (role && strcmp(role, irole) != 0)
            continue;
        /* Rows come ordered by subject: its roles are among the last few entries. */
        for (size_t j = nv; j-- > 0 && nv - j <= 4;)
            if (v[j].subject_id == id && strcmp(v[j].subject_type, type) == 0 &&
                strcmp(v[j].role, irole) == 0)
                s = &v[j];
        if (!s) {
            s = &v[nv++];
            s->subject_type = strcmp(type, "department") == 0 ? "department" : "user";
            s->subject_id = id;
            s->name = db_cell(&r, i, 5);
            s->role = irole;
        }
        s->v[ind].num = db_cell_i64(&r, i, 3);
        s->v[ind].den = db_cell_i64(&r, i, 4);
    }
    for (size_t i = 0; i < nv; i++)
        score(&v[i], &st);
    qsort(v, nv, sizeof *v, cmp_subject);
    *n = nv;
    *out = v;
    return ERR_OK;
}

/* ---- drill-down ---------------------------------------------------------------------------- */

/* The most marks of a scope and period the drill-down sorts itself (evaluation_marks): a few
 * pages. Above it the newest-first walk finds a page after about page x (subject's marks /
 * scope's marks) entries, which is cheaper than reading and sorting them all (at 1,000,000
 * cases a street holding 420 of the busiest inspector's failed marks of 30 days: 12 ms p50
 * sorted, 4 ms walked, measured on a loaded machine). */
#define MARKS_SORT_MAX 250

enum err evaluation_marks(struct rctx *cx, const struct dash_scope *sc,
                          const struct eval_marks_query *q, size_t *n, struct eval_mark_rec **out,
                          int64_t *next_before)
{
    const char *sub = NULL;
    bool few = false;
    struct db_sqlb b;
    struct db_res r;
    enum err res;

    *n = 0;
    *next_before = 0;
    if (!q->subject_type ||
        (strcmp(q->subject_type, "user") != 0 && strcmp(q->subject_type, "department") != 0))
        return rctx_fail(cx, ERR_INVALID, "subject_type: user or department");
    if (q->to_day < q->from_day || q->to_day - q->from_day + 1 > DASH_PERIOD_MAX_DAYS)
        return rctx_fail(cx, ERR_INVALID, "period: from must not be after to, at most %d days",
                         DASH_PERIOD_MAX_DAYS);
    res = dashboard__subtree_sql(cx, sc, &sub);
    if (res)
        return res;
    /* The index is forced: for ORDER BY id DESC LIMIT the optimizer may otherwise walk the
     * primary key backwards over every subject's marks (seconds at a million cases, measured).
     * A scope below everything that holds few of the subject's marks of the period (counted on
     * the index alone, up to MARKS_SORT_MAX) reads just those and sorts them: walking the
     * subject's marks newest first would test every one of them when the scope holds few or
     * none (400-500 ms for a busy inspector seen from another district, measured); when it
     * holds many, the walk finds a page soon and sorting them all would cost more. */
    if (sub) {
        res = db_exec(cx,
                      rctx_printf(cx,
                                  "SELECT COUNT(*) FROM (SELECT 1 FROM eval_marks FORCE INDEX"
                                  " (eval_marks_subject_scope) WHERE subject_type = ? AND"
                                  " subject_id = ? AND region_id IN %s AND day BETWEEN"
                                  " FROM_DAYS(?) AND FROM_DAYS(?)%s LIMIT %d) t",
                                  sub, q->failed_only ? " AND ok = 0" : "", MARKS_SORT_MAX + 1),
                      DB_ARGS(DBS(q->subject_type), DBI(q->subject_id),
                              DBI(q->from_day + DAYS_1970), DBI(q->to_day + DAYS_1970)),
                      &r);
        if (res)
            return res;
        few = db_cell_i64(&r, 0, 0) <= MARKS_SORT_MAX;
    }
    db_sqlb_init(cx, &b, 0,
                 "SELECT m.id, m.case_id, m.step_id, TO_DAYS(m.day) - 719528, m.indicator,"
                 " m.reason, m.ok, CAST(UNIX_TIMESTAMP(c.created_at) * 1000 AS SIGNED)"
                 " FROM eval_marks m");
    db_sqlb_add(&b, few                 ? " FORCE INDEX (eval_marks_subject_scope)"
                    : q->indicator >= 0 ? " FORCE INDEX (eval_marks_subject)"
                                        : " FORCE INDEX (eval_marks_subject_newest)");
    db_sqlb_add(&b, " JOIN cases c ON c.id = m.case_id WHERE m.subject_type = ? AND"
                    " m.subject_id = ?");
    db_sqlb_arg(&b, DBS(q->subject_type));
    db_sqlb_arg(&b, DBI(q->subject_id));
    if (q->indicator >= 0) {
        db_sqlb_add(&b, " AND m.indicator = ?");
        db_sqlb_arg(&b, DBS(eval_indicator_name((enum eval_indicator)q->indicator)));
    }
    db_sqlb_add(&b, " AND m.day BETWEEN FROM_DAYS(?) AND FROM_DAYS(?)");
    db_sqlb_arg(&b, DBI(q->from_day + DAYS_1970));
    db_sqlb_arg(&b, DBI(q->to_day + DAYS_1970));
    if (q->failed_only)
        db_sqlb_add(&b, " AND m.ok = 0");
    if (sub) {
        db_sqlb_add(&b, " AND m.region_id IN ");
        db_sqlb_add(&b, sub);
    }
    if (q->before_id) {
        db_sqlb_add(&b, " AND m.id < ?");
        db_sqlb_arg(&b, DBI(q->before_id));
    }
    db_sqlb_add(&b, " ORDER BY m.id DESC LIMIT ?");
    db_sqlb_arg(&b, DBI(q->limit + 1));
    res = db_sqlb_exec(&b, &r);
    if (res)
        return res;
    *n = r.nrows > (size_t)q->limit ? (size_t)q->limit : r.nrows;
    *out = rctx_zalloc(cx, (*n + 1) * sizeof **out);
    for (size_t i = 0; i < *n; i++) {
        struct eval_mark_rec *m = &(*out)[i];
        m->id = db_cell_i64(&r, i, 0);
        m->case_id = db_cell_i64(&r, i, 1);
        m->step_id = db_cell_i64(&r, i, 2);
        m->day = db_cell_i64(&r, i, 3);
        m->indicator = db_cell(&r, i, 4);
        m->reason = db_cell(&r, i, 5);
        m->ok = db_cell_i64(&r, i, 6) != 0;
        case__number(m->case_id, db_cell_i64(&r, i, 7), m->case_no);
    }
    if (r.nrows > (size_t)q->limit)
        *next_before = (*out)[*n - 1].id;
    return ERR_OK;
}
