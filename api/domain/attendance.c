/* api/domain/attendance.c: see attendance.h. */
#include "attendance.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "audit.h"
#include "citytime.h"
#include "geo.h"
#include "gps_int.h"
#include "idempotency.h"
#include "outbox.h"
#include "shift_time.h"
#include "track.h"
#include "server/core/clock.h"
#include "server/core/log.h"
#include "server/core/roles.h"
#include "server/db/db.h"

/* ---- shifts --------------------------------------------------------------------------------- */

static struct shift_times times_of(const struct shift_rec *s)
{
    return (struct shift_times){.days = s->days,
                                .start_min = s->start_min,
                                .end_min = s->end_min,
                                .grace_min = s->grace_min};
}

static enum err shift_check(struct rctx *cx, const struct shift_rec *in)
{
    size_t n = in->name ? strlen(in->name) : 0;
    struct shift_times t = times_of(in);

    if (n < 1 || n > 64)
        return rctx_fail(cx, ERR_INVALID, "name: 1 to 64 bytes");
    if (in->days < 1 || in->days > 127)
        return rctx_fail(cx, ERR_INVALID, "days: at least one of 1 (Monday) to 7 (Sunday)");
    if (!shift_times_valid(&t))
        return rctx_fail(cx, ERR_INVALID,
                         "start/end: start 00:00 to 23:59, end 00:01 to 24:00 and not start"
                         " (an end before the start ends the next day: overnight)");
    if (in->grace_min < 0 || in->grace_min > 240)
        return rctx_fail(cx, ERR_INVALID, "grace_min: 0 to 240");
    return ERR_OK;
}

enum err shift_create(struct rctx *cx, const struct shift_rec *in, int64_t *id)
{
    struct db_res r;
    enum err res = shift_check(cx, in);

    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "INSERT INTO shifts (name, days, start_min, end_min, grace_min, active,"
                  " created_at, updated_at) VALUES (?,?,?,?,?,?,FROM_UNIXTIME(? / 1000),"
                  " FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBS(in->name), DBI(in->days), DBI(in->start_min), DBI(in->end_min),
                          DBI(in->grace_min), DBI(in->active ? 1 : 0), DBI(cx->now_ms),
                          DBI(cx->now_ms)),
                  &r);
    if (!res) {
        *id = (int64_t)r.insert_id;
        res = audit_write(cx, "shift.create", "shift", *id, AUDIT_OK, in->name);
    }
    return db_tx_end(cx, res);
}

enum err shift_update(struct rctx *cx, int64_t id, const struct shift_rec *in)
{
    struct db_res r;
    enum err res = shift_check(cx, in);

    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "UPDATE shifts SET name = ?, days = ?, start_min = ?, end_min = ?, grace_min = ?,"
                  " active = ?, updated_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
                  DB_ARGS(DBS(in->name), DBI(in->days), DBI(in->start_min), DBI(in->end_min),
                          DBI(in->grace_min), DBI(in->active ? 1 : 0), DBI(cx->now_ms), DBI(id)),
                  &r);
    if (!res && r.affected == 0)
        res = rctx_fail(cx, ERR_NOTFOUND, "no such shift");
    if (!res)
        res = audit_write(cx, "shift.update", "shift", id, AUDIT_OK, in->name);
    return db_tx_end(cx, res);
}

enum err shift_list(struct rctx *cx, struct shift_rec **rows, size_t *n)
{
    struct db_res r;
    struct shift_rec *v;
    enum err res = db_exec(cx,
                           "SELECT id, name, days, start_min, end_min, grace_min, active FROM"
                           " shifts ORDER BY id LIMIT 1000",
                           DB_NOARGS, &r);
    if (res)
        return res;
    v = rctx_zalloc(cx, (r.nrows + 1) * sizeof *v);
    for (size_t i = 0; i < r.nrows; i++) {
        v[i].id = db_cell_i64(&r, i, 0);
        v[i].name = db_cell(&r, i, 1);
        v[i].days = (unsigned)db_cell_i64(&r, i, 2);
        v[i].start_min = (int)db_cell_i64(&r, i, 3);
        v[i].end_min = (int)db_cell_i64(&r, i, 4);
        v[i].grace_min = (int)db_cell_i64(&r, i, 5);
        v[i].active = db_cell_i64(&r, i, 6) == 1;
    }
    *rows = v;
    *n = r.nrows;
    return ERR_OK;
}

