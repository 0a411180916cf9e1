/* tests/e2e/push_apns_test.c: offline push through APNs, end to end — the real cityd, its
 * push thread and a local APNs stand-in speaking HTTP/2 over TLS with ES256 provider tokens
 * (tests/e2e/tools/push_apns_standin.js: the device token chooses the answer).
 *
 * Items come from real case actions: the citizen reports, the operator accepts, and the
 * citizen's inbox gets `case.accepted`, which queues one push per registered device.
 *
 * Checked: registration rules (bad input changes nothing, re-registering rotates in place, a
 * vendor that is not enabled is refused); a push arrives with the APNs headers and ids only,
 * over one connection with one provider token; an item the device acknowledged in-band is
 * not pushed; 410 and BadDeviceToken remove the device; 429 and 503 are retried and
 * delivered; a refusal becomes a dead letter admins can list; an outage queues and loses
 * nothing; pushes queued across a restart of cityd are delivered; quiet hours hold work items
 * but not urgent ones; log-out removes the registration. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"

#define KEY_ID "ABC123DEFG"
#define TEAM "TEAM123456"
#define TOPIC "cn.gov.city.chengguantong"

static struct th_server srv, twin; /* twin: the second process of the two-process test */
static pid_t standin_pid;
static int standin_port;
static char tmpdir[128], standin_log[200];

/* ---- the stand-in ------------------------------------------------------------------------- */

static void standin_start(int port)
{
    char portfile[200], p[16], cert[200], key[200], pub[200];
    FILE *f;

    snprintf(portfile, sizeof portfile, "%s/port", tmpdir);
    snprintf(cert, sizeof cert, "%s/cert.pem", tmpdir);
    snprintf(key, sizeof key, "%s/key.pem", tmpdir);
    snprintf(pub, sizeof pub, "%s/apns.pub", tmpdir);
    snprintf(p, sizeof p, "%d", port);
    unlink(portfile);
    standin_pid = fork();
    if (standin_pid < 0)
        th_die("fork failed");
    if (standin_pid == 0) {
        execlp("node", "node", th_source_path("tests/e2e/tools/push_apns_standin.js"), "--cert",
               cert, "--key", key, "--key-pub", pub, "--key-id", KEY_ID, "--team", TEAM, "--topic",
               TOPIC, "--port", p, "--port-file", portfile, "--log", standin_log, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &standin_port) == 1) {
                fclose(f);
                return;
            }
            fclose(f);
        }
        usleep(25000);
    }
    th_die("APNs stand-in did not start");
}

static void standin_stop(void)
{
    if (standin_pid > 0) {
        kill(standin_pid, SIGTERM);
        waitpid(standin_pid, NULL, 0);
        standin_pid = 0;
    }
}

static int setup(void **state)
{
    char cfg[1400];

    snprintf(tmpdir, sizeof tmpdir, "/tmp/cityd-push-apns-XXXXXX");
    if (!mkdtemp(tmpdir))
        th_die("mkdtemp failed");
    if (th_sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
              "-nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=localhost "
              "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1 && "
              "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out apns.p8 "
              "2>/dev/null && openssl pkey -in apns.p8 -pubout -out apns.pub 2>/dev/null",
              tmpdir) != 0)
        th_die("openssl could not make the test keys");
    snprintf(standin_log, sizeof standin_log, "%s/apns.log", tmpdir);
    standin_start(0);
    snprintf(cfg, sizeof cfg,
             "push.apns.base_url = https://127.0.0.1:%d\npush.ca_file = %s/cert.pem\n"
             "push.apns.key_file = %s/apns.p8\npush.apns.key_id = " KEY_ID "\n"
             "push.apns.team_id = " TEAM "\npush.apns.topic = " TOPIC "\n"
             "push.ack_grace_s = 1\npush.retry_max_s = 2\ndb.pool_size = 4\npush.batch = 4\n"
             "push.user_rate = 3\npush.user_urgent_rate = 5\n",
             standin_port, tmpdir, tmpdir);
    th_server_start(&srv, cfg);
    th_seed(&srv);
    return 0;
}

