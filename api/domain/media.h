/* api/domain/media.h: uploaded photos and voice clips — ingesting, resumable (tus) uploads,
 * who may read them, and the housekeeping that keeps disk and database in step.
 *
 * Owns the rows of migrations/0004_media.sql and 0006_media_more.sql (media, uploads; the
 * attachments table belongs to attach.h) and the tus temp files under <media.dir>/uploads/.
 * The bytes themselves live in the content-addressed store (media/store.h, through
 * media_svc_store()); image work is media/image.h's.
 *
 * Invariants:
 * - the type comes from magic bytes only (media_sniff), never from Content-Type, a file name
 *   or tus Upload-Metadata; the per-kind size limit is checked before any decoding;
 * - files first, row second: every file of a medium is in the store (fsynced) before its row
 *   is inserted, so a crash leaves files without rows (media_maintenance_job sweeps them),
 *   never a row without files;
 * - one row per (uploader, content hash): a retried upload returns the first id, whether it
 *   is retried with the same Idempotency-Key, the same bytes, or through another tus upload;
 * - a medium is readable by its uploader and by whoever may read an owner it is attached to;
 *   to anyone else it does not exist (ERR_NOTFOUND), and public ids are 22 random base62
 *   characters (131 bits), so they cannot be guessed;
 * - a tus upload's bytes go to its temp file at the offset the row records; the offset only
 *   advances, inside the row's lock, after the bytes are fdatasynced; the last chunk advances
 *   it only once the medium exists, so a failed or crashed completion is retried by resending
 *   that chunk.
 *
 * Functions that process images block for up to a few seconds: they run on the media pool.
 * Everything returned is pool memory of cx. No HTTP, no JSON, no libvips here. */
#ifndef CITYD_DOMAIN_MEDIA_H
#define CITYD_DOMAIN_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct idem; /* idempotency.h: the request's Idempotency-Key record, built by api/ */

#define MEDIA_PUBLIC_ID_LEN 22
/* Largest request body the upload routes accept: the default image limit plus room for a
 * multipart envelope. Route tables are constants; a larger media.max_image_bytes is capped by
 * this (see api/media.c). */
#define MEDIA_BODY_MAX ((size_t)(20u << 20) + (64u << 10))
/* An unfinished tus upload is forgotten this long after its creation. */
#define UPLOAD_TTL_MS (24LL * 3600 * 1000)
/* How often media_maintenance_job sweeps the store for files without rows (it also sweeps
 * once at its first run after start-up). */
#define MEDIA_SWEEP_EVERY_MS (3600LL * 1000)

enum media_variant {
    MEDIA_VARIANT_ORIGINAL = 0, /* stripped full-size photo, or the voice clip as uploaded */
    MEDIA_VARIANT_DISPLAY,      /* longest side <= 1280 (photos only) */
    MEDIA_VARIANT_THUMB,        /* longest side <= 320 (photos only) */
};

struct media_rec {
    int64_t id; /* internal; never shown to clients */
    char public_id[MEDIA_PUBLIC_ID_LEN + 1];
    bool image;                                         /* false: a voice clip */
    const char *mime;                                   /* of the stored original */
    int64_t bytes;                                      /* size of the upload */
    const char *sha_original, *sha_display, *sha_thumb; /* display/thumb NULL for voice */
    int width, height;                                  /* upright; 0 for voice */
    int64_t duration_ms;                                /* voice; 0 for photos */
    const char *taken_at; /* EXIF capture time "YYYY-MM-DD HH:MM:SS" (camera local), or NULL */
    bool has_gps;
    double lat, lng;  /* EXIF GPS, WGS-84 */
    int64_t owner_id; /* the uploader */
    int64_t created_ms;
};

/* Store one uploaded file for the caller. Order: type from the magic bytes (ERR_MEDIATYPE:
 * not an allowed photo or voice type; ERR_INVALID for an empty body), the kind's byte limit
 * (ERR_TOOBIG), then the Idempotency-Key (ERR_CONFLICT when reused with other bytes), an
 * existing row for the same bytes (returned with *created false), and only then the
 * decoding (media_image_process / media_voice_probe errors: ERR_TOOBIG for a pixel bomb,
 * ERR_INVALID for truncated or corrupt data, ERR_BUSY when no decode slot freed up), the
 * files, and the row. idem is the request's record (idempotency.h; body: these bytes). buf is
 * borrowed. On success fills *out; *created says whether this call made the row. */
enum err media_ingest(struct rctx *cx, const void *buf, size_t len, struct idem *idem,
                      struct media_rec *out, bool *created) MUST_CHECK;

