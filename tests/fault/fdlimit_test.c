/* tests/fault/fdlimit_test.c: cityd runs out of file descriptors. Its limit is lowered to 256
 * while it runs (prlimit --pid), then a thousand clients connect and stay silent.
 * Checked: the shortage is logged ("http: accept: ..."), a line a second at most per loop (no
 * log storm); the loops do not spin on the failing accept (a loop pauses its listener; cityd
 * uses less than half a core of CPU while the connections stay open — a busy loop takes a whole
 * one); cityd stays alive; when the clients leave, requests are served again. Run twice: with
 * the loops accepting from one shared socket (http.accept = shared, the default: a pausing loop
 * closes only its dup, the socket stays open for the other loop) and with a SO_REUSEPORT
 * socket per loop (http.accept = reuseport). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

#define CLIENTS 1000

static struct th_server srv;

static int start(const char *extra)
{
    struct rlimit rl = {4096, 4096};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        th_die("cannot raise the test's own descriptor limit");
    th_server_start(&srv, extra);
    return 0;
}

static int setup_shared(void **state)
{
    (void)state;
    return start(NULL);
}

static int setup_reuseport(void **state)
{
    (void)state;
    return start("http.accept = reuseport\n");
}

static int teardown(void **state)
{
    (void)state;
    return th_server_stop(&srv);
}

/* utime + stime of cityd, in clock ticks. */
static long long cpu_ticks(void)
{
    char path[64], buf[2048], *p;
    long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)srv.pid);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    assert_non_null(p);
    /* fields after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime(14) stime(15) */
    assert_int_equal(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut, &st), 2);
    return ut + st;
}

static long healthz(void)
{
    struct th_resp r;
    long st;
    th_request(&srv, "GET", "/healthz", NULL, NULL, 0, 0, &r);
    st = r.status;
    th_resp_free(&r);
    return st;
}

static void thousand_connections_past_256_descriptors(void **state)
{
    static int fds[CLIENTS];
    struct sockaddr_in sa = {0};
    long long t0, t1;
    int connected = 0, lines;
    double hold = 3.0;
    long tck = sysconf(_SC_CLK_TCK);
    (void)state;

    assert_int_equal(healthz(), 200);
    assert_int_equal(th_sh("prlimit --pid %d --nofile=256:256", (int)srv.pid), 0);
    assert_int_equal(th_sh("grep -q 'Max open files *256 *256' /proc/%d/limits", (int)srv.pid), 0);

    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)srv.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fds[i] >= 0);
        if (connect(fds[i], (struct sockaddr *)&sa, sizeof sa) == 0)
            connected++;
    }
    usleep(500000); /* let the loops accept what they can */
    t0 = cpu_ticks();
    usleep((useconds_t)(hold * 1e6));
    t1 = cpu_ticks();
    lines = th_log_wait(srv.log, "http: accept: ", 1);
    fprintf(stderr,
            "fdlimit_test: %d of %d connects completed at once; cityd CPU %.2f s over %.1f s; %d "
            "accept-error lines\n",
            connected, CLIENTS, (double)(t1 - t0) / (double)tck, hold, lines);
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    assert_true(lines >= 1);
    /* a line a second at most per loop (2 loops) over the whole time so far, plus slack */
    assert_true(lines <= 2 * 8);
    /* one spinning loop alone would burn the whole hold time */
    assert_true((double)(t1 - t0) / (double)tck < hold * 0.8);
    assert_int_equal(th_sh("kill -0 %d", (int)srv.pid), 0);
    /* Back once the clients are gone (cityd closes their connections as it reads EOF). */
    for (int i = 0; i < 100 && healthz() != 200; i++)
        usleep(100000);
    assert_int_equal(healthz(), 200);
    {
        struct th_resp r;
        th_get(&srv, "/api/v1/version", NULL, &r);
        assert_int_equal(r.status, 200);
        th_resp_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thousand_connections_past_256_descriptors),
    };
    int failed = cmocka_run_group_tests_name("http.accept = shared", tests, setup_shared, teardown);
    return failed +
           cmocka_run_group_tests_name("http.accept = reuseport", tests, setup_reuseport, teardown);
}
