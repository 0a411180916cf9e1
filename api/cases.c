/* api/cases.c: /api/v1/cases — reports, the workflow actions, reading and lists; 督办
 * (/api/v1/cases/{id}/urge, /api/v1/urgings) and ratings.
 * Handlers only: decode, call the domain (case.h), encode.
 *
 * The workflow is one route, POST /api/v1/cases/{id}/actions {action, version, …}, rather than
 * one route per action: the transition table (workflow.h) is the single authority on which
 * action is allowed when and for whom, so the HTTP layer needs no per-action role list that
 * could drift from it; a new action is a table row, not a new route; and every action shares
 * one idempotency, version and audit path. The role check the router does is only "may use
 * the workflow at all"; the domain answers 403/409 per action. */
#include "api.h"

#include <math.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "api/domain/case.h"
#include "api/domain/case_urge.h"
#include "api/domain/track.h"
#include "server/core/roles.h"

/* ---- encoding -------------------------------------------------------------------------- */

static bool is_staff(const struct rctx *cx)
{
    return (cx->who.roles & ROLE_STAFF) != 0;
}

/* Operators, shift leads, dispatchers, leaders and admins see the photo-versus-track check
 * (track.h) in a case read; it is left out when it cannot be made. */
static void add_evidence(struct rctx *cx, json_t *j, int64_t id)
{
    struct track_evidence e;
    json_t *o;

    if (!(cx->who.roles &
          (ROLE_OPERATOR | ROLE_SHIFT_LEAD | ROLE_DISPATCHER | ROLE_LEADER | ROLE_ADMIN)))
        return;
    if (track_evidence_check(cx, id, &e) != ERR_OK)
        return;
    o = json_pack("{s:s,s:o,s:o}", "status", e.status, "reason", api_json_str(e.reason), "taken_at",
                  api_json_time(e.taken_at));
    if (strcmp(e.status, "unknown") != 0) {
        json_object_set_new(o, "distance_m", json_real(round(e.distance_m * 10) / 10));
        json_object_set_new(o, "allowed_m", json_real(round(e.allowed_m * 10) / 10));
    }
    json_object_set_new(j, "evidence", o);
}

static json_t *case_json(struct rctx *cx, const struct case_rec *c)
{
    json_t *j = json_object();
    json_t *loc = json_object();
    json_t *cat = json_object();

    json_object_set_new(j, "id", json_integer(c->id));
    json_object_set_new(j, "case_no", json_string(c->case_no));
    json_object_set_new(j, "state", json_string(c->state));
    json_object_set_new(j, "version", json_integer(c->version));
    json_object_set_new(cat, "id", json_integer(c->category_id));
    json_object_set_new(cat, "code_set", json_string(c->code_set));
    json_object_set_new(cat, "kind", json_string(c->kind));
    json_object_set_new(cat, "code", json_string(c->category_code));
    json_object_set_new(cat, "name", json_string(c->category_name));
    json_object_set_new(cat, "major_name", json_string(c->major_name));
    json_object_set_new(j, "category", cat);
    json_object_set_new(j, "urgency", json_string(c->urgency));
    json_object_set_new(j, "source", json_string(c->source));
    json_object_set_new(j, "description", json_string(c->description));
    json_object_set_new(loc, "lat", json_real(c->lat));
    json_object_set_new(loc, "lng", json_real(c->lng));
    json_object_set_new(loc, "accuracy", c->has_accuracy ? json_real(c->accuracy_m) : json_null());
    json_object_set_new(loc, "address", api_json_str(c->address));
    json_object_set_new(j, "location", loc);
    json_object_set_new(j, "grid_id", api_json_id(c->grid_id));
    json_object_set_new(j, "region_id", api_json_id(c->region_id));
    json_object_set_new(j, "department_id", api_json_id(c->department_id));
    if (is_staff(cx)) {
        json_object_set_new(j, "assignee_id", api_json_id(c->assignee_id));
        json_object_set_new(j, "reporter_id", api_json_id(c->reporter_id));
    }
    json_object_set_new(j, "duplicate_of", api_json_id(c->duplicate_of));
    json_object_set_new(j, "rework_count", json_integer(c->rework_count));
    json_object_set_new(j, "extension_pending", json_boolean(c->extension_pending));
    json_object_set_new(j, "extension_hours", api_json_id(c->extension_hours));
    json_object_set_new(j, "step", json_string(c->step));
    json_object_set_new(j, "step_started_at", api_json_time(c->step_started_ms));
    json_object_set_new(j, "due_at", api_json_time(c->due_ms));
    json_object_set_new(j, "overdue", json_boolean(c->overdue));
    json_object_set_new(j, "alert_level", json_integer(c->alert_level));
    json_object_set_new(j, "created_at", api_json_time(c->created_ms));
    json_object_set_new(j, "updated_at", api_json_time(c->updated_ms));
    json_object_set_new(j, "closed_at", api_json_time(c->closed_ms));
    return j;
}

