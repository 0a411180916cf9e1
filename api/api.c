/* api/api.c: the table of resource tables and JSON helpers. */
#include "api.h"

#include "server/core/roles.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include "api/domain/deadline.h"
#include "api/domain/media.h"

const struct route *const api_tables[] = {
    api_system_routes,
    api_auth_routes,
    api_me_routes,
    api_testing_routes,
    api_cases_routes,
    api_tasks_routes,
    api_categories_routes,
    api_events_routes,
    api_surveys_routes,
    api_media_routes,
    api_uploads_routes,
    api_admin_routes,
    api_org_routes,
    api_apikeys_routes,
    api_audit_routes,
    api_settings_routes,
    NULL,
};

const struct api_job api_jobs[] = {
    /* case deadlines: 50 % / 80 % reminders, overdue marks, escalation (deadline.h) */
    {"case_deadlines", deadline_scan, 5000},
    /* media: expired tus uploads, orphan temp files, and the store sweep of files without a
     * row — at the first run after start-up, then hourly (media.h) */
    {"media_maintenance", media_maintenance_job, 10000},
    {NULL, NULL, 0},
};

static void decref(void *p)
{
    json_decref(p);
}

json_t *api_json_own(struct rctx *cx, json_t *j)
{
    if (j)
        rctx_defer(cx, decref, j);
    return j;
}

/* Depth is checked on the raw bytes first so a hostile nesting costs one linear scan. */
static bool too_deep(const char *s, size_t n)
{
    int depth = 0;
    bool in_str = false;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > API_JSON_MAX_DEPTH)
                return true;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return false;
}

enum err api_json_body(struct rctx *cx, const struct req *rq, bool allow_empty, json_t **out)
{
    json_error_t e;
    json_t *j;

    if (rq->body_len == 0) {
        if (!allow_empty)
            return rctx_fail(cx, ERR_INVALID, "a JSON object body is required");
        *out = api_json_own(cx, json_object());
        return ERR_OK;
    }
    if (too_deep(rq->body, rq->body_len))
        return rctx_fail(cx, ERR_INVALID, "JSON nested deeper than %d levels", API_JSON_MAX_DEPTH);
    j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        return rctx_fail(cx, ERR_INVALID, "invalid JSON at line %d, column %d: %s", e.line,
                         e.column, e.text);
    api_json_own(cx, j);
    if (!json_is_object(j))
        return rctx_fail(cx, ERR_INVALID, "the body must be a JSON object");
    *out = j;
    return ERR_OK;
}

static enum err decode_one(struct rctx *cx, const struct api_field *f, json_t *v, char *base)
{
    void *dst = base + f->offset;