static int teardown(void **state)
{
    int rc;

    if (twin.pid > 0) /* a failed two-process test left it running */
        th_server_stop(&twin);
    rc = th_server_stop(&srv);
    standin_stop();
    th_sh("rm -rf %s", tmpdir);
    return rc;
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* Log in as the demo citizen from device dev; the access token (malloc'd). */
static char *citizen_on(const char *dev)
{
    struct th_resp r;
    char *tok;

    th_login(&srv, th_username(&srv, "citizen"), th_password(&srv, "citizen"), dev, &r);
    assert_int_equal(r.status, 200);
    tok = strdup(json_string_value(json_object_get(r.json, "access_token")));
    th_resp_free(&r);
    return tok;
}

static long register_push(const char *tok, const char *body, struct th_resp *r)
{
    th_call_tok(&srv, "POST", "/api/v1/me/devices/push", tok, NULL, NULL, body, r);
    return r->status;
}

/* A device of the citizen registered with APNs token t; the access token (malloc'd). */
static char *ios_device(const char *dev, const char *t)
{
    struct th_resp r;
    char body[400];
    char *tok = citizen_on(dev);

    snprintf(body, sizeof body,
             "{\"platform\":\"ios\",\"vendor\":\"apns\",\"token\":\"%s\",\"app_version\":"
             "\"3.2.1\",\"locale\":\"zh-CN\"}",
             t);
    if (register_push(tok, body, &r) != 201)
        fail_msg("register %s: %ld %s", t, r.status, r.body);
    th_resp_free(&r);
    return tok;
}

static long long citizen_id(void)
{
    return th_sqlf(&srv, "SELECT id FROM users WHERE username = '%s'",
                   th_username(&srv, "citizen"));
}

static long long citizen_head(void)
{
    return th_sqlf(&srv, "SELECT COALESCE(MAX(seq), 0) FROM inbox_heads WHERE user_id = %lld",
                   citizen_id());
}

/* One new inbox item for the citizen (case.accepted); waits until it is stored and returns
 * its seq. urgent: the case is marked urgent first. */
static long long citizen_item(bool urgent)
{
    long long head = citizen_head(), id = th_report_as(&srv, "citizen", NULL);

    if (urgent)
        th_sql_execf(&srv, "UPDATE cases SET urgency = 'urgent' WHERE id = %lld", id);
    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    for (int i = 0; i < 400 && citizen_head() == head; i++)
        usleep(25000);
    assert_true(citizen_head() > head);
    return citizen_head();
}

/* Lines of the stand-in's log for token with status (any when 0); the last one is returned
 * (a new reference) or NULL, *count gets how many. */
static json_t *log_lines(const char *token, long status, int *count)
{
    size_t len;
    char *text, *line, *save = NULL;
    json_t *last = NULL;
    FILE *f = fopen(standin_log, "r");

    *count = 0;
    if (!f)
        return NULL;
    fclose(f);
    text = th_read_file(standin_log, &len);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        if (j && strcmp(json_string_value(json_object_get(j, "token")), token) == 0 &&
            (!status || json_integer_value(json_object_get(j, "status")) == status)) {
            (*count)++;
            json_decref(last);
            last = j;
        } else {
            json_decref(j);
        }
    }
    free(text);
    return last;
}

/* Wait (up to 20 s) until token got an answer with status; the last such line. */
static json_t *wait_push(const char *token, long status)
{
    int n;
    for (int i = 0; i < 800; i++) {
        json_t *j = log_lines(token, status, &n);
        if (j)
            return j;
        usleep(25000);
    }
    fail_msg("no push with status %ld for %s", status, token);
    return NULL;
}

static void wait_sql(const char *sql, long long want)
{
    long long got = -1;
    for (int i = 0; i < 800; i++) {
        got = th_sql_int(&srv, sql);
        if (got == want)
            return;
        usleep(25000);
    }
    fail_msg("%s: %lld, want %lld", sql, got, want);
}

static long long device_rows(const char *token)
{
    return th_sqlf(&srv, "SELECT COUNT(*) FROM push_devices WHERE token = '%s'", token);
}

static void clean(void)
{
    th_sql_exec(&srv, "DELETE FROM push_devices");
    th_sql_exec(&srv, "DELETE FROM push_settings");
}

/* ---- tests -------------------------------------------------------------------------------- */

static void registration_rules(void **state)
{
    static const char *const bad[] = {
        "{\"platform\":\"ios\",\"vendor\":\"fcm\",\"token\":\"okregister01\",\"app_version\":\"1\","
        "\"locale\":\"zh-CN\"}",
        "{\"platform\":\"android\",\"vendor\":\"apns\",\"token\":\"okregister01\",\"app_version\":"
        "\"1\",\"locale\":\"zh-CN\"}",
        "{\"platform\":\"ios\",\"vendor\":\"apns\",\"token\":\"short\",\"app_version\":\"1\","
        "\"locale\":\"zh-CN\"}",
        "{\"platform\":\"ios\",\"vendor\":\"apns\",\"token\":\"ok register\",\"app_version\":\"1\","
        "\"locale\":\"zh-CN\"}",
        "{\"platform\":\"ios\",\"vendor\":\"apns\",\"token\":\"okregister01\",\"app_version\":"
        "\"1\","
        "\"locale\":\"zh-CN\",\"extra\":1}",
        "{\"platform\":\"ios\",\"vendor\":\"apns\",\"token\":\"okregister01\",\"locale\":\"zh-"
        "CN\"}",
    };
    struct th_resp r;
    char *tok;

    clean();
    tok = citizen_on("reg-phone");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(register_push(tok, bad[i], &r), 400);
        assert_string_equal(th_error_code(&r), "invalid_argument");
        th_resp_free(&r);
    }
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices"), 0);
    /* A vendor this server has no credentials for. */
    assert_int_equal(register_push(tok,
                                   "{\"platform\":\"android\",\"vendor\":\"huawei\",\"token\":"
                                   "\"IQAAAACy0kYkAAAAAAAAAAAAAAAA\",\"app_version\":\"1\","
                                   "\"locale\":\"zh-CN\"}",
                                   &r),
                     409);
    assert_string_equal(th_error_code(&r), "invalid_state");
    th_resp_free(&r);
    /* API keys and other machines have no log-in device: only people register. */
    assert_int_equal(register_push(NULL, bad[0], &r), 401);
    th_resp_free(&r);

    assert_int_equal(register_push(tok,
                                   "{\"platform\":\"ios\",\"vendor\":\"apns\",\"token\":"
                                   "\"okregister01\",\"app_version\":\"3.2.0\",\"locale\":"
                                   "\"zh-CN\"}",
                                   &r),
                     201);
    assert_string_equal(json_string_value(json_object_get(r.json, "device_id")), "reg-phone");
    assert_null(json_object_get(r.json, "token")); /* never echoed */
    th_resp_free(&r);
    /* The app got a new token: rotated in place, one row, the old token gone. */
    assert_int_equal(register_push(tok,
                                   "{\"platform\":\"ios\",\"vendor\":\"apns\",\"token\":"
                                   "\"okregister02\",\"app_version\":\"3.2.1\",\"locale\":"
                                   "\"en-US\"}",
                                   &r),
                     200);
    assert_string_equal(json_string_value(json_object_get(r.json, "app_version")), "3.2.1");
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices"), 1);
    assert_int_equal(device_rows("okregister01"), 0);
    assert_int_equal(device_rows("okregister02"), 1);
    /* The same token from another device moves there. */
    free(tok);
    tok = ios_device("reg-phone-2", "okregister02");
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices"), 1);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices WHERE device_id ="
                                      " 'reg-phone-2'"),
                     1);
    /* Unregister. */
    th_call_tok(&srv, "DELETE", "/api/v1/me/devices/push", tok, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);
    th_call_tok(&srv, "DELETE", "/api/v1/me/devices/push", tok, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    th_resp_free(&r);
    free(tok);
}

