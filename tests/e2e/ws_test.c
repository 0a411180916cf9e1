/* tests/e2e/ws_test.c: the WebSocket gateway (server/ws, api/ws.c, api/domain/inbox.c) through
 * a real client: npm's `ws`, driven by tests/e2e/tools/ws_scenarios.js, against the real
 * cityd. This file starts the server, hands the scenarios its URLs and demo logins, and checks
 * what only the server side can see (database rows, memory, kill -9 and restart). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "harness.h"
#include "ledger.h"
#include "th_assert.h"

#define MSGS_PER_S 50

static struct th_server srv;
static long long sanitation;
static char cfg_path[400];

/* The port of metrics.listen, from the server's port file ("API metrics METRICS"). */
static int metrics_port(void)
{
    char path[512];
    int api = 0, port = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/port", srv.dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d metrics %d", &api, &port), 2);
    fclose(f);
    return port;
}

static void write_config(void)
{
    char metrics[64];

    snprintf(metrics, sizeof metrics, "http://127.0.0.1:%d/metrics", metrics_port());
    th_client_config(&srv, "ws-scenarios.json",
                     json_pack("{s:I,s:i,s:s}", "sanitation", (json_int_t)sanitation,
                               "max_msgs_per_s", MSGS_PER_S, "metrics", metrics),
                     cfg_path, sizeof cfg_path);
}

static int setup(void **state)
{
    char extra[256];
    /* A small ASan quarantine, so that freed memory shows as freed in the RSS checks. */
    setenv("ASAN_OPTIONS", "detect_leaks=1:quarantine_size_mb=4", 1);
    snprintf(extra, sizeof extra,
             "ws.max_msgs_per_s = %d\nws.max_queued_bytes = 262144\nws.ping_interval_s = 1\n"
             "ws.idle_timeout_s = 10\nws.socket_send_buffer = 65536\ntesting.clock_control = true\n"
             "metrics.listen = 127.0.0.1:0\n",
             MSGS_PER_S);
    th_server_start(&srv, extra);
    th_seed(&srv);
    th_token(&srv, "admin");
    sanitation = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'sanitation'");
    write_config();
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

static int scenario(const char *name)
{
    return th_sh("node %s %s %s", th_source_path("tests/e2e/tools/ws_scenarios.js"), name,
                 cfg_path);
}

static long long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long long kib = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static void version_names_the_gateway(void **state)
{
    struct th_resp r;
    char want[64];

    th_get(&srv, "/api/v1/version", NULL, &r);
    th_expect(&r, 200, NULL);
    snprintf(want, sizeof want, "ws://127.0.0.1:");
    assert_non_null(th_jstr(r.json, "ws_url"));
    assert_memory_equal(th_jstr(r.json, "ws_url"), want, strlen(want));
    assert_non_null(strstr(th_jstr(r.json, "ws_url"), "/ws"));
    th_resp_free(&r);
}

/* The gateway's series on /metrics (metrics.listen), parsed by the Prometheus client's parser. */
static json_t *scrape(const char *tag)
{
    char path[512], out[512];
    int port = metrics_port();
    json_t *j;

    snprintf(path, sizeof path, "%s/metrics-%s.txt", srv.dir, tag);
    snprintf(out, sizeof out, "%s/metrics-%s.json", srv.dir, tag);
    assert_int_equal(
        th_sh("curl -sf http://127.0.0.1:%d/metrics > %s && /usr/bin/python3 %s %s > %s", port,
              path, th_source_path("tests/e2e/tools/prom_parse.py"), path, out),
        0);
    j = json_load_file(out, 0, NULL);
    assert_non_null(j);
    return j;
}

static double metric(json_t *m, const char *key)
{
    json_t *v = json_object_get(m, key);
    return v ? json_number_value(v) : 0;
}

static void dispatch_reaches_handler(void **state)
{
    json_t *before = scrape("before"), *after;

    assert_int_equal(scenario("dispatch_reaches_handler"), 0);
    after = scrape("after");
    /* The sockets, the frames and the dispatch the scenario caused are counted. */
    assert_true(metric(after, "cityd_connections_accepted_total{protocol=websocket}") >
                metric(before, "cityd_connections_accepted_total{protocol=websocket}"));
    assert_true(metric(after, "cityd_ws_deliveries_total{}") >
                metric(before, "cityd_ws_deliveries_total{}"));
    assert_true(metric(after, "cityd_inbox_events_dispatched_total{}") >
                metric(before, "cityd_inbox_events_dispatched_total{}"));
    assert_true(metric(after, "cityd_inbox_dispatch_lag_seconds_count{}") >
                metric(before, "cityd_inbox_dispatch_lag_seconds_count{}"));
    json_decref(before);
    json_decref(after);
    /* The item was stored before it was sent: the handler's inbox holds it. */
    assert_true(th_sql_int(&srv, "SELECT COUNT(*) FROM inbox_items i JOIN users u ON"
                                 " u.id = i.user_id WHERE u.username = 'handler' AND"
                                 " i.type = 'case.dispatched'") >= 1);
}

static void offline_and_two_devices(void **state)
{
    assert_int_equal(scenario("offline_and_two_devices"), 0);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM device_positions p JOIN users u ON"
                                      " u.id = p.user_id WHERE u.username = 'handler' AND"
                                      " p.device_id IN ('dev-a', 'dev-b')"),
                     2);
}

