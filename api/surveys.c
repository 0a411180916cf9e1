/* api/surveys.c: /api/v1/surveys — 专项普查: dispatchers define surveys, inspectors submit
 * items, everyone concerned reads progress per grid. Handlers decode and check the JSON shapes
 * (checklist, answers against it); the rules and SQL are in api/domain/survey.c. */
#include "api.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "api/domain/survey.h"
#include "server/core/roles.h"

#define SURVEY_FIELDS_MAX 50

static const char *const field_types[] = {"text", "number", "bool", "choice", NULL};

/* An RFC 3339 time to ms, within what MariaDB 10.11's FROM_UNIXTIME can store. */
static enum err parse_time(struct rctx *cx, const char *name, const char *v, int64_t *out)
{
    enum err res = api_parse_time(cx, name, v, false, out);
    if (res)
        return res;
    if (*out >= INT64_C(2147483647000))
        return rctx_fail(cx, ERR_INVALID, "%s: expected an RFC 3339 time between 1970 and 2037",
                         name);
    return ERR_OK;
}

/* The checklist: [{"name","label"?,"type","required"?,"options"? (choice)}], unique names. */
static enum err check_fields(struct rctx *cx, json_t *fields)
{
    size_t i;
    json_t *f;

    if (!json_is_array(fields) || json_array_size(fields) == 0 ||
        json_array_size(fields) > SURVEY_FIELDS_MAX)
        return rctx_fail(cx, ERR_INVALID, "fields: 1 to %d checklist fields", SURVEY_FIELDS_MAX);
    json_array_foreach(fields, i, f)
    {
        const char *key, *name, *type;
        json_t *v;
        size_t k;
        if (!json_is_object(f))
            return rctx_fail(cx, ERR_INVALID, "fields[%zu]: expected an object", i);
        json_object_foreach(f, key, v)
        {
            if (strcmp(key, "name") != 0 && strcmp(key, "label") != 0 && strcmp(key, "type") != 0 &&
                strcmp(key, "required") != 0 && strcmp(key, "options") != 0)
                return rctx_fail(cx, ERR_INVALID, "fields[%zu]: \"%.32s\" is not accepted", i, key);
        }
        name = json_string_value(json_object_get(f, "name"));
        type = json_string_value(json_object_get(f, "type"));
        if (!name || !name[0] || strlen(name) > 64)
            return rctx_fail(cx, ERR_INVALID, "fields[%zu].name: 1 to 64 bytes", i);
        for (k = 0; field_types[k] && (!type || strcmp(field_types[k], type) != 0); k++)
            ;
        if (!field_types[k])
            return rctx_fail(cx, ERR_INVALID, "fields[%zu].type: text, number, bool or choice", i);
        if (json_object_get(f, "required") && !json_is_boolean(json_object_get(f, "required")))
            return rctx_fail(cx, ERR_INVALID, "fields[%zu].required: true or false", i);
        if (strcmp(type, "choice") == 0 && (!json_is_array(json_object_get(f, "options")) ||
                                            json_array_size(json_object_get(f, "options")) == 0))
            return rctx_fail(cx, ERR_INVALID, "fields[%zu].options: required for choice", i);
        for (k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(fields, k), "name")),
                       name) == 0)
                return rctx_fail(cx, ERR_INVALID, "fields[%zu].name: duplicate", i);
    }
    return ERR_OK;
}

/* Answers: an object with only checklist names, each of its field's type, required ones set. */
static enum err check_answers(struct rctx *cx, json_t *fields, json_t *answers)
{
    const char *key;
    json_t *v, *f;
    size_t i;

