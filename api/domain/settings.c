/* api/domain/settings.c: admin-editable tunables of the case workflow (settings.h). */
#include "settings.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "audit.h"
#include "calendar.h"
#include "citytime.h"
#include "idempotency.h"
#include "refdata.h"
#include "server/core/log.h"
#include "server/db/db.h"

#define MS_OF(col) "CAST(UNIX_TIMESTAMP(" col ") * 1000 AS SIGNED)"

/* ---- dates -------------------------------------------------------------------------------- */

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Exactly "YYYY-MM-DD", a date that exists, inside SETTINGS_DATE_MIN..MAX. */
static bool date_parse(const char *s, int *y, int *m, int *d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    *y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    *m = (s[5] - '0') * 10 + (s[6] - '0');
    *d = (s[8] - '0') * 10 + (s[9] - '0');
    if (*y < 1970 || *y > 2037 || *m < 1 || *m > 12 || *d < 1)
        return false;
    return *d <= mdays[*m - 1] + (*m == 2 && leap(*y) ? 1 : 0);
}

static enum err check_date(struct rctx *cx, const char *field, const char *s)
{
    int y, m, d;

    if (!date_parse(s, &y, &m, &d))
        return rctx_fail(cx, ERR_INVALID,
                         "%s: expected a date YYYY-MM-DD from " SETTINGS_DATE_MIN
                         " to " SETTINGS_DATE_MAX,
                         field);
    return ERR_OK;
}

/* The audit object id of a date: YYYYMMDD as a number. */
static int64_t date_id(const char *s)
{
    int y = 0, m = 0, d = 0;

    if (!date_parse(s, &y, &m, &d))
        return 0;
    return (int64_t)y * 10000 + m * 100 + d;
}

/* At most max characters of UTF-8 (the decoder above us checked the encoding), no controls. */
static bool day_name_ok(const char *s)
{
    size_t chars = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if ((*p & 0xc0) != 0x80)
            chars++;
    }
    return chars <= SETTINGS_DAY_NAME_MAX;
}

/* Bytes of s up to max that do not split a UTF-8 character (the audit detail is cut at 255
 * bytes, and half a character would not store). */
static int utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n <= max)
        return (int)n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return (int)max;
}

static const char *kind_of(bool working)
{
    return working ? "workday" : "holiday";
}

enum err settings_day_list(struct rctx *cx, const char *from, const char *to,
                           struct settings_day **rows, size_t *n, bool *more)
{
    struct settings_day *v;
    struct db_res r;
    enum err res;

    if (!from)
        from = SETTINGS_DATE_MIN;
    if (!to)
        to = SETTINGS_DATE_MAX;
    res = check_date(cx, "from", from);
    if (!res)
        res = check_date(cx, "to", to);
    if (res)
        return res;
    if (strcmp(from, to) > 0) /* same fixed format: text order is date order */
        return rctx_fail(cx, ERR_INVALID, "from: after to");
    res = db_exec(cx,
                  "SELECT DATE_FORMAT(day, '%Y-%m-%d'), working, note FROM work_calendar_days"
                  " WHERE day BETWEEN ? AND ? ORDER BY day LIMIT ?",
                  DB_ARGS(DBS(from), DBS(to), DBI(SETTINGS_DAYS_MAX + 1)), &r);
    if (res)
        return res;
    *more = r.nrows > SETTINGS_DAYS_MAX;
    *n = *more ? SETTINGS_DAYS_MAX : r.nrows;
    v = rctx_zalloc(cx, (*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        snprintf(v[i].date, sizeof v[i].date, "%s", db_cell(&r, i, 0));
        v[i].kind = kind_of(db_cell_i64(&r, i, 1) != 0);
        v[i].name = db_cell(&r, i, 2) ? db_cell(&r, i, 2) : "";
    }
    *rows = v;
    return ERR_OK;
}

enum err settings_day_put(struct rctx *cx, const struct settings_day_in *in,
                          struct settings_day *out, bool *created)
{
    struct db_res r;
    const char *name = in->name ? in->name : "";
    bool working;
    char detail[256];
    enum err res = check_date(cx, "date", in->date);

