/* api/domain/points.c: 积分 ledger, items and redemptions (see points.h). */
#include "api/domain/points.h"

#include <stdio.h>
#include <string.h>
#include "api/domain/audit.h"
#include "api/domain/citytime.h"
#include "api/domain/idempotency.h"
#include "api/domain/refdata.h"
#include "server/db/db.h"

#define MS(col) "CAST(UNIX_TIMESTAMP(" col ") * 1000 AS SIGNED)"

static struct points_config conf = {10, 50};

void points_configure(const struct points_config *c)
{
    conf = *c;
}

static const struct {
    const char *cause, *label;
} causes[] = {
    {"report_registered", "上报被立案"},
    {"redemption", "兑换"},
};

static const char *cause_label(const char *cause)
{
    for (size_t i = 0; i < sizeof causes / sizeof causes[0]; i++)
        if (strcmp(causes[i].cause, cause) == 0)
            return causes[i].label;
    return cause;
}

/* The local day number of cx->now_ms at the city's UTC offset: the day the daily cap counts
 * in (ledger rows keep it in their day column). */
static enum err today(struct rctx *cx, int64_t *day)
{
    int64_t off_ms;
    enum err res = refdata_utc_offset(cx, &off_ms);

    if (!res)
        *day = citytime_day(cx->now_ms, off_ms);
    return res;
}

/* The user's account row, made if missing, locked; *balance gets the balance. */
static enum err lock_account(struct rctx *cx, int64_t user, int64_t *balance)
{
    struct db_res r;
    enum err res =
        db_exec(cx,
                "INSERT INTO points_accounts (user_id, updated_at) VALUES"
                " (?, FROM_UNIXTIME(? / 1000)) ON DUPLICATE KEY UPDATE user_id = user_id",
                DB_ARGS(DBI(user), DBI(cx->now_ms)), NULL);
    if (!res)
        res = db_exec(cx, "SELECT balance FROM points_accounts WHERE user_id = ? FOR UPDATE",
                      DB_ARGS(DBI(user)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_INTERNAL, "points account %lld vanished", (long long)user);
    *balance = db_cell_i64(&r, 0, 0);
    return ERR_OK;
}

/* One ledger row of local day day and the balance it leads to (the account is locked by the
 * caller). */
static enum err book(struct rctx *cx, int64_t user, int64_t balance, int64_t delta,
                     const char *cause, const char *ref_type, int64_t ref_id, const char *note,
                     int64_t day, int64_t *ledger_id)
{
    struct db_res r;
    enum err res = db_exec(
        cx,
        "INSERT INTO points_ledger (user_id, delta, balance_after, cause, ref_type, ref_id, note,"
        " day, created_at) VALUES (?,?,?,?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
        DB_ARGS(DBI(user), DBI(delta), DBI(balance + delta), DBS(cause), DBS(ref_type), DBI(ref_id),
                DBS(note), DBI(day), DBI(cx->now_ms)),
        &r);
    if (res)
        return res;
    if (ledger_id)
        *ledger_id = (int64_t)r.insert_id;
    return db_exec(cx,
                   "UPDATE points_accounts SET balance = balance + ?,"
                   " earned = earned + GREATEST(?, 0), spent = spent + GREATEST(-?, 0),"
                   " updated_at = FROM_UNIXTIME(? / 1000) WHERE user_id = ?",
                   DB_ARGS(DBI(delta), DBI(delta), DBI(delta), DBI(cx->now_ms), DBI(user)), NULL);
}

enum err points_award_report(struct rctx *cx, int64_t user, int64_t case_id)
{
    int64_t balance, day = 0, earned, amount = conf.per_report;
    struct db_res r;
    const char *note = NULL;
    enum err res;

