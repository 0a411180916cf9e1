/* api/domain/deadline.h: time limits (时限) of case steps and the scheduler that watches them.
 *
 * A step's limit comes from its category (categories.limit_*), counted on the work calendar:
 * the default national calendar (calendar.h) with the periods and UTC offset of case_settings
 * and the holidays / make-up days of work_calendar_days. Minute limits of urgent cases (an
 * urgent category, or urgency "urgent") run in natural time, as 紧急 items do day and night.
 *
 * For each step four alert points are fixed when it starts: 50 % and 80 % of the time
 * (reminders), 100 % (overdue) and case_settings.escalate_pct (escalation). The scheduler
 * raises each point once, in order, with an event (case.reminder, case.overdue,
 * case.escalated) and a timeline row, in one transaction per case.
 *
 * Pure arithmetic over a filled struct deadline_ctx: no database and no clock. The calendar
 * and tunables come from refdata_deadline_load() (refdata.h, the in-process copy of
 * case_settings and work_calendar_days); the scheduler is the case code's
 * (case_deadline_scan in case.h). tests/unit/test_deadline.c calls it directly; cx only
 * carries the error message. */
#ifndef CITYD_DOMAIN_DEADLINE_H
#define CITYD_DOMAIN_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>
#include "api/domain/calendar.h"
#include "api/domain/workflow.h"
#include "server/core/err.h"
#include "server/core/rctx.h"

/* A category's limits as stored. */
struct deadline_limits {
    int register_min, dispatch_min, handle, verify_min, close_min;
    int confirm_min; /* 核实时限 */
    enum calendar_unit handle_unit;
    bool urgent; /* category is 紧急, or the case is urgent */
};

/* The alert points of one step; all 0 for WORKFLOW_STEP_NONE. */
struct deadline_points {
    int64_t start_ms, remind50_ms, remind80_ms, due_ms, escalate_ms;
};

struct deadline_ctx {
    struct calendar cal;
    int escalate_pct;
    int dup_radius_m, dup_window_h;
};

/* Points of step starting at start_ms. ERR_INTERNAL when the arithmetic fails (a limit beyond
 * year 9999). */
enum err deadline_compute(struct rctx *cx, const struct deadline_ctx *d,
                          const struct deadline_limits *lim, enum workflow_step step,
                          int64_t start_ms, struct deadline_points *out) MUST_CHECK;

/* Points for a step from start_ms to due_ms (an extended deadline): shares of the working time
 * between them, or of the natural time when natural. */
enum err deadline_points_between(struct rctx *cx, const struct deadline_ctx *d, int64_t start_ms,
                                 int64_t due_ms, bool natural,
                                 struct deadline_points *out) MUST_CHECK;

/* The next point not yet raised at level (0..3), 0 when none is left. */
int64_t deadline_next_point(const struct deadline_points *p, int level);

/* The alert level already passed at now_ms (0..4), for a deadline moved by an extension. */
int deadline_level_at(const struct deadline_points *p, int64_t now_ms);

#endif
