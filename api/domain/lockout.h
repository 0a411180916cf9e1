/* api/domain/lockout.h: budgets of failed password checks, per account and per source address.
 *
 * Failed logins (and failed old-password checks of a password change) are recorded in
 * login_attempts under a key the client cannot spell: "u:<id>" for a known user (so a username
 * and a phone number of the same person share one budget) and "n:" + SHA-256 of the name as
 * typed otherwise (names never start with a hash's prefix, and a password typed into the account
 * field is not stored). Past lockout.threshold failures within the window the account is locked
 * (ERR_LOCKED) for the duration; four times that many from one source address throttle the
 * address (ERR_RATELIMIT). The source address of IPv6 clients is their /64: one subscriber
 * usually holds a whole /64, so rotating within it must not reset the budget. */
#ifndef CITYD_DOMAIN_LOCKOUT_H
#define CITYD_DOMAIN_LOCKOUT_H

#include <stdbool.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct lockout_config {
    int threshold; /* failures per account within the window */
    int window_s;
    int duration_s;
};

/* Once at start-up, before any request. */
void lockout_configure(const struct lockout_config *c);

/* The key of the caller's source address: an IPv4 address as is, an IPv6 address as its /64
 * ("2001:db8:1:2::/64"); an IPv4-mapped IPv6 address as the IPv4 address. */
#define LOCKOUT_SOURCE_MAX 48
void lockout_source(const char *ip, char out[LOCKOUT_SOURCE_MAX]);

/* ERR_RATELIMIT (audited as `action`) while the caller's source address is throttled. */
enum err lockout_address_check(struct rctx *cx, const char *action) MUST_CHECK;
/* ERR_LOCKED while the user (user_id > 0) or the unknown name (user_id 0) is locked. */
enum err lockout_check(struct rctx *cx, int64_t user_id, const char *account) MUST_CHECK;
/* Record one password check of the user or name from the caller's address. A success ends the
 * account's failure run. */
void lockout_record(struct rctx *cx, int64_t user_id, const char *account, bool success);

#endif
