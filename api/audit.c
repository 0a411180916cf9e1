/* api/audit.c: /api/v1/admin/audit — reading the audit log (admins only; it is never written
 * through the API). Newest first, with a cursor over ids. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "api/domain/admin.h"
#include "server/core/roles.h"

/* RFC 3339 ("2024-05-01T08:00:00+08:00", "…Z", fractions ignored) or ms since the epoch. */
static enum err audit_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct audit_filter f = {0};
    struct audit_page pg;
    int64_t limit = 50;
    json_t *items, *j;
    enum err res;

    f.action = req_query(cx, rq, "action");
    res = api_query_i64(cx, rq, "actor", 1, INT64_MAX, &f.actor_id);
    if (!res)
        res = api_query_time(cx, rq, "from", &f.from_ms);
    if (!res)
        res = api_query_time(cx, rq, "to", &f.to_ms);
    if (!res)
        res = api_query_cursor(cx, rq, "a1", &f.before_id);
    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, ADMIN_AUDIT_MAX, &limit);
    if (res)
        return res;
    if (f.from_ms && f.to_ms && f.from_ms >= f.to_ms)
        return rctx_fail(cx, ERR_INVALID, "from must be before to");
    f.limit = (int)limit;
    res = admin_audit_list(cx, &f, &pg);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < pg.n; i++) {
        const struct audit_row *a = &pg.items[i];
        json_array_append_new(
            items,
            json_pack("{s:I,s:s,s:o,s:o,s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:s}", "id", (json_int_t)a->id,
                      "at", a->at, "actor_id", api_json_id(a->actor_id), "actor_roles",
                      api_json_roles(a->actor_roles), "action", a->action, "object_type",
                      a->object_type ? json_string(a->object_type) : json_null(), "object_id",
                      api_json_id(a->object_id), "result", a->result, "ip", a->ip, "device_id",
                      a->device_id, "request_id", a->request_id, "detail", a->detail));
    }
    j = json_pack("{s:o}", "items", items);
    if (pg.next_before)
        json_object_set_new(j, "next_cursor", json_string(api_cursor(cx, "a1", pg.next_before)));
    else
        json_object_set_new(j, "next_cursor", json_null());
    return api_json_reply(cx, rs, 200, j);
}

/* clang-format off */
const struct route api_audit_routes[] = {
    /* method  path                   handler     roles       body  flags  timeout batch */
    {"GET",  "/api/v1/admin/audit",  audit_list, ROLE_ADMIN, 0,    0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