static void delivered_with_ids_only(void **state)
{
    json_t *line, *payload, *h;
    long long seq;
    int n;
    char *tok;

    clean();
    tok = ios_device("phone-ok", "okdelivered01");
    seq = citizen_item(false);
    line = wait_push("okdelivered01", 200);
    h = json_object_get(line, "headers");
    assert_string_equal(json_string_value(json_object_get(h, "apns-push-type")), "alert");
    assert_string_equal(json_string_value(json_object_get(h, "apns-topic")), TOPIC);
    assert_string_equal(json_string_value(json_object_get(h, "apns-priority")), "10");
    assert_string_equal(json_string_value(json_object_get(h, "apns-collapse-id")), "cityd.work");
    assert_non_null(json_object_get(h, "apns-id"));
    assert_non_null(json_object_get(h, "apns-expiration"));
    payload = json_object_get(line, "payload");
    assert_int_equal(json_integer_value(json_object_get(payload, "seq")), seq);
    assert_string_equal(json_string_value(json_object_get(payload, "kind")), "case.accepted");
    assert_true(json_integer_value(json_object_get(payload, "case_id")) > 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(payload, "aps"), "alert"), "title")),
                        "新任务");
    /* Ids only: the case's description and the citizen's details never go to Apple. */
    {
        char *text = json_dumps(payload, 0);
        assert_null(strstr(text, "垃圾"));
        assert_null(strstr(text, "description"));
        assert_null(strstr(text, th_username(&srv, "citizen")));
        free(text);
    }
    assert_int_equal(json_object_size(payload), 4); /* aps, seq, kind, case_id */
    json_decref(line);
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM push_sent WHERE vendor = 'apns' AND seq = %lld"
                             " AND device_id = 'phone-ok' AND attempts = 1",
                             seq),
                     1);
    /* A second item: the same connection, the same provider token. */
    seq = citizen_item(false);
    for (int i = 0; i < 800; i++) {
        json_decref(log_lines("okdelivered01", 200, &n));
        if (n == 2)
            break;
        usleep(25000);
    }
    assert_int_equal(n, 2);
    {
        size_t len;
        char *text = th_read_file(standin_log, &len), *save = NULL;
        long long session = -1, iat = -1;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            json_t *j = json_loads(l, 0, NULL);
            assert_non_null(j);
            if (session < 0) {
                session = json_integer_value(json_object_get(j, "session"));
                iat = json_integer_value(json_object_get(j, "iat"));
            }
            assert_int_equal(json_integer_value(json_object_get(j, "session")), session);
            assert_int_equal(json_integer_value(json_object_get(j, "iat")), iat);
            json_decref(j);
        }
        free(text);
    }
    free(tok);
}