static json_t *urging_json(const struct case_urging_rec *u)
{
    json_t *j = json_object();

    json_object_set_new(j, "id", json_integer(u->id));
    json_object_set_new(j, "case_id", json_integer(u->case_id));
    json_object_set_new(j, "leader_id", json_integer(u->leader_id));
    json_object_set_new(j, "department_id", api_json_id(u->department_id));
    json_object_set_new(j, "note", json_string(u->note));
    json_object_set_new(j, "sent_at", api_json_time(u->sent_ms));
    json_object_set_new(j, "read_at", api_json_time(u->read_ms));
    json_object_set_new(j, "acknowledged_at", api_json_time(u->acked_ms));
    json_object_set_new(j, "acknowledged_by", api_json_id(u->acked_by));
    json_object_set_new(j, "ack_text", api_json_str(u->ack_text));
    json_object_set_new(j, "status",
                        json_string(u->acked_ms  ? "acknowledged"
                                    : u->read_ms ? "read"
                                                 : "sent"));
    return j;
}

static json_t *detail_json(struct rctx *cx, const struct case_detail *d)
{
    json_t *j = case_json(cx, &d->c);
    json_t *steps = json_array(), *photos = json_array();
    bool staff = is_staff(cx);

    for (size_t i = 0; i < d->nphotos; i++)
        json_array_append_new(photos, json_string(d->photos[i]));
    json_object_set_new(j, "photos", photos);
    for (size_t i = 0; i < d->nsteps; i++) {
        const struct case_step_rec *s = &d->steps[i];
        json_t *o = json_object();
        /* Most steps carry no photos: "[]" needs no parser. */
        json_t *ph = !s->photos_json || strcmp(s->photos_json, "[]") == 0
                         ? json_array()
                         : json_loads(s->photos_json, 0, NULL);
        json_object_set_new(o, "id", json_integer(s->id));
        json_object_set_new(o, "action", json_string(s->action));
        json_object_set_new(o, "from_state", api_json_str(s->from_state));
        json_object_set_new(o, "to_state", json_string(s->to_state));
        json_object_set_new(o, "actor_role", json_string(s->actor_role));
        /* Staff ids are not the citizen's business; the role says who acted. */
        if (staff)
            json_object_set_new(o, "actor_id", api_json_id(s->actor_id));
        json_object_set_new(o, "text", api_json_str(s->text));
        json_object_set_new(o, "department_id", api_json_id(s->department_id));
        if (staff)
            json_object_set_new(o, "assignee_id", api_json_id(s->assignee_id));
        json_object_set_new(o, "step", json_string(s->step));
        json_object_set_new(o, "due_at", api_json_time(s->due_ms));
        json_object_set_new(o, "photos", ph ? ph : json_array());
        json_object_set_new(o, "at", api_json_time(s->created_ms));
        json_array_append_new(steps, o);
    }
    json_object_set_new(j, "timeline", steps);
    if (staff) {
        json_t *u = json_array();
        for (size_t i = 0; i < d->nurgings; i++)
            json_array_append_new(u, urging_json(&d->urgings[i]));
        json_object_set_new(j, "urgings", u);
        json_object_set_new(j, "suggested_department_id", api_json_id(d->suggested_department_id));
    }
    if (d->rated)
        json_object_set_new(
            j, "rating",
            json_pack("{s:i,s:o}", "score", d->rating_score, "text", api_json_str(d->rating_text)));
    else
        json_object_set_new(j, "rating", json_null());
    return j;
}