    if (!user || conf.per_report <= 0)
        return ERR_OK;
    res = lock_account(cx, user, &balance);
    if (!res)
        res =
            db_exec(cx,
                    "SELECT 1 FROM points_ledger WHERE user_id = ? AND cause = 'report_registered'"
                    " AND ref_type = 'case' AND ref_id = ?",
                    DB_ARGS(DBI(user), DBI(case_id)), &r);
    if (res || r.nrows)
        return res; /* paid already: a case is paid once */
    res = today(cx, &day);
    if (!res)
        res = db_exec(cx,
                      "SELECT COALESCE(SUM(delta), 0) FROM points_ledger WHERE user_id = ?"
                      " AND cause = 'report_registered' AND day = ?",
                      DB_ARGS(DBI(user), DBI(day)), &r);
    if (res)
        return res;
    earned = db_cell_i64(&r, 0, 0);
    if (conf.daily_cap > 0 && earned + amount > conf.daily_cap) {
        amount = conf.daily_cap > earned ? conf.daily_cap - earned : 0;
        note = rctx_printf(cx, "每日上限 %d 分", conf.daily_cap);
    }
    return book(cx, user, balance, amount, "report_registered", "case", case_id, note, day, NULL);
}

enum err points_summary(struct rctx *cx, struct points_summary *out)
{
    struct db_res r;
    int64_t day = 0;
    enum err res;

    memset(out, 0, sizeof *out);
    out->per_report = conf.per_report;
    out->daily_cap = conf.daily_cap;
    res = today(cx, &day);
    if (!res)
        res =
            db_exec(cx,
                    "SELECT a.balance, a.earned, a.spent, (SELECT COALESCE(SUM(l.delta), 0) FROM"
                    " points_ledger l WHERE l.user_id = a.user_id AND l.cause = 'report_registered'"
                    " AND l.day = ?) FROM points_accounts a WHERE a.user_id = ?",
                    DB_ARGS(DBI(day), DBI(cx->who.user_id)), &r);
    if (res || r.nrows == 0)
        return res;
    out->balance = db_cell_i64(&r, 0, 0);
    out->earned = db_cell_i64(&r, 0, 1);
    out->spent = db_cell_i64(&r, 0, 2);
    out->earned_today = db_cell_i64(&r, 0, 3);
    return ERR_OK;
}

enum err points_ledger(struct rctx *cx, int64_t before_id, int limit, size_t *n,
                       struct points_entry **out, int64_t *next_before)
{
    struct db_res r;
    enum err res;

    if (limit < 1 || limit > POINTS_PAGE_MAX)
        return rctx_fail(cx, ERR_INVALID, "limit: 1 to %d", POINTS_PAGE_MAX);
    res = db_exec(
        cx,
        "SELECT id, delta, balance_after, ref_id, " MS(
            "created_at") ", cause, ref_type,"
                          " note FROM points_ledger WHERE user_id = ? AND id < ? ORDER BY id DESC "
                          "LIMIT ?",
        DB_ARGS(DBI(cx->who.user_id), DBI(before_id > 0 ? before_id : INT64_MAX), DBI(limit + 1)),
        &r);
    if (res)
        return res;
    *n = r.nrows > (size_t)limit ? (size_t)limit : r.nrows;
    *out = rctx_zalloc(cx, (*n + 1) * sizeof **out);
    for (size_t i = 0; i < *n; i++) {
        struct points_entry *e = &(*out)[i];
        e->id = db_cell_i64(&r, i, 0);
        e->delta = db_cell_i64(&r, i, 1);
        e->balance_after = db_cell_i64(&r, i, 2);
        e->ref_id = db_cell_i64(&r, i, 3);
        e->created_ms = db_cell_i64(&r, i, 4);
        e->cause = db_cell(&r, i, 5);
        e->cause_label = cause_label(e->cause);
        e->ref_type = db_cell(&r, i, 6);
        e->note = db_cell(&r, i, 7);
    }
    *next_before = r.nrows > (size_t)limit ? (*out)[*n - 1].id : 0;
    return ERR_OK;
}

#define ITEM_COLS                                                                                  \
    "id, cost, stock, name, description, active, " MS("created_at") ", " MS("updated_at")

static void item_row(const struct db_res *r, size_t i, struct points_item *it)
{
    it->id = db_cell_i64(r, i, 0);
    it->cost = db_cell_i64(r, i, 1);
    it->stock = db_cell_i64(r, i, 2);
    it->name = db_cell(r, i, 3);
    it->description = db_cell(r, i, 4);
    it->active = db_cell_i64(r, i, 5) != 0;
    it->created_ms = db_cell_i64(r, i, 6);
    it->updated_ms = db_cell_i64(r, i, 7);
}

enum err points_items_list(struct rctx *cx, bool all, size_t *n, struct points_item **out)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "SELECT " ITEM_COLS " FROM points_items WHERE (? = 1 OR active = 1)"
                           " ORDER BY cost, id LIMIT 1000",
                           DB_ARGS(DBI(all ? 1 : 0)), &r);
    if (res)
        return res;
    *n = r.nrows;
    *out = rctx_zalloc(cx, (r.nrows + 1) * sizeof **out);
    for (size_t i = 0; i < r.nrows; i++)
        item_row(&r, i, &(*out)[i]);
    return ERR_OK;
}

