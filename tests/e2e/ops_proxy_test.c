/* tests/e2e/ops_proxy_test.c: cityd behind a reverse proxy (http.trusted_proxies). From a
 * trusted peer the client is the right-most X-Forwarded-For entry that is not a trusted proxy,
 * so the source-address throttle of log-ins counts each client on its own and a client cannot
 * pick its address by writing the header itself; without the setting the header is ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "harness.h"
#include "th_assert.h"

/* auth.lockout_threshold = 2: a source address is throttled after 2 × 4 = 8 failures. */
#define CONFIG "auth.lockout_threshold = 2\n"
#define SOURCE_LIMIT 8

static long login_from(struct th_server *s, const char *xff, int n)
{
    char hdr[200], body[200];
    const char *hs[] = {"Content-Type: application/json", xff ? hdr : NULL, NULL};
    struct th_resp r;
    long status;

    snprintf(hdr, sizeof hdr, "X-Forwarded-For: %s", xff ? xff : "");
    snprintf(body, sizeof body,
             "{\"account\":\"nobody%d\",\"password\":\"wrong-password\",\"device_id\":\"d\","
             "\"platform\":\"android\"}",
             n);
    th_request(s, "POST", "/api/v1/auth/login", hs, body, strlen(body), 0, &r);
    status = r.status;
    th_resp_free(&r);
    return status;
}

static void test_trusted_proxy(void **state)
{
    struct th_server s;
    int n = 0;

    th_server_start(&s, CONFIG "http.trusted_proxies = 127.0.0.0/8, ::1\n");
    for (int i = 0; i < SOURCE_LIMIT; i++)
        assert_int_equal(login_from(&s, "203.0.113.7", n++), 401);
    /* That client is throttled now ... */
    assert_int_equal(login_from(&s, "203.0.113.7", n++), 429);
    /* ... another one is not, */
    assert_int_equal(login_from(&s, "198.51.100.9", n++), 401);
    /* what a client writes left of the proxy's entry does not matter, */
    assert_int_equal(login_from(&s, "198.51.100.11, 203.0.113.7", n++), 429);
    assert_int_equal(login_from(&s, "203.0.113.7, 198.51.100.10", n++), 401);
    /* a chain of trusted proxies is skipped, and several header fields are one list. */
    assert_int_equal(login_from(&s, "203.0.113.7, 127.0.0.5", n++), 429);
    {
        char body[200];
        const char *hs[] = {"Content-Type: application/json", "X-Forwarded-For: 203.0.113.7",
                            "X-Forwarded-For: 127.0.0.9", NULL};
        struct th_resp r;
        snprintf(body, sizeof body,
                 "{\"account\":\"nobody%d\",\"password\":\"wrong-password\",\"device_id\":\"d\","
                 "\"platform\":\"android\"}",
                 n++);
        th_request(&s, "POST", "/api/v1/auth/login", hs, body, strlen(body), TH_HTTP1, &r);
        assert_int_equal(r.status, 429);
        th_resp_free(&r);
    }
    /* Garbage in the header: the last address known (the proxy) stands. */
    assert_int_equal(login_from(&s, "not-an-address", n++), 401);
    /* The access log names the client, not the proxy. */
    assert_int_equal(th_sh("grep -q '\"ip\":\"203.0.113.7\"' %s", s.log), 0);
    assert_int_equal(th_server_stop(&s), 0);
}

static void test_untrusted_header_ignored(void **state)
{
    struct th_server s;
    char xff[64];

    th_server_start(&s, CONFIG);
    /* Without http.trusted_proxies every failure is the TCP peer's, whatever the header says. */
    for (int i = 0; i < SOURCE_LIMIT; i++) {
        snprintf(xff, sizeof xff, "198.51.100.%d", i + 1);
        assert_int_equal(login_from(&s, xff, i), 401);
    }
    assert_int_equal(login_from(&s, "198.51.100.200", 99), 429);
    assert_int_not_equal(th_sh("grep -q '198.51.100' %s", s.log), 0);
    assert_int_equal(th_server_stop(&s), 0);
}

static void test_bad_setting_stops_start(void **state)
{
    struct th_server s;

    th_server_start(&s, NULL);
    /* A second cityd on the same config plus a bad block refuses to start, naming the key. */
    assert_int_equal(
        th_sh("cp %s %s/bad.conf && printf 'http.trusted_proxies = 10.0.0.0/40\\n' >> %s/bad.conf"
              " && { %s -c %s/bad.conf serve 2>%s/bad.err; test $? -ne 0; }"
              " && grep -q 'http.trusted_proxies' %s/bad.err",
              s.cfgpath, s.dir, s.dir, th_cityd_bin(), s.dir, s.dir, s.dir),
        0);
    assert_int_equal(th_server_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trusted_proxy),
        cmocka_unit_test(test_untrusted_header_ignored),
        cmocka_unit_test(test_bad_setting_stops_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
