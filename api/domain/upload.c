/* api/domain/upload.c: tus resumable uploads and the media housekeeping job. See media.h.
 *
 * A chunk's bytes are written with pwrite at the offset the row records, under the row lock,
 * and fdatasynced before the offset is committed: the recorded offset never runs ahead of
 * the bytes on disk. h2o 2.2.5 hands a handler whole request bodies, so a chunk cut off by a
 * dropped connection never reaches this file; the client asks HEAD and resends from the
 * recorded offset. */
#include "media.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "api/domain/media_svc.h"
#include "media/store.h"
#include "server/core/ids.h"
#include "server/core/log.h"
#include "server/db/db.h"

/* Bytes needed to tell the type (MP3 without an ID3 tag needs its second frame header). */
#define SNIFF_BYTES 4096
/* A temp file no row knows is removed only after this long (it may be a create in flight). */
#define ORPHAN_AGE_S 3600

/* ---- SHA-1 (tus checksum extension: servers must support it) ---------------------------- */

struct sha1 {
    uint32_t h[5];
    uint64_t n;
    unsigned char buf[64];
    size_t used;
};

static uint32_t rol(uint32_t x, int k)
{
    return x << k | x >> (32 - k);
}

static void sha1_block(struct sha1 *s, const unsigned char *p)
{
    uint32_t w[80], a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];

    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f, k, t;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
}

static void sha1_digest(const void *data, size_t len, unsigned char out[20])
{
    struct sha1 s = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
    const unsigned char *p = data;
    unsigned char pad[72] = {0x80};
    size_t padlen;
    uint64_t bits = (uint64_t)len * 8;

    for (; len >= 64; p += 64, len -= 64)
        sha1_block(&s, p);
    memcpy(s.buf, p, len);
    padlen = len < 56 ? 56 - len : 120 - len;
    memcpy(s.buf + len, pad, padlen < 64 - len ? padlen : 64 - len);
    if (len >= 56) {
        sha1_block(&s, s.buf);
        memset(s.buf, 0, 56);
    }
    for (int i = 0; i < 8; i++)
        s.buf[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_block(&s, s.buf);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(s.h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s.h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s.h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s.h[i];
    }
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding into out[0..cap); the decoded length, or -1 when malformed. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    size_t o = 0;

    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pads = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pads++;
            } else if (pads || (v[k] = b64_value(s[i + k])) < 0) {
                return -1;
            }
        }
        if (o + 3 - (size_t)pads > cap)
            return -1;
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (pads < 2)
            out[o++] = (unsigned char)(v[1] << 4 | v[2] >> 2);
        if (pads < 1)
            out[o++] = (unsigned char)(v[2] << 6 | v[3]);
    }
    return (long)o;
}

static int hexval(char c)
{
    return c >= 'a' ? c - 'a' + 10 : c - '0';
}

/* Upload-Checksum: "<algorithm> <base64 digest>" over exactly this chunk. */
static enum err check_checksum(struct rctx *cx, const char *hdr, const void *chunk, size_t len)
{
    const char *sp = strchr(hdr, ' ');
    unsigned char want[32], got[32];
    long n;

