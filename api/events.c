/* api/events.c: /api/v1/events — the outbox read through the API until the real-time gateway
 * delivers it: clients poll with the last id they saw. Handlers only. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "api/domain/case_event.h"
#include "server/core/roles.h"

static enum err events_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t after = 0, limit = 100;
    struct case_event *ev;
    size_t n;
    json_t *a, *j;
    enum err res = api_query_i64(cx, rq, "after", 0, INT64_MAX, &after);

    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, 500, &limit);
    if (!res)
        res = case_events_list(cx, after, (int)limit, &n, &ev);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *payload = json_loads(ev[i].payload_json, 0, NULL);
        json_t *o =
            json_pack("{s:I,s:s,s:s,s:I,s:o,s:o}", "id", (json_int_t)ev[i].id, "type", ev[i].type,
                      "subject_type", ev[i].subject_type, "subject_id",
                      (json_int_t)ev[i].subject_id, "payload", payload ? payload : json_object(),
                      "created_at", api_json_time(ev[i].created_ms));
        if (o && ev[i].actor_id)
            json_object_set_new(o, "actor_id", json_integer(ev[i].actor_id));
        json_array_append_new(a, o);
    }
    /* Polling resumes from the last id returned, or from where it was when nothing came. */
    j = json_pack("{s:o,s:I}", "items", a, "next_after",
                  (json_int_t)(n ? ev[n - 1].id : (int64_t)after));
    return api_json_reply(cx, rs, 200, j);
}

/* clang-format off */
const struct route api_events_routes[] = {
    /* method  path              handler      roles     body  flags  timeout batch */
    {"GET",  "/api/v1/events",  events_list, ROLE_USER, 0,   0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
