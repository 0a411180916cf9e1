/* tests/unit/test_workflow.c: api/domain/workflow.c — the case state machine.
 *
 * The expected transitions are written out again below, independently of workflow.c's table,
 * and checked against workflow_next() for every state x action x role set. A change to the
 * table therefore has to be made twice, on purpose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "api/domain/workflow.h"
#include "server/core/roles.h"

struct expect {
    enum case_action a;
    enum case_state from;
    enum case_state to;
    uint32_t roles;
    enum workflow_step starts;
};

static const struct expect expected[] = {
    {CASE_ACT_ACCEPT, CASE_REPORTED, CASE_ACCEPTED, ROLE_OPERATOR, WORKFLOW_STEP_REGISTER},
    {CASE_ACT_INVALIDATE, CASE_REPORTED, CASE_INVALID, ROLE_OPERATOR, WORKFLOW_STEP_NONE},
    {CASE_ACT_MERGE, CASE_REPORTED, CASE_MERGED, ROLE_OPERATOR, WORKFLOW_STEP_NONE},
    {CASE_ACT_REGISTER, CASE_ACCEPTED, CASE_REGISTERED, ROLE_SHIFT_LEAD, WORKFLOW_STEP_DISPATCH},
    {CASE_ACT_INVALIDATE, CASE_ACCEPTED, CASE_INVALID, ROLE_SHIFT_LEAD, WORKFLOW_STEP_NONE},
    {CASE_ACT_MERGE, CASE_ACCEPTED, CASE_MERGED, ROLE_OPERATOR, WORKFLOW_STEP_NONE},
    {CASE_ACT_DISPATCH, CASE_REGISTERED, CASE_DISPATCHED, ROLE_DISPATCHER, WORKFLOW_STEP_HANDLE},
    {CASE_ACT_SUSPEND, CASE_REGISTERED, CASE_SUSPENDED, ROLE_DISPATCHER, WORKFLOW_STEP_NONE},
    {CASE_ACT_DISPATCH, CASE_DISPATCHED, CASE_DISPATCHED, ROLE_DISPATCHER, WORKFLOW_STEP_HANDLE},
    {CASE_ACT_RETURN, CASE_DISPATCHED, CASE_REGISTERED, ROLE_HANDLER, WORKFLOW_STEP_DISPATCH},
    {CASE_ACT_HANDLE, CASE_DISPATCHED, CASE_HANDLED, ROLE_HANDLER, WORKFLOW_STEP_VERIFY},
    {CASE_ACT_REQUEST_EXTENSION, CASE_DISPATCHED, CASE_DISPATCHED, ROLE_HANDLER,
     WORKFLOW_STEP_NONE},
    {CASE_ACT_APPROVE_EXTENSION, CASE_DISPATCHED, CASE_DISPATCHED, ROLE_DISPATCHER,
     WORKFLOW_STEP_NONE},
    {CASE_ACT_REJECT_EXTENSION, CASE_DISPATCHED, CASE_DISPATCHED, ROLE_DISPATCHER,
     WORKFLOW_STEP_NONE},
    {CASE_ACT_SUSPEND, CASE_DISPATCHED, CASE_SUSPENDED, ROLE_DISPATCHER, WORKFLOW_STEP_NONE},
    {CASE_ACT_VERIFY_PASS, CASE_HANDLED, CASE_VERIFIED, ROLE_INSPECTOR, WORKFLOW_STEP_CLOSE},
    {CASE_ACT_VERIFY_FAIL, CASE_HANDLED, CASE_DISPATCHED, ROLE_INSPECTOR, WORKFLOW_STEP_HANDLE},
    {CASE_ACT_CLOSE, CASE_VERIFIED, CASE_CLOSED, ROLE_SHIFT_LEAD, WORKFLOW_STEP_NONE},
    {CASE_ACT_RESUME, CASE_SUSPENDED, CASE_REGISTERED, ROLE_DISPATCHER, WORKFLOW_STEP_DISPATCH},
    {CASE_ACT_REOPEN, CASE_CLOSED, CASE_REGISTERED, ROLE_SHIFT_LEAD, WORKFLOW_STEP_DISPATCH},
    {CASE_ACT_NOT_FIXED, CASE_CLOSED, CASE_DISPATCHED, ROLE_CITIZEN, WORKFLOW_STEP_HANDLE},
    {CASE_ACT_REQUEST_CONFIRMATION, CASE_REPORTED, CASE_CONFIRMING, ROLE_OPERATOR,
     WORKFLOW_STEP_CONFIRM},
    {CASE_ACT_REQUEST_CONFIRMATION, CASE_CONFIRMING, CASE_CONFIRMING, ROLE_OPERATOR,
     WORKFLOW_STEP_CONFIRM},
    {CASE_ACT_CONFIRM, CASE_CONFIRMING, CASE_ACCEPTED, ROLE_INSPECTOR, WORKFLOW_STEP_REGISTER},
    {CASE_ACT_DENY, CASE_CONFIRMING, CASE_INVALID, ROLE_INSPECTOR, WORKFLOW_STEP_NONE},
};

#define NEXPECTED (sizeof expected / sizeof expected[0])

static uint32_t all_roles(void)
{
    uint32_t m = 0;
    size_t i;

    for (i = 0; i < role_count(); i++)
        m |= role_at(i);
    return m;
}

static const struct expect *expect_find(enum case_state from, enum case_action a)
{
    size_t i;

    for (i = 0; i < NEXPECTED; i++) {
        if (expected[i].from == from && expected[i].a == a)
            return &expected[i];
    }
    return NULL;
}

/* Apply a as a user holding exactly role; fails the test unless allowed. */
static enum case_state step(enum case_state from, enum case_action a, uint32_t role)
{
    enum case_state to = CASE_STATE__COUNT;

