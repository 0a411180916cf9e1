/* api/domain/case_urge.c: 督办 (a leader urges a case; the department holding it reads and
 * acknowledges) and the citizen's rating after closing (see case_urge.h). */
#include "api/domain/case_urge.h"

#include <stdio.h>
#include <string.h>
#include "api/domain/audit.h"
#include "api/domain/case_int.h"
#include "api/domain/idempotency.h"
#include "api/domain/outbox.h"
#include "server/core/roles.h"
#include "server/db/db.h"

static bool is_open(const char *state)
{
    return strcmp(state, "closed") != 0 && strcmp(state, "invalid") != 0 &&
           strcmp(state, "merged") != 0;
}

enum err case_urge(struct rctx *cx, int64_t case_id, const char *note, struct idem *idem,
                   int64_t *urging_id)
{
    struct db_sqlb b;
    struct db_res r;
    char payload[160];
    int64_t id = 0, dept;
    const char *state;
    enum err res;

    if (!note || !note[0] || strlen(note) > CASE_NOTE_MAX)
        return rctx_fail(cx, ERR_INVALID, "note: 1 to %d bytes", CASE_NOTE_MAX);
    res = idem_begin(cx, idem);
    if (res)
        return res;
    if (idem->replay) {
        id = idem->result_id;
        goto out;
    }
    db_sqlb_init(cx, &b, 0,
                 "SELECT c.state, c.department_id, c.assignee_id FROM cases c WHERE c.id = ?"
                 " AND ");
    db_sqlb_arg(&b, DBI(case_id));
    case__visible(cx, &b);
    db_sqlb_add(&b, " FOR UPDATE");
    res = db_sqlb_exec(&b, &r);
    if (!res && r.nrows == 0)
        res = rctx_fail(cx, ERR_NOTFOUND, "no such case");
    if (!res && !is_open(db_cell(&r, 0, 0)))
        res = rctx_fail(cx, ERR_BAD_STATE, "the case is %s", db_cell(&r, 0, 0));
    if (res)
        goto out;
    dept = db_cell_i64(&r, 0, 1);
    state = db_cell(&r, 0, 0); /* pool memory: outlives r's reuse below */
    res = db_exec(cx,
                  "INSERT INTO case_urgings (case_id, leader_id, note, department_id, assignee_id,"
                  " sent_at) VALUES (?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBI(case_id), DBI(cx->who.user_id), DBS(note), dept ? DBI(dept) : DBNULL,
                          db_cell_null(&r, 0, 2) ? DBNULL : DBI(db_cell_i64(&r, 0, 2)),
                          DBI(cx->now_ms)),
                  &r);
    if (res)
        goto out;
    id = (int64_t)r.insert_id;
    snprintf(payload, sizeof payload,
             "{\"case_id\":%lld,\"urging_id\":%lld,\"department_id\":%lld}", (long long)case_id,
             (long long)id, (long long)dept);
    res = case__step_add(cx, case_id, "urge", state, state, "leader", note, dept, 0, NULL, 0, NULL);
    if (!res)
        res =
            outbox_record_change(cx, "case.urged", "case", case_id, payload, "case.urge", idem, id);
out:
    res = db_tx_end(cx, res);
    if (!res)
        *urging_id = id;
    return res;
}

static enum err load_urging(struct rctx *cx, int64_t id, bool lock, struct case_urging_rec *out)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           lock ? "SELECT " CASE__URGING_COLS " FROM case_urgings u WHERE u.id = ?"
                                  " FOR UPDATE"
                                : "SELECT " CASE__URGING_COLS " FROM case_urgings u WHERE u.id = ?",
                           DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such urging");
    case__urging_row(&r, 0, out);
    return ERR_OK;
}

enum err case_urging_ack(struct rctx *cx, int64_t urging_id, const char *text, struct idem *idem,
                         struct case_urging_rec *out)
{
    char payload[160];
    int64_t dept = 0;
    enum err res;

