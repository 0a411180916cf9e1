/* tests/e2e/system_test.c: /healthz, /readyz, /api/v1/version, routing errors and malformed
 * HTTP, through the real binary over h2c and HTTP/1.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <regex.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

static struct th_server srv;

static int setup(void **state)
{
    th_server_start(&srv, NULL);
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

static void healthz_over_h2c_and_http1(void **state)
{
    struct th_resp r;
    char rid[64];

    th_request(&srv, "GET", "/healthz", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    assert_true(th_header(&r, "x-request-id", rid, sizeof rid));
    assert_int_equal(strlen(rid), 16);
    th_resp_free(&r);

    th_request(&srv, "GET", "/healthz", NULL, NULL, 0, TH_HTTP1, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
}

/* Many answers on one HTTP/2 connection share its HPACK state: the request id is sent without
 * entering the header table (server/http/hpack.c), the other headers through h2o's encoder.
 * Every answer must still decode with its own id, content type and, for errors, no-store. */
static void request_ids_on_one_h2_connection(void **state)
{
    json_t *reqs = json_array(), *res;
    char seen[60][17];

    for (int i = 0; i < 60; i++)
        json_array_append_new(reqs, json_pack("{s:s}", "path",
                                              i % 3 == 0   ? "/api/v1/version"
                                              : i % 3 == 1 ? "/api/v1/no-such-path"
                                                           : "/healthz"));
    res = th_burst(&srv, reqs);
    for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *a = json_array_get(res, i), *h = json_object_get(a, "headers"), *body;
        const char *rid = json_string_value(json_object_get(h, "x-request-id"));
        const char *ctype = json_string_value(json_object_get(h, "content-type"));

        assert_non_null(rid);
        assert_int_equal(strlen(rid), 16);
        /* base62 only: a character outside it would mean a byte mapped without its check */
        assert_int_equal(
            strspn(rid, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), 16);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(seen[k], rid);
        snprintf(seen[i], sizeof seen[i], "%s", rid);
        assert_non_null(ctype);
        assert_string_equal(ctype, "application/json; charset=utf-8");
        if (i % 3 == 1) {
            assert_int_equal(json_integer_value(json_object_get(a, "status")), 404);
            assert_string_equal(json_string_value(json_object_get(h, "cache-control")), "no-store");
            body = json_loads(json_string_value(json_object_get(a, "body")), 0, NULL);
            assert_non_null(body);
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(body, "error"), "request_id")),
                rid);
            json_decref(body);
        } else {
            assert_int_equal(json_integer_value(json_object_get(a, "status")), 200);
        }
    }
    assert_int_equal(json_array_size(res), 60);
    json_decref(res);
    json_decref(reqs);
}

