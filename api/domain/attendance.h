/* api/domain/attendance.h: 移动考勤 — shifts, check-in/out, leave and the daily summary.
 *
 * Owns shifts, shift_assignments, checkins, duty and leaves (migrations/0011_gps.sql). The
 * server's clock decides a check-in (the device's time is kept beside it): against the user's
 * shift (own assignment, else the department's), the user's grids (inside, or within
 * gps.checkin_tolerance_m of a boundary) and gps.checkin_max_accuracy_m. A check-in opens a
 * duty interval and a check-out closes it; tracks are recorded only inside them (track.h),
 * whatever the calendar says, so a night shift (end before start, 20:00–08:00) is on duty across
 * midnight. A check-in's local_date is the day its shift instance started (shift_time.h).
 * Every change is audited. Local times are at case_settings.utc_offset_min. This module never
 * speaks HTTP or JSON. */
#ifndef CITYD_DOMAIN_ATTENDANCE_H
#define CITYD_DOMAIN_ATTENDANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct idem; /* idempotency.h: the request's Idempotency-Key record, built by api/ */

#define ATT_LIST_MAX 1000
#define ATT_DAILY_MAX 5000

/* ---- shifts --------------------------------------------------------------------------------- */

struct shift_rec {
    int64_t id;
    const char *name;
    unsigned days; /* bit 0 Monday … bit 6 Sunday */
    int start_min, end_min, grace_min;
    bool active;
};

/* ERR_INVALID: name 1..64 bytes, days 1..127, start 0..1439, end 1..1440 and not start (end
 * below start: an overnight shift, ending the next day; shift_time.h), grace 0..240.
 * Audited "shift.create". */
enum err shift_create(struct rctx *cx, const struct shift_rec *in, int64_t *id) MUST_CHECK;
/* Replace the fields of shift id (all of in but id). ERR_NOTFOUND. Audited "shift.update". */
enum err shift_update(struct rctx *cx, int64_t id, const struct shift_rec *in) MUST_CHECK;
enum err shift_list(struct rctx *cx, struct shift_rec **rows, size_t *n) MUST_CHECK;
/* Who works a shift: a user or a department (exactly one of them non-zero). */
struct shift_holder {
    int64_t user_id, department_id;
};

/* Assign shift id to who, replacing what they had. ERR_NOTFOUND: shift; ERR_INVALID: no such
 * user or department, or not exactly one of them. Audited "shift.assign". */
enum err shift_assign(struct rctx *cx, int64_t id, const struct shift_holder *who) MUST_CHECK;
/* End the assignment of shift id to who: they have no shift of their own from then on (a user
 * falls back to the department's). ERR_NOTFOUND when it is not assigned to them. Audited
 * "shift.unassign". */
enum err shift_unassign(struct rctx *cx, int64_t id, const struct shift_holder *who) MUST_CHECK;

/* ---- check-ins ------------------------------------------------------------------------------ */

struct checkin_new {
    const char *type; /* "in" or "out" */
    double lat, lng, accuracy;
    bool gcj02;          /* lat/lng are GCJ-02 */
    int64_t device_time; /* ms, 0 = not given */
    const char *selfie;  /* media public id of the caller's own upload, or NULL */
};

struct checkin_rec {
    int64_t id, user_id, at, device_at, shift_id, grid_id;
    const char *type, *status, *flags, *local_date, *user_name;
    double lat, lng, accuracy, distance_m; /* distance_m < 0: not measured */
    bool has_position;                     /* false: the automatic check-out (status "auto") */
    bool has_selfie;
};

/* Check the caller in or out. ERR_BAD_STATE: already checked in (in) or not checked in
 * (out). ERR_INVALID: coordinates, accuracy, selfie. With a key in idem (the request's
 * Idempotency-Key record, idempotency.h) a retry gets the first check-in. */
enum err checkin_create(struct rctx *cx, const struct checkin_new *in, struct idem *idem,
                        struct checkin_rec *out) MUST_CHECK;

/* The periodic job (api_jobs): the automatic check-out of forgotten ones. A person on duty
 * whose check-in belongs to a shift instance is checked out once the server's clock passes
 * that instance's end + gps_cfg.auto_out_after_min; any other duty once it has lasted
 * gps_cfg.max_duty_hours (shift_auto_out_at in shift_time.h; 0 turns a rule off). The
 * check-out is what checkin_create writes for a check-out — the same code: paired with the
 * check-in it closes, duty closed, the live-map row off duty, the person's devices locked first
 * — made at the server's clock without a position (lat, lng, accuracy NULL) and with the status
 * "auto". Audited "checkin.auto_out" (actor: none) with a "checkin.created" event. Judged again
 * under the duty row's lock, so a second run or a manual check-out racing it gives one
 * check-out. At most ATT_AUTO_OUT_MAX people are judged per run, the longest on duty first. */
#define ATT_AUTO_OUT_MAX 5000
enum err checkin_auto_out_job(struct rctx *cx) MUST_CHECK;

/* Check-ins from from to to (ms), newest first: of user_id (0 = the caller; another user needs
 * the caller's reach, else ERR_NOTFOUND), or with all_reach every user the caller leads
 * (admins: everyone). */
enum err checkin_list(struct rctx *cx, int64_t user_id, bool all_reach, int64_t from, int64_t to,
                      struct checkin_rec **rows, size_t *n, bool *more) MUST_CHECK;

/* ---- leave and the daily summary ------------------------------------------------------------ */

#define LEAVE_REASON_MAX 200 /* bytes */

struct leave_new {
    int64_t user_id;
    const char *from, *to; /* local dates YYYY-MM-DD, inclusive */
    const char *reason;    /* NULL: none */
};

/* Leave for in->user_id from..to. ERR_INVALID: dates, reason over LEAVE_REASON_MAX bytes;
 * ERR_NOTFOUND: user outside the caller's reach. Audited "leave.create". */
enum err leave_create(struct rctx *cx, const struct leave_new *in, int64_t *id) MUST_CHECK;

struct att_person {
    int64_t user_id, department_id, first_in, last_out; /* 0 = none */
    const char *name, *department_name;
    /* "present", "late", "absent", "on_leave", "off" (no shift that day) or "pending" (a shift
     * that day whose late window has not closed yet, and no check-in so far) */
    const char *status;
    bool no_checkout; /* the last check-out of the date was the automatic one (last_out) */
};

struct att_dept {
    int64_t department_id; /* 0: no department */
    const char *name;
    size_t present, late, absent, on_leave, off, pending;
};

/* The attendance of date (local "YYYY-MM-DD") of every staff member the caller leads (admins:
 * all), optionally of one department (0 = all), and the counts per department. "late" people
 * are present too but counted only as late. A shift instance counts on the day it starts: a
 * night shift (20:00–08:00) with its next morning's check-out is the evening's (shift_time.h);
 * absent is decided by the server's clock once start + grace of that day has passed. */
enum err attendance_daily(struct rctx *cx, const char *date, int64_t department_id,
                          struct att_person **people, size_t *npeople, struct att_dept **depts,
                          size_t *ndepts) MUST_CHECK;

#endif
