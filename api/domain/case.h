/* api/domain/case.h: cases (案卷) — reporting, the workflow actions, reading, lists and the
 * task list. Beside it, by subject: case_urge.h (督办 and ratings), case_category.h (the
 * category catalogue), case_event.h (the event feed); case_int.h holds what they share.
 *
 * Owns the tables of migrations/0005_cases.sql. The state machine is workflow.h's table; this
 * module loads a case under a row lock, asks workflow_next(), and writes the new state, the
 * timeline row, the deadline (deadline.h), the outbox event and the audit row in one
 * transaction, so a crash never leaves half a step. Every mutating call takes the request's
 * Idempotency-Key: a retry with the same key replays the first result and changes nothing.
 *
 * Visibility is one rule for every read and write (case_int.h): operators, shift leads,
 * dispatchers and admins see every case; anyone sees what they reported; an inspector sees the
 * cases in their grids, a handler those of their department, a leader those in their region's
 * subtree. A case the caller may not see is ERR_NOTFOUND, never ERR_FORBIDDEN, so ids cannot be
 * probed.
 *
 * Everything returned is pool memory of cx. Times are ms since the epoch (UTC); 0 means none.
 * No HTTP, no JSON: api/cases.c and friends encode. */
#ifndef CITYD_DOMAIN_CASE_H
#define CITYD_DOMAIN_CASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct idem; /* idempotency.h: the request's Idempotency-Key record, built by api/ */

#define CASE_DESC_MAX 1000
#define CASE_ADDR_MAX 256
#define CASE_TEXT_MAX 1000
#define CASE_NOTE_MAX 500
#define CASE_PHOTOS_MAX 9
#define CASE_LIST_MAX 100
#define CASE_TASKS_MAX 500
#define CASE_DUPS_MAX 10
#define CASE_EXT_HOURS_MAX 720

/* ---- reporting ------------------------------------------------------------------------- */

/* A report (上报). The category is category_id, or (code_set, full_code) with an optional kind
 * when the code exists as both 部件 and 事件. */
struct case_report {
    int64_t category_id;
    const char *code_set, *full_code, *kind;
    const char *description; /* 1..CASE_DESC_MAX bytes */
    double lat, lng;         /* WGS-84 */
    double accuracy_m;       /* < 0: not given; api/ bounds it (0..100000) */
    const char *address;     /* NULL: none */
    const char *urgency;     /* NULL = "normal"; or "urgent" */
    const char *source;      /* NULL = the caller's default (see case_report_create) */
    const char *const *photos;
    size_t nphotos;
};

/* A possible duplicate: an open case of the same 小类 near the new one. */
struct case_dup {
    int64_t id;
    char case_no[24];
    const char *state;
    double distance_m;
    int64_t created_ms;
};

struct case_created {
    int64_t id;
    bool replay; /* the Idempotency-Key was seen: nothing new was created */
    size_t ndups;
    struct case_dup *dups;
};

/* Create a case in state "reported" with its first deadline, timeline row, photos, event
 * case.reported and audit row. The source defaults by role: citizen → citizen, inspector →
 * inspector, leader → leader, machine → hotline, operator → hotline; a caller may only name a
 * source its role allows (machine: hotline or video_ai). idem is the request's record
 * (idempotency.h; no key: no replay). ERR_INVALID for bad input (message names the field),
 * ERR_CONFLICT for a reused key with another body. */
enum err case_report_create(struct rctx *cx, const struct case_report *in, struct idem *idem,
                            struct case_created *out) MUST_CHECK;

/* ---- workflow actions ------------------------------------------------------------------ */

/* One action on a case. Fields other than action and version are per action:
 *   text: required for invalidate, return, verify_fail, reject_extension, handle; optional for
 *         the others;
 *   department_id (required), assignee_id (optional): dispatch;
 *   duplicate_of (required): merge;
 *   extension_hours: required for request_extension, optional for approve_extension (default:
 *         the requested hours);
 *   inspector_id (required): request_confirmation, the inspector sent to 核实;
 *   photos: handle, verify_pass, verify_fail, confirm, deny only.
 * A field given to an action that does not take it is ERR_INVALID. */
struct case_action_in {
    const char *action;
    int64_t version; /* the version the caller saw; a stale one is ERR_CONFLICT */
    const char *text;
    int64_t department_id, assignee_id, duplicate_of, extension_hours, inspector_id;
    bool has_photos;
    const char *const *photos;
    size_t nphotos;
};

/* Apply an action. Order of checks: input (ERR_INVALID), Idempotency-Key (a replay returns
 * ERR_OK with *replay set), visibility (ERR_NOTFOUND), version (ERR_CONFLICT), the workflow
 * table (ERR_BAD_STATE when the action is not allowed in the state, ERR_FORBIDDEN when the
 * caller's roles may not do it), object rules (ERR_FORBIDDEN: a handler acts only on its
 * department's cases, an inspector verifies only in its grids and confirms or denies only
 * what was sent to it). After 立案, an auto dispatch
 * rule (dispatch_rules.auto) dispatches in the same transaction. */
enum err case_act(struct rctx *cx, int64_t case_id, const struct case_action_in *in,
                  struct idem *idem, bool *replay) MUST_CHECK;

/* The reporting citizen's "still not fixed" (返工, action not_fixed) on their closed case,
 * within CITIZEN_REWORK_DAYS of closing (citizen.h): case_act at the case's current version
 * with in's text and photos (the rest of in is ignored). ERR_NOTFOUND when the case is not the
 * caller's, ERR_BAD_STATE when it is not closed or the window has passed (the message says so
 * and what to do instead). */
