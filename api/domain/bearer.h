/* api/domain/bearer.h: who an access token says the caller is — the rule that turns verified
 * JWT claims into the request's actor (user, roles, token version, device, session family, API
 * key), and the per-thread memory of tokens already verified.
 *
 * Apps send the same access token with every request for its whole life. Each thread that
 * authenticates (the HTTP loops) keeps the claims of the last tokens it verified, keyed by the
 * whole token text, until they expire: the signature, base64 and JSON work then happens once
 * per token instead of per request. A cached token is never accepted later than a fresh check
 * would accept it (exp without leeway). Revocation is unaffected: token version, session and
 * account are checked in the database on every request (session_check_actors). No database
 * here: this runs on the loop threads. */
#ifndef CITYD_BEARER_H
#define CITYD_BEARER_H

#include <stddef.h>
#include <stdint.h>
#include "server/auth/jwt.h"
#include "server/core/err.h"
#include "server/core/rctx.h"

#define BEARER_CACHE 64           /* tokens remembered per thread */
#define BEARER_CACHE_MAX_LEN 1536 /* longer tokens are verified every time */

/* Verify an access token at now (seconds) with keys and policy, or take its claims from this
 * thread's cache, and fill who. ERR_UNAUTH with the reason in why when the token is refused. */
enum err bearer_authenticate(const struct auth_keys *keys, const struct auth_policy *policy,
                             const char *token, size_t len, int64_t now, struct actor *who,
                             char *why, size_t whylen) MUST_CHECK;

/* Free this thread's cache (a loop thread ending). */
void bearer_thread_done(void);

#endif