enum err shift_assign(struct rctx *cx, int64_t id, const struct shift_holder *who)
{
    struct db_res r;
    char detail[64];
    enum err res;

    if ((who->user_id > 0) == (who->department_id > 0))
        return rctx_fail(cx, ERR_INVALID, "exactly one of user_id and department_id");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx, "SELECT 1 FROM shifts WHERE id = ?", DB_ARGS(DBI(id)), &r);
    if (!res && r.nrows == 0)
        res = rctx_fail(cx, ERR_NOTFOUND, "no such shift");
    if (!res) {
        res = db_exec(cx,
                      who->user_id ? "SELECT 1 FROM users WHERE id = ?"
                                   : "SELECT 1 FROM departments WHERE id = ?",
                      DB_ARGS(DBI(who->user_id ? who->user_id : who->department_id)), &r);
        if (!res && r.nrows == 0)
            res = rctx_fail(cx, ERR_INVALID, "%s",
                            who->user_id ? "user_id: no such user"
                                         : "department_id: no such department");
    }
    if (!res)
        res =
            db_exec(cx,
                    "INSERT INTO shift_assignments (shift_id, user_id, department_id,"
                    " created_at) VALUES (?,?,?,FROM_UNIXTIME(? / 1000)) ON DUPLICATE KEY"
                    " UPDATE shift_id = VALUES(shift_id), created_at = VALUES(created_at)",
                    DB_ARGS(DBI(id), who->user_id ? DBI(who->user_id) : DBNULL,
                            who->department_id ? DBI(who->department_id) : DBNULL, DBI(cx->now_ms)),
                    NULL);
    if (!res) {
        snprintf(detail, sizeof detail, "%s=%lld", who->user_id ? "user" : "department",
                 (long long)(who->user_id ? who->user_id : who->department_id));
        res = audit_write(cx, "shift.assign", "shift", id, AUDIT_OK, detail);
    }
    return db_tx_end(cx, res);
}

enum err shift_unassign(struct rctx *cx, int64_t id, const struct shift_holder *who)
{
    struct db_res r;
    char detail[64];
    enum err res;

    if ((who->user_id > 0) == (who->department_id > 0))
        return rctx_fail(cx, ERR_INVALID, "exactly one of user_id and department_id");
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  who->user_id
                      ? "DELETE FROM shift_assignments WHERE shift_id = ? AND user_id = ?"
                      : "DELETE FROM shift_assignments WHERE shift_id = ? AND department_id = ?",
                  DB_ARGS(DBI(id), DBI(who->user_id ? who->user_id : who->department_id)), &r);
    if (!res && r.affected == 0)
        res = rctx_fail(cx, ERR_NOTFOUND, "this shift is not assigned to that %s",
                        who->user_id ? "user" : "department");
    if (!res) {
        snprintf(detail, sizeof detail, "%s=%lld", who->user_id ? "user" : "department",
                 (long long)(who->user_id ? who->user_id : who->department_id));
        res = audit_write(cx, "shift.unassign", "shift", id, AUDIT_OK, detail);
    }
    return db_tx_end(cx, res);
}

/* ---- check-ins ------------------------------------------------------------------------------ */

#define CHECKIN_COLS                                                                               \
    "c.id, c.user_id, FLOOR(UNIX_TIMESTAMP(c.at) * 1000),"                                         \
    " FLOOR(UNIX_TIMESTAMP(c.device_at) * 1000), c.type, c.status, c.flags,"                       \
    " DATE_FORMAT(c.local_date, '%Y-%m-%d'), c.lat, c.lng, c.accuracy_m, c.shift_id, c.grid_id,"   \
    " c.distance_m, c.selfie_media_id IS NOT NULL, u.display_name"

static void checkin_from_row(const struct db_res *r, size_t i, struct checkin_rec *c)
{
    c->id = db_cell_i64(r, i, 0);
    c->user_id = db_cell_i64(r, i, 1);
    c->at = db_cell_i64(r, i, 2);
    c->device_at = db_cell_i64(r, i, 3);
    c->type = db_cell(r, i, 4);
    c->status = db_cell(r, i, 5);
    c->flags = db_cell(r, i, 6);
    c->local_date = db_cell(r, i, 7);
    c->has_position = !db_cell_null(r, i, 8);
    c->lat = c->has_position ? db_cell_f64(r, i, 8) : 0;
    c->lng = c->has_position ? db_cell_f64(r, i, 9) : 0;
    c->accuracy = c->has_position ? db_cell_f64(r, i, 10) : 0;
    c->shift_id = db_cell_i64(r, i, 11);
    c->grid_id = db_cell_i64(r, i, 12);
    c->distance_m = db_cell_null(r, i, 13) ? -1 : db_cell_f64(r, i, 13);
    c->has_selfie = db_cell_i64(r, i, 14) == 1;
    c->user_name = db_cell(r, i, 15);
}

