/* tests/e2e/authz_matrix_test.c: the authorization matrix, read from the binary itself.
 *
 * `cityd routes` prints every route with the roles that may call it; this program sends, for
 * every route, a request with no token, with a garbage token, with a revoked token, and with a
 * valid token of every role (machine tokens come from the API-key exchange), and checks the
 * answer against the table:
 *   no, garbage or revoked token on a non-public route   -> 401 unauthenticated
 *   a role the route does not list                       -> 403 permission_denied
 *   a role it lists (or any caller of a public route)    -> anything but 401, 403 or a 5xx
 * Requests carry no body, so allowed calls mostly end in 400/404/405 and change nothing that
 * matters; path parameters ({id}) are 1. A public route must be in the allowlist below: a new
 * route without a rule fails the suite, and so does an allowlisted route that is gone or no
 * longer public. Nothing is skipped: every route and every role is counted and reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

/* Routes that are meant to be called without a token. */
static const char *const public_allowlist[] = {
    "GET /healthz",
    "GET /readyz",
    "GET /api/v1/version",
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/register/code", /* a text-message code; answers alike for every number */
    "POST /api/v1/auth/token",
    "POST /api/v1/auth/wechat", /* WeChat mini-program login: the code is the credential */
    "OPTIONS /api/v1/uploads",  /* tus 1.0.0 capability discovery: clients ask before logging in */
    "GET /docs",                /* the API reference page (openapi.yaml is public by design) */
    "GET /docs/redoc.standalone.js",
    "GET /docs/openapi.yaml",
    /* Open311 GeoReport v2 (api/open311.c): reads are public by the spec */
    "GET /open311/discovery.json",
    "GET /open311/discovery.xml",
    "GET /open311/v2/services.json",
    "GET /open311/v2/services.xml",
    "GET /open311/v2/services/{service}",
    "GET /open311/v2/requests.json",
    "GET /open311/v2/requests.xml",
    "GET /open311/v2/requests/{request}",
    "GET /open311/v2/tokens/{token}",
    /* its create takes a machine client's API key as the api_key form field (below) */
    "POST /open311/v2/requests.json",
    "POST /open311/v2/requests.xml",
    /* vendor push receipts (api/push.c): called by Xiaomi, Huawei, Honor, OPPO and vivo, whose
     * callbacks carry no token; the credential is push.receipt_key in the URL (404 without it) */
    "POST /api/v1/push/receipts/xiaomi",
    "POST /api/v1/push/receipts/huawei",
    "POST /api/v1/push/receipts/honor",
    "POST /api/v1/push/receipts/oppo",
    "POST /api/v1/push/receipts/vivo",
    NULL,
};

/* Public routes whose credential is a field of the body, checked by the handler: without it
 * they answer 403 whatever the token (GeoReport v2: "403 - Missing or Invalid API Key"), with
 * Open311's error list as the body. */
static const char *const body_key_routes[] = {
    "POST /open311/v2/requests.json",
    "POST /open311/v2/requests.xml",
    NULL,
};

static bool body_key_route(const char *method, const char *path)
{
    char key[300];

    snprintf(key, sizeof key, "%s %s", method, path);
    for (size_t k = 0; body_key_routes[k]; k++)
        if (strcmp(body_key_routes[k], key) == 0)
            return true;
    return false;
}

/* Every role cityd knows (server/core/roles.h); `cityd routes` naming another one fails. */
static const char *const all_roles[] = {
    "citizen",    "inspector", "handler", "operator", "shift_lead",
    "dispatcher", "leader",    "admin",   "machine",  NULL,
};

#define MAX_ROUTES 256
#define MACHINE_KEY "ck_mx000001matrix-secret-0123456789"

struct route_row {
    char method[16];
    char path[256]; /* as in the table, {id} and all */
    char url[256];  /* parameters replaced by 1 */
    char roles[256];
    bool public;
};

static struct th_server srv;
static struct route_row routes[MAX_ROUTES];
static size_t nroutes;
static json_t *cache; /* role -> token not yet used on an allowed route */

