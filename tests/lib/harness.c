/* tests/lib/harness.c: start the real cityd, talk to it over real HTTP/2. */
#include "harness.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <mysql.h>

#ifndef CITYD_BIN
#error "CITYD_BIN must point at the cityd binary"
#endif
#ifndef CITYD_SOURCE_DIR
#error "CITYD_SOURCE_DIR must point at the repository"
#endif

void th_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "harness: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    exit(1);
}

const char *th_source_path(const char *rel)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", CITYD_SOURCE_DIR, rel);
    return b;
}

int th_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static MYSQL *sql_connect(const char *socket, const char *db)
{
    MYSQL *my = mysql_init(NULL);
    if (!mysql_real_connect(my, NULL, "root", NULL, db, 0, socket, 0))
        th_die("cannot connect to MariaDB at %s: %s", socket, mysql_error(my));
    mysql_set_character_set(my, "utf8mb4");
    return my;
}

static void sql_run(MYSQL *my, const char *sql)
{
    if (mysql_real_query(my, sql, strlen(sql)))
        th_die("SQL failed: %s: %s", sql, mysql_error(my));
}

void th_sql_exec(struct th_server *s, const char *sql)
{
    MYSQL *my = sql_connect(s->socket, s->dbname);
    sql_run(my, sql);
    mysql_close(my);
}

long long th_sql_int(struct th_server *s, const char *sql)
{
    MYSQL *my = sql_connect(s->socket, s->dbname);
    MYSQL_RES *res;
    MYSQL_ROW row;
    long long v = 0;

    sql_run(my, sql);
    res = mysql_store_result(my);
    if (res) {
        row = mysql_fetch_row(res);
        if (row && row[0])
            v = strtoll(row[0], NULL, 10);
        mysql_free_result(res);
    }
    mysql_close(my);
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start cityd on s's config (stderr to s->log, truncated or appended), wait for its port
 * file and for /healthz. what names the step in failure messages. */
static void spawn(struct th_server *s, int log_mode, const char *what)
{
    char portfile[512];
    double t0 = now_s();
    FILE *f;

    snprintf(portfile, sizeof portfile, "%s/port", s->dir);
    unlink(portfile);
    s->port = 0;
    s->pid = fork();
    if (s->pid < 0)
        th_die("fork: %s", strerror(errno));
    if (s->pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | log_mode, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execl(CITYD_BIN, "cityd", "-c", s->cfgpath, "serve", "--port-file", portfile, (char *)NULL);
        _exit(127);
    }
    for (;;) {
        int status;
        f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &s->port) == 1 && s->port > 0) {
                fclose(f);
                break;
            }
            fclose(f);
        }
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            th_sh("tail -50 %s >&2", s->log);
            th_die("cityd exited during %s", what);
        }
        if (now_s() - t0 > 30)
            th_die("cityd did not %s within 30 s (see %s)", what, s->log);
        usleep(20000);
    }
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    s->curl = curl_easy_init();
    for (;;) {
        struct th_resp r;
        th_request(s, "GET", "/healthz", NULL, NULL, 0, 0, &r);
        if (r.status == 200) {
            th_resp_free(&r);
            break;
        }
        th_resp_free(&r);
        if (now_s() - t0 > 30)
            th_die("cityd did not answer /healthz within 30 s (%s)", what);
        usleep(20000);
    }
}

void th_server_start(struct th_server *s, const char *extra_config)
{
    const char *sock = getenv("CITYD_TEST_DB_SOCKET");
    if (!sock || !*sock)
        th_die("CITYD_TEST_DB_SOCKET is not set: run the tests through ctest (./test)");
    th_server_start_on(s, sock, extra_config);
}

