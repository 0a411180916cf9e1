/* api/api.c: the table of resource tables and JSON helpers. */
#include "api.h"

#include "server/core/roles.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <math.h>
#include <limits.h>
#include <ctype.h>
#include "api/domain/attendance.h"
#include "api/domain/audit.h"
#include "api/domain/case.h"
#include "api/domain/citytime.h"
#include "api/domain/dashboard.h"
#include "api/domain/inbox.h"
#include "api/domain/push.h"
#include "api/domain/refdata.h"
#include "api/domain/media.h"
#include "api/domain/track.h"
#include "api/domain/webhook.h"

/* One table per line (a 17th entry made clang-format pack them in columns). */
/* clang-format off */
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
    api_dashboard_routes,
    api_evaluation_routes,
    api_docs_routes,
    api_checkins_routes,
    api_shifts_routes,
    api_tracks_routes,
    api_positions_routes,
    api_announcements_routes,
    api_citizen_routes,
    api_points_routes,
    api_pois_routes,
    api_webhooks_routes,
    api_open311_routes,
    api_conversations_routes,
    api_push_routes,
    NULL,
};
/* clang-format on */

const struct api_job api_jobs[] = {
    /* case deadlines: 50 % / 80 % reminders, overdue marks, escalation (case.h) */
    {"case_deadlines", case_deadline_scan, 5000},
    /* media: expired tus uploads, orphan temp files, and the store sweep of files without a
     * row — at the first run after start-up, then hourly (media.h) */
    {"media_maintenance", media_maintenance_job, 10000},
    /* GPS: day partitions of track_points ahead, and those past gps.retention_days dropped */
    {"track_retention", track_retention_job, 10000},
    /* attendance: forgotten check-outs past gps.auto_checkout_after_min / gps.max_duty_hours
     * made automatically (attendance.h) */
    {"auto_checkout", checkin_auto_out_job, 10000},
    /* inbox and stream items past ws.retention_days (inbox.h) */
    {"inbox_retention", inbox_retention_job, 3600000},
    /* 领导通 live tiles: changed scopes' summaries to the "tiles" stream (dashboard.h) */
    {"dashboard_tiles", dashboard_tiles_job, 1000},
    /* summary audit rows of rejected bearer tokens past the per-window burst (audit.h) */
    {"auth_rejections", audit_rejections_flush, 1000},
    /* webhook delivery log rows past 30 days (webhook.h) */
    {"webhook_retention", webhook_retention_job, 3600000},
    /* push: queued pushes past push.max_age_s to dead letters, old send records (push.h) */
    {"push_maintenance", push_maintenance_job, 60000},
    /* reference data and the city's UTC offset current in every process (refdata.h) */
    {"refdata_refresh", refdata_refresh_job, 1000},
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
    case API_INT: {
        json_int_t i;
        if (!json_is_integer(v))
            return rctx_fail(cx, ERR_INVALID, "%s: expected an integer", f->name);
        i = json_integer_value(v);
        if (i < f->min || i > f->max || i < INT_MIN || i > INT_MAX)
            return rctx_fail(cx, ERR_INVALID, "%s: must be between %lld and %lld", f->name,
                             (long long)f->min, (long long)f->max);
        *(int *)dst = (int)i;
        return ERR_OK;
    }
    case API_HHMM: {
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        int m;
        if (!s || json_string_length(v) != 5 || !isdigit((unsigned char)s[0]) ||
            !isdigit((unsigned char)s[1]) || s[2] != ':' || s[3] < '0' || s[3] > '5' ||
            !isdigit((unsigned char)s[4]))
            return rctx_fail(cx, ERR_INVALID, "%s: \"HH:MM\"", f->name);
        m = ((s[0] - '0') * 10 + (s[1] - '0')) * 60 + (s[3] - '0') * 10 + (s[4] - '0');
        if (m < f->min || m > f->max)
            return rctx_fail(cx, ERR_INVALID, "%s: \"HH:MM\" from %02d:%02d to %02d:%02d", f->name,
                             (int)(f->min / 60), (int)(f->min % 60), (int)(f->max / 60),
                             (int)(f->max % 60));
        *(int *)dst = m;
        return ERR_OK;
    }
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

bool api_json_sent(const struct api_field *fields, uint64_t present, const char *name)
{
    for (size_t i = 0; fields[i].name && i < 64; i++)
        if (strcmp(fields[i].name, name) == 0)
            return (present & (1ull << i)) != 0;
    return false;
}

/* ---- encoding --------------------------------------------------------------------------- */

size_t api_json_real_text(double d, char *buf)
{
    int n = 0;
    char *e;

    /* DBL_DIG (15) digits always name the value a short decimal was parsed to; 16 or 17 only
     * when the double did not come from such a decimal. */
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, 32, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* jansson's form: no '+' and no leading zeros in an exponent, ".0" on an integral value. */
    e = strchr(buf, 'e');
    if (e) {
        char *from = e + 1, *to = e + 1;
        if (*from == '+')
            from++;
        else if (*from == '-')
            from++, to++;
        while (*from == '0' && from[1])
            from++;
        memmove(to, from, strlen(from) + 1);
        n = (int)strlen(buf);
    } else if (!strchr(buf, '.')) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = '\0';
    }
    return (size_t)n;
}

