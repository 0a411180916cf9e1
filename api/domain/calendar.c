/* api/domain/calendar.c: work-calendar arithmetic (see calendar.h). */
#include "api/domain/calendar.h"
#include "api/domain/citytime.h"

#include <assert.h>
#include <string.h>

#define MIN_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)
#define DAY_MIN 1440
#define MAX_OFFSET_MIN (14 * 60)

static const char *const unit_names[CAL_UNIT__COUNT] = {
    [CAL_MINUTES_WORK] = "work_min",
    [CAL_HOURS_WORK] = "work_hour",
    [CAL_DAYS_WORK] = "work_day",
    [CAL_HOURS_NATURAL] = "natural_hour",
};

static bool valid_date(int y, int m, int d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int last;

    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1)
        return false;
    last = mdays[m - 1];
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        last = 29;
    return d <= last;
}

/* Floor division for b > 0: a local day starts at midnight even when the local instant is
 * negative (ms 0 seen from a western offset). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    if (a % b < 0)
        q--;
    return q;
}

/* 0 = Sunday .. 6 = Saturday; 1970-01-01 was a Thursday. */
static int weekday(int64_t day)
{
    return (int)(((day % 7) + 7 + 4) % 7);
}

static int64_t offset_ms(const struct calendar *cal)
{
    return (int64_t)cal->utc_offset_min * MIN_MS;
}