static int setup(void **state)
{
    /* One audit row per rejected token (counted below), not the per-window summary. */
    th_server_start(&srv, "testing.clock_control = true\nauth.rejected_audit_burst = 100000\n");
    cache = json_object();
    return 0;
}

static int teardown(void **state)
{
    json_decref(cache);
    return th_server_stop(&srv);
}

/* ---- the route table ---------------------------------------------------------------------- */

static bool has_role(const char *list, const char *role)
{
    size_t n = strlen(role);
    const char *p = list;

    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && memcmp(p, role, n) == 0)
            return true;
        p += len + (comma ? 1 : 0);
    }
    return false;
}

static bool known_role(const char *role, size_t len)
{
    for (size_t i = 0; all_roles[i]; i++)
        if (strlen(all_roles[i]) == len && memcmp(all_roles[i], role, len) == 0)
            return true;
    return false;
}

/* path with every {name} replaced by 1. */
static void fill_params(const char *path, char *out, size_t cap)
{
    size_t o = 0;

    for (const char *p = path; *p && o + 1 < cap; p++) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            if (!end)
                fail_msg("unbalanced parameter in %s", path);
            out[o++] = '1';
            p = end;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static void parse_line(char *line)
{
    char *f[4];
    size_t nf = 0;
    char *save = NULL, *tok;
    struct route_row *r;
    char *end;

    for (tok = strtok_r(line, "\t", &save); tok && nf < 4; tok = strtok_r(NULL, "\t", &save))
        f[nf++] = tok;
    if (nf != 4 || strtok_r(NULL, "\t", &save) || f[1][0] != '/')
        fail_msg("`cityd routes` printed a line that is not METHOD PATH ROLES LIMIT: \"%s\"", line);
    (void)strtoll(f[3], &end, 10);
    if (*end)
        fail_msg("`cityd routes`: bad body limit \"%s\"", f[3]);
    if (nroutes == MAX_ROUTES)
        fail_msg("more than %d routes: raise MAX_ROUTES", MAX_ROUTES);
    r = &routes[nroutes++];
    snprintf(r->method, sizeof r->method, "%s", f[0]);
    snprintf(r->path, sizeof r->path, "%s", f[1]);
    snprintf(r->roles, sizeof r->roles, "%s", f[2]);
    r->public = strcmp(f[2], "public") == 0;
    fill_params(r->path, r->url, sizeof r->url);
    if (!r->public) {
        const char *p = r->roles;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (!known_role(p, len))
                fail_msg("%s %s names role \"%.*s\" that this test does not know: add it to "
                         "all_roles",
                         r->method, r->path, (int)len, p);
            p += len + (comma ? 1 : 0);
        }
        if (!r->roles[0])
            fail_msg("%s %s has no roles and is not public", r->method, r->path);
    }
}

/* Run `cityd routes` (through th_cityd, which appends to <dir>/cli.log) and parse its output. */
static void load_routes(void)
{
    char path[400], line[1024];
    long off = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/cli.log", srv.dir);
    f = fopen(path, "r");
    if (f) {
        fseek(f, 0, SEEK_END);
        off = ftell(f);
        fclose(f);
    }
    assert_int_equal(th_cityd(&srv, "routes"), 0);
    f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n)
            parse_line(line);
    }
    fclose(f);
    if (nroutes == 0)
        fail_msg("`cityd routes` printed no routes");
}

static const struct route_row *find_route(const char *method, const char *path)
{
    for (size_t i = 0; i < nroutes; i++)
        if (strcmp(routes[i].method, method) == 0 && strcmp(routes[i].path, path) == 0)
            return &routes[i];
    return NULL;
}

/* ---- tokens ------------------------------------------------------------------------------- */

