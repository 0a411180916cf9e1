/* api/open311.c: /open311/v2/ — the Open311 GeoReport v2 façade (docs/open311.md).
 *
 * Every resource comes as .json and .xml (the spec requires XML; its JSON is the mechanical
 * "Spark" mapping of the XML). Handlers build the JSON form once and render XML from it with
 * libxml2's xmlwriter (escaping and UTF-8 are the library's job), so the two forms cannot drift.
 * Errors inside a façade route are Open311's list of {code, description} in the requested form,
 * with 404 for what does not exist, 403 for a missing or bad api_key and 400 for any other bad
 * request (500/503 stay what they are: the client may retry); errors the router answers before
 * a handler runs (an unknown path, 405, 413) keep cityd's own error body.
 *
 * Reads are public (no token); POST requests.{fmt} takes the form-encoded body of the spec, with
 * the API key of a machine client as api_key. Handlers only: the mapping and SQL are in
 * api/domain/open311.h. */
#include "api.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/xmlwriter.h>
#include "api/domain/case.h"
#include "api/domain/idempotency.h"
#include "api/domain/open311.h"
#include "server/core/roles.h"

enum fmt { FMT_JSON, FMT_XML };

/* ---- rendering --------------------------------------------------------------------------- */

/* The element of each item of a list, by the list's element name (the spec's XML). */
static const char *item_name(const char *list)
{
    static const char *const pairs[][2] = {
        {"services", "service"},     {"service_requests", "request"},
        {"attributes", "attribute"}, {"values", "value"},
        {"errors", "error"},         {"endpoints", "endpoint"},
        {"formats", "format"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (strcmp(pairs[i][0], list) == 0)
            return pairs[i][1];
    return "item";
}

static int xml_value(xmlTextWriterPtr w, const char *name, json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;
    int rc = xmlTextWriterStartElement(w, (const xmlChar *)name);

    if (rc < 0)
        return rc;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        json_object_foreach(v, key, x)
        {
            if (xml_value(w, key, x) < 0)
                return -1;
        }
        break;
    case JSON_ARRAY:
        json_array_foreach(v, i, x)
        {
            if (xml_value(w, item_name(name), x) < 0)
                return -1;
        }
        break;
    case JSON_STRING:
        rc = xmlTextWriterWriteString(w, (const xmlChar *)json_string_value(v));
        break;
    case JSON_INTEGER:
        rc = xmlTextWriterWriteFormatString(w, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        rc = xmlTextWriterWriteFormatString(w, "%.9g", json_real_value(v));
        break;
    case JSON_TRUE:
        rc = xmlTextWriterWriteString(w, BAD_CAST "true");
        break;
    case JSON_FALSE:
        rc = xmlTextWriterWriteString(w, BAD_CAST "false");
        break;
    case JSON_NULL:
        break;
    }
    if (rc < 0)
        return rc;
    return xmlTextWriterEndElement(w);
}

/* Answer j (owned, an array or object) as JSON, or as XML under root. */
static enum err reply(struct rctx *cx, struct resp *rs, enum fmt f, int status, const char *root,
                      json_t *j)
{
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
    char *copy;
    size_t n;
    int rc;

    if (f == FMT_JSON)
        return api_json_reply(cx, rs, status, j);
    api_json_own(cx, j);
    buf = xmlBufferCreate();
    w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    if (!w) {
        xmlBufferFree(buf);
        return rctx_fail(cx, ERR_INTERNAL, "out of memory");
    }
    rc = xmlTextWriterStartDocument(w, NULL, "utf-8", NULL);
    if (rc >= 0)
        rc = xml_value(w, root, j);
    if (rc >= 0)
        rc = xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w); /* flushes into buf */
    if (rc < 0) {
        xmlBufferFree(buf);
        return rctx_fail(cx, ERR_INTERNAL, "XML could not be written");
    }
    n = (size_t)xmlBufferLength(buf);
    copy = rctx_alloc(cx, n + 1);
    memcpy(copy, xmlBufferContent(buf), n);
    copy[n] = '\0';
    xmlBufferFree(buf);
    return resp_body(rs, status, "text/xml; charset=utf-8", copy, n);
}

/* The error list for res, with Open311's statuses; the answer is rendered, so ERR_OK. */
static enum err fail(struct rctx *cx, struct resp *rs, enum fmt f, enum err res)
{
    int status;

    switch (res) {
    case ERR_NOTFOUND:
        status = 404;
        break;
    case ERR_UNAUTH:
    case ERR_FORBIDDEN:
        status = 403;
        break;
    case ERR_INTERNAL:
        status = 500;
        break;
    case ERR_BUSY:
        status = 503;
        break;
    default:
        status = 400;
        break;
    }
    if (status == 503)
        resp_header(cx, rs, "retry-after", "1");
    return reply(cx, rs, f, status, "errors",
                 json_pack("[{s:i,s:s}]", "code", status, "description",
                           status == 500 ? rctx_printf(cx, "internal error (request %s)", cx->id)
                                         : rctx_message(cx, res)));
}

/* "<name>.json" / "<name>.xml" of a path parameter: the name (pool), or NULL. */
static const char *split_fmt(struct rctx *cx, const char *seg, enum fmt *f)
{
    size_t n = seg ? strlen(seg) : 0;

    if (n > 5 && strcmp(seg + n - 5, ".json") == 0) {
        *f = FMT_JSON;
        return rctx_strndup(cx, seg, n - 5);
    }
    if (n > 4 && strcmp(seg + n - 4, ".xml") == 0) {
        *f = FMT_XML;
        return rctx_strndup(cx, seg, n - 4);
    }
    return NULL;
}

/* The request's format by its path: ".xml" at the end or JSON. */
static enum fmt path_fmt(const struct req *rq)
{
    return rq->path_len > 4 && memcmp(rq->path + rq->path_len - 4, ".xml", 4) == 0 ? FMT_XML
                                                                                   : FMT_JSON;
}

/* A W3C datetime in UTC with its timezone mark ("2010-01-01T00:00:00Z"). */
static json_t *w3c(int64_t ms)
{
    char s[32];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(s);
}

/* Optional arguments: an empty value is the same as none (the spec's rule). */
static const char *arg(struct rctx *cx, const struct req *rq, const char *name)
{
    const char *v = req_query(cx, rq, name);
    return v && *v ? v : NULL;
}

/* ---- discovery --------------------------------------------------------------------------- */

static struct {
    char base_url[300];
    char contact[300];
} conf;

void api_open311_configure(const char *base_url, const char *contact)
{
    snprintf(conf.base_url, sizeof conf.base_url, "%s", base_url ? base_url : "");
    snprintf(conf.contact, sizeof conf.contact, "%s", contact ? contact : "");
}

/* The Service Discovery document (wiki.open311.org/Service_Discovery): one production
 * GeoReport v2 endpoint in both formats; its changeset moves when a category changes. */
static enum err discovery(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum fmt f = path_fmt(rq);
    int64_t changed = 0;
    json_t *changeset, *j;
    enum err res = open311_changeset(cx, &changed);

    if (res)
        return fail(cx, rs, f, res);
    changeset = w3c(changed);
    j = json_pack("{s:O,s:s,s:s,s:[{s:s,s:s,s:O,s:s,s:[s,s]}]}", "changeset", changeset, "contact",
                  conf.contact[0] ? conf.contact : "城市管理数字化平台管理员", "key_service",
                  "API key 由平台管理员签发（管理端 API 密钥，需 cases:write 权限）", "endpoints",
                  "specification", "http://wiki.open311.org/GeoReport_v2", "url", conf.base_url,
                  "changeset", changeset, "type", "production", "formats", "text/xml",
                  "application/json");
    json_decref(changeset);
    return reply(cx, rs, f, 200, "discovery", j);
}

/* ---- services ---------------------------------------------------------------------------- */

static json_t *service_json(const struct open311_service *s)
{
    return json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:s}", "service_code", s->code, "service_name",
                     s->name, "description", s->description, "metadata", 1, "type", "realtime",
                     "keywords", s->urgent ? "紧急" : "", "group", s->group);
}

