/* server/ext/webhook.h: one webhook delivery — an HTTP POST of a JSON body to a machine
 * client's URL, signed so that the receiver can tell it comes from cityd and is fresh.
 *
 * Signature: HMAC-SHA256 (libsodium crypto_auth_hmacsha256) keyed with the webhook's secret over
 * "<t>.<body>", where t is the Unix time in seconds of the attempt, sent as
 *   X-Cityd-Signature: t=<t>,v1=<64 lower-case hex digits>
 * with X-Cityd-Event-Id: <event id> and X-Cityd-Webhook-Id: <webhook id>. The receiver
 * recomputes the HMAC over the raw body it got, compares in constant time and refuses a t too
 * far from its clock (docs/open311.md). No database: the webhook deliverer (api/domain/
 * webhook.h) calls this on its own threads, with no transaction open, and blocks at most the
 * timeout it passes. Secrets and bodies are never logged. */
#ifndef CITYD_EXT_WEBHOOK_H
#define CITYD_EXT_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define EXT_WEBHOOK_CONNECT_TIMEOUT_MS 3000
#define EXT_WEBHOOK_SIG_HEX 65 /* 64 hex digits + NUL */

/* The hex HMAC-SHA256 of "<t>.<body>" under secret, into out. */
void ext_webhook_sign(const char *secret, int64_t t, const char *body, size_t len,
                      char out[EXT_WEBHOOK_SIG_HEX]);

struct ext_webhook_result {
    long status;         /* HTTP status answered, 0 when none came */
    int64_t duration_ms; /* of the attempt */
    char error[160];     /* why it failed, "" on success; never the body or the secret */
};

/* POST body (JSON) to url, signed at time t. ERR_OK when the receiver answered 2xx; ERR_BUSY
 * for anything else (unreachable, timeout after timeout_ms, a non-2xx answer), with out filled
 * either way. Redirects are not followed. */
enum err ext_webhook_post(struct rctx *cx, const char *url, const char *secret, int64_t webhook_id,
                          int64_t event_id, const char *body, size_t len, int64_t t, int timeout_ms,
                          struct ext_webhook_result *out) MUST_CHECK;

#endif