    if (res)
        return res;
    if (!in->kind)
        return rctx_fail(cx, ERR_INVALID, "kind: required (holiday or workday)");
    if (strcmp(in->kind, "holiday") == 0)
        working = false;
    else if (strcmp(in->kind, "workday") == 0)
        working = true;
    else
        return rctx_fail(cx, ERR_INVALID, "kind: holiday or workday");
    if (!day_name_ok(name))
        return rctx_fail(cx, ERR_INVALID, "name: at most %d characters, no control characters",
                         SETTINGS_DAY_NAME_MAX);
    res = db_tx_begin(cx);
    if (res)
        return res;
    /* Only to tell created from replaced: two admins racing on one date both succeed, the
     * later one wins, as a PUT should. */
    res = db_exec(cx, "SELECT 1 FROM work_calendar_days WHERE day = ?", DB_ARGS(DBS(in->date)), &r);
    if (res)
        goto out;
    *created = r.nrows == 0;
    res = db_exec(cx,
                  "INSERT INTO work_calendar_days (day, working, note) VALUES (?,?,?)"
                  " ON DUPLICATE KEY UPDATE working = VALUES(working), note = VALUES(note)",
                  DB_ARGS(DBS(in->date), DBI(working), DBS(name)), NULL);
    if (res)
        goto out;
    snprintf(detail, sizeof detail, "%s %s %.*s", in->date, kind_of(working),
             utf8_prefix(name, 200), name);
    res = audit_write(cx, "calendar_day.set", "calendar_day", date_id(in->date), AUDIT_OK, detail);
out:
    res = db_tx_end(cx, res);
    if (!res) {
        snprintf(out->date, sizeof out->date, "%s", in->date);
        out->kind = kind_of(working);
        out->name = name;
    }
    return res;
}

enum err settings_day_delete(struct rctx *cx, const char *date)
{
    struct db_res r;
    char detail[256];
    enum err res = check_date(cx, "date", date);

    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx, "SELECT working, note FROM work_calendar_days WHERE day = ? FOR UPDATE",
                  DB_ARGS(DBS(date)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_NOTFOUND, "%s is not a holiday or make-up working day", date);
        goto out;
    }
    {
        const char *was = db_cell(&r, 0, 1) ? db_cell(&r, 0, 1) : "";
        snprintf(detail, sizeof detail, "%s was %s %.*s", date, kind_of(db_cell_i64(&r, 0, 0) != 0),
                 utf8_prefix(was, 200), was);
    }
    res = db_exec(cx, "DELETE FROM work_calendar_days WHERE day = ?", DB_ARGS(DBS(date)), NULL);
    if (!res)
        res =
            audit_write(cx, "calendar_day.delete", "calendar_day", date_id(date), AUDIT_OK, detail);
out:
    return db_tx_end(cx, res);
}

/* ---- case_settings ------------------------------------------------------------------------ */

#define CASE_COLS                                                                                  \
    "dup_radius_m, dup_window_h, escalate_pct, work_periods, utc_offset_min, " MS_OF("updated_at")

static void case_defaults(struct settings_case *o)
{
    /* migrations/0005_cases.sql, for a database whose row was deleted by hand. */
    o->dup_radius_m = 50;
    o->dup_window_h = 72;
    o->escalate_pct = 150;
    o->work_periods = "08:30-12:00,13:30-17:30";
    o->utc_offset_min = CITYTIME_DEFAULT_OFFSET_MIN;
    o->updated_ms = 0;
}

static void case_row(const struct db_res *r, struct settings_case *o)
{
    o->dup_radius_m = db_cell_i64(r, 0, 0);
    o->dup_window_h = db_cell_i64(r, 0, 1);
    o->escalate_pct = db_cell_i64(r, 0, 2);
    o->work_periods = db_cell(r, 0, 3) ? db_cell(r, 0, 3) : "";
    o->utc_offset_min = db_cell_i64(r, 0, 4);
    o->updated_ms = db_cell_i64(r, 0, 5);
}

enum err settings_case_get(struct rctx *cx, struct settings_case *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT " CASE_COLS " FROM case_settings WHERE id = 1", DB_NOARGS, &r);

    if (res)
        return res;
    if (r.nrows == 0)
        case_defaults(out);
    else
        case_row(&r, out);
    return ERR_OK;
}