/* The device read the item on its socket and acknowledged it (a real WebSocket client,
 * tests/e2e/tools/push_ws_ack.js) before the push was sent: nothing goes through Apple. The
 * vendor is down while the item becomes due, so the acknowledgement lands between a failed
 * attempt and the next one whatever the load. */
static void acked_in_band_is_not_pushed(void **state)
{
    long long seq, uid = citizen_id();
    int n;
    char *tok;

    clean();
    tok = ios_device("phone-acked", "okacked01");
    standin_stop();
    seq = citizen_item(false);
    wait_sql("SELECT COUNT(*) FROM push_queue WHERE attempts >= 1", 1);
    /* The phone comes online on the WebSocket and acknowledges the item. */
    {
        struct th_resp r;
        int rc;
        th_get(&srv, "/api/v1/version", NULL, &r);
        assert_int_equal(r.status, 200);
        rc = th_sh("node %s '%s' '%s' %lld >/dev/null",
                   th_source_path("tests/e2e/tools/push_ws_ack.js"),
                   json_string_value(json_object_get(r.json, "ws_url")), tok, seq);
        th_resp_free(&r);
        if (rc != 0)
            standin_start(standin_port); /* for the tests after this one */
        assert_int_equal(rc, 0);
    }
    assert_int_equal(th_sqlf(&srv,
                             "SELECT position FROM device_positions WHERE user_id = %lld AND"
                             " device_id = 'phone-acked' AND stream = 'inbox'",
                             uid),
                     seq);
    standin_start(standin_port);
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    json_decref(log_lines("okacked01", 0, &n));
    assert_int_equal(n, 0);
    free(tok);
}

static void invalid_tokens_remove_the_device(void **state)
{
    char *t1, *t2;

    clean();
    t1 = ios_device("phone-gone", "gone0000device");
    t2 = ios_device("phone-bad", "bad00000device");
    citizen_item(false);
    json_decref(wait_push("gone0000device", 410));
    json_decref(wait_push("bad00000device", 400));
    wait_sql("SELECT COUNT(*) FROM push_devices", 0);
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    /* Later items queue nothing for them. */
    citizen_item(false);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_queue"), 0);
    free(t1);
    free(t2);
}

