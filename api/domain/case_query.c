/* api/domain/case_query.c: reading cases — one case, lists and the task list (see case.h). */
#include "api/domain/case.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/domain/attach.h"
#include "api/domain/audit.h"
#include "api/domain/calendar.h"
#include "api/domain/case_int.h"
#include "api/domain/workflow.h"
#include "server/core/roles.h"
#include "server/db/db.h"

/* ---- one case -------------------------------------------------------------------------- */

/* Citizens and machine clients see the case's progress, not the internal supervision of
 * it (督办 notes, overdue and escalation marks): the events feed hides the same. */
#define STEP_COLS                                                                                  \
    "case_id, id, action, from_state, to_state, actor_id, actor_role, text, department_id,"        \
    " assignee_id, step, " CASE__MS("due_at") ", photos, " CASE__MS("created_at")
#define STEP_STAFF_ONLY " AND (? OR action NOT IN ('urge', 'overdue', 'escalate')) ORDER BY"

/* Rows [from, to) of a STEP_COLS result as out's timeline. */
static void steps_from_rows(struct rctx *cx, const struct db_res *r, size_t from, size_t to,
                            struct case_detail *out)
{
    out->nsteps = to - from;
    out->steps = rctx_zalloc(cx, (out->nsteps + 1) * sizeof *out->steps);
    for (size_t i = from; i < to; i++) {
        struct case_step_rec *s = &out->steps[i - from];
        s->id = db_cell_i64(r, i, 1);
        s->action = db_cell(r, i, 2);
        s->from_state = db_cell(r, i, 3);
        s->to_state = db_cell(r, i, 4);
        s->actor_id = db_cell_i64(r, i, 5);
        s->actor_role = db_cell(r, i, 6);
        s->text = db_cell(r, i, 7);
        s->department_id = db_cell_i64(r, i, 8);
        s->assignee_id = db_cell_i64(r, i, 9);
        s->step = db_cell(r, i, 10);
        s->due_ms = db_cell_i64(r, i, 11);
        s->photos_json = db_cell(r, i, 12);
        s->created_ms = db_cell_i64(r, i, 13);
    }
}

static enum err load_steps(struct rctx *cx, struct case_detail *out)
{
    bool staff = (cx->who.roles & ROLE_STAFF) != 0;
    struct db_res r;
    enum err res =
        db_exec(cx, "SELECT " STEP_COLS " FROM case_steps WHERE case_id = ?" STEP_STAFF_ONLY " id",
                DB_ARGS(DBI(out->c.id), DBI(staff ? 1 : 0)), &r);
    if (res)
        return res;
    steps_from_rows(cx, &r, 0, r.nrows, out);
    return ERR_OK;
}

static enum err load_urgings(struct rctx *cx, struct case_detail *out)
{
    struct db_res r;
    enum err res;

    if (cx->who.roles & ROLE_HANDLER) {
        int64_t dept = 0;
        /* Opening the case is reading what was addressed to one's department (督办 已读). */
        res = case__my_department(cx, &dept);
        if (!res && dept)
            res = db_exec(cx,
                          "UPDATE case_urgings SET read_at = FROM_UNIXTIME(? / 1000), read_by = ?"
                          " WHERE case_id = ? AND department_id = ? AND read_at IS NULL",
                          DB_ARGS(DBI(cx->now_ms), DBI(cx->who.user_id), DBI(out->c.id), DBI(dept)),
                          NULL);
        if (res)
            return res;
    }
    res = db_exec(
        cx, "SELECT " CASE__URGING_COLS " FROM case_urgings u WHERE u.case_id = ? ORDER BY u.id",
        DB_ARGS(DBI(out->c.id)), &r);
    if (res)
        return res;
    out->nurgings = r.nrows;
    out->urgings = rctx_zalloc(cx, (r.nrows + 1) * sizeof *out->urgings);
    for (size_t i = 0; i < r.nrows; i++)
        case__urging_row(&r, i, &out->urgings[i]);
    return ERR_OK;
}