    if (text && strlen(text) > CASE_NOTE_MAX)
        return rctx_fail(cx, ERR_INVALID, "text: at most %d bytes", CASE_NOTE_MAX);
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = idem_claim(cx, idem);
    if (res || idem->replay)
        goto out;
    res = case__my_department(cx, &dept);
    if (!res)
        res = load_urging(cx, urging_id, true, out);
    /* Only the department addressed sees the urging at all. */
    if (!res && (!dept || out->department_id != dept))
        res = rctx_fail(cx, ERR_NOTFOUND, "no such urging");
    if (!res && out->acked_ms)
        res = rctx_fail(cx, ERR_BAD_STATE, "already acknowledged");
    if (res)
        goto out;
    res = db_exec(cx,
                  "UPDATE case_urgings SET acked_at = FROM_UNIXTIME(? / 1000), acked_by = ?,"
                  " ack_text = ?, read_at = COALESCE(read_at, FROM_UNIXTIME(? / 1000)),"
                  " read_by = COALESCE(read_by, ?) WHERE id = ?",
                  DB_ARGS(DBI(cx->now_ms), DBI(cx->who.user_id), DBS(text), DBI(cx->now_ms),
                          DBI(cx->who.user_id), DBI(urging_id)),
                  NULL);
    snprintf(payload, sizeof payload, "{\"case_id\":%lld,\"urging_id\":%lld}",
             (long long)out->case_id, (long long)urging_id);
    if (!res)
        res = outbox_add(cx, "case.urging_acknowledged", "case", out->case_id, payload, NULL);
    if (!res)
        res = audit_write(cx, "case.urging_ack", "urging", urging_id, AUDIT_OK, NULL);
    if (!res)
        res = idem_complete(cx, idem, urging_id);
out:
    res = db_tx_end(cx, res);
    if (!res)
        res = load_urging(cx, urging_id, false, out);
    return res;
}

enum err case_urgings_list(struct rctx *cx, bool open_only, int limit, size_t *n,
                           struct case_urging_rec **out)
{
    struct db_res r;
    int64_t dept = 0;
    enum err res;

    if (limit < 1 || limit > CASE_LIST_MAX)
        return rctx_fail(cx, ERR_INVALID, "limit: 1 to %d", CASE_LIST_MAX);
    if (cx->who.roles & ROLE_HANDLER) {
        res = case__my_department(cx, &dept);
        if (res)
            return res;
    }
    res = db_exec(
        cx,
        "SELECT " CASE__URGING_COLS " FROM case_urgings u WHERE (u.leader_id = ? OR"
        " (? <> 0 AND u.department_id = ?)) AND (? = 0 OR u.acked_at IS NULL)"
        " ORDER BY u.id DESC LIMIT ?",
        DB_ARGS(DBI(cx->who.user_id), DBI(dept), DBI(dept), DBI(open_only ? 1 : 0), DBI(limit)),
        &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++)
        case__urging_row(&r, i, &(*out)[i]);
    return ERR_OK;
}

enum err case_rate(struct rctx *cx, int64_t case_id, const struct case_rating *in,
                   struct idem *idem)
{
    struct db_res r;
    char payload[96];
    enum err res;

    if (in->score < 1 || in->score > 5)
        return rctx_fail(cx, ERR_INVALID, "score: 1 to 5");
    if (in->text && strlen(in->text) > CASE_NOTE_MAX)
        return rctx_fail(cx, ERR_INVALID, "text: at most %d bytes", CASE_NOTE_MAX);
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = idem_claim(cx, idem);
    if (res || idem->replay)
        goto out;
    res = db_exec(cx, "SELECT state FROM cases WHERE id = ? AND reporter_id = ? FOR UPDATE",
                  DB_ARGS(DBI(case_id), DBI(cx->who.user_id)), &r);
    if (!res && r.nrows == 0)
        res = rctx_fail(cx, ERR_NOTFOUND, "no such case");
    if (!res && strcmp(db_cell(&r, 0, 0), "closed") != 0)
        res = rctx_fail(cx, ERR_BAD_STATE, "the case is %s; rate it once it is closed",
                        db_cell(&r, 0, 0));
    if (res)
        goto out;
    res = db_exec(
        cx,
        "INSERT INTO case_ratings (case_id, citizen_id, score, text, created_at) VALUES"
        " (?,?,?,?,FROM_UNIXTIME(? / 1000))",
        DB_ARGS(DBI(case_id), DBI(cx->who.user_id), DBI(in->score), DBS(in->text), DBI(cx->now_ms)),
        NULL);
    if (res == ERR_CONFLICT) {
        cx->err.code = ERR_OK; /* the key message is the client's, not the database's */
        res = rctx_fail(cx, ERR_CONFLICT, "the case was already rated");
    }
    snprintf(payload, sizeof payload, "{\"case_id\":%lld,\"score\":%d}", (long long)case_id,
             in->score);
    if (!res)
        res = case__step_add(cx, case_id, "rate", "closed", "closed", "citizen", in->text, 0, 0,
                             NULL, 0, NULL);
    if (!res)
        res = outbox_record_change(cx, "case.rated", "case", case_id, payload, "case.rate", idem,
                                   case_id);
out:
    return db_tx_end(cx, res);
}