    assert_int_equal(workflow_next(from, a, role, &to), ERR_OK);
    return to;
}

/* Every state x action x set of roles (all 2^n subsets of the known roles): allowed exactly
 * where the expected table says, ERR_BAD_STATE where no rule exists, ERR_FORBIDDEN otherwise. */
static void test_exhaustive(void **state)
{
    uint32_t nsets = UINT32_C(1) << role_count();
    unsigned s, a;
    uint32_t set;
    size_t allowed = 0;

    (void)state;
    assert_int_equal(role_count(), 9);
    for (s = 0; s < CASE_STATE__COUNT; s++) {
        for (a = 0; a < CASE_ACTION__COUNT; a++) {
            const struct expect *e = expect_find((enum case_state)s, (enum case_action)a);

            for (set = 0; set < nsets; set++) {
                uint32_t roles = 0;
                enum case_state to = CASE_STATE__COUNT;
                enum err res;
                size_t i;

                for (i = 0; i < role_count(); i++) {
                    if (set & (UINT32_C(1) << i))
                        roles |= role_at(i);
                }
                res = workflow_next((enum case_state)s, (enum case_action)a, roles, &to);
                if (e == NULL) {
                    assert_int_equal(res, ERR_BAD_STATE);
                    assert_int_equal(to, CASE_STATE__COUNT);
                } else if (roles & e->roles) {
                    assert_int_equal(res, ERR_OK);
                    assert_int_equal(to, e->to);
                    allowed++;
                } else {
                    assert_int_equal(res, ERR_FORBIDDEN);
                    assert_int_equal(to, CASE_STATE__COUNT);
                }
            }
        }
    }
    /* Each rule names one role, so half of all role sets hold it. */
    assert_int_equal(allowed, NEXPECTED * (nsets / 2));
}

