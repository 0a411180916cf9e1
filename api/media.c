/* api/media.c: /api/v1/media — upload one photo or voice clip, read its record, serve its
 * bytes (ETag, conditional requests, Range). Handlers only: decode, call the domain
 * (api/domain/media.h), encode. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "api/domain/media.h"
#include "server/core/log.h"
#include "server/core/roles.h"

/* Served bytes never change under an id (content-addressed), but they are personal. */
#define MEDIA_CACHE_CONTROL "private, max-age=31536000, immutable"

/* ---- multipart/form-data ------------------------------------------------------------------ */

/* Case-insensitive search for a parameter name in a header value; the value after '='
 * (quotes removed) is copied into the pool. */
static const char *header_param(struct rctx *cx, const char *v, size_t n, const char *name)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i + nl + 1 <= n; i++) {
        size_t j, e;
        if (strncasecmp(v + i, name, nl) != 0 || v[i + nl] != '=' ||
            (i > 0 && v[i - 1] != ';' && v[i - 1] != ' '))
            continue;
        j = i + nl + 1;
        if (j < n && v[j] == '"') {
            j++;
            for (e = j; e < n && v[e] != '"'; e++)
                ;
        } else {
            for (e = j; e < n && v[e] != ';' && v[e] != ' '; e++)
                ;
        }
        return rctx_strndup(cx, v + j, e - j);
    }
    return NULL;
}

/* The first file part of a multipart/form-data body: a pointer into the body, no copy. */
static enum err multipart_file(struct rctx *cx, const struct req *rq, const char *ctype,
                               size_t ctype_len, const char **data, size_t *len)
{
    const char *boundary = header_param(cx, ctype, ctype_len, "boundary");
    const char *p = rq->body, *end = rq->body + rq->body_len;
    char *delim;
    size_t bl, dl;

    if (!boundary || !boundary[0] || strlen(boundary) > 200)
        return rctx_fail(cx, ERR_INVALID, "multipart: a boundary of 1 to 200 characters");
    bl = strlen(boundary);
    delim = rctx_printf(cx, "\r\n--%s", boundary);
    dl = bl + 4;
    /* The first delimiter may come without its CRLF, at the very start. */
    if ((size_t)(end - p) >= dl - 2 && memcmp(p, delim + 2, dl - 2) == 0) {
        p += dl - 2;
    } else {
        const char *d = memmem(p, (size_t)(end - p), delim, dl);
        if (!d)
            return rctx_fail(cx, ERR_INVALID, "multipart: no part found");
        p = d + dl;
    }
    for (;;) {
        const char *hend, *next, *disp;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            break; /* the closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return rctx_fail(cx, ERR_INVALID, "multipart: malformed delimiter");
        p += 2;
        hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend)
            return rctx_fail(cx, ERR_INVALID, "multipart: part headers do not end");
        next = memmem(hend + 4, (size_t)(end - hend - 4), delim, dl);
        if (!next)
            return rctx_fail(cx, ERR_INVALID, "multipart: the part does not end");
        disp = memmem(p, (size_t)(hend - p), "filename=", 9);
        if (!disp)
            disp = memmem(p, (size_t)(hend - p), "name=\"file\"", 11);
        if (disp) {
            *data = hend + 4;
            *len = (size_t)(next - hend - 4);
            return ERR_OK;
        }
        p = next + dl;
    }
    return rctx_fail(cx, ERR_INVALID, "multipart: no file part (a part with a filename)");
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static json_t *media_json(struct rctx *cx, const struct media_rec *m)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "id", m->public_id, "kind",
                          m->image ? "image" : "voice", "mime", m->mime, "bytes",
                          (json_int_t)m->bytes, "created_ms", (json_int_t)m->created_ms, "url",
                          rctx_printf(cx, "/api/v1/media/%s", m->public_id));
    if (m->image) {
        json_object_set_new(j, "width", json_integer(m->width));
        json_object_set_new(j, "height", json_integer(m->height));
        json_object_set_new(j, "variants", json_pack("[s,s,s]", "original", "display", "thumb"));
    } else {
        json_object_set_new(j, "duration_ms", json_integer(m->duration_ms));
        json_object_set_new(j, "variants", json_pack("[s]", "original"));
    }
    /* Capture time and place are evidence for staff; a citizen's location stays private. */
    if (media_may_see_evidence(cx)) {
        json_object_set_new(j, "taken_at", m->taken_at ? json_string(m->taken_at) : json_null());
        json_object_set_new(j, "lat", m->has_gps ? json_real(m->lat) : json_null());
        json_object_set_new(j, "lng", m->has_gps ? json_real(m->lng) : json_null());
    }
    return j;
}

/* ---- handlers ------------------------------------------------------------------------------ */

static enum err media_upload(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    const char *data = rq->body;
    size_t len = rq->body_len, ctl = 0;
    const char *ctype = req_header(rq, "content-type", &ctl);
    struct media_rec m;
    struct idem idem;
    bool created;
    enum err res;

    /* The Content-Type only says how the body is wrapped; what the file is, its bytes say. */
    if (ctype && ctl >= 19 && strncasecmp(ctype, "multipart/form-data", 19) == 0) {
        res = multipart_file(cx, rq, ctype, ctl, &data, &len);
        if (res)
            return res;
    }
    /* The key covers the file, not its multipart wrapping (a retry may pick a new boundary). */
    res = api_idem_body(cx, rq, 201, data, len, &idem);
    if (!res)
        res = media_ingest(cx, data, len, &idem, &m, &created);
    if (res)
        return res;
    resp_header(cx, rs, "location", rctx_printf(cx, "/api/v1/media/%s", m.public_id));
    return api_json_reply(cx, rs, created ? 201 : 200, media_json(cx, &m));
}

static enum err media_info(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct media_rec m;
    enum err res = media_get(cx, req_param(cx, rq, "ref"), &m);

    if (res)
        return res;
    return api_json_reply(cx, rs, 200, media_json(cx, &m));
}

/* Does an If-None-Match list name etag? (Weak comparison, as RFC 9110 asks for it.) */
static bool etag_listed(const char *v, size_t n, const char *etag)
{
    size_t el = strlen(etag);

    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == ','))
            i++;
        if (i < n && v[i] == '*')
            return true;
        if (i + 2 <= n && v[i] == 'W' && v[i + 1] == '/')
            i += 2;
        if (i + el <= n && memcmp(v + i, etag, el) == 0 &&
            (i + el == n || v[i + el] == ',' || v[i + el] == ' '))
            return true;
        while (i < n && v[i] != ',')
            i++;
    }
    return false;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* A single "bytes=a-b", "bytes=a-" or "bytes=-n" range against size. *use false means serve
 * the whole file (other units, several ranges: RFC 9110 lets a server ignore those).
 * ERR_RANGE when it cannot be satisfied or is malformed. */