/* The periods in the one form we store: "HH:MM-HH:MM" joined by ",". */
static enum err canonical_periods(struct rctx *cx, const char *spec, const char **out)
{
    struct calendar *cal = rctx_alloc(cx, sizeof *cal);
    char *buf, *p;
    size_t cap = CALENDAR_MAX_PERIODS * 12 + 1;

    if (!spec || strlen(spec) > SETTINGS_PERIODS_MAX)
        return rctx_fail(cx, ERR_INVALID, "work_periods: at most %d bytes", SETTINGS_PERIODS_MAX);
    calendar_init_default(cal);
    if (calendar_parse_periods(cal, spec))
        return rctx_fail(cx, ERR_INVALID,
                         "work_periods: expected sorted, non-overlapping periods within one day,"
                         " like \"08:30-12:00,13:30-17:30\" (at most %d)",
                         CALENDAR_MAX_PERIODS);
    buf = rctx_alloc(cx, cap);
    p = buf;
    for (uint32_t i = 0; i < cal->nperiods; i++) {
        const struct calendar_period *q = &cal->periods[i];
        int k =
            snprintf(p, cap - (size_t)(p - buf), "%s%02u:%02u-%02u:%02u", i ? "," : "",
                     q->start_min / 60u, q->start_min % 60u, q->end_min / 60u, q->end_min % 60u);
        if (k < 0 || (size_t)k >= cap - (size_t)(p - buf))
            return rctx_fail(cx, ERR_INTERNAL, "work_periods: canonical form too long");
        p += k;
    }
    *out = buf;
    return ERR_OK;
}

static enum err check_range(struct rctx *cx, const char *field, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        return rctx_fail(cx, ERR_INVALID, "%s: must be between %lld and %lld", field, (long long)lo,
                         (long long)hi);
    return ERR_OK;
}

