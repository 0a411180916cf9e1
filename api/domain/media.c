/* api/domain/media.c: ingesting one uploaded file, reading media rows, access. See media.h. */
#include "media.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "api/domain/case.h"
#include "api/domain/citytime.h"
#include "api/domain/conversation.h"
#include "api/domain/idempotency.h"
#include "api/domain/media_svc.h"
#include "api/domain/refdata.h"
#include "media/image.h"
#include "media/sniff.h"
#include "media/store.h"
#include "server/core/crashpoint.h"
#include "server/core/ids.h"
#include "server/core/log.h"
#include "server/core/roles.h"
#include "server/db/db.h"

#define MEDIA_COLS                                                                                 \
    "m.id, m.public_id, m.kind, m.mime, m.bytes, m.sha_original, m.sha_display, m.sha_thumb,"      \
    " m.width, m.height, m.duration_ms, m.taken_at, m.gps_lat, m.gps_lng, m.owner_id,"             \
    " CAST(UNIX_TIMESTAMP(m.created_at) * 1000 AS SIGNED)"

static void row_to_rec(const struct db_res *r, size_t i, struct media_rec *m)
{
    memset(m, 0, sizeof *m);
    m->id = db_cell_i64(r, i, 0);
    snprintf(m->public_id, sizeof m->public_id, "%s", db_cell(r, i, 1) ? db_cell(r, i, 1) : "");
    m->image = db_cell(r, i, 2) && strcmp(db_cell(r, i, 2), "image") == 0;
    m->mime = db_cell(r, i, 3);
    m->bytes = db_cell_i64(r, i, 4);
    m->sha_original = db_cell(r, i, 5);
    m->sha_display = db_cell(r, i, 6);
    m->sha_thumb = db_cell(r, i, 7);
    m->width = (int)db_cell_i64(r, i, 8);
    m->height = (int)db_cell_i64(r, i, 9);
    m->duration_ms = db_cell_i64(r, i, 10);
    m->taken_at = db_cell(r, i, 11);
    m->has_gps = !db_cell_null(r, i, 12) && !db_cell_null(r, i, 13);
    m->lat = db_cell_f64(r, i, 12);
    m->lng = db_cell_f64(r, i, 13);
    m->owner_id = db_cell_i64(r, i, 14);
    m->created_ms = db_cell_i64(r, i, 15);
}

enum err media__load_id(struct rctx *cx, int64_t id, struct media_rec *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT " MEDIA_COLS " FROM media m WHERE m.id = ?", DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such media");
    row_to_rec(&r, 0, out);
    return ERR_OK;
}

/* The caller's row for these bytes, if any. */
static enum err find_same(struct rctx *cx, const char *upload_sha, struct media_rec *out,
                          bool *found)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT " MEDIA_COLS " FROM media m WHERE m.owner_id = ? AND"
                           " m.upload_sha = ?",
                           DB_ARGS(DBI(cx->who.user_id), DBS(upload_sha)), &r);
    if (res)
        return res;
    *found = r.nrows > 0;
    if (*found)
        row_to_rec(&r, 0, out);
    return ERR_OK;
}

enum err media__limit_for(struct rctx *cx, const void *buf, size_t len, int64_t *limit, bool *image)
{
    enum media_type t = media_sniff(buf, len);
    const struct media_limits *l = media_svc_limits();

    if (media_type_is_image(t)) {
        *image = true;
        *limit = l->max_image_bytes;
        return ERR_OK;
    }
    if (media_type_is_voice(t)) {
        *image = false;
        *limit = l->max_voice_bytes;
        return ERR_OK;
    }
    return rctx_fail(cx, ERR_MEDIATYPE,
                     "unsupported file type: send a JPEG, PNG, WebP or HEIC photo, or an AMR, "
                     "M4A, Ogg or MP3 voice clip");
}

static enum err put(struct rctx *cx, const void *buf, size_t len, char *sha)
{
    return media_store_put(media_svc_store(), cx, buf, len, sha);
}

/* The evidence line of media.watermark: when the server received the photo, in the city's local
 * time (case_settings.utc_offset_min). The display
 * rendition is shown to everyone who may see the photo's case, citizens included, so it carries
 * nothing the JSON hides from them: not the camera's time or GPS position, not the uploader's
 * name (those stay in the media row, for staff: media_may_see_evidence). Pool memory; NULL
 * when off. */
