/* tests/e2e/im_test.c: instant messaging (api/conversations.c, api/domain/conversation.c, the
 * IM frames of the gateway) through real clients: npm's `ws` and Node's fetch, driven by
 * tests/e2e/tools/im_scenarios.js, against the real cityd. This file starts the server, hands
 * the scenarios its URLs and logins, and checks what only the server side can see (rows,
 * kill -9 and restart). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "th_assert.h"

#define EXTRA_USER "im_municipal_handler"
#define EXTRA_PASS "Shizheng-Chuzhi-2026!"

static struct th_server srv;
static long long sanitation, municipal;
static char cfg_path[400];

static void write_config(void)
{
    th_client_config(&srv, "im-scenarios.json",
                     json_pack("{s:I,s:I,s:{s:s,s:s}}", "sanitation", (json_int_t)sanitation,
                               "municipal", (json_int_t)municipal, "extra", "username", EXTRA_USER,
                               "password", EXTRA_PASS),
                     cfg_path, sizeof cfg_path);
}

static int setup(void **state)
{
    char body[512];
    struct th_resp r;

    th_server_start(&srv, "testing.clock_control = true\n");
    th_seed(&srv);
    sanitation = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'sanitation'");
    municipal = th_sql_int(&srv, "SELECT id FROM departments WHERE code = 'municipal'");
    /* A handler of 市政, for the case room's re-dispatch. */
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"password\":\"%s\",\"display_name\":\"市政处置员\","
             "\"roles\":[\"handler\"],\"department_id\":%lld}",
             EXTRA_USER, EXTRA_PASS, municipal);
    th_post_json(&srv, "/api/v1/admin/users", th_token(&srv, "admin"), body, &r);
    th_expect(&r, 201, NULL);
    th_resp_free(&r);
    write_config();
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

static int scenario(const char *name)
{
    return th_sh("node %s %s %s", th_source_path("tests/e2e/tools/im_scenarios.js"), name,
                 cfg_path);
}

static long long sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sql_int(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return th_sql_int(&srv, sql);
}

static void offline_replay(void **state)
{
    assert_int_equal(scenario("offline_replay"), 0);
    /* Stored once in the conversation, once in each member's inbox. */
    assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE client_id LIKE 'off-%%'"), 6);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM inbox_items i JOIN messages m ON i.dedupe ="
                             " CONCAT('c:', m.id) WHERE m.client_id LIKE 'off-%%'"),
                     12);
}

static void idempotent(void **state)
{
    assert_int_equal(scenario("idempotent"), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE client_id = 'idem-1'"), 1);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM inbox_items i JOIN messages m ON i.dedupe ="
                             " CONCAT('c:', m.id) WHERE m.client_id = 'idem-1'"),
                     2);
}

static void non_member(void **state)
{
    assert_int_equal(scenario("non_member"), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE client_id LIKE 'nm-%%'"), 0);
}

static void recall(void **state)
{
    assert_int_equal(scenario("recall"), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE client_id = 'rc-1' AND"
                             " recalled_at IS NOT NULL"),
                     1);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE client_id = 'rc-2' AND"
                             " recalled_at IS NULL"),
                     1);
}

static void case_room(void **state)
{
    assert_int_equal(scenario("case_room"), 0);
    /* The old handler's membership is kept as history (left_at), not deleted. */
    assert_int_equal(sql_int("SELECT COUNT(*) FROM conversation_members m JOIN users u ON"
                             " u.id = m.user_id JOIN conversations c ON c.id = m.conversation_id"
                             " WHERE c.kind = 'case' AND u.username = 'handler' AND"
                             " m.left_at IS NOT NULL"),
                     1);
}

static void presence(void **state)
{
    assert_int_equal(scenario("presence"), 0);
    /* Last seen is stored, never for citizens. */
    assert_int_equal(sql_int("SELECT COUNT(*) FROM user_presence p JOIN users u ON"
                             " u.id = p.user_id WHERE u.username = 'inspector'"),
                     1);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM user_presence p JOIN users u ON"
                             " u.id = p.user_id WHERE u.username = 'citizen'"),
                     0);
}

/* Presence across nodes: a twin cityd on the same database holds the inspector's socket, the
 * dispatcher asks this one; the scenario kills the twin (-9) to see its sockets expire. */
static void presence_across_nodes(void **state)
{
    struct th_server twin;
    struct th_resp r;
    char ws2[256];
    int status;

    th_server_twin(&twin, &srv);
    th_get(&twin, "/api/v1/version", NULL, &r);
    th_expect(&r, 200, NULL);
    snprintf(ws2, sizeof ws2, "%s", th_jstr(r.json, "ws_url"));
    th_resp_free(&r);
    assert_int_equal(th_sh("node %s presence_nodes %s %s %d",
                           th_source_path("tests/e2e/tools/im_scenarios.js"), cfg_path, ws2,
                           (int)twin.pid),
                     0);
    assert_int_equal(waitpid(twin.pid, &status, 0), twin.pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    twin.pid = 0;
    assert_int_equal(th_server_stop(&twin), 0); /* reaped already: frees the client side */
    th_clock_offset(&srv, 0);
    /* Each node has its row; the killed one stays (and its counts) until an hour has passed. */
    assert_true(sql_int("SELECT COUNT(*) FROM ws_nodes") >= 2);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM ws_user_sockets s JOIN users u ON"
                             " u.id = s.user_id WHERE u.username = 'inspector'"),
                     1);
}