void th_server_start_on(struct th_server *s, const char *socket, const char *extra_config)
{
    static int seq;
    char path[512], cfgpath[512], sql[256];
    FILE *f;
    MYSQL *my;

    memset(s, 0, sizeof *s);
    snprintf(s->socket, sizeof s->socket, "%s", socket);
    snprintf(s->dir, sizeof s->dir, "/tmp/cityd-test-%d-%d", (int)getpid(), seq);
    snprintf(s->dbname, sizeof s->dbname, "t_%d_%d", (int)getpid(), seq++);
    th_sh("rm -rf %s && mkdir -p %s/media", s->dir, s->dir);

    my = sql_connect(socket, NULL);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", s->dbname);
    sql_run(my, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
             s->dbname);
    sql_run(my, sql);
    mysql_close(my);

    snprintf(path, sizeof path, "%s/jwt.key", s->dir);
    th_sh("head -c 48 /dev/urandom > %s", path);
    snprintf(cfgpath, sizeof cfgpath, "%s/cityd.conf", s->dir);
    snprintf(s->cfgpath, sizeof s->cfgpath, "%s", cfgpath);
    f = fopen(cfgpath, "w");
    if (!f)
        th_die("cannot write %s", cfgpath);
    fprintf(f,
            "http.listen = 127.0.0.1:0\n"
            "http.threads = 2\n"
            "ws.listen = 127.0.0.1:0\n"
            "db.socket = %s\n"
            "db.user = root\n"
            "db.name = %s\n"
            "db.pool_size = 4\n"
            "migrations.dir = %s\n"
            "auth.jwt_secret_file = %s\n"
            "media.dir = %s/media\n"
            "log.level = info\n"
            /* Programs report many times as the one demo citizen; the 随手拍 limits are
             * tested by citizen_reports_test, which sets its own (later lines win). */
            "citizen.reports_per_hour = 0\n"
            "citizen.reports_per_day = 0\n"
            "citizen.address_reports_per_hour = 0\n"
            "citizen.address_reports_per_day = 0\n"
            /* Overload shedding acts on a database queue standing for db.queue_interval_ms
             * (100 ms shipped). This ASan build on two shared cores runs database jobs several
             * times slower than a release build, so a test's own burst (a reconnect after
             * kill -9, 64 requests at once) can stand that long without any overload: tests
             * shed only a queue standing a whole second. fault.overload_test sets the shipped
             * value back. */
            "db.queue_interval_ms = 1000\n"
            "%s",
            socket, s->dbname, th_source_path("migrations"), path, s->dir,
            extra_config ? extra_config : "");
    fclose(f);

    snprintf(s->log, sizeof s->log, "%s/cityd.log", s->dir);
    spawn(s, O_TRUNC, "start");
}

int th_server_stop(struct th_server *s)
{
    int status = 0;
    double t0 = now_s();

    if (s->curl)
        curl_easy_cleanup(s->curl);
    s->curl = NULL;
    json_decref(s->logins);
    json_decref(s->tokens);
    s->logins = s->tokens = NULL;
    if (s->pid <= 0)
        return 0;
    kill(s->pid, SIGTERM);
    while (waitpid(s->pid, &status, WNOHANG) == 0) {
        if (now_s() - t0 > 30) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            fprintf(stderr, "harness: cityd did not stop within 30 s\n");
            return -1;
        }
        usleep(10000);
    }
    s->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "harness: cityd exit status %d; its log:\n", status);
        th_sh("tail -50 %s >&2", s->log);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (!getenv("TH_KEEP"))
        th_sh("rm -rf %s", s->dir);
    return 0;
}

struct buf {
    char *p;
    size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t add = size * nmemb;
    char *np = realloc(b->p, b->n + add + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, ptr, add);
    b->n += add;
    np[b->n] = '\0';
    b->p = np;
    return add;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    size_t n = size * nmemb;
    char *colon = memchr(ptr, ':', n);
    if (colon)
        for (char *p = ptr; p < colon; p++)
            *p = (char)tolower((unsigned char)*p);
    return on_data(ptr, size, nmemb, ud);
}

void th_request(struct th_server *s, const char *method, const char *path,
                const char *const *headers, const char *body, size_t body_len, unsigned flags,
                struct th_resp *r)
{
    CURL *c = s->curl;
    struct curl_slist *hl = NULL;
    struct buf b = {0}, h = {0};
    char url[2048];
    double t0 = now_s();
    bool expect = false;