static void auth_paths(void **state)
{
    assert_int_equal(scenario("auth_paths"), 0);
    /* The token sent in the query string was never written to the log. */
    assert_int_equal(th_sh("grep -q 'access_token=ey' %s", srv.log), 1);
    assert_int_equal(th_sh("grep -q 'eyJ' %s", srv.log), 1);
}

static void heartbeat(void **state)
{
    assert_int_equal(scenario("heartbeat"), 0);
}

static void limits(void **state)
{
    assert_int_equal(scenario("limits"), 0);
}

static void flood(void **state)
{
    assert_int_equal(scenario("flood"), 0);
}

static void slow_reader(void **state)
{
    long long before = rss_kib(srv.pid), after;
    assert_int_equal(scenario("slow_reader"), 0);
    after = rss_kib(srv.pid);
    /* The server cut it with at most ws.max_queued_bytes queued, and said so. */
    assert_int_equal(th_sh("grep -q 'does not read' %s", srv.log), 0);
    /* Bounded: the cut reader's queue (256 KiB cap) is gone, nothing piles up. */
    print_message("rss before %lld KiB, after %lld KiB\n", before, after);
    assert_true(after - before < 64 * 1024);
}

/* The scenario publishes until frames wait for the paused socket (it reads
 * cityd_ws_deliveries_queued_total itself), so the order it checks crosses the queue. */
static void paused_reader_in_order(void **state)
{
    assert_int_equal(scenario("paused_reader_in_order"), 0);
}

static void fanout_many(void **state)
{
    assert_int_equal(scenario("fanout_many"), 0);
}

static void revocation(void **state)
{
    assert_int_equal(scenario("revocation"), 0);
}

static void reauth(void **state)
{
    assert_int_equal(scenario("reauth"), 0);
}

static void streams_and_chat(void **state)
{
    assert_int_equal(scenario("streams_and_chat"), 0);
    /* One announcement is one row, however many sockets got it. */
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM stream_items WHERE payload LIKE"
                                      " '%防汛通知%'"),
                     1);
}

static void write_url_file(const char *path)
{
    struct th_resp r;
    FILE *f;

    th_get(&srv, "/api/v1/version", NULL, &r);
    th_expect(&r, 200, NULL);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", th_jstr(r.json, "ws_url"));
    fclose(f);
    th_resp_free(&r);
}

