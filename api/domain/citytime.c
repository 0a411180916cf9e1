/* api/domain/citytime.c: local days and wall-clock times at a fixed UTC offset (see
 * citytime.h). */
#include "api/domain/citytime.h"

#include <stdio.h>

#define HOUR_MS INT64_C(3600000)
#define MIN_MS INT64_C(60000)

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int64_t citytime_day(int64_t ms, int64_t off_ms)
{
    return floor_div(ms + off_ms, CITYTIME_DAY_MS);
}

int64_t citytime_day_start_ms(int64_t day, int64_t off_ms)
{
    return day * CITYTIME_DAY_MS - off_ms;
}

/* ms since the local midnight of the day holding ms: 0 .. CITYTIME_DAY_MS - 1. */
static int64_t since_midnight(int64_t ms, int64_t off_ms)
{
    return ms + off_ms - citytime_day(ms, off_ms) * CITYTIME_DAY_MS;
}

int citytime_hour(int64_t ms, int64_t off_ms)
{
    return (int)(since_midnight(ms, off_ms) / HOUR_MS);
}

int citytime_minute(int64_t ms, int64_t off_ms)
{
    return (int)(since_midnight(ms, off_ms) / MIN_MS);
}

void citytime_civil(int64_t ms, int64_t off_ms, struct citytime_civil *out)
{
    /* Howard Hinnant's civil_from_days. */
    int64_t z = citytime_day(ms, off_ms) + 719468, t = since_midnight(ms, off_ms) / 1000;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;

    out->year = (int)(yoe + era * 400 + (m <= 2));
    out->month = (int)m;
    out->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    out->hour = (int)(t / 3600);
    out->minute = (int)(t / 60 % 60);
    out->second = (int)(t % 60);
}

void citytime_zone(int64_t off_ms, char out[8])
{
    int64_t min = (off_ms < 0 ? -off_ms : off_ms) / MIN_MS;

    /* Bounded so the compiler can see the result fits (offsets are at most +-14 h). */
    snprintf(out, 8, "%c%02u:%02u", off_ms < 0 ? '-' : '+', (unsigned)(min / 60 % 100),
             (unsigned)(min % 60));
}