    memset(r, 0, sizeof *r);
    curl_easy_reset(c);
    snprintf(url, sizeof url, "%s%s", s->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                     (flags & TH_HTTP1) ? CURL_HTTP_VERSION_1_1
                                        : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    /* Debian's curl 7.88.1 loses the second request on a reused prior-knowledge h2c
     * connection (standalone h2o shows the same); one connection per request avoids it. */
    if (!(flags & TH_HTTP1))
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    /* No "Expect: 100-continue" wait unless the caller asks for it with its own Expect. */
    for (size_t i = 0; headers && headers[i]; i++) {
        if (strncasecmp(headers[i], "Expect:", 7) == 0)
            expect = true;
        hl = curl_slist_append(hl, headers[i]);
    }
    if (!expect)
        hl = curl_slist_append(hl, "Expect:");
    else
        curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    {
        CURLcode cc = curl_easy_perform(c);
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        else if (getenv("TH_VERBOSE"))
            fprintf(stderr, "harness: %s %s: %s\n", method, path, curl_easy_strerror(cc));
    }
    curl_slist_free_all(hl);
    r->seconds = now_s() - t0;
    r->body = b.p ? b.p : strdup("");
    r->body_len = b.n;
    r->headers = h.p ? h.p : strdup("");
    r->json = json_loadb(r->body, r->body_len, 0, NULL);
}

void th_get(struct th_server *s, const char *path, const char *token, struct th_resp *r)
{
    char auth[9000];
    const char *hs[] = {auth, NULL};
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    th_request(s, "GET", path, token ? hs : NULL, NULL, 0, 0, r);
}

void th_post_json(struct th_server *s, const char *path, const char *token, const char *json,
                  struct th_resp *r)
{
    char auth[9000];
    const char *hs[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    th_request(s, "POST", path, hs, json, json ? strlen(json) : 0, 0, r);
}

void th_resp_free(struct th_resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

bool th_header(const struct th_resp *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = r->headers;

    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && strncmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t vl;
            while (*v == ' ')
                v++;
            vl = (size_t)(p + ll - v);
            if (vl >= outlen)
                vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
        p = eol ? eol + 2 : NULL;
    }
    return false;
}

const char *th_error_code(const struct th_resp *r)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    const char *c = e ? json_string_value(json_object_get(e, "code")) : NULL;
    return c ? c : "";
}

const char *th_cityd_bin(void)
{
    return CITYD_BIN;
}

int th_cityd(struct th_server *s, const char *args)
{
    return th_sh("%s -c %s %s >>%s/cli.log 2>&1", CITYD_BIN, s->cfgpath, args, s->dir);
}

void th_seed(struct th_server *s)
{
    char path[400];
    json_error_t e;

    if (s->logins)
        return;
    snprintf(path, sizeof path, "%s/logins.json", s->dir);
    {
        char args[500];
        snprintf(args, sizeof args, "seed-demo --logins %s", path);
        if (th_cityd(s, args) != 0) {
            th_sh("cat %s/cli.log >&2", s->dir);
            th_die("cityd seed-demo failed");
        }
    }
    s->logins = json_load_file(path, 0, &e);
    if (!s->logins)
        th_die("cannot read %s: %s", path, e.text);
    s->tokens = json_object();
}

static json_t *login_of(struct th_server *s, const char *role)
{
    size_t i;
    json_t *v;
    th_seed(s);
    json_array_foreach(s->logins, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "role")), role) == 0)
            return v;
    }
    th_die("no demo user for role %s", role);
}

const char *th_password(struct th_server *s, const char *role)
{
    return json_string_value(json_object_get(login_of(s, role), "password"));
}

const char *th_username(struct th_server *s, const char *role)
{
    return json_string_value(json_object_get(login_of(s, role), "username"));
}

void th_login(struct th_server *s, const char *account, const char *password, const char *device,
              struct th_resp *r)
{
    json_t *b = json_pack("{s:s,s:s,s:s,s:s}", "account", account, "password", password,
                          "device_id", device ? device : "test-device", "platform", "android");
    char *body = json_dumps(b, JSON_COMPACT);
    th_post_json(s, "/api/v1/auth/login", NULL, body, r);
    free(body);
    json_decref(b);
}

