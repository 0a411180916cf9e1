/* tests/e2e/tls_test.c: HTTP/2 over TLS negotiated with ALPN when a certificate is configured;
 * plain HTTP keeps working beside it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "harness.h"

static struct th_server srv;
static char dir[256];
static int tls_port;

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t l = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static int setup(void **state)
{
    char extra[1024];
    snprintf(dir, sizeof dir, "/tmp/cityd-tls-%d", (int)getpid());
    if (th_sh("mkdir -p %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
              "-nodes -keyout %s/key.pem -out %s/cert.pem -days 1 -subj /CN=localhost "
              "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
              dir, dir, dir) != 0)
        th_die("openssl could not make a test certificate");
    tls_port = free_port();
    snprintf(
        extra, sizeof extra,
        "http.tls_listen = 127.0.0.1:%d\nhttp.tls_cert = %s/cert.pem\nhttp.tls_key = %s/key.pem\n",
        tls_port, dir, dir);
    th_server_start(&srv, extra);
    return 0;
}

static int teardown(void **state)
{
    th_sh("rm -rf %s", dir);
    return th_server_stop(&srv);
}

static void h2_over_tls_with_alpn(void **state)
{
    char out[300];
    snprintf(out, sizeof out, "%s/curl.txt", dir);
    assert_int_equal(th_sh("curl -sS -v --cacert %s/cert.pem --http2 -o %s/body.json "
                           "https://localhost:%d/readyz --resolve localhost:%d:127.0.0.1 2>%s",
                           dir, dir, tls_port, tls_port, out),
                     0);
    assert_int_equal(th_sh("grep -q 'ALPN: server accepted h2' %s", out), 0);
    assert_int_equal(th_sh("grep -q '< HTTP/2 200' %s", out), 0);
    assert_int_equal(th_sh("grep -q '\"ready\"' %s/body.json", dir), 0);
    /* TLS 1.1 and older are refused. */
    assert_int_not_equal(th_sh("curl -s --cacert %s/cert.pem --tls-max 1.1 -o /dev/null "
                               "https://localhost:%d/healthz --resolve localhost:%d:127.0.0.1",
                               dir, tls_port, tls_port),
                         0);
}

static void cleartext_still_served(void **state)
{
    struct th_resp r;
    th_request(&srv, "GET", "/healthz", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(h2_over_tls_with_alpn),
        cmocka_unit_test(cleartext_still_served),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
