/* api/uploads.c: /api/v1/uploads — resumable uploads by the tus 1.0.0 protocol (core,
 * creation, creation-with-upload, termination, checksum and expiration extensions), so stock
 * tus clients for
 * Android, iOS and JavaScript work unchanged. The finished upload becomes a medium whose id
 * is returned in the Cityd-Media-Id header. Handlers only: the rules are in
 * api/domain/media.h (upload_*). */
#include "api.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include "api/domain/media.h"
#include "server/core/log.h"
#include "server/core/roles.h"

#define TUS_VERSION "1.0.0"
#define TUS_EXTENSIONS "creation,creation-with-upload,termination,checksum,expiration"
#define TUS_CHECKSUMS "sha1,sha256"
#define TUS_CHUNK_TYPE "application/offset+octet-stream"

static void tus_headers(struct rctx *cx, struct resp *rs)
{
    resp_header(cx, rs, "tus-resumable", TUS_VERSION);
    /* Offsets change under the same URL: no cache may answer a HEAD. */
    resp_header(cx, rs, "cache-control", "no-store");
}

/* Every request but OPTIONS must name the protocol version it speaks. Every answer, errors
 * included, carries Tus-Resumable; a 412 also lists the versions we speak (tus 1.0.0). */
static enum err tus_version(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    size_t n = 0;
    const char *v = req_header(rq, "tus-resumable", &n);

    tus_headers(cx, rs);
    if (!v || n != strlen(TUS_VERSION) || memcmp(v, TUS_VERSION, n) != 0) {
        resp_header(cx, rs, "tus-version", TUS_VERSION);
        return rctx_fail(cx, ERR_PRECOND, "Tus-Resumable: this server speaks tus " TUS_VERSION);
    }
    return ERR_OK;
}

/* A non-negative decimal header value. */
static enum err header_i64(struct rctx *cx, const struct req *rq, const char *name,
                           const char *label, int64_t *out)
{
    size_t n = 0;
    const char *v = req_header(rq, name, &n);
    int64_t x = 0;

    if (!v)
        return rctx_fail(cx, ERR_INVALID, "%s: required", label);
    if (n == 0 || n > 15)
        return rctx_fail(cx, ERR_INVALID, "%s: a non-negative integer", label);
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return rctx_fail(cx, ERR_INVALID, "%s: a non-negative integer", label);
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return ERR_OK;
}

/* Upload-Metadata: comma-separated "key[ base64value]". Only its syntax is checked: the type
 * of the file comes from its bytes, never from a client's filetype. */
static enum err check_metadata(struct rctx *cx, const struct req *rq)
{
    size_t n = 0;
    const char *v = req_header(rq, "upload-metadata", &n);

    for (size_t i = 0; v && i < n;) {
        size_t k = i;
        while (k < n && v[k] != ' ' && v[k] != ',')
            k++;
        if (k == i)
            return rctx_fail(cx, ERR_INVALID, "Upload-Metadata: empty key");
        if (k < n && v[k] == ' ') {
            for (k++; k < n && v[k] != ','; k++) {
                char c = v[k];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '+' || c == '/' || c == '='))
                    return rctx_fail(cx, ERR_INVALID, "Upload-Metadata: values are base64");
            }
        }
        i = k + 1;
    }
    return ERR_OK;
}

static const char *http_date(struct rctx *cx, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[40];

    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return rctx_strdup(cx, buf);
}

static void upload_headers(struct rctx *cx, struct resp *rs, const struct upload_rec *u)
{
    resp_header(cx, rs, "upload-offset", rctx_printf(cx, "%lld", (long long)u->offset));
    if (u->media_public_id)
        resp_header(cx, rs, "cityd-media-id", u->media_public_id);
    else
        resp_header(cx, rs, "upload-expires", http_date(cx, u->expires_ms));
}

static enum err tus_options(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    resp_header(cx, rs, "tus-resumable", TUS_VERSION);
    resp_header(cx, rs, "tus-version", TUS_VERSION);
    resp_header(cx, rs, "tus-extension", TUS_EXTENSIONS);
    resp_header(cx, rs, "tus-checksum-algorithm", TUS_CHECKSUMS);
    resp_header(cx, rs, "tus-max-size", rctx_printf(cx, "%lld", (long long)upload_max_length()));
    return resp_empty(rs, 204);
}

/* A chunk must come as application/offset+octet-stream. */
static enum err chunk_type(struct rctx *cx, const struct req *rq, const char *what)
{
    size_t n = 0;
    const char *ctype = req_header(rq, "content-type", &n);

    if (!ctype || n != strlen(TUS_CHUNK_TYPE) || strncasecmp(ctype, TUS_CHUNK_TYPE, n) != 0)
        return rctx_fail(cx, ERR_MEDIATYPE, "%s a chunk as Content-Type: " TUS_CHUNK_TYPE, what);
    return ERR_OK;
}

