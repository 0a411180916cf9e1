/* api/domain/workflow.c: the case state machine (see workflow.h). */
#include "api/domain/workflow.h"

#include <string.h>
#include "server/core/roles.h"

#define A(x) CASE_ACT_##x
#define S(x) CASE_##x
#define R(x) ROLE_##x
#define T(x) WORKFLOW_STEP_##x
#define X(x) WORKFLOW_EXT_##x

/* The transition table: the only place that says who may do what, when. Per row: the action,
 * the state it applies in, the state it leads to, the roles that may do it (any one suffices),
 * the step whose deadline starts on entering the new state, the effect on a pending extension
 * request, and whether it counts one 返工. At most one row per (action, from).
 *
 * Choices beyond the plain standard flow (domain.md 4.3):
 * - 作废 has two rows: the 受理员 refuses a report at intake (不予受理), the 值班长 voids an
 *   accepted one instead of 立案; each only in their own queue.
 * - MERGE is the 受理员's: duplicates are spotted at intake, before or just after 受理.
 * - DISPATCH from dispatched is 改派 (wrong department noticed before it answers). The new
 *   department gets a full 处置时限, so the handle deadline restarts; the log keeps the 改派.
 * - 回退 ("not ours") goes back to the dispatcher's queue, whose 派遣时限 starts again.
 * - 核查不通过 is 返工: back to dispatched with a fresh handle deadline, and one rework counted
 *   against the department (返工率, domain.md 4.5).
 * - Extension actions do not change the state. Approval extends the running handle deadline by
 *   the granted time (the caller computes it), so no step starts; the pending flag lives in the
 *   case row and is checked by workflow_extension_next().
 * - 挂账 is possible while waiting for dispatch (no owner can be found) and while dispatched
 *   (the owner cannot solve it now); no deadline runs while parked, and 挂账恢复 puts it back in
 *   the dispatcher's queue.
 * - REOPEN (值班长) re-registers a closed case, e.g. after a complaint; invalid and merged cases
 *   are final (report again instead).
 * - NOT_FIXED is the reporting citizen's "still not fixed" within 7 days of closing (case.c
 *   checks the reporter and the window): 返工 straight back to the department that handled
 *   it, with a fresh handle deadline and one rework counted against it (返工率).
 * - 核实 (domain.md 4.3): the 受理员 may send a citizen's or hotline report to an inspector
 *   (request_confirmation, with the inspector chosen; case.c checks the role and records them
 *   as the assignee) instead of accepting it outright. The 核实时限 runs from the request.
 *   Only that inspector answers: confirm (属实) makes it 已受理 with a fresh 立案时限 (the
 *   值班长 cannot register before the answer), deny (不属实) voids it. Sending it again while
 *   it waits is 改派 to another inspector, with a full 核实时限 of their own.
 * - admin, leader and machine act in no row: admins configure, leaders supervise (督办 is a
 *   message, not a step), and nothing bypasses the table. */