static void setup_machine_key(void)
{
    char q[512];
    long long uid;

    th_sql_exec(&srv, "INSERT INTO users (username, display_name, roles) VALUES"
                      " ('matrix-machine', 'matrix machine client', 256)");
    uid = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'matrix-machine'");
    assert_true(uid > 0);
    snprintf(q, sizeof q,
             "INSERT INTO api_keys (name, prefix, key_hash, user_id) VALUES ('matrix',"
             " 'mx000001', SHA2('%s', 256), %lld)",
             MACHINE_KEY, uid);
    th_sql_exec(&srv, q);
}

static char *fresh_token(const char *role)
{
    struct th_resp r;
    const char *t;
    char *tok;
    static int seq;
    char dev[32];

    if (strcmp(role, "machine") == 0) {
        th_post_json(&srv, "/api/v1/auth/token", NULL, "{\"api_key\":\"" MACHINE_KEY "\"}", &r);
    } else {
        snprintf(dev, sizeof dev, "matrix-%d", seq++);
        th_login(&srv, th_username(&srv, role), th_password(&srv, role), dev, &r);
    }
    t = r.json ? json_string_value(json_object_get(r.json, "access_token")) : NULL;
    if (r.status != 200 || !t)
        print_error("no token for %s: %ld %s\n", role, r.status, r.body);
    tok = t ? strdup(t) : NULL;
    th_resp_free(&r);
    assert_non_null(tok);
    return tok;
}

/* A valid token of role. Tokens are not reused after an allowed call (it may have been
 * logout-all), so a cached one has never changed anything. */
static char *token_for(const char *role)
{
    json_t *t = json_object_get(cache, role);
    char *tok;

    if (t)
        return strdup(json_string_value(t));
    tok = fresh_token(role);
    json_object_set_new(cache, role, json_string(tok));
    return tok;
}

static void spend(const char *role)
{
    json_object_del(cache, role);
}

/* ---- requests ----------------------------------------------------------------------------- */

static bool is_head(const struct route_row *rt)
{
    return strcmp(rt->method, "HEAD") == 0;
}

/* HEAD goes over HTTP/1.1 here: the matrix is about who may call, and an HTTP/2 HEAD answer is
 * currently unreadable (see head_answers_have_no_body). */
static void send_as(const struct route_row *rt, const char *token, struct th_resp *r)
{
    char *auth = NULL;
    const char *hs[2] = {NULL, NULL};

    if (token) {
        size_t n = strlen(token) + 32;
        auth = malloc(n);
        assert_non_null(auth);
        snprintf(auth, n, "Authorization: Bearer %s", token);
        hs[0] = auth;
    }
    th_request(&srv, rt->method, rt->url, hs[0] ? hs : NULL, NULL, 0, is_head(rt) ? TH_HTTP1 : 0,
               r);
    free(auth);
}

struct tally {
    unsigned requests, unauth, forbidden, allowed, public_calls, failures;
};

/* Checks one answer; a mismatch is printed and counted, so one run lists every wrong cell. A HEAD
 * answer has no body, so only its status is compared. */
static void check(struct tally *t, const struct route_row *rt, const char *who,
                  const struct th_resp *r, const char *expect)
{
    bool ok;

    t->requests++;
    if (strcmp(expect, "401") == 0) {
        ok = r->status == 401 && (is_head(rt) || strcmp(th_error_code(r), "unauthenticated") == 0);
        t->unauth++;
    } else if (strcmp(expect, "403 open311") == 0) {
        ok = r->status == 403 && r->body && strstr(r->body, "403") != NULL;
        t->forbidden++;
    } else if (strcmp(expect, "403") == 0) {
        ok =
            r->status == 403 && (is_head(rt) || strcmp(th_error_code(r), "permission_denied") == 0);
        t->forbidden++;
    } else {
        ok = r->status != 0 && r->status != 401 && r->status != 403 && r->status < 500;
        if (rt->public)
            t->public_calls++;
        else
            t->allowed++;
    }
    if (!ok) {
        t->failures++;
        print_error("%s %s as %s: expected %s, got %ld %.200s\n", rt->method, rt->path, who, expect,
                    r->status, r->body);
    }
}