static enum err checkin_get(struct rctx *cx, int64_t id, struct checkin_rec *out)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT " CHECKIN_COLS " FROM checkins c JOIN users u ON u.id ="
                           " c.user_id WHERE c.id = ?",
                           DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such check-in");
    checkin_from_row(&r, 0, out);
    return ERR_OK;
}

/* The shift that applies to the user: their own assignment, else their department's. */
static enum err user_shift(struct rctx *cx, int64_t user_id, struct shift_rec *s, bool *found)
{
    struct db_res r;
    enum err res = db_exec(
        cx,
        "SELECT s.id, s.days, s.start_min, s.end_min, s.grace_min FROM shift_assignments a JOIN"
        " shifts s ON s.id = a.shift_id WHERE s.active = 1 AND (a.user_id = ? OR"
        " a.department_id = (SELECT department_id FROM users WHERE id = ?))"
        " ORDER BY a.user_id IS NULL LIMIT 1",
        DB_ARGS(DBI(user_id), DBI(user_id)), &r);
    if (res)
        return res;
    *found = r.nrows > 0;
    if (*found) {
        s->id = db_cell_i64(&r, 0, 0);
        s->days = (unsigned)db_cell_i64(&r, 0, 1);
        s->start_min = (int)db_cell_i64(&r, 0, 2);
        s->end_min = (int)db_cell_i64(&r, 0, 3);
        s->grace_min = (int)db_cell_i64(&r, 0, 4);
    }
    return ERR_OK;
}

/* The open duty interval of people (duty d): since when, the check-in that opened it (its id,
 * local day and time) and the shift that check-in was judged against (its row, whatever its
 * assignment or active flag is now). */
#define OPEN_DUTY_COLS                                                                             \
    "d.user_id, FLOOR(UNIX_TIMESTAMP(d.since) * 1000), c.id,"                                      \
    " DATEDIFF(c.local_date, '1970-01-01'), FLOOR(UNIX_TIMESTAMP(c.at) * 1000), s.id, s.days,"     \
    " s.start_min, s.end_min, s.grace_min"
#define OPEN_DUTY_FROM                                                                             \
    " FROM duty d LEFT JOIN checkins c ON c.id = (SELECT c2.id FROM checkins c2 WHERE"             \
    " c2.user_id = d.user_id AND c2.type = 'in' ORDER BY c2.at DESC, c2.id DESC LIMIT 1)"          \
    " LEFT JOIN shifts s ON s.id = c.shift_id"

/* When the automatic check-out closes the open duty of row i (OPEN_DUTY_COLS; 0: never). */
static int64_t open_duty_auto_out_at(const struct db_res *r, size_t i, int64_t off)
{
    struct shift_times st = {0};
    bool paired = !db_cell_null(r, i, 2), has_shift = !db_cell_null(r, i, 5);
    int64_t in_ms = paired ? db_cell_i64(r, i, 4) : db_cell_i64(r, i, 1);
    int64_t day = paired ? db_cell_i64(r, i, 3) : citytime_day(in_ms, off);

    if (has_shift) {
        st.days = (unsigned)db_cell_i64(r, i, 6);
        st.start_min = (int)db_cell_i64(r, i, 7);
        st.end_min = (int)db_cell_i64(r, i, 8);
        st.grace_min = (int)db_cell_i64(r, i, 9);
    }
    return shift_auto_out_at(has_shift ? &st : NULL, day, in_ms, off, gps_cfg.auto_out_after_min,
                             gps_cfg.max_duty_hours);
}

/* One check-in or check-out of user_id inside the caller's transaction: the one path of
 * checkin_create and of the automatic check-out (checkin_auto_out_job). Takes the person's duty
 * row lock and, for a check-out, their devices' row locks; places it in its shift instance;
 * writes the checkins row, duty and the live-map row. in: the request, with its position
 * (lat/lng in WGS-84) and selfie (media id, 0: none); NULL for the automatic check-out, which
 * is written only when the person is still on duty and due by gps_cfg (else *id stays 0 and
 * nothing changes) — no position, no findings, status "auto". *status: static text. */
