/* api/domain/session.h: logins, tokens and devices.
 *
 * A login creates a session (one per device: a refresh-token family) and returns a short-lived
 * access token (JWT, at most 15 minutes) and an opaque refresh token that is stored only as a
 * SHA-256 hash and rotated on every use; presenting a used refresh token again revokes the
 * whole session. A per-user token version, checked on every authenticated request, revokes all
 * access tokens at once (logout-all, password or role change, disabled account). Failed logins
 * are counted by lockout.h. Every outcome is audited. */
#ifndef CITYD_DOMAIN_SESSION_H
#define CITYD_DOMAIN_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include "server/auth/jwt.h"
#include "server/core/err.h"
#include "server/core/rctx.h"

struct session_config {
    const struct auth_keys *keys; /* borrowed for the life of the process */
    struct auth_policy policy;
    int access_ttl_s;
    int refresh_ttl_s;
    int refresh_reuse_grace_s; /* a retry of the just-used refresh token within it is answered */
};

/* Once at start-up, before any request. */
void session_configure(const struct session_config *c);
const struct session_config *session_config_get(void);

#define SESSION_REFRESH_LEN 43 /* base64url characters, 256 bits */

struct token_pair {
    char access[AUTH_JWT_MAX + 1];
    int64_t access_expires_in; /* seconds */
    char refresh[SESSION_REFRESH_LEN + 1];
    int64_t refresh_expires_in;
    int64_t user_id;
    int64_t session_id;
};

struct login_in {
    const char *account; /* username or phone */
    const char *password;
    const char *device_id;
    const char *platform; /* android, ios, harmony, web, miniprogram */
};

/* ERR_UNAUTH (wrong account or password: one message for both), ERR_LOCKED (account locked),
 * ERR_RATELIMIT (address throttled), ERR_FORBIDDEN (disabled). out is pool memory. */
enum err session_login(struct rctx *cx, const struct login_in *in,
                       struct token_pair **out) MUST_CHECK;
/* Rotate a refresh token. The just-rotated token presented again within
 * refresh_reuse_grace_s (a retry after a lost answer) gets the same new refresh token again
 * (and a fresh access token), as long as that new token is unused; any other reuse of a rotated
 * token revokes its session: ERR_UNAUTH. */
enum err session_refresh(struct rctx *cx, const char *refresh_token,
                         struct token_pair **out) MUST_CHECK;
/* Log out the device of the caller's token (its session), or every device of the caller. */
enum err session_logout(struct rctx *cx) MUST_CHECK;
enum err session_logout_all(struct rctx *cx) MUST_CHECK;

/* Issue a pair for an existing user on a new session (registration, WeChat). */
enum err session_open(struct rctx *cx, int64_t user_id, const char *device_id, const char *platform,
                      struct token_pair **out) MUST_CHECK;

/* Create the user (user_create) and open its first session in one transaction: on any error
 * neither exists. */
struct user_new;
enum err session_register(struct rctx *cx, const struct user_new *in, const char *device_id,
                          const char *platform, struct token_pair **out) MUST_CHECK;

/* Exchange a machine API key ("ck_<prefix><secret>") for an access token without a session. */
enum err session_api_key_token(struct rctx *cx, const char *api_key,
                               struct token_pair **out) MUST_CHECK;

/* The per-request check of authenticated callers, several requests at once. For each: the
 * token version still current, the session open and the account not disabled (ERR_UNAUTH
 * otherwise); for a machine token also its API key not revoked (ERR_UNAUTH) and, when the key
 * has scopes, the operation's scope (its route-table row's, "cases:write") among them
 * (ERR_FORBIDDEN; also when the operation names no scope). Every refusal is audited with its own
 * request. Callers that set profile also get their own record (with department, region and grids)
 * in cx->who.profile, read by the same statement.
 *
 * All user checks of one call are one statement (`WHERE u.id IN (...)`): under load, server/http
 * hands requests that arrived together to one worker, and MariaDB answers them for little more
 * than the price of one primary-key read. The check is never cached: a revocation committed
 * before a request arrived is seen by that request. The contexts share cx[0]'s connection. */
#define SESSION_CHECK_MAX 64
struct actor_check {
    struct rctx *cx;
    const char *scope; /* the route's API-key scope; NULL: not open to API keys */
    bool profile;
    enum err res; /* out */
};
void session_check_actors(struct actor_check *v, size_t n);

/* Devices of the caller (sessions not revoked). Row i: id, device_id, platform, created_at,
 * last_seen_at, current (1 when it is the caller's own session). */
struct device_list {
    size_t n;
    struct device_row {
        int64_t id;
        const char *device_id, *platform, *created_at, *last_seen_at;
        bool current;
    } * rows;
};
enum err session_devices(struct rctx *cx, struct device_list *out) MUST_CHECK;
/* Revoke one of the caller's sessions (a lost phone). ERR_NOTFOUND when not the caller's. */
enum err session_revoke_device(struct rctx *cx, int64_t session_id) MUST_CHECK;

#endif
