/* api/domain/outbox.c */
#include "outbox.h"

#include "audit.h"
#include "idempotency.h"
#include "inbox.h"
#include "server/db/db.h"

enum err outbox_add(struct rctx *cx, const char *type, const char *subject_type, int64_t subject_id,
                    const char *payload_json, int64_t *event_id)
{
    struct db_res r;
    enum err res =
        db_exec(cx,
                "INSERT INTO events (type, subject_type, subject_id, actor_id, payload, created_at)"
                " VALUES (?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                DB_ARGS(DBS(type), DBS(subject_type), DBI(subject_id),
                        cx->who.user_id ? DBI(cx->who.user_id) : DBNULL,
                        DBS(payload_json ? payload_json : "{}"), DBI(cx->now_ms)),
                &r);
    if (!res)
        inbox__note_written();
    if (!res && event_id)
        *event_id = (int64_t)r.insert_id;
    return res;
}

enum err outbox_record_change(struct rctx *cx, const char *type, const char *subject_type,
                              int64_t subject_id, const char *payload_json,
                              const char *audit_action, struct idem *idem, int64_t result_id)
{
    enum err res = outbox_add(cx, type, subject_type, subject_id, payload_json, NULL);
    if (!res)
        res = audit_write(cx, audit_action, subject_type, subject_id, AUDIT_OK, NULL);
    if (!res)
        res = idem_complete(cx, idem, result_id);
    return res;
}