static void readyz_when_schema_current(void **state)
{
    struct th_resp r;
    th_request(&srv, "GET", "/readyz", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ready");
    th_resp_free(&r);
    th_request(&srv, "GET", "/readyz", NULL, NULL, 0, TH_HTTP1, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
}

static void version_names_build(void **state)
{
    struct th_resp r;
    th_request(&srv, "GET", "/api/v1/version", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "cityd");
    assert_string_equal(json_string_value(json_object_get(r.json, "api")), "v1");
    assert_non_null(json_string_value(json_object_get(r.json, "version")));
    th_resp_free(&r);
}

static void unknown_path_is_404_json(void **state)
{
    struct th_resp r;
    char rid[64];
    json_t *e;

    th_request(&srv, "GET", "/api/v1/nothing-here", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(th_error_code(&r), "not_found");
    e = json_object_get(r.json, "error");
    assert_non_null(json_string_value(json_object_get(e, "message")));
    assert_true(th_header(&r, "x-request-id", rid, sizeof rid));
    assert_string_equal(json_string_value(json_object_get(e, "request_id")), rid);
    th_resp_free(&r);
}

/* The access line of a request, byte for byte the format log_access_emit has always written:
 * keys in this order, the query string left out, the error code of a refusal. */
static void access_log_line_format(void **state)
{
    struct th_resp r;
    char rid[64], pattern[512], *line = NULL;
    size_t cap = 0;
    regex_t re;
    FILE *f;
    int found = 0;

    th_request(&srv, "GET", "/api/v1/nothing-here?token=secret", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 404);
    assert_true(th_header(&r, "x-request-id", rid, sizeof rid));
    th_resp_free(&r);
    /* the loops flush their access lines every 100 ms */
    assert_true(th_log_wait(srv.log, rid, 1) >= 1);
    snprintf(
        pattern, sizeof pattern,
        "^\\{\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\","
        "\"level\":\"info\",\"module\":\"access\",\"rid\":\"%s\",\"method\":\"GET\","
        "\"path\":\"/api/v1/nothing-here\",\"proto\":\"HTTP/(2|1\\.1)\",\"ip\":\"127\\.0\\.0\\.1\","
        "\"status\":404,\"bytes\":[1-9][0-9]*,\"duration_ms\":[0-9]+\\.[0-9]{3},"
        "\"error\":\"not_found\"\\}$",
        rid);
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    f = fopen(srv.log, "r");
    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (!strstr(line, rid) || !strstr(line, "\"module\":\"access\""))
            continue;
        if (regexec(&re, line, 0, NULL, 0) != 0)
            fail_msg("access line not in the documented format: %s", line);
        found++;
    }
    fclose(f);
    free(line);
    regfree(&re);
    assert_int_equal(found, 1);
}

static void wrong_method_is_405_with_allow(void **state)
{
    struct th_resp r;
    char allow[64];

    th_request(&srv, "DELETE", "/healthz", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(th_error_code(&r), "method_not_allowed");
    assert_true(th_header(&r, "allow", allow, sizeof allow));
    assert_string_equal(allow, "GET");
    th_resp_free(&r);
}

static void head_is_answered_like_get(void **state)
{
    struct th_resp r;
    th_request(&srv, "HEAD", "/healthz", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    th_resp_free(&r);
}

static void body_on_bodiless_route_is_413(void **state)
{
    struct th_resp r;
    const char *hs[] = {"Content-Type: application/json", NULL};
    th_request(&srv, "GET", "/readyz", hs, "{\"a\":1}", 7, 0, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(th_error_code(&r), "payload_too_large");
    th_resp_free(&r);
}

/* Raw socket helpers for malformed HTTP/1.1. */
static int raw_connect(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int raw_status(const char *req, size_t len)
{
    int fd = raw_connect();
    char buf[4096];
    ssize_t n;
    int status = 0;
    size_t off = 0;

    while (off < len) {
        ssize_t w = write(fd, req + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0; /* closed without an answer */
    buf[n] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

static void malformed_http1_is_rejected_and_server_lives(void **state)
{
    static const char garbage[] = "GARBAGE\r\n\r\n";
    static const char bad_version[] = "GET /healthz HTTP/9.9\r\n\r\n";
    static const char bad_header[] = "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n";
    int st;
    struct th_resp r;

    st = raw_status(garbage, sizeof garbage - 1);
    assert_true(st == 400 || st == 0);
    st = raw_status(bad_version, sizeof bad_version - 1);
    assert_true(st == 400 || st == 505 || st == 0);
    st = raw_status(bad_header, sizeof bad_header - 1);
    assert_true(st == 400 || st == 0);

    th_request(&srv, "GET", "/healthz", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
}

static void oversized_headers_are_rejected(void **state)
{
    size_t big = 70000;
    char *req = malloc(big + 128);
    int n = snprintf(req, 128, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    int st;
    struct th_resp r;

    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 4);
    st = raw_status(req, (size_t)n + big + 4);
    free(req);
    assert_int_equal(st, 431);

    /* Far beyond h2o's own parser limit: it answers or closes, but never a 200. */
    big = 600000;
    req = malloc(big + 128);
    n = snprintf(req, 128, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 4);
    st = raw_status(req, (size_t)n + big + 4);
    free(req);
    assert_true(st != 200 && st != -1);

    th_request(&srv, "GET", "/healthz", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
}

static void json_nested_10000_deep_is_400_quickly(void **state)
{
    char auth[9000], *body;
    const char *hs[] = {"Content-Type: application/json", auth, NULL};
    long long before = th_sql_int(&srv, "SELECT COUNT(*) FROM cases");
    struct th_resp r;

    snprintf(auth, sizeof auth, "Authorization: Bearer %s", th_token(&srv, "inspector"));
    body = malloc(10001);
    memset(body, '[', 10000);
    body[10000] = '\0';
    th_request(&srv, "POST", "/api/v1/cases", hs, body, 10000, 0, &r);
    free(body);
    assert_int_equal(r.status, 400);
    assert_string_equal(th_error_code(&r), "invalid_argument");
    assert_non_null(strstr(r.body, "nested"));
    assert_true(r.seconds < 1.0);
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM cases"), before);
}

/* `cityd user add`: the first admin of a real deployment, password from the environment. */
static void user_add_creates_an_admin(void **state)
{
    char out[400];
    struct th_resp r;

    snprintf(out, sizeof out, "%s/useradd.log", srv.dir);
    assert_int_equal(th_sh("CITYD_PASSWORD='Town-Hall-2026-x' %s -c %s user add --username chief "
                           "--role admin,leader --display-name 总管 >%s 2>&1",
                           th_cityd_bin(), srv.cfgpath, out),
                     0);
    th_login(&srv, "chief", "Town-Hall-2026-x", "cli", &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    assert_int_equal(th_sql_int(&srv, "SELECT roles FROM users WHERE username = 'chief'"),
                     128 + 64);
    /* A weak password, an unknown role and a taken name are refused and change nothing. */
    assert_int_equal(th_sh("CITYD_PASSWORD=short %s -c %s user add --username weak --role admin "
                           ">%s 2>&1",
                           th_cityd_bin(), srv.cfgpath, out),
                     1);
    assert_int_equal(th_sh("CITYD_PASSWORD='Town-Hall-2026-x' %s -c %s user add --username boss "
                           "--role emperor >%s 2>&1",
                           th_cityd_bin(), srv.cfgpath, out),
                     2);
    assert_int_equal(th_sh("CITYD_PASSWORD='Town-Hall-2026-yz' %s -c %s user add --username chief "
                           "--role admin >%s 2>&1",
                           th_cityd_bin(), srv.cfgpath, out),
                     1);
    assert_int_equal(
        th_sql_int(&srv, "SELECT COUNT(*) FROM users WHERE username IN ('weak', 'boss', 'chief')"),
        1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthz_over_h2c_and_http1),
        cmocka_unit_test(request_ids_on_one_h2_connection),
        cmocka_unit_test(readyz_when_schema_current),
        cmocka_unit_test(version_names_build),
        cmocka_unit_test(unknown_path_is_404_json),
        cmocka_unit_test(access_log_line_format),
        cmocka_unit_test(wrong_method_is_405_with_allow),
        cmocka_unit_test(head_is_answered_like_get),
        cmocka_unit_test(body_on_bodiless_route_is_413),
        cmocka_unit_test(malformed_http1_is_rejected_and_server_lives),
        cmocka_unit_test(oversized_headers_are_rejected),
        cmocka_unit_test(json_nested_10000_deep_is_400_quickly),
        cmocka_unit_test(user_add_creates_an_admin),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
