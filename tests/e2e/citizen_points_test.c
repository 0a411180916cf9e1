/* tests/e2e/citizen_points_test.c: issue 14, 积分 — points paid once when a citizen's report
 * is registered (a retried 立案 pays nothing more; invalid and merged reports and staff
 * reports get nothing), the daily cap, balance and ledger (every row names its cause and the
 * rows add up to the balance), admin items with stock, and redemptions: an Idempotency-Key
 * retry spends once, and many parallel redemptions leave balance and stock exact, never below
 * zero. Its own server with a moved clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "th_api.h"
#include "th_assert.h"

#define NCIT 2

static struct th_server srv;
static char names[NCIT][32];
static char tokens[NCIT][2048];

static int setup(void **state)
{
    th_server_start(&srv, "testing.clock_control = true\n"
                          "points.per_report = 10\n"
                          "points.daily_cap = 30\n");
    th_seed(&srv);
    /* Citizens register by text message; these copy the demo citizen's password. */
    for (int i = 0; i < NCIT; i++) {
        snprintf(names[i], sizeof names[i], "pts%d", i);
        th_sql_execf(
            &srv,
            "INSERT INTO users (username, display_name, password_hash, roles)"
            " SELECT '%s', '市民%d', password_hash, roles FROM users WHERE username = '%s'",
            names[i], i, th_username(&srv, "citizen"));
    }
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

static void clock_at(int y, int mo, int d, int h, int mi)
{
    th_clock_at(&srv, y, mo, d, h, mi);
    for (int i = 0; i < NCIT; i++)
        tokens[i][0] = '\0';
}

static const char *cit(int i)
{
    if (!tokens[i][0]) {
        struct th_resp r;
        th_login(&srv, names[i], th_password(&srv, "citizen"), NULL, &r);
        th_expect(&r, 200, NULL);
        snprintf(tokens[i], sizeof tokens[i], "%s", th_jstr(r.json, "access_token"));
        th_resp_free(&r);
    }
    return tokens[i];
}

static long long report(int i)
{
    struct th_resp r;
    long long id;

    th_call_tok(&srv, "POST", "/api/v1/cases", cit(i), NULL, NULL,
                "{" TH_CAT_0102 ",\"description\":\"井盖缺失\"," TH_IN_GRID1 "}", &r);
    th_expect(&r, 201, NULL);
    id = th_jint(r.json, "id");
    th_resp_free(&r);
    return id;
}

/* 立案 with key, the body as a retry would send it again (the version seen at the first try). */
static void register_resp(long long id, long long version, const char *key, struct th_resp *r)
{
    char path[64], body[96];

    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    snprintf(body, sizeof body, "{\"action\":\"register\",\"version\":%lld}", version);
    th_call(&srv, "shift_lead", "POST", path, key, body, r);
}