/* The single roles, spelled out: who may do each action at all. */
static void test_roles_per_action(void **state)
{
    static const struct {
        enum case_action a;
        uint32_t roles;
    } who[] = {
        {CASE_ACT_ACCEPT, ROLE_OPERATOR},
        {CASE_ACT_REGISTER, ROLE_SHIFT_LEAD},
        {CASE_ACT_INVALIDATE, ROLE_OPERATOR | ROLE_SHIFT_LEAD},
        {CASE_ACT_DISPATCH, ROLE_DISPATCHER},
        {CASE_ACT_RETURN, ROLE_HANDLER},
        {CASE_ACT_HANDLE, ROLE_HANDLER},
        {CASE_ACT_VERIFY_PASS, ROLE_INSPECTOR},
        {CASE_ACT_VERIFY_FAIL, ROLE_INSPECTOR},
        {CASE_ACT_CLOSE, ROLE_SHIFT_LEAD},
        {CASE_ACT_REQUEST_EXTENSION, ROLE_HANDLER},
        {CASE_ACT_APPROVE_EXTENSION, ROLE_DISPATCHER},
        {CASE_ACT_REJECT_EXTENSION, ROLE_DISPATCHER},
        {CASE_ACT_SUSPEND, ROLE_DISPATCHER},
        {CASE_ACT_RESUME, ROLE_DISPATCHER},
        {CASE_ACT_REOPEN, ROLE_SHIFT_LEAD},
        {CASE_ACT_MERGE, ROLE_OPERATOR},
        {CASE_ACT_NOT_FIXED, ROLE_CITIZEN},
        {CASE_ACT_REQUEST_CONFIRMATION, ROLE_OPERATOR},
        {CASE_ACT_CONFIRM, ROLE_INSPECTOR},
        {CASE_ACT_DENY, ROLE_INSPECTOR},
    };
    size_t i, j;

    (void)state;
    assert_int_equal(sizeof who / sizeof who[0], CASE_ACTION__COUNT);
    for (i = 0; i < sizeof who / sizeof who[0]; i++) {
        uint32_t seen = 0;

        for (j = 0; j < workflow_rule_count(); j++) {
            if (workflow_rule_at(j)->action == who[i].a)
                seen |= workflow_rule_at(j)->roles;
        }
        assert_int_equal(seen, who[i].roles);
    }
    /* Nobody outside the two centres and the departments moves a case, but for the reporting
     * citizen's "still not fixed". */
    for (j = 0; j < workflow_rule_count(); j++) {
        uint32_t r = workflow_rule_at(j)->roles;

        uint32_t outside = ROLE_CITIZEN | ROLE_LEADER | ROLE_ADMIN | ROLE_MACHINE;

        if (workflow_rule_at(j)->action == CASE_ACT_NOT_FIXED)
            outside &= ~ROLE_CITIZEN;
        assert_int_equal(r & outside, 0);
        assert_true(r != 0);
    }
}

/* The table itself: same rows as expected, one rule per (action, from), consistent columns. */
static void test_table_shape(void **state)
{
    size_t i, j;

    (void)state;
    assert_int_equal(workflow_rule_count(), NEXPECTED);
    assert_null(workflow_rule_at(workflow_rule_count()));
    for (i = 0; i < workflow_rule_count(); i++) {
        const struct workflow_rule *r = workflow_rule_at(i);
        const struct expect *e = expect_find(r->from, r->action);

        assert_non_null(r);
        assert_non_null(e);
        assert_int_equal(r->to, e->to);
        assert_int_equal(r->roles, e->roles);
        assert_int_equal(r->starts, e->starts);
        assert_ptr_equal(workflow_rule_find(r->from, r->action), r);
        for (j = i + 1; j < workflow_rule_count(); j++) {
            const struct workflow_rule *q = workflow_rule_at(j);

            assert_false(q->from == r->from && q->action == r->action);
            /* workflow_extension_next() relies on one ext per action. */
            if (q->action == r->action)
                assert_int_equal(q->ext, r->ext);
        }
        /* Entering a new state starts that state's step; a self-loop starts nothing, except
         * 改派 (to another department or another inspector), which gives the new holder a full
         * time limit. */
        if (r->to != r->from || r->action == CASE_ACT_DISPATCH ||
            r->action == CASE_ACT_REQUEST_CONFIRMATION)
            assert_int_equal(r->starts, workflow_step_of(r->to));
        else
            assert_int_equal(r->starts, WORKFLOW_STEP_NONE);
        assert_int_equal(r->rework,
                         r->action == CASE_ACT_VERIFY_FAIL || r->action == CASE_ACT_NOT_FIXED);
        assert_int_equal(r->ext == WORKFLOW_EXT_REQUEST, r->action == CASE_ACT_REQUEST_EXTENSION);
        assert_int_equal(r->ext == WORKFLOW_EXT_DECIDE, r->action == CASE_ACT_APPROVE_EXTENSION ||
                                                            r->action == CASE_ACT_REJECT_EXTENSION);
        /* Extensions only while a department holds the case. */
        if (r->ext != WORKFLOW_EXT_DROP)
            assert_int_equal(r->from, CASE_DISPATCHED);
    }
    assert_null(workflow_rule_find(CASE_CLOSED, CASE_ACT_CLOSE));
    assert_null(workflow_rule_find(CASE_STATE__COUNT, CASE_ACT_ACCEPT));
}