/* Index of the first special date on or after day. */
static uint32_t dates_lower_bound(const struct calendar *cal, int64_t day)
{
    uint32_t lo = 0, hi = cal->ndates;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (cal->dates[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether day is worked. *idx is a cursor into the sorted special dates that only moves
 * forward, so a walk over consecutive days costs O(1) per day instead of a search each. */
static bool day_is_working(const struct calendar *cal, int64_t day, uint32_t *idx)
{
    int wd;

    while (*idx < cal->ndates && cal->dates[*idx].day < day)
        (*idx)++;
    if (*idx < cal->ndates && cal->dates[*idx].day == day)
        return cal->dates[*idx].working != 0;
    wd = weekday(day);
    return wd != 0 && wd != 6;
}

void calendar_init_default(struct calendar *cal)
{
    assert(cal != NULL);
    memset(cal, 0, sizeof *cal);
    cal->utc_offset_min = CITYTIME_DEFAULT_OFFSET_MIN;
    cal->nperiods = 2;
    cal->periods[0] = (struct calendar_period){8 * 60 + 30, 12 * 60};
    cal->periods[1] = (struct calendar_period){13 * 60 + 30, 17 * 60 + 30};
}

enum err calendar_set_periods(struct calendar *cal, const struct calendar_period *p, size_t n)
{
    size_t i;

    assert(cal != NULL);
    if (p == NULL || n == 0 || n > CALENDAR_MAX_PERIODS)
        return ERR_INVALID;
    for (i = 0; i < n; i++) {
        if (p[i].start_min >= p[i].end_min || p[i].end_min > DAY_MIN)
            return ERR_INVALID;
        if (i > 0 && p[i].start_min < p[i - 1].end_min)
            return ERR_INVALID;
    }
    memcpy(cal->periods, p, n * sizeof *p);
    cal->nperiods = (uint32_t)n;
    return ERR_OK;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* H:MM or HH:MM, 00:00..24:00, into minutes after midnight. */
static bool parse_hhmm(const char **sp, unsigned *out)
{
    const char *s = *sp;
    unsigned h = 0, m;
    int nd = 0;

    while (nd < 2 && is_digit(*s)) {
        h = h * 10 + (unsigned)(*s - '0');
        nd++;
        s++;
    }
    if (nd == 0 || *s != ':')
        return false;
    s++;
    if (!is_digit(s[0]) || !is_digit(s[1]) || is_digit(s[2]))
        return false;
    m = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
    s += 2;
    if (h > 24 || m > 59 || (h == 24 && m != 0))
        return false;
    *out = h * 60 + m;
    *sp = s;
    return true;
}

enum err calendar_parse_periods(struct calendar *cal, const char *spec)
{
    struct calendar_period p[CALENDAR_MAX_PERIODS];
    size_t n = 0;
    const char *s;

    assert(cal != NULL);
    if (spec == NULL)
        return ERR_INVALID;
    s = skip_blanks(spec);
    for (;;) {
        unsigned a, b;

        if (n == CALENDAR_MAX_PERIODS)
            return ERR_INVALID;
        if (!parse_hhmm(&s, &a))
            return ERR_INVALID;
        s = skip_blanks(s);
        if (*s != '-')
            return ERR_INVALID;
        s = skip_blanks(s + 1);
        if (!parse_hhmm(&s, &b))
            return ERR_INVALID;
        p[n].start_min = (uint16_t)a;
        p[n].end_min = (uint16_t)b;
        n++;
        s = skip_blanks(s);
        if (*s == '\0')
            break;
        if (*s != ',')
            return ERR_INVALID;
        s = skip_blanks(s + 1);
    }
    /* Ordering, emptiness and overlap are checked in one place. */
    return calendar_set_periods(cal, p, n);
}

enum err calendar_set_utc_offset(struct calendar *cal, int minutes)
{
    assert(cal != NULL);
    if (minutes < -MAX_OFFSET_MIN || minutes > MAX_OFFSET_MIN)
        return ERR_INVALID;
    cal->utc_offset_min = minutes;
    return ERR_OK;
}

static enum err set_date(struct calendar *cal, int y, int m, int d, bool working)
{
    int64_t day;
    uint32_t i;

    assert(cal != NULL);
    if (!valid_date(y, m, d))
        return ERR_INVALID;
    day = citytime_day_of_date(y, (unsigned)m, (unsigned)d);
    i = dates_lower_bound(cal, day);
    if (i < cal->ndates && cal->dates[i].day == day) {
        cal->dates[i].working = working;
        return ERR_OK;
    }
    if (cal->ndates == CALENDAR_MAX_DATES)
        return ERR_INVALID;
    memmove(&cal->dates[i + 1], &cal->dates[i], (cal->ndates - i) * sizeof cal->dates[0]);
    cal->dates[i] = (struct calendar_date){.day = (int32_t)day, .working = working};
    cal->ndates++;
    return ERR_OK;
}

enum err calendar_add_holiday(struct calendar *cal, int y, int m, int d)
{
    return set_date(cal, y, m, d, false);
}

enum err calendar_add_workday(struct calendar *cal, int y, int m, int d)
{
    return set_date(cal, y, m, d, true);
}

bool calendar_is_workday(const struct calendar *cal, int y, int m, int d)
{
    int64_t day;
    uint32_t idx;

    assert(cal != NULL);
    if (!valid_date(y, m, d))
        return false;
    day = citytime_day_of_date(y, (unsigned)m, (unsigned)d);
    idx = dates_lower_bound(cal, day);
    return day_is_working(cal, day, &idx);
}

int64_t calendar_day_work_ms(const struct calendar *cal)
{
    int64_t sum = 0;
    uint32_t i;

    assert(cal != NULL);
    for (i = 0; i < cal->nperiods; i++)
        sum += (int64_t)(cal->periods[i].end_min - cal->periods[i].start_min) * MIN_MS;
    return sum;
}

/* Consume work ms of working time from start; see calendar_add() for where the result lands. */
static int64_t add_work(const struct calendar *cal, int64_t start, int64_t work)
{
    const int64_t off = offset_ms(cal);
    const int64_t day_ms = calendar_day_work_ms(cal);
    int64_t day = floor_div(start + off, DAY_MS);
    int64_t tod = start + off - day * DAY_MS;
    uint32_t idx = dates_lower_bound(cal, day);

    for (;; day++, tod = 0) {
        int64_t day_utc = day * DAY_MS - off;
        uint32_t i;

        if (day_utc > CALENDAR_MAX_MS)
            return CALENDAR_INVALID;
        if (!day_is_working(cal, day, &idx))
            continue;
        /* A whole working day that cannot hold the rest is skipped in one step. Strictly
         * greater, so a remainder of exactly one day still lands on that day's last end. */
        if (tod == 0 && work > day_ms) {
            work -= day_ms;
            continue;
        }
        for (i = 0; i < cal->nperiods; i++) {
            int64_t ps = cal->periods[i].start_min * MIN_MS;
            int64_t pe = cal->periods[i].end_min * MIN_MS;
            int64_t s = tod > ps ? tod : ps;
            int64_t due;

            if (tod >= pe)
                continue;
            if (work <= pe - s) {
                due = day_utc + s + work;
                return due > CALENDAR_MAX_MS ? CALENDAR_INVALID : due;
            }
            work -= pe - s;
        }
    }
}

int64_t calendar_add(const struct calendar *cal, int64_t start_ms, int64_t amount,
                     enum calendar_unit unit)
{
    int64_t unit_ms;

    assert(cal != NULL);
    if (start_ms < 0 || start_ms > CALENDAR_MAX_MS || amount < 0)
        return CALENDAR_INVALID;
    switch (unit) {
    case CAL_HOURS_NATURAL:
        if (amount > (CALENDAR_MAX_MS - start_ms) / HOUR_MS)
            return CALENDAR_INVALID;
        return start_ms + amount * HOUR_MS;
    case CAL_MINUTES_WORK:
        unit_ms = MIN_MS;
        break;
    case CAL_HOURS_WORK:
        unit_ms = HOUR_MS;
        break;
    case CAL_DAYS_WORK:
        unit_ms = calendar_day_work_ms(cal);
        break;
    default:
        return CALENDAR_INVALID;
    }
    /* More working time than wall time left before the end of the range can never fit; the
     * test also keeps amount * unit_ms from overflowing. */
    if (amount > CALENDAR_MAX_MS / unit_ms)
        return CALENDAR_INVALID;
    return add_work(cal, start_ms, amount * unit_ms);
}

int64_t calendar_work_ms_between(const struct calendar *cal, int64_t from_ms, int64_t to_ms)
{
    const int64_t off = offset_ms(cal);
    const int64_t day_ms = calendar_day_work_ms(cal);
    int64_t day0, day1, tod0, tod1, day, sum = 0;
    uint32_t idx;

    assert(cal != NULL);
    if (from_ms < 0 || from_ms > CALENDAR_MAX_MS || to_ms < 0 || to_ms > CALENDAR_MAX_MS)
        return CALENDAR_INVALID;
    if (to_ms <= from_ms)
        return 0;
    day0 = floor_div(from_ms + off, DAY_MS);
    tod0 = from_ms + off - day0 * DAY_MS;
    day1 = floor_div(to_ms + off, DAY_MS);
    tod1 = to_ms + off - day1 * DAY_MS;
    idx = dates_lower_bound(cal, day0);
    for (day = day0; day <= day1; day++) {
        int64_t lo = day == day0 ? tod0 : 0;
        int64_t hi = day == day1 ? tod1 : DAY_MS;
        uint32_t i;

        if (!day_is_working(cal, day, &idx))
            continue;
        if (lo == 0 && hi == DAY_MS) {
            sum += day_ms;
            continue;
        }
        for (i = 0; i < cal->nperiods; i++) {
            int64_t a = cal->periods[i].start_min * MIN_MS;
            int64_t b = cal->periods[i].end_min * MIN_MS;

            if (a < lo)
                a = lo;
            if (b > hi)
                b = hi;
            if (b > a)
                sum += b - a;
        }
    }
    return sum;
}

const char *calendar_unit_name(enum calendar_unit unit)
{
    if ((unsigned)unit >= CAL_UNIT__COUNT)
        return NULL;
    return unit_names[unit];
}

enum err calendar_unit_from_name(const char *name, size_t len, enum calendar_unit *out)
{
    unsigned i;

    if (name == NULL)
        return ERR_INVALID;
    for (i = 0; i < CAL_UNIT__COUNT; i++) {
        if (strlen(unit_names[i]) == len && memcmp(unit_names[i], name, len) == 0) {
            *out = (enum calendar_unit)i;
            return ERR_OK;
        }
    }
    return ERR_INVALID;
}
