/* server/core/roles.h: the roles of cityd as bits, shared by route tables, tokens and the domain.
 *
 * A user may hold several roles; a token carries the mask. The names are the wire names used in
 * tokens, the API and the database (users_roles.role). Pure data: no I/O. */
#ifndef CITYD_ROLES_H
#define CITYD_ROLES_H

#include <stdint.h>
#include <stddef.h>

#define ROLE_LIST(X)                                                                               \
    X(CITIZEN, "citizen", 0)                                                                       \
    X(INSPECTOR, "inspector", 1)                                                                   \
    X(HANDLER, "handler", 2)                                                                       \
    X(OPERATOR, "operator", 3)                                                                     \
    X(SHIFT_LEAD, "shift_lead", 4)                                                                 \
    X(DISPATCHER, "dispatcher", 5)                                                                 \
    X(LEADER, "leader", 6)                                                                         \
    X(ADMIN, "admin", 7)                                                                           \
    X(MACHINE, "machine", 8)

enum role_bit {
#define X(name, wire, bit) ROLE_##name = 1u << (bit),
    ROLE_LIST(X)
#undef X
};

/* Route-table shorthands. ROLE_PUBLIC means no token is needed at all. */
#define ROLE_PUBLIC 0u
#define ROLE_STAFF                                                                                 \
    (ROLE_INSPECTOR | ROLE_HANDLER | ROLE_OPERATOR | ROLE_SHIFT_LEAD | ROLE_DISPATCHER |           \
     ROLE_LEADER | ROLE_ADMIN)
#define ROLE_USER (ROLE_STAFF | ROLE_CITIZEN)
#define ROLE_ANY (ROLE_USER | ROLE_MACHINE)

/* Bit for a wire name, 0 when unknown. */
uint32_t role_from_name(const char *name, size_t len);
/* Wire name of a single bit; NULL when not exactly one known bit. */
const char *role_name(uint32_t bit);
/* Number of known roles, and the bit of the i-th (for iteration in tests and docs). */
size_t role_count(void);
uint32_t role_at(size_t i);

#endif