/* "id1,id2" (GROUP_CONCAT of media public ids: base62, no commas) into out->photos. */
static void photos_from_list(struct rctx *cx, const char *list, struct case_detail *out)
{
    size_t n = 1;

    out->nphotos = 0;
    out->photos = rctx_alloc(cx, sizeof *out->photos);
    if (!list || !*list)
        return;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    out->photos = rctx_alloc(cx, (n + 1) * sizeof *out->photos);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        out->photos[out->nphotos++] = rctx_strndup(cx, p, len);
        p += len;
        if (*p == ',')
            p++;
    }
}

/* What hangs off the case rides along in the one statement rather than costing a round trip
 * each (bench/cases.sh): the rating (by primary key), the report photos, whether any 督办
 * exists, and the dispatch rule's suggestion (a rule to an active department). Followed by a
 * WHERE on c. */
#define DETAIL_SELECT                                                                              \
    "SELECT " CASE__COLS ", cat.department_id, cr.case_id IS NOT NULL, cr.score, cr.text,"         \
    " (SELECT GROUP_CONCAT(m.public_id ORDER BY a.position SEPARATOR ',')"                         \
    "  FROM media_attachments a JOIN media m ON m.id = a.media_id"                                 \
    "  WHERE a.owner_type = 'case' AND a.owner_id = c.id AND a.purpose = 'report'),"               \
    " EXISTS (SELECT 1 FROM case_urgings u WHERE u.case_id = c.id),"                               \
    " (SELECT r.department_id FROM dispatch_rules r JOIN departments d"                            \
    "  ON d.id = r.department_id AND d.active = 1"                                                 \
    "  WHERE (r.category_id = c.category_id OR r.category_id IS NULL)"                             \
    "  AND (r.grid_id = c.grid_id OR r.grid_id IS NULL)"                                           \
    "  ORDER BY (r.category_id IS NOT NULL) DESC, (r.grid_id IS NOT NULL) DESC, r.id"              \
    "  LIMIT 1)" CASE__FROM " LEFT JOIN case_ratings cr ON cr.case_id = c.id"

/* Row i of a DETAIL_SELECT result into out (without timeline and urgings); true when the case
 * has 督办 to load. */
static bool detail_from_row(struct rctx *cx, const struct db_res *r, size_t i,
                            struct case_detail *out)
{
    memset(out, 0, sizeof *out);
    case__row(r, i, 0, &out->c);
    photos_from_list(cx, db_cell(r, i, CASE__NCOLS + 4), out);
    if (case__sees_all(cx))
        out->suggested_department_id = db_cell_null(r, i, CASE__NCOLS + 6)
                                           ? db_cell_i64(r, i, CASE__NCOLS)
                                           : db_cell_i64(r, i, CASE__NCOLS + 6);
    if (db_cell_i64(r, i, CASE__NCOLS + 1)) {
        out->rated = true;
        out->rating_score = (int)db_cell_i64(r, i, CASE__NCOLS + 2);
        out->rating_text = db_cell(r, i, CASE__NCOLS + 3);
    }
    return db_cell_i64(r, i, CASE__NCOLS + 5) != 0;
}

static enum err get(struct rctx *cx, int64_t case_id, bool check_visibility,
                    struct case_detail *out)
{
    struct db_sqlb b;
    struct db_res r;
    bool urged;
    enum err res;

    db_sqlb_init(cx, &b, 0, DETAIL_SELECT " WHERE c.id = ?");
    db_sqlb_arg(&b, DBI(case_id));
    if (check_visibility) {
        db_sqlb_add(&b, " AND ");
        case__visible(cx, &b);
    }
    res = db_sqlb_exec(&b, &r);
    if (res)
        return res;
    if (r.nrows == 0) {
        memset(out, 0, sizeof *out);
        return rctx_fail(cx, ERR_NOTFOUND, "no such case");
    }
    urged = detail_from_row(cx, &r, 0, out);
    res = load_steps(cx, out);
    /* A handler's opening also marks urgings read, so the urgings are loaded whenever one
     * exists; most cases have none and skip the query. */
    if (!res && urged)
        res = load_urgings(cx, out);
    return res;
}

