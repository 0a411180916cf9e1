/* api/domain/audit.c */
#include "audit.h"

#include <string.h>
#include "server/core/log.h"
#include "server/db/db.h"

static const char *const result_names[] = {"ok", "denied", "failed"};

enum err audit_write(struct rctx *cx, const char *action, const char *object_type,
                     int64_t object_id, enum audit_result result, const char *detail)
{
    size_t dl = detail ? strlen(detail) : 0;

    return db_exec(cx,
                   "INSERT INTO audit_log (actor_id, actor_roles, action, object_type, object_id,"
                   " result, ip, device_id, request_id, detail, at) VALUES"
                   " (?,?,?,?,?,?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                   DB_ARGS(cx->who.user_id ? DBI(cx->who.user_id) : DBNULL, DBI(cx->who.roles),
                           DBS(action), DBS(object_type), object_id ? DBI(object_id) : DBNULL,
                           DBS(result_names[result]), DBS(cx->ip), DBS(cx->who.device_id),
                           DBS(cx->id), DBSN(detail ? detail : "", dl > 255 ? 255 : dl),
                           DBI(cx->now_ms)),
                   NULL);
}

void audit_write_quiet(struct rctx *cx, const char *action, const char *object_type,
                       int64_t object_id, enum audit_result result, const char *detail)
{
    struct err_info saved = cx->err;
    enum err res = audit_write(cx, action, object_type, object_id, result, detail);

    if (res)
        log_error(cx, "audit record lost: action=%s result=%s", action, result_names[result]);
    cx->err = saved; /* the caller's error message stays the one the client sees */
}