static enum err services_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum fmt f = path_fmt(rq);
    struct open311_service *v;
    size_t n;
    json_t *a;
    enum err res = open311_services(cx, &v, &n);

    if (res)
        return fail(cx, rs, f, res);
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, service_json(&v[i]));
    return reply(cx, rs, f, 200, "services", a);
}

/* Every service has one attribute: the case's urgency (cityd's own field of a report). */
static json_t *urgency_attribute(const struct open311_service *s)
{
    return json_pack("{s:b,s:s,s:s,s:b,s:s,s:i,s:s,s:[{s:s,s:s},{s:s,s:s}]}", "variable", 1, "code",
                     "urgency", "datatype", "singlevaluelist", "required", 0,
                     "datatype_description", "normal（一般）或 urgent（紧急）", "order", 1,
                     "description", s->urgent ? "紧急程度（此类默认按紧急时限处理）" : "紧急程度",
                     "values", "key", "normal", "name", "一般", "key", "urgent", "name", "紧急");
}

static enum err services_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum fmt f = FMT_JSON;
    const char *code = split_fmt(cx, req_param(cx, rq, "service"), &f);
    struct open311_service s;
    enum err res;

    if (!code)
        return fail(cx, rs, path_fmt(rq),
                    rctx_fail(cx, ERR_NOTFOUND, "no such format: use .json or .xml"));
    res = open311_service_get(cx, code, &s);
    if (res)
        return fail(cx, rs, f, res);
    return reply(
        cx, rs, f, 200, "service_definition",
        json_pack("{s:s,s:[o]}", "service_code", s.code, "attributes", urgency_attribute(&s)));
}