static void throttled_and_failed_pushes_are_retried(void **state)
{
    long long seq;
    int n;
    char *t1, *t2;

    clean();
    t1 = ios_device("phone-busy", "busy0000device");
    t2 = ios_device("phone-fail", "fail0000device");
    seq = citizen_item(false);
    json_decref(wait_push("busy0000device", 429));
    json_decref(wait_push("fail0000device", 503));
    json_decref(wait_push("busy0000device", 200));
    json_decref(wait_push("fail0000device", 200));
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM push_sent WHERE seq = %lld AND attempts = 2"
                             " AND device_id IN ('phone-busy', 'phone-fail')",
                             seq),
                     2);
    json_decref(log_lines("busy0000device", 0, &n));
    assert_int_equal(n, 2);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices"), 2);
    free(t1);
    free(t2);
}

static void refused_push_is_a_dead_letter(void **state)
{
    struct th_resp r;
    json_t *items;
    long long seq;
    char *tok;

    clean();
    tok = ios_device("phone-rej", "rej00000device");
    seq = citizen_item(false);
    json_decref(wait_push("rej00000device", 413));
    wait_sql("SELECT COUNT(*) FROM push_dead_letters WHERE device_id = 'phone-rej'", 1);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_queue"), 0);
    th_get_as(&srv, "admin", "/api/v1/admin/push/dead-letters?limit=10", &r);
    assert_int_equal(r.status, 200);
    items = json_object_get(r.json, "items");
    assert_true(json_array_size(items) >= 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "vendor")),
                        "apns");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), seq);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(items, 0), "reason")),
                           "PayloadTooLarge"));
    th_resp_free(&r);
    th_get_as(&srv, "citizen", "/api/v1/admin/push/dead-letters", &r);
    assert_int_equal(r.status, 403);
    th_resp_free(&r);
    th_get_as(&srv, "admin", "/api/v1/admin/push/dead-letters?limit=0", &r);
    assert_int_equal(r.status, 400);
    th_resp_free(&r);
    free(tok);
}

/* Apple is away: pushes wait in the queue (retried with back-off) and all arrive once it is
 * back; nothing becomes a dead letter. */
static void outage_queues_and_loses_nothing(void **state)
{
    long long seq = 0, dead = th_sql_int(&srv, "SELECT COUNT(*) FROM push_dead_letters");
    json_t *a, *b;
    char *t1, *t2;

    clean();
    t1 = ios_device("phone-outage-a", "okoutageA01");
    t2 = ios_device("phone-outage-b", "okoutageB01");
    standin_stop();
    for (int i = 0; i < 3; i++)
        seq = citizen_item(false);
    wait_sql("SELECT COUNT(*) FROM push_queue WHERE attempts >= 1", 6);
    sleep(1);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_queue"), 6);
    standin_start(standin_port);
    a = wait_push("okoutageA01", 200);
    b = wait_push("okoutageB01", 200);
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    /* Each device was woken, and the newest item reached it (older ones ride along: one
     * wake-up per device and batch). */
    json_decref(a);
    json_decref(b);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(DISTINCT device_id) FROM push_sent WHERE seq = %lld"
                             " AND device_id IN ('phone-outage-a', 'phone-outage-b')",
                             seq),
                     2);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_dead_letters"), dead);
    free(t1);
    free(t2);
}

/* cityd stops with pushes queued (Apple away); after the restart they are delivered. */
static void restart_with_pushes_queued(void **state)
{
    long long seq;
    json_t *line;
    char *tok;

    clean();
    tok = ios_device("phone-restart", "okrestart01");
    standin_stop();
    seq = citizen_item(false);
    wait_sql("SELECT COUNT(*) FROM push_queue WHERE attempts >= 1", 1);
    {
        /* A clean stop (th_server_stop would also remove its directory). */
        int status = -1;
        kill(srv.pid, SIGTERM);
        assert_int_equal(waitpid(srv.pid, &status, 0), srv.pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_queue"), 1);
    standin_start(standin_port);
    th_server_restart(&srv);
    line = wait_push("okrestart01", 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(line, "payload"), "seq")),
                     seq);
    json_decref(line);
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    free(tok);
}