static enum err checkin_record(struct rctx *cx, int64_t user_id, const struct checkin_new *in,
                               double lat, double lng, int64_t selfie, int64_t *id,
                               const char **status_out)
{
    struct shift_rec sh = {0};
    struct shift_place place = {0};
    struct gps__rings rings = {0};
    struct db_res r;
    bool automatic = !in, in_type = in && in->type[0] == 'i', has_shift = false, on_duty;
    bool paired = false;
    double dist = -1;
    int64_t off, grid = 0, open_day = 0, due;
    char flags[96] = "", date[11];
    const char *status = automatic ? "auto" : "on_time";
    long gi = -1;
    enum err res;

    *id = 0;
    res = db_exec(cx, "SELECT on_duty FROM duty WHERE user_id = ? FOR UPDATE",
                  DB_ARGS(DBI(user_id)), &r);
    if (res)
        return res;
    on_duty = r.nrows && db_cell_i64(&r, 0, 0) == 1;
    res = refdata_utc_offset(cx, &off);
    if (res)
        return res;
    /* The automatic check-out judges again under the lock: a check-out (or a new check-in)
     * since its scan leaves nothing to do, so it never closes a duty twice. */
    if (automatic) {
        if (!on_duty)
            return ERR_OK;
        res = db_exec(cx, "SELECT " OPEN_DUTY_COLS OPEN_DUTY_FROM " WHERE d.user_id = ?",
                      DB_ARGS(DBI(user_id)), &r);
        if (res)
            return res;
        due = r.nrows ? open_duty_auto_out_at(&r, 0, off) : 0;
        if (!due || cx->now_ms < due)
            return ERR_OK;
        /* The check-in it closes, read with it (OPEN_DUTY_COLS). */
        paired = !db_cell_null(&r, 0, 2);
        open_day = paired ? db_cell_i64(&r, 0, 3) : 0;
    }
    /* A check-out waits for the person's track batches in flight: each holds its device's row
     * lock to its commit and judged its points on duty by what it read after taking it. Once
     * this check-out commits, the next batch takes the lock after it and sees it (track.c). */
    if (!in_type && on_duty)
        res = db_exec(cx,
                      "SELECT id FROM track_devices WHERE owner_type = 'user' AND owner_id = ?"
                      " FOR UPDATE",
                      DB_ARGS(DBI(user_id)), NULL);
    if (res)
        return res;
    if (in_type && on_duty)
        return rctx_fail(cx, ERR_BAD_STATE, "already checked in: check out first");
    if (!in_type && !on_duty)
        return rctx_fail(cx, ERR_BAD_STATE, "not checked in");
    res = user_shift(cx, user_id, &sh, &has_shift);
    if (!res && !automatic)
        res = gps__user_rings(cx, user_id, &rings);
    if (res)
        return res;
    /* The check-in's date is the day its shift instance starts on (a night shift's check-in
     * at 00:30 is the evening before's); without a shift, the calendar day. A check-out
     * belongs to the check-in it closes — its instance, however late it comes (the automatic
     * one has read it already). */
    if (!in_type && !automatic) {
        res = db_exec(cx,
                      "SELECT DATEDIFF(local_date, '1970-01-01') FROM checkins"
                      " WHERE user_id = ? AND type = 'in' ORDER BY at DESC, id DESC LIMIT 1",
                      DB_ARGS(DBI(user_id)), &r);
        if (res)
            return res;
        paired = r.nrows == 1;
        if (paired)
            open_day = db_cell_i64(&r, 0, 0);
    }
    /* A check-out with no check-in on record is placed by the clock alone. */
    if (has_shift) {
        struct shift_times t = times_of(&sh);
        if (paired)
            shift_place_out(&t, open_day, cx->now_ms, off, &place);
        else
            shift_place_at(&t, in_type, cx->now_ms, off, &place);
    } else {
        place.day = paired ? open_day : citytime_day(cx->now_ms, off);
    }
    citytime_day_format(place.day, date);
    /* Findings, each a flag; the status is the most serious one. The automatic check-out has
     * none: it comes after the instance's end, and with no position. */
    if (rings.n) {
        gi = gps__rings_find(&rings, lat, lng, gps_cfg.checkin_tolerance_m, &dist);
        if (gi >= 0)
            grid = rings.grid_id[gi];
    }
    if (automatic) {
        /* status "auto", no flags */
    } else if (place.mark == SHIFT_LATE) {
        status = "late";
        snprintf(flags, sizeof flags, "late");
    } else if (place.mark == SHIFT_EARLY_LEAVE) {
        status = "early_leave";
        snprintf(flags, sizeof flags, "early_leave");
    }
    if (rings.n && gi < 0) {
        status = "outside_area";
        snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "%soutside_area",
                 *flags ? "," : "");
    }
    if (!automatic && in->accuracy > gps_cfg.checkin_max_accuracy_m) {
        status = "low_accuracy";
        snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "%slow_accuracy",
                 *flags ? "," : "");
    }
    res =
        db_exec(cx,
                "INSERT INTO checkins (user_id, type, at, device_at, local_date, lat, lng,"
                " accuracy_m, status, flags, shift_id, grid_id, distance_m, selfie_media_id)"
                " VALUES (?,?,FROM_UNIXTIME(? / 1000),FROM_UNIXTIME(? / 1000),?,?,?,?,?,?,?,?,?,?)",
                DB_ARGS(DBI(user_id), DBS(in_type ? "in" : "out"), DBI(cx->now_ms),
                        in && in->device_time > 0 ? DBI(in->device_time) : DBNULL, DBS(date),
                        automatic ? DBNULL : DBF(lat), automatic ? DBNULL : DBF(lng),
                        automatic ? DBNULL : DBF(in->accuracy), DBS(status), DBS(flags),
                        has_shift ? DBI(sh.id) : DBNULL, grid ? DBI(grid) : DBNULL,
                        rings.n ? DBF(dist) : DBNULL, selfie ? DBI(selfie) : DBNULL),
                &r);
    if (res)
        return res;
    *id = (int64_t)r.insert_id;
    res = db_exec(cx,
                  "INSERT INTO duty (user_id, on_duty, since) VALUES (?,?,FROM_UNIXTIME(? / 1000))"
                  " ON DUPLICATE KEY UPDATE on_duty = VALUES(on_duty), since = VALUES(since)",
                  DB_ARGS(DBI(user_id), DBI(in_type ? 1 : 0), DBI(cx->now_ms)), NULL);
    if (!res)
        res = track_latest_duty(cx, user_id, in_type);
    *status_out = status;
    return res;
}