static enum err reply_case(struct rctx *cx, struct resp *rs, int status, int64_t id, bool replay,
                           json_t *extra_key_val_owner, const char *extra_key, bool acted,
                           bool evidence)
{
    struct case_detail d;
    json_t *j;
    enum err res = acted ? case_get_acted(cx, id, &d) : case_get(cx, id, &d);

    if (res) {
        json_decref(extra_key_val_owner);
        return res;
    }
    j = detail_json(cx, &d);
    if (evidence)
        add_evidence(cx, j, id);
    if (extra_key)
        json_object_set_new(j, extra_key, extra_key_val_owner);
    if (replay)
        resp_header(cx, rs, "idempotent-replayed", "true");
    return api_json_reply(cx, rs, status, j);
}

/* A JSON array of media ids (strings) as a pool array. */
static enum err photo_list(struct rctx *cx, json_t *arr, const char ***out, size_t *n)
{
    const char **v;

    *n = 0;
    *out = NULL;
    if (!arr)
        return ERR_OK;
    if (!json_is_array(arr))
        return rctx_fail(cx, ERR_INVALID, "photos: expected an array of media ids");
    if (json_array_size(arr) > CASE_PHOTOS_MAX)
        return rctx_fail(cx, ERR_INVALID, "photos: at most %d", CASE_PHOTOS_MAX);
    v = rctx_zalloc(cx, (json_array_size(arr) + 1) * sizeof *v);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s))
            return rctx_fail(cx, ERR_INVALID, "photos[%zu]: expected a media id", i);
        v[i] = rctx_strdup(cx, json_string_value(s));
    }
    *out = v;
    *n = json_array_size(arr);
    return ERR_OK;
}

/* ---- POST /api/v1/cases ---------------------------------------------------------------- */

/* The report decodes straight into the domain's struct; location and photos are borrowed
 * beside it and decoded in a second step. The limits (lengths, coordinate ranges) are
 * case_report_create's alone, but for accuracy: the domain reads a negative one as "not
 * given", so only this table can refuse it. */
struct report_in {
    struct case_report r;
    json_t *location, *photos;
};

#define R(m) offsetof(struct report_in, r.m)
/* clang-format off */
static const struct api_field report_fields[] = {
    {"category_id", API_I64,  false, R(category_id), 0,  1, INT64_MAX},
    {"code_set",    API_STR,  false, R(code_set),    16, 1, 0},
    {"full_code",   API_STR,  false, R(full_code),   8,  1, 0},
    {"kind",        API_STR,  false, R(kind),        16, 1, 0},
    {"description", API_STR,  true,  R(description), 0,  0, 0},
    {"location",    API_JSON, true,  offsetof(struct report_in, location), 0, 0, 0},
    {"photos",      API_JSON, false, offsetof(struct report_in, photos),   0, 0, 0},
    {"urgency",     API_STR,  false, R(urgency),     16, 1, 0},
    {"source",      API_STR,  false, R(source),      16, 1, 0},
    {0},
};
#undef R

static const struct api_field location_fields[] = {
    {"lat",      API_F64, true,  offsetof(struct case_report, lat),        0, 0, 0},
    {"lng",      API_F64, true,  offsetof(struct case_report, lng),        0, 0, 0},
    {"accuracy", API_F64, false, offsetof(struct case_report, accuracy_m), 0, 0, 100000},
    {"address",  API_STR, false, offsetof(struct case_report, address),    0, 0, 0},
    {0},
};
/* clang-format on */

static json_t *dups_json(const struct case_created *cr)
{
    json_t *a = json_array();

    for (size_t i = 0; i < cr->ndups; i++)
        json_array_append_new(a,
                              json_pack("{s:I,s:s,s:s,s:f,s:o}", "id", (json_int_t)cr->dups[i].id,
                                        "case_no", cr->dups[i].case_no, "state", cr->dups[i].state,
                                        "distance_m", cr->dups[i].distance_m, "created_at",
                                        api_json_time(cr->dups[i].created_ms)));
    return a;
}

