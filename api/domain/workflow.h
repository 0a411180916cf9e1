/* api/domain/workflow.h: the case workflow of 数字城管 as one state machine.
 *
 * 上报 → (核实) → 受理 → 立案 → 派遣 → 处置 → 核查 → 结案, with 作废, 合并, 回退, 返工, 延期, 挂账
 * and 重开. Naming: 核实 (an inspector confirms a citizen's or hotline report is real) is
 * "confirm"; 核查 (an inspector checks a handled case) is "verify".
 * Owns the case states, the actions, the wire names of both, the event names written to the
 * outbox, and the transition table: for each (action, from state) at most one rule saying the
 * next state, which roles may act, and which step's deadline (时限) starts. workflow.c holds that
 * table as one static array; everything here reads it.
 *
 * Pure: no I/O, no database, no clock. It decides whether a step is allowed; the caller
 * (api/domain/case.c) loads the case under lock, asks here, then writes the new state, the log
 * row, the deadline and the outbox event in one transaction.
 *
 * Numeric values of the enums may change between versions: store and send the wire names. */
#ifndef CITYD_WORKFLOW_H
#define CITYD_WORKFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"

enum case_state {
    CASE_REPORTED,   /* "reported"   上报, 待受理 */
    CASE_ACCEPTED,   /* "accepted"   已受理, 待立案 */
    CASE_REGISTERED, /* "registered" 已立案, 待派遣 */
    CASE_DISPATCHED, /* "dispatched" 已派遣, 待处置 (also after 返工) */
    CASE_HANDLED,    /* "handled"    已处置, 待核查 */
    CASE_VERIFIED,   /* "verified"   核查通过, 待结案 */
    CASE_CLOSED,     /* "closed"     已结案 (only REOPEN leaves it) */
    CASE_INVALID,    /* "invalid"    作废 (final) */
    CASE_SUSPENDED,  /* "suspended"  挂账: parked, no deadline runs */
    CASE_MERGED,     /* "merged"     duplicate of another case (final) */
    CASE_CONFIRMING, /* "confirming" 待核实: an inspector is sent to confirm the report */
    CASE_STATE__COUNT
};

enum case_action {
    CASE_ACT_ACCEPT,            /* "accept"            受理 */
    CASE_ACT_REGISTER,          /* "register"          立案 */
    CASE_ACT_INVALIDATE,        /* "invalidate"        作废 / 不予受理 */
    CASE_ACT_DISPATCH,          /* "dispatch"          派遣, and 改派 while dispatched */
    CASE_ACT_RETURN,            /* "return"            回退: "not ours" */
    CASE_ACT_HANDLE,            /* "handle"            处置反馈 */
    CASE_ACT_VERIFY_PASS,       /* "verify_pass"       核查通过 */
    CASE_ACT_VERIFY_FAIL,       /* "verify_fail"       核查不通过 → 返工 */
    CASE_ACT_CLOSE,             /* "close"             结案 */
    CASE_ACT_REQUEST_EXTENSION, /* "request_extension" 申请延期 */
    CASE_ACT_APPROVE_EXTENSION, /* "approve_extension" 批准延期 */
    CASE_ACT_REJECT_EXTENSION,  /* "reject_extension"  驳回延期 */
    CASE_ACT_SUSPEND,           /* "suspend"           挂账 */
    CASE_ACT_RESUME,            /* "resume"            挂账恢复 */
    CASE_ACT_REOPEN,            /* "reopen"            重新立案 after close */
    CASE_ACT_MERGE,             /* "merge"             合并 into the case it duplicates */
    CASE_ACT_NOT_FIXED, /* "not_fixed"         市民反映未解决 → 返工 (reporter, 7 days) */
    CASE_ACT_REQUEST_CONFIRMATION, /* "request_confirmation" 派发核实 (and 改派 to another
                                      inspector) */
    CASE_ACT_CONFIRM,              /* "confirm"              核实属实 → 待立案 */
    CASE_ACT_DENY,                 /* "deny"                 核实不属实 → 作废 */
    CASE_ACTION__COUNT
};

