/* api/domain/calendar.h: the work calendar that case deadlines (时限) are counted on.
 *
 * Owns the working periods of a day, the weekend (Saturday and Sunday), holidays, make-up
 * working days (调休: a Saturday or Sunday that is worked), the fixed UTC offset of the city
 * (China has no DST, so no tz database is needed), and the arithmetic on them:
 * "due time after N working minutes/hours/days" and "working time elapsed between two instants"
 * (for the 50 % / 80 % / 100 % reminders).
 *
 * Invariants kept by the setters: 1..CALENDAR_MAX_PERIODS periods, each non-empty, sorted,
 * non-overlapping and inside one local day; at most CALENDAR_MAX_DATES special dates, sorted
 * by day and unique. A setter that fails leaves the calendar unchanged.
 *
 * Pure: no I/O, no allocation, no clock reads, no locale. A struct calendar is plain data in the
 * caller's storage (typically built once from config at start-up); the query functions only read
 * it, so one calendar may be shared by every worker thread. Time is ms since the epoch, UTC.
 * Arithmetic walks at most one step per calendar day, never per minute. */
#ifndef CITYD_CALENDAR_H
#define CITYD_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"

#define CALENDAR_MAX_PERIODS 8
#define CALENDAR_MAX_DATES 512 /* holidays and make-up working days together */
/* Instants accepted and produced: 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z (the range
 * of a MariaDB DATETIME), so no arithmetic below can overflow. */
#define CALENDAR_MAX_MS INT64_C(253402300799999)
/* What calendar_add() and calendar_work_ms_between() return for invalid input. Every valid
 * result is >= 0, so `if (due < 0)` is the test. */
#define CALENDAR_INVALID INT64_C(-1)

enum calendar_unit {
    CAL_MINUTES_WORK,  /* 工作分钟 */
    CAL_HOURS_WORK,    /* 工作时 */
    CAL_DAYS_WORK,     /* 工作日: the same working-time position N working days later */
    CAL_HOURS_NATURAL, /* clock hours, for 紧急 items that run day and night */
    CAL_UNIT__COUNT
};

/* One working period, [start_min, end_min) in minutes after local midnight; end_min <= 1440. */
struct calendar_period {
    uint16_t start_min;
    uint16_t end_min;
};

/* A holiday (working == 0) or a make-up working day (working == 1). day counts local days since
 * 1970-01-01. */
struct calendar_date {
    int32_t day;
    uint8_t working;
};

/* Caller's storage (about 4 KiB). The fields are internal: change them only through the
 * functions below, which keep the invariants. */
struct calendar {
    int32_t utc_offset_min;
    uint32_t nperiods;
    struct calendar_period periods[CALENDAR_MAX_PERIODS];
    uint32_t ndates;
    struct calendar_date dates[CALENDAR_MAX_DATES];
};

/* The national default: 08:30-12:00 and 13:30-17:30 (7.5 h a day), Monday to Friday, UTC+08:00,
 * no holidays. Cannot fail. */
void calendar_init_default(struct calendar *cal);

/* Replace the working periods with n periods copied from p. ERR_INVALID unless 1 <= n <=
 * CALENDAR_MAX_PERIODS and every period is non-empty, ends by 24:00, and starts at or after the
 * end of the one before (sorted, no overlap). */
enum err calendar_set_periods(struct calendar *cal, const struct calendar_period *p,
                              size_t n) MUST_CHECK;

/* Parse "08:30-12:00,13:30-17:30" (H:MM or HH:MM; "24:00" allowed as an end; blanks around
 * the separators ignored) and set the periods as calendar_set_periods() does. ERR_INVALID on any
 * syntax error, an empty or NULL spec, or more than CALENDAR_MAX_PERIODS periods. */
enum err calendar_parse_periods(struct calendar *cal, const char *spec) MUST_CHECK;

/* Set the fixed UTC offset in minutes (+480 for China). ERR_INVALID beyond +-14 h. */
enum err calendar_set_utc_offset(struct calendar *cal, int minutes) MUST_CHECK;

/* Mark a local date as a holiday (day off even on a weekday) or as a make-up working day (worked
 * even on a weekend). Marking a date again replaces its kind, so the later config line wins.
 * ERR_INVALID for a date that does not exist or lies outside 1970..9999, or when
 * CALENDAR_MAX_DATES dates are already set. */
enum err calendar_add_holiday(struct calendar *cal, int y, int m, int d) MUST_CHECK;
enum err calendar_add_workday(struct calendar *cal, int y, int m, int d) MUST_CHECK;

/* Whether a local date is a working day. false for a date that does not exist. */
bool calendar_is_workday(const struct calendar *cal, int y, int m, int d);

/* Working time in one working day, in ms (27,000,000 for the default 7.5 h). */
int64_t calendar_day_work_ms(const struct calendar *cal);

/* The due time of a step that starts at start_ms and may take amount units.
 * Working units: when start_ms is outside working time, counting starts at the next working
 * period start; the result is the earliest instant at which the working time is used up, so it
 * lands on a period end (12:00) rather than the next period start (13:30) when it falls between.
 * CAL_DAYS_WORK adds amount whole working days of working time, which is the same working-time
 * position amount working days later (Monday 10:00 + 1 = Tuesday 10:00; 08:30 + 1 = 17:30 the
 * same day). amount == 0 gives the start, moved forward into working time for working units.
 * Returns CALENDAR_INVALID when start_ms is outside 0..CALENDAR_MAX_MS, amount is negative,
 * unit is unknown, or the result would pass CALENDAR_MAX_MS. */
int64_t calendar_add(const struct calendar *cal, int64_t start_ms, int64_t amount,
                     enum calendar_unit unit);

/* Working time in ms inside [from_ms, to_ms); 0 when to_ms <= from_ms. CALENDAR_INVALID when
 * either instant is outside 0..CALENDAR_MAX_MS. For any valid add of working units,
 * calendar_work_ms_between(cal, s, calendar_add(cal, s, n, u)) is exactly n units. */
int64_t calendar_work_ms_between(const struct calendar *cal, int64_t from_ms, int64_t to_ms);

/* Wire names of the units, as stored in categories.limit_handle_unit: "work_min", "work_hour",
 * "work_day", "natural_hour". NULL for an unknown unit. Static storage. */
const char *calendar_unit_name(enum calendar_unit unit);
/* Unit for a wire name of len bytes (need not be NUL-terminated). ERR_INVALID when unknown;
 * *out is written only on success. */
enum err calendar_unit_from_name(const char *name, size_t len, enum calendar_unit *out) MUST_CHECK;

#endif