static enum err cases_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct report_in in = {0};
    struct case_created cr;
    const char **photos = NULL;
    struct idem idem;
    enum err res;

    in.r.accuracy_m = -1; /* not given */
    res = api_idem(cx, rq, 201, &idem);
    if (!res)
        res = api_json_input(cx, rq, report_fields, &in, NULL);
    if (!res && !json_is_object(in.location))
        res = rctx_fail(cx, ERR_INVALID, "location: expected an object {lat, lng}");
    if (!res)
        res = api_json_decode(cx, in.location, location_fields, &in.r, NULL);
    if (!res)
        res = photo_list(cx, in.photos, &photos, &in.r.nphotos);
    if (res)
        return res;
    in.r.photos = photos;
    res = case_report_create(cx, &in.r, &idem, &cr);
    if (res)
        return res;
    return reply_case(cx, rs, 201, cr.id, cr.replay, dups_json(&cr), "possible_duplicates", false,
                      false);
}

/* ---- GET /api/v1/cases/{id} ------------------------------------------------------------ */

static enum err cases_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    return reply_case(cx, rs, 200, req_param_i64(rq, "id"), false, NULL, NULL, false, true);
}

/* The same for the requests of one batch (ROUTE_BATCH): their cases and timelines are read
 * together (case_get_many), each answer rendered for its own caller — once for callers who
 * would get the same bytes (the same case seen the same way). */
static void cases_get_batch(struct rctx *const *cxs, const struct req *const *rqs,
                            struct resp *const *rss, enum err *res, size_t n)
{
    int64_t ids[CASE_GET_MANY_MAX];
    struct case_detail d[CASE_GET_MANY_MAX];

    for (size_t i = 0; i < n; i += CASE_GET_MANY_MAX) {
        size_t k = n - i < CASE_GET_MANY_MAX ? n - i : CASE_GET_MANY_MAX;

        for (size_t t = 0; t < k; t++)
            ids[t] = req_param_i64(rqs[i + t], "id");
        case_get_many(cxs + i, ids, d, res + i, k);
        for (size_t t = 0; t < k; t++) {
            size_t u = 0;

            if (res[i + t] != ERR_OK)
                continue;
            while (u < t && !(res[i + u] == ERR_OK && ids[u] == ids[t] &&
                              case_same_view(cxs[i + u], cxs[i + t])))
                u++;
            if (u < t)
                res[i + t] =
                    resp_body(rss[i + t], 200, rss[i + u]->content_type,
                              rctx_strndup(cxs[i + t], rss[i + u]->body, rss[i + u]->body_len),
                              rss[i + u]->body_len);
            else {
                json_t *j = detail_json(cxs[i + t], &d[t]);
                add_evidence(cxs[i + t], j, ids[t]);
                res[i + t] = api_json_reply(cxs[i + t], rss[i + t], 200, j);
            }
        }
    }
}

/* ---- POST /api/v1/cases/{id}/actions --------------------------------------------------- */

/* Straight into the domain's struct, with the photos borrowed beside it. */
struct action_in {
    struct case_action_in a;
    json_t *photos;
};

#define A(m) offsetof(struct action_in, a.m)
/* clang-format off */
static const struct api_field action_fields[] = {
    {"action",          API_STR,  true,  A(action),          32,            1, 0},
    {"version",         API_I64,  true,  A(version),         0,             1, INT32_MAX},
    {"text",            API_STR,  false, A(text),            0,             0, 0}, /* case_act: CASE_TEXT_MAX */
    {"department_id",   API_I64,  false, A(department_id),   0,             1, INT64_MAX},
    {"assignee_id",     API_I64,  false, A(assignee_id),     0,             1, INT64_MAX},
    {"duplicate_of",    API_I64,  false, A(duplicate_of),    0,             1, INT64_MAX},
    {"extension_hours", API_I64,  false, A(extension_hours), 0,             1, CASE_EXT_HOURS_MAX},
    {"inspector_id",    API_I64,  false, A(inspector_id),    0,             1, INT64_MAX},
    {"photos",          API_JSON, false, offsetof(struct action_in, photos), 0, 0, 0},
    {0},
};
/* clang-format on */
#undef A