enum err case_get(struct rctx *cx, int64_t case_id, struct case_detail *out)
{
    return get(cx, case_id, true, out);
}

enum err case_get_acted(struct rctx *cx, int64_t case_id, struct case_detail *out)
{
    return get(cx, case_id, false, out);
}

bool case_same_view(const struct rctx *a, const struct rctx *b)
{
    bool staff_a = (a->who.roles & ROLE_STAFF) != 0, staff_b = (b->who.roles & ROLE_STAFF) != 0;

    if (case__sees_all(a) || case__sees_all(b))
        return case__sees_all(a) && case__sees_all(b) && staff_a == staff_b;
    return a->who.user_id == b->who.user_id && a->who.roles == b->who.roles;
}

/* The IN list of up to CASE_GET_MANY_MAX places: a fixed length per bucket (unused places
 * repeat the last id) so a handful of prepared statements serve every batch. */
static size_t in_list(struct db_sqlb *b, const int64_t *ids, size_t n)
{
    size_t bucket = 1;

    while (bucket < n)
        bucket <<= 1;
    db_sqlb_add(b, "(");
    for (size_t i = 0; i < bucket; i++) {
        db_sqlb_add(b, i ? ",?" : "?");
        db_sqlb_arg(b, DBI(ids[i < n ? i : n - 1]));
    }
    db_sqlb_add(b, ")");
    return bucket;
}

/* One group of callers that share a view: the cases in one statement, their timelines in a
 * second. m[] indexes cxs/ids/out/res. */
static void get_group(struct rctx *const *cxs, const int64_t *ids, struct case_detail *out,
                      enum err *res, const size_t *m, size_t k)
{
    struct rctx *cx = cxs[m[0]];
    int64_t want[CASE_GET_MANY_MAX], found[CASE_GET_MANY_MAX];
    size_t row_of[CASE_GET_MANY_MAX], nfound = 0, from;
    bool urged[CASE_GET_MANY_MAX];
    struct db_sqlb b;
    struct db_res r, st;
    enum err e;

    for (size_t t = 0; t < k; t++)
        want[t] = ids[m[t]];
    db_sqlb_init(cx, &b, 0, DETAIL_SELECT " WHERE c.id IN ");
    in_list(&b, want, k);
    db_sqlb_add(&b, " AND ");
    case__visible(cx, &b);
    e = db_sqlb_exec(&b, &r);
    for (size_t t = 0; t < k && !e; t++) {
        size_t i = 0;
        while (i < r.nrows && db_cell_i64(&r, i, 0) != want[t])
            i++;
        row_of[t] = i;
        if (i < r.nrows) {
            urged[t] = detail_from_row(cxs[m[t]], &r, i, &out[m[t]]);
            found[nfound++] = want[t];
        }
    }
    if (!e && nfound) {
        db_sqlb_init(cx, &b, 0, "SELECT " STEP_COLS " FROM case_steps WHERE case_id IN ");
        in_list(&b, found, nfound);
        db_sqlb_add(&b, STEP_STAFF_ONLY " case_id, id");
        db_sqlb_arg(&b, DBI((cx->who.roles & ROLE_STAFF) ? 1 : 0));
        e = db_sqlb_exec(&b, &st);
    }
    for (size_t t = 0; t < k; t++) {
        struct rctx *c = cxs[m[t]];

        if (e) {
            res[m[t]] = c == cx ? e : rctx_fail(c, e, "%s", rctx_message(cx, e));
            continue;
        }
        if (row_of[t] >= r.nrows) {
            memset(&out[m[t]], 0, sizeof out[m[t]]);
            res[m[t]] = rctx_fail(c, ERR_NOTFOUND, "no such case");
            continue;
        }
        if (urged[t]) { /* a handler's opening marks 督办 read: the one-by-one path */
            res[m[t]] = case_get(c, want[t], &out[m[t]]);
            continue;
        }
        for (from = 0; from < st.nrows && db_cell_i64(&st, from, 0) != want[t]; from++)
            ;
        {
            size_t to = from;
            while (to < st.nrows && db_cell_i64(&st, to, 0) == want[t])
                to++;
            steps_from_rows(c, &st, from, to, &out[m[t]]);
        }
        res[m[t]] = ERR_OK;
    }
}