static void quiet_hours_hold_work_not_urgent(void **state)
{
    struct th_resp r;
    char body[96];
    long long now_min = (th_now_ms() / 60000 + 480) % 1440, seq;
    int n;
    char *tok;

    clean();
    tok = ios_device("phone-quiet", "okquiet00001");
    snprintf(body, sizeof body, "{\"start\":\"%02lld:%02lld\",\"end\":\"%02lld:%02lld\"}",
             ((now_min + 1440 - 60) % 1440) / 60, ((now_min + 1440 - 60) % 1440) % 60,
             ((now_min + 60) % 1440) / 60, ((now_min + 60) % 1440) % 60);
    th_call_tok(&srv, "PUT", "/api/v1/me/push/quiet-hours", tok, NULL, NULL, body, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    th_call_tok(&srv, "PUT", "/api/v1/me/push/quiet-hours", tok, NULL, NULL,
                "{\"start\":\"25:00\",\"end\":\"07:00\"}", &r);
    assert_int_equal(r.status, 400);
    th_resp_free(&r);
    th_call_tok(&srv, "GET", "/api/v1/me/push/quiet-hours", tok, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "zone")), "+08:00");
    th_resp_free(&r);

    seq = citizen_item(false);
    /* Held: due at the end of the window (about an hour away), never sent now. */
    wait_sql("SELECT COUNT(*) FROM push_queue WHERE last_error = 'quiet hours'", 1);
    assert_true(th_sqlf(&srv, "SELECT due_ms FROM push_queue WHERE seq = %lld", seq) >
                th_now_ms() + 30 * 60000);
    json_decref(log_lines("okquiet00001", 0, &n));
    assert_int_equal(n, 0);
    /* An urgent case passes. */
    seq = citizen_item(true);
    {
        json_t *line = wait_push("okquiet00001", 200);
        json_t *payload = json_object_get(line, "payload");
        assert_int_equal(json_integer_value(json_object_get(payload, "seq")), seq);
        assert_string_equal(json_string_value(json_object_get(json_object_get(line, "headers"),
                                                              "apns-collapse-id")),
                            "cityd.urgent");
        json_decref(line);
    }
    th_call_tok(&srv, "DELETE", "/api/v1/me/push/quiet-hours", tok, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);
    free(tok);
}

static void logout_removes_the_registration(void **state)
{
    struct th_resp r;
    char *tok;

    clean();
    tok = ios_device("phone-logout", "oklogout0001");
    assert_int_equal(device_rows("oklogout0001"), 1);
    th_call_tok(&srv, "POST", "/api/v1/auth/logout", tok, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);
    assert_int_equal(device_rows("oklogout0001"), 0);
    free(tok);
}

/* A push still undelivered push.max_age_s after its item (here: Apple away and the row made
 * two days old) goes to the dead letters instead of being sent late. */
static void expired_push_is_a_dead_letter(void **state)
{
    long long seq;
    int n;
    char *tok;

    clean();
    tok = ios_device("phone-expired", "okexpired001");
    standin_stop();
    seq = citizen_item(false);
    wait_sql("SELECT COUNT(*) FROM push_queue WHERE attempts >= 1", 1);
    th_sql_exec(&srv, "UPDATE push_queue SET created_ms = created_ms - 2 * 86400000");
    standin_start(standin_port);
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM push_dead_letters WHERE device_id ="
                             " 'phone-expired' AND seq = %lld AND reason LIKE 'undelivered%%'",
                             seq),
                     1);
    json_decref(log_lines("okexpired001", 0, &n));
    assert_int_equal(n, 0);
    free(tok);
}

/* Two processes on one database (two nodes), both claiming in batches of 4 while 24 pushes
 * become due at once: every push is sent once — no device gets the same item twice — and all
 * are sent. (Which process sends how many is up to timing; the test does not require both.) */