    if (!sp)
        return rctx_fail(cx, ERR_INVALID, "Upload-Checksum: expected \"<algorithm> <base64>\"");
    n = b64_decode(sp + 1, strlen(sp + 1), want, sizeof want);
    if ((size_t)(sp - hdr) == 4 && memcmp(hdr, "sha1", 4) == 0) {
        if (n != 20)
            return rctx_fail(cx, ERR_INVALID, "Upload-Checksum: not a base64 SHA-1 digest");
        sha1_digest(chunk, len, got);
    } else if ((size_t)(sp - hdr) == 6 && memcmp(hdr, "sha256", 6) == 0) {
        char hex[MEDIA_SHA_HEX];
        enum err res;
        if (n != 32)
            return rctx_fail(cx, ERR_INVALID, "Upload-Checksum: not a base64 SHA-256 digest");
        res = media_sha256_hex(chunk, len, hex);
        if (res)
            return rctx_fail(cx, res, "Upload-Checksum: cannot compute the digest");
        for (int i = 0; i < 32; i++)
            got[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
    } else {
        return rctx_fail(cx, ERR_INVALID, "Upload-Checksum: supported algorithms are sha1, sha256");
    }
    if (memcmp(want, got, (size_t)n) != 0)
        return rctx_fail(cx, ERR_CHECKSUM,
                         "Upload-Checksum: the chunk does not match its checksum");
    return ERR_OK;
}

/* ---- rows and files -------------------------------------------------------------------- */

#define UPLOAD_COLS                                                                                \
    "u.id, u.public_id, u.owner_id, u.length, u.offset_bytes, u.kind,"                             \
    " CAST(UNIX_TIMESTAMP(u.expires_at) * 1000 AS SIGNED), u.media_id"

struct urow {
    int64_t id, owner_id, length, offset, expires_ms, media_id;
    const char *kind; /* NULL until sniffed */
    struct upload_rec rec;
};

static void urow_read(const struct db_res *r, size_t i, struct urow *u)
{
    memset(u, 0, sizeof *u);
    u->id = db_cell_i64(r, i, 0);
    snprintf(u->rec.public_id, sizeof u->rec.public_id, "%s",
             db_cell(r, i, 1) ? db_cell(r, i, 1) : "");
    u->owner_id = db_cell_i64(r, i, 2);
    u->length = u->rec.length = db_cell_i64(r, i, 3);
    u->offset = u->rec.offset = db_cell_i64(r, i, 4);
    u->kind = db_cell(r, i, 5);
    u->expires_ms = u->rec.expires_ms = db_cell_i64(r, i, 6);
    u->media_id = db_cell_i64(r, i, 7);
}

/* The caller's upload row, optionally locked. ERR_NOTFOUND for other people's. */
static enum err urow_load(struct rctx *cx, const char *public_id, bool lock, struct urow *u)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           lock ? "SELECT " UPLOAD_COLS " FROM uploads u WHERE u.public_id = ?"
                                  " FOR UPDATE"
                                : "SELECT " UPLOAD_COLS " FROM uploads u WHERE u.public_id = ?",
                           DB_ARGS(DBS(public_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such upload");
    urow_read(&r, 0, u);
    if (u->owner_id != cx->who.user_id)
        return rctx_fail(cx, ERR_NOTFOUND, "no such upload");
    if (u->media_id) {
        struct media_rec m;
        res = media__load_id(cx, u->media_id, &m);
        if (res)
            return res;
        u->rec.media_public_id = rctx_strdup(cx, m.public_id);
    } else if (u->expires_ms <= cx->now_ms) {
        return rctx_fail(cx, ERR_GONE, "the upload expired; start a new one");
    }
    return ERR_OK;
}

static const char *part_path(struct rctx *cx, const char *public_id)
{
    return rctx_printf(cx, "%s/uploads/%s.part", media_svc_dir(), public_id);
}

static void part_remove(struct rctx *cx, const char *public_id)
{
    const char *p = part_path(cx, public_id);

    if (unlink(p) != 0 && errno != ENOENT)
        log_warn(cx, "upload: cannot remove %s: %s", p, strerror(errno));
}

static enum err io_fail(struct rctx *cx, const char *what, const char *path, int e)
{
    log_error(cx, "upload: %s %s: %s", what, path, strerror(e));
    /* A full disk: the offset stays where it was and the client resumes later (507). */
    if (e == ENOSPC || e == EDQUOT)
        return rctx_fail(cx, ERR_NOSPACE,
                         "upload: the store is full; the offset is unchanged, "
                         "retry later");
    return rctx_fail(cx, ERR_INTERNAL, "upload: storage error");
}

/* Write chunk at off and make it durable before the offset that covers it is committed. */
static enum err part_write(struct rctx *cx, const char *public_id, int64_t off, const void *chunk,
                           size_t len)
{
    const char *dir = rctx_printf(cx, "%s/uploads", media_svc_dir());
    const char *p = part_path(cx, public_id);
    const unsigned char *b = chunk;
    enum err res = ERR_OK;
    int fd;

    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return io_fail(cx, "mkdir", dir, errno);
    fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return io_fail(cx, "open", p, errno);
    while (len > 0) {
        ssize_t w = pwrite(fd, b, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            res = io_fail(cx, "write", p, w < 0 ? errno : EIO);
            goto out;
        }
        b += w;
        off += w;
        len -= (size_t)w;
    }
    if (fdatasync(fd) != 0)
        res = io_fail(cx, "fdatasync", p, errno);
out:
    close(fd);
    return res;
}

/* Read n bytes from the start of the temp file into pool memory. */
static enum err part_read(struct rctx *cx, const char *public_id, size_t n, unsigned char **out)
{
    const char *p = part_path(cx, public_id);
    unsigned char *buf = rctx_alloc(cx, n ? n : 1);
    size_t got = 0;
    enum err res = ERR_OK;
    int fd = open(p, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return io_fail(cx, "open", p, errno);
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            res = io_fail(cx, "read", p, r < 0 ? errno : EIO);
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (!res)
        *out = buf;
    return res;
}

int64_t upload_max_length(void)
{
    const struct media_limits *l = media_svc_limits();
    int64_t m = l->max_image_bytes > l->max_voice_bytes ? l->max_image_bytes : l->max_voice_bytes;
    /* A chunk is one request body, and a client may send the whole file as one chunk. */
    return m < (int64_t)MEDIA_BODY_MAX ? m : (int64_t)MEDIA_BODY_MAX;
}

/* ---- the tus operations ----------------------------------------------------------------- */

enum err upload_create(struct rctx *cx, int64_t length, const char *idem_key,
                       struct upload_rec *out, bool *created)
{
    char pid[MEDIA_PUBLIC_ID_LEN + 1];
    struct db_res r;
    struct urow u;
    enum err res;

    if (length < 1)
        return rctx_fail(cx, ERR_INVALID, "Upload-Length: at least 1 byte");
    if (length > upload_max_length())
        return rctx_fail(cx, ERR_TOOBIG, "Upload-Length: at most %lld bytes",
                         (long long)upload_max_length());
    for (int attempt = 0; attempt < 2; attempt++) {
        if (idem_key) {
            res = db_exec(cx,
                          "SELECT " UPLOAD_COLS " FROM uploads u WHERE u.owner_id = ? AND"
                          " u.idem_key = ?",
                          DB_ARGS(DBI(cx->who.user_id), DBS(idem_key)), &r);
            if (res)
                return res;
            if (r.nrows) {
                urow_read(&r, 0, &u);
                if (u.length != length)
                    return rctx_fail(cx, ERR_CONFLICT,
                                     "Idempotency-Key was used for an upload of another length");
                res = urow_load(cx, u.rec.public_id, false, &u);
                if (res)
                    return res;
                *out = u.rec;
                *created = false;
                return ERR_OK;
            }
        }
        ids_token(pid, MEDIA_PUBLIC_ID_LEN);
        res = db_exec(cx,
                      "INSERT INTO uploads (public_id, owner_id, length, offset_bytes, kind,"
                      " idem_key, created_at, expires_at) VALUES (?,?,?,0,NULL,?,"
                      " FROM_UNIXTIME(? / 1000), FROM_UNIXTIME(? / 1000))",
                      DB_ARGS(DBS(pid), DBI(cx->who.user_id), DBI(length), DBS(idem_key),
                              DBI(cx->now_ms), DBI(cx->now_ms + UPLOAD_TTL_MS)),
                      NULL);
        /* A duplicate key here is the same Idempotency-Key racing in: read the winner. */
        if (res == ERR_CONFLICT && idem_key)
            continue;
        if (res)
            return res;
        memset(out, 0, sizeof *out);
        snprintf(out->public_id, sizeof out->public_id, "%s", pid);
        out->length = length;
        out->expires_ms = cx->now_ms + UPLOAD_TTL_MS;
        *created = true;
        return ERR_OK;
    }
    return rctx_fail(cx, ERR_BUSY, "upload: retry");
}

enum err upload_get(struct rctx *cx, const char *public_id, struct upload_rec *out)
{
    struct urow u;
    enum err res = urow_load(cx, public_id, false, &u);

    if (res)
        return res;
    *out = u.rec;
    return ERR_OK;
}

/* Errors that say the file itself is unacceptable: resending cannot help. */
static bool terminal(enum err e)
{
    return e == ERR_MEDIATYPE || e == ERR_TOOBIG || e == ERR_INVALID;
}

/* Sniff the head once enough bytes are in; fills *kind ("image"/"voice"). */
static enum err sniff_kind(struct rctx *cx, const struct urow *u, int64_t have, const char **kind)
{
    int64_t need = u->length < SNIFF_BYTES ? u->length : SNIFF_BYTES;
    unsigned char *head;
    int64_t limit;
    bool image;
    enum err res;

    if (u->kind || have < need)
        return ERR_OK;
    res = part_read(cx, u->rec.public_id, (size_t)need, &head);
    if (!res)
        res = media__limit_for(cx, head, (size_t)need, &limit, &image);
    if (res)
        return res;
    if (u->length > limit)
        return rctx_fail(cx, ERR_TOOBIG, "%s: at most %lld bytes", image ? "photo" : "voice clip",
                         (long long)limit);
    *kind = image ? "image" : "voice";
    return ERR_OK;
}

/* The last chunk is in: turn the file into a medium. */
static enum err complete(struct rctx *cx, const struct urow *u, int64_t *media_id,
                         const char **media_pid)
{
    char sha[MEDIA_SHA_HEX];
    unsigned char *buf;
    struct media_rec m;
    bool created;
    enum err res = part_read(cx, u->rec.public_id, (size_t)u->length, &buf);

    if (res)
        return res;
    res = media_sha256_hex(buf, (size_t)u->length, sha);
    if (res)
        return rctx_fail(cx, res, "upload: cannot hash the file");
    res = media__store_row(cx, buf, (size_t)u->length, sha, &m, &created);
    if (res)
        return res;
    *media_id = m.id;
    *media_pid = rctx_strdup(cx, m.public_id);
    return ERR_OK;
}

enum err upload_append(struct rctx *cx, const char *public_id, int64_t offset, const void *chunk,
                       size_t len, const char *checksum, struct upload_rec *out)
{
    struct urow u;
    const char *kind = NULL, *media_pid = NULL;
    int64_t media_id = 0, end;
    bool done = false, end_upload = false;
    enum err res;

    if (checksum) {
        res = check_checksum(cx, checksum, chunk, len);
        if (res)
            return res;
    }
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = urow_load(cx, public_id, true, &u);
    if (res)
        goto out;
    if (offset != u.offset) {
        res = rctx_fail(cx, ERR_CONFLICT, "Upload-Offset is %lld, the upload is at %lld",
                        (long long)offset, (long long)u.offset);
        goto out;
    }
    if ((int64_t)len > u.length - offset) {
        res = rctx_fail(cx, ERR_INVALID, "the chunk goes past Upload-Length (%lld bytes)",
                        (long long)u.length);
        goto out;
    }
    if (u.media_id) {
        /* A finished upload asked to finish again (an empty PATCH at the end): same answer. */
        done = true;
        goto out;
    }
    end = offset + (int64_t)len;
    if (len > 0) {
        res = part_write(cx, public_id, offset, chunk, len);
        if (res)
            goto out;
    }
    kind = u.kind;
    res = sniff_kind(cx, &u, end, &kind);
    if (!res && end == u.length)
        res = complete(cx, &u, &media_id, &media_pid);
    if (res) {
        end_upload = terminal(res);
        goto out;
    }
    done = end == u.length;
    res = db_exec(cx, "UPDATE uploads SET offset_bytes = ?, kind = ?, media_id = ? WHERE id = ?",
                  DB_ARGS(DBI(end), DBS(kind), media_id ? DBI(media_id) : DBNULL, DBI(u.id)), NULL);
    if (res)
        goto out;
    u.rec.offset = end;
    if (media_pid)
        u.rec.media_public_id = media_pid;
out:
    res = db_tx_end(cx, res);
    if (res) {
        if (end_upload) {
            /* The file cannot become a medium: end the upload so its bytes do not linger.
             * Best effort: the expiry job catches what this misses. */
            if (db_exec(cx, "DELETE FROM uploads WHERE id = ?", DB_ARGS(DBI(u.id)), NULL) == ERR_OK)
                part_remove(cx, public_id);
        }
        return res;
    }
    if (done)
        part_remove(cx, public_id);
    *out = u.rec;
    return ERR_OK;
}

enum err upload_delete(struct rctx *cx, const char *public_id)
{
    struct urow u;
    enum err res = urow_load(cx, public_id, false, &u);

    if (res == ERR_GONE)
        res = ERR_OK; /* expired: terminating it is still fine */
    if (res)
        return res;
    res = db_exec(cx, "DELETE FROM uploads WHERE public_id = ? AND owner_id = ?",
                  DB_ARGS(DBS(public_id), DBI(cx->who.user_id)), NULL);
    if (res)
        return res;
    part_remove(cx, public_id);
    return ERR_OK;
}

/* ---- housekeeping ------------------------------------------------------------------------ */

static enum err keep_object(void *arg, struct rctx *cx, const char *sha, bool *keep)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT 1 FROM media WHERE sha_original = ? UNION ALL SELECT 1 FROM"
                           " media WHERE sha_display = ? UNION ALL SELECT 1 FROM media WHERE"
                           " sha_thumb = ? LIMIT 1",
                           DB_ARGS(DBS(sha), DBS(sha), DBS(sha)), &r);
    (void)arg;
    if (res)
        return res;
    *keep = r.nrows > 0;
    return ERR_OK;
}

static enum err expire_uploads(struct rctx *cx)
{
    struct db_res r;
    enum err res =
        db_exec(cx,
                "SELECT public_id FROM uploads WHERE expires_at < FROM_UNIXTIME(? / 1000)"
                " ORDER BY expires_at LIMIT 200",
                DB_ARGS(DBI(cx->now_ms)), &r);
    if (res)
        return res;
    for (size_t i = 0; i < r.nrows; i++) {
        const char *pid = db_cell(&r, i, 0);
        res = db_exec(cx, "DELETE FROM uploads WHERE public_id = ?", DB_ARGS(DBS(pid)), NULL);
        if (res)
            return res;
        part_remove(cx, pid);
    }
    if (r.nrows)
        log_info(cx, "upload: forgot %zu expired uploads", r.nrows);
    return ERR_OK;
}

/* Temp files whose row is gone (deleted while a crash kept the file, or never committed). */
static enum err sweep_parts(struct rctx *cx)
{
    const char *dir = rctx_printf(cx, "%s/uploads", media_svc_dir());
    DIR *d = opendir(dir);
    struct dirent *de;
    time_t now = time(NULL);
    enum err res = ERR_OK;