/* ---- requests ---------------------------------------------------------------------------- */

static json_t *request_json(const struct open311_request *q)
{
    json_t *j = json_object();

    json_object_set_new(j, "service_request_id", json_integer(q->id));
    json_object_set_new(j, "status", json_string(q->status));
    json_object_set_new(j, "status_notes", json_string(q->status_notes));
    json_object_set_new(j, "service_name", json_string(q->service_name));
    json_object_set_new(j, "service_code", json_string(q->service_code));
    json_object_set_new(j, "description", json_string(q->description));
    json_object_set_new(j, "agency_responsible", api_json_str(q->agency));
    json_object_set_new(j, "service_notice", json_null());
    json_object_set_new(j, "requested_datetime", w3c(q->requested_ms));
    json_object_set_new(j, "updated_datetime", w3c(q->updated_ms));
    json_object_set_new(j, "expected_datetime", json_null());
    json_object_set_new(j, "address", api_json_str(q->address));
    json_object_set_new(j, "address_id", json_null());
    json_object_set_new(j, "zipcode", json_null());
    json_object_set_new(j, "lat", json_real(round(q->lat * 1e7) / 1e7));
    json_object_set_new(j, "long", json_real(round(q->lng * 1e7) / 1e7));
    json_object_set_new(j, "media_url", json_null());
    return j;
}

/* A comma-separated list into pool strings; ERR_INVALID past max items. */
static enum err split_list(struct rctx *cx, const char *name, const char *s, size_t max,
                           const char ***out, size_t *n)
{
    const char **v = rctx_zalloc(cx, (max + 1) * sizeof *v);

    *n = 0;
    while (s && *s) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        if (len) {
            if (*n == max)
                return rctx_fail(cx, ERR_INVALID, "%s: at most %zu values", name, max);
            v[(*n)++] = rctx_strndup(cx, s, len);
        }
        s = c ? c + 1 : NULL;
    }
    *out = v;
    return ERR_OK;
}

static enum err query_of(struct rctx *cx, const struct req *rq, struct open311_query *q)
{
    const char *ids = arg(cx, rq, "service_request_id");
    const char *start = arg(cx, rq, "start_date"), *end = arg(cx, rq, "end_date");
    const char *status = arg(cx, rq, "status");
    const char **list;
    size_t n;
    enum err res;

    memset(q, 0, sizeof *q);
    if (ids) {
        int64_t *v;
        res = split_list(cx, "service_request_id", ids, OPEN311_IDS_MAX, &list, &n);
        if (res)
            return res;
        v = rctx_zalloc(cx, (n + 1) * sizeof *v);
        for (size_t i = 0; i < n; i++) {
            char *e;
            errno = 0;
            v[i] = strtoll(list[i], &e, 10);
            if (*e || errno || v[i] <= 0)
                return rctx_fail(cx, ERR_INVALID, "service_request_id: %s is not a request id",
                                 list[i]);
        }
        q->ids = v;
        q->n_ids = n;
        return ERR_OK; /* it overrides every other argument */
    }
    res = split_list(cx, "service_code", arg(cx, rq, "service_code"), OPEN311_CODES_MAX, &list, &n);
    if (res)
        return res;
    q->codes = list;
    q->n_codes = n;
    /* W3C datetimes with their timezone are RFC 3339 (the cityd API's own parser). */
    if (start && api_parse_time(cx, "start_date", start, false, &q->start_ms))
        return ERR_INVALID;
    if (end && api_parse_time(cx, "end_date", end, false, &q->end_ms))
        return ERR_INVALID;
    if (!end)
        q->end_ms = start ? q->start_ms + OPEN311_SPAN_MS : cx->now_ms;
    if (!start)
        q->start_ms = q->end_ms - OPEN311_SPAN_MS;
    if (q->end_ms < q->start_ms)
        return rctx_fail(cx, ERR_INVALID, "end_date is before start_date");
    if (q->end_ms - q->start_ms > OPEN311_SPAN_MS)
        return rctx_fail(cx, ERR_INVALID, "start_date to end_date may span at most 90 days");
    if (status) {
        res = split_list(cx, "status", status, 2, &list, &n);
        if (res)
            return res;
        for (size_t i = 0; i < n; i++) {
            int s = strcmp(list[i], "open") == 0 ? 1 : strcmp(list[i], "closed") == 0 ? 2 : 0;
            if (!s)
                return rctx_fail(cx, ERR_INVALID, "status: open or closed, not %s", list[i]);
            q->status |= s;
        }
        if (q->status == 3)
            q->status = 0;
    }
    return ERR_OK;
}