    if (!json_is_object(answers))
        return rctx_fail(cx, ERR_INVALID, "answers: expected an object");
    json_object_foreach(answers, key, v)
    {
        json_t *def = NULL;
        const char *type;
        json_array_foreach(fields, i, f)
        {
            if (strcmp(json_string_value(json_object_get(f, "name")), key) == 0)
                def = f;
        }
        if (!def)
            return rctx_fail(cx, ERR_INVALID, "answers.%.32s: not in the checklist", key);
        type = json_string_value(json_object_get(def, "type"));
        if ((strcmp(type, "text") == 0 && (!json_is_string(v) || json_string_length(v) > 1000)) ||
            (strcmp(type, "number") == 0 && !json_is_number(v)) ||
            (strcmp(type, "bool") == 0 && !json_is_boolean(v)))
            return rctx_fail(cx, ERR_INVALID, "answers.%.32s: expected a %s", key, type);
        if (strcmp(type, "choice") == 0) {
            json_t *o;
            size_t k;
            bool ok = false;
            json_array_foreach(json_object_get(def, "options"), k, o) ok = ok || json_equal(o, v);
            if (!ok)
                return rctx_fail(cx, ERR_INVALID, "answers.%.32s: not one of the options", key);
        }
    }
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (json_is_true(json_object_get(f, "required")) && !json_object_get(answers, name))
            return rctx_fail(cx, ERR_INVALID, "answers.%.32s: required", name);
    }
    return ERR_OK;
}

static json_t *survey_json(const struct survey_rec *s, bool with_progress)
{
    json_t *fields = json_loads(s->fields_json, 0, NULL);
    json_t *j =
        json_pack("{s:I,s:s,s:o,s:o,s:o,s:I,s:o}", "id", (json_int_t)s->id, "title", s->title,
                  "fields", fields ? fields : json_array(), "starts_at",
                  api_json_time(s->starts_ms), "ends_at", api_json_time(s->ends_ms), "created_by",
                  (json_int_t)s->created_by, "created_at", api_json_time(s->created_ms));
    if (j && with_progress) {
        json_t *p = json_array();
        for (size_t i = 0; i < s->ngrids; i++)
            json_array_append_new(p,
                                  json_pack("{s:I,s:I}", "grid_id", (json_int_t)s->grids[i].grid_id,
                                            "items", (json_int_t)s->grids[i].items));
        json_object_set_new(j, "progress", p);
        json_object_set_new(j, "total_items", json_integer(s->total_items));
    }
    return j;
}

/* A survey as decoded: the domain's fields, and what still needs converting (times as sent,
 * the form's fields as JSON, the grid list). */
struct create_in {
    struct survey_new s;
    char *starts_at, *ends_at;
    json_t *fields;
    struct api_i64s grid_ids;
};

static const struct api_field create_fields[] = {
    {"title", API_STR, true, offsetof(struct create_in, s.title), SURVEY_TITLE_MAX, 1, 0},
    {"fields", API_JSON, true, offsetof(struct create_in, fields), 0, 0, 0},
    {"grid_ids", API_I64S, true, offsetof(struct create_in, grid_ids), SURVEY_GRIDS_MAX, 0, 0},
    {"starts_at", API_STR, true, offsetof(struct create_in, starts_at), 40, 1, 0},
    {"ends_at", API_STR, true, offsetof(struct create_in, ends_at), 40, 1, 0},
    {0},
};

static enum err surveys_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct create_in b = {0};
    struct survey_new *in = &b.s;
    struct survey_rec s;
    struct idem idem;
    int64_t id;
    size_t n;
    enum err res;

    res = api_idem(cx, rq, 201, &idem);
    if (!res)
        res = api_json_input(cx, rq, create_fields, &b, NULL);
    if (!res)
        res = check_fields(cx, b.fields);
    if (!res)
        res = parse_time(cx, "starts_at", b.starts_at, &in->starts_ms);
    if (!res)
        res = parse_time(cx, "ends_at", b.ends_at, &in->ends_ms);
    if (res)
        return res;
    res = api_json_text(cx, b.fields, &in->fields_json, &n);
    if (res)
        return res;
    in->grid_ids = b.grid_ids.v;
    in->ngrids = b.grid_ids.n;
    res = survey_create(cx, in, &idem, &id);
    if (!res)
        res = survey_get(cx, id, &s);
    if (res)
        return res;
    return api_json_reply(cx, rs, 201, survey_json(&s, true));
}

static enum err surveys_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct survey_rec *list;
    size_t n;
    json_t *a;
    enum err res = survey_list(cx, &n, &list);

    if (res)
        return res;
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, survey_json(&list[i], false));
    return api_json_reply(cx, rs, 200, json_pack("{s:o}", "items", a));
}