static void accept_register(long long id, const char *key)
{
    struct th_resp r;

    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    register_resp(id, th_case_version(&srv, id), key, &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
}

static long long balance(int i)
{
    return th_sqlf(&srv,
                   "SELECT COALESCE(SUM(a.balance), 0) FROM points_accounts a JOIN users u ON"
                   " u.id = a.user_id WHERE u.username = '%s'",
                   names[i]);
}

static long long rows_for_case(long long id)
{
    return th_sqlf(
        &srv, "SELECT COUNT(*) FROM points_ledger WHERE ref_type = 'case' AND ref_id = %lld", id);
}

static void award_once_cap_and_exclusions(void **state)
{
    long long a, b, c, d, e, f, g, insp, v;
    struct th_resp r;
    long long sum = 0, n = 0;
    json_t *it;
    size_t k;

    clock_at(2030, 4, 1, 2, 0);
    a = report(0);
    b = report(0);
    c = report(0);
    d = report(0);
    e = report(0);
    f = report(0);
    /* Registered: paid once, even when the 立案 is retried with its key. */
    th_act(&srv, "operator", a, NULL, "\"action\":\"accept\"");
    v = th_case_version(&srv, a);
    register_resp(a, v, "reg-a", &r);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    assert_int_equal(balance(0), 10);
    register_resp(a, v, "reg-a", &r);
    th_expect(&r, 200, NULL);
    assert_non_null(strstr(r.headers, "idempotent-replayed: true"));
    th_resp_free(&r);
    assert_int_equal(balance(0), 10);
    assert_int_equal(rows_for_case(a), 1);
    /* Up to the daily cap of 30; past it a row of 0 that says why. */
    accept_register(b, NULL);
    accept_register(c, NULL);
    accept_register(d, NULL);
    assert_int_equal(balance(0), 30);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT delta FROM points_ledger WHERE ref_type = 'case' AND"
                             " ref_id = %lld",
                             d),
                     0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM points_ledger WHERE ref_id = %lld AND"
                             " note LIKE '%%每日上限%%'",
                             d),
                     1);
    /* An invalid report and a merged one are never registered: nothing. */
    th_act(&srv, "operator", e, NULL, "\"action\":\"invalidate\",\"text\":\"不属实\"");
    th_act(&srv, "operator", f, NULL, "\"action\":\"merge\",\"duplicate_of\":%lld", a);
    assert_int_equal(rows_for_case(e), 0);
    assert_int_equal(rows_for_case(f), 0);
    /* Staff reports earn nothing. */
    insp = th_report_as(&srv, "inspector", NULL);
    accept_register(insp, NULL);
    assert_int_equal(rows_for_case(insp), 0);

    /* The next local day (Beijing 2030-04-02) pays again. */
    clock_at(2030, 4, 2, 2, 0);
    g = report(0);
    accept_register(g, NULL);
    assert_int_equal(balance(0), 40);

    th_call_tok(&srv, "GET", "/api/v1/points", cit(0), NULL, NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "balance"), 40);
    assert_int_equal(th_jint(r.json, "earned_today"), 10);
    th_resp_free(&r);
    /* The ledger: newest first, every row with its cause, adding up to the balance. */
    th_call_tok(&srv, "GET", "/api/v1/points/ledger?limit=100", cit(0), NULL, NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    json_array_foreach(json_object_get(r.json, "items"), k, it)
    {
        assert_string_equal(th_jstr(it, "cause"), "report_registered");
        assert_string_equal(th_jstr(it, "cause_label"), "上报被立案");
        assert_string_equal(th_jstr(it, "ref_type"), "case");
        sum += th_jint(it, "delta");
        n++;
    }
    assert_int_equal(th_jint(json_array_get(json_object_get(r.json, "items"), 0), "ref_id"), g);
    assert_int_equal(th_jint(json_array_get(json_object_get(r.json, "items"), 0), "balance_after"),
                     40);
    th_resp_free(&r);
    assert_int_equal(n, 5);
    assert_int_equal(sum, 40);
    /* Staff have no points of their own to read. */
    th_check(&srv, "inspector", "GET", "/api/v1/points", NULL, 403, "permission_denied");
}

static long long new_item(const char *name, int cost, int stock)
{
    struct th_resp r;
    long long id;
    char *b = th_xprintf("{\"name\":\"%s\",\"cost\":%d,\"stock\":%d}", name, cost, stock);

    th_call(&srv, "admin", "POST", "/api/v1/points/items", NULL, b, &r);
    free(b);
    th_expect(&r, 201, NULL);
    id = th_jint(r.json, "id");
    th_resp_free(&r);
    return id;
}

static long long stock(long long item)
{
    return th_sqlf(&srv, "SELECT stock FROM points_items WHERE id = %lld", item);
}

/* n redemptions of item by citizen i at once; returns how many got 201 (the others must be
 * 409 invalid_state). */
static int burst_redeem(int i, long long item, int n)
{
    json_t *reqs = json_array(), *res;
    char *auth = th_xprintf("Bearer %s", cit(i));
    char *body = th_xprintf("{\"item_id\":%lld}", item);
    int ok = 0;

    for (int k = 0; k < n; k++)
        json_array_append_new(reqs,
                              json_pack("{s:s,s:s,s:s,s:s}", "path", "/api/v1/points/redemptions",
                                        "method", "POST", "authorization", auth, "body", body));
    res = th_burst(&srv, reqs);
    for (int k = 0; k < n; k++) {
        json_t *a = json_array_get(res, (size_t)k);
        long long st = json_integer_value(json_object_get(a, "status"));
        if (st == 201)
            ok++;
        else if (st != 409 ||
                 !strstr(json_string_value(json_object_get(a, "body")), "invalid_state"))
            fail_msg("redemption %d: %lld %s", k, st,
                     json_string_value(json_object_get(a, "body")));
    }
    json_decref(res);
    json_decref(reqs);
    free(auth);
    free(body);
    return ok;
}

