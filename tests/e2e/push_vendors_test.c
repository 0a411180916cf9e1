/* tests/e2e/push_vendors_test.c: offline push through Huawei, Honor, Xiaomi, OPPO, vivo and
 * WeChat subscription messages, end to end — the real cityd against one local stand-in that
 * answers each vendor's API with its auth scheme, JSON and codes
 * (tests/e2e/tools/push_vendors_standin.py; the device token chooses the answer).
 *
 * The citizen registers one device per vendor, so every inbox item (case.accepted, made by
 * real case actions) goes out through all six at once. Checked per vendor: delivered with
 * the vendor's fields (Huawei category WORK, vivo system classification and requestId, Xiaomi
 * 私信 channel and a delivery receipt, …) and ids only; a dead token removes the device
 * (Xiaomi's through its receipt callback); throttling and server errors are retried and
 * delivered; a refused message is a dead letter; an outage queues and loses nothing (and the
 * access tokens the vendor forgot are fetched again); pushes queued across a restart of cityd
 * are delivered. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"

#define NV 6
static const char *const vendors[NV] = {"huawei", "honor", "xiaomi", "oppo", "vivo", "wechat"};
/* What each vendor answers when it took the message, as its log line's code. */
static const char *const ok_code[NV] = {"80000000", "200", "0", "0", "0", "0"};
static const char *const busy_code[NV] = {"503", "503", "10034", "33", "10070", "45009"};
static const char *const fail_code[NV] = {"81000001", "81000001", "-1", "-2", "500", "-1"};