static enum err cases_action(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct action_in in = {0};
    int64_t id = req_param_i64(rq, "id");
    const char **photos = NULL;
    struct idem idem;
    bool replay = false;
    enum err res;

    res = api_idem(cx, rq, 200, &idem);
    if (!res)
        res = api_json_input(cx, rq, action_fields, &in, NULL);
    if (!res)
        res = photo_list(cx, in.photos, &photos, &in.a.nphotos);
    if (res)
        return res;
    in.a.photos = photos;
    in.a.has_photos = in.photos != NULL;
    res = case_act(cx, id, &in.a, &idem, &replay);
    if (res)
        return res;
    /* A replay shows the case only while the caller may still see it, like a fresh GET. */
    return reply_case(cx, rs, 200, id, replay, NULL, NULL, !replay, false);
}

/* ---- GET /api/v1/cases ----------------------------------------------------------------- */

/* ?bbox= into the filter (api_query_bbox). */
static enum err q_bbox(struct rctx *cx, const struct req *rq, struct case_filter *f)
{
    double b[4];
    enum err res = api_query_bbox(cx, rq, b, &f->has_bbox);

    if (res || !f->has_bbox)
        return res;
    f->min_lng = b[0];
    f->min_lat = b[1];
    f->max_lng = b[2];
    f->max_lat = b[3];
    return ERR_OK;
}

/* The cursor is opaque to clients; today it is the last id seen, in hex behind a version. */
static enum err cases_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct case_filter f = {0};
    struct case_page pg;
    int64_t limit = 20;
    int mine = 0;
    json_t *items, *j;
    enum err res;

    f.overdue = -1;
    f.state = req_query(cx, rq, "state");
    f.source = req_query(cx, rq, "source");
    res = api_query_i64(cx, rq, "category_id", 1, INT64_MAX, &f.category_id);
    if (!res)
        res = api_query_i64(cx, rq, "grid_id", 1, INT64_MAX, &f.grid_id);
    if (!res)
        res = api_query_i64(cx, rq, "department_id", 1, INT64_MAX, &f.department_id);
    if (!res)
        res = api_query_bool(cx, rq, "overdue", &f.overdue);
    if (!res)
        res = api_query_bool(cx, rq, "mine", &mine);
    if (!res)
        res = api_query_time(cx, rq, "from", &f.from_ms);
    if (!res)
        res = api_query_time(cx, rq, "to", &f.to_ms);
    if (!res)
        res = q_bbox(cx, rq, &f);
    if (!res)
        res = api_query_cursor(cx, rq, "c1", &f.before_id);
    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, CASE_LIST_MAX, &limit);
    if (res)
        return res;
    f.mine = mine == 1;
    f.limit = (int)limit;
    res = case_list(cx, &f, &pg);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < pg.n; i++)
        json_array_append_new(items, case_json(cx, &pg.items[i]));
    j = json_pack("{s:o}", "items", items);
    if (pg.next_before) {
        json_object_set_new(j, "next_cursor", json_string(api_cursor(cx, "c1", pg.next_before)));
    } else {
        json_object_set_new(j, "next_cursor", json_null());
    }
    return api_json_reply(cx, rs, 200, j);
}

/* ---- 督办 ------------------------------------------------------------------------------ */

/* Bodies of one field decode straight into the variable the domain takes (offset 0). */
static const struct api_field urge_fields[] = {
    {"note", API_STR, true, 0, CASE_NOTE_MAX, 1, 0},
    {0},
};

static enum err urging_reply(struct rctx *cx, struct resp *rs, int status, int64_t id)
{
    struct case_urging_rec *list;
    size_t n;
    enum err res = case_urgings_list(cx, false, CASE_LIST_MAX, &n, &list);

    if (res)
        return res;
    for (size_t i = 0; i < n; i++)
        if (list[i].id == id)
            return api_json_reply(cx, rs, status, urging_json(&list[i]));
    return api_json_reply(cx, rs, status, json_pack("{s:I}", "id", (json_int_t)id));
}

static enum err cases_urge(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    char *note = NULL;
    struct idem idem;
    int64_t id = 0;
    enum err res;

    res = api_idem(cx, rq, 201, &idem);
    if (!res)
        res = api_json_input(cx, rq, urge_fields, &note, NULL);
    if (!res)
        res = case_urge(cx, req_param_i64(rq, "id"), note, &idem, &id);
    if (res)
        return res;
    return urging_reply(cx, rs, 201, id);
}