static long long post_id(const char *role, const char *path, const char *body, const char *key)
{
    struct th_resp r;
    long long v;
    th_post_json(&srv, path, th_token(&srv, role), body, &r);
    if (r.status != 200 && r.status != 201)
        fail_msg("%s %s: %ld %s", role, path, r.status, r.body);
    v = th_jint(r.json, key);
    th_resp_free(&r);
    return v;
}

/* A case taken to "dispatched" at 环卫 (the demo handler's department). */
static void dispatched_case(void)
{
    char path[96], body[256];
    long long id, v;

    id = post_id("citizen", "/api/v1/cases",
                 "{\"code_set\":\"gbt30428\",\"full_code\":\"0102\",\"kind\":\"event\","
                 "\"description\":\"井盖缺失\",\"location\":{\"lat\":31.305,\"lng\":120.605}}",
                 "id");
    snprintf(path, sizeof path, "/api/v1/cases/%lld/actions", id);
    {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT version FROM cases WHERE id = %lld", id);
        v = th_sql_int(&srv, sql);
    }
    snprintf(body, sizeof body, "{\"version\":%lld,\"action\":\"accept\"}", v);
    v = post_id("operator", path, body, "version");
    snprintf(body, sizeof body, "{\"version\":%lld,\"action\":\"register\"}", v);
    v = post_id("shift_lead", path, body, "version");
    snprintf(body, sizeof body, "{\"version\":%lld,\"action\":\"dispatch\",\"department_id\":%lld}",
             v, sanitation);
    post_id("dispatcher", path, body, "version");
}

/* kill -9 while events are being dispatched and items delivered, twice; after the restarts
 * every event is in every inbox exactly once, and both devices of the handler got every item
 * after their positions (checked by the client, in order, without gap or duplicate). */
static void kill9_exactly_once(void **state)
{
    char urlf[400], stopf[400], outf[400], cmd[2400];
    long long head, uid, cit;
    FILE *col;

    snprintf(urlf, sizeof urlf, "%s/ws-url", srv.dir);
    snprintf(stopf, sizeof stopf, "%s/ws-stop", srv.dir);
    snprintf(outf, sizeof outf, "%s/ws-collect.out", srv.dir);
    unlink(stopf);
    write_url_file(urlf);
    snprintf(cmd, sizeof cmd, "node %s collect %s %s %s > %s",
             th_source_path("tests/e2e/tools/ws_scenarios.js"), cfg_path, urlf, stopf, outf);
    col = popen(cmd, "w");
    assert_non_null(col);
    sleep(2); /* device B took its position, device A is live */
    for (int i = 0; i < 24; i++) {
        dispatched_case();
        if (i == 8 || i == 16) {
            kill(srv.pid, SIGKILL);
            th_server_restart(&srv);
            write_config();
            write_url_file(urlf);
        }
    }
    /* The dispatcher catches up with every event. */
    for (int i = 0; i < 100 && th_sql_int(&srv, "SELECT (SELECT COALESCE(MAX(id), 0) FROM events)"
                                                " - (SELECT position FROM dispatcher_state)") > 0;
         i++)
        usleep(100000);
    assert_int_equal(th_sql_int(&srv, "SELECT (SELECT COALESCE(MAX(id), 0) FROM events) -"
                                      " (SELECT position FROM dispatcher_state)"),
                     0);
    uid = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'handler'");
    cit = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'citizen'");
    {
        char sql[512];
        FILE *f;
        snprintf(sql, sizeof sql, "SELECT seq FROM inbox_heads WHERE user_id = %lld", uid);
        head = th_sql_int(&srv, sql);
        /* No holes: seqs 1..head all present. */
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM inbox_items WHERE user_id = %lld", uid);
        assert_int_equal(th_sql_int(&srv, sql), head);
        /* Every dispatch to 环卫 (never assigned here) is in the handler's inbox once. */
        snprintf(
            sql, sizeof sql,
            "SELECT COUNT(*) FROM events WHERE type = 'case.dispatched' AND JSON_VALUE(payload,"
            " '$.department_id') = %lld",
            sanitation);
        {
            long long ev = th_sql_int(&srv, sql);
            snprintf(sql, sizeof sql,
                     "SELECT COUNT(DISTINCT event_id) FROM inbox_items WHERE user_id = %lld AND"
                     " type = 'case.dispatched'",
                     uid);
            assert_int_equal(th_sql_int(&srv, sql), ev);
            assert_true(ev >= 24);
        }
        /* Every event of the citizen's cases by someone else is in the citizen's inbox once. */
        snprintf(
            sql, sizeof sql,
            "SELECT COUNT(*) FROM events e JOIN cases c ON e.subject_type = 'case' AND"
            " c.id = e.subject_id WHERE c.reporter_id = %lld AND COALESCE(e.actor_id, 0) <> %lld",
            cit, cit);
        {
            long long ev = th_sql_int(&srv, sql);
            snprintf(sql, sizeof sql,
                     "SELECT COUNT(*) FROM inbox_items WHERE user_id = %lld AND event_id IS NOT"
                     " NULL",
                     cit);
            assert_int_equal(th_sql_int(&srv, sql), ev);
        }
        assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM (SELECT user_id, event_id FROM"
                                          " inbox_items WHERE event_id IS NOT NULL GROUP BY"
                                          " user_id, event_id HAVING COUNT(*) > 1) d"),
                         0);
        f = fopen(stopf, "w");
        assert_non_null(f);
        fprintf(f, "%lld\n", head);
        fclose(f);
    }
    assert_int_equal(pclose(col), 0);
    th_sh("cat %s", outf);
    {
        /* The fault suite's ledger (tests/lib/ledger.h): every item device A was delivered
         * (1..device_a_last, contiguous as the collector checked) is stored exactly once. */
        size_t n;
        char *text = th_read_file(outf, &n);
        const char *p = strstr(text, "\"device_a_last\":");
        long long last = 0;
        struct ledger *led = ledger_new();
        assert_non_null(p);
        assert_int_equal(sscanf(p + strlen("\"device_a_last\":"), "%lld", &last), 1);
        assert_true(last >= 24);
        for (long long q = 1; q <= last; q++)
            ledger_inbox(led, uid, q, 0);
        ledger_assert_clean(led, &srv);
        ledger_free(led);
        free(text);
    }
}

