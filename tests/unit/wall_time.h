/* tests/unit/wall_time.h: the instant (ms since the epoch) of a wall-clock time at a fixed UTC
 * offset, computed with libc's timegm: the reference the local-time unit tests check the
 * domain's own arithmetic against. */
#ifndef CITYD_TEST_WALL_TIME_H
#define CITYD_TEST_WALL_TIME_H

#include <stdint.h>
#include <string.h>
#include <time.h>

/* y-mo-d h:mi:s at UTC+off_ms. */
static inline int64_t wall_ms(int y, int mo, int d, int h, int mi, int s, int64_t off_ms)
{
    struct tm tm;

    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000 - off_ms;
}

#endif