enum err checkin_create(struct rctx *cx, const struct checkin_new *in, struct idem *idem,
                        struct checkin_rec *out)
{
    struct db_res r;
    double lat = in->lat, lng = in->lng;
    int64_t selfie = 0, id = 0;
    char payload[64];
    const char *status = "";
    enum err res;

    if (!in->type || (strcmp(in->type, "in") != 0 && strcmp(in->type, "out") != 0))
        return rctx_fail(cx, ERR_INVALID, "type: \"in\" or \"out\"");
    if (in->gcj02 && isfinite(lat) && isfinite(lng))
        geo_gcj_to_wgs(in->lat, in->lng, &lat, &lng);
    if (!geo_valid(lat, lng))
        return rctx_fail(cx, ERR_INVALID, "lat/lng: not a valid position");
    if (!(in->accuracy >= 0 && in->accuracy <= 100000))
        return rctx_fail(cx, ERR_INVALID, "accuracy: 0 to 100000 metres");
    res = idem_begin(cx, idem);
    if (res)
        return res;
    if (idem->replay) {
        res = db_tx_end(cx, ERR_OK);
        return res ? res : checkin_get(cx, idem->result_id, out);
    }
    if (in->selfie) {
        res = db_exec(cx, "SELECT id FROM media WHERE public_id = ? AND owner_id = ?",
                      DB_ARGS(DBS(in->selfie), DBI(cx->who.user_id)), &r);
        if (!res && r.nrows == 0)
            res = rctx_fail(cx, ERR_INVALID, "selfie: no such upload of yours");
        if (!res)
            selfie = db_cell_i64(&r, 0, 0);
    }
    if (!res)
        res = checkin_record(cx, cx->who.user_id, in, lat, lng, selfie, &id, &status);
    if (!res) {
        snprintf(payload, sizeof payload, "{\"type\":\"%s\",\"status\":\"%s\"}", in->type, status);
        res = outbox_record_change(cx, "checkin.created", "checkin", id, payload,
                                   in->type[0] == 'i' ? "checkin.in" : "checkin.out", idem, id);
    }
    res = db_tx_end(cx, res);
    return res ? res : checkin_get(cx, id, out);
}

/* ---- automatic check-out -------------------------------------------------------------------- */

/* Check user_id out automatically if still due, in a transaction of its own; *done when a
 * check-out was written. */