static void public_routes_are_allowlisted(void **state)
{
    unsigned bad = 0;

    load_routes();
    for (size_t i = 0; i < nroutes; i++) {
        char key[300];
        bool listed = false;

        if (!routes[i].public)
            continue;
        snprintf(key, sizeof key, "%s %s", routes[i].method, routes[i].path);
        for (size_t k = 0; public_allowlist[k]; k++)
            listed = listed || strcmp(public_allowlist[k], key) == 0;
        if (!listed) {
            print_error("%s is public but not in public_allowlist: a new route without a rule\n",
                        key);
            bad++;
        }
    }
    for (size_t k = 0; public_allowlist[k]; k++) {
        char method[16], path[256];
        const struct route_row *rt;

        if (sscanf(public_allowlist[k], "%15s %255s", method, path) != 2)
            fail_msg("bad allowlist entry %s", public_allowlist[k]);
        rt = find_route(method, path);
        if (!rt || !rt->public) {
            print_error("allowlisted %s is %s\n", public_allowlist[k],
                        rt ? "no longer public" : "not a route any more");
            bad++;
        }
    }
    print_message("%zu routes from `cityd routes`\n", nroutes);
    assert_int_equal(bad, 0);
}

static void every_route_and_role(void **state)
{
    struct tally t = {0};
    long long rejected = th_sql_int(&srv, "SELECT COUNT(*) FROM audit_log WHERE action ="
                                          " 'auth.token_rejected'");
    unsigned garbage = 0;

    if (nroutes == 0)
        load_routes();
    th_seed(&srv);
    setup_machine_key();

    for (size_t i = 0; i < nroutes; i++) {
        const struct route_row *rt = &routes[i];
        struct th_resp r;

        const char *pub = body_key_route(rt->method, rt->path) ? "403 open311" : "any";

        send_as(rt, NULL, &r);
        check(&t, rt, "no token", &r, rt->public ? pub : "401");
        th_resp_free(&r);
        if (!rt->public) {
            send_as(rt, "not.a.token", &r);
            check(&t, rt, "garbage token", &r, "401");
            th_resp_free(&r);
            garbage++;
        }
        for (size_t k = 0; all_roles[k]; k++) {
            const char *role = all_roles[k];
            bool allowed = rt->public || has_role(rt->roles, role);
            char *tok = token_for(role);

            send_as(rt, tok, &r);
            check(&t, rt, role, &r, rt->public ? pub : allowed ? "any" : "403");
            th_resp_free(&r);
            free(tok);
            if (allowed)
                spend(role);
        }
    }
    print_message("%zu routes x %zu roles (+ no token, garbage token): %u requests: %u expected "
                  "401, %u expected 403, %u allowed, %u public; %u wrong\n",
                  nroutes, sizeof all_roles / sizeof all_roles[0] - 1, t.requests, t.unauth,
                  t.forbidden, t.allowed, t.public_calls, t.failures);
    assert_int_equal(t.requests, nroutes * (sizeof all_roles / sizeof all_roles[0]) + garbage);
    assert_int_equal(t.failures, 0);
    /* Every garbage token was audited. */
    assert_int_equal(th_sql_int(&srv, "SELECT COUNT(*) FROM audit_log WHERE action ="
                                      " 'auth.token_rejected'"),
                     rejected + garbage);
}

/* A token revoked by logout-all (or a revoked API key) is refused on every non-public route,
 * whatever the route's flags (loop-thread routes included). */