/* clang-format off */
static const struct workflow_rule rules[] = {
    /* columns: action, from, to, roles, starts, ext, rework */
    {A(ACCEPT),            S(REPORTED),   S(ACCEPTED),   R(OPERATOR),   T(REGISTER), X(DROP),    0},
    {A(INVALIDATE),        S(REPORTED),   S(INVALID),    R(OPERATOR),   T(NONE),     X(DROP),    0},
    {A(MERGE),             S(REPORTED),   S(MERGED),     R(OPERATOR),   T(NONE),     X(DROP),    0},
    {A(REQUEST_CONFIRMATION), S(REPORTED), S(CONFIRMING), R(OPERATOR),  T(CONFIRM),  X(DROP),    0},

    {A(REQUEST_CONFIRMATION), S(CONFIRMING), S(CONFIRMING), R(OPERATOR), T(CONFIRM), X(DROP),    0},
    {A(CONFIRM),           S(CONFIRMING), S(ACCEPTED),   R(INSPECTOR),  T(REGISTER), X(DROP),    0},
    {A(DENY),              S(CONFIRMING), S(INVALID),    R(INSPECTOR),  T(NONE),     X(DROP),    0},

    {A(REGISTER),          S(ACCEPTED),   S(REGISTERED), R(SHIFT_LEAD), T(DISPATCH), X(DROP),    0},
    {A(INVALIDATE),        S(ACCEPTED),   S(INVALID),    R(SHIFT_LEAD), T(NONE),     X(DROP),    0},
    {A(MERGE),             S(ACCEPTED),   S(MERGED),     R(OPERATOR),   T(NONE),     X(DROP),    0},

    {A(DISPATCH),          S(REGISTERED), S(DISPATCHED), R(DISPATCHER), T(HANDLE),   X(DROP),    0},
    {A(SUSPEND),           S(REGISTERED), S(SUSPENDED),  R(DISPATCHER), T(NONE),     X(DROP),    0},

    {A(DISPATCH),          S(DISPATCHED), S(DISPATCHED), R(DISPATCHER), T(HANDLE),   X(DROP),    0},
    {A(RETURN),            S(DISPATCHED), S(REGISTERED), R(HANDLER),    T(DISPATCH), X(DROP),    0},
    {A(HANDLE),            S(DISPATCHED), S(HANDLED),    R(HANDLER),    T(VERIFY),   X(DROP),    0},
    {A(REQUEST_EXTENSION), S(DISPATCHED), S(DISPATCHED), R(HANDLER),    T(NONE),     X(REQUEST), 0},
    {A(APPROVE_EXTENSION), S(DISPATCHED), S(DISPATCHED), R(DISPATCHER), T(NONE),     X(DECIDE),  0},
    {A(REJECT_EXTENSION),  S(DISPATCHED), S(DISPATCHED), R(DISPATCHER), T(NONE),     X(DECIDE),  0},
    {A(SUSPEND),           S(DISPATCHED), S(SUSPENDED),  R(DISPATCHER), T(NONE),     X(DROP),    0},

    {A(VERIFY_PASS),       S(HANDLED),    S(VERIFIED),   R(INSPECTOR),  T(CLOSE),    X(DROP),    0},
    {A(VERIFY_FAIL),       S(HANDLED),    S(DISPATCHED), R(INSPECTOR),  T(HANDLE),   X(DROP),    1},

    {A(CLOSE),             S(VERIFIED),   S(CLOSED),     R(SHIFT_LEAD), T(NONE),     X(DROP),    0},

    {A(RESUME),            S(SUSPENDED),  S(REGISTERED), R(DISPATCHER), T(DISPATCH), X(DROP),    0},
    {A(REOPEN),            S(CLOSED),     S(REGISTERED), R(SHIFT_LEAD), T(DISPATCH), X(DROP),    0},
    {A(NOT_FIXED),         S(CLOSED),     S(DISPATCHED), R(CITIZEN),    T(HANDLE),   X(DROP),    1},
};
/* clang-format on */

#define NRULES (sizeof rules / sizeof rules[0])

static const char *const state_names[CASE_STATE__COUNT] = {
    [CASE_REPORTED] = "reported",     [CASE_ACCEPTED] = "accepted",
    [CASE_REGISTERED] = "registered", [CASE_DISPATCHED] = "dispatched",
    [CASE_HANDLED] = "handled",       [CASE_VERIFIED] = "verified",
    [CASE_CLOSED] = "closed",         [CASE_INVALID] = "invalid",
    [CASE_SUSPENDED] = "suspended",   [CASE_MERGED] = "merged",
    [CASE_CONFIRMING] = "confirming",
};

static const struct {
    const char *name;
    const char *event;
} actions[CASE_ACTION__COUNT] = {
    [CASE_ACT_ACCEPT] = {"accept", "case.accepted"},
    [CASE_ACT_REGISTER] = {"register", "case.registered"},
    [CASE_ACT_INVALIDATE] = {"invalidate", "case.invalidated"},
    [CASE_ACT_DISPATCH] = {"dispatch", "case.dispatched"},
    [CASE_ACT_RETURN] = {"return", "case.returned"},
    [CASE_ACT_HANDLE] = {"handle", "case.handled"},
    [CASE_ACT_VERIFY_PASS] = {"verify_pass", "case.verified"},
    [CASE_ACT_VERIFY_FAIL] = {"verify_fail", "case.verify_failed"},
    [CASE_ACT_CLOSE] = {"close", "case.closed"},
    [CASE_ACT_REQUEST_EXTENSION] = {"request_extension", "case.extension_requested"},
    [CASE_ACT_APPROVE_EXTENSION] = {"approve_extension", "case.extension_approved"},
    [CASE_ACT_REJECT_EXTENSION] = {"reject_extension", "case.extension_rejected"},
    [CASE_ACT_SUSPEND] = {"suspend", "case.suspended"},
    [CASE_ACT_RESUME] = {"resume", "case.resumed"},
    [CASE_ACT_REOPEN] = {"reopen", "case.reopened"},
    [CASE_ACT_MERGE] = {"merge", "case.merged"},
    [CASE_ACT_NOT_FIXED] = {"not_fixed", "case.not_fixed"},
    [CASE_ACT_REQUEST_CONFIRMATION] = {"request_confirmation", "case.confirmation_requested"},
    [CASE_ACT_CONFIRM] = {"confirm", "case.confirmed"},
    [CASE_ACT_DENY] = {"deny", "case.denied"},
};