void case_get_many(struct rctx *const *cxs, const int64_t *ids, struct case_detail *out,
                   enum err *res, size_t n)
{
    bool done[CASE_GET_MANY_MAX] = {false};
    size_t m[CASE_GET_MANY_MAX];

    if (n > CASE_GET_MANY_MAX) { /* a caller bug; answer rather than overrun */
        case_get_many(cxs + CASE_GET_MANY_MAX, ids + CASE_GET_MANY_MAX, out + CASE_GET_MANY_MAX,
                      res + CASE_GET_MANY_MAX, n - CASE_GET_MANY_MAX);
        n = CASE_GET_MANY_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;

        if (done[i])
            continue;
        for (size_t t = i; t < n; t++) {
            if (!done[t] && case_same_view(cxs[i], cxs[t])) {
                m[k++] = t;
                done[t] = true;
            }
        }
        get_group(cxs, ids, out, res, m, k);
    }
}

enum err case_can_read(struct rctx *cx, int64_t case_id, bool *ok)
{
    struct db_sqlb b;
    struct db_res r;
    enum err res;

    db_sqlb_init(cx, &b, 0, "SELECT 1 FROM cases c WHERE c.id = ? AND ");
    db_sqlb_arg(&b, DBI(case_id));
    case__visible(cx, &b);
    res = db_sqlb_exec(&b, &r);
    if (res)
        return res;
    *ok = r.nrows > 0;
    return ERR_OK;
}

/* ---- lists ----------------------------------------------------------------------------- */

static const char *const sources[] = {"inspector", "citizen", "hotline",
                                      "video_ai",  "leader",  NULL};

enum err case_list(struct rctx *cx, const struct case_filter *f, struct case_page *out)
{
    struct db_sqlb b;
    struct db_res r;
    enum case_state st;
    size_t n;
    enum err res;