static struct th_server srv;
static pid_t standin_pid;
static int standin_port;
static char tmpdir[128], standin_log[200], honor_receipt[200];

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        th_die("no free port");
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void standin_start(int port)
{
    char portfile[200], p[16];
    FILE *f;

    snprintf(portfile, sizeof portfile, "%s/port", tmpdir);
    snprintf(p, sizeof p, "%d", port);
    unlink(portfile);
    standin_pid = fork();
    if (standin_pid < 0)
        th_die("fork failed");
    if (standin_pid == 0) {
        execl("/usr/bin/python3", "python3",
              th_source_path("tests/e2e/tools/push_vendors_standin.py"), "--port", p, "--port-file",
              portfile, "--log", standin_log, "--honor-receipt-url", honor_receipt, (char *)NULL);
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
    th_die("vendor stand-in did not start");
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
    char cfg[3000];
    int http_port = free_port();

    snprintf(tmpdir, sizeof tmpdir, "/tmp/cityd-push-vendors-XXXXXX");
    if (!mkdtemp(tmpdir))
        th_die("mkdtemp failed");
    snprintf(standin_log, sizeof standin_log, "%s/vendors.log", tmpdir);
    /* Honor's receipt address is set in its console; the stand-in is told it. */
    snprintf(honor_receipt, sizeof honor_receipt,
             "http://127.0.0.1:%d/api/v1/push/receipts/honor?key=rk-7f3a9c", http_port);
    standin_start(0);
#define BASE "http://127.0.0.1:%d"
    snprintf(cfg, sizeof cfg,
             "http.listen = 127.0.0.1:%d\n"
             "push.receipt_url = http://127.0.0.1:%d\npush.receipt_key = rk-7f3a9c\n"
             "push.ack_grace_s = 1\npush.retry_max_s = 2\ndb.pool_size = 4\n"
             "push.huawei.base_url = " BASE "\npush.huawei.auth_url = " BASE "/oauth2/v3/token\n"
             "push.huawei.app_id = hw-app-1\npush.huawei.client_secret = hw-secret\n"
             "push.honor.base_url = " BASE "\npush.honor.auth_url = " BASE "/auth/token\n"
             "push.honor.app_id = ho-app-1\npush.honor.client_id = ho-client\n"
             "push.honor.client_secret = ho-secret\n"
             "push.xiaomi.base_url = " BASE "\npush.xiaomi.app_secret = xm-secret\n"
             "push.xiaomi.package = cn.gov.city.app\npush.xiaomi.channel_id = work_im\n"
             "push.oppo.base_url = " BASE "\npush.oppo.app_key = op-key\n"
             "push.oppo.master_secret = op-master\npush.oppo.channel_id = work\n"
             "push.vivo.base_url = " BASE "\npush.vivo.app_id = 10001\n"
             "push.vivo.app_key = vv-key\npush.vivo.app_secret = vv-secret\n"
             "wechat.base_url = " BASE "\nwechat.appid = wxcitydtest0001\n"
             "wechat.secret = wx-secret\npush.wechat.template_id = TPL-task-1\n"
             "push.wechat.page = pages/task/detail\n",
             http_port, http_port, standin_port, standin_port, standin_port, standin_port,
             standin_port, standin_port, standin_port, standin_port);
#undef BASE
    th_server_start(&srv, cfg);
    th_seed(&srv);
    return 0;
}

static int teardown(void **state)
{
    int rc = th_server_stop(&srv);
    standin_stop();
    th_sh("rm -rf %s", tmpdir);
    return rc;
}

/* ---- helpers ------------------------------------------------------------------------------ */

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

static long long citizen_item(void)
{
    long long head = citizen_head(), id = th_report_as(&srv, "citizen", NULL);

    th_act(&srv, "operator", id, NULL, "\"action\":\"accept\"");
    for (int i = 0; i < 400 && citizen_head() == head; i++)
        usleep(25000);
    assert_true(citizen_head() > head);
    return citizen_head();
}

static void token_of(char *out, size_t n, const char *prefix, int v)
{
    snprintf(out, n, "%s-%s-0001", prefix, vendors[v]);
}

/* One device of the citizen per vendor, tokens "<prefix>-<vendor>-0001" (WeChat: the
 * account's openid). */
static void register_all(const char *prefix)
{
    char tok[96], dev[96], body[400];
    struct th_resp r;

    th_sql_exec(&srv, "DELETE FROM push_devices");
    for (int v = 0; v < NV; v++) {
        const char *platform = v == 5 ? "miniprogram" : "android";
        char *access;
        token_of(tok, sizeof tok, prefix, v);
        snprintf(dev, sizeof dev, "%s-phone-%s", prefix, vendors[v]);
        if (v == 5)
            th_sql_execf(&srv, "UPDATE users SET wechat_openid = '%s' WHERE id = %lld", tok,
                         citizen_id());
        th_login(&srv, th_username(&srv, "citizen"), th_password(&srv, "citizen"), dev, &r);
        assert_int_equal(r.status, 200);
        access = strdup(json_string_value(json_object_get(r.json, "access_token")));
        th_resp_free(&r);
        snprintf(body, sizeof body,
                 "{\"platform\":\"%s\",\"vendor\":\"%s\",\"token\":\"%s\",\"app_version\":"
                 "\"2.0.0\",\"locale\":\"zh-CN\"}",
                 platform, vendors[v], v == 5 ? "ignored-for-wechat" : tok);
        th_call_tok(&srv, "POST", "/api/v1/me/devices/push", access, NULL, NULL, body, &r);
        if (r.status != 201)
            fail_msg("register %s: %ld %s", vendors[v], r.status, r.body);
        th_resp_free(&r);
        free(access);
    }
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices"), NV);
}

static void code_text(json_t *c, char *out, size_t n)
{
    if (json_is_string(c))
        snprintf(out, n, "%s", json_string_value(c));
    else
        snprintf(out, n, "%lld", (long long)json_integer_value(c));
}

/* The last stand-in line of vendor for token with code (NULL: any code); *count how many. */
static json_t *lines(const char *vendor, const char *token, const char *code, int *count)
{
    size_t len;
    char *text, *save = NULL, c[32];
    json_t *last = NULL;
    FILE *f = fopen(standin_log, "r");

    *count = 0;
    if (!f)
        return NULL;
    fclose(f);
    text = th_read_file(standin_log, &len);
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(l, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "token"));
        code_text(json_object_get(j, "code"), c, sizeof c);
        if (j && t && strcmp(t, token) == 0 &&
            strcmp(json_string_value(json_object_get(j, "vendor")), vendor) == 0 &&
            (!code || strcmp(c, code) == 0)) {
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

static json_t *wait_line(const char *vendor, const char *token, const char *code)
{
    int n;
    for (int i = 0; i < 800; i++) {
        json_t *j = lines(vendor, token, code, &n);
        if (j)
            return j;
        usleep(25000);
    }
    fail_msg("%s: no answer %s for %s", vendor, code ? code : "at all", token);
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

/* ---- tests -------------------------------------------------------------------------------- */

static void each_vendor_delivers_ids_only(void **state)
{
    char tok[96];
    long long seq;
    json_t *l, *rq;

    register_all("okd");
    seq = citizen_item();
    for (int v = 0; v < NV; v++) {
        token_of(tok, sizeof tok, "okd", v);
        l = wait_line(vendors[v], tok, ok_code[v]);
        rq = json_object_get(l, "request");
        {
            char *text = json_dumps(rq, 0);
            assert_null(strstr(text, "垃圾")); /* the case's description never leaves */
            free(text);
        }
        switch (v) {
        case 0: { /* Huawei: self-classified as work, ids in data */
            json_t *msg = json_object_get(rq, "message");
            json_t *data = json_loads(json_string_value(json_object_get(msg, "data")), 0, NULL);
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(msg, "android"), "category")),
                "WORK");
            assert_int_equal(json_integer_value(json_object_get(data, "seq")), seq);
            json_decref(data);
            break;
        }
        case 1: /* Honor: the timestamp header */
            assert_non_null(json_object_get(json_object_get(l, "headers"), "timestamp"));
            break;
        case 2: { /* Xiaomi: the 私信 channel, a notification, the receipt callback */
            json_t *p = json_loads(json_string_value(json_object_get(rq, "payload")), 0, NULL);
            assert_string_equal(json_string_value(json_object_get(rq, "extra.channel_id")),
                                "work_im");
            assert_string_equal(json_string_value(json_object_get(rq, "pass_through")), "0");
            assert_non_null(json_object_get(rq, "extra.callback"));
            assert_int_equal(json_integer_value(json_object_get(p, "seq")), seq);
            json_decref(p);
            break;
        }
        case 3: { /* OPPO: the service channel, the receipt URL and our message id */
            json_t *n = json_object_get(rq, "notification");
            assert_string_equal(json_string_value(json_object_get(n, "channel_id")), "work");
            assert_non_null(strstr(json_string_value(json_object_get(n, "call_back_url")),
                                   "/api/v1/push/receipts/oppo?key=rk-7f3a9c"));
            assert_int_equal(strlen(json_string_value(json_object_get(n, "call_back_parameter"))),
                             32);
            break;
        }
        case 4: /* vivo: a system message, work category, our request id, the receipt URL */
            assert_int_equal(json_integer_value(json_object_get(rq, "classification")), 1);
            assert_string_equal(json_string_value(json_object_get(rq, "category")), "TODO");
            assert_int_equal(strlen(json_string_value(json_object_get(rq, "requestId"))), 32);
            assert_non_null(
                strstr(json_string_value(json_object_get(json_object_get(rq, "extra"), "callback")),
                       "/api/v1/push/receipts/vivo?key=rk-7f3a9c"));
            break;
        case 5: /* WeChat: to the openid, the template's title field */
            assert_string_equal(json_string_value(json_object_get(rq, "touser")), tok);
            assert_string_equal(
                json_string_value(json_object_get(
                    json_object_get(json_object_get(rq, "data"), "thing1"), "value")),
                "新任务");
            break;
        }
        json_decref(l);
    }
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM push_sent WHERE seq = %lld", seq), NV);
    /* Xiaomi's, Honor's, OPPO's and vivo's delivery receipts came back, each in its vendor's
     * form, and marked the send record of that message (and no other). */
    wait_sql("SELECT COUNT(*) FROM push_sent WHERE vendor = 'xiaomi' AND receipt = 'delivered'", 1);
    wait_sql("SELECT COUNT(*) FROM push_sent WHERE vendor = 'honor' AND receipt = 'delivered'", 1);
    wait_sql("SELECT COUNT(*) FROM push_sent WHERE vendor = 'oppo' AND receipt = 'delivered'", 1);
    wait_sql("SELECT COUNT(*) FROM push_sent WHERE vendor = 'vivo' AND receipt = 'delivered'", 1);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_sent WHERE receipt IS NOT NULL"
                                      " AND vendor IN ('huawei', 'wechat')"),
                     0);
}