/* The text's length is case_urging_ack's to check (CASE_NOTE_MAX); the route caps the body. */
static const struct api_field ack_fields[] = {
    {"text", API_STR, false, 0, 0, 0, 0},
    {0},
};

static enum err urgings_ack(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    char *text = NULL;
    struct case_urging_rec u;
    struct idem idem;
    json_t *j;
    enum err res;

    res = api_idem(cx, rq, 200, &idem);
    if (!res)
        res = api_json_body(cx, rq, true, &j);
    if (!res)
        res = api_json_decode(cx, j, ack_fields, &text, NULL);
    if (!res)
        res = case_urging_ack(cx, req_param_i64(rq, "id"), text, &idem, &u);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, urging_json(&u));
}

static enum err urgings_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct case_urging_rec *list;
    size_t n;
    int open = 0;
    int64_t limit = 50;
    json_t *a;
    enum err res = api_query_bool(cx, rq, "open", &open);

    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, CASE_LIST_MAX, &limit);
    if (!res)
        res = case_urgings_list(cx, open == 1, (int)limit, &n, &list);
    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, urging_json(&list[i]));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", a));
}

/* ---- rating ---------------------------------------------------------------------------- */

/* The text's length is case_rate's to check (CASE_NOTE_MAX); the route caps the body. */
static const struct api_field rating_fields[] = {
    {"score", API_INT, true, offsetof(struct case_rating, score), 0, 1, 5},
    {"text", API_STR, false, offsetof(struct case_rating, text), 0, 0, 0},
    {0},
};

static enum err cases_rate(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct case_rating in = {0};
    int64_t id = req_param_i64(rq, "id");
    struct idem idem;
    enum err res;

    res = api_idem(cx, rq, 201, &idem);
    if (!res)
        res = api_json_input(cx, rq, rating_fields, &in, NULL);
    if (!res)
        res = case_rate(cx, id, &in, &idem);
    if (res)
        return res;
    return api_json_reply(cx, rs, 201,
                          json_pack("{s:I,s:i,s:o}", "case_id", (json_int_t)id, "score", in.score,
                                    "text", api_json_str(in.text)));
}

#define ROLE_REPORTERS (ROLE_INSPECTOR | ROLE_CITIZEN | ROLE_LEADER | ROLE_MACHINE | ROLE_OPERATOR)
#define ROLE_WORKFLOW                                                                              \
    (ROLE_OPERATOR | ROLE_SHIFT_LEAD | ROLE_DISPATCHER | ROLE_HANDLER | ROLE_INSPECTOR)

/* clang-format off */
const struct route api_cases_routes[] = {
    /* method  path                            handler        roles           body        flags  timeout batch  scope (API keys) */
    {"GET",  "/api/v1/cases",                cases_list,    ROLE_ANY,       0,          0, 0, NULL, "cases:read"},
    {"POST", "/api/v1/cases",                cases_create,  ROLE_REPORTERS, 16 * 1024,  0, 0, NULL, "cases:write"},
    {"GET",  "/api/v1/cases/{id}",           cases_get,     ROLE_ANY,       0,          ROUTE_BATCH, 0, cases_get_batch, "cases:read"},
    {"POST", "/api/v1/cases/{id}/actions",   cases_action,  ROLE_WORKFLOW,  8 * 1024,   0, 0, NULL, NULL},
    {"POST", "/api/v1/cases/{id}/urge",      cases_urge,    ROLE_LEADER,    4 * 1024,   0, 0, NULL, NULL},
    {"POST", "/api/v1/cases/{id}/rating",    cases_rate,    ROLE_CITIZEN,   4 * 1024,   0, 0, NULL, NULL},
    {"GET",  "/api/v1/urgings",              urgings_list,  ROLE_LEADER | ROLE_HANDLER, 0, 0, 0, NULL, NULL},
    {"POST", "/api/v1/urgings/{id}/ack",     urgings_ack,   ROLE_HANDLER,   4 * 1024,   0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