    memset(out, 0, sizeof *out);
    if (f->limit < 1 || f->limit > CASE_LIST_MAX)
        return rctx_fail(cx, ERR_INVALID, "limit: 1 to %d", CASE_LIST_MAX);
    db_sqlb_init(cx, &b, 0, "SELECT " CASE__COLS CASE__FROM " WHERE ");
    case__visible(cx, &b);
    if (f->state) {
        if (case_state_from_name(f->state, strlen(f->state), &st))
            return rctx_fail(cx, ERR_INVALID, "state: unknown state");
        db_sqlb_add(&b, " AND c.state = ?");
        db_sqlb_arg(&b, DBS(f->state));
    }
    if (f->source) {
        size_t i;
        for (i = 0; sources[i] && strcmp(sources[i], f->source) != 0; i++)
            ;
        if (!sources[i])
            return rctx_fail(cx, ERR_INVALID, "source: unknown source");
        db_sqlb_add(&b, " AND c.source = ?");
        db_sqlb_arg(&b, DBS(f->source));
    }
    if (f->category_id) {
        db_sqlb_add(&b, " AND c.category_id = ?");
        db_sqlb_arg(&b, DBI(f->category_id));
    }
    if (f->grid_id) {
        db_sqlb_add(&b, " AND c.grid_id = ?");
        db_sqlb_arg(&b, DBI(f->grid_id));
    }
    if (f->department_id) {
        db_sqlb_add(&b, " AND c.department_id = ?");
        db_sqlb_arg(&b, DBI(f->department_id));
    }
    if (f->overdue >= 0) {
        db_sqlb_add(&b, " AND c.overdue = ?");
        db_sqlb_arg(&b, DBI(f->overdue ? 1 : 0));
    }
    if (f->from_ms) {
        db_sqlb_add(&b, " AND c.created_at >= FROM_UNIXTIME(? / 1000)");
        db_sqlb_arg(&b, DBI(f->from_ms));
    }
    if (f->to_ms) {
        db_sqlb_add(&b, " AND c.created_at < FROM_UNIXTIME(? / 1000)");
        db_sqlb_arg(&b, DBI(f->to_ms));
    }
    if (f->has_bbox) {
        char wkt[200];
        snprintf(wkt, sizeof wkt, "POLYGON((%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f))",
                 f->min_lng, f->min_lat, f->max_lng, f->min_lat, f->max_lng, f->max_lat, f->min_lng,
                 f->max_lat, f->min_lng, f->min_lat);
        db_sqlb_add(&b, " AND MBRContains(ST_GeomFromText(?), c.pt)");
        db_sqlb_arg(&b, DBS(rctx_strdup(cx, wkt)));
    }
    if (f->mine) {
        db_sqlb_add(&b, " AND (c.reporter_id = ? OR c.assignee_id = ?)");
        db_sqlb_arg(&b, DBI(cx->who.user_id));
        db_sqlb_arg(&b, DBI(cx->who.user_id));
    }
    if (f->before_id) {
        db_sqlb_add(&b, " AND c.id < ?");
        db_sqlb_arg(&b, DBI(f->before_id));
    }
    /* One row more than asked tells whether another page exists. */
    db_sqlb_add(&b, " ORDER BY c.id DESC LIMIT ?");
    db_sqlb_arg(&b, DBI(f->limit + 1));
    res = db_sqlb_exec(&b, &r);
    if (res)
        return res;
    n = r.nrows > (size_t)f->limit ? (size_t)f->limit : r.nrows;
    out->n = n;
    out->items = rctx_zalloc(cx, (n + 1) * sizeof *out->items);
    for (size_t i = 0; i < n; i++)
        case__row(&r, i, 0, &out->items[i]);
    if (r.nrows > n && n > 0)
        out->next_before = out->items[n - 1].id;
    return ERR_OK;
}

/* ---- tasks ----------------------------------------------------------------------------- */

static int task_cmp(const void *pa, const void *pb)
{
    const struct case_task *a = pa, *b = pb;

    if (a->overdue != b->overdue)
        return a->overdue ? -1 : 1;
    if ((a->due_ms == 0) != (b->due_ms == 0))
        return a->due_ms == 0 ? 1 : -1;
    if (a->due_ms != b->due_ms)
        return a->due_ms < b->due_ms ? -1 : 1;
    if (a->c.id != b->c.id)
        return a->c.id < b->c.id ? -1 : 1;
    return a->urging_id < b->urging_id ? -1 : (a->urging_id > b->urging_id);
}

/* One branch of the task query per role duty; each uses one index. */
static void add_branch(struct rctx *cx, struct db_sqlb *b, bool *first, const char *todo,
                       const char *where)
{
    db_sqlb_add(b, *first ? "(SELECT " : " UNION ALL (SELECT ");
    db_sqlb_add(b, CASE__COLS ", '");
    db_sqlb_add(b, todo);
    db_sqlb_add(b, "' AS todo" CASE__FROM " WHERE ");
    db_sqlb_add(b, where);
    db_sqlb_add(b, " ORDER BY c.overdue DESC, c.due_at LIMIT ?)");
    *first = false;
}

enum err case_tasks(struct rctx *cx, int limit, struct case_task_list *out)
{
    uint32_t roles = cx->who.roles;
    struct db_sqlb b;
    struct db_res r, u;
    bool first = true;
    int64_t dept = 0;
    size_t n = 0;
    enum err res;

