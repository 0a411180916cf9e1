/* api/tasks.c: /api/v1/tasks — what the caller must do now (the field worker's to-do list).
 * Handlers only: decode, call the domain (case_tasks), encode. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "api/domain/case.h"
#include "server/core/roles.h"

static json_t *task_json(const struct case_task *t)
{
    const struct case_rec *c = &t->c;
    json_t *cj = json_object();
    json_t *j = json_object();

    json_object_set_new(cj, "id", json_integer(c->id));
    json_object_set_new(cj, "case_no", json_string(c->case_no));
    json_object_set_new(cj, "state", json_string(c->state));
    json_object_set_new(cj, "version", json_integer(c->version));
    json_object_set_new(cj, "category_id", json_integer(c->category_id));
    json_object_set_new(cj, "category_name", json_string(c->category_name));
    json_object_set_new(cj, "urgency", json_string(c->urgency));
    json_object_set_new(cj, "description", json_string(c->description));
    json_object_set_new(cj, "address", c->address ? json_string(c->address) : json_null());
    json_object_set_new(cj, "lat", json_real(c->lat));
    json_object_set_new(cj, "lng", json_real(c->lng));
    json_object_set_new(cj, "grid_id", c->grid_id ? json_integer(c->grid_id) : json_null());
    json_object_set_new(cj, "department_id",
                        c->department_id ? json_integer(c->department_id) : json_null());
    json_object_set_new(cj, "extension_pending", json_boolean(c->extension_pending));
    json_object_set_new(j, "type", json_string(t->type));
    json_object_set_new(j, "action", json_string(t->action));
    json_object_set_new(j, "due_at", api_json_time(t->due_ms));
    json_object_set_new(j, "overdue", json_boolean(t->overdue));
    if (t->urging_id) {
        json_object_set_new(j, "urging_id", json_integer(t->urging_id));
        json_object_set_new(j, "note", json_string(t->note));
    }
    json_object_set_new(j, "case", cj);
    return j;
}

static enum err tasks_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    const char *v = req_query(cx, rq, "limit");
    struct case_task_list tl;
    long long limit = 100;
    json_t *a;
    enum err res;

    if (v) {
        char *end;
        errno = 0;
        limit = strtoll(v, &end, 10);
        if (errno || end == v || *end || limit < 1 || limit > CASE_TASKS_MAX)
            return rctx_fail(cx, ERR_INVALID, "limit: 1 to %d", CASE_TASKS_MAX);
    }
    res = case_tasks(cx, (int)limit, &tl);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < tl.n; i++)
        json_array_append_new(a, task_json(&tl.items[i]));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", a));
}

/* clang-format off */
const struct route api_tasks_routes[] = {
    /* method  path             handler     roles       body  flags  timeout batch */
    {"GET",  "/api/v1/tasks",  tasks_list, ROLE_STAFF, 0,    0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
