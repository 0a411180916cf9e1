/* media/store.h: content-addressed storage of uploaded bytes (photo renditions, voice clips).
 *
 * Owns the bytes only: an object's key is the lowercase hex SHA-256 of its content, so equal
 * bytes are stored once and a key never changes meaning. The database rows that refer to keys
 * belong to the caller; this module never sees them (sweep asks the caller through keep_fn).
 *
 * The interface is a table of operations (curl's per-protocol vtable) so an S3-compatible
 * backend can replace the local disk without touching callers. The public functions below
 * validate keys before any backend sees them, so backends may assume 64 lowercase hex digits.
 *
 * Local disk layout under root: ab/cd/<sha256> for the objects, tmp/ for writes in progress.
 * A put writes tmp/<random>.part, fsyncs it, renames it into place and fsyncs the directory,
 * so after a crash an object is either complete or absent; stray temp files are swept later.
 * One store object serves all threads of one process; two processes must not share a root
 * (the put/sweep exclusion below is an in-process lock).
 *
 * Must not: use the database, HTTP, h2o, jansson or libvips; log object contents. */
#ifndef CITYD_MEDIA_STORE_H
#define CITYD_MEDIA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"

struct rctx;

/* Hex SHA-256 plus NUL. */
#define MEDIA_SHA_HEX 65
/* A stored object younger than this is never swept, and a temp file younger than this is
 * taken to be a write in progress: the caller must insert the row that refers to a key
 * within this time of media_store_put returning. */
#define MEDIA_STORE_GRACE_S 3600

/* Write the lowercase hex SHA-256 of buf[0..len) and a NUL into out. ERR_INTERNAL (logged)
 * only if OpenSSL cannot compute a digest at all. */
MUST_CHECK enum err media_sha256_hex(const void *buf, size_t len, char out[MEDIA_SHA_HEX]);
/* True when s is exactly 64 lowercase hex digits: the only keys a store accepts. */
bool media_sha_valid(const char *s);

/* Sweep's question to the caller: should the object with this key be kept (a row refers to
 * it)? Set *keep and return ERR_OK; any error stops the sweep before it deletes anything
 * more, so a database outage never turns into "nothing is referenced". */
typedef enum err (*media_keep_fn)(void *arg, struct rctx *cx, const char *sha, bool *keep);

struct media_sweep_stats {
    uint64_t kept;        /* objects keep_fn wanted */
    uint64_t removed;     /* objects keep_fn did not want */
    uint64_t young;       /* objects within the grace period, not asked about */
    uint64_t tmp_removed; /* temp files left by a crash or a failed put */
    uint64_t skipped;     /* names that are not ours (left alone) */
};

struct media_store;

/* A backend. Keys passed in are valid (media_sha_valid); see the wrappers for contracts. */
struct media_store_ops {
    const char *name;
    enum err (*put)(struct media_store *st, struct rctx *cx, const void *buf, size_t len,
                    const char *sha);
    enum err (*open)(struct media_store *st, struct rctx *cx, const char *sha, int *fd,
                     uint64_t *size);
    /* NULL for backends without local files. */
    enum err (*path)(struct media_store *st, struct rctx *cx, const char *sha, char *buf,
                     size_t cap);
    enum err (*remove)(struct media_store *st, struct rctx *cx, const char *sha);
    enum err (*sweep)(struct media_store *st, struct rctx *cx, media_keep_fn keep, void *arg,
                      struct media_sweep_stats *stats);
    void (*free)(struct media_store *st);
};

/* Embedded first in each backend's own struct. */
struct media_store {
    const struct media_store_ops *ops;
};

/* The local-disk backend rooted at root (created with mode 0750 if missing, with tmp/ in it).
 * On success *out is a new store to release with media_store_free. ERR_INTERNAL (logged with
 * the path and the system error) when root cannot be created or opened. */
MUST_CHECK enum err media_store_disk_new(const char *root, struct media_store **out);
/* Release a store; NULL is a no-op. Stored objects stay. */
void media_store_free(struct media_store *st);

/* Store buf[0..len) (borrowed) and write its key into sha_out. Idempotent: storing bytes that
 * are already present succeeds with the same key, refreshes the object's age (so a sweep
 * running now keeps it) and writes nothing. ERR_INTERNAL (logged) on I/O errors, including a
 * full disk; nothing partial is left under the key. */
MUST_CHECK enum err media_store_put(struct media_store *st, struct rctx *cx, const void *buf,
                                    size_t len, char sha_out[MEDIA_SHA_HEX]);
/* Open the object for reading: *fd (the caller closes it) and its *size.
 * ERR_INVALID: sha is not a key; ERR_NOTFOUND: no such object; ERR_INTERNAL: I/O error. */
MUST_CHECK enum err media_store_open(struct media_store *st, struct rctx *cx, const char *sha,
                                     int *fd, uint64_t *size);
/* Write the object's local file name into buf[0..cap) (for sendfile-style serving).
 * ERR_INVALID: bad key; ERR_NOTFOUND: no such object, or a backend without local files;
 * ERR_INTERNAL: buf too small (a PATH_MAX buffer is always enough). */
MUST_CHECK enum err media_store_path(struct media_store *st, struct rctx *cx, const char *sha,
                                     char *buf, size_t cap);
/* Delete the object; deleting an absent one succeeds. For callers that know no row refers to
 * the key any more; otherwise let media_store_sweep collect it. ERR_INVALID: bad key. */
MUST_CHECK enum err media_store_remove(struct media_store *st, struct rctx *cx, const char *sha);
/* Garbage-collect: delete temp files older than MEDIA_STORE_GRACE_S, and every object older
 * than that for which keep(arg, cx, sha, &keep) says false. Names the store did not write are
 * left alone. stats may be NULL; it is filled even when the sweep stops early. Returns the
 * first error of keep (the sweep stops there) or ERR_INTERNAL on I/O errors. */
MUST_CHECK enum err media_store_sweep(struct media_store *st, struct rctx *cx, media_keep_fn keep,
                                      void *arg, struct media_sweep_stats *stats);

#endif