static enum err auto_out_one(struct rctx *cx, int64_t user_id, bool *done)
{
    int64_t id = 0;
    const char *status = "";
    char detail[48];
    enum err res;

    *done = false;
    cx->now_ms = clock_now_ms(); /* the check-out's time: the moment it is made */
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = checkin_record(cx, user_id, NULL, 0, 0, 0, &id, &status);
    if (!res && id) {
        res = outbox_add(cx, "checkin.created", "checkin", id,
                         "{\"type\":\"out\",\"status\":\"auto\"}", NULL);
        snprintf(detail, sizeof detail, "user=%lld", (long long)user_id);
        if (!res)
            res = audit_write(cx, "checkin.auto_out", "checkin", id, AUDIT_OK, detail);
    }
    res = db_tx_end(cx, res);
    if (!res)
        *done = id != 0;
    return res;
}

enum err checkin_auto_out_job(struct rctx *cx)
{
    struct db_res r;
    int64_t off, *due, wait_min = INT64_MAX;
    size_t ndue = 0, ndone = 0;
    enum err res;

    if (gps_cfg.auto_out_after_min > 0)
        wait_min = gps_cfg.auto_out_after_min;
    if (gps_cfg.max_duty_hours > 0 && gps_cfg.max_duty_hours * 60 < wait_min)
        wait_min = gps_cfg.max_duty_hours * 60;
    if (wait_min == INT64_MAX)
        return ERR_OK; /* both rules off */
    res = refdata_utc_offset(cx, &off);
    if (res)
        return res;
    /* No duty is due sooner than the shorter rule after its check-in (an instance's check-in
     * comes before its end), so only duties older than that are judged; duty.since is the
     * check-in's time. */
    res = db_exec(cx,
                  "SELECT " OPEN_DUTY_COLS OPEN_DUTY_FROM " WHERE d.on_duty = 1 AND d.since <="
                  " FROM_UNIXTIME(? / 1000) ORDER BY d.since LIMIT ?",
                  DB_ARGS(DBI(cx->now_ms - wait_min * 60000), DBI(ATT_AUTO_OUT_MAX)), &r);
    if (res)
        return res;
    due = rctx_zalloc(cx, (r.nrows + 1) * sizeof *due);
    for (size_t i = 0; i < r.nrows; i++) {
        int64_t at = open_duty_auto_out_at(&r, i, off);
        if (at && cx->now_ms >= at)
            due[ndue++] = db_cell_i64(&r, i, 0);
    }
    for (size_t i = 0; i < ndue; i++) {
        bool done;
        res = auto_out_one(cx, due[i], &done);
        if (res == ERR_BUSY)
            return res;
        if (res)
            log_error(cx, "automatic check-out of user %lld: %s", (long long)due[i],
                      rctx_detail(cx, res));
        else
            ndone += done;
    }
    if (ndone)
        log_info(cx, "automatic check-out: %zu of %zu people on duty past their limit", ndone,
                 ndue);
    return ERR_OK;
}

/* WHERE part for "users the caller leads" over users t (binds the caller twice). */
#define REACH_SQL                                                                                  \
    "(t.region_id IN (" GPS__SUBTREE_SQL ") OR EXISTS (SELECT 1 FROM user_grids ug JOIN grids g"   \
    " ON g.id = ug.grid_id WHERE ug.user_id = t.id AND g.region_id IN (" GPS__SUBTREE_SQL ")))"

enum err checkin_list(struct rctx *cx, int64_t user_id, bool all_reach, int64_t from, int64_t to,
                      struct checkin_rec **rows, size_t *n, bool *more)
{
    struct db_res r;
    struct checkin_rec *v;
    bool admin = (cx->who.roles & ROLE_ADMIN) != 0;
    enum err res;