/* Every state can be reached from a new report, and only the final states have no way out. */
static void test_reachability(void **state)
{
    bool seen[CASE_STATE__COUNT] = {false};
    bool exits[CASE_STATE__COUNT] = {false};
    bool changed = true;
    size_t i;

    (void)state;
    seen[CASE_REPORTED] = true;
    while (changed) {
        changed = false;
        for (i = 0; i < workflow_rule_count(); i++) {
            const struct workflow_rule *r = workflow_rule_at(i);

            if (seen[r->from] && !seen[r->to]) {
                seen[r->to] = true;
                changed = true;
            }
        }
    }
    for (i = 0; i < workflow_rule_count(); i++) {
        const struct workflow_rule *r = workflow_rule_at(i);

        if (r->to != r->from)
            exits[r->from] = true;
    }
    for (i = 0; i < CASE_STATE__COUNT; i++) {
        bool final = i == CASE_INVALID || i == CASE_MERGED;

        assert_true(seen[i]);
        assert_int_equal(exits[i], !final);
    }
}

static void test_happy_path(void **state)
{
    enum case_state s = CASE_REPORTED;

    (void)state;
    assert_int_equal(workflow_step_of(s), WORKFLOW_STEP_NONE);
    s = step(s, CASE_ACT_ACCEPT, ROLE_OPERATOR);
    assert_int_equal(s, CASE_ACCEPTED);
    assert_int_equal(workflow_step_of(s), WORKFLOW_STEP_REGISTER);
    s = step(s, CASE_ACT_REGISTER, ROLE_SHIFT_LEAD);
    assert_int_equal(s, CASE_REGISTERED);
    assert_int_equal(workflow_step_of(s), WORKFLOW_STEP_DISPATCH);
    s = step(s, CASE_ACT_DISPATCH, ROLE_DISPATCHER);
    assert_int_equal(s, CASE_DISPATCHED);
    assert_int_equal(workflow_step_of(s), WORKFLOW_STEP_HANDLE);
    s = step(s, CASE_ACT_HANDLE, ROLE_HANDLER);
    assert_int_equal(s, CASE_HANDLED);
    assert_int_equal(workflow_step_of(s), WORKFLOW_STEP_VERIFY);
    s = step(s, CASE_ACT_VERIFY_PASS, ROLE_INSPECTOR);
    assert_int_equal(s, CASE_VERIFIED);
    assert_int_equal(workflow_step_of(s), WORKFLOW_STEP_CLOSE);
    s = step(s, CASE_ACT_CLOSE, ROLE_SHIFT_LEAD);
    assert_int_equal(s, CASE_CLOSED);
    assert_int_equal(workflow_step_of(s), WORKFLOW_STEP_NONE);

    /* A user holding several roles (a small city's 受理员 who is also 值班长). */
    s = step(CASE_REPORTED, CASE_ACT_ACCEPT, ROLE_OPERATOR | ROLE_SHIFT_LEAD);
    s = step(s, CASE_ACT_REGISTER, ROLE_OPERATOR | ROLE_SHIFT_LEAD);
    assert_int_equal(s, CASE_REGISTERED);
}