static void two_processes_send_each_push_once(void **state)
{
    char dev[32], tok[32], *t[8];
    long long dups;

    clean();
    th_sql_exec(&srv, "DELETE FROM push_sent");
    for (int i = 0; i < 8; i++) {
        snprintf(dev, sizeof dev, "phone-multi-%d", i);
        snprintf(tok, sizeof tok, "okmulti000%d", i);
        t[i] = ios_device(dev, tok);
    }
    th_server_twin(&twin, &srv);
    standin_stop(); /* both processes find the rows due and race for them when it is back */
    for (int i = 0; i < 3; i++)
        citizen_item(false);
    wait_sql("SELECT COUNT(*) FROM push_queue WHERE attempts >= 1", 24);
    standin_start(standin_port);
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    dups = th_sql_int(&srv, "SELECT COUNT(*) FROM (SELECT device_id, seq FROM push_sent"
                            " GROUP BY device_id, seq HAVING COUNT(*) > 1) x");
    assert_int_equal(dups, 0);
    /* Each device was woken with its newest item, and Apple saw each sent push once. */
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(DISTINCT device_id) FROM push_sent WHERE seq = %lld",
                             citizen_head()),
                     8);
    for (int i = 0; i < 8; i++) {
        int n;
        snprintf(tok, sizeof tok, "okmulti000%d", i);
        snprintf(dev, sizeof dev, "phone-multi-%d", i);
        long long sent =
            th_sqlf(&srv, "SELECT COUNT(*) FROM push_sent WHERE device_id = '%s'", dev);
        /* The stand-in writes its log every 20 ms: wait for the last lines. */
        for (int k = 0; k < 200; k++) {
            json_decref(log_lines(tok, 200, &n));
            if (n >= sent)
                break;
            usleep(25000);
        }
        assert_int_equal(n, sent);
        free(t[i]);
    }
    assert_int_equal(th_server_stop(&twin), 0);
    twin.pid = 0;
}

/* Per-user rate limit (push.user_rate = 3, push.user_urgent_rate = 5 here): a device that
 * had its three pushes this minute gets no more work items until the minute ends; an urgent
 * item still goes (its own budget); when the minute ends the held items go as one push that
 * says how many it stands for. The count lives in push_rate, where every process reads it:
 * the test writes "three pushes, just now" there, as another process would have. */
static void user_rate_limit_holds_and_merges(void **state)
{
    long long dev, seq1, seq2, urgent_seq;
    json_t *line, *payload;
    int n;
    char *tok;

    clean();
    tok = ios_device("phone-flood", "okflood00001");
    dev = th_sql_int(&srv, "SELECT id FROM push_devices WHERE token = 'okflood00001'");
    {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "INSERT INTO push_rate (device_row, urgent, window_ms, sent) VALUES (%lld, 0,"
                 " UNIX_TIMESTAMP(NOW(3)) * 1000, 3)",
                 dev);
        th_sql_exec(&srv, sql);
    }
    seq1 = citizen_item(false);
    seq2 = citizen_item(false);
    /* Both held until the end of the minute; nothing went to Apple. */
    wait_sql("SELECT COUNT(*) FROM push_queue WHERE last_error = 'user rate limit'", 2);
    assert_true(th_sqlf(&srv, "SELECT MIN(due_ms) FROM push_queue WHERE device_row = %lld", dev) >
                th_now_ms() + 30000);
    json_decref(log_lines("okflood00001", 0, &n));
    assert_int_equal(n, 0);
    /* An urgent item is not held back by the work items' budget. */
    urgent_seq = citizen_item(true);
    line = wait_push("okflood00001", 200);
    payload = json_object_get(line, "payload");
    assert_int_equal(json_integer_value(json_object_get(payload, "seq")), urgent_seq);
    assert_null(json_object_get(payload, "count"));
    json_decref(line);
    assert_int_equal(
        th_sqlf(&srv, "SELECT sent FROM push_rate WHERE device_row = %lld AND urgent = 1", dev), 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM push_queue WHERE device_row = %lld AND"
                             " seq IN (%lld, %lld)",
                             dev, seq1, seq2),
                     2);
    /* The minute ends (moved back rather than waited for): the two held items go as one push
     * carrying the newest seq and the count. */
    {
        char sql[300];
        snprintf(sql, sizeof sql,
                 "UPDATE push_rate SET window_ms = window_ms - 60000 WHERE device_row = %lld AND"
                 " urgent = 0",
                 dev);
        th_sql_exec(&srv, sql);
        snprintf(sql, sizeof sql, "UPDATE push_queue SET due_ms = 0 WHERE device_row = %lld", dev);
        th_sql_exec(&srv, sql);
    }
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    for (int i = 0; i < 200; i++) { /* the stand-in writes its log every 20 ms */
        json_decref(log_lines("okflood00001", 200, &n));
        if (n == 2)
            break;
        usleep(25000);
    }
    assert_int_equal(n, 2);
    line = log_lines("okflood00001", 200, &n);
    payload = json_object_get(line, "payload");
    assert_int_equal(json_integer_value(json_object_get(payload, "seq")), seq2);
    assert_int_equal(json_integer_value(json_object_get(payload, "count")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(payload, "aps"), "alert"), "title")),
                        "2条新通知");
    json_decref(line);
    /* A new minute began with that push. */
    assert_int_equal(
        th_sqlf(&srv, "SELECT sent FROM push_rate WHERE device_row = %lld AND urgent = 0", dev), 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM push_sent WHERE device_id = 'phone-flood' AND"
                             " seq = %lld",
                             seq2),
                     1);
    free(tok);
}

