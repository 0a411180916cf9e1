/* api/evaluation.c: /api/v1/evaluation — 考评 per person, role and department (evaluation.h):
 * the report, the drill-down to the marks (cases) behind each number, a CSV export (UTF-8 with
 * BOM, so Excel opens it), and the per-city weights and grade bounds (admins, audited).
 * Handlers only: decode, call the domain, encode. */
#include "api.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "api/domain/citytime.h"
#include "api/domain/evaluation.h"
#include "server/core/roles.h"

#define ROLE_EVAL (ROLE_LEADER | ROLE_ADMIN)
#define CSV_MAX_BYTES (8u << 20)

static enum err scope_of(struct rctx *cx, const struct req *rq, struct dash_scope *sc)
{
    int64_t region = 0;
    enum err res = api_query_i64(cx, rq, "region_id", 1, INT64_MAX, &region);

    if (res)
        return res;
    return dashboard_scope(cx, region, sc);
}

static json_t *day_json(int64_t day)
{
    char buf[11];
    citytime_day_format(day, buf);
    return json_string(buf);
}

/* ?from=&to= as local days (dashboard_period). */
static enum err period_of(struct rctx *cx, const struct req *rq, const struct dash_scope *sc,
                          int64_t *from, int64_t *to)
{
    return dashboard_period(cx, sc, req_query(cx, rq, "from"), req_query(cx, rq, "to"), from, to);
}

static json_t *settings_json(const struct eval_settings *st)
{
    json_t *w = json_object();

    for (int i = 0; i < EVAL__COUNT; i++)
        json_object_set_new(w, eval_indicator_name((enum eval_indicator)i),
                            json_real(st->weight[i]));
    return json_pack("{s:o,s:b,s:o,s:{s:f,s:f,s:f,s:f}}", "city_id", api_json_id(st->city_id),
                     "is_default", st->is_default, "weights", w, "grades", "A", st->grade_min[0],
                     "B", st->grade_min[1], "C", st->grade_min[2], "D", st->grade_min[3]);
}

static json_t *subject_json(const struct eval_subject *s)
{
    json_t *ind = json_object();

    for (int i = 0; i < EVAL__COUNT; i++) {
        enum eval_indicator e = (enum eval_indicator)i;
        double rate = evaluation_rate(e, s->v[i]);
        if (strcmp(eval_indicator_role(e), s->role) != 0)
            continue;
        json_object_set_new(ind, eval_indicator_name(e),
                            json_pack("{s:s,s:I,s:I,s:o}", "label", eval_indicator_label(e), "num",
                                      (json_int_t)s->v[i].num, "den", (json_int_t)s->v[i].den,
                                      "rate", rate >= 0 ? json_real(rate) : json_null()));
    }
    return json_pack("{s:s,s:I,s:s,s:s,s:o,s:o,s:o}", "subject_type", s->subject_type, "subject_id",
                     (json_int_t)s->subject_id, "name", s->name ? s->name : "", "role", s->role,
                     "indicators", ind, "score", s->scored ? json_real(s->score) : json_null(),
                     "grade", s->scored ? json_stringn(&s->grade, 1) : json_null());
}

static enum err eval_report(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct dash_scope sc;
    struct eval_settings st;
    struct eval_subject *v;
    size_t n;
    int64_t from, to;
    json_t *items;
    enum err res = scope_of(cx, rq, &sc);

    if (!res)
        res = period_of(cx, rq, &sc, &from, &to);
    if (!res)
        res = evaluation_report(cx, &sc, from, to, req_query(cx, rq, "role"), &n, &v);
    if (!res)
        res = evaluation_settings_get(cx, sc.city_id, &st);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, subject_json(&v[i]));
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:{s:o,s:s,s:s},s:{s:o,s:o},s:o,s:o}", "scope", "region_id",
                                    api_json_id(sc.region_id), "level", sc.level, "name", sc.name,
                                    "period", "from", day_json(from), "to", day_json(to),
                                    "settings", settings_json(&st), "items", items));
}