/* 核查不通过 sends the case back for 返工 as often as it fails; each failure counts once. */
static void test_rework_loop(void **state)
{
    enum case_state s;
    int rework = 0, round;

    (void)state;
    s = step(CASE_REGISTERED, CASE_ACT_DISPATCH, ROLE_DISPATCHER);
    for (round = 0; round < 3; round++) {
        const struct workflow_rule *r;

        s = step(s, CASE_ACT_HANDLE, ROLE_HANDLER);
        assert_int_equal(s, CASE_HANDLED);
        r = workflow_rule_find(s, CASE_ACT_VERIFY_FAIL);
        assert_non_null(r);
        assert_true(r->rework);
        assert_int_equal(r->starts, WORKFLOW_STEP_HANDLE);
        s = step(s, CASE_ACT_VERIFY_FAIL, ROLE_INSPECTOR);
        rework += r->rework;
        assert_int_equal(s, CASE_DISPATCHED);
    }
    s = step(s, CASE_ACT_HANDLE, ROLE_HANDLER);
    assert_false(workflow_rule_find(s, CASE_ACT_VERIFY_PASS)->rework);
    s = step(s, CASE_ACT_VERIFY_PASS, ROLE_INSPECTOR);
    s = step(s, CASE_ACT_CLOSE, ROLE_SHIFT_LEAD);
    assert_int_equal(s, CASE_CLOSED);
    assert_int_equal(rework, 3);
    /* The handler cannot judge their own work. */
    assert_int_equal(workflow_next(CASE_HANDLED, CASE_ACT_VERIFY_PASS, ROLE_HANDLER, &s),
                     ERR_FORBIDDEN);
}

static void test_return_and_redispatch(void **state)
{
    enum case_state s;
    const struct workflow_rule *r;

    (void)state;
    s = step(CASE_REGISTERED, CASE_ACT_DISPATCH, ROLE_DISPATCHER);
    /* 回退: "not ours", back to the dispatcher's queue with a new 派遣时限. */
    r = workflow_rule_find(s, CASE_ACT_RETURN);
    assert_int_equal(r->starts, WORKFLOW_STEP_DISPATCH);
    s = step(s, CASE_ACT_RETURN, ROLE_HANDLER);
    assert_int_equal(s, CASE_REGISTERED);
    s = step(s, CASE_ACT_DISPATCH, ROLE_DISPATCHER);
    /* 改派 while dispatched restarts the handle deadline. */
    r = workflow_rule_find(s, CASE_ACT_DISPATCH);
    assert_int_equal(r->starts, WORKFLOW_STEP_HANDLE);
    s = step(s, CASE_ACT_DISPATCH, ROLE_DISPATCHER);
    assert_int_equal(s, CASE_DISPATCHED);
    /* A handler cannot return a case that is not with a department. */
    assert_int_equal(workflow_next(CASE_REGISTERED, CASE_ACT_RETURN, ROLE_HANDLER, &s),
                     ERR_BAD_STATE);
}