static enum err watermark_text(struct rctx *cx, const char **out)
{
    struct citytime_civil t;
    int64_t off_ms;
    enum err res;

    *out = NULL;
    if (!media_svc_limits()->watermark)
        return ERR_OK;
    res = refdata_utc_offset(cx, &off_ms);
    if (res)
        return res;
    citytime_civil(cx->now_ms, off_ms, &t);
    *out = rctx_printf(cx, "%04d-%02d-%02d %02d:%02d:%02d", t.year, t.month, t.day, t.hour,
                       t.minute, t.second);
    return ERR_OK;
}

/* Decode and store a photo's three renditions; fills the row fields of m. */
static enum err store_image(struct rctx *cx, const void *buf, size_t len, struct media_rec *m)
{
    struct media_image_opts opts = {0};
    struct media_image_out out = {0};
    char *sha_o = rctx_alloc(cx, MEDIA_SHA_HEX), *sha_d = rctx_alloc(cx, MEDIA_SHA_HEX),
         *sha_t = rctx_alloc(cx, MEDIA_SHA_HEX);
    enum err res;

    opts.max_pixels = (uint64_t)media_svc_limits()->max_pixels;
    opts.format = MEDIA_OUT_JPEG;
    res = watermark_text(cx, &opts.watermark);
    if (res)
        return res;
    res = media_image_process(cx, buf, len, &opts, &out);
    if (res)
        return res;
    res = put(cx, out.original.data, out.original.len, sha_o);
    if (!res)
        res = put(cx, out.display.data, out.display.len, sha_d);
    if (!res)
        res = put(cx, out.thumb.data, out.thumb.len, sha_t);
    if (res)
        goto out;
    m->image = true;
    m->mime = media_type_mime(out.type);
    m->sha_original = sha_o;
    m->sha_display = sha_d;
    m->sha_thumb = sha_t;
    m->width = out.original.width;
    m->height = out.original.height;
    if (out.info.has_time)
        m->taken_at = rctx_strdup(cx, out.info.taken_at);
    m->has_gps = out.info.has_gps;
    m->lat = out.info.lat;
    m->lng = out.info.lng;
out:
    media_image_out_dispose(&out);
    return res;
}

/* A voice clip is stored as uploaded less its container metadata (media_voice_strip: device,
 * encoder, titles, location): check it, measure it, strip it. */
static enum err store_voice(struct rctx *cx, const void *buf, size_t len, struct media_rec *m)
{
    struct media_voice_info vi;
    char *sha = rctx_alloc(cx, MEDIA_SHA_HEX);
    uint8_t *clean;
    enum err res = media_voice_probe(cx, buf, len, &vi);

    if (res)
        return res;
    clean = rctx_alloc(cx, len ? len : 1);
    memcpy(clean, buf, len);
    len = media_voice_strip(clean, len, vi.type);
    res = put(cx, clean, len, sha);
    if (res)
        return res;
    m->image = false;
    m->mime = media_type_mime(vi.type);
    m->sha_original = sha;
    m->duration_ms = vi.duration_ms;
    return ERR_OK;
}

/* Per-user quotas (issue 17 item 2), checked before any decoding: the bytes a user has
 * stored (413) and the media a user made in the last hour (429). One indexed read. */
static enum err check_quota(struct rctx *cx, size_t len)
{
    const struct media_limits *l = media_svc_limits();
    struct db_res r;
    long long stored, recent;
    enum err res;