static const char *const step_names[WORKFLOW_STEP__COUNT] = {
    [WORKFLOW_STEP_NONE] = "none",         [WORKFLOW_STEP_REGISTER] = "register",
    [WORKFLOW_STEP_DISPATCH] = "dispatch", [WORKFLOW_STEP_HANDLE] = "handle",
    [WORKFLOW_STEP_VERIFY] = "verify",     [WORKFLOW_STEP_CLOSE] = "close",
    [WORKFLOW_STEP_CONFIRM] = "confirm",
};

/* The step each waiting state is timed by: the state named 待X runs X's deadline. */
static const enum workflow_step state_steps[CASE_STATE__COUNT] = {
    [CASE_ACCEPTED] = WORKFLOW_STEP_REGISTER, [CASE_REGISTERED] = WORKFLOW_STEP_DISPATCH,
    [CASE_DISPATCHED] = WORKFLOW_STEP_HANDLE, [CASE_HANDLED] = WORKFLOW_STEP_VERIFY,
    [CASE_VERIFIED] = WORKFLOW_STEP_CLOSE,    [CASE_CONFIRMING] = WORKFLOW_STEP_CONFIRM,
};

static bool name_eq(const char *known, const char *name, size_t len)
{
    return strlen(known) == len && memcmp(known, name, len) == 0;
}

const char *case_state_name(enum case_state s)
{
    if ((unsigned)s >= CASE_STATE__COUNT)
        return NULL;
    return state_names[s];
}

const char *case_action_name(enum case_action a)
{
    if ((unsigned)a >= CASE_ACTION__COUNT)
        return NULL;
    return actions[a].name;
}

const char *workflow_step_name(enum workflow_step st)
{
    if ((unsigned)st >= WORKFLOW_STEP__COUNT)
        return NULL;
    return step_names[st];
}

enum err case_state_from_name(const char *name, size_t len, enum case_state *out)
{
    unsigned i;

    if (name == NULL)
        return ERR_INVALID;
    for (i = 0; i < CASE_STATE__COUNT; i++) {
        if (name_eq(state_names[i], name, len)) {
            *out = (enum case_state)i;
            return ERR_OK;
        }
    }
    return ERR_INVALID;
}

enum err case_action_from_name(const char *name, size_t len, enum case_action *out)
{
    unsigned i;

    if (name == NULL)
        return ERR_INVALID;
    for (i = 0; i < CASE_ACTION__COUNT; i++) {
        if (name_eq(actions[i].name, name, len)) {
            *out = (enum case_action)i;
            return ERR_OK;
        }
    }
    return ERR_INVALID;
}

const struct workflow_rule *workflow_rule_find(enum case_state from, enum case_action a)
{
    size_t i;

    for (i = 0; i < NRULES; i++) {
        if (rules[i].from == from && rules[i].action == a)
            return &rules[i];
    }
    return NULL;
}

enum err workflow_next(enum case_state from, enum case_action a, uint32_t actor_roles,
                       enum case_state *to)
{
    const struct workflow_rule *r;

    if ((unsigned)from >= CASE_STATE__COUNT || (unsigned)a >= CASE_ACTION__COUNT)
        return ERR_INVALID;
    r = workflow_rule_find(from, a);
    if (r == NULL)
        return ERR_BAD_STATE;
    if ((r->roles & actor_roles) == 0)
        return ERR_FORBIDDEN;
    *to = r->to;
    return ERR_OK;
}

enum err workflow_extension_next(enum case_action a, bool pending, bool *pending_after)
{
    size_t i;

    if ((unsigned)a >= CASE_ACTION__COUNT)
        return ERR_INVALID;
    /* Every row of one action has the same ext (a unit test holds the table to that). */
    for (i = 0; i < NRULES && rules[i].action != a; i++)
        ;
    if (i == NRULES)
        return ERR_BAD_STATE;
    switch (rules[i].ext) {
    case WORKFLOW_EXT_REQUEST:
        if (pending)
            return ERR_BAD_STATE;
        *pending_after = true;
        return ERR_OK;
    case WORKFLOW_EXT_DECIDE:
        if (!pending)
            return ERR_BAD_STATE;
        *pending_after = false;
        return ERR_OK;
    case WORKFLOW_EXT_DROP:
        break;
    }
    *pending_after = false;
    return ERR_OK;
}

enum workflow_step workflow_step_of(enum case_state s)
{
    if ((unsigned)s >= CASE_STATE__COUNT)
        return WORKFLOW_STEP_NONE;
    return state_steps[s];
}

const char *workflow_event_name(enum case_action a)
{
    if ((unsigned)a >= CASE_ACTION__COUNT)
        return NULL;
    return actions[a].event;
}

size_t workflow_rule_count(void)
{
    return NRULES;
}

const struct workflow_rule *workflow_rule_at(size_t i)
{
    if (i >= NRULES)
        return NULL;
    return &rules[i];
}