static void test_extension(void **state)
{
    enum case_state s = CASE_DISPATCHED;
    bool pending = false;

    (void)state;
    /* Request, approve: the state stays and no step restarts. */
    assert_int_equal(step(s, CASE_ACT_REQUEST_EXTENSION, ROLE_HANDLER), CASE_DISPATCHED);
    assert_int_equal(workflow_extension_next(CASE_ACT_REQUEST_EXTENSION, pending, &pending),
                     ERR_OK);
    assert_true(pending);
    assert_int_equal(workflow_extension_next(CASE_ACT_REQUEST_EXTENSION, pending, &pending),
                     ERR_BAD_STATE);
    assert_true(pending);
    assert_int_equal(workflow_next(s, CASE_ACT_APPROVE_EXTENSION, ROLE_HANDLER, &s), ERR_FORBIDDEN);
    assert_int_equal(step(s, CASE_ACT_APPROVE_EXTENSION, ROLE_DISPATCHER), CASE_DISPATCHED);
    assert_int_equal(workflow_rule_find(s, CASE_ACT_APPROVE_EXTENSION)->starts, WORKFLOW_STEP_NONE);
    assert_int_equal(workflow_extension_next(CASE_ACT_APPROVE_EXTENSION, pending, &pending),
                     ERR_OK);
    assert_false(pending);

    /* Nothing to decide. */
    assert_int_equal(workflow_extension_next(CASE_ACT_APPROVE_EXTENSION, false, &pending),
                     ERR_BAD_STATE);
    assert_int_equal(workflow_extension_next(CASE_ACT_REJECT_EXTENSION, false, &pending),
                     ERR_BAD_STATE);
    /* Request, reject. */
    assert_int_equal(workflow_extension_next(CASE_ACT_REQUEST_EXTENSION, false, &pending), ERR_OK);
    assert_int_equal(workflow_extension_next(CASE_ACT_REJECT_EXTENSION, pending, &pending), ERR_OK);
    assert_false(pending);
    /* Any other step drops a pending request: handled, returned, redispatched, suspended. */
    pending = true;
    assert_int_equal(workflow_extension_next(CASE_ACT_HANDLE, true, &pending), ERR_OK);
    assert_false(pending);
    pending = true;
    assert_int_equal(workflow_extension_next(CASE_ACT_DISPATCH, true, &pending), ERR_OK);
    assert_false(pending);
    assert_int_equal(workflow_extension_next(CASE_ACT_SUSPEND, false, &pending), ERR_OK);
    assert_false(pending);
    pending = true;
    assert_int_equal(workflow_extension_next(CASE_ACTION__COUNT, false, &pending), ERR_INVALID);
    assert_true(pending); /* untouched */
    /* Extensions are for cases a department holds. */
    assert_int_equal(workflow_next(CASE_HANDLED, CASE_ACT_REQUEST_EXTENSION, ROLE_HANDLER, &s),
                     ERR_BAD_STATE);
    assert_int_equal(
        workflow_next(CASE_REGISTERED, CASE_ACT_APPROVE_EXTENSION, ROLE_DISPATCHER, &s),
        ERR_BAD_STATE);
}

static void test_suspend_resume_reopen(void **state)
{
    enum case_state s;

    (void)state;
    s = step(CASE_REGISTERED, CASE_ACT_SUSPEND, ROLE_DISPATCHER);
    assert_int_equal(s, CASE_SUSPENDED);
    assert_int_equal(workflow_step_of(s), WORKFLOW_STEP_NONE);
    /* Parked cases take no other step. */
    assert_int_equal(workflow_next(s, CASE_ACT_DISPATCH, ROLE_DISPATCHER, &s), ERR_BAD_STATE);
    assert_int_equal(workflow_next(s, CASE_ACT_HANDLE, ROLE_HANDLER, &s), ERR_BAD_STATE);
    s = step(s, CASE_ACT_RESUME, ROLE_DISPATCHER);
    assert_int_equal(s, CASE_REGISTERED);
    s = step(CASE_DISPATCHED, CASE_ACT_SUSPEND, ROLE_DISPATCHER);
    assert_int_equal(s, CASE_SUSPENDED);
    assert_int_equal(workflow_next(s, CASE_ACT_RESUME, ROLE_SHIFT_LEAD, &s), ERR_FORBIDDEN);

    s = step(CASE_CLOSED, CASE_ACT_REOPEN, ROLE_SHIFT_LEAD);
    assert_int_equal(s, CASE_REGISTERED);
    assert_int_equal(workflow_rule_find(CASE_CLOSED, CASE_ACT_REOPEN)->starts,
                     WORKFLOW_STEP_DISPATCH);
}

