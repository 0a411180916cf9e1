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

void citytime_date_of_day(int64_t day, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int64_t citytime_day_of_date(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

void citytime_day_format(int64_t day, char out[11])
{
    int64_t y;
    unsigned m, d;

    citytime_date_of_day(day, &y, &m, &d);
    /* Bounded so the compiler can see the result fits. */
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)((y % 10000 + 10000) % 10000), m % 13, d % 32);
}

void citytime_civil(int64_t ms, int64_t off_ms, struct citytime_civil *out)
{
    int64_t t = since_midnight(ms, off_ms) / 1000, y;
    unsigned m, d;

    citytime_date_of_day(citytime_day(ms, off_ms), &y, &m, &d);
    out->year = (int)y;
    out->month = (int)m;
    out->day = (int)d;
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