static enum err load_item(struct rctx *cx, int64_t id, bool lock, struct points_item *out)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           lock ? "SELECT " ITEM_COLS " FROM points_items WHERE id = ? FOR UPDATE"
                                : "SELECT " ITEM_COLS " FROM points_items WHERE id = ?",
                           DB_ARGS(DBI(id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such item");
    item_row(&r, 0, out);
    return ERR_OK;
}

static enum err check_item(struct rctx *cx, const struct points_item_in *in)
{
    if (in->has_name && (!in->name || !in->name[0] || strlen(in->name) > POINTS_NAME_MAX))
        return rctx_fail(cx, ERR_INVALID, "name: 1 to %d bytes", POINTS_NAME_MAX);
    if (in->has_description && in->description && strlen(in->description) > POINTS_DESC_MAX)
        return rctx_fail(cx, ERR_INVALID, "description: at most %d bytes", POINTS_DESC_MAX);
    if (in->has_cost && (in->cost < 1 || in->cost > 1000000))
        return rctx_fail(cx, ERR_INVALID, "cost: 1 to 1000000");
    if (in->has_stock && (in->stock < 0 || in->stock > 100000000))
        return rctx_fail(cx, ERR_INVALID, "stock: 0 to 100000000");
    return ERR_OK;
}

enum err points_item_create(struct rctx *cx, const struct points_item_in *in,
                            struct points_item *out)
{
    struct db_res r;
    enum err res;

    if (!in->has_name || !in->has_cost || !in->has_stock)
        return rctx_fail(cx, ERR_INVALID, "name, cost and stock are required");
    res = check_item(cx, in);
    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = db_exec(cx,
                  "INSERT INTO points_items (name, description, cost, stock, active, created_at,"
                  " updated_at) VALUES (?,?,?,?,?,FROM_UNIXTIME(? / 1000),FROM_UNIXTIME(? / 1000))",
                  DB_ARGS(DBS(in->name), DBS(in->has_description ? in->description : NULL),
                          DBI(in->cost), DBI(in->stock), DBI(in->has_active ? in->active : 1),
                          DBI(cx->now_ms), DBI(cx->now_ms)),
                  &r);
    if (!res)
        res = audit_write(cx, "points.item_create", "points_item", (int64_t)r.insert_id, AUDIT_OK,
                          NULL);
    res = db_tx_end(cx, res);
    return res ? res : load_item(cx, (int64_t)r.insert_id, false, out);
}

enum err points_item_patch(struct rctx *cx, int64_t id, const struct points_item_in *in,
                           struct points_item *out)
{
    enum err res = check_item(cx, in);

    if (res)
        return res;
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = load_item(cx, id, true, out);
    if (!res)
        res = db_exec(
            cx,
            "UPDATE points_items SET name = IF(?, ?, name), description = IF(?, ?, description),"
            " cost = IF(?, ?, cost), stock = IF(?, ?, stock), active = IF(?, ?, active),"
            " updated_at = FROM_UNIXTIME(? / 1000) WHERE id = ?",
            DB_ARGS(DBI(in->has_name), DBS(in->name), DBI(in->has_description),
                    DBS(in->description), DBI(in->has_cost), DBI(in->cost), DBI(in->has_stock),
                    DBI(in->stock), DBI(in->has_active), DBI(in->active), DBI(cx->now_ms), DBI(id)),
            NULL);
    if (!res)
        res = audit_write(cx, "points.item_update", "points_item", id, AUDIT_OK, NULL);
    res = db_tx_end(cx, res);
    return res ? res : load_item(cx, id, false, out);
}

static enum err load_redemption(struct rctx *cx, int64_t id, struct points_redemption *out)
{
    struct db_res r;
    enum err res =
        db_exec(cx,
                "SELECT d.id, d.item_id, d.cost, l.balance_after, " MS(
                    "d.created_at") ", i.name FROM points_redemptions d JOIN points_items i ON"
                                    " i.id = d.item_id JOIN points_ledger l ON l.id = d.ledger_id"
                                    " WHERE d.id = ? AND d.user_id = ?",
                DB_ARGS(DBI(id), DBI(cx->who.user_id)), &r);
    if (res)
        return res;
    if (r.nrows == 0)
        return rctx_fail(cx, ERR_NOTFOUND, "no such redemption");
    out->id = db_cell_i64(&r, 0, 0);
    out->item_id = db_cell_i64(&r, 0, 1);
    out->cost = db_cell_i64(&r, 0, 2);
    out->balance_after = db_cell_i64(&r, 0, 3);
    out->created_ms = db_cell_i64(&r, 0, 4);
    out->item_name = db_cell(&r, 0, 5);
    return ERR_OK;
}

enum err points_redeem(struct rctx *cx, int64_t item_id, struct idem *idem,
                       struct points_redemption *out)
{
    struct points_item it;
    struct db_res r;
    int64_t balance = 0, ledger = 0, id = 0, day = 0;
    enum err res;

    memset(out, 0, sizeof *out);
    res = db_tx_begin(cx);
    if (res)
        return res;
    res = idem_claim(cx, idem);
    if (res)
        goto out;
    if (idem->replay) {
        id = idem->result_id;
        out->replay = true;
        goto out;
    }
    /* Item first, then the account: the one lock order of every redemption. */
    res = load_item(cx, item_id, true, &it);
    if (!res && !it.active)
        res = rctx_fail(cx, ERR_NOTFOUND, "no such item");
    if (!res && it.stock < 1)
        res = rctx_fail(cx, ERR_BAD_STATE, "out of stock: %s", it.name);
    if (!res)
        res = lock_account(cx, cx->who.user_id, &balance);
    if (!res && balance < it.cost)
        res = rctx_fail(cx, ERR_BAD_STATE, "not enough points: %lld needed, %lld held",
                        (long long)it.cost, (long long)balance);
    if (!res)
        res = db_exec(cx, "UPDATE points_items SET stock = stock - 1 WHERE id = ?",
                      DB_ARGS(DBI(item_id)), NULL);
    if (!res)
        res =
            db_exec(cx,
                    "INSERT INTO points_redemptions (user_id, item_id, cost, created_at)"
                    " VALUES (?,?,?,FROM_UNIXTIME(? / 1000))",
                    DB_ARGS(DBI(cx->who.user_id), DBI(item_id), DBI(it.cost), DBI(cx->now_ms)), &r);
    if (res)
        goto out;
    id = (int64_t)r.insert_id;
    res = today(cx, &day);
    if (!res)
        res = book(cx, cx->who.user_id, balance, -it.cost, "redemption", "redemption", id, it.name,
                   day, &ledger);
    if (!res)
        res = db_exec(cx, "UPDATE points_redemptions SET ledger_id = ? WHERE id = ?",
                      DB_ARGS(DBI(ledger), DBI(id)), NULL);
    if (!res)
        res = idem_complete(cx, idem, id);
out:
    res = db_tx_end(cx, res);
    if (res)
        return res;
    res = load_redemption(cx, id, out);
    if (!res)
        out->replay = idem->replay;
    return res;
}
