/* api/domain/signup.h: citizen registration by phone, proved by a text-message code.
 *
 * Step 1 (signup_request_code) answers the same for every valid number, so registration does
 * not reveal who has an account: a new number gets a six-digit code by text, a number that
 * already has an account gets a text saying so (and no code). Requests are throttled per
 * source address (IPv6 by /64) per hour, per number per minute and globally per minute; no
 * password is hashed in this step. Step 2 (signup_register) checks the code first (at most
 * SIGNUP_ATTEMPTS_MAX tries per code, then it is dead) and only then hashes the password and
 * creates the account with its first session, so a flood of registrations costs no argon2
 * work and a taken number is refused before any hashing. */
#ifndef CITYD_DOMAIN_SIGNUP_H
#define CITYD_DOMAIN_SIGNUP_H

#include "api/domain/session.h"
#include "server/core/err.h"
#include "server/core/rctx.h"

#define SIGNUP_CODE_TTL_S 300
#define SIGNUP_ATTEMPTS_MAX 5
#define SIGNUP_PHONE_INTERVAL_S 60 /* one code per number per minute */

struct signup_config {
    int per_address_hour; /* code requests from one source address per hour */
    int global_minute;    /* code requests from everyone per minute */
};

/* Once at start-up, before any request. */
void signup_configure(const struct signup_config *c);

/* Send a code to phone (or the "already registered" notice). ERR_INVALID bad number,
 * ERR_RATELIMIT throttled, ERR_BUSY the text could not be sent. *expires_in: seconds. */
enum err signup_request_code(struct rctx *cx, const char *phone, int *expires_in) MUST_CHECK;

struct signup_in {
    const char *phone, *code, *password, *display_name, *device_id, *platform;
};
/* ERR_INVALID with "code: wrong or expired" for a wrong, expired, used or never sent code
 * (the same for a number that has an account), or a bad password / display name (checked
 * before the code is spent). ERR_CONFLICT only when the number was registered since. */
enum err signup_register(struct rctx *cx, const struct signup_in *in,
                         struct token_pair **out) MUST_CHECK;

#endif