static void test_invalidate_and_merge(void **state)
{
    enum case_state s;
    unsigned a;

    (void)state;
    assert_int_equal(step(CASE_REPORTED, CASE_ACT_INVALIDATE, ROLE_OPERATOR), CASE_INVALID);
    assert_int_equal(step(CASE_ACCEPTED, CASE_ACT_INVALIDATE, ROLE_SHIFT_LEAD), CASE_INVALID);
    /* Each in their own queue only. */
    assert_int_equal(workflow_next(CASE_REPORTED, CASE_ACT_INVALIDATE, ROLE_SHIFT_LEAD, &s),
                     ERR_FORBIDDEN);
    assert_int_equal(workflow_next(CASE_ACCEPTED, CASE_ACT_INVALIDATE, ROLE_OPERATOR, &s),
                     ERR_FORBIDDEN);
    assert_int_equal(workflow_next(CASE_REGISTERED, CASE_ACT_INVALIDATE, ROLE_SHIFT_LEAD, &s),
                     ERR_BAD_STATE);
    assert_int_equal(step(CASE_REPORTED, CASE_ACT_MERGE, ROLE_OPERATOR), CASE_MERGED);
    assert_int_equal(step(CASE_ACCEPTED, CASE_ACT_MERGE, ROLE_OPERATOR), CASE_MERGED);
    assert_int_equal(workflow_next(CASE_REGISTERED, CASE_ACT_MERGE, ROLE_OPERATOR, &s),
                     ERR_BAD_STATE);
    /* Final: nothing leaves invalid or merged, whoever asks. */
    for (a = 0; a < CASE_ACTION__COUNT; a++) {
        assert_int_equal(workflow_next(CASE_INVALID, (enum case_action)a, all_roles(), &s),
                         ERR_BAD_STATE);
        assert_int_equal(workflow_next(CASE_MERGED, (enum case_action)a, all_roles(), &s),
                         ERR_BAD_STATE);
    }
}

static void test_invalid_arguments(void **state)
{
    enum case_state s = CASE_VERIFIED;

    (void)state;
    assert_int_equal(workflow_next(CASE_STATE__COUNT, CASE_ACT_ACCEPT, all_roles(), &s),
                     ERR_INVALID);
    assert_int_equal(workflow_next((enum case_state) - 1, CASE_ACT_ACCEPT, all_roles(), &s),
                     ERR_INVALID);
    assert_int_equal(workflow_next(CASE_REPORTED, CASE_ACTION__COUNT, all_roles(), &s),
                     ERR_INVALID);
    assert_int_equal(workflow_next(CASE_REPORTED, (enum case_action)1000, all_roles(), &s),
                     ERR_INVALID);
    assert_int_equal(s, CASE_VERIFIED);
    /* No roles at all, or only unknown bits. */
    assert_int_equal(workflow_next(CASE_REPORTED, CASE_ACT_ACCEPT, 0, &s), ERR_FORBIDDEN);
    assert_int_equal(workflow_next(CASE_REPORTED, CASE_ACT_ACCEPT, ~all_roles(), &s),
                     ERR_FORBIDDEN);
    assert_int_equal(s, CASE_VERIFIED);
    assert_int_equal(workflow_step_of(CASE_STATE__COUNT), WORKFLOW_STEP_NONE);
}

static void test_step_of(void **state)
{
    static const enum workflow_step want[CASE_STATE__COUNT] = {
        [CASE_REPORTED] = WORKFLOW_STEP_NONE,       [CASE_ACCEPTED] = WORKFLOW_STEP_REGISTER,
        [CASE_REGISTERED] = WORKFLOW_STEP_DISPATCH, [CASE_DISPATCHED] = WORKFLOW_STEP_HANDLE,
        [CASE_HANDLED] = WORKFLOW_STEP_VERIFY,      [CASE_VERIFIED] = WORKFLOW_STEP_CLOSE,
        [CASE_CLOSED] = WORKFLOW_STEP_NONE,         [CASE_INVALID] = WORKFLOW_STEP_NONE,
        [CASE_SUSPENDED] = WORKFLOW_STEP_NONE,      [CASE_MERGED] = WORKFLOW_STEP_NONE,
        [CASE_CONFIRMING] = WORKFLOW_STEP_CONFIRM,
    };
    unsigned s;

    (void)state;
    for (s = 0; s < CASE_STATE__COUNT; s++)
        assert_int_equal(workflow_step_of((enum case_state)s), want[s]);
}

