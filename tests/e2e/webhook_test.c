/* tests/e2e/webhook_test.c: the 12345 hotline as a machine client — cases created with the
 * hotline's ticket id as Idempotency-Key, and their progress pushed back to the key's webhook
 * (api/webhooks.c, api/domain/webhook.h) — through the real binary, against a local receiver
 * (tests/e2e/tools/webhook_standin.py) that checks signatures the way docs/open311.md tells the
 * vendor to, and fails on request.
 *
 * Checked: a ticket retried with the same id makes one case (another body with that id is a
 * conflict); a receiver that fails twice then succeeds gets each of the key's events once, in
 * event order, all signed and fresh, and none of another reporter's case; the delivery log shows
 * the two failures and the success; replay from a position sends the same events again in
 * order; events written while the receiver is down and cityd restarts arrive once afterwards;
 * a changed secret is used at once (the receiver refuses the old one); two cityd processes
 * deliver each event once, in order; bad admin input changes nothing; only admins reach the
 * webhook routes. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "th_api.h"
#include "th_assert.h"

#define SECRET "hotline-secret-0123456789abcdef"

static struct th_server srv;
static pid_t rx_pid;
static int rx_port;
static char rx_dir[128], rx_log[200];
static long long key_id, machine_id;
static char machine_tok[4096];

static void rx_start(void)
{
    char portfile[200];
    FILE *f;

    snprintf(rx_dir, sizeof rx_dir, "/tmp/cityd-webhook-XXXXXX");
    if (!mkdtemp(rx_dir))
        th_die("mkdtemp failed");
    snprintf(portfile, sizeof portfile, "%s/port", rx_dir);
    snprintf(rx_log, sizeof rx_log, "%s/rx.log", rx_dir);
    rx_pid = fork();
    if (rx_pid < 0)
        th_die("fork failed");
    if (rx_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execl("/usr/bin/python3", "python3", th_source_path("tests/e2e/tools/webhook_standin.py"),
              "--port-file", portfile, "--log", rx_log, "--secret", SECRET, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !rx_port; i++) {
        f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &rx_port) != 1)
                rx_port = 0;
            fclose(f);
        }
        if (!rx_port)
            usleep(25000);
    }
    if (!rx_port)
        th_die("webhook stand-in did not start");
}

/* POST /control to the stand-in with a JSON body (curl from the harness's shell). */
static void rx_control(const char *json)
{
    assert_int_equal(
        th_sh("curl -sf -o /dev/null -X POST -d '%s' http://127.0.0.1:%d/control", json, rx_port),
        0);
}

/* Every line the receiver logged, as a JSON array (new reference). */
static json_t *rx_lines(void)
{
    json_t *a = json_array();
    FILE *f = fopen(rx_log, "r");
    char line[65536];

    if (!f)
        return a;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        json_array_append_new(a, j);
    }
    fclose(f);
    return a;
}

/* Event ids the receiver accepted (answered 200), in arrival order; *n gets their count. */
static size_t rx_accepted(long long *ids, size_t max)
{
    json_t *a = rx_lines();
    size_t n = 0, i;
    json_t *l;

    json_array_foreach(a, i, l)
    {
        if (json_integer_value(json_object_get(l, "status")) == 200 && n < max)
            ids[n++] = json_integer_value(json_object_get(json_object_get(l, "body"), "id"));
    }
    json_decref(a);
    return n;
}

/* Wait up to 20 s until the receiver accepted at least want events. */
static size_t rx_wait(long long *ids, size_t max, size_t want)
{
    size_t n = 0;

    for (int i = 0; i < 400; i++) {
        n = rx_accepted(ids, max);
        if (n >= want)
            break;
        usleep(50000);
    }
    return n;
}

/* The key's events (ids ascending) a reporter may see: what the webhook must deliver. */
static size_t expected_events(long long case_id, long long after, long long *ids, size_t max)
{
    size_t n = 0;
    long long last = after;

    for (;;) {
        long long id = th_sqlf(&srv,
                               "SELECT COALESCE(MIN(id), 0) FROM events WHERE subject_type = 'case'"
                               " AND subject_id = %lld AND id > %lld AND type NOT IN"
                               " ('case.reminder', 'case.overdue', 'case.escalated', 'case.urged',"
                               " 'case.urging_acknowledged')",
                               case_id, last);
        if (!id || n == max)
            return n;
        ids[n++] = last = id;
    }
}