/* Append " name=value" to the audit detail, never past cap. */
static void note(char *buf, size_t cap, size_t *off, bool cond, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void note(char *buf, size_t cap, size_t *off, bool cond, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (!cond || *off + 2 >= cap)
        return;
    if (*off) {
        buf[(*off)++] = ' ';
        buf[*off] = '\0';
    }
    va_start(ap, fmt);
    k = vsnprintf(buf + *off, cap - *off, fmt, ap);
    va_end(ap);
    if (k > 0)
        *off = *off + (size_t)k < cap ? *off + (size_t)k : cap - 1;
}

enum err settings_case_update(struct rctx *cx, const struct settings_case_patch *p,
                              struct settings_case *out)
{
    struct settings_case cur;
    const char *periods = NULL;
    char detail[256] = "";
    size_t off = 0;
    struct db_res r;
    enum err res = ERR_OK;

    if (!p->has_dup_radius && !p->has_dup_window && !p->has_escalate && !p->has_periods &&
        !p->has_utc_offset)
        return rctx_fail(cx, ERR_INVALID, "nothing to change");
    if (p->has_dup_radius)
        res = check_range(cx, "dup_radius_m", p->dup_radius_m, 0, SETTINGS_DUP_RADIUS_MAX);
    if (!res && p->has_dup_window)
        res = check_range(cx, "dup_window_h", p->dup_window_h, 0, SETTINGS_DUP_WINDOW_MAX);
    if (!res && p->has_escalate)
        res = check_range(cx, "escalate_pct", p->escalate_pct, SETTINGS_ESCALATE_MIN,
                          SETTINGS_ESCALATE_MAX);
    if (!res && p->has_utc_offset)
        res = check_range(cx, "utc_offset_min", p->utc_offset_min, -SETTINGS_UTC_OFFSET_MAX,
                          SETTINGS_UTC_OFFSET_MAX);
    if (!res && p->has_periods)
        res = canonical_periods(cx, p->work_periods, &periods);
    if (res)
        return res;

    res = db_tx_begin(cx);
    if (res)
        return res;
    /* The row is the migration's; recreate it if someone deleted it by hand. */
    res = db_exec(cx, "INSERT IGNORE INTO case_settings (id) VALUES (1)", DB_NOARGS, NULL);
    if (!res)
        res = db_exec(cx, "SELECT " CASE_COLS " FROM case_settings WHERE id = 1 FOR UPDATE",
                      DB_NOARGS, &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_INTERNAL, "case_settings: row 1 is missing");
        goto out;
    }
    case_row(&r, &cur);
    if (p->has_dup_radius)
        cur.dup_radius_m = p->dup_radius_m;
    if (p->has_dup_window)
        cur.dup_window_h = p->dup_window_h;
    if (p->has_escalate)
        cur.escalate_pct = p->escalate_pct;
    if (p->has_periods)
        cur.work_periods = periods;
    if (p->has_utc_offset)
        cur.utc_offset_min = p->utc_offset_min;
    cur.updated_ms = cx->now_ms;
    res = db_exec(cx,
                  "UPDATE case_settings SET dup_radius_m = ?, dup_window_h = ?, escalate_pct = ?,"
                  " work_periods = ?, utc_offset_min = ?, updated_at = FROM_UNIXTIME(? / 1000)"
                  " WHERE id = 1",
                  DB_ARGS(DBI(cur.dup_radius_m), DBI(cur.dup_window_h), DBI(cur.escalate_pct),
                          DBS(cur.work_periods), DBI(cur.utc_offset_min), DBI(cur.updated_ms)),
                  NULL);
    if (res)
        goto out;
    note(detail, sizeof detail, &off, p->has_dup_radius, "dup_radius_m=%lld",
         (long long)cur.dup_radius_m);
    note(detail, sizeof detail, &off, p->has_dup_window, "dup_window_h=%lld",
         (long long)cur.dup_window_h);
    note(detail, sizeof detail, &off, p->has_escalate, "escalate_pct=%lld",
         (long long)cur.escalate_pct);
    note(detail, sizeof detail, &off, p->has_periods, "work_periods=%s", cur.work_periods);
    note(detail, sizeof detail, &off, p->has_utc_offset, "utc_offset_min=%lld",
         (long long)cur.utc_offset_min);
    res = audit_write(cx, "case_settings.update", "case_settings", 1, AUDIT_OK, detail);
out:
    res = db_tx_end(cx, res);
    if (res)
        return res;
    *out = cur;
    /* Load the new settings into this process now, so that what reads the offset without a
     * statement (case numbers, refdata_utc_offset_last) follows at once here; other processes
     * load them with their next refdata_open. The change is committed either way. */
    if (p->has_utc_offset) {
        int64_t off_ms;
        if (refdata_utc_offset(cx, &off_ms))
            log_warn(cx, "case settings saved; reloading them failed");
    }
    return ERR_OK;
}

/* ---- dispatch rules ----------------------------------------------------------------------- */

#define RULE_COLS                                                                                  \
    "d.id, COALESCE(d.grid_id, 0), COALESCE(d.category_id, 0), d.department_id, d.auto,"           \
    " g.name, c.full_code, c.minor_name, dep.name, " MS_OF("d.created_at")
#define RULE_FROM                                                                                  \
    " FROM dispatch_rules d LEFT JOIN grids g ON g.id = d.grid_id"                                 \
    " LEFT JOIN categories c ON c.id = d.category_id"                                              \
    " LEFT JOIN departments dep ON dep.id = d.department_id"

static void rule_row(const struct db_res *r, size_t i, struct settings_rule *o)
{
    o->id = db_cell_i64(r, i, 0);
    o->grid_id = db_cell_i64(r, i, 1);
    o->category_id = db_cell_i64(r, i, 2);
    o->department_id = db_cell_i64(r, i, 3);
    o->autom = db_cell_i64(r, i, 4) != 0;
    o->grid_name = db_cell(r, i, 5);
    o->category_code = db_cell(r, i, 6);
    o->category_name = db_cell(r, i, 7);
    o->department_name = db_cell(r, i, 8);
    o->created_ms = db_cell_i64(r, i, 9);
}

enum err settings_rule_list(struct rctx *cx, const struct settings_rule_filter *f,
                            struct settings_rule **rows, size_t *n, int64_t *next_after)
{
    struct settings_rule *v;
    struct db_res r;
    int limit = f->limit;
    enum err res;