static enum err surveys_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct survey_rec s;
    enum err res = survey_get(cx, req_param_i64(rq, "id"), &s);

    if (res)
        return res;
    return api_json_reply(cx, rs, 200, survey_json(&s, true));
}

/* The item as decoded: the domain's fields, and what is sent as JSON (the location decoded
 * into it below, the answers checked against the checklist, the photos listed). */
struct item_in {
    struct survey_item_new it;
    json_t *location, *answers, *photos;
};

static const struct api_field item_fields[] = {
    {"location", API_JSON, true, offsetof(struct item_in, location), 0, 0, 0},
    {"answers", API_JSON, true, offsetof(struct item_in, answers), 0, 0, 0},
    {"photos", API_JSON, false, offsetof(struct item_in, photos), 0, 0, 0},
    {0},
};

/* Straight into the domain's struct; the ranges are survey_item_add's. */
static const struct api_field loc_fields[] = {
    {"lat", API_F64, true, offsetof(struct survey_item_new, lat), 0, 0, 0},
    {"lng", API_F64, true, offsetof(struct survey_item_new, lng), 0, 0, 0},
    {0},
};

static enum err surveys_item(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t sid = req_param_i64(rq, "id"), item = 0, grid = 0;
    struct item_in b = {0};
    struct survey_item_new *in = &b.it;
    struct survey_rec s;
    const char **photos = NULL;
    struct idem idem;
    size_t n;
    json_t *fields;
    enum err res;

    res = api_idem(cx, rq, 201, &idem);
    if (!res)
        res = api_json_input(cx, rq, item_fields, &b, NULL);
    if (!res && !json_is_object(b.location))
        res = rctx_fail(cx, ERR_INVALID, "location: expected an object {lat, lng}");
    if (!res)
        res = api_json_decode(cx, b.location, loc_fields, in, NULL);
    if (!res && b.photos && (!json_is_array(b.photos) || json_array_size(b.photos) > 9))
        res = rctx_fail(cx, ERR_INVALID, "photos: an array of at most 9 media ids");
    if (!res)
        res = survey_get(cx, sid, &s);
    if (res)
        return res;
    fields = api_json_own(cx, json_loads(s.fields_json, 0, NULL));
    if (!fields)
        return rctx_fail(cx, ERR_INTERNAL, "survey %lld has a bad checklist", (long long)sid);
    res = check_answers(cx, fields, b.answers);
    if (res)
        return res;
    if (b.photos) {
        photos = rctx_zalloc(cx, (json_array_size(b.photos) + 1) * sizeof *photos);
        for (size_t i = 0; i < json_array_size(b.photos); i++) {
            const char *p = json_string_value(json_array_get(b.photos, i));
            if (!p)
                return rctx_fail(cx, ERR_INVALID, "photos[%zu]: expected a media id", i);
            photos[i] = p;
        }
        in->nphotos = json_array_size(b.photos);
    }
    res = api_json_text(cx, b.answers, &in->answers_json, &n);
    if (res)
        return res;
    in->photos = photos;
    res = survey_item_add(cx, sid, in, &idem, &item, &grid);
    if (res)
        return res;
    return api_json_reply(cx, rs, 201,
                          json_pack("{s:I,s:I,s:I}", "id", (json_int_t)item, "survey_id",
                                    (json_int_t)sid, "grid_id", (json_int_t)grid));
}

/* clang-format off */
const struct route api_surveys_routes[] = {
    /* method  path                            handler         roles            body        flags  timeout batch */
    {"GET",  "/api/v1/surveys",              surveys_list,   ROLE_STAFF,      0,          0, 0, NULL, NULL},
    {"POST", "/api/v1/surveys",              surveys_create, ROLE_DISPATCHER, 32 * 1024,  0, 0, NULL, NULL},
    {"GET",  "/api/v1/surveys/{id}",         surveys_get,    ROLE_STAFF,      0,          0, 0, NULL, NULL},
    {"POST", "/api/v1/surveys/{id}/items",   surveys_item,   ROLE_INSPECTOR,  32 * 1024,  0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