    switch (f->type) {
    case API_STR: {
        const char *s;
        size_t n;
        if (!json_is_string(v))
            return rctx_fail(cx, ERR_INVALID, "%s: expected a string", f->name);
        s = json_string_value(v);
        n = json_string_length(v);
        if (memchr(s, '\0', n))
            return rctx_fail(cx, ERR_INVALID, "%s: NUL characters are not allowed", f->name);
        if (f->max_len && n > f->max_len)
            return rctx_fail(cx, ERR_INVALID, "%s: at most %zu bytes", f->name, f->max_len);
        if (f->min > 0 && n < (size_t)f->min)
            return rctx_fail(cx, ERR_INVALID, "%s: at least %lld bytes", f->name,
                             (long long)f->min);
        *(char **)dst = rctx_strndup(cx, s, n);
        return ERR_OK;
    }
    case API_I64: {
        json_int_t i;
        if (!json_is_integer(v))
            return rctx_fail(cx, ERR_INVALID, "%s: expected an integer", f->name);
        i = json_integer_value(v);
        if ((f->min || f->max) && (i < f->min || i > f->max))
            return rctx_fail(cx, ERR_INVALID, "%s: must be between %lld and %lld", f->name,
                             (long long)f->min, (long long)f->max);
        *(int64_t *)dst = i;
        return ERR_OK;
    }
    case API_F64: {
        double d;
        if (!json_is_number(v))
            return rctx_fail(cx, ERR_INVALID, "%s: expected a number", f->name);
        d = json_number_value(v);
        if ((f->min || f->max) && (d < (double)f->min || d > (double)f->max))
            return rctx_fail(cx, ERR_INVALID, "%s: must be between %lld and %lld", f->name,
                             (long long)f->min, (long long)f->max);
        *(double *)dst = d;
        return ERR_OK;
    }
    case API_BOOL:
        if (!json_is_boolean(v))
            return rctx_fail(cx, ERR_INVALID, "%s: expected true or false", f->name);
        *(bool *)dst = json_is_true(v);
        return ERR_OK;
    case API_I64S: {
        struct api_i64s *a = dst;
        size_t n;
        if (!json_is_array(v))
            return rctx_fail(cx, ERR_INVALID, "%s: expected an array of integers", f->name);
        n = json_array_size(v);
        if (f->max_len && n > f->max_len)
            return rctx_fail(cx, ERR_INVALID, "%s: at most %zu items", f->name, f->max_len);
        a->n = n;
        a->v = rctx_alloc(cx, (n ? n : 1) * sizeof *a->v);
        for (size_t i = 0; i < n; i++) {
            json_t *it = json_array_get(v, i);
            if (!json_is_integer(it) || json_integer_value(it) < 1)
                return rctx_fail(cx, ERR_INVALID, "%s[%zu]: expected a positive integer", f->name,
                                 i);
            a->v[i] = json_integer_value(it);
        }
        return ERR_OK;
    }
    case API_JSON:
        *(json_t **)dst = v;
        return ERR_OK;
    }
    return rctx_fail(cx, ERR_INTERNAL, "bad field table");
}

enum err api_json_decode(struct rctx *cx, json_t *obj, const struct api_field *fields, void *out,
                         uint64_t *present)
{
    const char *key;
    json_t *v;
    uint64_t seen = 0;
    enum err res;

    json_object_foreach(obj, key, v)
    {
        size_t i;
        for (i = 0; fields[i].name; i++)
            if (strcmp(fields[i].name, key) == 0)
                break;
        if (!fields[i].name)
            return rctx_fail(cx, ERR_INVALID, "field \"%.64s\" is not accepted here", key);
        if (json_is_null(v) && !fields[i].required)
            continue;
        res = decode_one(cx, &fields[i], v, out);
        if (res)
            return res;
        seen |= 1ull << i;
    }
    for (size_t i = 0; fields[i].name; i++)
        if (fields[i].required && !(seen & (1ull << i)))
            return rctx_fail(cx, ERR_INVALID, "%s: required", fields[i].name);
    if (present)
        *present = seen;
    return ERR_OK;
}

enum err api_json_reply(struct rctx *cx, struct resp *rs, int status, json_t *j)
{
    char *s;
    size_t n;

    if (!j)
        return rctx_fail(cx, ERR_INTERNAL, "out of memory");
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        return rctx_fail(cx, ERR_INTERNAL, "out of memory");
    n = strlen(s);
    {
        char *p = rctx_strndup(cx, s, n);
        free(s);
        return resp_body(rs, status, "application/json; charset=utf-8", p, n);
    }
}

enum err api_idempotency_key(struct rctx *cx, const struct req *rq, const char **key)
{
    size_t n = 0;
    const char *v = req_header(rq, "idempotency-key", &n);

    *key = NULL;
    if (!v)
        return ERR_OK;
    if (n == 0 || n > 64)
        return rctx_fail(cx, ERR_INVALID, "Idempotency-Key: 1 to 64 characters");
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return rctx_fail(cx, ERR_INVALID, "Idempotency-Key: only letters, digits and -_.:");
    }
    *key = rctx_strndup(cx, v, n);
    return ERR_OK;
}

