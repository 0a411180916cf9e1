/* tests/e2e/ops_metrics_test.c: GET /metrics on its own listener (metrics.listen) after a mixed
 * load — versions read, unknown paths, bad tokens, good, wrong and locked-out log-ins, a photo,
 * reports — parsed by the Prometheus client's text-format parser (tools/prom_parse.py), and
 * every counter checked against what the load did. Also: peers outside metrics.allow get 403,
 * and the API listener does not serve /metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include "harness.h"
#include "th_assert.h"

static struct th_server srv;
static int mport;

#define IN_GRID1 "\"location\":{\"lat\":31.305,\"lng\":120.605}"
#define CAT_0102 "\"code_set\":\"gbt30428\",\"full_code\":\"0102\",\"kind\":\"event\""

static int metrics_port(const struct th_server *s)
{
    char path[512];
    int api = 0, port = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/port", s->dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d metrics %d", &api, &port), 2);
    fclose(f);
    assert_true(port > 0 && port != api);
    return port;
}

struct body {
    char *p;
    size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t n = size * nmemb;
    char *np = realloc(b->p, b->n + n + 1);
    assert_non_null(np);
    b->p = np;
    memcpy(b->p + b->n, ptr, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* GET url with HTTP/1.1; returns the status and the body (malloc'd) in *out. */
static long http_get(const char *url, char **out, char *ctype, size_t ctlen)
{
    CURL *c = curl_easy_init();
    struct body b = {0};
    long status = 0;
    char *ct = NULL;

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ctype)
        snprintf(ctype, ctlen, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    *out = b.p ? b.p : strdup("");
    return status;
}

/* Scrape, check the format with the real parser, and return the samples. */
static json_t *scrape(const char *tag)
{
    char url[64], path[512], jpath[512], ctype[128];
    char *text;
    FILE *f;
    json_t *j;

    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", mport);
    assert_int_equal(http_get(url, &text, ctype, sizeof ctype), 200);
    assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
    snprintf(path, sizeof path, "%s/metrics-%s.txt", srv.dir, tag);
    snprintf(jpath, sizeof jpath, "%s/metrics-%s.json", srv.dir, tag);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
    assert_int_equal(th_sh("/usr/bin/python3 %s %s > %s",
                           th_source_path("tests/e2e/tools/prom_parse.py"), path, jpath),
                     0);
    j = json_load_file(jpath, 0, NULL);
    assert_non_null(j);
    return j;
}

static double val(json_t *m, const char *key)
{
    json_t *v = json_object_get(m, key);
    return v ? json_number_value(v) : 0;
}

static double delta(json_t *a, json_t *b, const char *key)
{
    double d = val(b, key) - val(a, key);
    print_message("  %-100s %+g\n", key, d);
    return d;
}

static void login_raw(const char *account, const char *password, long expect)
{
    struct th_resp r;
    th_login(&srv, account, password, "metrics-dev", &r);
    assert_int_equal(r.status, expect);
    th_resp_free(&r);
}

