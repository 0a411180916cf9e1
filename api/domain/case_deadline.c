/* api/domain/case_deadline.c: the periodic job that raises the passed alert points of running
 * case steps (see case.h). The arithmetic is deadline.c's and touches no database. */
#include "api/domain/case.h"

#include <stdio.h>
#include <string.h>
#include "api/domain/case_int.h"
#include "api/domain/deadline.h"
#include "api/domain/outbox.h"
#include "server/core/log.h"
#include "server/db/db.h"

/* Alerts raised per scheduler run; the next run (seconds later) takes the rest. */
#define SCAN_BATCH 200

/* clang-format off */
static const char scan_sql[] =
    "SELECT alert_level, step, state, " CASE__MS("remind50_at") ", " CASE__MS("remind80_at") ", "
    CASE__MS("due_at") ", " CASE__MS("escalate_at") ", " CASE__MS("step_started_at")
    " FROM cases WHERE id = ? AND next_alert_at <= FROM_UNIXTIME(? / 1000) FOR UPDATE";
/* clang-format on */

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

enum err case_deadline_scan(struct rctx *cx)
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