    if (limit < 1 || limit > SETTINGS_RULES_MAX)
        return rctx_fail(cx, ERR_INVALID, "limit: must be between 1 and %d", SETTINGS_RULES_MAX);
    /* A 0 filter matches everything: "? = 0 OR col = ?" keeps one prepared statement. */
    res = db_exec(cx,
                  "SELECT " RULE_COLS RULE_FROM " WHERE d.id > ?"
                  " AND (? = 0 OR d.grid_id = ?) AND (? = 0 OR d.category_id = ?)"
                  " AND (? = 0 OR d.department_id = ?) ORDER BY d.id LIMIT ?",
                  DB_ARGS(DBI(f->after_id), DBI(f->grid_id), DBI(f->grid_id), DBI(f->category_id),
                          DBI(f->category_id), DBI(f->department_id), DBI(f->department_id),
                          DBI(limit + 1)),
                  &r);
    if (res)
        return res;
    *n = r.nrows > (size_t)limit ? (size_t)limit : r.nrows;
    v = rctx_zalloc(cx, (*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        rule_row(&r, i, &v[i]);
    *next_after = r.nrows > (size_t)limit ? v[*n - 1].id : 0;
    *rows = v;
    return ERR_OK;
}

enum err settings_rule_get(struct rctx *cx, int64_t id, struct settings_rule *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT " RULE_COLS RULE_FROM " WHERE d.id = ?", DB_ARGS(DBI(id)), &r);

    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such dispatch rule");
    rule_row(&r, 0, out);
    return ERR_OK;
}

/* Check the referenced rows inside the transaction. The category row (or, for a grid-only rule,
 * the grid row) is locked, so two admins adding the same grid + category are serialised and
 * the second sees the first's rule: the table has no unique key, as NULL means "any". */
/* A rule may send cases only to an active department (read under a shared lock, so it cannot
 * be retired before the rule commits). */
static enum err check_rule_department(struct rctx *cx, int64_t department_id)
{
    struct db_res r;
    enum err res = db_exec(cx, "SELECT active FROM departments WHERE id = ? LOCK IN SHARE MODE",
                           DB_ARGS(DBI(department_id)), &r);

    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_INVALID, "department_id: no such department");
    if (db_cell_i64(&r, 0, 0) == 0)
        return rctx_fail(cx, ERR_INVALID, "department_id: the department is inactive");
    return ERR_OK;
}

static enum err check_rule_refs(struct rctx *cx, const struct settings_rule_new *in)
{
    struct db_res r;
    enum err res;

    if (in->category_id) {
        res = db_exec(cx, "SELECT 1 FROM categories WHERE id = ? FOR UPDATE",
                      DB_ARGS(DBI(in->category_id)), &r);
        if (res)
            return res;
        if (r.nrows == 0)
            return rctx_fail(cx, ERR_INVALID, "category_id: no such category");
    }
    if (in->grid_id) {
        res = db_exec(cx,
                      in->category_id ? "SELECT 1 FROM grids WHERE id = ?"
                                      : "SELECT 1 FROM grids WHERE id = ? FOR UPDATE",
                      DB_ARGS(DBI(in->grid_id)), &r);
        if (res)
            return res;
        if (r.nrows == 0)
            return rctx_fail(cx, ERR_INVALID, "grid_id: no such grid");
    }
    res = check_rule_department(cx, in->department_id);
    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT id FROM dispatch_rules WHERE grid_id <=> ? AND category_id <=> ?"
                  " ORDER BY id LIMIT 1",
                  DB_ARGS(in->grid_id ? DBI(in->grid_id) : DBNULL,
                          in->category_id ? DBI(in->category_id) : DBNULL),
                  &r);
    if (res)
        return res;
    if (r.nrows)
        return rctx_fail(cx, ERR_CONFLICT,
                         "dispatch rule %lld already covers this grid and category; delete it"
                         " first",
                         (long long)db_cell_i64(&r, 0, 0));
    return ERR_OK;
}

enum err settings_rule_create(struct rctx *cx, const struct settings_rule_new *in,
                              struct idem *idem, int64_t *id, bool *replay)
{
    struct db_res r;
    int64_t rid = 0;
    char detail[128];
    enum err res;

