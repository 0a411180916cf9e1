/* api/domain/deadline.c: step limits and alert points on the work calendar. Pure arithmetic:
 * no database, no clock (see deadline.h); tests/unit/test_deadline.c calls it directly. */
#include "api/domain/deadline.h"

#include <string.h>

#define MIN_MS INT64_C(60000)

/* Minutes of a minute-limited step: natural time for urgent cases, else working minutes. */
static int64_t add_minutes(const struct deadline_ctx *d, const struct deadline_limits *lim,
                           int64_t start, int64_t min, bool *natural)
{
    *natural = lim->urgent;
    if (lim->urgent)
        return start + min * MIN_MS;
    return calendar_add(&d->cal, start, min, CAL_MINUTES_WORK);
}

enum err deadline_compute(struct rctx *cx, const struct deadline_ctx *d,
                          const struct deadline_limits *lim, enum workflow_step step,
                          int64_t start_ms, struct deadline_points *out)
{
    int64_t due;
    bool natural = false;

    memset(out, 0, sizeof *out);
    switch (step) {
    case WORKFLOW_STEP_NONE:
    case WORKFLOW_STEP__COUNT:
        return ERR_OK;
    case WORKFLOW_STEP_REGISTER:
        due = add_minutes(d, lim, start_ms, lim->register_min, &natural);
        break;
    case WORKFLOW_STEP_DISPATCH:
        due = add_minutes(d, lim, start_ms, lim->dispatch_min, &natural);
        break;
    case WORKFLOW_STEP_VERIFY:
        due = add_minutes(d, lim, start_ms, lim->verify_min, &natural);
        break;
    case WORKFLOW_STEP_CLOSE:
        due = add_minutes(d, lim, start_ms, lim->close_min, &natural);
        break;
    case WORKFLOW_STEP_CONFIRM:
        due = add_minutes(d, lim, start_ms, lim->confirm_min, &natural);
        break;
    case WORKFLOW_STEP_HANDLE:
        natural = lim->handle_unit == CAL_HOURS_NATURAL;
        due = calendar_add(&d->cal, start_ms, lim->handle, lim->handle_unit);
        break;
    default:
        return rctx_fail(cx, ERR_INTERNAL, "unknown step");
    }
    if (due < 0)
        return rctx_fail(cx, ERR_INTERNAL, "deadline out of range");
    return deadline_points_between(cx, d, start_ms, due, natural, out);
}

enum err deadline_points_between(struct rctx *cx, const struct deadline_ctx *d, int64_t start_ms,
                                 int64_t due, bool natural, struct deadline_points *out)
{
    out->start_ms = start_ms;
    out->due_ms = due;
    if (natural) {
        int64_t span = due - start_ms;
        out->remind50_ms = start_ms + span / 2;
        out->remind80_ms = start_ms + span * 8 / 10;
        out->escalate_ms = start_ms + span * d->escalate_pct / 100;
    } else {
        /* The points are shares of working time, so a step over a weekend reminds on Monday,
         * not on Saturday. */
        int64_t work = calendar_work_ms_between(&d->cal, start_ms, due);
        int64_t r50, r80, esc;
        if (work < 0)
            return rctx_fail(cx, ERR_INTERNAL, "deadline out of range");
        r50 = calendar_add(&d->cal, start_ms, work / 2 / MIN_MS, CAL_MINUTES_WORK);
        r80 = calendar_add(&d->cal, start_ms, work * 8 / 10 / MIN_MS, CAL_MINUTES_WORK);
        esc = calendar_add(&d->cal, start_ms, work * d->escalate_pct / 100 / MIN_MS,
                           CAL_MINUTES_WORK);
        if (r50 < 0 || r80 < 0 || esc < 0)
            return rctx_fail(cx, ERR_INTERNAL, "deadline out of range");
        out->remind50_ms = r50 < due ? r50 : due;
        out->remind80_ms = r80 < due ? r80 : due;
        out->escalate_ms = esc < due ? due : esc;
    }
    return ERR_OK;
}

int64_t deadline_next_point(const struct deadline_points *p, int level)
{
    switch (level) {
    case 0:
        return p->remind50_ms;
    case 1:
        return p->remind80_ms;
    case 2:
        return p->due_ms;
    case 3:
        return p->escalate_ms;
    default:
        return 0;
    }
}

int deadline_level_at(const struct deadline_points *p, int64_t now_ms)
{
    if (!p->due_ms)
        return 0;
    if (now_ms >= p->escalate_ms)
        return 4;
    if (now_ms >= p->due_ms)
        return 3;
    if (now_ms >= p->remind80_ms)
        return 2;
    if (now_ms >= p->remind50_ms)
        return 1;
    return 0;
}