static enum err eval_marks(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct dash_scope sc;
    struct eval_marks_query q = {.indicator = -1, .limit = 50};
    struct eval_mark_rec *v = NULL;
    const char *ind = req_query(cx, rq, "indicator");
    int64_t limit = 50, next = 0;
    int failed = 0;
    size_t n = 0;
    json_t *items, *j;
    enum err res = scope_of(cx, rq, &sc);

    q.subject_type = req_query(cx, rq, "subject_type");
    if (!res)
        res = period_of(cx, rq, &sc, &q.from_day, &q.to_day);
    if (!res)
        res = api_query_i64(cx, rq, "subject_id", 1, INT64_MAX, &q.subject_id);
    if (!res && !q.subject_id)
        res = rctx_fail(cx, ERR_INVALID, "subject_id: required");
    if (!res && ind) {
        q.indicator = eval_indicator_from_name(ind);
        if (q.indicator < 0)
            res = rctx_fail(cx, ERR_INVALID, "indicator: unknown");
    }
    if (!res)
        res = api_query_bool(cx, rq, "failed", &failed);
    if (!res)
        res = api_query_i64(cx, rq, "limit", 1, EVAL_MARKS_MAX, &limit);
    if (!res)
        res = api_query_cursor(cx, rq, "m1", &q.before_id);
    if (res)
        return res;
    q.failed_only = failed != 0;
    q.limit = (int)limit;
    res = evaluation_marks(cx, &sc, &q, &n, &v, &next);
    if (res)
        return res;
    items = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct eval_mark_rec *m = &v[i];
        int e = eval_indicator_from_name(m->indicator);
        json_array_append_new(
            items,
            json_pack("{s:I,s:I,s:s,s:I,s:o,s:s,s:s,s:b,s:s}", "id", (json_int_t)m->id, "case_id",
                      (json_int_t)m->case_id, "case_no", m->case_no, "step_id",
                      (json_int_t)m->step_id, "date", day_json(m->day), "indicator", m->indicator,
                      "label", e >= 0 ? eval_indicator_label((enum eval_indicator)e) : "", "ok",
                      m->ok, "reason", m->reason ? m->reason : ""));
    }
    j = json_pack("{s:o}", "items", items);
    json_object_set_new(j, "next_cursor",
                        next ? json_string(api_cursor(cx, "m1", next)) : json_null());
    return api_json_reply(cx, rs, 200, j);
}

/* ---- CSV ------------------------------------------------------------------------------------ */

struct csv {
    char *p;
    size_t len, cap;
    struct rctx *cx;
};

static void csv_raw(struct csv *c, const char *s, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        char *p;
        while (cap < c->len + n + 1)
            cap *= 2;
        p = rctx_alloc(c->cx, cap);
        if (c->len)
            memcpy(p, c->p, c->len);
        c->p = p;
        c->cap = cap;
    }
    memcpy(c->p + c->len, s, n);
    c->len += n;
    c->p[c->len] = '\0';
}

/* One field, RFC 4180 quoted when needed; a leading = + - @ is defused with a ' so a
 * spreadsheet never evaluates a name as a formula. */
static void csv_field(struct csv *c, const char *s, bool last)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;

    if (quote)
        csv_raw(c, "\"", 1);
    if (*s == '=' || *s == '+' || *s == '-' || *s == '@')
        csv_raw(c, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            csv_raw(c, "\"\"", 2);
        else
            csv_raw(c, p, 1);
    }
    if (quote)
        csv_raw(c, "\"", 1);
    csv_raw(c, last ? "\r\n" : ",", last ? 2 : 1);
}

static enum err eval_export(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct dash_scope sc;
    struct eval_subject *v;
    struct csv c = {.cx = cx};
    char num[64], from_s[11], to_s[11];
    size_t n;
    int64_t from, to;
    enum err res = scope_of(cx, rq, &sc);

    if (!res)
        res = period_of(cx, rq, &sc, &from, &to);
    if (!res)
        res = evaluation_report(cx, &sc, from, to, req_query(cx, rq, "role"), &n, &v);
    if (res)
        return res;
    csv_raw(&c, "\xEF\xBB\xBF", 3);
    csv_field(&c, "对象类型", false);
    csv_field(&c, "对象编号", false);
    csv_field(&c, "名称", false);
    csv_field(&c, "岗位", false);
    for (int i = 0; i < EVAL__COUNT; i++)
        csv_field(&c, eval_indicator_label((enum eval_indicator)i), false);
    csv_field(&c, "综合得分", false);
    csv_field(&c, "等级", true);
    for (size_t k = 0; k < n && c.len < CSV_MAX_BYTES; k++) {
        const struct eval_subject *s = &v[k];
        csv_field(&c, strcmp(s->subject_type, "user") == 0 ? "人员" : "部门", false);
        snprintf(num, sizeof num, "%lld", (long long)s->subject_id);
        csv_field(&c, num, false);
        csv_field(&c, s->name ? s->name : "", false);
        csv_field(&c, s->role, false);
        for (int i = 0; i < EVAL__COUNT; i++) {
            double rate = evaluation_rate((enum eval_indicator)i, s->v[i]);
            bool mine = strcmp(eval_indicator_role((enum eval_indicator)i), s->role) == 0;
            if (mine && rate >= 0)
                snprintf(num, sizeof num, "%.2f%%", rate * 100);
            else
                num[0] = '\0';
            csv_field(&c, num, false);
        }
        if (s->scored)
            snprintf(num, sizeof num, "%.1f", s->score);
        else
            num[0] = '\0';
        csv_field(&c, num, false);
        csv_field(&c, s->scored ? (char[2]){s->grade, 0} : "", true);
    }
    citytime_day_format(from, from_s);
    citytime_day_format(to, to_s);
    resp_header(cx, rs, "content-disposition",
                rctx_printf(cx, "attachment; filename=\"evaluation-%s-%s.csv\"", from_s, to_s));
    return resp_body(rs, 200, "text/csv; charset=utf-8", c.p, c.len);
}

