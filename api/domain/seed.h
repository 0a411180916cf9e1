/* api/domain/seed.h: the demo city that ./run creates — regions, grids, departments and one
 * user per role — so that a fresh install can be tried from the apps at once.
 *
 * Idempotent: existing rows are kept (matched by code or username) and demo users get a new
 * random password on every run, which is returned to be printed and written for scripts. */
#ifndef CITYD_DOMAIN_SEED_H
#define CITYD_DOMAIN_SEED_H

#include <stddef.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct seed_login {
    const char *role, *username;
    char password[24];
};

#define SEED_LOGINS 8

enum err seed_demo_city(struct rctx *cx, struct seed_login out[SEED_LOGINS], size_t *n) MUST_CHECK;

#endif