static enum err parse_range(struct rctx *cx, const char *v, size_t n, uint64_t size, bool *use,
                            uint64_t *from, uint64_t *to)
{
    const char *dash;
    uint64_t a, b;

    *use = false;
    if (n < 6 || strncasecmp(v, "bytes=", 6) != 0)
        return ERR_OK;
    v += 6;
    n -= 6;
    if (memchr(v, ',', n))
        return ERR_OK;
    dash = memchr(v, '-', n);
    if (!dash)
        return rctx_fail(cx, ERR_RANGE, "Range: malformed");
    if (dash == v) {
        if (!parse_u64(v + 1, n - 1, &b) || b == 0 || size == 0)
            return rctx_fail(cx, ERR_RANGE, "Range: not satisfiable (size %llu)",
                             (unsigned long long)size);
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
    } else {
        if (!parse_u64(v, (size_t)(dash - v), &a))
            return rctx_fail(cx, ERR_RANGE, "Range: malformed");
        if (dash + 1 == v + n)
            b = size ? size - 1 : 0;
        else if (!parse_u64(dash + 1, (size_t)(v + n - dash - 1), &b) || b < a)
            return rctx_fail(cx, ERR_RANGE, "Range: malformed");
        if (a >= size)
            return rctx_fail(cx, ERR_RANGE, "Range: starts past the end (size %llu)",
                             (unsigned long long)size);
        *from = a;
        *to = b >= size ? size - 1 : b;
    }
    *use = true;
    return ERR_OK;
}

static enum err media_serve(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct media_rec m;
    enum media_variant v;
    const char *sha, *mime, *hv, *etag;
    uint64_t size, from = 0, to = 0;
    size_t hl = 0;
    bool ranged = false;
    int status = 200, fd = -1;
    enum err res;

    res = media_get(cx, req_param(cx, rq, "ref"), &m);
    if (!res)
        res = media_variant_parse(cx, &m, req_query(cx, rq, "variant"), &v);
    if (!res)
        res = media_open(cx, &m, v, &fd, &size, &sha, &mime);
    if (res)
        return res;
    etag = rctx_printf(cx, "\"%s\"", sha);
    resp_header(cx, rs, "etag", etag);
    resp_header(cx, rs, "cache-control", MEDIA_CACHE_CONTROL);
    resp_header(cx, rs, "accept-ranges", "bytes");
    resp_header(cx, rs, "x-content-type-options", "nosniff");
    hv = req_header(rq, "if-none-match", &hl);
    if (hv && etag_listed(hv, hl, etag)) {
        close(fd);
        return resp_empty(rs, 304);
    }
    hv = req_header(rq, "range", &hl);
    if (hv) {
        size_t il = 0;
        const char *ir = req_header(rq, "if-range", &il);
        /* If-Range with another validator: the client's partial copy is stale, send it all. */
        if (!ir || (il == strlen(etag) && memcmp(ir, etag, il) == 0))
            res = parse_range(cx, hv, hl, size, &ranged, &from, &to);
        if (res == ERR_RANGE) /* RFC 9110: a 416 names the current length */
            resp_header(cx, rs, "content-range",
                        rctx_printf(cx, "bytes */%llu", (unsigned long long)size));
    }
    if (res) {
        close(fd);
        return res;
    }
    if (ranged) {
        status = 206;
        resp_header(cx, rs, "content-range",
                    rctx_printf(cx, "bytes %llu-%llu/%llu", (unsigned long long)from,
                                (unsigned long long)to, (unsigned long long)size));
    } else {
        to = size ? size - 1 : 0;
    }
    /* Sent from the file as the client reads (issue 17 item 2): never read whole into memory,
     * however many ask for a large original at once. server/http closes fd. */
    return resp_file(rs, status, mime, fd, from, size ? to - from + 1 : 0);
}

/* clang-format off */
const struct route api_media_routes[] = {
    /* method  path                          handler       roles      body limit      flags                          timeout */
    {"POST", "/api/v1/media",                media_upload, ROLE_USER, MEDIA_BODY_MAX, ROUTE_MEDIA | ROUTE_RAW_BODY, 60000, NULL, NULL},
    {"GET",  "/api/v1/media/{ref}",          media_serve,  ROLE_USER, 0,              0,                             0, NULL, NULL},
    {"GET",  "/api/v1/media/{ref}/info",     media_info,   ROLE_USER, 0,              0,                             0, NULL, NULL},
    {0},
};
/* clang-format on */
