/* api/citizen.c: a citizen's own reports (我的上报) with their progress, and "still not fixed"
 * (返工) after closing: GET /api/v1/me/reports, GET /api/v1/me/reports/{id},
 * POST /api/v1/cases/{id}/not-fixed. Handlers only: decode, call the domain (citizen.h,
 * case.h), encode. What is shown of staff is the department's name, never a person. */
#include "api.h"

#include <stddef.h>
#include <string.h>
#include "api/domain/case.h"
#include "api/domain/citizen.h"
#include "api/domain/idempotency.h"
#include "server/core/roles.h"

static json_t *report_json(const struct citizen_report *c, bool with_steps)
{
    json_t *j = json_object();

    json_object_set_new(j, "id", json_integer(c->id));
    json_object_set_new(j, "case_no", json_string(c->case_no));
    json_object_set_new(j, "state", json_string(c->state));
    json_object_set_new(j, "state_label", json_string(c->state_label));
    json_object_set_new(j, "category_name", json_string(c->category_name));
    json_object_set_new(j, "description", json_string(c->description));
    json_object_set_new(j, "location",
                        json_pack("{s:f,s:f,s:o}", "lat", c->lat, "lng", c->lng, "address",
                                  api_json_str(c->address)));
    json_object_set_new(j, "department", api_json_str(c->department));
    json_object_set_new(j, "version", json_integer(c->version));
    json_object_set_new(j, "rework_count", json_integer(c->rework_count));
    json_object_set_new(j, "rated", json_boolean(c->rated));
    json_object_set_new(j, "can_report_not_fixed", json_boolean(c->can_report_not_fixed));
    json_object_set_new(j, "created_at", api_json_time(c->created_ms));
    json_object_set_new(j, "updated_at", api_json_time(c->updated_ms));
    json_object_set_new(j, "closed_at", api_json_time(c->closed_ms));
    if (with_steps) {
        json_t *a = json_array();
        for (size_t i = 0; i < c->nsteps; i++) {
            const struct citizen_step *s = &c->steps[i];
            json_array_append_new(
                a, json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "action", s->action, "label", s->label,
                             "state", s->state, "reply", api_json_str(s->reply), "department",
                             api_json_str(s->department), "at", api_json_time(s->at_ms)));
        }
        json_object_set_new(j, "progress", a);
    }
    return j;
}

static enum err reports_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct citizen_report *v;
    int64_t limit = 20, before = 0, next = 0;
    size_t n = 0;
    json_t *a, *j;
    enum err res = api_query_i64(cx, rq, "limit", 1, CITIZEN_REPORTS_MAX, &limit);

    if (!res)
        res = api_query_cursor(cx, rq, "r1", &before);
    if (!res)
        res = citizen_reports_list(cx, before, (int)limit, &n, &v, &next);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, report_json(&v[i], false));
    j = json_pack("{s:o}", "items", a);
    json_object_set_new(j, "next_cursor",
                        next ? json_string(api_cursor(cx, "r1", next)) : json_null());
    return api_json_reply(cx, rs, 200, j);
}

static enum err reports_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct citizen_report c;
    enum err res = citizen_report_get(cx, req_param_i64(rq, "id"), &c);

    if (res)
        return res;
    return api_json_reply(cx, rs, 200, report_json(&c, true));
}

/* The action as decoded: the domain's struct (text; photos once listed below) and the photos
 * as sent. */
struct not_fixed_in {
    struct case_action_in a;
    json_t *photos;
};

static const struct api_field not_fixed_fields[] = {
    /* The length is case_act's to check (CASE_TEXT_MAX); the route caps the body. */
    {"text", API_STR, true, offsetof(struct not_fixed_in, a.text), 0, 1, 0},
    {"photos", API_JSON, false, offsetof(struct not_fixed_in, photos), 0, 0, 0},
    {0},
};

static enum err cases_not_fixed(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct not_fixed_in in = {0};
    int64_t id = req_param_i64(rq, "id");
    struct citizen_report c;
    struct idem idem;
    bool replay = false;
    enum err res;

    res = api_idem(cx, rq, 200, &idem);
    if (!res)
        res = api_json_input(cx, rq, not_fixed_fields, &in, NULL);
    if (res)
        return res;
    if (in.photos) {
        if (!json_is_array(in.photos) || json_array_size(in.photos) > CASE_PHOTOS_MAX)
            return rctx_fail(cx, ERR_INVALID, "photos: an array of at most %d media ids",
                             CASE_PHOTOS_MAX);
        const char **photos = rctx_zalloc(cx, (json_array_size(in.photos) + 1) * sizeof *photos);
        for (size_t i = 0; i < json_array_size(in.photos); i++) {
            json_t *s = json_array_get(in.photos, i);
            if (!json_is_string(s))
                return rctx_fail(cx, ERR_INVALID, "photos[%zu]: expected a media id", i);
            photos[i] = json_string_value(s);
        }
        in.a.photos = photos;
        in.a.nphotos = json_array_size(in.photos);
    }
    res = case_not_fixed(cx, id, &in.a, &idem, &replay);
    if (!res)
        res = citizen_report_get(cx, id, &c);
    if (res)
        return res;
    if (replay)
        resp_header(cx, rs, "idempotent-replayed", "true");
    return api_json_reply(cx, rs, 200, report_json(&c, true));
}

/* clang-format off */
const struct route api_citizen_routes[] = {
    /* method  path                            handler          roles          body      flags  timeout batch  scope (API keys) */
    {"GET",  "/api/v1/me/reports",           reports_list,    ROLE_CITIZEN,  0,        0, 0, NULL, NULL},
    {"GET",  "/api/v1/me/reports/{id}",      reports_get,     ROLE_CITIZEN,  0,        0, 0, NULL, NULL},
    {"POST", "/api/v1/cases/{id}/not-fixed", cases_not_fixed, ROLE_CITIZEN,  8 * 1024, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