static void announcement_stats(void **state)
{
    assert_int_equal(scenario("announcement_stats"), 0);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM announcement_recipients r JOIN users u ON"
                             " u.id = r.user_id WHERE u.username = 'handler' AND r.read_at IS"
                             " NOT NULL"),
                     1);
}

static void attachments(void **state)
{
    assert_int_equal(scenario("attachments"), 0);
    /* The recall detached the clip from the message: no member reaches it any more. */
    assert_int_equal(sql_int("SELECT COUNT(*) FROM media_attachments a JOIN messages m ON"
                             " a.owner_type = 'message' AND a.owner_id = m.id WHERE"
                             " m.client_id = 'at-1'"),
                     0);
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

/* kill -9 of cityd twice while a conversation goes on: every message the sender saw
 * acknowledged is stored exactly once, and the recipient's inbox holds each exactly once, in
 * order, without a gap. */
static void kill9_conversation(void **state)
{
    char urlf[400], outf[400], cmd[2400], body[128], acked[8192] = "";
    long long conv, dispatcher, inspector;
    struct th_resp r;
    FILE *p, *f;
    const int count = 40;

    dispatcher = sql_int("SELECT id FROM users WHERE username = 'dispatcher'");
    inspector = sql_int("SELECT id FROM users WHERE username = 'inspector'");
    snprintf(body, sizeof body, "{\"kind\":\"group\",\"title\":\"夜班\",\"members\":[%lld]}",
             inspector);
    th_post_json(&srv, "/api/v1/conversations", th_token(&srv, "dispatcher"), body, &r);
    if (r.status != 200 && r.status != 201)
        fail_msg("open: %ld %s", r.status, r.body);
    conv = th_jint(r.json, "id");
    th_resp_free(&r);
    snprintf(urlf, sizeof urlf, "%s/im-url", srv.dir);
    snprintf(outf, sizeof outf, "%s/im-sender.out", srv.dir);
    write_url_file(urlf);
    snprintf(cmd, sizeof cmd, "node %s sender %s %s %lld %d > %s",
             th_source_path("tests/e2e/tools/im_scenarios.js"), cfg_path, urlf, conv, count, outf);
    p = popen(cmd, "w");
    assert_non_null(p);
    for (int k = 0; k < 2; k++) {
        /* Mid-conversation: wait for a few messages, then kill. */
        long long before =
            sql_int("SELECT COUNT(*) FROM messages WHERE conversation_id = %lld", conv);
        for (int i = 0; i < 100 && sql_int("SELECT COUNT(*) FROM messages WHERE"
                                           " conversation_id = %lld",
                                           conv) < before + 8;
             i++)
            usleep(50000);
        kill(srv.pid, SIGKILL);
        th_server_restart(&srv);
        write_config();
        write_url_file(urlf);
    }
    assert_int_equal(pclose(p), 0);
    f = fopen(outf, "r");
    assert_non_null(f);
    assert_non_null(fgets(acked, sizeof acked, f));
    fclose(f);
    /* Every acknowledged client id once; nothing more. */
    for (int i = 0; i < count; i++) {
        char want[32];
        snprintf(want, sizeof want, "\"k9-%d\"", i);
        assert_non_null(strstr(acked, want));
        assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE sender_id = %lld AND"
                                 " client_id = 'k9-%d'",
                                 dispatcher, i),
                         1);
    }
    assert_int_equal(sql_int("SELECT COUNT(*) FROM messages WHERE conversation_id = %lld", conv),
                     count);
    /* Seqs 1..count without holes, each message once in each member's inbox. */
    assert_int_equal(sql_int("SELECT MAX(seq) - MIN(seq) + 1 FROM messages WHERE"
                             " conversation_id = %lld",
                             conv),
                     count);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM inbox_items i JOIN messages m ON i.dedupe ="
                             " CONCAT('c:', m.id) AND i.user_id = %lld WHERE m.conversation_id ="
                             " %lld",
                             inspector, conv),
                     count);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM (SELECT user_id, dedupe FROM inbox_items"
                             " WHERE dedupe IS NOT NULL GROUP BY user_id, dedupe HAVING"
                             " COUNT(*) > 1) d"),
                     0);
    assert_int_equal(th_sh("node %s receiver %s %lld %d",
                           th_source_path("tests/e2e/tools/im_scenarios.js"), cfg_path, conv,
                           count),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(offline_replay),
        cmocka_unit_test(idempotent),
        cmocka_unit_test(non_member),
        cmocka_unit_test(recall),
        cmocka_unit_test(case_room),
        cmocka_unit_test(presence),
        cmocka_unit_test(presence_across_nodes),
        cmocka_unit_test(announcement_stats),
        cmocka_unit_test(attachments),
        cmocka_unit_test(kill9_conversation),
    };
    if (getenv("IM_TEST_ONLY")) /* one test while debugging: IM_TEST_ONLY=recall */
        cmocka_set_test_filter(getenv("IM_TEST_ONLY"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
