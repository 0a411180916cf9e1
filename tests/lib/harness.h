/* tests/lib/harness.h: the e2e test harness.
 *
 * th_server_start() makes a fresh database on the test MariaDB (started once per ctest run by
 * the `mariadb` fixture; its socket is in CITYD_TEST_DB_SOCKET), writes a config file and
 * spawns the real cityd binary on a free port, then waits for /healthz. th_server_stop()
 * sends SIGTERM and checks the exit status, so a sanitizer report fails the test.
 * Requests go through libcurl over HTTP/2 with prior knowledge (h2c) unless asked for
 * HTTP/1.1. Responses carry the status, headers, raw body and parsed JSON. */
#ifndef CITYD_TEST_HARNESS_H
#define CITYD_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

struct th_server {
    pid_t pid;
    int port;
    char dir[256]; /* scratch directory of this server */
    char dbname[64];
    char socket[512]; /* MariaDB socket it uses */
    char base[64];    /* http://127.0.0.1:PORT */
    char log[300];    /* its stderr */
    void *curl;       /* reused handle */
    char cfgpath[512];
    json_t *logins; /* seeded demo users, NULL until th_seed() */
    json_t *tokens; /* role -> access token cache */
};

struct th_resp {
    long status;
    char *body;
    size_t body_len;
    char *headers; /* raw header block, lower-cased names */
    json_t *json;  /* NULL when the body is not JSON */
    double seconds;
};

/* Extra configuration lines ("key = value\n...") may be NULL. Aborts the test on failure. */
void th_server_start(struct th_server *s, const char *extra_config);
/* Same, against another MariaDB socket (fault tests run their own server). */
void th_server_start_on(struct th_server *s, const char *socket, const char *extra_config);
/* SIGTERM; returns the exit status (0 = clean). */
int th_server_stop(struct th_server *s);

/* HTTP. body may be NULL. headers is a NULL-terminated list of "Name: value" strings or NULL.
 * flags: TH_HTTP1 to use HTTP/1.1. */
#define TH_HTTP1 1u
void th_request(struct th_server *s, const char *method, const char *path,
                const char *const *headers, const char *body, size_t body_len, unsigned flags,
                struct th_resp *r);
void th_get(struct th_server *s, const char *path, const char *token, struct th_resp *r);
void th_post_json(struct th_server *s, const char *path, const char *token, const char *json,
                  struct th_resp *r);
void th_resp_free(struct th_resp *r);
/* Value of a response header (lower-case name) copied into out; false when absent. */
bool th_header(const struct th_resp *r, const char *name, char *out, size_t outlen);
/* The error code of an error body, or "" */
const char *th_error_code(const struct th_resp *r);

/* Seed the demo city (regions, grids, departments, one user per role) once per server. */
void th_seed(struct th_server *s);
/* Password of the seeded demo user of role (calls th_seed). */
const char *th_password(struct th_server *s, const char *role);
/* Username of the seeded demo user of role. */
const char *th_username(struct th_server *s, const char *role);
/* Log in as the demo user of role (cached): an access token. Aborts on failure. */
const char *th_token(struct th_server *s, const char *role);
/* Log in with explicit credentials; returns the whole response. */
void th_login(struct th_server *s, const char *account, const char *password, const char *device,
              struct th_resp *r);
/* Move cityd's clock (needs testing.clock_control = true in the extra config). */
void th_clock_offset(struct th_server *s, long long offset_ms);
/* Path of the cityd binary under test. */
const char *th_cityd_bin(void);
/* Run the cityd binary with the server's config and extra arguments; returns exit status. */
int th_cityd(struct th_server *s, const char *args);

/* SQL against the server's database (as root over the socket). Returns the first column of
 * the first row as an integer (0 when no row). */
long long th_sql_int(struct th_server *s, const char *sql);
void th_sql_exec(struct th_server *s, const char *sql);

/* The whole file at path, NUL-terminated (malloc'd; *len gets its size). Aborts the test
 * program when it cannot be read. */
char *th_read_file(const char *path, size_t *len);
/* libfaketime (Debian's faketime), for programs whose wall clock a test moves. */
#define TH_LIBFAKETIME "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
/* The environment, as "NAME=value …" for env(1), that runs a program with its wall clock moved:
 * by offset in FAKETIME's syntax ("-10m", "+20s"), or with offset NULL by the offset read from
 * timestamp_file at every clock reading (rewrite it to move a running program). The monotonic
 * clock is left alone; ASan is told libfaketime may come before it in the preload list. Dies
 * when libfaketime is missing. */
void th_faketime_env(char *out, size_t outlen, const char *offset, const char *timestamp_file);
/* th_server_twin with the twin's wall clock moved so. */
void th_server_twin_faked(struct th_server *twin, const struct th_server *s, const char *offset,
                          const char *timestamp_file);
/* Writes s->dir/name for a scenario driver (tests/e2e/tools/scenario_lib.js): {base, ws (the
 * gateway's URL from /api/v1/version), logins: {role: {username, password}}} and the members of
 * extra (taken; may be NULL). Its path goes to path. */
void th_client_config(struct th_server *s, const char *name, json_t *extra, char *path,
                      size_t pathlen);
/* How many times needle stands in the log file at path. */
int th_log_count(const char *path, const char *needle);
/* The same, waiting up to 2 s for at least `least` (cityd's log is written by a buffer
 * thread, so a line shows a moment after what caused it). */
int th_log_wait(const char *path, const char *needle, int least);

/* Send the requests of a JSON array [{path, authorization, method, body, headers}] at once on one
 * HTTP/2 connection (tests/e2e/tools/h2_burst.js, node): the answers [{status, body, headers}]
 * in input order (headers: an object of the response's headers; a new reference). At most
 * http.max_inflight_per_conn (64) requests. */
json_t *th_burst(struct th_server *s, json_t *requests);
/* The same in two steps, to do something else while the requests are in flight: start them,
 * then wait for the n answers (th_burst_wait closes the stream). */
FILE *th_burst_start(struct th_server *s, json_t *requests);
json_t *th_burst_wait(FILE *burst, size_t n);
/* The largest "batch" in the server's access lines whose text contains path_part so far
 * (requests checked together; access lines are flushed every 100 ms). */
long long th_largest_batch(struct th_server *s, const char *path_part);

/* Path of a file under the source tree. */
const char *th_source_path(const char *rel);
/* Run a shell command, return its exit status. */
int th_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Abort the whole test program with a message (used for harness failures). */
void th_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Start cityd again on the same database, config and scratch directory (s->dir, media store
 * included) after it stopped or was killed (kill -9 tests). Waits for /healthz; s->pid and
 * s->port are the new ones. Aborts the test on failure. */
void th_server_restart(struct th_server *s);

/* A second cityd process on s's database and config (its own port, log and scratch directory
 * under s->dir), as a second node would be: for tests of what one process must see of another's
 * changes. Stop it with th_server_stop before s. */
void th_server_twin(struct th_server *twin, const struct th_server *s);

#endif