static void test_names(void **state)
{
    static const char *const states[] = {"reported",  "accepted", "registered", "dispatched",
                                         "handled",   "verified", "closed",     "invalid",
                                         "suspended", "merged",   "confirming"};
    static const char *const acts[] = {"accept",
                                       "register",
                                       "invalidate",
                                       "dispatch",
                                       "return",
                                       "handle",
                                       "verify_pass",
                                       "verify_fail",
                                       "close",
                                       "request_extension",
                                       "approve_extension",
                                       "reject_extension",
                                       "suspend",
                                       "resume",
                                       "reopen",
                                       "merge",
                                       "not_fixed",
                                       "request_confirmation",
                                       "confirm",
                                       "deny"};
    static const char *const steps[] = {"none",   "register", "dispatch", "handle",
                                        "verify", "close",    "confirm"};
    enum case_state s;
    enum case_action a;
    unsigned i, j;

    (void)state;
    assert_int_equal(sizeof states / sizeof states[0], CASE_STATE__COUNT);
    assert_int_equal(sizeof acts / sizeof acts[0], CASE_ACTION__COUNT);
    assert_int_equal(sizeof steps / sizeof steps[0], WORKFLOW_STEP__COUNT);
    for (i = 0; i < CASE_STATE__COUNT; i++) {
        assert_string_equal(case_state_name((enum case_state)i), states[i]);
        assert_int_equal(case_state_from_name(states[i], strlen(states[i]), &s), ERR_OK);
        assert_int_equal(s, i);
    }
    for (i = 0; i < CASE_ACTION__COUNT; i++) {
        const char *ev = workflow_event_name((enum case_action)i);

        assert_string_equal(case_action_name((enum case_action)i), acts[i]);
        assert_int_equal(case_action_from_name(acts[i], strlen(acts[i]), &a), ERR_OK);
        assert_int_equal(a, i);
        assert_non_null(ev);
        assert_int_equal(strncmp(ev, "case.", 5), 0);
        for (j = 0; j < i; j++)
            assert_string_not_equal(ev, workflow_event_name((enum case_action)j));
    }
    for (i = 0; i < WORKFLOW_STEP__COUNT; i++)
        assert_string_equal(workflow_step_name((enum workflow_step)i), steps[i]);
    assert_string_equal(workflow_event_name(CASE_ACT_ACCEPT), "case.accepted");
    assert_string_equal(workflow_event_name(CASE_ACT_DISPATCH), "case.dispatched");
    assert_string_equal(workflow_event_name(CASE_ACT_VERIFY_FAIL), "case.verify_failed");
    assert_string_equal(workflow_event_name(CASE_ACT_CLOSE), "case.closed");

    /* Out of range and unknown. */
    assert_null(case_state_name(CASE_STATE__COUNT));
    assert_null(case_action_name(CASE_ACTION__COUNT));
    assert_null(workflow_step_name(WORKFLOW_STEP__COUNT));
    assert_null(workflow_event_name(CASE_ACTION__COUNT));
    s = CASE_CLOSED;
    a = CASE_ACT_CLOSE;
    assert_int_equal(case_state_from_name("Reported", 8, &s), ERR_INVALID);
    assert_int_equal(case_state_from_name("report", 6, &s), ERR_INVALID);
    assert_int_equal(case_state_from_name("reported", 7, &s), ERR_INVALID);
    assert_int_equal(case_state_from_name("", 0, &s), ERR_INVALID);
    assert_int_equal(case_state_from_name(NULL, 0, &s), ERR_INVALID);
    assert_int_equal(case_action_from_name("verify", 6, &a), ERR_INVALID);
    assert_int_equal(case_action_from_name("accepted", 8, &a), ERR_INVALID);
    assert_int_equal(case_action_from_name(NULL, 3, &a), ERR_INVALID);
    assert_int_equal(s, CASE_CLOSED);
    assert_int_equal(a, CASE_ACT_CLOSE);
    /* Length-delimited, as names arrive from JSON and database cells. */
    assert_int_equal(case_state_from_name("closed\"}", 6, &s), ERR_OK);
    assert_int_equal(s, CASE_CLOSED);
    assert_int_equal(case_action_from_name("merge_all", 5, &a), ERR_OK);
    assert_int_equal(a, CASE_ACT_MERGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exhaustive),
        cmocka_unit_test(test_roles_per_action),
        cmocka_unit_test(test_table_shape),
        cmocka_unit_test(test_reachability),
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_rework_loop),
        cmocka_unit_test(test_return_and_redispatch),
        cmocka_unit_test(test_extension),
        cmocka_unit_test(test_suspend_resume_reopen),
        cmocka_unit_test(test_invalidate_and_merge),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_step_of),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