/* The Upload-Checksum header as a string, or NULL. */
static const char *chunk_checksum(struct rctx *cx, const struct req *rq)
{
    size_t n = 0;
    const char *ck = req_header(rq, "upload-checksum", &n);
    return ck ? rctx_strndup(cx, ck, n) : NULL;
}

/* Creation, and with a body also the first chunk (creation-with-upload: one round trip less
 * on a weak network). A refused first chunk (checksum, type, size) removes the new upload
 * again. A retry with the same Idempotency-Key finds the upload; its chunk is stored only if
 * nothing was stored yet, so the client goes on from the Upload-Offset. */
static enum err tus_create(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct upload_rec u;
    const char *key, *pid;
    int64_t length;
    bool created;
    enum err res;

    res = tus_version(cx, rq, rs);
    if (!res && req_header(rq, "upload-defer-length", NULL))
        res =
            rctx_fail(cx, ERR_INVALID, "Upload-Defer-Length is not supported: send Upload-Length");
    if (!res)
        res = header_i64(cx, rq, "upload-length", "Upload-Length", &length);
    if (!res)
        res = check_metadata(cx, rq);
    if (!res && rq->body_len)
        res = chunk_type(cx, rq, "POST");
    if (!res && (int64_t)rq->body_len > length)
        res = rctx_fail(cx, ERR_INVALID, "the first chunk is longer than Upload-Length");
    if (!res)
        res = api_idempotency_key(cx, rq, &key);
    if (!res)
        res = upload_create(cx, length, key, &u, &created);
    if (res)
        return res;
    pid = rctx_strdup(cx, u.public_id);
    if (rq->body_len && u.offset == 0 && !u.media_public_id) {
        res = upload_append(cx, pid, 0, rq->body, rq->body_len, chunk_checksum(cx, rq), &u);
        if (res && created) {
            /* A refused first chunk of a new upload leaves nothing behind: the client starts
             * over. A bad file has ended the upload already. */
            if (upload_delete(cx, pid) != ERR_OK)
                log_debug(cx, "first chunk refused; upload %s already gone", pid);
            return res;
        }
    }
    resp_header(cx, rs, "location", rctx_printf(cx, "/api/v1/uploads/%s", pid));
    if (res)
        return res;
    upload_headers(cx, rs, &u);
    return resp_empty(rs, 201);
}

static enum err tus_head(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct upload_rec u;
    enum err res = tus_version(cx, rq, rs);

    if (!res)
        res = upload_get(cx, req_param(cx, rq, "ref"), &u);
    if (res)
        return res;
    resp_header(cx, rs, "upload-length", rctx_printf(cx, "%lld", (long long)u.length));
    upload_headers(cx, rs, &u);
    return resp_empty(rs, 200);
}

static enum err tus_patch(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct upload_rec u;
    int64_t offset;
    enum err res = tus_version(cx, rq, rs);

    if (res)
        return res;
    res = chunk_type(cx, rq, "PATCH");
    if (!res)
        res = header_i64(cx, rq, "upload-offset", "Upload-Offset", &offset);
    if (res)
        return res;
    res = upload_append(cx, req_param(cx, rq, "ref"), offset, rq->body, rq->body_len,
                        chunk_checksum(cx, rq), &u);
    if (res)
        return res;
    upload_headers(cx, rs, &u);
    return resp_empty(rs, 204);
}

static enum err tus_delete(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    enum err res = tus_version(cx, rq, rs);

    if (!res)
        res = upload_delete(cx, req_param(cx, rq, "ref"));
    if (res)
        return res;
    return resp_empty(rs, 204);
}

/* clang-format off */
const struct route api_uploads_routes[] = {
    /* method     path                       handler      roles        body limit      flags                          timeout batch */
    {"OPTIONS", "/api/v1/uploads",           tus_options, ROLE_PUBLIC, 0,              ROUTE_LOOP,                    0, NULL, NULL},
    {"POST",    "/api/v1/uploads",           tus_create,  ROLE_USER,   MEDIA_BODY_MAX, ROUTE_MEDIA | ROUTE_RAW_BODY, 60000, NULL, NULL},
    {"HEAD",    "/api/v1/uploads/{ref}",     tus_head,    ROLE_USER,   0,              0,                             0, NULL, NULL},
    {"PATCH",   "/api/v1/uploads/{ref}",     tus_patch,   ROLE_USER,   MEDIA_BODY_MAX, ROUTE_MEDIA | ROUTE_RAW_BODY, 60000, NULL, NULL},
    {"DELETE",  "/api/v1/uploads/{ref}",     tus_delete,  ROLE_USER,   0,              0,                             0, NULL, NULL},
    {0},
};
/* clang-format on */
