/* api/domain/deadline.c: step limits on the work calendar and the alert scheduler. */
#include "api/domain/deadline.h"

#include <stdio.h>
#include <string.h>
#include "api/domain/case_int.h"
#include "api/domain/outbox.h"
#include "server/core/log.h"
#include "server/db/db.h"

#define MIN_MS INT64_C(60000)
/* Alerts raised per scheduler run; the next run (seconds later) takes the rest. */
#define SCAN_BATCH 200

/* Minutes of a minute-limited step: natural time for urgent cases, else working minutes. */
static int64_t add_minutes(const struct deadline_ctx *d, const struct deadline_limits *lim,
                           int64_t start, int64_t min, bool *natural)
{
    *natural = lim->urgent;
    if (lim->urgent)
        return start + min * MIN_MS;
    return calendar_add(&d->cal, start, min, CAL_MINUTES_WORK);
}

enum err deadline_compute(struct rctx *cx, const struct deadline_ctx *d,
                          const struct deadline_limits *lim, enum workflow_step step,
                          int64_t start_ms, struct deadline_points *out)
{
    int64_t due;
    bool natural = false;

    memset(out, 0, sizeof *out);
    switch (step) {
    case WORKFLOW_STEP_NONE:
    case WORKFLOW_STEP__COUNT:
        return ERR_OK;
    case WORKFLOW_STEP_REGISTER:
        due = add_minutes(d, lim, start_ms, lim->register_min, &natural);
        break;
    case WORKFLOW_STEP_DISPATCH:
        due = add_minutes(d, lim, start_ms, lim->dispatch_min, &natural);
        break;
    case WORKFLOW_STEP_VERIFY:
        due = add_minutes(d, lim, start_ms, lim->verify_min, &natural);
        break;
    case WORKFLOW_STEP_CLOSE:
        due = add_minutes(d, lim, start_ms, lim->close_min, &natural);
        break;
    case WORKFLOW_STEP_HANDLE:
        natural = lim->handle_unit == CAL_HOURS_NATURAL;
        due = calendar_add(&d->cal, start_ms, lim->handle, lim->handle_unit);
        break;
    default:
        return rctx_fail(cx, ERR_INTERNAL, "unknown step");
    }
    if (due < 0)
        return rctx_fail(cx, ERR_INTERNAL, "deadline out of range");
    return deadline_points_between(cx, d, start_ms, due, natural, out);
}

enum err deadline_points_between(struct rctx *cx, const struct deadline_ctx *d, int64_t start_ms,
                                 int64_t due, bool natural, struct deadline_points *out)
{
    out->start_ms = start_ms;
    out->due_ms = due;
    if (natural) {
        int64_t span = due - start_ms;
        out->remind50_ms = start_ms + span / 2;
        out->remind80_ms = start_ms + span * 8 / 10;
        out->escalate_ms = start_ms + span * d->escalate_pct / 100;
    } else {
        /* The points are shares of working time, so a step over a weekend reminds on Monday,
         * not on Saturday. */
        int64_t work = calendar_work_ms_between(&d->cal, start_ms, due);
        int64_t r50, r80, esc;
        if (work < 0)
            return rctx_fail(cx, ERR_INTERNAL, "deadline out of range");
        r50 = calendar_add(&d->cal, start_ms, work / 2 / MIN_MS, CAL_MINUTES_WORK);
        r80 = calendar_add(&d->cal, start_ms, work * 8 / 10 / MIN_MS, CAL_MINUTES_WORK);
        esc = calendar_add(&d->cal, start_ms, work * d->escalate_pct / 100 / MIN_MS,
                           CAL_MINUTES_WORK);
        if (r50 < 0 || r80 < 0 || esc < 0)
            return rctx_fail(cx, ERR_INTERNAL, "deadline out of range");
        out->remind50_ms = r50 < due ? r50 : due;
        out->remind80_ms = r80 < due ? r80 : due;
        out->escalate_ms = esc < due ? due : esc;
    }
    return ERR_OK;
}

int64_t deadline_next_point(const struct deadline_points *p, int level)
{
    switch (level) {
    case 0:
        return p->remind50_ms;
    case 1:
        return p->remind80_ms;
    case 2:
        return p->due_ms;
    case 3:
        return p->escalate_ms;
    default:
        return 0;
    }
}

int deadline_level_at(const struct deadline_points *p, int64_t now_ms)
{
    if (!p->due_ms)
        return 0;
    if (now_ms >= p->escalate_ms)
        return 4;
    if (now_ms >= p->due_ms)
        return 3;
    if (now_ms >= p->remind80_ms)
        return 2;
    if (now_ms >= p->remind50_ms)
        return 1;
    return 0;
}

