/* api/domain/user.h: users of every kind — staff, leaders, citizens and machine accounts.
 *
 * Creation checks the password policy and hashes with argon2id; a user is found by id,
 * username or phone. Object-level visibility rules for other resources start from the
 * caller's record here (department, grids, jurisdiction). */
#ifndef CITYD_DOMAIN_USER_H
#define CITYD_DOMAIN_USER_H

#include <stdbool.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct user_new {
    const char *username; /* NULL for citizens who register by phone */
    const char *phone;    /* NULL allowed for staff */
    const char *display_name;
    const char *password; /* NULL: no password login (WeChat-only citizens) */
    uint32_t roles;
    int64_t department_id; /* 0 = none */
    int64_t region_id;     /* 0 = none */
};

struct user_rec {
    int64_t id;
    const char *username, *phone, *display_name;
    uint32_t roles;
    int64_t department_id, region_id;
    const char *department_name, *region_name;
    bool disabled;
    const char *created_at;
    size_t ngrids;
    int64_t *grid_ids;
};

/* A phone number as accounts hold it: 5 to 20 digits, optionally after '+'. */
bool user_phone_valid(const char *phone);

/* Validates (username 3..32 of [a-z0-9_.-], phone 5..20 digits with optional +, display name
 * 1..64 bytes, password policy) and inserts. ERR_CONFLICT when the username or phone is taken.
 * Writes an audit row "user.create". */
enum err user_create(struct rctx *cx, const struct user_new *in, int64_t *id) MUST_CHECK;
/* The user with its department, region and grids; ERR_NOTFOUND. */
enum err user_get(struct rctx *cx, int64_t id, struct user_rec *out) MUST_CHECK;
/* The caller's own record: the one the token check loaded (ROUTE_AUTH_PROFILE), else read. */
enum err user_me(struct rctx *cx, struct user_rec *out) MUST_CHECK;

/* The profile columns of struct user_rec for a statement over users u with user_profile_joins
 * (session_check_actors reads them with the token check), and the record from such a row:
 * column 0 is u.id, col the first profile column. Strings are copied into cx's pool. */
struct db_res;
extern const char user_profile_columns[];
extern const char user_profile_joins[];
void user_profile_from_row(struct rctx *cx, const struct db_res *r, size_t row, size_t col,
                           struct user_rec *out);

struct user_password_change {
    const char *old_password, *new_password;
};

/* Change the caller's password after checking the old one; bumps the token version and ends
 * every session of the user, this one included: every device logs in again. */
enum err user_change_password(struct rctx *cx, const struct user_password_change *in) MUST_CHECK;

#endif