static void test_counters_follow_the_load(void **state)
{
    json_t *a, *b;
    struct th_resp r;
    const char *insp = th_token(&srv, "inspector");
    char path[512], body[512], auth[9000];
    size_t photo_len;
    char *photo;
    const char *media;

    th_token(&srv, "citizen");
    a = scrape("before");
    /* Process-wide series are there from the start. */
    {
        const char *k;
        json_t *v;
        int builds = 0;
        json_object_foreach(a, k, v)
        {
            if (strncmp(k, "cityd_build_info{", 17) == 0 && json_number_value(v) == 1)
                builds++;
        }
        assert_int_equal(builds, 1);
    }
    assert_true(val(a, "process_resident_memory_bytes{}") > 1e6);
    assert_true(val(a, "cityd_workpool_threads{pool=db}") == 4);

    for (int i = 0; i < 7; i++) {
        th_request(&srv, "GET", "/api/v1/version", NULL, NULL, 0, 0, &r);
        assert_int_equal(r.status, 200);
        th_resp_free(&r);
    }
    for (int i = 0; i < 3; i++) {
        th_request(&srv, "GET", "/no/such/thing", NULL, NULL, 0, i ? 0 : TH_HTTP1, &r);
        assert_int_equal(r.status, 404);
        th_resp_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        th_get(&srv, "/api/v1/me", "not-a-jwt", &r);
        assert_int_equal(r.status, 401);
        th_resp_free(&r);
    }
    /* auth.lockout_threshold = 3: three wrong passwords, then the account is locked. */
    for (int i = 0; i < 3; i++)
        login_raw(th_username(&srv, "leader"), "wrong-password", 401);
    login_raw(th_username(&srv, "leader"), "wrong-password", 423);
    login_raw(th_username(&srv, "dispatcher"), th_password(&srv, "dispatcher"), 200);

    snprintf(path, sizeof path, "%s/p.jpg", srv.dir);
    assert_int_equal(th_sh("vips black %s/b.v 640 480 --bands 3 && vips copy %s/b.v '%s[Q=80]'",
                           srv.dir, srv.dir, path),
                     0);
    photo = th_read_file(path, &photo_len);
    assert_non_null(photo);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", insp);
    {
        const char *hs[] = {auth, "Content-Type: image/jpeg", NULL};
        th_request(&srv, "POST", "/api/v1/media", hs, photo, photo_len, 0, &r);
    }
    th_expect(&r, 201, NULL);
    media = json_string_value(json_object_get(r.json, "id"));
    assert_non_null(media);
    snprintf(body, sizeof body,
             "{" CAT_0102 ",\"description\":\"井盖缺失\"," IN_GRID1 ",\"photos\":[\"%s\"]}", media);
    th_resp_free(&r);
    for (int i = 0; i < 2; i++) {
        th_post_json(&srv, "/api/v1/cases", insp, body, &r);
        th_expect(&r, 201, NULL);
        th_resp_free(&r);
    }

    b = scrape("after");
    print_message("deltas:\n");
    assert_true(
        delta(a, b, "cityd_http_requests_total{code=2xx,method=GET,route=/api/v1/version}") == 7);
    assert_true(
        delta(a, b,
              "cityd_http_request_duration_seconds_count{method=GET,route=/api/v1/version}") == 7);
    assert_true(delta(a, b,
                      "cityd_http_request_duration_seconds_bucket{le=+Inf,method=GET,route=/api/"
                      "v1/version}") == 7);
    assert_true(delta(a, b, "cityd_http_requests_total{code=4xx,method=GET,route=unmatched}") == 3);
    assert_true(delta(a, b, "cityd_http_requests_total{code=4xx,method=GET,route=/api/v1/me}") ==
                2);
    assert_true(delta(a, b, "cityd_auth_tokens_rejected_total{reason=malformed}") == 2);
    assert_true(
        delta(a, b, "cityd_http_requests_total{code=4xx,method=POST,route=/api/v1/auth/login}") ==
        4);
    assert_true(
        delta(a, b, "cityd_http_requests_total{code=2xx,method=POST,route=/api/v1/auth/login}") ==
        1);
    assert_true(delta(a, b, "cityd_auth_logins_total{outcome=rejected}") == 3);
    assert_true(delta(a, b, "cityd_auth_logins_total{outcome=throttled}") == 1);
    assert_true(delta(a, b, "cityd_auth_logins_total{outcome=ok}") == 1);
    assert_true(delta(a, b, "cityd_auth_login_throttled_total{reason=account_locked}") == 1);
    assert_true(
        delta(a, b, "cityd_http_requests_total{code=2xx,method=POST,route=/api/v1/media}") == 1);
    assert_true(
        delta(a, b, "cityd_http_requests_total{code=2xx,method=POST,route=/api/v1/cases}") == 2);
    assert_true(delta(a, b, "cityd_media_image_jobs_total{outcome=ok}") == 1);
    assert_true(delta(a, b, "cityd_media_image_input_bytes_total{}") == (double)photo_len);
    assert_true(delta(a, b, "cityd_media_image_output_bytes_total{}") > 0);
    assert_true(delta(a, b, "cityd_media_store_written_bytes_total{}") > 0);
    assert_true(delta(a, b, "cityd_media_store_writes_total{}") == 3); /* three renditions */
    /* Five log-ins ran on the password pool; reports and tokens on the database pool. */
    assert_true(delta(a, b, "cityd_workpool_jobs_total{pool=password}") == 5);
    assert_true(delta(a, b, "cityd_workpool_queue_wait_seconds_count{pool=password}") == 5);
    assert_true(delta(a, b, "cityd_workpool_jobs_total{pool=db}") >= 4);
    assert_true(delta(a, b, "cityd_workpool_jobs_total{pool=media}") == 1);
    assert_true(delta(a, b, "cityd_db_statement_duration_seconds_count{verb=INSERT}") >= 2);
    assert_true(delta(a, b, "cityd_db_statement_duration_seconds_count{verb=COMMIT}") >= 2);
    assert_true(delta(a, b, "cityd_metrics_scrapes_total{}") == 1);
    /* The unknown path was asked once over HTTP/1.1 (a new connection), the rest over h2c. */
    assert_true(delta(a, b, "cityd_http_version_requests_total{version=1.1}") == 1);
    assert_true(delta(a, b, "cityd_http_version_requests_total{version=2}") >= 7 + 2 + 2 + 5 + 3);
    assert_true(delta(a, b, "cityd_connections_accepted_total{protocol=http}") >= 1);
    /* A connection held open shows in the gauge, and leaves it when closed. */
    {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        double open_now = -1;
        json_t *c;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        for (int i = 0; i < 50 && open_now < 1; i++) {
            usleep(20000);
            c = scrape("held");
            open_now = val(c, "cityd_connections_open{protocol=http}");
            json_decref(c);
        }
        assert_true(open_now >= 1);
        close(fd);
        for (int i = 0; i < 100 && open_now > 0; i++) {
            usleep(30000);
            c = scrape("closed");
            open_now = val(c, "cityd_connections_open{protocol=http}");
            json_decref(c);
        }
        assert_true(open_now == 0);
    }
    /* Nothing runs now: the gauges are back at rest (not the database pool's: periodic jobs
     * run there at any time). */
    assert_true(val(b, "cityd_workpool_running_jobs{pool=media}") == 0);
    assert_true(val(b, "cityd_workpool_queued_jobs{pool=media}") == 0);
    assert_true(val(b, "cityd_workpool_running_jobs{pool=password}") == 0);
    assert_true(val(b, "cityd_workpool_queued_jobs{pool=password}") == 0);
    free(photo);
    json_decref(a);
    json_decref(b);
}