static enum err requests_list(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum fmt f = path_fmt(rq);
    struct open311_query q;
    struct open311_request *v;
    size_t n;
    json_t *a;
    enum err res = query_of(cx, rq, &q);

    if (!res)
        res = open311_requests(cx, &q, &v, &n);
    if (res)
        return fail(cx, rs, f, res);
    a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, request_json(&v[i]));
    return reply(cx, rs, f, 200, "service_requests", a);
}

static enum err requests_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum fmt f = FMT_JSON;
    const char *id = split_fmt(cx, req_param(cx, rq, "request"), &f);
    struct open311_request q;
    char *e;
    long long n;
    enum err res;

    if (!id)
        return fail(cx, rs, path_fmt(rq),
                    rctx_fail(cx, ERR_NOTFOUND, "no such format: use .json or .xml"));
    errno = 0;
    n = strtoll(id, &e, 10);
    if (*e || errno || n <= 0)
        return fail(cx, rs, f, rctx_fail(cx, ERR_NOTFOUND, "service_request_id %s not found", id));
    res = open311_request_get(cx, n, &q);
    if (res)
        return fail(cx, rs, f, res);
    return reply(cx, rs, f, 200, "service_requests", json_pack("[o]", request_json(&q)));
}

static enum err tokens_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum fmt f = FMT_JSON;
    const char *token = split_fmt(cx, req_param(cx, rq, "token"), &f);
    int64_t id;
    enum err res;

    if (!token)
        return fail(cx, rs, path_fmt(rq),
                    rctx_fail(cx, ERR_NOTFOUND, "no such format: use .json or .xml"));
    res = open311_token_get(cx, token, &id);
    if (res)
        return fail(cx, rs, f, res);
    return reply(cx, rs, f, 200, "service_requests",
                 json_pack("[{s:I,s:s}]", "service_request_id", (json_int_t)id, "token", token));
}

/* ---- POST requests.{fmt} ----------------------------------------------------------------- */

struct form {
    size_t n;
    const char *key[64], *val[64];
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent- and '+'-decoding; NULL when the result would hold a NUL byte. */
static const char *form_decode(struct rctx *cx, const char *s, size_t n)
{
    char *out = rctx_alloc(cx, n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            if (out[o++] == '\0')
                return NULL;
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '\0') {
            return NULL;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* application/x-www-form-urlencoded body into f (keys and values decoded). */
static enum err form_parse(struct rctx *cx, const char *p, size_t len, struct form *f)
{
    const char *end = p + len;

    f->n = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;

        if (stop > p) {
            if (f->n == sizeof f->key / sizeof f->key[0])
                return rctx_fail(cx, ERR_INVALID, "too many arguments");
            f->key[f->n] = form_decode(cx, p, (size_t)(kend - p));
            f->val[f->n] = eq ? form_decode(cx, eq + 1, (size_t)(stop - eq - 1)) : "";
            if (!f->key[f->n] || !f->val[f->n])
                return rctx_fail(cx, ERR_INVALID, "an argument holds a NUL byte");
            f->n++;
        }
        p = stop + 1;
    }
    return ERR_OK;
}

/* The first non-empty value of key, or NULL. */
static const char *form_get(const struct form *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->key[i], key) == 0 && *f->val[i])
            return f->val[i];
    return NULL;
}

static enum err parse_coord(struct rctx *cx, const char *name, const char *s, double lo, double hi,
                            double *out)
{
    char *e;

    errno = 0;
    *out = strtod(s, &e);
    if (*e || errno || !isfinite(*out) || *out < lo || *out > hi)
        return rctx_fail(cx, ERR_INVALID, "%s: a number from %g to %g", name, lo, hi);
    return ERR_OK;
}