enum err api_query_i64(struct rctx *cx, const struct req *rq, const char *name, int64_t min,
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

enum err api_query_bool(struct rctx *cx, const struct req *rq, const char *name, int *out)
{
    const char *v = req_query(cx, rq, name);

    if (!v)
        return ERR_OK;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = 0;
    else
        return rctx_fail(cx, ERR_INVALID, "%s: true or false", name);
    return ERR_OK;
}

enum err api_parse_time(struct rctx *cx, const char *name, const char *v, bool allow_ms,
                        int64_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, s, n = 0, oh = 0, om = 0;
    const char *p;

    if (allow_ms && *v && strlen(v) <= 15 && strspn(v, "0123456789") == strlen(v)) {
        long long x = strtoll(v, NULL, 10);
        if (x > INT64_C(253402300799999))
            return rctx_fail(cx, ERR_INVALID, "%s: milliseconds before the year 10000", name);
        *out = x;
        return ERR_OK;
    }
    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || y < 1970 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return rctx_fail(cx, ERR_INVALID, "%s: expected an RFC 3339 time%s", name,
                         allow_ms ? " or ms" : "");
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

enum err api_query_time(struct rctx *cx, const struct req *rq, const char *name, int64_t *out)
{
    const char *v = req_query(cx, rq, name);
    return v ? api_parse_time(cx, name, v, true, out) : ERR_OK;
}

enum err api_query_cursor(struct rctx *cx, const struct req *rq, const char *prefix,
                          int64_t *before)
{
    const char *v = req_query(cx, rq, "cursor");
    size_t pl = strlen(prefix);
    char *end;
    unsigned long long x;

    if (!v)
        return ERR_OK;
    if (strncmp(v, prefix, pl) != 0 || !v[pl] ||
        strspn(v + pl, "0123456789abcdef") != strlen(v + pl))
        return rctx_fail(cx, ERR_INVALID, "cursor: not a cursor from this API");
    errno = 0;
    x = strtoull(v + pl, &end, 16);
    if (errno || *end || x == 0 || x > INT64_MAX)
        return rctx_fail(cx, ERR_INVALID, "cursor: not a cursor from this API");
    *before = (int64_t)x;
    return ERR_OK;
}

const char *api_cursor(struct rctx *cx, const char *prefix, int64_t id)
{
    return rctx_printf(cx, "%s%llx", prefix, (unsigned long long)id);
}

json_t *api_json_roles(uint32_t roles)
{
    json_t *a = json_array();
    for (size_t i = 0; i < role_count(); i++)
        if (roles & role_at(i))
            json_array_append_new(a, json_string(role_name(role_at(i))));
    return a;
}

json_t *api_json_str(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *api_json_id(int64_t id)
{
    return id ? json_integer(id) : json_null();
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's days_from_civil
 * inverse). gmtime_r would take glibc's time-zone lock on every call, and a case with its
 * timeline renders some thirty times. */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    int64_t era, yy;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    yy = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static char *put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

json_t *api_json_time(int64_t ms)
{
    char buf[32], *p = buf;
    int64_t s, days, rem;
    int y;
    unsigned mo, d;

    if (!ms)
        return json_null();
    s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
    rem = s - days * 86400;
    civil_from_days(days, &y, &mo, &d);
    if (y < 0 || y > 9999)
        return json_null(); /* outside what DATETIME holds */
    p = put_digits(p, (unsigned)y, 4);
    *p++ = '-';
    p = put_digits(p, mo, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)(rem / 3600), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem / 60 % 60), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem % 60), 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)(ms - s * 1000), 3);
    *p++ = 'Z';
    return json_stringn(buf, (size_t)(p - buf));
}

enum err api_json_input_obj(struct rctx *cx, const struct req *rq, const struct api_field *fields,
                            void *out, uint64_t *present, json_t **obj)
{
    json_t *j;
    enum err res = api_json_body(cx, rq, false, &j);

    if (!res)
        res = api_json_decode(cx, j, fields, out, present);
    if (!res && obj)
        *obj = j;
    return res;
}

enum err api_json_input(struct rctx *cx, const struct req *rq, const struct api_field *fields,
                        void *out, uint64_t *present)
{
    return api_json_input_obj(cx, rq, fields, out, present, NULL);
}