enum err case_not_fixed(struct rctx *cx, int64_t case_id, const struct case_action_in *in,
                        struct idem *idem, bool *replay) MUST_CHECK;

/* ---- reading --------------------------------------------------------------------------- */

struct case_rec {
    int64_t id;
    char case_no[24]; /* local report date + id: "20261123-000123" */
    const char *code_set, *kind, *urgency, *source, *description, *address, *state, *step;
    int64_t category_id;
    const char *category_code, *category_name, *major_name;
    double lat, lng, accuracy_m;
    bool has_accuracy;
    int64_t grid_id, region_id, department_id, assignee_id, reporter_id, duplicate_of;
    int64_t version, rework_count, extension_hours;
    bool extension_pending, overdue;
    int alert_level; /* 0 none, 1 = 50 %, 2 = 80 %, 3 = overdue, 4 = escalated */
    int64_t step_started_ms, due_ms, created_ms, updated_ms, closed_ms;
};

struct case_step_rec {
    int64_t id;
    const char *action, *from_state, *to_state, *actor_role, *text, *step;
    const char *photos_json; /* JSON array of media public ids */
    int64_t actor_id, department_id, assignee_id, due_ms, created_ms;
};

struct case_urging_rec {
    int64_t id, case_id, leader_id, department_id, acked_by;
    const char *note, *ack_text;
    int64_t sent_ms, read_ms, acked_ms;
};

struct case_detail {
    struct case_rec c;
    size_t nsteps;
    struct case_step_rec *steps;
    size_t nphotos; /* photos of the report */
    const char **photos;
    size_t nurgings;
    struct case_urging_rec *urgings;
    bool rated;
    int rating_score;
    const char *rating_text;
    int64_t suggested_department_id; /* from dispatch rules or the category; 0 = none */
};

/* The case with its timeline, report photos, urgings and rating. When the caller is in the
 * department an unread urging is addressed to, the urging is marked read. ERR_NOTFOUND when
 * absent or not visible. */
enum err case_get(struct rctx *cx, int64_t case_id, struct case_detail *out) MUST_CHECK;
/* The same without the visibility rule, only for answering an action the caller has just
 * performed on the case: a handler who returns (回退) a case loses sight of it, yet must get
 * the result of the return. */
enum err case_get_acted(struct rctx *cx, int64_t case_id, struct case_detail *out) MUST_CHECK;
/* case_get for n callers at once (a batch of GET /api/v1/cases/{id}); res[i] and out[i] as
 * case_get would answer for cxs[i] and ids[i]. Callers who see all cases share one statement
 * for the cases and one for their timelines; other callers share them per user. out[i] may
 * point into another caller's memory: use it before any of the contexts is disposed. */
#define CASE_GET_MANY_MAX 64
/* Whether two callers see cases alike — the same rows, timeline filter and fields: both see
 * all cases as staff alike, or they are one user with the same roles. */
bool case_same_view(const struct rctx *a, const struct rctx *b);
void case_get_many(struct rctx *const *cxs, const int64_t *ids, struct case_detail *out,
                   enum err *res, size_t n);
/* Whether the caller may see the case (the rule of case_get), for what hangs off a case:
 * attached photos follow it exactly. */
enum err case_can_read(struct rctx *cx, int64_t case_id, bool *ok) MUST_CHECK;

struct case_filter {
    const char *state;  /* wire name or NULL */
    const char *source; /* or NULL */
    int64_t category_id, grid_id, department_id;
    int overdue;            /* -1 any, 0, 1 */
    int64_t from_ms, to_ms; /* created_at range, 0 = open */
    bool has_bbox;
    double min_lng, min_lat, max_lng, max_lat;
    bool mine;         /* reported by the caller, or assigned to the caller */
    int64_t before_id; /* cursor: only ids below it; 0 = from the newest */
    int limit;         /* 1..CASE_LIST_MAX */
};

struct case_page {
    size_t n;
    struct case_rec *items;
    int64_t next_before; /* cursor for the next page, 0 when this was the last */
};

/* Visible cases matching f, newest first (id desc). ERR_INVALID for a bad state/source. */
enum err case_list(struct rctx *cx, const struct case_filter *f, struct case_page *out) MUST_CHECK;

/* ---- tasks ----------------------------------------------------------------------------- */

struct case_task {
    const char *type;   /* "case" or "urging" */
    const char *action; /* what to do: accept, register, dispatch, handle, verify, close,
                         * approve_extension, confirm, acknowledge */
    struct case_rec c;  /* the case (summary fields) */
    int64_t urging_id;
    const char *note;
    int64_t due_ms;
    bool overdue;
};

struct case_task_list {
    size_t n;
    struct case_task *items;
};

/* What the caller must do now, by role: overdue first, then by due time (none last).
 * limit 1..CASE_TASKS_MAX. */
enum err case_tasks(struct rctx *cx, int limit, struct case_task_list *out) MUST_CHECK;

/* ---- deadlines ------------------------------------------------------------------------- */

/* The periodic job (api_jobs): raise every passed alert point of deadline.h — 50 % and 80 %
 * reminders, overdue, escalation — each once, in order, with its event and timeline row, in
 * one transaction per case; at most a batch per run (the next run takes the rest). */
enum err case_deadline_scan(struct rctx *cx) MUST_CHECK;

#endif