    *replay = false;
    if (!in->grid_id && !in->category_id)
        return rctx_fail(cx, ERR_INVALID, "grid_id, category_id: give at least one");
    if (in->grid_id < 0 || in->category_id < 0 || in->department_id <= 0)
        return rctx_fail(cx, ERR_INVALID, "ids must be positive");
    res = idem_begin(cx, idem);
    if (res)
        return res;
    if (idem->replay) {
        rid = idem->result_id;
        *replay = true;
        goto out;
    }
    res = check_rule_refs(cx, in);
    if (res)
        goto out;
    res = db_exec(cx,
                  "INSERT INTO dispatch_rules (grid_id, category_id, department_id, auto,"
                  " created_at) VALUES (?,?,?,?,FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(in->grid_id ? DBI(in->grid_id) : DBNULL,
                          in->category_id ? DBI(in->category_id) : DBNULL, DBI(in->department_id),
                          DBI(in->autom), DBI(cx->now_ms)),
                  &r);
    if (res)
        goto out;
    rid = (int64_t)r.insert_id;
    snprintf(detail, sizeof detail, "grid=%lld category=%lld department=%lld auto=%d",
             (long long)in->grid_id, (long long)in->category_id, (long long)in->department_id,
             in->autom ? 1 : 0);
    res = audit_write(cx, "dispatch_rule.create", "dispatch_rule", rid, AUDIT_OK, detail);
    if (!res)
        res = idem_complete(cx, idem, rid);
out:
    res = db_tx_end(cx, res);
    if (!res)
        *id = rid;
    return res;
}

enum err settings_rule_update(struct rctx *cx, int64_t id, const struct settings_rule_patch *p)
{
    struct db_res r;
    char detail[200];
    int64_t dept;
    bool autom;
    enum err res;

    if (!p->has_department && !p->has_autom)
        return rctx_fail(cx, ERR_INVALID, "nothing to change");
    if (p->has_department && p->department_id <= 0)
        return rctx_fail(cx, ERR_INVALID, "department_id: must be positive");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx, "SELECT department_id, auto FROM dispatch_rules WHERE id = ? FOR UPDATE",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_NOTFOUND, "no such dispatch rule");
        goto out;
    }
    dept = p->has_department ? p->department_id : db_cell_i64(&r, 0, 0);
    autom = p->has_autom ? p->autom : db_cell_i64(&r, 0, 1) != 0;
    if (p->has_department) {
        res = check_rule_department(cx, dept);
        if (res)
            goto out;
    }
    snprintf(detail, sizeof detail, "department=%lld auto=%lld -> department=%lld auto=%d",
             (long long)db_cell_i64(&r, 0, 0), (long long)db_cell_i64(&r, 0, 1), (long long)dept,
             autom ? 1 : 0);
    res = db_exec(cx, "UPDATE dispatch_rules SET department_id = ?, auto = ? WHERE id = ?",
                  DB_ARGS(DBI(dept), DBI(autom), DBI(id)), NULL);
    if (!res)
        res = audit_write(cx, "dispatch_rule.update", "dispatch_rule", id, AUDIT_OK, detail);
out:
    return db_tx_end(cx, res);
}

enum err settings_rule_delete(struct rctx *cx, int64_t id)
{
    struct db_res r;
    char detail[128];
    enum err res = db_tx_begin(cx);

    if (res)
        return res;
    res = db_exec(cx,
                  "SELECT COALESCE(grid_id, 0), COALESCE(category_id, 0), department_id, auto"
                  " FROM dispatch_rules WHERE id = ? FOR UPDATE",
                  DB_ARGS(DBI(id)), &r);
    if (res)
        goto out;
    if (r.nrows == 0) {
        res = rctx_fail(cx, ERR_NOTFOUND, "no such dispatch rule");
        goto out;
    }
    snprintf(detail, sizeof detail, "was grid=%lld category=%lld department=%lld auto=%lld",
             (long long)db_cell_i64(&r, 0, 0), (long long)db_cell_i64(&r, 0, 1),
             (long long)db_cell_i64(&r, 0, 2), (long long)db_cell_i64(&r, 0, 3));
    res = db_exec(cx, "DELETE FROM dispatch_rules WHERE id = ?", DB_ARGS(DBI(id)), NULL);
    if (!res)
        res = audit_write(cx, "dispatch_rule.delete", "dispatch_rule", id, AUDIT_OK, detail);
out:
    return db_tx_end(cx, res);
}