struct jbuf {
    char *p;
    size_t len, cap;
};

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p)
            abort(); /* out of memory aborts, as the pool does */
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Escapes as jansson's dump_string does without flags: '"', '\\' and control characters;
 * UTF-8 passes through. */
static void jb_string(struct jbuf *b, const char *s, size_t n)
{
    size_t run = 0;

    jb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jb_put(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            snprintf(u, sizeof u, "\\u%04X", c);
            esc = u;
        }
        jb_put(b, esc, strlen(esc));
    }
    jb_put(b, s + run, n - run);
    jb_put(b, "\"", 1);
}

static bool jb_value(struct jbuf *b, json_t *j, int depth)
{
    char num[32];
    size_t n;

    if (depth > 2048)
        return false;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *v;
        bool first = true;
        jb_put(b, "{", 1);
        /* jansson keeps insertion order; json_dumps without JSON_SORT_KEYS prints in it. */
        json_object_foreach(j, key, v)
        {
            if (!first)
                jb_put(b, ",", 1);
            first = false;
            jb_string(b, key, strlen(key));
            jb_put(b, ":", 1);
            if (!jb_value(b, v, depth + 1))
                return false;
        }
        jb_put(b, "}", 1);
        return true;
    }
    case JSON_ARRAY:
        jb_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                jb_put(b, ",", 1);
            if (!jb_value(b, json_array_get(j, i), depth + 1))
                return false;
        }
        jb_put(b, "]", 1);
        return true;
    case JSON_STRING:
        jb_string(b, json_string_value(j), json_string_length(j));
        return true;
    case JSON_INTEGER:
        n = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        jb_put(b, num, n);
        return true;
    case JSON_REAL: {
        double d = json_real_value(j);
        if (!isfinite(d))
            return false;
        n = api_json_real_text(d, num);
        jb_put(b, num, n);
        return true;
    }
    case JSON_TRUE:
        jb_put(b, "true", 4);
        return true;
    case JSON_FALSE:
        jb_put(b, "false", 5);
        return true;
    case JSON_NULL:
        jb_put(b, "null", 4);
        return true;
    }
    return false;
}

enum err api_json_text(struct rctx *cx, json_t *j, const char **out, size_t *len)
{
    struct jbuf b = {0};

    if (!j || !jb_value(&b, j, 0)) {
        free(b.p);
        return rctx_fail(cx, ERR_INTERNAL, "JSON value not encodable");
    }
    rctx_defer(cx, free, b.p);
    *out = b.p;
    *len = b.len;
    return ERR_OK;
}

enum err api_json_decode_value(struct rctx *cx, const struct api_field *f, json_t *v, void *dst)
{
    struct api_field g = *f;

    g.offset = 0;
    return decode_one(cx, &g, v, dst);
}

/* Bytes a NULL / 0 value takes for a type, for API_NULL_CLEARS. */
static size_t type_size(enum api_ftype t)
{
    switch (t) {
    case API_STR:
        return sizeof(char *);
    case API_I64:
        return sizeof(int64_t);
    case API_F64:
        return sizeof(double);
    case API_BOOL:
        return sizeof(bool);
    case API_I64S:
        return sizeof(struct api_i64s);
    case API_JSON:
        return sizeof(json_t *);
    case API_INT:
    case API_HHMM:
        return sizeof(int);
    }
    return 0;
}

enum err api_json_patch(struct rctx *cx, json_t *obj, const struct api_patch_field *fields,
                        void *out, bool nothing_ok)
{
    const char *key;
    json_t *v;
    size_t nsent = 0;
    enum err res;

    json_object_foreach(obj, key, v)
    {
        const struct api_patch_field *pf;
        for (pf = fields; pf->name; pf++)
            if (strcmp(pf->name, key) == 0)
                break;
        if (!pf->name)
            return rctx_fail(cx, ERR_INVALID, "field \"%.64s\" is not accepted here", key);
        if (json_is_null(v)) {
            if (pf->null == API_NULL_ABSENT)
                continue;
            if (pf->null == API_NULL_REFUSED)
                return rctx_fail(cx, ERR_INVALID, "%s: may not be null", pf->name);
            if (!pf->decode)
                memset((char *)out + pf->offset, 0, type_size(pf->type));
        } else if (pf->decode) {
            res = pf->decode(cx, pf->name, v, out);
            if (res)
                return res;
        } else {
            const struct api_field f = {pf->name,    pf->type, false,  pf->offset,
                                        pf->max_len, pf->min,  pf->max};
            res = decode_one(cx, &f, v, out);
            if (res)
                return res;
        }
        *(bool *)((char *)out + pf->sent) = true;
        nsent++;
    }
    if (!nsent && !nothing_ok)
        return rctx_fail(cx, ERR_INVALID, "nothing to change");
    return ERR_OK;
}