/* 3,000 pushes, one HTTP/2 connection: the stand-in (Node's http2, nghttp2 1.61) answers a
 * client that sends RST_STREAM on finished streams with GOAWAY after about 1,000 of them
 * (rapid-reset limit), which libcurl 7.88 did for every push (server/ext/push.c). All 3,000
 * answers carry one session number. */
static void one_connection_for_3000_pushes(void **state)
{
    long long uid = citizen_id(), sessions = -1, seen = 0, t0;
    size_t len;
    char *text, *save = NULL;

    clean();
    th_sql_exec(&srv, "DELETE FROM push_sent");
    {
        char sql[700];
        snprintf(sql, sizeof sql,
                 "INSERT INTO push_devices (user_id, device_id, family, platform, vendor, token,"
                 " app_version, locale) SELECT %lld, CONCAT('many-', seq), 'manyfamily', 'ios',"
                 " 'apns', CONCAT('okmany', LPAD(seq, 6, '0')), '1.0', 'zh-CN' FROM"
                 " seq_1_to_3000",
                 uid);
        th_sql_exec(&srv, sql);
        th_sql_exec(&srv,
                    "INSERT INTO push_queue (device_row, user_id, seq, kind, ref_id, vendor,"
                    " created_ms, due_ms) SELECT id, user_id, 1, 'case.dispatched', 1, 'apns',"
                    " UNIX_TIMESTAMP(NOW(3)) * 1000, UNIX_TIMESTAMP(NOW(3)) * 1000 FROM"
                    " push_devices WHERE family = 'manyfamily'");
    }
    /* Up to 3 minutes: batches of 4 on a loaded machine are slow. (A run that slow also
     * refills nghttp2's reset budget by 6,000, so it would not catch a regression; at the
     * usual 5-15 s it does.) */
    t0 = th_now_ms();
    for (int i = 0; i < 7200 && th_sql_int(&srv, "SELECT COUNT(*) FROM push_queue") > 0; i++)
        usleep(25000);
    print_message("3,000 pushes sent in %.1f s\n", (double)(th_now_ms() - t0) / 1000.0);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_queue"), 0);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_sent WHERE device_id LIKE"
                                      " 'many-%' AND attempts = 1"),
                     3000);
    for (int k = 0; k < 200 && seen < 3000; k++) { /* the log is written every 20 ms */
        usleep(25000);
        text = th_read_file(standin_log, &len);
        seen = 0;
        sessions = -1;
        save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            json_t *j = json_loads(l, 0, NULL);
            const char *t = json_string_value(json_object_get(j, "token"));
            if (t && strncmp(t, "okmany", 6) == 0) {
                long long sess = json_integer_value(json_object_get(j, "session"));
                assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
                if (sessions < 0)
                    sessions = sess;
                assert_int_equal(sess, sessions); /* the same HTTP/2 session throughout */
                seen++;
            }
            json_decref(j);
        }
        free(text);
    }
    assert_int_equal(seen, 3000);
    th_sql_exec(&srv, "DELETE FROM push_devices WHERE family = 'manyfamily'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registration_rules),
        cmocka_unit_test(delivered_with_ids_only),
        cmocka_unit_test(acked_in_band_is_not_pushed),
        cmocka_unit_test(invalid_tokens_remove_the_device),
        cmocka_unit_test(throttled_and_failed_pushes_are_retried),
        cmocka_unit_test(refused_push_is_a_dead_letter),
        cmocka_unit_test(outage_queues_and_loses_nothing),
        cmocka_unit_test(restart_with_pushes_queued),
        cmocka_unit_test(quiet_hours_hold_work_not_urgent),
        cmocka_unit_test(logout_removes_the_registration),
        cmocka_unit_test(expired_push_is_a_dead_letter),
        cmocka_unit_test(two_processes_send_each_push_once),
        cmocka_unit_test(user_rate_limit_holds_and_merges),
        cmocka_unit_test(one_connection_for_3000_pushes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