    if (to < from)
        return rctx_fail(cx, ERR_INVALID, "to: must not be before from");
    if (all_reach) {
        if (!(cx->who.roles & (ROLE_ADMIN | ROLE_LEADER | ROLE_SHIFT_LEAD)))
            return rctx_fail(cx, ERR_FORBIDDEN, "only leaders and shift leads list others");
        res = db_exec(cx,
                      "SELECT " CHECKIN_COLS " FROM checkins c JOIN users u ON u.id = c.user_id"
                      " WHERE c.at BETWEEN FROM_UNIXTIME(? / 1000) AND FROM_UNIXTIME(? / 1000)"
                      " AND (? OR c.user_id IN (SELECT t.id FROM users t WHERE " REACH_SQL "))"
                      " ORDER BY c.at DESC, c.id DESC LIMIT ?",
                      DB_ARGS(DBI(from), DBI(to), DBI(admin ? 1 : 0), DBI(cx->who.user_id),
                              DBI(cx->who.user_id), DBI(ATT_LIST_MAX + 1)),
                      &r);
    } else {
        if (!user_id)
            user_id = cx->who.user_id;
        if (user_id != cx->who.user_id) {
            res = track_may_see_user(cx, user_id);
            if (res)
                return res;
        }
        res = db_exec(cx,
                      "SELECT " CHECKIN_COLS " FROM checkins c JOIN users u ON u.id = c.user_id"
                      " WHERE c.user_id = ? AND c.at BETWEEN FROM_UNIXTIME(? / 1000) AND"
                      " FROM_UNIXTIME(? / 1000) ORDER BY c.at DESC, c.id DESC LIMIT ?",
                      DB_ARGS(DBI(user_id), DBI(from), DBI(to), DBI(ATT_LIST_MAX + 1)), &r);
    }
    if (res)
        return res;
    *more = r.nrows > ATT_LIST_MAX;
    *n = *more ? ATT_LIST_MAX : r.nrows;
    v = rctx_zalloc(cx, (*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++)
        checkin_from_row(&r, i, &v[i]);
    *rows = v;
    return ERR_OK;
}

/* ---- leave and the daily summary ------------------------------------------------------------ */

static bool date_ok(const char *s, int *y, int *m, int *d)
{
    struct tm tm = {0};
    time_t t;
    char back[32];

    if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d", y, m, d) != 3)
        return false;
    tm.tm_year = *y - 1900;
    tm.tm_mon = *m - 1;
    tm.tm_mday = *d;
    t = timegm(&tm);
    gmtime_r(&t, &tm);
    snprintf(back, sizeof back, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return strcmp(back, s) == 0 && *y >= 1970 && *y <= 2037;
}

enum err leave_create(struct rctx *cx, const struct leave_new *in, int64_t *id)
{
    struct db_res r;
    int y, m, d;
    enum err res;

    if (!date_ok(in->from, &y, &m, &d))
        return rctx_fail(cx, ERR_INVALID, "from: a date YYYY-MM-DD");
    if (!date_ok(in->to, &y, &m, &d) || strcmp(in->to, in->from) < 0)
        return rctx_fail(cx, ERR_INVALID, "to: a date YYYY-MM-DD, not before from");
    if (in->reason && strlen(in->reason) > LEAVE_REASON_MAX)
        return rctx_fail(cx, ERR_INVALID, "reason: at most %d bytes", LEAVE_REASON_MAX);
    res = track_may_see_user(cx, in->user_id);
    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "INSERT INTO leaves (user_id, from_date, to_date, reason, created_by, created_at)"
                  " VALUES (?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBI(in->user_id), DBS(in->from), DBS(in->to),
                          DBS(in->reason ? in->reason : ""), DBI(cx->who.user_id), DBI(cx->now_ms)),
                  &r);
    if (!res) {
        *id = (int64_t)r.insert_id;
        res = audit_write(cx, "leave.create", "user", in->user_id, AUDIT_OK, NULL);
    }
    return db_tx_end(cx, res);
}

