/* api/domain/apikey.h: API keys of machine clients (12345 hotline bridge, video-AI event
 * sources, vehicle terminals).
 *
 * A key is "ck_" + an 8-character public prefix + 40 random characters (base64url alphabet,
 * 240 bits). It is shown once, in the answer that creates it; only the SHA-256 of the whole key
 * is stored (server/auth/password.h auth_secret_hash), next to the prefix that finds the row.
 * A key belongs to a machine account (roles == machine) and is traded for short-lived access
 * tokens at POST /api/v1/auth/token (session.h). Revoking a key stops the exchange and every
 * token already exchanged with it at its next request. Creation and revocation are audited;
 * nothing here ever logs or returns a key after creation. */
#ifndef CITYD_DOMAIN_APIKEY_H
#define CITYD_DOMAIN_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define APIKEY_PREFIX_LEN 8
#define APIKEY_SECRET_LEN 40
#define APIKEY_LEN (3 + APIKEY_PREFIX_LEN + APIKEY_SECRET_LEN)
#define APIKEY_SCOPES_MAX 16
#define APIKEY_LIST_MAX 1000

struct apikey_new {
    const char *name; /* 1..64 bytes: what the client is ("12345热线桥接") */
    int64_t user_id;  /* an existing machine account; 0: create one named after the key */
    size_t nscopes;
    const char *const *scopes; /* each 1..32 of a-z 0-9 _ . : */
};

struct apikey_created {
    int64_t id, user_id;
    char prefix[APIKEY_PREFIX_LEN + 1];
    char key[APIKEY_LEN + 1]; /* the only copy of the secret */
};

/* ERR_INVALID: name, scopes, or user_id that is not an enabled machine account. Audited
 * "api_key.create" (and "user.create" for a new machine account). */
enum err apikey_create(struct rctx *cx, const struct apikey_new *in,
                       struct apikey_created *out) MUST_CHECK;

struct apikey_rec {
    int64_t id, user_id, created_by;    /* created_by 0 when unknown */
    const char *name, *prefix, *scopes; /* scopes comma-separated, "" for none */
    const char *user_name, *created_at, *last_used_at, *revoked_at; /* NULL when never/not */
};

/* Newest first, revoked ones included (they stay for the audit trail). */
enum err apikey_list(struct rctx *cx, struct apikey_rec **rows, size_t *n) MUST_CHECK;

/* Revoke; repeating it succeeds and changes nothing. reason (may be NULL) is audited.
 * ERR_NOTFOUND. */
enum err apikey_revoke(struct rctx *cx, int64_t id, const char *reason) MUST_CHECK;

#endif