    if (l->quota_bytes <= 0 && l->uploads_per_hour <= 0)
        return ERR_OK;
    res = db_exec(cx,
                  "SELECT COALESCE(SUM(bytes), 0),"
                  " COALESCE(SUM(created_at > NOW(3) - INTERVAL 1 HOUR), 0)"
                  " FROM media WHERE owner_id = ?",
                  DB_ARGS(DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    stored = r.nrows ? strtoll(r.cells[0], NULL, 10) : 0;
    recent = r.nrows ? strtoll(r.cells[1], NULL, 10) : 0;
    if (l->uploads_per_hour > 0 && recent >= l->uploads_per_hour)
        return rctx_fail(cx, ERR_RATELIMIT, "upload quota: at most %d new media per hour",
                         l->uploads_per_hour);
    if (l->quota_bytes > 0 && stored + (long long)len > l->quota_bytes)
        return rctx_fail(cx, ERR_TOOBIG, "storage quota: %lld of %lld bytes used", stored,
                         (long long)l->quota_bytes);
    return ERR_OK;
}

enum err media__store_row(struct rctx *cx, const void *buf, size_t len, const char *upload_sha,
                          struct media_rec *out, bool *created)
{
    struct media_rec m;
    struct db_res r;
    bool found;
    enum err res;

    res = find_same(cx, upload_sha, out, &found);
    if (res || found) {
        *created = false;
        return res;
    }
    res = check_quota(cx, len);
    if (res)
        return res;
    memset(&m, 0, sizeof m);
    res = media_type_is_image(media_sniff(buf, len)) ? store_image(cx, buf, len, &m)
                                                     : store_voice(cx, buf, len, &m);
    if (res)
        return res;
    /* The files are durable now; only then may a row point at them. */
    crashpoint_hit("media_before_commit"); /* test-only (testing.crash_at) */
    ids_token(m.public_id, MEDIA_PUBLIC_ID_LEN);
    res = db_exec(cx,
                  "INSERT INTO media (public_id, kind, mime, bytes, sha_original, sha_display,"
                  " sha_thumb, upload_sha, width, height, duration_ms, taken_at, gps_lat,"
                  " gps_lng, owner_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
                  " FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBS(m.public_id), DBS(m.image ? "image" : "voice"), DBS(m.mime),
                          DBI((int64_t)len), DBS(m.sha_original), DBS(m.sha_display),
                          DBS(m.sha_thumb), DBS(upload_sha), m.image ? DBI(m.width) : DBNULL,
                          m.image ? DBI(m.height) : DBNULL, m.image ? DBNULL : DBI(m.duration_ms),
                          DBS(m.taken_at), m.has_gps ? DBF(m.lat) : DBNULL,
                          m.has_gps ? DBF(m.lng) : DBNULL, DBI(cx->who.user_id), DBI(cx->now_ms)),
                  &r);
    if (res == ERR_CONFLICT) {
        /* The same bytes raced in through another request (the unique key waited for it to
         * commit): that row is the answer. Our files are the same content, so nothing is
         * left over. */
        res = find_same(cx, upload_sha, out, &found);
        if (!res && !found)
            res = rctx_fail(cx, ERR_BUSY, "media: a concurrent upload is in progress; retry");
        *created = false;
        return res;
    }
    if (res)
        return res;
    res = media__load_id(cx, (int64_t)r.insert_id, out);
    if (!res)
        *created = true;
    return res;
}

enum err media_ingest(struct rctx *cx, const void *buf, size_t len, struct idem *idem,
                      struct media_rec *out, bool *created)
{
    char upload_sha[MEDIA_SHA_HEX];
    struct media_rec m;
    int64_t limit;
    bool image, found, made = false;
    enum err res;

