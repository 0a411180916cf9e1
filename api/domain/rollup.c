/* api/domain/rollup.c: the dashboard and 考评 rollups (see rollup.h).
 *
 * One pure function, apply(), turns (case, what the rollup knew of it, one timeline row) into
 * counter deltas and changes to the case's marks. rollup_step() runs it for one row and writes
 * the result with upserts; rollup_rebuild() runs it over every row in memory and writes the
 * totals in bulk. Both paths share apply(), so a rebuild can only differ from the live tables
 * if a write was lost. */
#include "api/domain/rollup.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/domain/citytime.h"
#include "api/domain/refdata.h"
#include "api/domain/workflow.h"
#include "server/db/db.h"

#define DAYS_1970 719528 /* TO_DAYS('1970-01-01') */
#define NSCOPES_MAX 5

/* ---- indicators ------------------------------------------------------------------------ */

static const struct {
    const char *name, *role, *label;
} indicators[EVAL__COUNT] = {
    [EVAL_VALID_REPORT] = {"valid_report", "inspector", "有效上报率"},
    [EVAL_ON_TIME_VERIFY] = {"on_time_verify", "inspector", "按时核实率"},
    [EVAL_ON_TIME_CHECK] = {"on_time_check", "inspector", "按时核查率"},
    [EVAL_ON_TIME_REGISTER] = {"on_time_register", "shift_lead", "按时立案率"},
    [EVAL_ACCURATE_REGISTER] = {"accurate_register", "shift_lead", "准确立案率"},
    [EVAL_ON_TIME_CLOSE] = {"on_time_close", "shift_lead", "按时结案率"},
    [EVAL_ON_TIME_DISPATCH] = {"on_time_dispatch", "dispatcher", "按时派遣率"},
    [EVAL_ACCURATE_DISPATCH] = {"accurate_dispatch", "dispatcher", "准确派遣率"},
    [EVAL_ON_TIME_HANDLE] = {"on_time_handle", "department", "按期处置率"},
    [EVAL_REWORK] = {"rework_rate", "department", "返工率"},
    [EVAL_CLOSE_RATE] = {"close_rate", "department", "结案率"},
};

const char *eval_indicator_name(enum eval_indicator i)
{
    return (unsigned)i < EVAL__COUNT ? indicators[i].name : NULL;
}

const char *eval_indicator_role(enum eval_indicator i)
{
    return (unsigned)i < EVAL__COUNT ? indicators[i].role : NULL;
}

const char *eval_indicator_label(enum eval_indicator i)
{
    return (unsigned)i < EVAL__COUNT ? indicators[i].label : NULL;
}