static void dead_tokens_remove_devices(void **state)
{
    char tok[96];

    register_all("gone");
    citizen_item();
    for (int v = 0; v < NV; v++) {
        token_of(tok, sizeof tok, "gone", v);
        json_decref(wait_line(vendors[v], tok, NULL));
    }
    /* Xiaomi accepted and reported the dead regId to the receipt endpoint afterwards. */
    wait_sql("SELECT COUNT(*) FROM push_devices", 0);
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_dead_letters"), 0);
}

static void receipts_need_the_key(void **state)
{
    struct th_resp r;
    const char *hs[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    const char *json[] = {"Content-Type: application/json", NULL};
    const char *body = "data=%7B%7D";

    th_request(&srv, "POST", "/api/v1/push/receipts/xiaomi?key=wrong", hs, body, strlen(body),
               TH_HTTP1, &r);
    assert_int_equal(r.status, 404);
    th_resp_free(&r);
    th_request(&srv, "POST", "/api/v1/push/receipts/huawei", json, "{}", 2, TH_HTTP1, &r);
    assert_int_equal(r.status, 404);
    th_resp_free(&r);
    th_request(&srv, "POST", "/api/v1/push/receipts/huawei?key=rk-7f3a9c", json, "{}", 2, TH_HTTP1,
               &r);
    assert_int_equal(r.status, 400);
    th_resp_free(&r);
    {
        static const char *const paths[] = {"honor", "oppo", "vivo"};
        static const char *const bad[] = {"{}", "{}", "[]"}; /* valid JSON of the wrong shape */
        char path[96];
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "/api/v1/push/receipts/%s?key=wrong", paths[i]);
            th_request(&srv, "POST", path, json, "[]", 2, TH_HTTP1, &r);
            assert_int_equal(r.status, 404);
            th_resp_free(&r);
            snprintf(path, sizeof path, "/api/v1/push/receipts/%s?key=rk-7f3a9c", paths[i]);
            th_request(&srv, "POST", path, json, bad[i], 2, TH_HTTP1, &r);
            assert_int_equal(r.status, 400);
            assert_string_equal(th_error_code(&r), "invalid_argument");
            th_resp_free(&r);
        }
    }
    /* A dead regId in OPPO's receipt removes that registration (the rest of the registry
     * stays); unknown message ids change nothing. */
    {
        long long before;
        const char *rb;
        register_all("okr");
        before = th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices");
        rb = "[{\"messageId\":\"nope\",\"registrationIds\":\"okr-oppo-0001, nosuch\","
             "\"eventType\":\"regid_invalid\"},{\"messageId\":\"nope\",\"eventType\":"
             "\"push_arrive\"}]";
        th_request(&srv, "POST", "/api/v1/push/receipts/oppo?key=rk-7f3a9c", json, rb, strlen(rb),
                   TH_HTTP1, &r);
        assert_int_equal(r.status, 200);
        th_resp_free(&r);
        assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices"), before - 1);
        assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices WHERE vendor ="
                                          " 'oppo'"),
                         0);
        th_sql_exec(&srv, "DELETE FROM push_devices");
    }
}