/* The medium public_id if the caller may read it (uploader, or reader of an owner it is
 * attached to). ERR_NOTFOUND otherwise, and for ids that are malformed or absent. */
enum err media_get(struct rctx *cx, const char *public_id, struct media_rec *out) MUST_CHECK;

/* Whether the caller may see a medium's evidence metadata (capture time, GPS): staff only. */
bool media_may_see_evidence(const struct rctx *cx);

/* Parse "original", "display" or "thumb" (NULL: original). ERR_INVALID for anything else,
 * and for display/thumb of a voice clip. */
enum err media_variant_parse(struct rctx *cx, const struct media_rec *m, const char *name,
                             enum media_variant *v) MUST_CHECK;

/* Open the stored file of a variant: *fd (the caller closes it), *size, and its content key
 * (*sha, usable as a strong ETag) and *mime. ERR_NOTFOUND if the file is missing (logged: a
 * row without its file breaks the invariant); ERR_INTERNAL on I/O errors. */
enum err media_open(struct rctx *cx, const struct media_rec *m, enum media_variant v, int *fd,
                    uint64_t *size, const char **sha, const char **mime) MUST_CHECK;

/* ---- tus resumable uploads (upload.c) -------------------------------------------------- */

struct upload_rec {
    char public_id[MEDIA_PUBLIC_ID_LEN + 1];
    int64_t length; /* Upload-Length */
    int64_t offset; /* bytes received and durable */
    int64_t expires_ms;
    const char *media_public_id; /* set once complete, else NULL */
};

/* Largest Upload-Length accepted: the larger of the image and voice limits. */
int64_t upload_max_length(void);

/* Create an upload of length bytes (1..upload_max_length(), ERR_INVALID / ERR_TOOBIG). With
 * idem_key, a second create by the same caller with the same key returns the first upload
 * (*created false; ERR_CONFLICT when the length differs). */
enum err upload_create(struct rctx *cx, int64_t length, const char *idem_key,
                       struct upload_rec *out, bool *created) MUST_CHECK;

/* The caller's upload. ERR_NOTFOUND when absent or someone else's, ERR_GONE when expired. */
enum err upload_get(struct rctx *cx, const char *public_id, struct upload_rec *out) MUST_CHECK;

/* Append chunk at offset, which must equal the recorded offset (ERR_CONFLICT otherwise).
 * checksum is the tus Upload-Checksum value ("<algorithm> <base64 digest>", sha1 or sha256)
 * or NULL; a mismatch is ERR_CHECKSUM (460), a malformed value or an unknown algorithm
 * ERR_INVALID, and nothing is stored. A chunk past Upload-Length (also a non-empty one at the
 * final offset of a finished upload) is ERR_INVALID. Once enough bytes arrived, the type is
 * sniffed: ERR_MEDIATYPE or ERR_TOOBIG (the kind's limit) end the upload. The chunk that completes
 * it runs media_ingest's processing; a bad file ends the upload with that error, while ERR_BUSY /
 * ERR_INTERNAL keep it so the client can resend the chunk. On success *out is the upload after the
 * chunk. */
enum err upload_append(struct rctx *cx, const char *public_id, int64_t offset, const void *chunk,
                       size_t len, const char *checksum, struct upload_rec *out) MUST_CHECK;

/* tus termination: forget the caller's upload and its bytes. ERR_NOTFOUND like upload_get. */
enum err upload_delete(struct rctx *cx, const char *public_id) MUST_CHECK;

/* ---- housekeeping ----------------------------------------------------------------------- */

/* Periodic job (api_jobs): forget expired uploads and their temp files, remove temp files no
 * row knows, and — at the first run after start-up and then every MEDIA_SWEEP_EVERY_MS —
 * sweep the store of files no media row refers to (media_store_sweep; its grace period
 * protects uploads in flight). A database error stops the sweep before it deletes more. */
enum err media_maintenance_job(struct rctx *cx) MUST_CHECK;

/* ---- shared by media.c and upload.c (internal) ------------------------------------------ */

/* Process buf (type already known to be allowed), store its files and insert its row for the
 * caller, or find the row with the same bytes. Runs inside the caller's transaction. */
enum err media__store_row(struct rctx *cx, const void *buf, size_t len, const char *upload_sha,
                          struct media_rec *out, bool *created) MUST_CHECK;
/* The byte limit for a sniffed type; ERR_MEDIATYPE when the type is not allowed. */
enum err media__limit_for(struct rctx *cx, const void *buf, size_t len, int64_t *limit,
                          bool *image) MUST_CHECK;
/* Load a row by internal id into out (no access check). */
enum err media__load_id(struct rctx *cx, int64_t id, struct media_rec *out) MUST_CHECK;

#endif