    if (!d)
        return errno == ENOENT ? ERR_OK : io_fail(cx, "opendir", dir, errno);
    while (!res && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char pid[MEDIA_PUBLIC_ID_LEN + 1];
        struct db_res r;
        struct stat sb;

        if (n != MEDIA_PUBLIC_ID_LEN + 5 || strcmp(de->d_name + MEDIA_PUBLIC_ID_LEN, ".part") != 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            sb.st_mtime + ORPHAN_AGE_S > now)
            continue;
        memcpy(pid, de->d_name, MEDIA_PUBLIC_ID_LEN);
        pid[MEDIA_PUBLIC_ID_LEN] = '\0';
        res = db_exec(cx, "SELECT 1 FROM uploads WHERE public_id = ? AND media_id IS NULL",
                      DB_ARGS(DBS(pid)), &r);
        if (!res && r.nrows == 0)
            part_remove(cx, pid);
    }
    closedir(d);
    return res;
}

enum err media_maintenance_job(struct rctx *cx)
{
    /* Jobs never overlap (api.h), so this needs no lock. 0: not swept since start-up. */
    static int64_t last_sweep_ms;
    struct media_sweep_stats st = {0};
    enum err res;

    if (!media_svc_store())
        return ERR_OK;
    res = expire_uploads(cx);
    if (res)
        return res;
    if (last_sweep_ms && cx->now_ms - last_sweep_ms < MEDIA_SWEEP_EVERY_MS)
        return ERR_OK;
    res = sweep_parts(cx);
    if (!res)
        res = media_store_sweep(media_svc_store(), cx, keep_object, NULL, &st);
    if (!res)
        last_sweep_ms = cx->now_ms;
    return res;
}