static void revoked_tokens_on_every_route(void **state)
{
    struct tally t = {0};
    unsigned expected = 0;

    if (nroutes == 0)
        load_routes();
    th_seed(&srv);

    for (size_t i = 0; i < nroutes; i++) {
        const struct route_row *rt = &routes[i];
        const char *role = NULL;
        struct th_resp r;
        char *tok;

        if (rt->public)
            continue;
        for (size_t k = 0; all_roles[k] && !role; k++)
            if (has_role(rt->roles, all_roles[k]) && strcmp(all_roles[k], "machine") != 0)
                role = all_roles[k];
        if (role) {
            tok = fresh_token(role);
            send_as(&(struct route_row){"POST", "/api/v1/auth/logout-all",
                                        "/api/v1/auth/logout-all", "", false},
                    tok, &r);
            if (r.status != 204)
                print_error("logout-all as %s: %ld %s\n", role, r.status, r.body);
            assert_int_equal(r.status, 204);
            th_resp_free(&r);
            spend(role);
        } else {
            /* Machine-only route: a token whose API key is then revoked. */
            role = "machine";
            tok = fresh_token(role);
            th_sql_exec(&srv, "UPDATE api_keys SET revoked_at = NOW() WHERE prefix = 'mx000001'");
        }
        send_as(rt, tok, &r);
        check(&t, rt, role, &r, "401");
        th_resp_free(&r);
        free(tok);
        if (strcmp(role, "machine") == 0)
            th_sql_exec(&srv, "UPDATE api_keys SET revoked_at = NULL WHERE prefix = 'mx000001'");
        expected++;
    }
    print_message("revoked tokens: %u non-public routes, %u wrong\n", expected, t.failures);
    assert_true(expected > 0);
    /* (This caught loop-thread routes skipping the per-request check; fixed in f7eb766.) */
    assert_int_equal(t.failures, 0);
}

static int connect_raw(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* A HEAD answer is headers only (RFC 9110 9.3.2), errors included: over HTTP/2 a body makes
 * the stream a PROTOCOL_ERROR; over HTTP/1.1 the stray bytes are read as the start of the next
 * response on the connection. Checked for every GET route (HEAD is answered by it) and every
 * HEAD route, without a token. */
static void head_answers_have_no_body(void **state)
{
    unsigned n = 0, wrong = 0;
    char req[512], buf[8192];
    size_t got = 0;
    ssize_t k;
    const char *end;
    int fd;

    if (nroutes == 0)
        load_routes();
    for (size_t i = 0; i < nroutes; i++) {
        struct route_row head = routes[i];
        struct th_resp r;
        long expect;

        if (strcmp(head.method, "GET") != 0 && !is_head(&head))
            continue;
        snprintf(head.method, sizeof head.method, "HEAD");
        th_request(&srv, "HEAD", head.url, NULL, NULL, 0, 0, &r);
        expect = head.public ? r.status : 401;
        if (r.status == 0 || r.status != expect || r.status == 403 || r.status >= 500) {
            print_error("HEAD %s over h2 without a token: expected %s, got %ld\n", head.path,
                        head.public ? "an answer" : "401", r.status);
            wrong++;
        }
        th_resp_free(&r);
        n++;
    }
    print_message("HEAD over h2: %u routes, %u wrong\n", n, wrong);

    /* The raw bytes over HTTP/1.1: nothing may follow the header block. */
    fd = connect_raw();
    snprintf(req, sizeof req, "HEAD /api/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (got < sizeof buf - 1 && (k = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)k;
    close(fd);
    buf[got] = '\0';
    end = strstr(buf, "\r\n\r\n");
    assert_non_null(end);
    assert_int_equal(strncmp(buf, "HTTP/1.1 401", 12), 0);
    if ((size_t)(end + 4 - buf) != got)
        print_error("HEAD /api/v1/me over HTTP/1.1: %zu body bytes after the headers: %s\n",
                    got - (size_t)(end + 4 - buf), end + 4);
    /* BUG: reported — send_error_req (server/http/server.c) sends the JSON error body on HEAD
     * requests; send_job_response drops it, the error path does not. */
    assert_int_equal((size_t)(end + 4 - buf), got);
    assert_int_equal(wrong, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(public_routes_are_allowlisted),
        cmocka_unit_test(every_route_and_role),
        cmocka_unit_test(revoked_tokens_on_every_route),
        cmocka_unit_test(head_answers_have_no_body),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
