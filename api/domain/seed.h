/* api/domain/seed.h: the demo city that ./run creates — regions, grids, departments and one
 * user per role — so that a fresh install can be tried from the apps at once.
 *
 * Idempotent: existing rows are kept (matched by code or username). A demo user is created
 * once, with a random password that is returned to be printed and written for scripts; a demo
 * user that exists already is left as it is (an admin's changes stay) and its password is
 * returned empty. */
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