enum err api_json_patch_input(struct rctx *cx, const struct req *rq,
                              const struct api_patch_field *fields, void *out, bool nothing_ok)
{
    json_t *j;
    enum err res = api_json_body(cx, rq, false, &j);

    if (!res)
        res = api_json_patch(cx, j, fields, out, nothing_ok);
    return res;
}

enum err api_json_reply(struct rctx *cx, struct resp *rs, int status, json_t *j)
{
    const char *s;
    size_t n;
    enum err res;

    if (!j)
        return rctx_fail(cx, ERR_INTERNAL, "out of memory");
    api_json_own(cx, j);
    res = api_json_text(cx, j, &s, &n);
    if (res)
        return res;
    return resp_body(rs, status, "application/json; charset=utf-8", s, n);
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

/* The idempotency_keys.route column holds 128 characters; routes are far shorter. */
#define IDEM_ROUTE_MAX 128

enum err api_idem_body(struct rctx *cx, const struct req *rq, int status, const void *body,
                       size_t len, struct idem *out)
{
    const char *key, *route;
    enum err res = api_idempotency_key(cx, rq, &key);

    if (res)
        return res;
    route =
        rctx_printf(cx, "%.*s %.*s", (int)rq->method_len, rq->method, (int)rq->path_len, rq->path);
    if (strlen(route) > IDEM_ROUTE_MAX)
        route = rctx_strndup(cx, route, IDEM_ROUTE_MAX);
    idem_init(out, key, route, status, body, len);
    return ERR_OK;
}

enum err api_idem(struct rctx *cx, const struct req *rq, int status, struct idem *out)
{
    return api_idem_body(cx, rq, status, rq->body, rq->body_len, out);
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

enum err api_query_bbox(struct rctx *cx, const struct req *rq, double b[4], bool *has)
{
    const char *v = req_query(cx, rq, "bbox"), *p = v;

    if (!v)
        return ERR_OK;
    for (int i = 0; i < 4; i++) {
        char *e;
        b[i] = strtod(p, &e);
        if (e == p || isspace((unsigned char)*p) || *e != (i < 3 ? ',' : '\0') || !isfinite(b[i]))
            return rctx_fail(cx, ERR_INVALID, "bbox: min_lng,min_lat,max_lng,max_lat");
        p = e + 1;
    }
    if (!(b[0] >= -180 && b[2] <= 180 && b[1] >= -90 && b[3] <= 90 && b[0] <= b[2] && b[1] <= b[3]))
        return rctx_fail(cx, ERR_INVALID,
                         "bbox: longitudes within -180..180, latitudes within -90..90, min not "
                         "above max");
    *has = true;
    return ERR_OK;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
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
    /* sscanf alone would take signs and spaces inside the fields ("2026-+2-01"). */
    for (int i = 0; i < 19; i++) {
        char c = v[i];
        bool digit = c >= '0' && c <= '9';
        if (i == 4 || i == 7     ? c != '-'
            : i == 10            ? c != 'T'
            : i == 13 || i == 16 ? c != ':'
                                 : !digit)
            return rctx_fail(cx, ERR_INVALID, "%s: expected an RFC 3339 time%s", name,
                             allow_ms ? " or ms" : "");
    }
    if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || y < 1970 ||
        mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
        return rctx_fail(cx, ERR_INVALID, "%s: expected an RFC 3339 time%s", name,
                         allow_ms ? " or ms" : "");
    /* timegm would roll 2026-02-31 into March: a date that does not exist is refused. */
    if (d > days_in_month(y, mo))
        return rctx_fail(cx, ERR_INVALID, "%s: %04d-%02d has no day %d", name, y, mo, d);
    p = v + n;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' &&
        strspn(p + 1, "0123456789") == 2 && strspn(p + 4, "0123456789") == 2 &&
        sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 && oh <= 23 && om <= 59) {
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
    int64_t s, days, rem, y;
    unsigned mo, d;

    if (!ms)
        return json_null();
    s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
    rem = s - days * 86400;
    /* citytime's arithmetic, not gmtime_r: that takes glibc's time-zone lock on every call,
     * and a case with its timeline renders some thirty times. */
    citytime_date_of_day(days, &y, &mo, &d);
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