static void test_not_public(void **state)
{
    struct th_server other;
    char url[64], sock[108], note[256];
    struct sockaddr_un sa;
    struct timeval tv = {.tv_sec = 10};
    ssize_t n;
    int nfd;
    char *text;
    struct th_resp r;

    /* The API listener has no /metrics. */
    th_request(&srv, "GET", "/metrics", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 404);
    th_resp_free(&r);

    /* A peer outside metrics.allow gets 403 and no numbers. This server also runs as systemd
     * would start it (Type=notify): READY=1 once serving, STOPPING=1 on SIGTERM. */
    snprintf(sock, sizeof sock, "/tmp/cityd-notify-%d.sock", (int)getpid());
    unlink(sock);
    nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(nfd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    assert_int_equal(bind(nfd, (struct sockaddr *)&sa, sizeof sa), 0);
    setsockopt(nfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setenv("NOTIFY_SOCKET", sock, 1);
    th_server_start(&other, "metrics.listen = 127.0.0.1:0\nmetrics.allow = 10.0.0.0/8, fd00::/8\n");
    unsetenv("NOTIFY_SOCKET");
    n = recv(nfd, note, sizeof note - 1, 0);
    assert_true(n > 0);
    note[n] = '\0';
    assert_non_null(strstr(note, "READY=1"));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", metrics_port(&other));
    assert_int_equal(http_get(url, &text, NULL, 0), 403);
    assert_null(strstr(text, "cityd_"));
    free(text);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/other", mport);
    assert_int_equal(http_get(url, &text, NULL, 0), 404);
    free(text);
    assert_int_equal(th_server_stop(&other), 0);
    n = recv(nfd, note, sizeof note - 1, 0);
    assert_true(n > 0);
    note[n] = '\0';
    assert_non_null(strstr(note, "STOPPING=1"));
    close(nfd);
    unlink(sock);
}

/* One HTTP/1.1 keep-alive connection, read response by response (Content-Length bodies). */
struct h1 {
    int fd;
    char buf[65536];
    size_t n;
};

static void h1_open(struct h1 *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    struct timeval tv = {10, 0};

    c->n = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void h1_send(struct h1 *c, const char *req)
{
    size_t len = strlen(req), off = 0;
    while (off < len) {
        ssize_t w = write(c->fd, req + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
}

/* The next response: its status; its body copied to body (cap bytes, NUL-terminated). */
static int h1_response(struct h1 *c, char *body, size_t cap)
{
    char *end;
    size_t head, clen = 0;
    const char *cl;
    int status = 0;

    for (;;) {
        c->buf[c->n] = '\0';
        end = strstr(c->buf, "\r\n\r\n");
        if (end) {
            head = (size_t)(end - c->buf) + 4;
            cl = strcasestr(c->buf, "\r\ncontent-length:");
            assert_true(cl && cl < end);
            clen = strtoul(cl + 17, NULL, 10);
            if (c->n >= head + clen)
                break;
        }
        assert_true(c->n < sizeof c->buf - 1);
        ssize_t r = read(c->fd, c->buf + c->n, sizeof c->buf - 1 - c->n);
        assert_true(r > 0);
        c->n += (size_t)r;
    }
    assert_int_equal(sscanf(c->buf, "HTTP/1.1 %d", &status), 1);
    if (body) {
        size_t k = clen < cap - 1 ? clen : cap - 1;
        memcpy(body, c->buf + head, k);
        body[k] = '\0';
    }
    memmove(c->buf, c->buf + head + clen, c->n - head - clen);
    c->n -= head + clen;
    return status;
}

/* h2o stops reading a keep-alive HTTP/1.1 connection while it answers; cityd parks the read
 * instead of stopping it (server/http/readpark.c, no epoll_ctl per request). Sequential,
 * pipelined and mid-request input must all be answered, in order, and the counters show which
 * path each took. */
static void test_http1_reads_parked(void **state)
{
    const char *insp = th_token(&srv, "inspector");
    char req[9000], body[4096];
    json_t *a, *b;
    struct h1 c;
    int i;
    (void)state;

    a = scrape("park-before");
    h1_open(&c);
    for (i = 0; i < 400; i++) {
        h1_send(&c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(h1_response(&c, body, sizeof body), 200);
        assert_non_null(strstr(body, "\"ok\""));
    }
    /* Three requests in one write: the second and third wait in h2o's buffer, not the kernel. */
    h1_send(&c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /api/v1/version HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(h1_response(&c, body, sizeof body), 200);
    assert_int_equal(h1_response(&c, body, sizeof body), 200);
    assert_non_null(strstr(body, "\"version\""));
    assert_int_equal(h1_response(&c, body, sizeof body), 404);
    assert_non_null(strstr(body, "\"request_id\""));

    /* Input while parked: /me waits for the locked users table on a worker while the next
     * request arrives; the read is then stopped for real and resumed after the answer. */
    assert_int_equal(th_sh("mariadb --no-defaults -uroot --socket=%s %s -e 'LOCK TABLES users "
                           "WRITE; DO SLEEP(1.5); UNLOCK TABLES' >/dev/null 2>&1 &",
                           srv.socket, srv.dbname),
                     0);
    usleep(300000);
    snprintf(req, sizeof req,
             "GET /api/v1/me HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n\r\n", insp);
    h1_send(&c, req);
    usleep(300000);
    h1_send(&c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(h1_response(&c, body, sizeof body), 200);
    assert_non_null(strstr(body, "\"username\""));
    assert_int_equal(h1_response(&c, body, sizeof body), 200);
    assert_non_null(strstr(body, "\"ok\""));
    close(c.fd);

    b = scrape("park-after");
    /* A loop adds its counts in steps of 64: up to 63 of this connection's may not show yet. */
    assert_true(delta(a, b, "cityd_http_read_parks_total{outcome=parked}") >= 404 - 63);
    assert_true(delta(a, b, "cityd_http_read_parks_total{outcome=resumed}") >= 404 - 63);
    assert_true(delta(a, b, "cityd_http_read_parks_total{outcome=stopped_for_input}") >= 1);
    json_decref(a);
    json_decref(b);
}

static int setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    th_server_start(&srv, "metrics.listen = 127.0.0.1:0\nauth.lockout_threshold = 3\n");
    th_seed(&srv);
    mport = metrics_port(&srv);
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_follow_the_load),
        cmocka_unit_test(test_not_public),
        cmocka_unit_test(test_http1_reads_parked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