/* ---- settings (admin) ------------------------------------------------------------------------ */

static enum err settings_get(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct eval_settings st;
    int64_t city = 0;
    enum err res = api_query_i64(cx, rq, "city_id", 0, INT64_MAX, &city);

    if (!res)
        res = evaluation_settings_get(cx, city, &st);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, settings_json(&st));
}

/* PUT body: {"city_id": 0|id, "weights": {"<indicator>": w, …}, "grades": {"A": …, "D": …}}.
 * Indicators and grades not named keep their current values. */
static enum err settings_put(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    struct eval_settings st;
    json_t *body, *w, *g, *city, *val;
    const char *key;
    enum err res = api_json_body(cx, rq, false, &body);

    if (res)
        return res;
    json_object_foreach(body, key, val)
    {
        if (strcmp(key, "city_id") != 0 && strcmp(key, "weights") != 0 &&
            strcmp(key, "grades") != 0)
            return rctx_fail(cx, ERR_INVALID, "%s: unknown field", key);
    }
    city = json_object_get(body, "city_id");
    if (city && !(json_is_integer(city) && json_integer_value(city) >= 0))
        return rctx_fail(cx, ERR_INVALID, "city_id: an id, or 0 for the default");
    res = evaluation_settings_get(cx, city ? json_integer_value(city) : 0, &st);
    if (res)
        return res;
    w = json_object_get(body, "weights");
    if (w && !json_is_object(w))
        return rctx_fail(cx, ERR_INVALID, "weights: an object");
    json_object_foreach(w, key, val)
    {
        int i = eval_indicator_from_name(key);
        if (i < 0)
            return rctx_fail(cx, ERR_INVALID, "weights.%s: unknown indicator", key);
        if (!json_is_number(val))
            return rctx_fail(cx, ERR_INVALID, "weights.%s: a number", key);
        st.weight[i] = json_number_value(val);
    }
    g = json_object_get(body, "grades");
    if (g && !json_is_object(g))
        return rctx_fail(cx, ERR_INVALID, "grades: an object");
    json_object_foreach(g, key, val)
    {
        if (strlen(key) != 1 || key[0] < 'A' || key[0] > 'D')
            return rctx_fail(cx, ERR_INVALID, "grades.%s: A, B, C or D", key);
        if (!json_is_number(val))
            return rctx_fail(cx, ERR_INVALID, "grades.%s: a number", key);
        st.grade_min[key[0] - 'A'] = json_number_value(val);
    }
    res = evaluation_settings_put(cx, &st);
    if (!res)
        res = evaluation_settings_get(cx, st.city_id, &st);
    if (res)
        return res;
    return api_json_reply(cx, rs, 200, settings_json(&st));
}

/* clang-format off */
const struct route api_evaluation_routes[] = {
    /* method  path                                  handler       roles       body  flags  timeout batch */
    {"GET",  "/api/v1/evaluation",                 eval_report,  ROLE_EVAL,  0,    0, 0, NULL, NULL},
    {"GET",  "/api/v1/evaluation/marks",           eval_marks,   ROLE_EVAL,  0,    0, 0, NULL, NULL},
    {"GET",  "/api/v1/evaluation/export",          eval_export,  ROLE_EVAL,  0,    0, 0, NULL, NULL},
    {"GET",  "/api/v1/admin/evaluation/settings",  settings_get, ROLE_ADMIN, 0,    0, 0, NULL, NULL},
    {"PUT",  "/api/v1/admin/evaluation/settings",  settings_put, ROLE_ADMIN, 4096, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