    memset(out, 0, sizeof *out);
    if (limit < 1 || limit > CASE_TASKS_MAX)
        return rctx_fail(cx, ERR_INVALID, "limit: 1 to %d", CASE_TASKS_MAX);
    if (roles & ROLE_HANDLER) {
        res = case__my_department(cx, &dept);
        if (res)
            return res;
    }
    db_sqlb_init(cx, &b, 0, "");
    if (roles & ROLE_OPERATOR) {
        add_branch(cx, &b, &first, "accept", "c.state = 'reported'");
        db_sqlb_arg(&b, DBI(limit));
    }
    if (roles & ROLE_SHIFT_LEAD) {
        add_branch(cx, &b, &first, "register", "c.state = 'accepted'");
        db_sqlb_arg(&b, DBI(limit));
        add_branch(cx, &b, &first, "close", "c.state = 'verified'");
        db_sqlb_arg(&b, DBI(limit));
    }
    if (roles & ROLE_DISPATCHER) {
        add_branch(cx, &b, &first, "dispatch", "c.state = 'registered'");
        db_sqlb_arg(&b, DBI(limit));
        add_branch(cx, &b, &first, "approve_extension",
                   "c.state = 'dispatched' AND c.extension_pending = 1");
        db_sqlb_arg(&b, DBI(limit));
    }
    if ((roles & ROLE_HANDLER) && dept) {
        add_branch(cx, &b, &first, "handle", "c.department_id = ? AND c.state = 'dispatched'");
        db_sqlb_arg(&b, DBI(dept));
        db_sqlb_arg(&b, DBI(limit));
    }
    if (roles & ROLE_INSPECTOR) {
        add_branch(cx, &b, &first, "verify",
                   "c.state = 'handled' AND c.grid_id IN (SELECT ug.grid_id FROM user_grids ug"
                   " WHERE ug.user_id = ?)");
        db_sqlb_arg(&b, DBI(cx->who.user_id));
        db_sqlb_arg(&b, DBI(limit));
        /* Outside every grid: any inspector's (case__visible, check_owner). */
        add_branch(cx, &b, &first, "verify", "c.state = 'handled' AND c.grid_id IS NULL");
        db_sqlb_arg(&b, DBI(limit));
        /* 核实 sent to this inspector (request_confirmation makes it the assignee). */
        add_branch(cx, &b, &first, "confirm", "c.state = 'confirming' AND c.assignee_id = ?");
        db_sqlb_arg(&b, DBI(cx->who.user_id));
        db_sqlb_arg(&b, DBI(limit));
    }
    r.nrows = 0;
    u.nrows = 0;
    if (!first) {
        res = db_sqlb_exec(&b, &r);
        if (res)
            return res;
    }
    if ((roles & ROLE_HANDLER) && dept) {
        res = db_exec(cx,
                      "SELECT u.id, u.note, " CASE__COLS " FROM case_urgings u JOIN cases c ON"
                      " c.id = u.case_id JOIN categories cat ON cat.id = c.category_id"
                      " WHERE u.department_id = ? AND u.acked_at IS NULL ORDER BY u.id LIMIT ?",
                      DB_ARGS(DBI(dept), DBI(limit)), &u);
        if (res)
            return res;
    }
    out->items = rctx_zalloc(cx, (r.nrows + u.nrows + 1) * sizeof *out->items);
    for (size_t i = 0; i < r.nrows; i++, n++) {
        struct case_task *t = &out->items[n];
        case__row(&r, i, 0, &t->c);
        t->type = "case";
        t->action = db_cell(&r, i, CASE__NCOLS);
        t->due_ms = t->c.due_ms;
        t->overdue = t->c.overdue;
    }
    for (size_t i = 0; i < u.nrows; i++, n++) {
        struct case_task *t = &out->items[n];
        case__row(&u, i, 2, &t->c);
        t->type = "urging";
        t->action = "acknowledge";
        t->urging_id = db_cell_i64(&u, i, 0);
        t->note = db_cell(&u, i, 1);
        t->due_ms = t->c.due_ms;
        t->overdue = t->c.overdue;
    }
    qsort(out->items, n, sizeof *out->items, task_cmp);
    out->n = n > (size_t)limit ? (size_t)limit : n;
    return ERR_OK;
}