    if (len == 0)
        return rctx_fail(cx, ERR_INVALID, "the upload is empty");
    res = media__limit_for(cx, buf, len, &limit, &image);
    if (res)
        return res;
    if ((int64_t)len > limit)
        return rctx_fail(cx, ERR_TOOBIG, "%s: at most %lld bytes", image ? "photo" : "voice clip",
                         (long long)limit);
    res = media_sha256_hex(buf, len, upload_sha);
    if (res)
        return rctx_fail(cx, res, "media: cannot hash the upload");
    /* A retry of bytes already stored costs one indexed read, not a decode. */
    if (!idem->key) {
        res = find_same(cx, upload_sha, out, &found);
        if (res || found) {
            *created = false;
            return res;
        }
    }
    /* Without a key nothing is claimed: skip hashing the body a second time. */
    res = idem_begin(cx, idem);
    if (res)
        return res;
    if (idem->replay) {
        res = media__load_id(cx, idem->result_id, &m);
        goto out;
    }
    /* Decoding inside the transaction keeps the key claimed: a retry that arrives meanwhile
     * waits for this one and replays it instead of decoding the photo a second time. */
    res = media__store_row(cx, buf, len, upload_sha, &m, &made);
    if (!res)
        res = idem_complete(cx, idem, m.id);
out:
    res = db_tx_end(cx, res);
    if (res)
        return res;
    *out = m;
    *created = made;
    return ERR_OK;
}

bool media_may_see_evidence(const struct rctx *cx)
{
    return (cx->who.roles & ROLE_STAFF) != 0;
}

static bool public_id_valid(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        char c = s[n];
        if (n >= MEDIA_PUBLIC_ID_LEN ||
            !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return false;
    }
    return n == MEDIA_PUBLIC_ID_LEN;
}

/* Whether the caller may read the owner (owner_type, owner_id). Each kind of owner answers
 * with its own visibility rule; kinds this module does not know yet are readable by nobody
 * but the uploader. */
static enum err owner_readable(struct rctx *cx, const char *owner_type, int64_t owner_id, bool *ok)
{
    *ok = false;
    /* The cases module's one visibility rule, so a photo is exactly as visible as its case. */
    if (strcmp(owner_type, "case") == 0)
        return case_can_read(cx, owner_id, ok);
    /* A chat photo or voice clip: readable by the current members of its conversation. */
    if (strcmp(owner_type, "message") == 0)
        return conv_message_readable(cx, owner_id, ok);
    return ERR_OK;
}

enum err media_get(struct rctx *cx, const char *public_id, struct media_rec *out)
{
    struct media_rec m;
    struct db_res r;
    enum err res;

    if (!public_id || !public_id_valid(public_id))
        return rctx_fail(cx, ERR_NOTFOUND, "no such media");
    res = db_exec(cx, "SELECT " MEDIA_COLS " FROM media m WHERE m.public_id = ?",
                  DB_ARGS(DBS(public_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such media");
    row_to_rec(&r, 0, &m);
    if (m.owner_id != cx->who.user_id || cx->who.user_id == 0) {
        bool ok = false;
        res = db_exec(cx,
                      "SELECT DISTINCT owner_type, owner_id FROM media_attachments WHERE"
                      " media_id = ? LIMIT 16",
                      DB_ARGS(DBI(m.id)), &r);
        if (res)
            return res;
        for (size_t i = 0; i < r.nrows && !ok; i++) {
            res = owner_readable(cx, db_cell(&r, i, 0), db_cell_i64(&r, i, 1), &ok);
            if (res)
                return res;
        }
        if (!ok)
            return rctx_fail(cx, ERR_NOTFOUND, "no such media");
    }
    *out = m;
    return ERR_OK;
}

enum err media_variant_parse(struct rctx *cx, const struct media_rec *m, const char *name,
                             enum media_variant *v)
{
    if (!name || strcmp(name, "original") == 0) {
        *v = MEDIA_VARIANT_ORIGINAL;
        return ERR_OK;
    }
    if (strcmp(name, "display") != 0 && strcmp(name, "thumb") != 0)
        return rctx_fail(cx, ERR_INVALID, "variant: one of original, display, thumb");
    if (!m->image)
        return rctx_fail(cx, ERR_INVALID, "variant: a voice clip has only the original");
    *v = name[0] == 'd' ? MEDIA_VARIANT_DISPLAY : MEDIA_VARIANT_THUMB;
    return ERR_OK;
}

enum err media_open(struct rctx *cx, const struct media_rec *m, enum media_variant v, int *fd,
                    uint64_t *size, const char **sha, const char **mime)
{
    const char *key = v == MEDIA_VARIANT_DISPLAY ? m->sha_display
                      : v == MEDIA_VARIANT_THUMB ? m->sha_thumb
                                                 : m->sha_original;
    enum err res;

    if (!key)
        return rctx_fail(cx, ERR_NOTFOUND, "no such variant");
    res = media_store_open(media_svc_store(), cx, key, fd, size);
    if (res == ERR_NOTFOUND) {
        log_error(cx, "media %s: the file %s of its row is missing", m->public_id, key);
        return rctx_fail(cx, ERR_NOTFOUND, "the media file is missing");
    }
    if (res)
        return res;
    *sha = key;
    *mime = m->mime;
    return ERR_OK;
}