static void machine_call(const char *method, const char *path, const char *key, const char *body,
                         struct th_resp *r)
{
    th_call_tok(&srv, method, path, machine_tok, key, NULL, body, r);
}

static int setup(void **state)
{
    struct th_resp r;
    char body[512];
    (void)state;

    th_server_start(&srv, "webhook.retry_base_ms = 100\nwebhook.retry_max_ms = 400\n"
                          "webhook.poll_ms = 50\nwebhook.timeout_ms = 2000\n");
    th_seed(&srv);
    rx_start();
    th_post(&srv, "admin", "/api/v1/admin/api-keys", NULL,
            "{\"name\":\"12345热线\",\"scopes\":[\"cases:write\",\"cases:read\"]}", &r);
    th_expect(&r, 201, NULL);
    key_id = th_jint(r.json, "id");
    machine_id = th_jint(r.json, "user_id");
    snprintf(body, sizeof body, "{\"api_key\":\"%s\"}", th_jstr(r.json, "api_key"));
    th_resp_free(&r);
    {
        const char *hs[] = {"Content-Type: application/json", NULL};
        th_request(&srv, "POST", "/api/v1/auth/token", hs, body, strlen(body), 0, &r);
        th_expect(&r, 200, NULL);
        snprintf(machine_tok, sizeof machine_tok, "%s", th_jstr(r.json, "access_token"));
        th_resp_free(&r);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (rx_pid > 0) {
        kill(rx_pid, SIGTERM);
        waitpid(rx_pid, NULL, 0);
    }
    th_sh("rm -rf %s", rx_dir);
    assert_int_equal(th_server_stop(&srv), 0);
    return 0;
}

static const char *hook_path(void)
{
    static char p[96];
    snprintf(p, sizeof p, "/api/v1/admin/api-keys/%lld/webhook", key_id);
    return p;
}

static const char *replay_path(void)
{
    static char p[128];
    snprintf(p, sizeof p, "/api/v1/admin/api-keys/%lld/webhook/replay", key_id);
    return p;
}

static long long hotline_case; /* made by the first test, followed by the later ones */
static long long first_event;  /* its case.reported event */

static const char *ticket_body(const char *desc)
{
    static char b[512];
    snprintf(b, sizeof b, "{" TH_CAT_0102 "," TH_IN_GRID1 ",\"description\":\"%s\"}", desc);
    return b;
}

static void hotline_ticket_retried_makes_one_case(void **state)
{
    struct th_resp r;
    char *put;
    (void)state;

    /* The webhook first, at the newest event: what follows is delivered. */
    put = th_xprintf("{\"url\":\"http://127.0.0.1:%d/hook\",\"secret\":\"" SECRET "\"}", rx_port);
    th_call(&srv, "admin", "PUT", hook_path(), NULL, put, &r);
    th_expect(&r, 201, NULL);
    assert_int_equal(th_jint(r.json, "position"), th_sqlf(&srv, "SELECT MAX(id) FROM events"));
    assert_null(json_object_get(r.json, "secret"));
    th_resp_free(&r);
    free(put);
    rx_control("{\"fail\":2}");

    machine_call("POST", "/api/v1/cases", "12345-T20261202-0001", ticket_body("市民来电：井盖破损"),
                 &r);
    th_expect(&r, 201, NULL);
    hotline_case = th_jint(r.json, "id");
    assert_string_equal(th_jstr(r.json, "source"), "hotline");
    th_resp_free(&r);
    /* The bridge did not see the answer and sends the ticket again: the same case. */
    machine_call("POST", "/api/v1/cases", "12345-T20261202-0001", ticket_body("市民来电：井盖破损"),
                 &r);
    th_expect(&r, 201, NULL);
    assert_int_equal(th_jint(r.json, "id"), hotline_case);
    th_resp_free(&r);
    /* The same ticket id with another text is not a retry. */
    machine_call("POST", "/api/v1/cases", "12345-T20261202-0001", ticket_body("另一件事"), &r);
    th_expect(&r, 409, "conflict");
    th_resp_free(&r);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM cases WHERE reporter_id = %lld", machine_id), 1);
    first_event = th_sqlf(&srv,
                          "SELECT id FROM events WHERE subject_type = 'case' AND subject_id = %lld"
                          " AND type = 'case.reported'",
                          hotline_case);
    assert_true(first_event > 0);
}

static void failing_receiver_gets_each_event_once_in_order(void **state)
{
    long long other, want[32], got[64];
    size_t nwant, ngot, i;
    json_t *lines, *l;
    struct th_resp r;
    (void)state;

    /* Progress of the hotline's case, and a citizen's case that is not the key's. */
    other = th_report_as(&srv, "citizen", NULL);
    th_act(&srv, "operator", hotline_case, NULL, "\"action\":\"accept\"");
    th_act(&srv, "operator", other, NULL, "\"action\":\"accept\"");
    th_act(&srv, "shift_lead", hotline_case, NULL, "\"action\":\"register\",\"text\":\"立案\"");
    nwant = expected_events(hotline_case, 0, want, 32);
    assert_true(nwant >= 3);
    assert_int_equal(want[0], first_event);

    ngot = rx_wait(got, 64, nwant);
    assert_int_equal(ngot, nwant);
    for (i = 0; i < nwant; i++)
        assert_int_equal(got[i], want[i]);

    lines = rx_lines();
    /* Two failures of the first event, then its success; every request signed and fresh. */
    assert_true(json_array_size(lines) == nwant + 2);
    json_array_foreach(lines, i, l)
    {
        json_t *b = json_object_get(l, "body");
        assert_true(json_is_true(json_object_get(l, "sig_ok")));
        assert_true(json_is_true(json_object_get(l, "fresh")));
        assert_int_equal(json_integer_value(json_object_get(b, "case_id")), hotline_case);
        assert_int_equal(atoll(json_string_value(json_object_get(l, "event_id"))),
                         json_integer_value(json_object_get(b, "id")));
        if (i < 2) {
            assert_int_equal(json_integer_value(json_object_get(l, "status")), 500);
            assert_int_equal(json_integer_value(json_object_get(b, "id")), first_event);
        }
    }
    {
        json_t *b = json_object_get(json_array_get(lines, 2), "body");
        assert_string_equal(json_string_value(json_object_get(b, "type")), "case.reported");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(b, "payload"), "source")), "hotline");
        assert_non_null(json_string_value(json_object_get(b, "case_no")));
    }
    json_decref(lines);

    /* The delivery log: newest first; the first event failed twice with HTTP 500. */
    {
        char *p = th_xprintf("%s/deliveries?limit=200", hook_path());
        th_get_as(&srv, "admin", p, &r);
        free(p);
    }
    th_expect(&r, 200, NULL);
    {
        json_t *items = json_object_get(r.json, "items");
        size_t n = json_array_size(items);
        json_t *oldest = json_array_get(items, n - 1), *second = json_array_get(items, n - 2);
        json_t *third = json_array_get(items, n - 3);
        assert_int_equal(n, nwant + 2);
        assert_int_equal(th_jint(oldest, "event_id"), first_event);
        assert_false(json_is_true(json_object_get(oldest, "ok")));
        assert_int_equal(th_jint(oldest, "http_status"), 500);
        assert_int_equal(th_jint(second, "attempt"), 2);
        assert_int_equal(th_jint(third, "attempt"), 3);
        assert_true(json_is_true(json_object_get(third, "ok")));
    }
    th_resp_free(&r);
    th_get_as(&srv, "admin", hook_path(), &r);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "failed_attempts"), 0);
    assert_true(th_jint(r.json, "position") >= want[nwant - 1]);
    th_resp_free(&r);
}

