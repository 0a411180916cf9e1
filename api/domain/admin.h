/* api/domain/admin.h: user administration and the audit log reader.
 *
 * Admins create staff and machine accounts, assign roles, department, jurisdiction (a region:
 * the leader sees that region and everything below it) and grids (an inspector's patrol cells),
 * disable and enable accounts and reset passwords. Invariants kept here:
 *   - roles are either a non-empty set of staff roles or exactly `machine`; citizens register
 *     themselves and keep the citizen role (an admin may only disable or enable them);
 *   - a handler has a department, a leader a region, and only an inspector has grids;
 *   - any change of roles, disabling and a password reset bump users.token_version in the same
 *     transaction, so every access token of that user fails at its next request; disabling and
 *     a reset also end the user's sessions (refresh tokens);
 *   - an admin cannot disable themselves or take away their own admin role (no lock-out);
 *   - every change is audited with the caller, and the fields it touched (never a password).
 * The caller's role is checked by the router; nothing here trusts request fields for identity. */
#ifndef CITYD_DOMAIN_ADMIN_H
#define CITYD_DOMAIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct idem; /* idempotency.h: the request's Idempotency-Key record, built by api/ */
#include "user.h"

#define ADMIN_LIST_MAX 200
#define ADMIN_GRIDS_MAX 64 /* grids of one inspector */

struct admin_user_filter {
    const char *q; /* prefix of username, phone or display name; NULL = any */
    uint32_t role; /* users holding all these role bits; 0 = any */
    int64_t department_id, region_id;
    int disabled;     /* -1 any, 0 active only, 1 disabled only */
    int64_t after_id; /* cursor: ids greater than this */
    int limit;        /* 1..ADMIN_LIST_MAX */
};

struct admin_user_page {
    size_t n;
    struct user_rec *items; /* grids not filled in lists (ngrids 0) */
    int64_t next_after;     /* 0 when this was the last page */
};

enum err admin_user_list(struct rctx *cx, const struct admin_user_filter *f,
                         struct admin_user_page *out) MUST_CHECK;

struct admin_user_new {
    struct user_new u; /* username required; password required unless roles == machine */
    size_t ngrids;
    const int64_t *grid_ids;
};

/* Create a staff or machine account. idem (idempotency.h) with a key makes a
 * retry return the first user (*replay set) instead of a 409. ERR_INVALID: the rules above,
 * an unknown department, region or grid (named); ERR_CONFLICT: username or phone taken. */
enum err admin_user_create(struct rctx *cx, const struct admin_user_new *in, struct idem *idem,
                           int64_t *id, bool *replay) MUST_CHECK;

/* A partial update; has_* says which fields were sent. phone NULL with has_phone clears it;
 * department_id / region_id 0 clear them; grid_ids replaces the whole set. */
struct admin_user_patch {
    bool has_display_name, has_phone, has_roles, has_department, has_region, has_grids;
    const char *display_name, *phone;
    uint32_t roles;
    int64_t department_id, region_id;
    size_t ngrids;
    const int64_t *grid_ids;
};

/* ERR_NOTFOUND, ERR_INVALID (rules, unknown references), ERR_CONFLICT (phone taken),
 * ERR_BAD_STATE (own admin role; roles of a citizen). A roles change bumps the token
 * version. Audited "user.update" with the changed field names. */
enum err admin_user_update(struct rctx *cx, int64_t id,
                           const struct admin_user_patch *p) MUST_CHECK;

/* Disable (bump token version, end sessions) or enable. reason (1..200 bytes) goes to the audit
 * row. Repeating either is a no-op that still succeeds. ERR_NOTFOUND, ERR_BAD_STATE (self). */
enum err admin_user_set_disabled(struct rctx *cx, int64_t id, bool disabled,
                                 const char *reason) MUST_CHECK;

/* Set a new password chosen by the admin (policy checked against the user's username and
 * phone), bump the token version and end every session of the user. Machine accounts have no
 * password: ERR_BAD_STATE. ERR_NOTFOUND, ERR_INVALID (policy). */
enum err admin_user_reset_password(struct rctx *cx, int64_t id, const char *password) MUST_CHECK;

/* ---- audit log ---------------------------------------------------------------------------- */

#define ADMIN_AUDIT_MAX 200

struct audit_filter {
    int64_t actor_id;       /* 0 = any */
    const char *action;     /* exact, or a prefix when it ends in '.' ("user."); NULL = any */
    int64_t from_ms, to_ms; /* [from, to); 0 = open */
    int64_t before_id;      /* cursor: ids lower than this; 0 = newest first */
    int limit;              /* 1..ADMIN_AUDIT_MAX */
};

struct audit_row {
    int64_t id, actor_id, object_id; /* 0 when NULL */
    uint32_t actor_roles;
    const char *at, *action, *object_type, *result, *ip, *device_id, *request_id, *detail;
};

struct audit_page {
    size_t n;
    struct audit_row *items;
    int64_t next_before; /* 0 when this was the last page */
};

/* Newest first. ERR_INVALID on a bad action pattern. */
enum err admin_audit_list(struct rctx *cx, const struct audit_filter *f,
                          struct audit_page *out) MUST_CHECK;

#endif