enum err attendance_daily(struct rctx *cx, const char *date, int64_t department_id,
                          struct att_person **people, size_t *npeople, struct att_dept **depts,
                          size_t *ndepts)
{
    struct db_res r;
    struct att_person *p;
    struct att_dept *dv;
    size_t nd = 0;
    int y, m, d;
    int64_t day, off;
    struct tm tm = {0};
    bool admin = (cx->who.roles & ROLE_ADMIN) != 0;
    enum err res;

    if (!date_ok(date, &y, &m, &d))
        return rctx_fail(cx, ERR_INVALID, "date: a date YYYY-MM-DD");
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    day = (int64_t)timegm(&tm) / 86400;
    res = refdata_utc_offset(cx, &off);
    if (res)
        return res;
    /* Check-ins count on their local_date: the day their shift instance started (a night
     * shift's check-out of the next morning included, shift_time.h). */
    res = db_exec(
        cx,
        "SELECT t.id, t.display_name, COALESCE(t.department_id, 0), COALESCE(dp.name, ''),"
        " (SELECT CONCAT_WS(',', s.days, s.start_min, s.end_min, s.grace_min) FROM"
        " shift_assignments a JOIN shifts s ON s.id = a.shift_id WHERE"
        " s.active = 1 AND (a.user_id = t.id OR a.department_id = t.department_id)"
        " ORDER BY a.user_id IS NULL LIMIT 1),"
        " (SELECT FLOOR(UNIX_TIMESTAMP(MIN(c.at)) * 1000) FROM checkins c WHERE c.user_id = t.id"
        " AND c.local_date = ? AND c.type = 'in'),"
        " (SELECT c.flags FROM checkins c WHERE c.user_id = t.id AND c.local_date = ? AND"
        " c.type = 'in' ORDER BY c.at LIMIT 1),"
        " (SELECT FLOOR(UNIX_TIMESTAMP(MAX(c.at)) * 1000) FROM checkins c WHERE c.user_id = t.id"
        " AND c.local_date = ? AND c.type = 'out'),"
        " (SELECT c.status FROM checkins c WHERE c.user_id = t.id AND c.local_date = ? AND"
        " c.type = 'out' ORDER BY c.at DESC, c.id DESC LIMIT 1),"
        " EXISTS (SELECT 1 FROM leaves l WHERE l.user_id = t.id AND ? BETWEEN l.from_date AND"
        " l.to_date)"
        " FROM users t LEFT JOIN departments dp ON dp.id = t.department_id"
        " WHERE t.disabled = 0 AND (t.roles & ?) <> 0 AND (? = 0 OR t.department_id = ?)"
        " AND (? OR " REACH_SQL ") ORDER BY t.department_id, t.id LIMIT ?",
        DB_ARGS(DBS(date), DBS(date), DBS(date), DBS(date), DBS(date),
                DBI(ROLE_STAFF & ~ROLE_ADMIN), DBI(department_id), DBI(department_id),
                DBI(admin ? 1 : 0), DBI(cx->who.user_id), DBI(cx->who.user_id), DBI(ATT_DAILY_MAX)),
        &r);
    if (res)
        return res;
    p = rctx_zalloc(cx, (r.nrows + 1) * sizeof *p);
    dv = rctx_zalloc(cx, (r.nrows + 1) * sizeof *dv);
    for (size_t i = 0; i < r.nrows; i++) {
        struct shift_times st = {0};
        const char *shift = db_cell(&r, i, 4);
        bool scheduled = shift &&
                         sscanf(shift, "%u,%d,%d,%d", &st.days, &st.start_min, &st.end_min,
                                &st.grace_min) == 4 &&
                         (st.days & (1u << shift_wday(day)));
        const char *first_status = db_cell(&r, i, 6);
        struct att_dept *g = NULL;

        p[i].user_id = db_cell_i64(&r, i, 0);
        p[i].name = db_cell(&r, i, 1);
        p[i].department_id = db_cell_i64(&r, i, 2);
        p[i].department_name = db_cell(&r, i, 3);
        p[i].first_in = db_cell_i64(&r, i, 5);
        p[i].last_out = db_cell_i64(&r, i, 7);
        /* A forgotten check-out made by the job: last_out is its time, the day is flagged. */
        p[i].no_checkout = p[i].last_out && db_cell(&r, i, 8) && !strcmp(db_cell(&r, i, 8), "auto");
        if (db_cell_i64(&r, i, 9) == 1)
            p[i].status = "on_leave";
        else if (p[i].first_in)
            p[i].status = first_status && strstr(first_status, "late") ? "late" : "present";
        else if (!scheduled)
            p[i].status = "off";
        else
            /* Absent once the late window of that day's instance closed; before, pending. */
            p[i].status = shift_due(&st, day, cx->now_ms, off) ? "absent" : "pending";
        for (size_t k = 0; k < nd; k++)
            if (dv[k].department_id == p[i].department_id)
                g = &dv[k];
        if (!g) {
            g = &dv[nd++];
            g->department_id = p[i].department_id;
            g->name = p[i].department_name;
        }
        if (!strcmp(p[i].status, "on_leave"))
            g->on_leave++;
        else if (!strcmp(p[i].status, "late"))
            g->late++;
        else if (!strcmp(p[i].status, "present"))
            g->present++;
        else if (!strcmp(p[i].status, "absent"))
            g->absent++;
        else if (!strcmp(p[i].status, "pending"))
            g->pending++;
        else
            g->off++;
    }
    *people = p;
    *npeople = r.nrows;
    *depts = dv;
    *ndepts = nd;
    return ERR_OK;
}
