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

static json_t *roles_json(uint32_t roles)
{
    json_t *a = json_array();
    for (size_t i = 0; i < role_count(); i++)
        if (roles & role_at(i))
            json_array_append_new(a, json_string(role_name(role_at(i))));
    return a;
}

static json_t *id_or_null(int64_t id)
{
    return id ? json_integer(id) : json_null();
}

/* RFC 3339 ("2024-05-01T08:00:00+08:00", "…Z", fractions ignored) or ms since the epoch. */
static enum err q_time(struct rctx *cx, const struct req *rq, const char *name, int64_t *out)
{
    const char *v = req_query(cx, rq, name);
    struct tm tm = {0};
    int y, mo, d, h, mi, s, n = 0, oh = 0, om = 0;
    const char *p;

    if (!v)
        return ERR_OK;
    if (*v && strlen(v) <= 15 && strspn(v, "0123456789") == strlen(v)) {
        *out = strtoll(v, NULL, 10);
        return ERR_OK;
    }
    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || y < 1970 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return rctx_fail(cx, ERR_INVALID, "%s: expected an RFC 3339 time or ms", name);
    p = v + n;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    if ((*p == '+' || *p == '-') && strlen(p) == 6 && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2) {
        if (*p == '-') {
            oh = -oh;
            om = -om;
        }
    } else if (!(*p == 'Z' && p[1] == '\0')) {
        return rctx_fail(cx, ERR_INVALID, "%s: expected a zone (Z or +08:00)", name);
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    *out = ((int64_t)timegm(&tm) - (oh * 3600 + om * 60)) * 1000;
    return ERR_OK;
}

static enum err q_i64(struct rctx *cx, const struct req *rq, const char *name, int64_t min,
                      int64_t max, int64_t *out)
{
    const char *v = req_query(cx, rq, name);
    char *end;
    long long x;

    if (!v)
        return ERR_OK;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max)
        return rctx_fail(cx, ERR_INVALID, "%s: expected an integer from %lld to %lld", name,
                         (long long)min, (long long)max);
    *out = x;
    return ERR_OK;
}

static enum err q_cursor(struct rctx *cx, const struct req *rq, int64_t *before)
{
    const char *v = req_query(cx, rq, "cursor");
    char *end;
    unsigned long long x;

    if (!v)
        return ERR_OK;
    if (strncmp(v, "a1", 2) != 0 || !v[2] || strspn(v + 2, "0123456789abcdef") != strlen(v + 2))
        return rctx_fail(cx, ERR_INVALID, "cursor: not a cursor from this API");
    errno = 0;
    x = strtoull(v + 2, &end, 16);
    if (errno || *end || x == 0 || x > INT64_MAX)
        return rctx_fail(cx, ERR_INVALID, "cursor: not a cursor from this API");
    *before = (int64_t)x;
    return ERR_OK;
}

static enum err audit_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct audit_filter f = {0};
    struct audit_page pg;
    int64_t limit = 50;
    json_t *items, *j;
    enum err res;

    f.action = req_query(cx, rq, "action");
    res = q_i64(cx, rq, "actor", 1, INT64_MAX, &f.actor_id);
    if (!res)
        res = q_time(cx, rq, "from", &f.from_ms);
    if (!res)
        res = q_time(cx, rq, "to", &f.to_ms);
    if (!res)
        res = q_cursor(cx, rq, &f.before_id);
    if (!res)
        res = q_i64(cx, rq, "limit", 1, ADMIN_AUDIT_MAX, &limit);
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
                      "at", a->at, "actor_id", id_or_null(a->actor_id), "actor_roles",
                      roles_json(a->actor_roles), "action", a->action, "object_type",
                      a->object_type ? json_string(a->object_type) : json_null(), "object_id",
                      id_or_null(a->object_id), "result", a->result, "ip", a->ip, "device_id",
                      a->device_id, "request_id", a->request_id, "detail", a->detail));
    }
    j = json_pack("{s:o}", "items", items);
    if (pg.next_before)
        json_object_set_new(
            j, "next_cursor",
            json_string(rctx_printf(cx, "a1%llx", (unsigned long long)pg.next_before)));
    else
        json_object_set_new(j, "next_cursor", json_null());
    return api_json_reply(cx, rs, 200, j);
}

/* clang-format off */
const struct route api_audit_routes[] = {
    /* method  path                   handler     roles       body  flags */
    {"GET",  "/api/v1/admin/audit",  audit_list, ROLE_ADMIN, 0,    0, 0},
    {0},
};
/* clang-format on */