static void expired_token_closed(void **state)
{
    char ready[400], cmd[1200];
    FILE *p;
    int st;

    snprintf(ready, sizeof ready, "%s/expiry-ready", srv.dir);
    unlink(ready);
    snprintf(cmd, sizeof cmd, "node %s expired_open %s %s",
             th_source_path("tests/e2e/tools/ws_scenarios.js"), cfg_path, ready);
    p = popen(cmd, "r");
    assert_non_null(p);
    for (int i = 0; i < 100 && access(ready, F_OK) != 0; i++)
        usleep(100000);
    assert_int_equal(access(ready, F_OK), 0);
    th_clock_offset(&srv, 16LL * 60 * 1000); /* past the 15-minute access token */
    st = pclose(p);
    assert_int_equal(st, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_names_the_gateway),
        cmocka_unit_test(dispatch_reaches_handler),
        cmocka_unit_test(offline_and_two_devices),
        cmocka_unit_test(auth_paths),
        cmocka_unit_test(heartbeat),
        cmocka_unit_test(limits),
        cmocka_unit_test(flood),
        cmocka_unit_test(slow_reader),
        cmocka_unit_test(paused_reader_in_order),
        cmocka_unit_test(fanout_many),
        cmocka_unit_test(streams_and_chat),
        cmocka_unit_test(reauth),
        cmocka_unit_test(revocation),
        cmocka_unit_test(kill9_exactly_once),
        cmocka_unit_test(expired_token_closed),
    };
    if (getenv("WS_TEST_ONLY")) /* one test while debugging: WS_TEST_ONLY=kill9_exactly_once */
        cmocka_set_test_filter(getenv("WS_TEST_ONLY"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