static enum err create_in(struct rctx *cx, const struct form *f, struct open311_create *in)
{
    const char *lat = form_get(f, "lat"), *lng = form_get(f, "long");
    enum err res;

    memset(in, 0, sizeof *in);
    in->service_code = form_get(f, "service_code");
    if (!in->service_code)
        return rctx_fail(cx, ERR_INVALID, "service_code is required");
    if (!lat || !lng)
        return rctx_fail(cx, ERR_INVALID,
                         form_get(f, "address_string") || form_get(f, "address_id")
                             ? "lat and long are required: this server does not geocode addresses"
                             : "lat and long are required");
    res = parse_coord(cx, "lat", lat, -90, 90, &in->lat);
    if (!res)
        res = parse_coord(cx, "long", lng, -180, 180, &in->lng);
    if (res)
        return res;
    in->address = form_get(f, "address_string");
    in->description = form_get(f, "description");
    if (!in->description)
        return rctx_fail(cx, ERR_INVALID, "description is required");
    if (strlen(in->description) > CASE_DESC_MAX)
        return rctx_fail(cx, ERR_INVALID, "description: at most %d bytes", CASE_DESC_MAX);
    in->urgency = form_get(f, "attribute[urgency]");
    if (in->urgency && strcmp(in->urgency, "normal") != 0 && strcmp(in->urgency, "urgent") != 0)
        return rctx_fail(cx, ERR_INVALID, "attribute[urgency]: normal or urgent");
    for (size_t i = 0; i < f->n; i++)
        if (strncmp(f->key[i], "attribute[", 10) == 0 &&
            strcmp(f->key[i], "attribute[urgency]") != 0)
            return rctx_fail(cx, ERR_INVALID, "%s: no such attribute (see the service definition)",
                             f->key[i]);
    return ERR_OK;
}

static enum err requests_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum fmt f = path_fmt(rq);
    struct open311_create in;
    struct form form;
    struct idem idem;
    int64_t id = 0;
    enum err res = form_parse(cx, rq->body ? rq->body : "", rq->body_len, &form);

    /* The key first: the spec answers 403 to a missing or bad api_key before anything else. */
    if (!res)
        res = open311_authenticate(cx, form_get(&form, "api_key"));
    if (!res)
        res = create_in(cx, &form, &in);
    if (!res)
        res = api_idem(cx, rq, 200, &idem);
    if (!res)
        res = open311_request_create(cx, &in, &idem, &id);
    if (res)
        return fail(cx, rs, f, res);
    return reply(cx, rs, f, 200, "service_requests",
                 json_pack("[{s:I,s:n,s:n}]", "service_request_id", (json_int_t)id,
                           "service_notice", "account_id"));
}

/* clang-format off */
const struct route api_open311_routes[] = {
    /* method  path                             handler          roles        body       flags */
    {"GET",  "/open311/discovery.json",         discovery,       ROLE_PUBLIC, 0,         0, 0, NULL, NULL},
    {"GET",  "/open311/discovery.xml",          discovery,       ROLE_PUBLIC, 0,         0, 0, NULL, NULL},
    {"GET",  "/open311/v2/services.json",       services_list,   ROLE_PUBLIC, 0,         0, 0, NULL, NULL},
    {"GET",  "/open311/v2/services.xml",        services_list,   ROLE_PUBLIC, 0,         0, 0, NULL, NULL},
    {"GET",  "/open311/v2/services/{service}",  services_get,    ROLE_PUBLIC, 0,         0, 0, NULL, NULL},
    {"GET",  "/open311/v2/requests.json",       requests_list,   ROLE_PUBLIC, 0,         0, 0, NULL, NULL},
    {"GET",  "/open311/v2/requests.xml",        requests_list,   ROLE_PUBLIC, 0,         0, 0, NULL, NULL},
    {"POST", "/open311/v2/requests.json",       requests_create, ROLE_PUBLIC, 16 * 1024, ROUTE_RAW_BODY, 0, NULL, NULL},
    {"POST", "/open311/v2/requests.xml",        requests_create, ROLE_PUBLIC, 16 * 1024, ROUTE_RAW_BODY, 0, NULL, NULL},
    {"GET",  "/open311/v2/requests/{request}",  requests_get,    ROLE_PUBLIC, 0,         0, 0, NULL, NULL},
    {"GET",  "/open311/v2/tokens/{token}",      tokens_get,      ROLE_PUBLIC, 0,         0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