static void replay_from_a_position_sends_again_in_order(void **state)
{
    long long want[32], got[128];
    size_t nwant, before, ngot;
    struct th_resp r;
    char *body;
    (void)state;

    nwant = expected_events(hotline_case, 0, want, 32);
    before = rx_accepted(got, 128);
    /* From just after the first event: the others again. */
    body = th_xprintf("{\"position\":%lld}", first_event);
    th_call(&srv, "admin", "POST", replay_path(), NULL, body, &r);
    free(body);
    th_expect(&r, 200, NULL);
    assert_int_equal(th_jint(r.json, "position"), first_event);
    th_resp_free(&r);
    ngot = rx_wait(got, 128, before + nwant - 1);
    assert_int_equal(ngot, before + nwant - 1);
    for (size_t i = 1; i < nwant; i++)
        assert_int_equal(got[before + i - 1], want[i]);
    /* A position past the newest event is refused and changes nothing. */
    th_call(&srv, "admin", "POST", replay_path(), NULL, "{\"position\":999999999}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    usleep(300000);
    assert_int_equal(rx_accepted(got, 128), ngot);
}

static void outage_and_restart_lose_nothing(void **state)
{
    long long want[32], got[128], last;
    size_t before, ngot, nnew;
    (void)state;

    before = rx_accepted(got, 128);
    last = th_sqlf(&srv, "SELECT MAX(id) FROM events");
    rx_control("{\"fail\":100000}");
    th_act(&srv, "dispatcher", hotline_case, NULL, "\"action\":\"dispatch\",\"department_id\":%lld",
           th_sqlf(&srv, "SELECT id FROM departments ORDER BY id LIMIT 1"));
    nnew = expected_events(hotline_case, last, want, 32);
    assert_true(nnew >= 1);
    /* Failing attempts are logged while cityd restarts. */
    for (int i = 0; i < 100 && th_sqlf(&srv,
                                       "SELECT COUNT(*) FROM webhook_deliveries WHERE"
                                       " event_id = %lld AND ok = 0",
                                       want[0]) < 2;
         i++)
        usleep(50000);
    assert_true(th_sqlf(&srv,
                        "SELECT COUNT(*) FROM webhook_deliveries WHERE event_id = %lld"
                        " AND ok = 0",
                        want[0]) >= 2);
    kill(srv.pid, SIGTERM); /* th_server_restart reaps it */
    th_server_restart(&srv);
    rx_control("{\"fail\":0}");
    ngot = rx_wait(got, 128, before + nnew);
    assert_int_equal(ngot, before + nnew);
    for (size_t i = 0; i < nnew; i++)
        assert_int_equal(got[before + i], want[i]);
    usleep(300000);
    assert_int_equal(rx_accepted(got, 128), before + nnew);
}

static void changed_secret_is_used_at_once(void **state)
{
    long long got[128];
    size_t before;
    struct th_resp r;
    char *put;
    (void)state;

    before = rx_accepted(got, 128);
    put = th_xprintf(
        "{\"url\":\"http://127.0.0.1:%d/hook\",\"secret\":\"another-secret-9876543210\"}", rx_port);
    th_call(&srv, "admin", "PUT", hook_path(), NULL, put, &r);
    free(put);
    th_expect(&r, 200, NULL);
    th_resp_free(&r);
    /* The receiver still expects the old secret: the new signature is refused (401), retried. */
    th_act(&srv, "dispatcher", hotline_case, NULL, "\"action\":\"dispatch\",\"department_id\":%lld",
           th_sqlf(&srv, "SELECT id FROM departments ORDER BY id DESC LIMIT 1"));
    for (int i = 0; i < 100 && th_sqlf(&srv, "SELECT COUNT(*) FROM webhook_deliveries WHERE"
                                             " http_status = 401") == 0;
         i++)
        usleep(50000);
    assert_true(th_sqlf(&srv, "SELECT COUNT(*) FROM webhook_deliveries WHERE http_status = 401") >
                0);
    assert_int_equal(rx_accepted(got, 128), before);
    rx_control("{\"secret\":\"another-secret-9876543210\"}");
    assert_int_equal(rx_wait(got, 128, before + 1), before + 1);
}

/* Two cityd processes on one database, two deliverer threads each: the leases keep one attempt
 * per webhook at a time, so every event still arrives once, in order. */
static void two_processes_deliver_each_event_once(void **state)
{
    struct th_server twin;
    long long got[256], first, ids[6];
    size_t before, ngot;
    char key[64];
    struct th_resp r;
    (void)state;

    before = rx_accepted(got, 256);
    first = th_sqlf(&srv, "SELECT MAX(id) FROM events");
    th_server_twin(&twin, &srv);
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "12345-T20261202-1%03d", i);
        /* Half of the tickets through each process. */
        th_call_tok(i % 2 ? &twin : &srv, "POST", "/api/v1/cases", machine_tok, key, NULL,
                    ticket_body("两个进程"), &r);
        th_expect(&r, 201, NULL);
        ids[i] = th_jint(r.json, "id");
        th_resp_free(&r);
    }
    for (int i = 0; i < 6; i++)
        th_act(&srv, "operator", ids[i], NULL, "\"action\":\"accept\"");
    {
        long long want[32];
        size_t nwant = 0;
        for (long long id = th_sqlf(&srv,
                                    "SELECT COALESCE(MIN(id), 0) FROM events WHERE id > %lld AND"
                                    " subject_type = 'case' AND subject_id IN (SELECT id FROM"
                                    " cases WHERE reporter_id = %lld)",
                                    first, machine_id);
             id && nwant < 32;
             id = th_sqlf(&srv,
                          "SELECT COALESCE(MIN(id), 0) FROM events WHERE id > %lld AND"
                          " subject_type = 'case' AND subject_id IN (SELECT id FROM cases WHERE"
                          " reporter_id = %lld)",
                          id, machine_id))
            want[nwant++] = id;
        assert_int_equal(nwant, 12);
        ngot = rx_wait(got, 256, before + nwant);
        usleep(500000); /* a duplicate would come now */
        ngot = rx_accepted(got, 256);
        assert_int_equal(ngot, before + nwant);
        for (size_t i = 0; i < nwant; i++)
            assert_int_equal(got[before + i], want[i]);
    }
    assert_int_equal(th_server_stop(&twin), 0);
}

