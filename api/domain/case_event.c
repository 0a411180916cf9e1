/* api/domain/case_event.c: the event feed (see case_event.h). */
#include "api/domain/case_event.h"

#include "api/domain/case_int.h"
#include "server/core/roles.h"
#include "server/db/db.h"

enum err case_events_list(struct rctx *cx, int64_t after, int limit, size_t *n,
                          struct case_event **out)
{
    struct db_res r;
    enum err res;

    if (limit < 1 || limit > 500)
        return rctx_fail(cx, ERR_INVALID, "limit: 1 to 500");
    if (after < 0)
        return rctx_fail(cx, ERR_INVALID, "after: must not be negative");
    /* clang-format off */
    if (case__sees_all(cx)) {
        res = db_exec(cx,
                      "SELECT e.id, e.subject_id, e.actor_id, e.type, e.subject_type, e.payload, "
                      CASE__MS("e.created_at")
                      " FROM events e WHERE e.id > ? ORDER BY e.id LIMIT ?",
                      DB_ARGS(DBI(after), DBI(limit)), &r);
    } else if (cx->who.roles & ROLE_STAFF) {
        /* Handlers, inspectors and leaders: the events of cases they may open (the one rule of
         * case__visible), and those of other subjects (surveys). */
        struct db_sqlb b;

        db_sqlb_init(cx, &b, 0,
                     "SELECT e.id, e.subject_id, e.actor_id, e.type, e.subject_type, e.payload, "
                     CASE__MS("e.created_at")
                     " FROM events e LEFT JOIN cases c ON e.subject_type = 'case' AND"
                     " c.id = e.subject_id WHERE e.id > ? AND"
                     " (e.subject_type <> 'case' OR (c.id IS NOT NULL AND ");
        db_sqlb_arg(&b, DBI(after));
        case__visible(cx, &b);
        db_sqlb_add(&b, ")) ORDER BY e.id LIMIT ?");
        db_sqlb_arg(&b, DBI(limit));
        res = db_sqlb_exec(&b, &r);
    } else
        /* Reporters follow their own cases' progress; internal supervision (reminders,
         * overdue marks, escalations, 督办) is not theirs to read. */
        res = db_exec(cx,
                      "SELECT e.id, e.subject_id, NULL, e.type, e.subject_type, e.payload, "
                      CASE__MS("e.created_at")
                      " FROM cases c JOIN events e ON e.subject_type = 'case' AND"
                      " e.subject_id = c.id WHERE c.reporter_id = ?"
                      " AND e.id > ? AND e.type NOT IN ('case.reminder', 'case.overdue',"
                      " 'case.escalated', 'case.urged', 'case.urging_acknowledged')"
                      " ORDER BY e.id LIMIT ?",
                      DB_ARGS(DBI(cx->who.user_id), DBI(after), DBI(limit)), &r);
    /* clang-format on */
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++) {
        struct case_event *e = &(*out)[i];
        e->id = db_cell_i64(&r, i, 0);
        e->subject_id = db_cell_i64(&r, i, 1);
        e->actor_id = db_cell_i64(&r, i, 2);
        e->type = db_cell(&r, i, 3);
        e->subject_type = db_cell(&r, i, 4);
        e->payload_json = db_cell(&r, i, 5);
        e->created_ms = db_cell_i64(&r, i, 6);
    }
    return ERR_OK;
}