int eval_indicator_from_name(const char *name)
{
    for (int i = 0; name && i < EVAL__COUNT; i++)
        if (strcmp(indicators[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- time and place ---------------------------------------------------------------------- */

enum err rollup_day_parse(const char *s, int64_t *day)
{
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = 0, m = 0, d = 0;

    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return ERR_INVALID;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7)
            continue;
        if (s[i] < '0' || s[i] > '9')
            return ERR_INVALID;
    }
    y = (unsigned)((s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'));
    m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
    d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return ERR_INVALID;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return ERR_INVALID;
    *day = citytime_day_of_date(y, m, d);
    return ERR_OK;
}

/* Hotspot and 考评 rows exist per day (span 0), per week from Monday (1) and per month (2): a
 * period reads whole months and weeks where it can and days only at its edges. In a delta the
 * span rides in the day's high bits (SPAN_DAY). */
#define SPAN_DAY(span, day) (((int64_t)(span) << 32) | ((day)&0xffffffffLL))

static int64_t week_start(int64_t day)
{
    int64_t dow = ((day + 3) % 7 + 7) % 7; /* 1970-01-01 was a Thursday; Monday = 0 */
    return day - dow;
}

static int64_t month_start(int64_t day)
{
    int64_t y;
    unsigned m, d;
    citytime_date_of_day(day, &y, &m, &d);
    return day - (d - 1);
}

static int64_t month_end(int64_t day)
{
    int64_t y;
    unsigned m, d;
    citytime_date_of_day(day, &y, &m, &d);
    return (m == 12 ? citytime_day_of_date(y + 1, 1, 1) : citytime_day_of_date(y, m + 1, 1)) - 1;
}

const char *rollup_period_sql(struct rctx *cx, int64_t from, int64_t to)
{
    const char *sql = "(0";
    int64_t d = from, run = -1;

    while (d <= to) {
        int span = 0;
        int64_t len = 1;
        if (month_start(d) == d && month_end(d) <= to) {
            span = 2;
            len = month_end(d) - d + 1;
        } else if (week_start(d) == d && d + 6 <= to) {
            /* A week that would cut into a whole month after it is left to days and months. */
            int64_t m = month_start(d + 6);
            if (!(m > d && month_end(m) <= to)) {
                span = 1;
                len = 7;
            }
        }
        if (span == 0) {
            if (run < 0)
                run = d;
        } else {
            if (run >= 0)
                sql =
                    rctx_printf(cx,
                                "%s OR (span = 0 AND day BETWEEN FROM_DAYS(%lld) AND"
                                " FROM_DAYS(%lld))",
                                sql, (long long)(run + DAYS_1970), (long long)(d - 1 + DAYS_1970));
            run = -1;
            sql = rctx_printf(cx, "%s OR (span = %d AND day = FROM_DAYS(%lld))", sql, span,
                              (long long)(d + DAYS_1970));
        }
        d += len;
    }
    if (run >= 0)
        sql =
            rctx_printf(cx, "%s OR (span = 0 AND day BETWEEN FROM_DAYS(%lld) AND FROM_DAYS(%lld))",
                        sql, (long long)(run + DAYS_1970), (long long)(to + DAYS_1970));
    return rctx_printf(cx, "%s)", sql);
}

#define M_PER_DEG 111320.0

void rollup_cell_of(double cell_m, double lat, double lng, int32_t *cy, int32_t *cx)
{
    double y = floor(lat * M_PER_DEG / cell_m);
    double lat_c = (y + 0.5) * cell_m / M_PER_DEG;
    double k = cos(lat_c * M_PI / 180.0);

    if (k < 0.01)
        k = 0.01; /* the poles: cells get wide rather than divide by zero */
    *cy = (int32_t)y;
    *cx = (int32_t)floor(lng * M_PER_DEG * k / cell_m);
}

void rollup_cell_center(double cell_m, int32_t cy, int32_t cx, double *lat, double *lng)
{
    double lat_c = (cy + 0.5) * cell_m / M_PER_DEG;
    double k = cos(lat_c * M_PI / 180.0);

    if (k < 0.01)
        k = 0.01;
    *lat = lat_c;
    *lng = (cx + 0.5) * cell_m / (M_PER_DEG * k);
}

/* ---- the pure part ------------------------------------------------------------------------- */

enum { SRC_INSPECTOR, SRC_CITIZEN, SRC_HOTLINE, SRC_VIDEO_AI, SRC_LEADER, SRC__COUNT };
static const char *const source_names[SRC__COUNT] = {"inspector", "citizen", "hotline", "video_ai",
                                                     "leader"};

/* dash_day columns, in source order first. */
enum { COL_CLOSED = SRC__COUNT, COL_CLOSED_ON_TIME, COL_OPEN, COL_URGENT, COL_OVERDUE, COL__COUNT };
static const char *const day_cols[COL__COUNT] = {
    "new_inspector", "new_citizen",    "new_hotline", "new_video_ai", "new_leader",
    "closed",        "closed_on_time", "open_delta",  "urgent_delta", "overdue_delta"};

/* T_CELL: 250 m cells (dash_cell); T_CELL_500 and T_CELL_KM: 500 m and 1 km cells
 * (dash_cell_coarse). */
enum tab { T_DAY, T_CAT, T_GRID, T_HOUR, T_CELL, T_CELL_500, T_CELL_KM, T_STAFF, T_EVAL, T__COUNT };

/* One counter change; applies to every scope of the case. For T_EVAL k1 is the subject and
 * k2 = indicator * 2 + (subject is a department); col 0 = num, 1 = den. */
struct delta {
    enum tab t;
    int col;
    int64_t day, k1, k2;
    int64_t v, v2; /* v2: the den change of a T_EVAL delta */
};

struct rcase {
    int64_t id, region, grid, category, reporter, created_ms;
    int source;
    bool urgent;
    double lat, lng;
};

struct fact {
    bool exists;
    char state[17], step[17];
    int64_t due_ms;
    bool overdue, late;
    int64_t dept, dispatcher;
};

struct step {
    int64_t id, actor_id, dept, due_ms, at_ms;
    int64_t assignee; /* the inspector a 核实 is sent to (request_confirmation) */
    const char *action, *from, *to, *role, *step;
};

struct mark {
    int64_t id; /* 0 = new */
    int64_t day;
    bool dept;
    int64_t subject;
    int ind;
    bool ok, orig_ok;
    bool deleted, changed;
    char reason[64];
    int64_t step_id;
};

struct marks {
    struct mark *v;
    size_t n, cap;
};

#define DELTAS_MAX 128
struct out {
    struct delta d[DELTAS_MAX];
    size_t n;
};

static bool spanned(enum tab t)
{
    return t == T_CAT || t == T_GRID || t == T_HOUR || t == T_CELL || t == T_CELL_500 ||
           t == T_CELL_KM || t == T_EVAL;
}

static void add2(struct out *o, enum tab t, int col, int64_t day, int64_t k1, int64_t k2, int64_t v,
                 int64_t v2)
{
    if (v == 0 && v2 == 0 && t != T_STAFF)
        return;
    if (o->n + 3 > DELTAS_MAX)
        return; /* cannot happen: a row makes at most a few dozen */
    o->d[o->n++] = (struct delta){t, col, day, k1, k2, v, v2};
    if (spanned(t)) {
        o->d[o->n++] = (struct delta){t, col, SPAN_DAY(1, week_start(day)), k1, k2, v, v2};
        o->d[o->n++] = (struct delta){t, col, SPAN_DAY(2, month_start(day)), k1, k2, v, v2};
    }
}

static void add(struct out *o, enum tab t, int col, int64_t day, int64_t k1, int64_t k2, int64_t v)
{
    add2(o, t, col, day, k1, k2, v, 0);
}

static bool is_open(const char *state)
{
    return strcmp(state, "closed") != 0 && strcmp(state, "invalid") != 0 &&
           strcmp(state, "merged") != 0;
}

/* Whether a timeline row's actor counts as staff at work (not a citizen, machine or rule). */
static bool staff_role(const char *role)
{
    static const char *const staff[] = {"inspector",  "handler", "operator", "shift_lead",
                                        "dispatcher", "leader",  "admin"};
    for (size_t i = 0; role && i < sizeof staff / sizeof staff[0]; i++)
        if (strcmp(staff[i], role) == 0)
            return true;
    return false;
}

static struct mark *mark_new(struct marks *m, int64_t day, bool dept, int64_t subject, int ind,
                             bool ok, const char *reason, int64_t step_id)
{
    struct mark *k;

    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct mark *v = realloc(m->v, cap * sizeof *v);
        if (!v)
            abort(); /* as pool allocation does */
        m->v = v;
        m->cap = cap;
    }
    k = &m->v[m->n++];
    memset(k, 0, sizeof *k);
    k->day = day;
    k->dept = dept;
    k->subject = subject;
    k->ind = ind;
    k->ok = ok;
    snprintf(k->reason, sizeof k->reason, "%s", reason);
    k->step_id = step_id;
    return k;
}

/* The latest live mark of indicator ind (of that subject when subject != 0); pending_only:
 * only one not yet ok. */
static struct mark *mark_last(struct marks *m, int ind, int64_t subject, bool pending_only)
{
    for (size_t i = m->n; i-- > 0;) {
        struct mark *k = &m->v[i];
        if (k->deleted || k->ind != ind || (subject && k->subject != subject))
            continue;
        if (pending_only && k->ok)
            continue;
        return k;
    }
    return NULL;
}

static void mark_set(struct mark *k, bool ok, const char *reason)
{
    if (!k)
        return;
    k->ok = ok;
    snprintf(k->reason, sizeof k->reason, "%s", reason);
    k->changed = true;
}

static void mark_drop(struct mark *k)
{
    if (k)
        k->deleted = true;
}

static void late_reason(char *buf, size_t cap, const struct fact *f, const struct step *s)
{
    snprintf(buf, cap, "超时 %lld 分钟", (long long)((s->at_ms - f->due_ms + 59999) / 60000));
}

/* The heart: what one timeline row does. f and m are the case's rollup state before the row
 * and are updated in place; o receives the counter changes; off_ms places the row in a local
 * day and hour. */
static void apply(const struct rcase *c, struct fact *f, const struct step *s, struct marks *m,
                  struct out *o, int64_t off_ms)
{
    int64_t day = citytime_day(s->at_ms, off_ms);
    bool was_open = f->exists && is_open(f->state);
    bool was_over = was_open && f->overdue;
    bool now_open, over;
    enum case_action act;
    char why[64];

    if (strcmp(s->action, "report") == 0 || !f->exists) {
        int32_t cy, cx;
        bool report = strcmp(s->action, "report") == 0;
        memset(f, 0, sizeof *f);
        f->exists = true;
        snprintf(f->state, sizeof f->state, "%s", report ? s->to : s->from);
        snprintf(f->step, sizeof f->step, "%s", s->step);
        f->due_ms = s->due_ms;
        if (report) {
            add(o, T_DAY, c->source, day, 0, 0, 1);
            add(o, T_CAT, 0, day, c->category, 0, 1);
            add(o, T_GRID, 0, day, c->grid, 0, 1);
            add(o, T_HOUR, 0, day, citytime_hour(s->at_ms, off_ms), 0, 1);
            rollup_cell_of(ROLLUP_CELL_M, c->lat, c->lng, &cy, &cx);
            add(o, T_CELL, 0, day, cy, cx, 1);
            rollup_cell_of(ROLLUP_CELL_500_M, c->lat, c->lng, &cy, &cx);
            add(o, T_CELL_500, 0, day, cy, cx, 1);
            rollup_cell_of(ROLLUP_CELL_KM_M, c->lat, c->lng, &cy, &cx);
            add(o, T_CELL_KM, 0, day, cy, cx, 1);
            add(o, T_DAY, COL_OPEN, day, 0, 0, 1);
            add(o, T_DAY, COL_URGENT, day, 0, 0, c->urgent);
            if (s->actor_id && staff_role(s->role))
                add(o, T_STAFF, 0, day, s->actor_id, 0, 1);
            if (c->source == SRC_INSPECTOR && c->reporter)
                mark_new(m, day, false, c->reporter, EVAL_VALID_REPORT, false, "待立案", s->id);
            return;
        }
        /* A case older than the rollups (no report row seen): start from this row. */
        was_open = is_open(f->state);
        add(o, T_DAY, COL_OPEN, day, 0, 0, was_open);
        add(o, T_DAY, COL_URGENT, day, 0, 0, was_open && c->urgent);
    }

    if (strcmp(s->action, "overdue") != 0 && strcmp(s->action, "escalate") != 0 &&
        case_action_from_name(s->action, strlen(s->action), &act) != ERR_OK)
        return; /* a timeline note that moves nothing (督办 "urge", the citizen's "rate") */
    if (strcmp(s->action, "overdue") == 0 || strcmp(s->action, "escalate") == 0) {
        if (strcmp(f->step, "confirm") == 0 && strcmp(s->action, "overdue") == 0)
            mark_set(mark_last(m, EVAL_ON_TIME_VERIFY, 0, false), false, "超时未核实");
        f->overdue = true;
        f->late = true;
        add(o, T_DAY, COL_OVERDUE, day, 0, 0, (int)(was_open) - (int)was_over);
        return;
    }

    bool late_now = f->due_ms && s->at_ms > f->due_ms;
    bool on_time = !late_now;
    const char *a = s->action;
    int64_t actor = s->actor_id;

    if (late_now)
        late_reason(why, sizeof why, f, s);
    else
        why[0] = '\0';
    if (strcmp(a, "approve_extension") == 0)
        over = s->due_ms && s->at_ms >= s->due_ms;
    else if (strcmp(s->step, f->step) == 0 && s->due_ms == f->due_ms)
        over = f->overdue;
    else
        over = false;
    f->late = f->late || late_now;

    if (actor && staff_role(s->role))
        add(o, T_STAFF, 0, day, actor, 0, 1);

    if (strcmp(a, "register") == 0) {
        mark_set(mark_last(m, EVAL_VALID_REPORT, 0, false), true, "");
        if (actor) {
            mark_new(m, day, false, actor, EVAL_ON_TIME_REGISTER, on_time, why, s->id);
            mark_new(m, day, false, actor, EVAL_ACCURATE_REGISTER, true, "", s->id);
        }
    } else if (strcmp(a, "invalidate") == 0) {
        mark_set(mark_last(m, EVAL_VALID_REPORT, 0, false), false, "作废");
        if (actor && strcmp(s->from, "accepted") == 0)
            mark_new(m, day, false, actor, EVAL_ACCURATE_REGISTER, false, "作废", s->id);
    } else if (strcmp(a, "merge") == 0) {
        mark_set(mark_last(m, EVAL_VALID_REPORT, 0, false), false, "合并");
    } else if (strcmp(a, "dispatch") == 0) {
        bool redispatch = strcmp(s->from, "dispatched") == 0;
        if (redispatch) {
            if (f->dispatcher)
                mark_set(mark_last(m, EVAL_ACCURATE_DISPATCH, f->dispatcher, false), false, "改派");
            mark_drop(mark_last(m, EVAL_CLOSE_RATE, 0, true));
        } else if (actor && strcmp(s->role, "system") != 0) {
            mark_new(m, day, false, actor, EVAL_ON_TIME_DISPATCH, on_time, why, s->id);
        }
        f->dispatcher = strcmp(s->role, "system") != 0 ? actor : 0;
        if (f->dispatcher)
            mark_new(m, day, false, f->dispatcher, EVAL_ACCURATE_DISPATCH, true, "", s->id);
        if (s->dept)
            mark_new(m, day, true, s->dept, EVAL_CLOSE_RATE, false, "未结案", s->id);
        f->dept = s->dept;
    } else if (strcmp(a, "return") == 0) {
        if (f->dispatcher)
            mark_set(mark_last(m, EVAL_ACCURATE_DISPATCH, f->dispatcher, false), false, "回退");
        mark_drop(mark_last(m, EVAL_CLOSE_RATE, 0, true));
        f->dept = 0;
    } else if (strcmp(a, "suspend") == 0) {
        mark_drop(mark_last(m, EVAL_CLOSE_RATE, 0, true));
    } else if (strcmp(a, "handle") == 0) {
        if (f->dept)
            mark_new(m, day, true, f->dept, EVAL_ON_TIME_HANDLE, on_time, why, s->id);
    } else if (strcmp(a, "verify_pass") == 0 || strcmp(a, "verify_fail") == 0) {
        bool pass = strcmp(a, "verify_pass") == 0;
        if (actor)
            mark_new(m, day, false, actor, EVAL_ON_TIME_CHECK, on_time, why, s->id);
        if (f->dept)
            mark_new(m, day, true, f->dept, EVAL_REWORK, pass, pass ? "" : "核查不通过", s->id);
    } else if (strcmp(a, "request_confirmation") == 0) {
        /* 应核实: the inspector owes the 核实 from the request on; it is settled by the answer.
         * Sent on to another inspector (改派), the first one's duty lapses unless its time had
         * already run out. */
        if (strcmp(s->from, "confirming") == 0) {
            struct mark *k = mark_last(m, EVAL_ON_TIME_VERIFY, 0, false);
            if (late_now || f->overdue)
                mark_set(k, false, "超时未核实，已改派");
            else
                mark_drop(k);
        }
        if (s->assignee)
            mark_new(m, day, false, s->assignee, EVAL_ON_TIME_VERIFY, false, "待核实", s->id);
    } else if (strcmp(a, "confirm") == 0 || strcmp(a, "deny") == 0) {
        struct mark *k = mark_last(m, EVAL_ON_TIME_VERIFY, 0, false);
        if (k && k->subject == actor)
            mark_set(k, on_time, why);
        else if (actor) /* a request older than the rollups */
            mark_new(m, day, false, actor, EVAL_ON_TIME_VERIFY, on_time, why, s->id);
        if (strcmp(a, "deny") == 0)
            mark_set(mark_last(m, EVAL_VALID_REPORT, 0, false), false, "核实不属实");
    } else if (strcmp(a, "not_fixed") == 0) {
        /* The reporter says the closed case is not fixed: one 返工 against the department that
         * handled it, and its 结案 no longer stands until it closes again. */
        if (f->dept)
            mark_new(m, day, true, f->dept, EVAL_REWORK, false, "市民反映未解决", s->id);
        mark_set(mark_last(m, EVAL_CLOSE_RATE, 0, false), false, "返工未结案");
    } else if (strcmp(a, "close") == 0) {
        if (actor)
            mark_new(m, day, false, actor, EVAL_ON_TIME_CLOSE, on_time, why, s->id);
        mark_set(mark_last(m, EVAL_CLOSE_RATE, 0, true), true, "");
        add(o, T_DAY, COL_CLOSED, day, 0, 0, 1);
        add(o, T_DAY, COL_CLOSED_ON_TIME, day, 0, 0, !f->late);
    }

    snprintf(f->state, sizeof f->state, "%s", s->to);
    snprintf(f->step, sizeof f->step, "%s", s->step);
    f->due_ms = s->due_ms;
    f->overdue = over;
    now_open = is_open(f->state);
    add(o, T_DAY, COL_OPEN, day, 0, 0, (int)now_open - (int)was_open);
    if (c->urgent)
        add(o, T_DAY, COL_URGENT, day, 0, 0, (int)now_open - (int)was_open);
    add(o, T_DAY, COL_OVERDUE, day, 0, 0, (int)(now_open && over) - (int)was_over);
}

/* The eval_day change of one mark, from what was stored to what it is now. */
static void mark_deltas(const struct mark *k, struct out *o)
{
    int64_t k2 = (int64_t)k->ind * 2 + k->dept;
    int num = 0, den = 0;

    if (k->id == 0) {
        if (k->deleted)
            return;
        num = k->ok;
        den = 1;
    } else if (k->deleted) {
        num = -(int)k->orig_ok;
        den = -1;
    } else {
        num = (int)k->ok - (int)k->orig_ok;
    }
    add2(o, T_EVAL, 0, k->day, k->subject, k2, num, den);
}

static bool hot(const struct rcase *c, const struct fact *f)
{
    return f->exists && is_open(f->state) && (c->urgent || f->overdue);
}

static int source_of(const char *s)
{
    for (int i = 0; s && i < SRC__COUNT; i++)
        if (strcmp(source_names[i], s) == 0)
            return i;
    return SRC_INSPECTOR;
}

/* ---- SQL helpers ------------------------------------------------------------------------- */

/* A growing SQL text (malloc'd: the rebuild's statements outgrow a request pool). With bind
 * set (the live path), values go in as placeholders with their arguments, so a statement's
 * text depends only on its shape (table, columns, number of rows) and is prepared once per
 * connection; the rebuild writes values into the text of its few large statements. */
struct buf {
    char *p;
    size_t len, cap;
    size_t rows;
    bool bind;
    struct db_val *args; /* malloc'd; strings borrowed until buf_exec */
    size_t nargs, args_cap;
};

static void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            abort();
        b->p = p;
        b->cap = cap;
    }
}

static void buf_reset(struct buf *b)
{
    b->len = 0;
    b->rows = 0;
    b->nargs = 0;
    if (b->p)
        b->p[0] = '\0';
}

static void buf_free(struct buf *b)
{
    free(b->p);
    free(b->args);
    memset(b, 0, sizeof *b);
}

static void buf_arg(struct buf *b, struct db_val v)
{
    if (b->nargs == b->args_cap) {
        size_t cap = b->args_cap ? b->args_cap * 2 : 32;
        struct db_val *a = realloc(b->args, cap * sizeof *a);
        if (!a)
            abort();
        b->args = a;
        b->args_cap = cap;
    }
    b->args[b->nargs++] = v;
}

/* A value: a placeholder and its argument when binding, else its text — numbers, NULL, and
 * strings of our own (states, indicator names, reasons: never quotes). */
static void buf_val(struct buf *b, struct db_val v)
{
    if (b->bind) {
        buf_addf(b, "?");
        buf_arg(b, v);
    } else if (v.t == DB_I64) {
        buf_addf(b, "%lld", (long long)v.i);
    } else if (v.t == DB_STR) {
        buf_addf(b, "'%.*s'", (int)v.n, v.s);
    } else {
        buf_addf(b, "NULL");
    }
}

static void buf_i64(struct buf *b, int64_t v)
{
    buf_val(b, DBI(v));
}

/* A number, or NULL when it is 0 (an absent id). */
static void buf_id(struct buf *b, int64_t v)
{
    buf_val(b, v ? DBI(v) : DBNULL);
}

static void buf_str(struct buf *b, const char *v)
{
    buf_val(b, DBS(v));
}

/* An instant in ms, or NULL when 0. */
static void buf_ms(struct buf *b, int64_t ms)
{
    buf_addf(b, "FROM_UNIXTIME(");
    buf_val(b, ms ? DBI(ms) : DBNULL);
    buf_addf(b, " / 1000)");
}

/* Run b's text in its own small context (the statement cache keys on the text; the pool
 * memory of the call dies with it). */
static enum err buf_exec(struct rctx *cx, struct buf *b)
{
    struct rctx sub;
    enum err res;

    if (!b->rows)
        return ERR_OK;
    rctx_init(&sub);
    sub.db = cx->db;
    sub.now_ms = cx->now_ms;
    memcpy(sub.id, cx->id, sizeof sub.id);
    res = db_exec(&sub, b->p, b->args, b->nargs, NULL);
    if (res)
        cx->err = sub.err;
    sub.db = NULL;
    rctx_dispose(&sub);
    buf_reset(b);
    return res;
}

static void day_sql(struct buf *b, int64_t day)
{
    buf_addf(b, "FROM_DAYS(");
    buf_i64(b, day + DAYS_1970);
    buf_addf(b, ")");
}

/* The upsert head and row of table t (for T_DAY: of column col); the tail adds n = n + new. */
static void upsert_head(struct buf *b, enum tab t, int col)
{
    switch (t) {
    case T_DAY:
        buf_addf(b, "INSERT INTO dash_day (scope_id, day, %s) VALUES ", day_cols[col]);
        break;
    case T_CAT:
        buf_addf(b, "INSERT INTO dash_category (scope_id, span, day, category_id, n) VALUES ");
        break;
    case T_GRID:
        buf_addf(b, "INSERT INTO dash_grid (scope_id, span, day, grid_id, n) VALUES ");
        break;
    case T_HOUR:
        buf_addf(b, "INSERT INTO dash_hour (scope_id, span, day, hour, n) VALUES ");
        break;
    case T_CELL:
        buf_addf(b, "INSERT INTO dash_cell (scope_id, span, day, cy, cx, n) VALUES ");
        break;
    case T_CELL_500:
    case T_CELL_KM:
        buf_addf(b,
                 "INSERT INTO dash_cell_coarse (scope_id, cell_m, span, day, cy, cx, n) VALUES ");
        break;
    case T_STAFF:
        buf_addf(b, "INSERT IGNORE INTO dash_staff (scope_id, day, user_id) VALUES ");
        break;
    case T_EVAL:
        buf_addf(b, "INSERT INTO eval_day (scope_id, span, day, subject_type, subject_id,"
                    " indicator, num, den) VALUES ");
        break;
    case T__COUNT:
        break;
    }
}

static void upsert_row(struct buf *b, enum tab t, int64_t scope, int64_t day, int64_t k1,
                       int64_t k2, int64_t v, int64_t v2)
{
    buf_addf(b, "%s(", b->rows ? "," : "");
    buf_i64(b, scope);
    buf_addf(b, ",");
    if (t == T_CELL_500 || t == T_CELL_KM) {
        buf_i64(b, t == T_CELL_500 ? (int64_t)ROLLUP_CELL_500_M : (int64_t)ROLLUP_CELL_KM_M);
        buf_addf(b, ",");
    }
    if (spanned(t)) {
        buf_i64(b, day >> 32);
        buf_addf(b, ",");
    }
    day_sql(b, day & 0xffffffffLL);
    buf_addf(b, ",");
    switch (t) {
    case T_DAY:
        buf_i64(b, v);
        break;
    case T_CAT:
    case T_GRID:
    case T_HOUR:
        buf_i64(b, k1);
        buf_addf(b, ",");
        buf_i64(b, v);
        break;
    case T_CELL:
    case T_CELL_500:
    case T_CELL_KM:
        buf_i64(b, k1);
        buf_addf(b, ",");
        buf_i64(b, k2);
        buf_addf(b, ",");
        buf_i64(b, v);
        break;
    case T_STAFF:
        buf_i64(b, k1);
        break;
    case T_EVAL:
        buf_str(b, (k2 & 1) ? "department" : "user");
        buf_addf(b, ",");
        buf_i64(b, k1);
        buf_addf(b, ",");
        buf_str(b, indicators[k2 / 2].name);
        buf_addf(b, ",");
        buf_i64(b, v);
        buf_addf(b, ",");
        buf_i64(b, v2);
        break;
    case T__COUNT:
        break;
    }
    buf_addf(b, ")");
    b->rows++;
}

static void upsert_tail(struct buf *b, enum tab t, int col)
{
    if (t == T_DAY)
        buf_addf(b, " ON DUPLICATE KEY UPDATE %s = %s + VALUES(%s)", day_cols[col], day_cols[col],
                 day_cols[col]);
    else if (t == T_EVAL)
        buf_addf(b, " ON DUPLICATE KEY UPDATE num = num + VALUES(num), den = den + VALUES(den)");
    else if (t != T_STAFF)
        buf_addf(b, " ON DUPLICATE KEY UPDATE n = n + VALUES(n)");
}

static void fact_row(struct buf *b, int64_t case_id, const struct fact *f)
{
    buf_addf(b, "%s(", b->rows ? "," : "");
    buf_i64(b, case_id);
    buf_addf(b, ",");
    buf_str(b, f->state);
    buf_addf(b, ",");
    buf_str(b, f->step);
    buf_addf(b, ",");
    buf_ms(b, f->due_ms);
    buf_addf(b, ",");
    buf_i64(b, f->overdue);
    buf_addf(b, ",");
    buf_i64(b, f->late);
    buf_addf(b, ",");
    buf_id(b, f->dept);
    buf_addf(b, ",");
    buf_id(b, f->dispatcher);
    buf_addf(b, ")");
    b->rows++;
}

#define FACT_HEAD                                                                                  \
    "INSERT INTO rollup_cases (case_id, state, step, due_at, overdue, late, department_id,"        \
    " dispatcher_id) VALUES "
#define FACT_TAIL                                                                                  \
    " ON DUPLICATE KEY UPDATE state = VALUES(state), step = VALUES(step), due_at ="                \
    " VALUES(due_at), overdue = VALUES(overdue), late = VALUES(late), department_id ="             \
    " VALUES(department_id), dispatcher_id = VALUES(dispatcher_id)"

static void mark_row(struct buf *b, int64_t case_id, int64_t region, const struct mark *k)
{
    buf_addf(b, "%s(", b->rows ? "," : "");
    buf_i64(b, case_id);
    buf_addf(b, ",");
    buf_id(b, region);
    buf_addf(b, ",");
    day_sql(b, k->day);
    buf_addf(b, ",");
    buf_str(b, k->dept ? "department" : "user");
    buf_addf(b, ",");
    buf_i64(b, k->subject);
    buf_addf(b, ",");
    buf_str(b, indicators[k->ind].name);
    buf_addf(b, ",");
    buf_i64(b, k->ok);
    buf_addf(b, ",");
    buf_str(b, k->reason);
    buf_addf(b, ",");
    buf_i64(b, k->step_id);
    buf_addf(b, ")");
    b->rows++;
}

#define MARK_HEAD                                                                                  \
    "INSERT INTO eval_marks (case_id, region_id, day, subject_type, subject_id, indicator, ok,"    \
    " reason, step_id) VALUES "

static void hot_row(struct buf *b, int64_t scope, int64_t case_id, const struct rcase *c,
                    const struct fact *f)
{
    buf_addf(b, "%s(", b->rows ? "," : "");
    buf_i64(b, scope);
    buf_addf(b, ",");
    buf_i64(b, case_id);
    buf_addf(b, ",");
    if (f->due_ms)
        buf_ms(b, f->due_ms);
    else
        buf_addf(b, "'9999-12-31'"); /* no running limit: last in the list, by the index */
    buf_addf(b, ",");
    buf_i64(b, c->urgent);
    buf_addf(b, ",");
    buf_i64(b, f->overdue);
    buf_addf(b, ")");
    b->rows++;
}

#define HOT_HEAD "INSERT INTO dash_hot (scope_id, case_id, due_at, urgent, overdue) VALUES "
#define HOT_TAIL                                                                                   \
    " ON DUPLICATE KEY UPDATE due_at = VALUES(due_at), urgent = VALUES(urgent), overdue ="         \
    " VALUES(overdue)"

/* ---- one row, live ------------------------------------------------------------------------- */

#define MSCOL(col) "CAST(UNIX_TIMESTAMP(" col ") * 1000 AS SIGNED)"

/* clang-format off */
static const char load_sql[] =
    "SELECT s.case_id, s.action, s.from_state, s.to_state, COALESCE(s.actor_id, 0),"
    " s.actor_role, COALESCE(s.department_id, 0), s.step, " MSCOL("s.due_at") ", "
    MSCOL("s.created_at") ", COALESCE(c.region_id, 0), COALESCE(c.grid_id, 0),"
    " c.category_id, COALESCE(c.reporter_id, 0), c.source, c.urgency, " MSCOL("c.created_at") ","
    " c.lat, c.lng, f.case_id, f.state, f.step, " MSCOL("f.due_at") ", f.overdue, f.late,"
    " COALESCE(f.department_id, 0), COALESCE(f.dispatcher_id, 0), r0.id, r1.id, r2.id, r3.id,"
    " COALESCE(s.assignee_id, 0) FROM case_steps s JOIN cases c ON c.id = s.case_id"
    " LEFT JOIN rollup_cases f ON f.case_id = s.case_id"
    " LEFT JOIN regions r0 ON r0.id = c.region_id"
    " LEFT JOIN regions r1 ON r1.id = r0.parent_id"
    " LEFT JOIN regions r2 ON r2.id = r1.parent_id"
    " LEFT JOIN regions r3 ON r3.id = r2.parent_id"
    " WHERE s.id = ?";
/* clang-format on */

static void free_marks(void *p)
{
    struct marks *m = p;
    free(m->v);
}

static void free_buf(void *p)
{
    buf_free(p);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The order the live path writes the counter tables in: the rows that many cases share
 * (a scope's day, its tiles) last, so a step holds their locks for as short a time as it can
 * before COMMIT; every writer takes the tables in this one order. */
static const enum tab live_order[] = {T_CELL, T_CELL_500, T_CAT,  T_GRID,
                                      T_HOUR, T_STAFF,    T_EVAL, T_DAY};

/* Whether a delta of table d goes in the statement of table t: both coarse cell sizes share
 * dash_cell_coarse (cell_m is a column), so they go in one statement, under T_CELL_500. */
static bool same_statement(enum tab d, enum tab t)
{
    return d == t || (t == T_CELL_500 && d == T_CELL_KM);
}

/* dash_day: one row per scope with every column the step changes (the deltas of one step are
 * all of its day), in one statement. */
static enum err write_day(struct rctx *cx, struct buf *b, const struct out *o,
                          const int64_t *scopes, size_t nscopes)
{
    int64_t sum[COL__COUNT] = {0}, day = 0;
    bool any = false;
    int n = 0;

    for (size_t i = 0; i < o->n; i++) {
        if (o->d[i].t == T_DAY) {
            sum[o->d[i].col] += o->d[i].v;
            day = o->d[i].day;
        }
    }
    buf_reset(b);
    buf_addf(b, "INSERT INTO dash_day (scope_id, day");
    for (int col = 0; col < COL__COUNT; col++) {
        if (sum[col]) {
            buf_addf(b, ", %s", day_cols[col]);
            any = true;
        }
    }
    if (!any)
        return ERR_OK;
    buf_addf(b, ") VALUES ");
    for (size_t s = 0; s < nscopes; s++) {
        buf_addf(b, "%s(", s ? "," : "");
        buf_i64(b, scopes[s]);
        buf_addf(b, ",");
        day_sql(b, day);
        for (int col = 0; col < COL__COUNT; col++) {
            if (sum[col]) {
                buf_addf(b, ",");
                buf_i64(b, sum[col]);
            }
        }
        buf_addf(b, ")");
        b->rows++;
    }
    buf_addf(b, " ON DUPLICATE KEY UPDATE ");
    for (int col = 0; col < COL__COUNT; col++) {
        if (sum[col])
            buf_addf(b, "%s%s = %s + VALUES(%s)", n++ ? ", " : "", day_cols[col], day_cols[col],
                     day_cols[col]);
    }
    return buf_exec(cx, b);
}

/* Write deltas for every scope, one statement per table. */
static enum err write_deltas(struct rctx *cx, struct buf *b, const struct out *o,
                             const int64_t *scopes, size_t nscopes)
{
    enum err res = ERR_OK;

    for (size_t k = 0; !res && k < sizeof live_order / sizeof live_order[0]; k++) {
        enum tab t = live_order[k];
        if (t == T_DAY) {
            res = write_day(cx, b, o, scopes, nscopes);
            continue;
        }
        buf_reset(b);
        for (size_t i = 0; i < o->n; i++) {
            const struct delta *d = &o->d[i];
            if (!same_statement(d->t, t))
                continue;
            if (!b->rows)
                upsert_head(b, t, 0);
            for (size_t s = 0; s < nscopes; s++)
                upsert_row(b, d->t, scopes[s], d->day, d->k1, d->k2, d->v, d->v2);
        }
        if (b->rows) {
            upsert_tail(b, t, 0);
            res = buf_exec(cx, b);
        }
    }
    return res;
}

enum err rollup_step(struct rctx *cx, int64_t step_id, int64_t off_ms)
{
    struct db_res r;
    struct rcase c;
    struct fact f;
    struct step s;
    struct marks *m = rctx_zalloc(cx, sizeof *m);
    struct out *o = rctx_zalloc(cx, sizeof *o);
    struct buf *b = rctx_zalloc(cx, sizeof *b);
    int64_t scopes[NSCOPES_MAX];
    size_t nscopes = 0;
    bool had_fact;
    enum err res;

    rctx_defer(cx, free_marks, m);
    rctx_defer(cx, free_buf, b);
    b->bind = true;
    res = db_exec(cx, load_sql, DB_ARGS(DBI(step_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_INTERNAL, "rollup: no timeline row %lld", (long long)step_id);
    s.id = step_id;
    s.action = db_cell(&r, 0, 1);
    s.from = db_cell(&r, 0, 2) ? db_cell(&r, 0, 2) : "";
    s.to = db_cell(&r, 0, 3);
    s.actor_id = db_cell_i64(&r, 0, 4);
    s.role = db_cell(&r, 0, 5);
    s.dept = db_cell_i64(&r, 0, 6);
    s.step = db_cell(&r, 0, 7);
    s.due_ms = db_cell_i64(&r, 0, 8);
    s.at_ms = db_cell_i64(&r, 0, 9);
    s.assignee = db_cell_i64(&r, 0, 31);
    c.id = db_cell_i64(&r, 0, 0);
    c.region = db_cell_i64(&r, 0, 10);
    c.grid = db_cell_i64(&r, 0, 11);
    c.category = db_cell_i64(&r, 0, 12);
    c.reporter = db_cell_i64(&r, 0, 13);
    c.source = source_of(db_cell(&r, 0, 14));
    c.urgent = strcmp(db_cell(&r, 0, 15), "urgent") == 0;
    c.created_ms = db_cell_i64(&r, 0, 16);
    c.lat = db_cell_f64(&r, 0, 17);
    c.lng = db_cell_f64(&r, 0, 18);
    memset(&f, 0, sizeof f);
    if (!db_cell_null(&r, 0, 19)) {
        f.exists = true;
        snprintf(f.state, sizeof f.state, "%s", db_cell(&r, 0, 20));
        snprintf(f.step, sizeof f.step, "%s", db_cell(&r, 0, 21));
        f.due_ms = db_cell_i64(&r, 0, 22);
        f.overdue = db_cell_i64(&r, 0, 23) != 0;
        f.late = db_cell_i64(&r, 0, 24) != 0;
        f.dept = db_cell_i64(&r, 0, 25);
        f.dispatcher = db_cell_i64(&r, 0, 26);
    }
    scopes[nscopes++] = 0;
    for (size_t k = 27; k < 31; k++)
        if (!db_cell_null(&r, 0, k))
            scopes[nscopes++] = db_cell_i64(&r, 0, k);
    qsort(scopes, nscopes, sizeof scopes[0], cmp_i64); /* one lock order for every writer */

    if (f.exists) {
        struct db_res mr;
        res = db_exec(cx,
                      "SELECT id, TO_DAYS(day) - 719528, subject_type, subject_id, indicator, ok,"
                      " reason, step_id FROM eval_marks WHERE case_id = ? ORDER BY id",
                      DB_ARGS(DBI(c.id)), &mr);
        if (res)
            return res;
        for (size_t i = 0; i < mr.nrows; i++) {
            int ind = eval_indicator_from_name(db_cell(&mr, i, 4));
            struct mark *k;
            if (ind < 0)
                continue;
            k = mark_new(m, db_cell_i64(&mr, i, 1), strcmp(db_cell(&mr, i, 2), "department") == 0,
                         db_cell_i64(&mr, i, 3), ind, db_cell_i64(&mr, i, 5) != 0,
                         db_cell(&mr, i, 6), db_cell_i64(&mr, i, 7));
            k->id = db_cell_i64(&mr, i, 0);
            k->orig_ok = k->ok;
        }
    }

    had_fact = f.exists;
    apply(&c, &f, &s, m, o, off_ms);
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].id == 0 || m->v[i].deleted || m->v[i].changed)
            mark_deltas(&m->v[i], o);

    /* The case's own rows. */
    buf_reset(b);
    buf_addf(b, FACT_HEAD);
    fact_row(b, c.id, &f);
    buf_addf(b, FACT_TAIL);
    res = buf_exec(cx, b);
    /* New marks in one statement, in their order (their ids keep it). */
    for (size_t i = 0; !res && i < m->n; i++) {
        struct mark *k = &m->v[i];
        if (k->id == 0 && !k->deleted) {
            if (!b->rows)
                buf_addf(b, MARK_HEAD);
            mark_row(b, c.id, c.region, k);
        }
    }
    if (!res)
        res = buf_exec(cx, b);
    for (size_t i = 0; !res && i < m->n; i++) {
        struct mark *k = &m->v[i];
        if (k->id == 0) {
            continue;
        } else if (k->deleted) {
            res = db_exec(cx, "DELETE FROM eval_marks WHERE id = ?", DB_ARGS(DBI(k->id)), NULL);
        } else if (k->changed) {
            res = db_exec(cx, "UPDATE eval_marks SET ok = ?, reason = ? WHERE id = ?",
                          DB_ARGS(DBI(k->ok), DBS(k->reason), DBI(k->id)), NULL);
        }
    }
    if (!res) {
        buf_reset(b);
        if (hot(&c, &f)) {
            buf_addf(b, HOT_HEAD);
            for (size_t i = 0; i < nscopes; i++)
                hot_row(b, scopes[i], c.id, &c, &f);
            buf_addf(b, HOT_TAIL);
            res = buf_exec(cx, b);
        } else if (had_fact) {
            /* A case without a rollup_cases row (a new one) has no dash_hot rows either. */
            res =
                db_exec(cx, "DELETE FROM dash_hot WHERE case_id = ? AND scope_id IN (?,?,?,?,?)",
                        DB_ARGS(DBI(c.id), DBI(scopes[0]), DBI(scopes[nscopes > 1]),
                                DBI(scopes[nscopes > 2 ? 2 : 0]), DBI(scopes[nscopes > 3 ? 3 : 0]),
                                DBI(scopes[nscopes > 4 ? 4 : 0])),
                        NULL);
        }
    }
    if (!res)
        res = write_deltas(cx, b, o, scopes, nscopes);
    if (!res) {
        /* The live-tile seam: the scopes whose summary may have changed. */
        buf_reset(b);
        buf_addf(b, "INSERT INTO dash_tiles (scope_id, changed_at) VALUES ");
        for (size_t i = 0; i < nscopes; i++) {
            buf_addf(b, "%s(", i ? "," : "");
            buf_i64(b, scopes[i]);
            buf_addf(b, ",");
            buf_ms(b, s.at_ms);
            buf_addf(b, ")");
            b->rows++;
        }
        buf_addf(b, " ON DUPLICATE KEY UPDATE changed_at = GREATEST(changed_at,"
                    " VALUES(changed_at))");
        res = buf_exec(cx, b);
    }
    return res;
}

/* ---- rebuild ------------------------------------------------------------------------------- */

/* Totals of the rebuild: an open-addressing hash of (table, column, scope, day, k1, k2). */
struct hkey {
    int64_t scope, day, k1, k2;
    int32_t t, col;
};

struct hent {
    struct hkey k;
    int64_t v;
    bool used;
};

struct hmap {
    struct hent *v;
    size_t n, cap;
};

static uint64_t hkey_hash(const struct hkey *k)
{
    uint64_t h = 0;
    const int64_t parts[6] = {k->scope, k->day, k->k1, k->k2, k->t, k->col};
    for (int i = 0; i < 6; i++) {
        /* splitmix64 of each part folded in: no clustering for small, close integers. */
        uint64_t z = h + (uint64_t)parts[i] + 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        h = z ^ (z >> 31);
    }
    return h;
}

static bool hkey_eq(const struct hkey *a, const struct hkey *b)
{
    return a->scope == b->scope && a->day == b->day && a->k1 == b->k1 && a->k2 == b->k2 &&
           a->t == b->t && a->col == b->col;
}

static void hmap_add(struct hmap *h, const struct hkey *k, int64_t v);

static void hmap_grow(struct hmap *h)
{
    struct hmap n = {.cap = h->cap ? h->cap * 2 : 65536};

    n.v = calloc(n.cap, sizeof *n.v);
    if (!n.v)
        abort();
    for (size_t i = 0; i < h->cap; i++)
        if (h->v[i].used)
            hmap_add(&n, &h->v[i].k, h->v[i].v);
    free(h->v);
    *h = n;
}

static void hmap_add(struct hmap *h, const struct hkey *k, int64_t v)
{
    size_t i;

    if ((h->n + 1) * 2 > h->cap)
        hmap_grow(h);
    i = hkey_hash(k) & (h->cap - 1);
    while (h->v[i].used && !hkey_eq(&h->v[i].k, k))
        i = (i + 1) & (h->cap - 1);
    if (!h->v[i].used) {
        h->v[i].used = true;
        h->v[i].k = *k;
        h->v[i].v = 0;
        h->n++;
    }
    h->v[i].v += v;
}

static int64_t hmap_get(const struct hmap *h, const struct hkey *k)
{
    size_t i;

    if (!h->cap)
        return 0;
    i = hkey_hash(k) & (h->cap - 1);
    while (h->v[i].used) {
        if (hkey_eq(&h->v[i].k, k))
            return h->v[i].v;
        i = (i + 1) & (h->cap - 1);
    }
    return 0;
}

struct region {
    int64_t id, parent;
};

struct rebuild {
    struct rctx *cx;
    int64_t off_ms; /* the city's UTC offset, read once at the start */
    struct hmap totals;
    struct region *regions;
    size_t nregions;
    struct buf facts, marks, hots, out;
};

static int64_t region_parent(const struct rebuild *rb, int64_t id)
{
    size_t lo = 0, hi = rb->nregions;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rb->regions[mid].id == id)
            return rb->regions[mid].parent;
        if (rb->regions[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static size_t scopes_of(const struct rebuild *rb, int64_t region, int64_t *scopes)
{
    size_t n = 0;

    scopes[n++] = 0;
    for (int depth = 0; region && depth < NSCOPES_MAX - 1; depth++) {
        scopes[n++] = region;
        region = region_parent(rb, region);
    }
    qsort(scopes, n, sizeof scopes[0], cmp_i64);
    return n;
}

#define FLUSH_ROWS 4000

static enum err flush_if_full(struct rebuild *rb, struct buf *b, const char *tail)
{
    if (b->rows < FLUSH_ROWS)
        return ERR_OK;
    if (tail)
        buf_addf(b, "%s", tail);
    return buf_exec(rb->cx, b);
}

/* Replay one case's rows: first row index i0, n rows of result sr. */
static enum err replay_case(struct rebuild *rb, const struct rcase *c, const struct db_res *sr,
                            size_t i0, size_t n)
{
    struct fact f = {0};
    struct marks m = {0};
    struct out o;
    int64_t scopes[NSCOPES_MAX];
    size_t nscopes = scopes_of(rb, c->region, scopes);
    enum err res = ERR_OK;

    for (size_t i = i0; i < i0 + n; i++) {
        struct step s = {
            .id = db_cell_i64(sr, i, 0),
            .action = db_cell(sr, i, 2),
            .from = db_cell(sr, i, 3) ? db_cell(sr, i, 3) : "",
            .to = db_cell(sr, i, 4),
            .actor_id = db_cell_i64(sr, i, 5),
            .role = db_cell(sr, i, 6),
            .dept = db_cell_i64(sr, i, 7),
            .step = db_cell(sr, i, 8),
            .due_ms = db_cell_i64(sr, i, 9),
            .at_ms = db_cell_i64(sr, i, 10),
            .assignee = db_cell_i64(sr, i, 11),
        };
        o.n = 0;
        apply(c, &f, &s, &m, &o, rb->off_ms);
        for (size_t k = 0; k < o.n; k++)
            for (size_t j = 0; j < nscopes; j++) {
                struct hkey key = {scopes[j], o.d[k].day, o.d[k].k1,
                                   o.d[k].k2, o.d[k].t,   o.d[k].col};
                hmap_add(&rb->totals, &key, o.d[k].v);
            }
    }
    if (!f.exists)
        goto out;
    if (!rb->facts.rows)
        buf_addf(&rb->facts, FACT_HEAD);
    fact_row(&rb->facts, c->id, &f);
    res = flush_if_full(rb, &rb->facts, NULL);
    for (size_t i = 0; !res && i < m.n; i++) {
        struct mark *k = &m.v[i];
        if (k->deleted)
            continue;
        if (!rb->marks.rows)
            buf_addf(&rb->marks, MARK_HEAD);
        mark_row(&rb->marks, c->id, c->region, k);
        res = flush_if_full(rb, &rb->marks, NULL);
        for (size_t j = 0; j < nscopes; j++) {
            const int64_t days[3] = {k->day, SPAN_DAY(1, week_start(k->day)),
                                     SPAN_DAY(2, month_start(k->day))};
            for (int sp = 0; sp < 3; sp++) {
                struct hkey key = {scopes[j], days[sp], k->subject, (int64_t)k->ind * 2 + k->dept,
                                   T_EVAL,    0};
                hmap_add(&rb->totals, &key, k->ok);
                key.col = 1;
                hmap_add(&rb->totals, &key, 1);
            }
        }
    }
    for (size_t j = 0; !res && hot(c, &f) && j < nscopes; j++) {
        if (!rb->hots.rows)
            buf_addf(&rb->hots, HOT_HEAD);
        hot_row(&rb->hots, scopes[j], c->id, c, &f);
        res = flush_if_full(rb, &rb->hots, NULL);
    }
out:
    free(m.v);
    return res;
}

static enum err exec_sql(struct rebuild *rb, const char *sql)
{
    struct buf b = {0};
    enum err res;

    buf_addf(&b, "%s", sql);
    b.rows = 1;
    res = buf_exec(rb->cx, &b);
    buf_free(&b);
    return res;
}

static enum err dump_totals(struct rebuild *rb)
{
    struct buf *b = &rb->out;
    enum err res = ERR_OK;

    for (int t = 0; !res && t < T__COUNT; t++) {
        int ncols = t == T_DAY ? COL__COUNT : 1;
        for (int col = 0; !res && col < ncols; col++) {
            buf_reset(b);
            for (size_t i = 0; !res && i < rb->totals.cap; i++) {
                const struct hent *e = &rb->totals.v[i];
                int64_t v2 = 0;
                if (!e->used || e->k.t != t || e->k.col != col)
                    continue;
                if (t == T_EVAL) {
                    struct hkey den = e->k;
                    den.col = 1;
                    v2 = hmap_get(&rb->totals, &den);
                    if (v2 == 0)
                        continue;
                } else if (e->v == 0 && t != T_STAFF) {
                    continue;
                }
                if (!b->rows)
                    upsert_head(b, (enum tab)t, col);
                upsert_row(b, (enum tab)t, e->k.scope, e->k.day, e->k.k1, e->k.k2, e->v, v2);
                if (b->rows >= FLUSH_ROWS) {
                    upsert_tail(b, (enum tab)t, col);
                    res = buf_exec(rb->cx, b);
                }
            }
            if (!res && b->rows) {
                upsert_tail(b, (enum tab)t, col);
                res = buf_exec(rb->cx, b);
            }
        }
    }
    return res;
}

#define CHUNK_CASES 2000

static enum err rebuild_run(struct rebuild *rb, bool verbose)
{
    static const char *const tables[] = {
        "rollup_cases",     "dash_day",   "dash_category", "dash_grid",  "dash_hour", "dash_cell",
        "dash_cell_coarse", "dash_staff", "dash_hot",      "eval_marks", "eval_day",  "dash_tiles"};
    struct rctx sub;
    struct db_res r;
    int64_t after = 0, done = 0;
    enum err res = ERR_OK;

    for (size_t i = 0; !res && i < sizeof tables / sizeof tables[0]; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "DELETE FROM %s", tables[i]);
        res = exec_sql(rb, sql);
    }
    if (res)
        return res;
    res = db_exec(rb->cx, "SELECT id, COALESCE(parent_id, 0) FROM regions ORDER BY id", DB_NOARGS,
                  &r);
    if (res)
        return res;
    rb->nregions = r.nrows;
    rb->regions = calloc(r.nrows + 1, sizeof *rb->regions);
    if (!rb->regions)
        abort();
    for (size_t i = 0; i < r.nrows; i++) {
        rb->regions[i].id = db_cell_i64(&r, i, 0);
        rb->regions[i].parent = db_cell_i64(&r, i, 1);
    }

    for (;;) {
        struct db_res cr, sr;
        size_t si = 0;
        rctx_init(&sub);
        sub.db = rb->cx->db;
        sub.now_ms = rb->cx->now_ms;
        res = db_exec(&sub,
                      "SELECT id, COALESCE(region_id, 0), COALESCE(grid_id, 0), category_id,"
                      " COALESCE(reporter_id, 0), source, urgency, " MSCOL(
                          "created_at") ","
                                        " lat, lng FROM cases WHERE id > ? ORDER BY id LIMIT ?",
                      DB_ARGS(DBI(after), DBI(CHUNK_CASES)), &cr);
        if (!res && cr.nrows)
            res = db_exec(
                &sub,
                "SELECT id, case_id, action, from_state, to_state, COALESCE(actor_id, 0),"
                " actor_role, COALESCE(department_id, 0), step, " MSCOL(
                    "due_at") ","
                              " " MSCOL("created_at") ", COALESCE(assignee_id, 0) FROM case_steps "
                                                      "WHERE case_id BETWEEN ? AND ?"
                                                      " ORDER BY case_id, id",
                DB_ARGS(DBI(db_cell_i64(&cr, 0, 0)), DBI(db_cell_i64(&cr, cr.nrows - 1, 0))), &sr);
        for (size_t i = 0; !res && i < cr.nrows; i++) {
            struct rcase c = {
                .id = db_cell_i64(&cr, i, 0),
                .region = db_cell_i64(&cr, i, 1),
                .grid = db_cell_i64(&cr, i, 2),
                .category = db_cell_i64(&cr, i, 3),
                .reporter = db_cell_i64(&cr, i, 4),
                .source = source_of(db_cell(&cr, i, 5)),
                .urgent = strcmp(db_cell(&cr, i, 6), "urgent") == 0,
                .created_ms = db_cell_i64(&cr, i, 7),
                .lat = db_cell_f64(&cr, i, 8),
                .lng = db_cell_f64(&cr, i, 9),
            };
            size_t n = 0;
            while (si < sr.nrows && db_cell_i64(&sr, si, 1) < c.id)
                si++;
            while (si + n < sr.nrows && db_cell_i64(&sr, si + n, 1) == c.id)
                n++;
            res = replay_case(rb, &c, &sr, si, n);
            si += n;
        }
        if (!res && cr.nrows)
            after = db_cell_i64(&cr, cr.nrows - 1, 0);
        done += (int64_t)cr.nrows;
        if (res)
            rb->cx->err = sub.err;
        sub.db = NULL;
        rctx_dispose(&sub);
        if (res || cr.nrows < CHUNK_CASES)
            break;
        if (verbose && done % 100000 == 0)
            fprintf(stderr, "rollup-rebuild: %lld cases replayed\n", (long long)done);
    }
    if (!res && rb->facts.rows) {
        res = buf_exec(rb->cx, &rb->facts);
    }
    if (!res)
        res = buf_exec(rb->cx, &rb->marks);
    if (!res)
        res = buf_exec(rb->cx, &rb->hots);
    if (!res)
        res = dump_totals(rb);
    if (verbose && !res)
        fprintf(stderr, "rollup-rebuild: %lld cases, %zu totals\n", (long long)done, rb->totals.n);
    return res;
}

enum err rollup_rebuild(struct rctx *cx, bool verbose)
{
    struct rebuild rb = {.cx = cx};
    enum err res;

    res = refdata_utc_offset(cx, &rb.off_ms);
    if (!res)
        res = rebuild_run(&rb, verbose);
    free(rb.totals.v);
    free(rb.regions);
    buf_free(&rb.facts);
    buf_free(&rb.marks);
    buf_free(&rb.hots);
    buf_free(&rb.out);
    return res;
}