static void redemptions_exact_under_concurrency(void **state)
{
    long long x, y, z, id1;
    struct th_resp r;

    clock_at(2030, 4, 3, 2, 0);
    /* Citizen 0 holds 40 points: 48 parallel redemptions of a 10-point item buy exactly 4. */
    assert_int_equal(balance(0), 40);
    x = new_item("公交卡充值10元", 10, 100);
    assert_int_equal(burst_redeem(0, x, 48), 4);
    assert_int_equal(balance(0), 0);
    assert_int_equal(stock(x), 96);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM points_ledger l JOIN users u ON u.id = l.user_id"
                             " WHERE u.username = '%s' AND l.cause = 'redemption' AND"
                             " l.delta = -10",
                             names[0]),
                     4);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM points_ledger WHERE balance_after < 0"),
                     0);
    /* Not enough points: said so, nothing spent. */
    {
        char *b = th_xprintf("{\"item_id\":%lld}", x);
        th_call_tok(&srv, "POST", "/api/v1/points/redemptions", cit(0), NULL, NULL, b, &r);
        free(b);
        th_expect(&r, 409, "invalid_state");
        assert_non_null(strstr(r.body, "not enough points"));
        th_resp_free(&r);
    }
    assert_int_equal(stock(x), 96);

    /* Citizen 1 earns 10; 40 parallel redemptions of a 1-point item with 3 in stock buy 3. */
    accept_register(report(1), NULL);
    assert_int_equal(balance(1), 10);
    y = new_item("环保袋", 1, 3);
    assert_int_equal(burst_redeem(1, y, 40), 3);
    assert_int_equal(stock(y), 0);
    assert_int_equal(balance(1), 7);

    /* A retried redemption (same Idempotency-Key) spends once. */
    z = new_item("雨伞", 2, 10);
    {
        char *b = th_xprintf("{\"item_id\":%lld}", z);
        th_call_tok(&srv, "POST", "/api/v1/points/redemptions", cit(1), "rd-1", NULL, b, &r);
        th_expect(&r, 201, NULL);
        id1 = th_jint(r.json, "id");
        assert_int_equal(th_jint(r.json, "balance_after"), 5);
        th_resp_free(&r);
        th_call_tok(&srv, "POST", "/api/v1/points/redemptions", cit(1), "rd-1", NULL, b, &r);
        th_expect(&r, 201, NULL);
        assert_non_null(strstr(r.headers, "idempotent-replayed: true"));
        assert_int_equal(th_jint(r.json, "id"), id1);
        th_resp_free(&r);
        free(b);
    }
    assert_int_equal(balance(1), 5);
    assert_int_equal(stock(z), 9);
    /* The ledger replays to the balance, for everyone. */
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM points_accounts a WHERE a.balance <>"
                                      " (SELECT COALESCE(SUM(l.delta), 0) FROM points_ledger l"
                                      " WHERE l.user_id = a.user_id)"),
                     0);
    /* Inactive items cannot be bought; citizens do not see them; only admins manage them. */
    {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/points/items/%lld", z);
        th_check(&srv, "admin", "PATCH", path, "{\"active\":false}", 200, NULL);
        th_check(&srv, "citizen", "POST", "/api/v1/points/items",
                 "{\"name\":\"x\",\"cost\":1,\"stock\":1}", 403, "permission_denied");
        th_check(&srv, "admin", "POST", "/api/v1/points/items",
                 "{\"name\":\"x\",\"cost\":0,"
                 "\"stock\":1}",
                 400, "invalid_argument");
    }
    th_call_tok(&srv, "GET", "/api/v1/points/items", cit(1), NULL, NULL, NULL, &r);
    th_expect(&r, 200, NULL);
    assert_null(strstr(r.body, "雨伞"));
    th_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(award_once_cap_and_exclusions),
        cmocka_unit_test(redemptions_exact_under_concurrency),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