const char *th_token(struct th_server *s, const char *role)
{
    json_t *cached;
    struct th_resp r;
    const char *tok;

    th_seed(s);
    cached = json_object_get(s->tokens, role);
    if (cached)
        return json_string_value(cached);
    th_login(s, th_username(s, role), th_password(s, role), NULL, &r);
    tok = r.json ? json_string_value(json_object_get(r.json, "access_token")) : NULL;
    if (r.status != 200 || !tok)
        th_die("login as %s failed: %ld %s", role, r.status, r.body);
    json_object_set_new(s->tokens, role, json_string(tok));
    th_resp_free(&r);
    return json_string_value(json_object_get(s->tokens, role));
}

void th_clock_offset(struct th_server *s, long long offset_ms)
{
    char body[64], auth[9000];
    const char *hs[] = {"Content-Type: application/json", auth, NULL};
    struct th_resp r;

    snprintf(auth, sizeof auth, "Authorization: Bearer %s", th_token(s, "admin"));
    snprintf(body, sizeof body, "{\"offset_ms\":%lld}", offset_ms);
    th_request(s, "PUT", "/api/v1/testing/clock", hs, body, strlen(body), 0, &r);
    if (r.status != 200)
        th_die("moving the clock failed: %ld %s (is testing.clock_control on?)", r.status, r.body);
    th_resp_free(&r);
}

void th_server_restart(struct th_server *s)
{
    if (s->pid > 0) {
        int status;
        /* Reap a killed server so its pid is not mistaken for the new one. */
        waitpid(s->pid, &status, 0);
    }
    if (s->curl)
        curl_easy_cleanup(s->curl);
    s->curl = NULL;
    json_decref(s->tokens);
    s->tokens = s->logins ? json_object() : NULL; /* old tokens still verify: same key */
    spawn(s, O_APPEND, "restart");
}

void th_server_twin(struct th_server *twin, const struct th_server *s)
{
    *twin = *s;
    snprintf(twin->dir, sizeof twin->dir, "%.240s/twin", s->dir);
    if (mkdir(twin->dir, 0755) != 0 && errno != EEXIST)
        th_die("mkdir %s: %s", twin->dir, strerror(errno));
    snprintf(twin->log, sizeof twin->log, "%s/cityd.log", twin->dir);
    twin->pid = 0;
    twin->curl = NULL;
    twin->logins = json_incref(s->logins);
    twin->tokens = s->tokens ? json_deep_copy(s->tokens) : NULL; /* same key: tokens verify */
    spawn(twin, O_TRUNC, "start a twin");
}

FILE *th_burst_start(struct th_server *s, json_t *requests)
{
    static int seq;
    char path[400], cmd[1200];
    FILE *p;

    snprintf(path, sizeof path, "%s/burst-%d.json", s->dir, seq++);
    if (json_dump_file(requests, path, JSON_COMPACT) != 0)
        th_die("cannot write %s", path);
    snprintf(cmd, sizeof cmd, "node %s %d < %s", th_source_path("tests/e2e/tools/h2_burst.js"),
             s->port, path);
    p = popen(cmd, "r");
    if (!p)
        th_die("cannot run h2_burst.js");
    return p;
}

json_t *th_burst_wait(FILE *p, size_t n)
{
    char *out = NULL;
    size_t cap = 0;
    json_t *res;

    if (getline(&out, &cap, p) < 0 || pclose(p) != 0)
        th_die("h2_burst.js failed");
    res = json_loads(out, 0, NULL);
    free(out);
    if (!json_is_array(res) || json_array_size(res) != n)
        th_die("h2_burst.js: unexpected output");
    return res;
}

json_t *th_burst(struct th_server *s, json_t *requests)
{
    return th_burst_wait(th_burst_start(s, requests), json_array_size(requests));
}

long long th_largest_batch(struct th_server *s, const char *path_part)
{
    size_t len;
    char *log = th_read_file(s->log, &len);
    long long best = 0;

    for (char *p = log; (p = strstr(p, "\"batch\":")) != NULL; p++) {
        char *line = p, *hit;
        while (line > log && line[-1] != '\n')
            line--;
        hit = strstr(line, path_part);
        if (hit && hit < p && atoll(p + 8) > best)
            best = atoll(p + 8);
    }
    free(log);
    return best;
}

