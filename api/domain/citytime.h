/* api/domain/citytime.h: the city's local time — days, hours, minutes and wall-clock dates at
 * the city's fixed UTC offset (case_settings.utc_offset_min; China +480, no DST).
 *
 * The offset has one source: refdata_utc_offset() / refdata_utc_offset_ms() (refdata.h), which
 * follow the case settings across processes like the work calendar does. Everything that
 * speaks of a local day or a local time of day — case numbers, the citizens' daily report
 * limits, the daily points cap, push quiet hours, the dashboard's days and hours, the photo
 * watermark, attendance — passes that offset to these functions; none keeps a constant.
 *
 * Pure: no I/O, no clock reads. Instants are ms since the epoch (UTC); off_ms is the offset in
 * ms (+8 h = 28,800,000; west of Greenwich negative). Local day numbers count days since
 * 1970-01-01 in local time, floored, also before 1970. */
#ifndef CITYD_DOMAIN_CITYTIME_H
#define CITYD_DOMAIN_CITYTIME_H

#include <stdint.h>

#define CITYTIME_DAY_MS INT64_C(86400000)
/* China (UTC+08:00): what refdata answers until the case settings say otherwise. */
#define CITYTIME_DEFAULT_OFFSET_MIN 480

/* A local wall-clock time. */
struct citytime_civil {
    int year, month, day;     /* 1..12, 1..31 */
    int hour, minute, second; /* 0..23, 0..59, 0..59 */
};

/* The local day number of instant ms. */
int64_t citytime_day(int64_t ms, int64_t off_ms);

/* The instant (ms, UTC) at which local day number day starts. */
int64_t citytime_day_start_ms(int64_t day, int64_t off_ms);

/* The local hour (0..23) and minute of the day (0..1439) of instant ms. */
int citytime_hour(int64_t ms, int64_t off_ms);
int citytime_minute(int64_t ms, int64_t off_ms);

/* The civil date (proleptic Gregorian) of day number day, and the day number of a civil date
 * (H. Hinnant's civil_from_days / days_from_civil; any year, also before 1970). Day numbers
 * are days since 1970-01-01: local ones (citytime_day) give local dates. The one copy of this
 * arithmetic in cityd. */
void citytime_date_of_day(int64_t day, int64_t *y, unsigned *m, unsigned *d);
int64_t citytime_day_of_date(int64_t y, unsigned m, unsigned d);
/* "YYYY-MM-DD" of day number day into out (years kept to four digits). */
void citytime_day_format(int64_t day, char out[11]);

/* The local wall-clock time of instant ms (whole seconds, floored). */
void citytime_civil(int64_t ms, int64_t off_ms, struct citytime_civil *out);

/* The offset as RFC 3339 writes it: "+08:00", "-05:00", "+00:00", "+05:45". Offsets are
 * whole minutes; seconds are dropped. */
void citytime_zone(int64_t off_ms, char out[8]);

#endif