static void throttled_and_failing_vendors_are_retried(void **state)
{
    char tok[96];
    long long seq;

    register_all("busy");
    seq = citizen_item();
    for (int v = 0; v < NV; v++) {
        token_of(tok, sizeof tok, "busy", v);
        json_decref(wait_line(vendors[v], tok, busy_code[v]));
        json_decref(wait_line(vendors[v], tok, ok_code[v]));
    }
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM push_sent WHERE seq = %lld AND attempts = 2", seq), NV);

    register_all("fail");
    seq = citizen_item();
    for (int v = 0; v < NV; v++) {
        token_of(tok, sizeof tok, "fail", v);
        json_decref(wait_line(vendors[v], tok, fail_code[v]));
        json_decref(wait_line(vendors[v], tok, ok_code[v]));
    }
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM push_sent WHERE seq = %lld AND attempts = 2", seq), NV);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_devices"), NV);
}

static void refused_messages_are_dead_letters(void **state)
{
    long long before = th_sql_int(&srv, "SELECT COUNT(*) FROM push_dead_letters"), seq;

    register_all("rej");
    seq = citizen_item();
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_dead_letters"), before + NV);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(DISTINCT vendor) FROM push_dead_letters WHERE seq = %lld", seq),
        NV);
}

/* Every vendor away: the pushes wait and all arrive once they are back (the access tokens
 * they issued before are gone with them: fetched again). */
static void outage_queues_and_loses_nothing(void **state)
{
    char tok[96];
    long long seq;

    register_all("oko");
    standin_stop();
    seq = citizen_item();
    wait_sql("SELECT COUNT(*) FROM push_queue WHERE attempts >= 1", NV);
    standin_start(standin_port);
    for (int v = 0; v < NV; v++) {
        token_of(tok, sizeof tok, "oko", v);
        json_decref(wait_line(vendors[v], tok, ok_code[v]));
    }
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM push_sent WHERE seq = %lld", seq), NV);
}

static void restart_with_pushes_queued(void **state)
{
    char tok[96];
    long long seq;
    int status = -1;

    register_all("okr");
    standin_stop();
    seq = citizen_item();
    wait_sql("SELECT COUNT(*) FROM push_queue WHERE attempts >= 1", NV);
    kill(srv.pid, SIGTERM);
    assert_int_equal(waitpid(srv.pid, &status, 0), srv.pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM push_queue"), NV);
    standin_start(standin_port);
    th_server_restart(&srv);
    for (int v = 0; v < NV; v++) {
        token_of(tok, sizeof tok, "okr", v);
        json_decref(wait_line(vendors[v], tok, ok_code[v]));
    }
    wait_sql("SELECT COUNT(*) FROM push_queue", 0);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM push_sent WHERE seq = %lld", seq), NV);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_vendor_delivers_ids_only),
        cmocka_unit_test(dead_tokens_remove_devices),
        cmocka_unit_test(receipts_need_the_key),
        cmocka_unit_test(throttled_and_failing_vendors_are_retried),
        cmocka_unit_test(refused_messages_are_dead_letters),
        cmocka_unit_test(outage_queues_and_loses_nothing),
        cmocka_unit_test(restart_with_pushes_queued),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