char *th_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;
    char *buf;

    if (!f)
        th_die("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        th_die("cannot read %s", path);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* The variables of th_faketime_env: n pairs into names/values (values in buf). */
static int faketime_vars(const char *names[6], const char *values[6], char *asan, size_t asanlen,
                         const char *offset, const char *timestamp_file)
{
    const char *cur = getenv("ASAN_OPTIONS");
    int n = 0;

    if (access(TH_LIBFAKETIME, R_OK) != 0)
        th_die("%s is missing: install Debian's faketime (scripts/deps.sh)", TH_LIBFAKETIME);
    snprintf(asan, asanlen, "%s%sverify_asan_link_order=0", cur ? cur : "", cur ? ":" : "");
    names[n] = "ASAN_OPTIONS", values[n++] = asan;
    names[n] = "LD_PRELOAD", values[n++] = TH_LIBFAKETIME;
    names[n] = "FAKETIME_DONT_FAKE_MONOTONIC", values[n++] = "1";
    names[n] = "FAKETIME_DONT_RESET", values[n++] = "1";
    if (offset) {
        names[n] = "FAKETIME", values[n++] = offset;
    } else {
        names[n] = "FAKETIME_TIMESTAMP_FILE", values[n++] = timestamp_file;
        names[n] = "FAKETIME_NO_CACHE", values[n++] = "1";
    }
    return n;
}

void th_faketime_env(char *out, size_t outlen, const char *offset, const char *timestamp_file)
{
    const char *names[6], *values[6];
    char asan[512];
    int n = faketime_vars(names, values, asan, sizeof asan, offset, timestamp_file);
    size_t len = 0;

    out[0] = '\0';
    for (int i = 0; i < n && len < outlen; i++)
        len +=
            (size_t)snprintf(out + len, outlen - len, "%s%s=%s", i ? " " : "", names[i], values[i]);
}

void th_server_twin_faked(struct th_server *twin, const struct th_server *s, const char *offset,
                          const char *timestamp_file)
{
    const char *names[6], *values[6];
    char asan[512], *saved = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    int n = faketime_vars(names, values, asan, sizeof asan, offset, timestamp_file);

    for (int i = 0; i < n; i++)
        setenv(names[i], values[i], 1);
    th_server_twin(twin, s);
    for (int i = 0; i < n; i++)
        unsetenv(names[i]);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    free(saved);
}

void th_client_config(struct th_server *s, const char *name, json_t *extra, char *path,
                      size_t pathlen)
{
    struct th_resp r;
    json_t *logins = json_object(), *c, *v;
    size_t i;

    th_get(s, "/api/v1/version", NULL, &r);
    if (r.status != 200 || !json_is_string(json_object_get(r.json, "ws_url")))
        th_die("GET /api/v1/version: %ld", r.status);
    c = json_pack("{s:s,s:O}", "base", s->base, "ws", json_object_get(r.json, "ws_url"));
    th_resp_free(&r);
    json_array_foreach(s->logins, i, v)
    {
        json_object_set_new(logins, json_string_value(json_object_get(v, "role")),
                            json_pack("{s:O,s:O}", "username", json_object_get(v, "username"),
                                      "password", json_object_get(v, "password")));
    }
    json_object_set_new(c, "logins", logins);
    if (extra)
        json_object_update(c, extra);
    json_decref(extra);
    snprintf(path, pathlen, "%s/%s", s->dir, name);
    if (json_dump_file(c, path, JSON_COMPACT) != 0)
        th_die("cannot write %s", path);
    json_decref(c);
}

int th_log_count(const char *path, const char *needle)
{
    size_t len;
    char *text = th_read_file(path, &len);
    int n = 0;

    for (const char *p = text, *end = text + len;
         (p = memmem(p, (size_t)(end - p), needle, strlen(needle))) != NULL; p++)
        n++;
    free(text);
    return n;
}

int th_log_wait(const char *path, const char *needle, int least)
{
    int n = th_log_count(path, needle);

    for (int i = 0; i < 20 && n < least; i++) {
        usleep(100000);
        n = th_log_count(path, needle);
    }
    return n;
}