static void bad_admin_input_changes_nothing(void **state)
{
    struct th_resp r;
    long long gen = th_sqlf(&srv, "SELECT generation FROM webhooks");
    char *p;
    (void)state;

    th_call(&srv, "admin", "PUT", hook_path(), NULL,
            "{\"url\":\"ftp://example.org/x\",\"secret\":\"" SECRET "\"}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_call(&srv, "admin", "PUT", hook_path(), NULL,
            "{\"url\":\"https://example.org/x\",\"secret\":\"short\"}", &r);
    th_expect(&r, 400, "invalid_argument");
    th_resp_free(&r);
    th_call(&srv, "admin", "PUT", "/api/v1/admin/api-keys/999999/webhook", NULL,
            "{\"url\":\"https://example.org/x\",\"secret\":\"" SECRET "\"}", &r);
    th_expect(&r, 404, "not_found");
    th_resp_free(&r);
    /* The URL's limit is webhook_put's alone (WEBHOOK_URL_MAX, 512 bytes). */
    {
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"url\":\"https://example.org/%0500d\",\"secret\":\"" SECRET "\"}", 0);
        th_call(&srv, "admin", "PUT", hook_path(), NULL, body, &r);
        th_expect(&r, 400, "invalid_argument");
        assert_string_equal(th_jstr(json_object_get(r.json, "error"), "message"),
                            "url: at most 512 bytes");
        th_resp_free(&r);
    }
    assert_int_equal(th_sqlf(&srv, "SELECT generation FROM webhooks"), gen);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM webhooks"), 1);
    /* Only admins: the machine itself and staff are refused. */
    machine_call("GET", hook_path(), NULL, NULL, &r);
    assert_true(r.status == 403 || r.status == 401);
    th_resp_free(&r);
    th_check(&srv, "dispatcher", "GET", hook_path(), NULL, 403, "permission_denied");
    p = th_xprintf("%s/deliveries", hook_path());
    th_check(&srv, "operator", "GET", p, NULL, 403, "permission_denied");
    free(p);
    /* Delete: gone with its log. */
    th_call(&srv, "admin", "DELETE", hook_path(), NULL, NULL, &r);
    th_expect(&r, 204, NULL);
    th_resp_free(&r);
    th_check(&srv, "admin", "GET", hook_path(), NULL, 404, "not_found");
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM webhook_deliveries"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hotline_ticket_retried_makes_one_case),
        cmocka_unit_test(failing_receiver_gets_each_event_once_in_order),
        cmocka_unit_test(replay_from_a_position_sends_again_in_order),
        cmocka_unit_test(outage_and_restart_lose_nothing),
        cmocka_unit_test(changed_secret_is_used_at_once),
        cmocka_unit_test(two_processes_deliver_each_event_once),
        cmocka_unit_test(bad_admin_input_changes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