static const char scan_sql[] =
    "SELECT alert_level, step, state, " CASE__MS("remind50_at") ", " CASE__MS(
        "remind80_at") ", " CASE__MS("due_at") ", " CASE__MS("escalate_at") ", " CASE__MS("step_"
                                                                                          "started_"
                                                                                          "at") " F"
                                                                                                "RO"
                                                                                                "M "
                                                                                                "ca"
                                                                                                "se"
                                                                                                "s "
                                                                                                "WH"
                                                                                                "ER"
                                                                                                "E "
                                                                                                "id"
                                                                                                " ="
                                                                                                " ?"
                                                                                                " A"
                                                                                                "ND"
                                                                                                " n"
                                                                                                "ex"
                                                                                                "t_"
                                                                                                "al"
                                                                                                "er"
                                                                                                "t_"
                                                                                                "at"
                                                                                                " <"
                                                                                                "= "
                                                                                                "FR"
                                                                                                "OM"
                                                                                                "_U"
                                                                                                "NI"
                                                                                                "XT"
                                                                                                "IM"
                                                                                                "E("
                                                                                                "? "
                                                                                                "/ "
                                                                                                "10"
                                                                                                "00"
                                                                                                ")"
                                                                                                " F"
                                                                                                "OR"
                                                                                                " U"
                                                                                                "PD"
                                                                                                "AT"
                                                                                                "E";

/* Raise the passed points of one case, under its row lock. */
static enum err scan_one(struct rctx *cx, int64_t id)
{
    struct db_res r;
    struct deadline_points p;
    int level, target;
    int64_t next = 0;
    const char *step;
    enum err res = db_tx_begin(cx);

    if (res)
        return res;
    res = db_exec(cx, scan_sql, DB_ARGS(DBI(id), DBI(cx->now_ms)), &r);
    if (res || r.nrows == 0)
        goto out; /* an action moved it on meanwhile */
    level = (int)db_cell_i64(&r, 0, 0);
    step = db_cell(&r, 0, 1);
    p.remind50_ms = db_cell_i64(&r, 0, 3);
    p.remind80_ms = db_cell_i64(&r, 0, 4);
    p.due_ms = db_cell_i64(&r, 0, 5);
    p.escalate_ms = db_cell_i64(&r, 0, 6);
    p.start_ms = db_cell_i64(&r, 0, 7);
    target = deadline_level_at(&p, cx->now_ms);
    for (int l = level + 1; !res && l <= target; l++) {
        static const char *const types[] = {NULL, "case.reminder", "case.reminder", "case.overdue",
                                            "case.escalated"};
        static const int pct[] = {0, 50, 80, 100, 0};
        char payload[192];
        snprintf(payload, sizeof payload,
                 "{\"case_id\":%lld,\"step\":\"%s\",\"percent\":%d,\"due_at_ms\":%lld}",
                 (long long)id, step, l == 4 ? 0 : pct[l], (long long)p.due_ms);
        if (l == 4) /* escalation names its own threshold */
            snprintf(payload, sizeof payload,
                     "{\"case_id\":%lld,\"step\":\"%s\",\"due_at_ms\":%lld}", (long long)id, step,
                     (long long)p.due_ms);
        res = outbox_add(cx, types[l], "case", id, payload, NULL);
        if (!res && l >= 3)
            res = case__step_add(cx, id, l == 3 ? "overdue" : "escalate", db_cell(&r, 0, 2),
                                 db_cell(&r, 0, 2), "system", NULL, 0, 0, step, p.due_ms, NULL);
    }
    if (res)
        goto out;
    next = deadline_next_point(&p, target > level ? target : level);
    res = db_exec(cx,
                  "UPDATE cases SET alert_level = ?, overdue = ?, next_alert_at ="
                  " IF(? = 0, NULL, FROM_UNIXTIME(? / 1000)) WHERE id = ?",
                  DB_ARGS(DBI(target > level ? target : level), DBI(target >= 3 ? 1 : 0), DBI(next),
                          DBI(next), DBI(id)),
                  NULL);
out:
    return db_tx_end(cx, res);
}

enum err deadline_scan(struct rctx *cx)
{
    struct db_res r;
    enum err res, first = ERR_OK;

    res = db_exec(cx,
                  "SELECT id FROM cases WHERE next_alert_at <= FROM_UNIXTIME(? / 1000)"
                  " ORDER BY next_alert_at LIMIT ?",
                  DB_ARGS(DBI(cx->now_ms), DBI(SCAN_BATCH)), &r);
    if (res)
        return res;
    for (size_t i = 0; i < r.nrows; i++) {
        res = scan_one(cx, db_cell_i64(&r, i, 0));
        /* One bad case must not hold back the others; the first error is reported. */
        if (res && !first)
            first = res;
    }
    return first;
}
