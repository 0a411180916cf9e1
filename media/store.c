/* media/store.c: SHA-256 keys, the backend-independent wrappers and the local-disk backend.
 * See store.h. Every path below the root is opened relative to a directory descriptor taken
 * once, with O_NOFOLLOW, so a key can only name a file inside the root. */
#include "media/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "server/core/ids.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/rctx.h"

enum err media_sha256_hex(const void *buf, size_t len, char out[MEDIA_SHA_HEX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (!EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) || n != 32) {
        log_error(NULL, "store: OpenSSL could not compute SHA-256");
        return ERR_INTERNAL;
    }
    for (unsigned int i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return ERR_OK;
}

static bool hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool media_sha_valid(const char *s)
{
    return s && strnlen(s, 65) == 64 && hex_run(s, 64);
}

/* ---- wrappers: the one place keys are validated ---- */

static enum err bad_key(struct rctx *cx)
{
    return rctx_fail(cx, ERR_INVALID, "media: not a valid content key");
}

enum err media_store_put(struct media_store *st, struct rctx *cx, const void *buf, size_t len,
                         char sha_out[MEDIA_SHA_HEX])
{
    char sha[MEDIA_SHA_HEX];
    enum err res;

    res = media_sha256_hex(buf, len, sha);
    if (res)
        return rctx_fail(cx, res, "media: cannot store the upload");
    res = st->ops->put(st, cx, buf, len, sha);
    if (!res) {
        memcpy(sha_out, sha, MEDIA_SHA_HEX);
        metrics_inc(metrics_counter("cityd_media_store_writes_total",
                                    "Files written to the media store (or found already there).",
                                    ""));
        metrics_add(metrics_counter("cityd_media_store_written_bytes_total",
                                    "Bytes written to the media store.", ""),
                    len);
    }
    return res;
}

enum err media_store_open(struct media_store *st, struct rctx *cx, const char *sha, int *fd,
                          uint64_t *size)
{
    if (!media_sha_valid(sha))
        return bad_key(cx);
    return st->ops->open(st, cx, sha, fd, size);
}

enum err media_store_path(struct media_store *st, struct rctx *cx, const char *sha, char *buf,
                          size_t cap)
{
    if (!media_sha_valid(sha))
        return bad_key(cx);
    if (!st->ops->path)
        return rctx_fail(cx, ERR_NOTFOUND, "media: the %s store has no local files", st->ops->name);
    return st->ops->path(st, cx, sha, buf, cap);
}

enum err media_store_remove(struct media_store *st, struct rctx *cx, const char *sha)
{
    if (!media_sha_valid(sha))
        return bad_key(cx);
    return st->ops->remove(st, cx, sha);
}

enum err media_store_sweep(struct media_store *st, struct rctx *cx, media_keep_fn keep, void *arg,
                           struct media_sweep_stats *stats)
{
    struct media_sweep_stats local;

    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    return st->ops->sweep(st, cx, keep, arg, stats);
}

void media_store_free(struct media_store *st)
{
    if (st)
        st->ops->free(st);
}

/* ---- local disk ---- */

struct disk_store {
    struct media_store base; /* first, so the wrappers' pointer is ours */
    int root_fd;
    char *root;
    /* put holds it shared, sweep's and remove's final check-and-unlink hold it exclusive:
     * a put that finds its object present refreshes it under the lock, so the sweep either
     * sees the fresh age or has already unlinked and the put writes the object again. */
    pthread_rwlock_t lock;
};

/* "ab/cd/<sha>" */
#define REL_LEN (6 + 64 + 1)

static void rel_path(const char *sha, char rel[REL_LEN])
{
    snprintf(rel, REL_LEN, "%.2s/%.2s/%s", sha, sha + 2, sha);
}

/* I/O failures are the operator's problem (disk full, permissions): log the detail with the
 * request id, tell the client only that storing failed. */
static enum err io_fail(struct rctx *cx, const char *what, const char *path, int err)
{
    log_error(cx, "store: %s %s: %s", what, path, strerror(err));
    /* A full disk is the operator's to fix and the client's to retry: 507, not a bug (500). */
    if (err == ENOSPC || err == EDQUOT)
        return rctx_fail(cx, ERR_NOSPACE,
                         "media: the store is full; nothing was kept, retry later");
    return rctx_fail(cx, ERR_INTERNAL, "media: storage failed");
}

static int fsync_dir_at(int dirfd, const char *rel)
{
    int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r, saved;

    if (fd < 0)
        return -1;
    r = fsync(fd);
    saved = errno;
    close(fd);
    errno = saved;
    return r;
}

/* mkdir that tolerates an existing directory; a directory it creates is made durable by
 * fsyncing its parent. */
static int mkdir_durable(int root_fd, const char *rel, const char *parent)
{
    if (mkdirat(root_fd, rel, 0750) == 0)
        return parent ? fsync_dir_at(root_fd, parent) : fsync(root_fd);
    return errno == EEXIST ? 0 : -1;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static enum err disk_put(struct media_store *st, struct rctx *cx, const void *buf, size_t len,
                         const char *sha)
{
    struct disk_store *d = (struct disk_store *)st;
    char rel[REL_LEN], dir1[3], dir2[6], tmp[48], token[25];
    struct stat sb;
    int fd = -1;
    bool have_tmp = false;
    enum err res = ERR_OK;

    rel_path(sha, rel);
    snprintf(dir1, sizeof dir1, "%.2s", sha);
    snprintf(dir2, sizeof dir2, "%.2s/%.2s", sha, sha + 2);
    pthread_rwlock_rdlock(&d->lock);
    if (fstatat(d->root_fd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == len) {
            /* Present: refresh its age so a concurrent sweep keeps it (see disk_store). */
            if (utimensat(d->root_fd, rel, NULL, AT_SYMLINK_NOFOLLOW) != 0)
                res = io_fail(cx, "touch", rel, errno);
            goto out;
        }
        /* Same key, other size: the file was damaged outside cityd. Write it again. */
        log_error(cx, "store: %s has %lld bytes, expected %zu; rewriting", rel,
                  (long long)sb.st_size, len);
    } else if (errno != ENOENT) {
        res = io_fail(cx, "stat", rel, errno);
        goto out;
    }
    if (mkdir_durable(d->root_fd, dir1, NULL) || mkdir_durable(d->root_fd, dir2, dir1)) {
        res = io_fail(cx, "mkdir", dir2, errno);
        goto out;
    }
    ids_token(token, 24);
    snprintf(tmp, sizeof tmp, "tmp/%s.part", token);
    fd = openat(d->root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        res = io_fail(cx, "create", tmp, errno);
        goto out;
    }
    have_tmp = true;
    if (write_all(fd, buf, len) || fsync(fd)) {
        res = io_fail(cx, "write", tmp, errno);
        goto out;
    }
    /* close() can report a deferred write error (NFS): check it before the rename. */
    if (close(fd)) {
        fd = -1;
        res = io_fail(cx, "close", tmp, errno);
        goto out;
    }
    fd = -1;
    if (renameat(d->root_fd, tmp, d->root_fd, rel)) {
        res = io_fail(cx, "rename", rel, errno);
        goto out;
    }
    have_tmp = false;
    /* The rename is durable only once the directory that holds the new name is synced. */
    if (fsync_dir_at(d->root_fd, dir2))
        res = io_fail(cx, "fsync", dir2, errno);
out:
    if (fd >= 0)
        close(fd);
    if (have_tmp)
        unlinkat(d->root_fd, tmp, 0);
    pthread_rwlock_unlock(&d->lock);
    return res;
}

static enum err disk_open(struct media_store *st, struct rctx *cx, const char *sha, int *fd_out,
                          uint64_t *size)
{
    struct disk_store *d = (struct disk_store *)st;
    char rel[REL_LEN];
    struct stat sb;
    int fd;

    rel_path(sha, rel);
    fd = openat(d->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return rctx_fail(cx, ERR_NOTFOUND, "media: no such object");
        return io_fail(cx, "open", rel, errno);
    }
    if (fstat(fd, &sb)) {
        int e = errno;
        close(fd);
        return io_fail(cx, "fstat", rel, e);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return io_fail(cx, "open", rel, EINVAL);
    }
    *fd_out = fd;
    *size = (uint64_t)sb.st_size;
    return ERR_OK;
}

static enum err disk_path(struct media_store *st, struct rctx *cx, const char *sha, char *buf,
                          size_t cap)
{
    struct disk_store *d = (struct disk_store *)st;
    char rel[REL_LEN];
    struct stat sb;
    int n;

    rel_path(sha, rel);
    if (fstatat(d->root_fd, rel, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return rctx_fail(cx, ERR_NOTFOUND, "media: no such object");
        return io_fail(cx, "stat", rel, errno);
    }
    n = snprintf(buf, cap, "%s/%s", d->root, rel);
    if (n < 0 || (size_t)n >= cap) {
        log_error(cx, "store: path buffer of %zu bytes is too small", cap);
        return rctx_fail(cx, ERR_INTERNAL, "media: storage failed");
    }
    return ERR_OK;
}

static enum err disk_remove(struct media_store *st, struct rctx *cx, const char *sha)
{
    struct disk_store *d = (struct disk_store *)st;
    char rel[REL_LEN];
    enum err res = ERR_OK;

    rel_path(sha, rel);
    pthread_rwlock_wrlock(&d->lock);
    if (unlinkat(d->root_fd, rel, 0) != 0 && errno != ENOENT)
        res = io_fail(cx, "unlink", rel, errno);
    pthread_rwlock_unlock(&d->lock);
    return res;
}

/* Old enough to be neither a write in progress nor an object whose row is being inserted. */
static bool aged(const struct stat *sb, time_t now)
{
    return sb->st_mtime + MEDIA_STORE_GRACE_S <= now;
}

static DIR *open_dir_at(int dirfd, const char *rel)
{
    int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    DIR *dir;

    if (fd < 0)
        return NULL;
    dir = fdopendir(fd);
    if (!dir)
        close(fd);
    return dir;
}

static enum err sweep_tmp(struct disk_store *d, struct rctx *cx, time_t now,
                          struct media_sweep_stats *stats)
{
    DIR *dir = open_dir_at(d->root_fd, "tmp");
    int tfd;
    struct dirent *de;
    struct stat sb;

    if (!dir)
        return io_fail(cx, "open", "tmp", errno);
    tfd = dirfd(dir);
    for (de = readdir(dir); de; de = readdir(dir)) {
        if (de->d_name[0] == '.')
            continue;
        if (fstatat(tfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) {
            stats->skipped++;
            continue;
        }
        if (!aged(&sb, now))
            continue;
        if (unlinkat(tfd, de->d_name, 0) == 0)
            stats->tmp_removed++;
    }
    closedir(dir);
    return ERR_OK;
}

/* One ab/cd directory: ask about each aged object, then re-check its age under the lock
 * before unlinking, because a put may have refreshed it while keep() was consulting the
 * database. */
static enum err sweep_leaf(struct disk_store *d, struct rctx *cx, const char *rel2,
                           media_keep_fn keep, void *arg, time_t now,
                           struct media_sweep_stats *stats)
{
    DIR *dir = open_dir_at(d->root_fd, rel2);
    int lfd;
    struct dirent *de;
    struct stat sb;
    enum err res = ERR_OK;

    if (!dir)
        return io_fail(cx, "open", rel2, errno);
    lfd = dirfd(dir);
    for (de = readdir(dir); de; de = readdir(dir)) {
        const char *name = de->d_name;
        bool want = true;

        if (name[0] == '.')
            continue;
        /* Only names this store writes: the key, in the directory its prefix names. */
        if (!media_sha_valid(name) || memcmp(name, rel2, 2) != 0 ||
            memcmp(name + 2, rel2 + 3, 2) != 0 ||
            fstatat(lfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) {
            stats->skipped++;
            continue;
        }
        if (!aged(&sb, now)) {
            stats->young++;
            continue;
        }
        res = keep(arg, cx, name, &want);
        if (res)
            break;
        if (want) {
            stats->kept++;
            continue;
        }
        pthread_rwlock_wrlock(&d->lock);
        if (fstatat(lfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && aged(&sb, now) &&
            unlinkat(lfd, name, 0) == 0)
            stats->removed++;
        else
            stats->young++;
        pthread_rwlock_unlock(&d->lock);
    }
    closedir(dir);
    return res;
}

static bool two_hex(const char *s)
{
    return strlen(s) == 2 && hex_run(s, 2);
}

static enum err disk_sweep(struct media_store *st, struct rctx *cx, media_keep_fn keep, void *arg,
                           struct media_sweep_stats *stats)
{
    struct disk_store *d = (struct disk_store *)st;
    time_t now = time(NULL);
    DIR *top = NULL, *mid = NULL;
    struct dirent *de, *de2;
    char rel2[6];
    enum err res;

    res = sweep_tmp(d, cx, now, stats);
    if (res)
        goto out;
    top = open_dir_at(d->root_fd, ".");
    if (!top) {
        res = io_fail(cx, "open", d->root, errno);
        goto out;
    }
    for (de = readdir(top); de && !res; de = readdir(top)) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "tmp") == 0)
            continue;
        if (!two_hex(de->d_name)) {
            stats->skipped++;
            continue;
        }
        mid = open_dir_at(d->root_fd, de->d_name);
        if (!mid) {
            stats->skipped++; /* a plain file named like a prefix: not ours */
            continue;
        }
        for (de2 = readdir(mid); de2 && !res; de2 = readdir(mid)) {
            if (de2->d_name[0] == '.')
                continue;
            if (!two_hex(de2->d_name)) {
                stats->skipped++;
                continue;
            }
            snprintf(rel2, sizeof rel2, "%.2s/%.2s", de->d_name, de2->d_name);
            res = sweep_leaf(d, cx, rel2, keep, arg, now, stats);
        }
        closedir(mid);
        mid = NULL;
    }
out:
    if (top)
        closedir(top);
    log_info(cx, "store: sweep %s: kept=%llu removed=%llu young=%llu tmp_removed=%llu skipped=%llu",
             res ? "stopped" : "done", (unsigned long long)stats->kept,
             (unsigned long long)stats->removed, (unsigned long long)stats->young,
             (unsigned long long)stats->tmp_removed, (unsigned long long)stats->skipped);
    return res;
}

static void disk_free(struct media_store *st)
{
    struct disk_store *d = (struct disk_store *)st;

    close(d->root_fd);
    pthread_rwlock_destroy(&d->lock);
    free(d->root);
    free(d);
}

static const struct media_store_ops disk_ops = {
    .name = "disk",
    .put = disk_put,
    .open = disk_open,
    .path = disk_path,
    .remove = disk_remove,
    .sweep = disk_sweep,
    .free = disk_free,
};

enum err media_store_disk_new(const char *root, struct media_store **out)
{
    struct disk_store *d;
    int fd;

    if (mkdir(root, 0750) != 0 && errno != EEXIST) {
        log_error(NULL, "store: cannot create %s: %s", root, strerror(errno));
        return ERR_INTERNAL;
    }
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        log_error(NULL, "store: cannot open %s: %s", root, strerror(errno));
        return ERR_INTERNAL;
    }
    if (mkdirat(fd, "tmp", 0750) != 0 && errno != EEXIST) {
        log_error(NULL, "store: cannot create %s/tmp: %s", root, strerror(errno));
        close(fd);
        return ERR_INTERNAL;
    }
    d = calloc(1, sizeof *d);
    if (!d)
        abort(); /* like the pools: out of memory at start-up is not recoverable */
    d->root = strdup(root);
    if (!d->root)
        abort();
    d->base.ops = &disk_ops;
    d->root_fd = fd;
    pthread_rwlock_init(&d->lock, NULL);
    *out = &d->base;
    return ERR_OK;
}