/* The timed steps; each has a limit per category (categories.limit_<step>*). */
enum workflow_step {
    WORKFLOW_STEP_NONE,     /* "none": no deadline runs */
    WORKFLOW_STEP_REGISTER, /* "register" 立案时限 */
    WORKFLOW_STEP_DISPATCH, /* "dispatch" 派遣时限 */
    WORKFLOW_STEP_HANDLE,   /* "handle"   处置时限 */
    WORKFLOW_STEP_VERIFY,   /* "verify"   核查时限 */
    WORKFLOW_STEP_CLOSE,    /* "close"    结案时限 */
    WORKFLOW_STEP_CONFIRM,  /* "confirm"  核实时限 */
    WORKFLOW_STEP__COUNT
};

/* What an action does to the pending extension request (延期申请) of a dispatched case. */
enum workflow_ext {
    WORKFLOW_EXT_DROP,    /* any pending request lapses: the case left the handler's hands */
    WORKFLOW_EXT_REQUEST, /* sets it; not allowed while one is pending */
    WORKFLOW_EXT_DECIDE,  /* answers it; allowed only while one is pending */
};

/* One row of the transition table. */
struct workflow_rule {
    enum case_action action;
    enum case_state from;
    enum case_state to;
    uint32_t roles;            /* ROLE_* bits, any of which may act */
    enum workflow_step starts; /* deadline that (re)starts on entering `to` */
    enum workflow_ext ext;     /* effect on the pending extension request */
    bool rework;               /* counts one 返工 against the department */
};

/* Wire names ("reported" …, "accept" …, "register" …). NULL when out of range. Static. */
const char *case_state_name(enum case_state s);
const char *case_action_name(enum case_action a);
const char *workflow_step_name(enum workflow_step st);
/* Enum for a wire name of len bytes (need not be NUL-terminated). ERR_INVALID when unknown;
 * *out is written only on success. */
enum err case_state_from_name(const char *name, size_t len, enum case_state *out) MUST_CHECK;
enum err case_action_from_name(const char *name, size_t len, enum case_action *out) MUST_CHECK;

/* Whether actor_roles may apply action a to a case in state from, and the state it leads to.
 * Checks in this order: ERR_INVALID for an out-of-range state or action; ERR_BAD_STATE when the
 * action is not allowed in that state for anyone; ERR_FORBIDDEN when it is, but none of
 * actor_roles may do it. *to is written only on ERR_OK. For the extension actions also call
 * workflow_extension_next(). */
enum err workflow_next(enum case_state from, enum case_action a, uint32_t actor_roles,
                       enum case_state *to) MUST_CHECK;

/* The pending-extension flag after action a (call once workflow_next() has allowed a).
 * ERR_BAD_STATE for a request while one is pending, or an approval/rejection while none is;
 * ERR_INVALID for an out-of-range action. *pending_after is written only on ERR_OK. */
enum err workflow_extension_next(enum case_action a, bool pending, bool *pending_after) MUST_CHECK;

/* The rule for (from, a), or NULL when the action is not allowed in that state. Static storage;
 * the caller reads `starts` and `rework` from it after workflow_next() has said yes. */
const struct workflow_rule *workflow_rule_find(enum case_state from, enum case_action a);

/* The step whose deadline runs while a case is in state s (WORKFLOW_STEP_NONE for reported,
 * suspended and the final states). */
enum workflow_step workflow_step_of(enum case_state s);

/* Outbox/WebSocket event name of an action ("case.accepted", "case.dispatched" …); NULL when out
 * of range. Static storage. */
const char *workflow_event_name(enum case_action a);

/* The transition table, for tests and generated docs. workflow_rule_at() returns NULL for
 * i >= workflow_rule_count(). */
size_t workflow_rule_count(void);
const struct workflow_rule *workflow_rule_at(size_t i);

#endif
