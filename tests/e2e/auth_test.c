/* tests/e2e/auth_test.c: /api/v1/auth and the token rules of RFC 8725 (docs: notes/security.md
 * 2.2), through the real binary: login and its audit, an attack catalogue of forged, tampered
 * and malformed tokens (minted by PyJWT, an independent implementation, via
 * tests/e2e/tools/forge_jwt.py), refresh rotation with reuse detection, logout and devices,
 * lockout and per-address throttling (each on a server of its own, as all requests come from
 * 127.0.0.1), password change, citizen registration, bad login bodies and machine API keys.
 *
 * Every rejection is checked three ways: the status, the error code, and what it left behind
 * (an audit row more, and no other row changed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"
#include "th_api.h"
#include "th_assert.h"

#define PYTHON "/usr/bin/python3" /* Debian's, which has python3-jwt (PyJWT 2.6) */

static struct th_server srv; /* the group's server: default lockout, real clock */
static struct th_server own; /* a test's own server (lockout tests), stopped by its teardown */

static int setup(void **state)
{
    /* One audit row per rejected token (expect_rejected), not the per-window summary. */
    th_server_start(&srv, "auth.rejected_audit_burst = 1000\n");
    th_seed(&srv);
    return 0;
}

static int teardown(void **state)
{
    return th_server_stop(&srv);
}

/* Stops own even when the test failed half-way, and fails on a sanitizer report. */
static int stop_own(void **state)
{
    int rc = own.pid > 0 ? th_server_stop(&own) : 0;
    memset(&own, 0, sizeof own);
    return rc;
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* s in single quotes for /bin/sh. */
static char *shell_quote(const char *s)
{
    size_t n = 2;
    char *out, *o;

    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    out = malloc(n + 1);
    if (!out)
        th_die("out of memory");
    o = out;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* Run forge_jwt.py with a subcommand and one or two arguments; its stdout, trimmed (malloc). */
static char *forge_tool(const char *sub, const char *arg1, const char *arg2)
{
    char *q1 = shell_quote(arg1), *q2 = arg2 ? shell_quote(arg2) : NULL;
    char *cmd = th_xprintf("%s %s %s %s %s", PYTHON, th_source_path("tests/e2e/tools/forge_jwt.py"),
                           sub, q1, q2 ? q2 : "");
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    size_t n = 0, k;
    char chunk[4096];
    int st;

    if (!p)
        th_die("cannot run %s", cmd);
    while ((k = fread(chunk, 1, sizeof chunk, p)) > 0) {
        char *np = realloc(out, n + k + 1);
        if (!np)
            th_die("out of memory");
        out = np;
        memcpy(out + n, chunk, k);
        n += k;
    }
    st = pclose(p);
    /* A test failure, not th_die: the teardown must still stop the servers. */
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !out)
        fail_msg("forge_jwt.py %s failed (status %d): %s", sub, st, cmd);
    out[n] = '\0';
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    free(cmd);
    free(q1);
    free(q2);
    return out;
}

/* Sign with PyJWT. spec (stolen) is forge_jwt.py's SPEC; the server's key file is added. */
static char *forge(json_t *spec)
{
    char *keyfile = th_xprintf("%s/jwt.key", srv.dir), *s, *tok;

    json_object_set_new(spec, "key_file", json_string(keyfile));
    s = json_dumps(spec, JSON_COMPACT);
    tok = forge_tool("sign", s, NULL);
    free(s);
    free(keyfile);
    json_decref(spec);
    return tok;
}

/* The payload of a token as JSON (not verified). */
static json_t *token_payload(const char *token)
{
    char *s = forge_tool("decode", token, NULL);
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    if (!j)
        th_die("cannot decode a token payload");
    return j;
}

/* The claims cityd issues, for user uid with one role; exp is now + exp_in seconds. */
static json_t *claims(long long uid, const char *role, long long tv, long long exp_in)
{
    long long now = (long long)time(NULL);
    char sub[32];

    snprintf(sub, sizeof sub, "%lld", uid);
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:[s],s:I,s:I,s:I,s:I,s:s}", "iss", "cityd", "aud", "cityd-api", "sub",
        sub, "typ", "access", "roles", role, "tv", (json_int_t)tv, "exp",
        (json_int_t)(now + exp_in), "iat", (json_int_t)(exp_in < 0 ? now + exp_in - 300 : now),
        "nbf", (json_int_t)(exp_in < 0 ? now + exp_in - 300 : now), "jti", "pyjwt0123456789a");
}

/* A SPEC signing payload with the server's own secret and kid, alg HS256. */
static json_t *spec_of(json_t *payload)
{
    return json_pack("{s:o}", "payload", payload);
}

static long long audit_n(struct th_server *s, const char *action)
{
    return th_sqlf(s, "SELECT COUNT(*) FROM audit_log WHERE action = '%s'", action);
}

static long long uid_of(struct th_server *s, const char *role)
{
    return th_sqlf(s, "SELECT id FROM users WHERE username = '%s'", th_username(s, role));
}

static const char *err_message(const struct th_resp *r)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    const char *m = e ? json_string_value(json_object_get(e, "message")) : NULL;
    return m ? m : "";
}

/* A string member of the response body, copied (free it), or NULL. */
static char *jstr(const struct th_resp *r, const char *key)
{
    const char *v = r->json ? json_string_value(json_object_get(r->json, key)) : NULL;
    return v ? strdup(v) : NULL;
}

static void login_ok(struct th_server *s, const char *role, const char *device, char **access,
                     char **refresh)
{
    struct th_resp r;

    th_login(s, th_username(s, role), th_password(s, role), device, &r);
    if (r.status != 200)
        print_error("login as %s: %ld %s\n", role, r.status, r.body);
    assert_int_equal(r.status, 200);
    *access = jstr(&r, "access_token");
    assert_non_null(*access);
    if (refresh) {
        *refresh = jstr(&r, "refresh_token");
        assert_non_null(*refresh);
    }
    th_resp_free(&r);
}

static void refresh_call(struct th_server *s, const char *refresh_token, struct th_resp *r)
{
    json_t *b = json_pack("{s:s}", "refresh_token", refresh_token);
    char *body = json_dumps(b, JSON_COMPACT);

    th_post_json(s, "/api/v1/auth/refresh", NULL, body, r);
    free(body);
    json_decref(b);
}

/* Print the last audit rows (diagnostics for a failed expectation). */
static void dump_audit(struct th_server *s)
{
    th_sh("mariadb --socket=%s -uroot %s -e 'SELECT id, action, result, actor_id, detail FROM "
          "audit_log ORDER BY id DESC LIMIT 5' >&2",
          s->socket, s->dbname);
}

/* GET /api/v1/me with token must be 401 unauthenticated and write exactly one
 * auth.token_rejected row whose detail ends with reason (NULL: any reason). */
static void expect_rejected(const char *what, const char *token, const char *reason)
{
    long long before = audit_n(&srv, "auth.token_rejected");
    struct th_resp r;

    th_call_tok(&srv, "GET", "/api/v1/me", token, NULL, NULL, NULL, &r);
    if (r.status != 401 || strcmp(th_error_code(&r), "unauthenticated") != 0)
        print_error("%s: expected 401 unauthenticated, got %ld %s\n", what, r.status, r.body);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);
    if (audit_n(&srv, "auth.token_rejected") != before + 1) {
        print_error("%s: no auth.token_rejected audit row\n", what);
        dump_audit(&srv);
    }
    assert_int_equal(audit_n(&srv, "auth.token_rejected"), before + 1);
    if (reason &&
        th_sqlf(&srv,
                "SELECT detail LIKE '%%%s' FROM audit_log WHERE action = 'auth.token_rejected'"
                " ORDER BY id DESC LIMIT 1",
                reason) != 1) {
        print_error("%s: rejected, but not because of \"%s\"\n", what, reason);
        dump_audit(&srv);
        fail();
    }
}

/* GET /api/v1/me with token must be 200 for user uid; no rejection audited. */
static void expect_accepted(const char *what, const char *token, long long uid, const char *role)
{
    long long before = audit_n(&srv, "auth.token_rejected");
    struct th_resp r;
    json_t *roles;

    th_call_tok(&srv, "GET", "/api/v1/me", token, NULL, NULL, NULL, &r);
    if (r.status != 200)
        print_error("%s: expected 200, got %ld %s\n", what, r.status, r.body);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "id")), uid);
    roles = json_object_get(r.json, "roles");
    assert_int_equal(json_array_size(roles), 1);
    assert_string_equal(json_string_value(json_array_get(roles, 0)), role);
    th_resp_free(&r);
    assert_int_equal(audit_n(&srv, "auth.token_rejected"), before);
}

/* ---- 1. login ----------------------------------------------------------------------------- */

static void login_success_and_uniform_failure(void **state)
{
    struct th_resp ok, wrong, unknown;
    long long uid = uid_of(&srv, "inspector");
    long long sessions = th_sqlf(&srv, "SELECT COUNT(*) FROM sessions");
    long long failed_audit =
        th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login'"
                      " AND result = 'failed'");
    long long attempts = th_sqlf(&srv, "SELECT COUNT(*) FROM login_attempts WHERE success = 0");
    long long ok_audit = th_sqlf(&srv,
                                 "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND"
                                 " result = 'ok' AND actor_id = %lld",
                                 uid);
    char cc[64];
    char *refresh;

    th_login(&srv, th_username(&srv, "inspector"), th_password(&srv, "inspector"), "phone-1", &ok);
    assert_int_equal(ok.status, 200);
    assert_string_equal(json_string_value(json_object_get(ok.json, "token_type")), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(ok.json, "user_id")), uid);
    assert_true(json_integer_value(json_object_get(ok.json, "expires_in")) > 0);
    assert_true(json_integer_value(json_object_get(ok.json, "expires_in")) <= 900);
    refresh = jstr(&ok, "refresh_token");
    assert_non_null(refresh);
    assert_int_equal(strlen(refresh), 43);
    free(refresh);
    assert_true(th_header(&ok, "cache-control", cc, sizeof cc));
    assert_string_equal(cc, "no-store");
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM sessions"), sessions + 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND"
                             " result = 'ok' AND actor_id = %lld",
                             uid),
                     ok_audit + 1);
    th_resp_free(&ok);

    th_login(&srv, th_username(&srv, "inspector"), "Wrong-Password-123", "phone-1", &wrong);
    th_login(&srv, "nobody-here", "Wrong-Password-123", "phone-1", &unknown);
    assert_int_equal(wrong.status, 401);
    assert_string_equal(th_error_code(&wrong), "unauthenticated");
    assert_int_equal(unknown.status, 401);
    assert_string_equal(th_error_code(&unknown), "unauthenticated");
    /* One message for both, so the answer does not tell which accounts exist. */
    assert_string_equal(err_message(&wrong), err_message(&unknown));
    assert_null(json_object_get(wrong.json, "access_token"));
    th_resp_free(&wrong);
    th_resp_free(&unknown);

    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM sessions"), sessions + 1);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login'"
                                   " AND result = 'failed'"),
                     failed_audit + 2);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND"
                             " result = 'failed' AND actor_id = %lld",
                             uid),
                     1);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM login_attempts WHERE success = 0"),
                     attempts + 2);
}

/* ---- 2. the token attack catalogue -------------------------------------------------------- */

static void tokens_minted_by_pyjwt_are_accepted(void **state)
{
    long long uid = uid_of(&srv, "inspector");
    long long tv = th_sqlf(&srv, "SELECT token_version FROM users WHERE id = %lld", uid);
    char *tok = forge(spec_of(claims(uid, "inspector", tv, 300)));

    expect_accepted("PyJWT HS256 with the server's secret and kid", tok, uid, "inspector");
    free(tok);

    /* Expired 10 s ago: inside the default 30 s leeway. */
    tok = forge(spec_of(claims(uid, "inspector", tv, -10)));
    expect_accepted("exp = now - 10 s (inside the leeway)", tok, uid, "inspector");
    free(tok);

    /* The server's own token, for comparison. */
    expect_accepted("server-issued token", th_token(&srv, "inspector"), uid, "inspector");
}

static void forged_and_malformed_tokens_are_rejected(void **state)
{
    long long uid = uid_of(&srv, "inspector");
    long long admin = uid_of(&srv, "admin");
    long long tv = th_sqlf(&srv, "SELECT token_version FROM users WHERE id = %lld", uid);
    const char *real = th_token(&srv, "inspector");
    const char *other = th_token(&srv, "admin");
    char *keyfile = th_xprintf("%s/jwt.key", srv.dir);
    char *tok, *refresh, *access, *s, *kid;
    const char *dot;
    json_t *p;

    /* alg none, as PyJWT emits it (empty signature), and with a signature appended. */
    tok =
        forge(json_pack("{s:s,s:o}", "alg", "none", "payload", claims(uid, "inspector", tv, 300)));
    assert_int_equal(tok[strlen(tok) - 1], '.');
    expect_rejected("alg none, empty signature", tok, "malformed token");
    free(tok);
    tok = forge(json_pack("{s:s,s:b,s:o}", "alg", "none", "sig_from", 1, "payload",
                          claims(uid, "inspector", tv, 300)));
    expect_rejected("alg none with a valid HS256 signature", tok, "algorithm not allowed");
    free(tok);
    kid = forge_tool("kid", keyfile, NULL);
    tok = forge(json_pack("{s:{s:s,s:s,s:s},s:o}", "raw_header", "alg", "None", "typ", "JWT", "kid",
                          kid, "payload", claims(uid, "inspector", tv, 300)));
    expect_rejected("header alg None, HS256 signature", tok, "algorithm not allowed");
    free(tok);
    /* The hand-built path itself is sound: the same with alg HS256 passes. */
    tok = forge(json_pack("{s:{s:s,s:s,s:s},s:o}", "raw_header", "alg", "HS256", "typ", "JWT",
                          "kid", kid, "payload", claims(uid, "inspector", tv, 300)));
    expect_accepted("hand-built HS256 token", tok, uid, "inspector");
    free(tok);
    tok = forge(json_pack("{s:{s:s,s:s},s:o}", "raw_header", "alg", "HS256", "typ", "JWT",
                          "payload", claims(uid, "inspector", tv, 300)));
    expect_accepted("no kid: the primary key", tok, uid, "inspector");
    free(tok);
    tok = forge(json_pack("{s:{s:s,s:s,s:s,s:[s]},s:o}", "raw_header", "alg", "HS256", "typ", "JWT",
                          "kid", kid, "crit", "exp", "payload", claims(uid, "inspector", tv, 300)));
    expect_rejected("crit header", tok, "unsupported critical header");
    free(tok);
    tok = forge(json_pack("{s:{s:s,s:s,s:s},s:o}", "raw_header", "alg", "HS256", "typ", "at+jwt",
                          "kid", kid, "payload", claims(uid, "inspector", tv, 300)));
    expect_rejected("header typ at+jwt", tok, "wrong header type");
    free(tok);

    /* Signed with another secret (the right kid). */
    tok = forge(
        json_pack("{s:s,s:o}", "key", "random", "payload", claims(uid, "inspector", tv, 300)));
    expect_rejected("HS256 with a different secret", tok, "bad signature");
    free(tok);

    /* Payload changed, signature kept. */
    tok = forge_tool("tamper", real, "{\"roles\":[\"admin\"]}");
    expect_rejected("tampered roles", tok, "bad signature");
    free(tok);
    s = th_xprintf("{\"sub\":\"%lld\"}", admin);
    tok = forge_tool("tamper", real, s);
    expect_rejected("tampered sub", tok, "bad signature");
    free(tok);
    free(s);

    /* Another token's signature spliced onto this header and payload. */
    dot = strrchr(real, '.');
    s = th_xprintf("%.*s%s", (int)(dot - real), real, strrchr(other, '.'));
    expect_rejected("spliced signature", s, "bad signature");
    free(s);

    /* Stronger HMACs with the right secret: the key pins HS256. */
    tok =
        forge(json_pack("{s:s,s:o}", "alg", "HS384", "payload", claims(uid, "inspector", tv, 300)));
    expect_rejected("HS384 with the right secret", tok, "algorithm not allowed");
    free(tok);
    tok =
        forge(json_pack("{s:s,s:o}", "alg", "HS512", "payload", claims(uid, "inspector", tv, 300)));
    expect_rejected("HS512 with the right secret", tok, "algorithm not allowed");
    free(tok);

    /* Claims: audience, issuer, type, time. */
    p = claims(uid, "inspector", tv, 300);
    json_object_set_new(p, "aud", json_string("cityd-ws"));
    tok = forge(spec_of(p));
    expect_rejected("wrong aud", tok, "wrong audience");
    free(tok);
    p = claims(uid, "inspector", tv, 300);
    json_object_set_new(p, "aud", json_pack("[s,s]", "cityd-admin", "other"));
    tok = forge(spec_of(p));
    expect_rejected("aud array without ours", tok, "wrong audience");
    free(tok);
    p = claims(uid, "inspector", tv, 300);
    json_object_del(p, "aud");
    tok = forge(spec_of(p));
    expect_rejected("no aud", tok, "wrong audience");
    free(tok);
    p = claims(uid, "inspector", tv, 300);
    json_object_set_new(p, "iss", json_string("cityd-evil"));
    tok = forge(spec_of(p));
    expect_rejected("wrong iss", tok, "wrong issuer");
    free(tok);
    p = claims(uid, "inspector", tv, 300);
    json_object_set_new(p, "typ", json_string("refresh"));
    tok = forge(spec_of(p));
    expect_rejected("typ refresh", tok, "wrong token type");
    free(tok);
    tok = forge(spec_of(claims(uid, "inspector", tv, -120)));
    expect_rejected("exp = now - 120 s (beyond the leeway)", tok, "token expired");
    free(tok);
    p = claims(uid, "inspector", tv, 600);
    json_object_set_new(p, "nbf", json_integer((json_int_t)time(NULL) + 300));
    tok = forge(spec_of(p));
    expect_rejected("nbf = now + 300 s", tok, "token not yet valid");
    free(tok);
    p = claims(uid, "inspector", tv, 300);
    json_object_del(p, "exp");
    tok = forge(spec_of(p));
    expect_rejected("no exp", tok, "missing or bad exp");
    free(tok);
    p = claims(uid, "inspector", tv, 300);
    json_object_set_new(p, "sub", json_integer(uid));
    tok = forge(spec_of(p));
    expect_rejected("numeric sub", tok, "bad subject");
    free(tok);

    /* kid: only a lookup key among the configured ones. */
    tok = forge(json_pack("{s:s,s:o}", "kid", "0123456789abcdef", "payload",
                          claims(uid, "inspector", tv, 300)));
    expect_rejected("unknown kid", tok, "unknown key id");
    free(tok);
    tok = forge(json_pack("{s:s,s:o}", "kid", "../../etc/passwd", "payload",
                          claims(uid, "inspector", tv, 300)));
    expect_rejected("kid ../../etc/passwd", tok, "unknown key id");
    free(tok);
    tok = forge(json_pack("{s:s,s:o}", "kid", "http://x/jwks", "payload",
                          claims(uid, "inspector", tv, 300)));
    expect_rejected("kid http://x/jwks", tok, "unknown key id");
    free(tok);
    tok = forge(json_pack("{s:{s:s},s:o}", "header", "jku", "http://127.0.0.1:1/jwks.json",
                          "payload", claims(uid, "inspector", tv, 300)));
    expect_accepted("jku is ignored, not fetched", tok, uid, "inspector");
    free(tok);

    /* The opaque refresh token is not a bearer token. */
    login_ok(&srv, "inspector", "phone-refresh-as-bearer", &access, &refresh);
    expect_rejected("refresh token as bearer", refresh, "malformed token");
    free(access);
    free(refresh);

    /* Shape: segments and alphabet. */
    dot = strrchr(real, '.');
    s = th_xprintf("%.*s", (int)(dot - real), real);
    expect_rejected("2 segments", s, "malformed token");
    free(s);
    s = th_xprintf("%s%s", real, dot);
    expect_rejected("4 segments", s, "malformed token");
    free(s);
    s = th_xprintf("%s=", real);
    expect_rejected("base64 padding", s, "malformed token");
    free(s);
    s = strdup(real);
    s[strlen(s) - 3] = '+';
    expect_rejected("'+' in the signature", s, "malformed token");
    s[strlen(s) - 3] = '/';
    expect_rejected("'/' in the signature", s, "malformed token");
    s[5] = '!';
    expect_rejected("'!' in the header", s, "malformed token");
    free(s);
    expect_rejected("empty-ish token", "..", "malformed token");
    free(kid);
    free(keyfile);
}

/* Big tokens: over the 16 KiB header cap the router answers 431 before any token work; under
 * it, a token over AUTH_JWT_MAX (8 KiB) or a 7 KiB forged one is a plain 401. */
static void oversized_tokens(void **state)
{
    long long uid = uid_of(&srv, "inspector");
    long long audit = audit_n(&srv, "auth.token_rejected");
    long long sessions = th_sqlf(&srv, "SELECT COUNT(*) FROM sessions");
    char *pad = malloc(50001);
    char *tok;
    json_t *p;
    struct th_resp r;
    char *hdr;
    const char *hs[2];

    memset(pad, 'x', 50000);
    pad[50000] = '\0';

    p = claims(uid, "inspector", 0, 300);
    json_object_set_new(p, "pad", json_string(pad));
    tok = forge(json_pack("{s:s,s:o}", "key", "random", "payload", p));
    assert_true(strlen(tok) >= 64 * 1024);
    /* HTTP/1.1: the whole 64 KiB header reaches the server. (Over HTTP/2, libnghttp2 in the
     * client refuses to send a header block over 64 KiB, so h2 is tested with 20 KiB below.) */
    hdr = th_xprintf("Authorization: Bearer %s", tok);
    hs[0] = hdr;
    hs[1] = NULL;
    th_request(&srv, "GET", "/api/v1/me", hs, NULL, 0, TH_HTTP1, &r);
    assert_int_equal(r.status, 431);
    assert_string_equal(th_error_code(&r), "header_fields_too_large");
    th_resp_free(&r);
    free(hdr);
    tok[20 * 1024] = '\0';
    th_call_tok(&srv, "GET", "/api/v1/me", tok, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 431);
    assert_string_equal(th_error_code(&r), "header_fields_too_large");
    th_resp_free(&r);
    free(tok);
    assert_int_equal(audit_n(&srv, "auth.token_rejected"), audit);

    pad[6300] = '\0';
    p = claims(uid, "inspector", 0, 300);
    json_object_set_new(p, "pad", json_string(pad));
    tok = forge(spec_of(p)); /* the right secret: only the length is wrong */
    assert_true(strlen(tok) > 8192 && strlen(tok) < 12 * 1024);
    expect_rejected("8.5 KiB token", tok, "token too long");
    free(tok);

    pad[5100] = '\0';
    p = claims(uid, "inspector", 0, 300);
    json_object_set_new(p, "pad", json_string(pad));
    tok = forge(json_pack("{s:s,s:o}", "key", "random", "payload", p));
    assert_true(strlen(tok) > 6 * 1024 && strlen(tok) < 8 * 1024);
    expect_rejected("7 KiB token", tok, "bad signature");
    free(tok);
    free(pad);

    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM sessions"), sessions);
    th_request(&srv, "GET", "/healthz", NULL, NULL, 0, 0, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
}

static void logout_all_and_disabling_revoke_access_tokens(void **state)
{
    long long handler = uid_of(&srv, "handler");
    long long op = uid_of(&srv, "operator");
    char *a1, *a2, *forged;
    struct th_resp r;

    /* logout-all bumps the token version: every earlier access token dies. */
    login_ok(&srv, "handler", "handler-phone", &a1, NULL);
    login_ok(&srv, "handler", "handler-tablet", &a2, NULL);
    expect_accepted("handler before logout-all", a2, handler, "handler");
    th_call_tok(&srv, "POST", "/api/v1/auth/logout-all", a1, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT token_version FROM users WHERE id = %lld", handler), 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM sessions WHERE user_id = %lld AND"
                             " revoked_at IS NULL",
                             handler),
                     0);
    /* Session-bound tokens: both their session and the version are gone (either reason). */
    expect_rejected("same device after logout-all", a1, NULL);
    expect_rejected("other device after logout-all", a2, NULL);
    th_call_tok(&srv, "GET", "/api/v1/me/devices", a2, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);
    /* A token without a session (PyJWT, no family claim) isolates the version check: with the
     * old version it is refused, with the new one it is not. */
    forged = forge(spec_of(claims(handler, "handler", 0, 300)));
    expect_rejected("PyJWT token with the old token version", forged, "token version revoked");
    free(forged);
    forged = forge(spec_of(claims(handler, "handler", 1, 300)));
    expect_accepted("PyJWT token with the current token version", forged, handler, "handler");
    free(forged);
    free(a1);
    free(a2);

    /* Disabling reads users.disabled on every request (no version bump needed). */
    login_ok(&srv, "operator", "operator-phone", &a1, NULL);
    expect_accepted("operator before disabling", a1, op, "operator");
    {
        char q[128];
        snprintf(q, sizeof q, "UPDATE users SET disabled = 1 WHERE id = %lld", op);
        th_sql_exec(&srv, q);
    }
    expect_rejected("access token of a disabled account", a1, "account disabled");
    th_login(&srv, th_username(&srv, "operator"), th_password(&srv, "operator"), "x", &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(th_error_code(&r), "permission_denied");
    assert_null(json_object_get(r.json, "access_token"));
    th_resp_free(&r);
    {
        char q[128];
        snprintf(q, sizeof q, "UPDATE users SET disabled = 0 WHERE id = %lld", op);
        th_sql_exec(&srv, q);
    }
    free(a1);
}

/* ---- 3. refresh rotation ------------------------------------------------------------------ */

static void refresh_rotation_and_reuse_detection(void **state)
{
    long long uid = uid_of(&srv, "dispatcher");
    long long reuse_audit = audit_n(&srv, "auth.refresh_reuse");
    long long sid;
    char *a0, *r0, *a1, *r1;
    struct th_resp r;

    login_ok(&srv, "dispatcher", "dispatch-desk", &a0, &r0);
    sid = th_sqlf(&srv, "SELECT MAX(id) FROM sessions WHERE user_id = %lld", uid);

    refresh_call(&srv, r0, &r);
    assert_int_equal(r.status, 200);
    a1 = jstr(&r, "access_token");
    r1 = jstr(&r, "refresh_token");
    assert_non_null(a1);
    assert_non_null(r1);
    assert_string_not_equal(r1, r0);
    th_resp_free(&r);
    expect_accepted("rotated access token", a1, uid, "dispatcher");
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = %lld", sid), 2);
    /* One rotation more: r0 is now older than the token just used. (The just-used token
     * retried within auth.refresh_reuse_grace_s gets the same answer: abuse_test.c.) */
    refresh_call(&srv, r1, &r);
    assert_int_equal(r.status, 200);
    free(r1);
    r1 = jstr(&r, "refresh_token");
    th_resp_free(&r);

    /* An older used token again: theft; the whole family goes. */
    refresh_call(&srv, r0, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    assert_null(json_object_get(r.json, "access_token"));
    th_resp_free(&r);
    assert_int_equal(audit_n(&srv, "auth.refresh_reuse"), reuse_audit + 1);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM sessions WHERE id = %lld AND revoked_at IS NOT"
                             " NULL AND revoked_reason = 'refresh_reuse'",
                             sid),
                     1);

    /* Its access tokens stop at once, on every route. */
    expect_rejected("access token of a family revoked for reuse", a1, "session ended");
    th_call_tok(&srv, "GET", "/api/v1/me/devices", a0, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);

    /* The newest token of that family is dead too, and no new token was minted. */
    refresh_call(&srv, r1, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = %lld", sid), 3);

    /* Garbage is a plain 401. */
    refresh_call(&srv, "not-a-refresh-token", &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);
    free(a0);
    free(r0);
    free(a1);
    free(r1);
}

/* ---- 3b. tokens checked together ---------------------------------------------------------- */

/* Under load the tokens of requests that arrive together are checked by one statement: every
 * request still gets its own answer — its own profile, or 401 for its own revoked session or
 * token version, each refusal audited — never a neighbour's. */
static void tokens_checked_together(void **state)
{
    const char *roles[] = {"inspector", "handler", "leader", "citizen"};
    long long uids[4], rejected0, batch0, audit0;
    char *ok[4], *gone, *old1, *old2, *auth;
    json_t *reqs = json_array(), *res;
    struct th_resp r;
    size_t i;
    int n_ok = 0, n_401 = 0;

    usleep(200 * 1000); /* the access lines of earlier tests are flushed every 100 ms */
    batch0 = th_largest_batch(&srv, "/api/v1/me\"");
    for (i = 0; i < 4; i++) {
        uids[i] = uid_of(&srv, roles[i]);
        login_ok(&srv, roles[i], "burst-device", &ok[i], NULL);
    }
    /* One device of the operator logs out (its session ends); the dispatcher logs out
     * everywhere (its token version moves on). */
    login_ok(&srv, "operator", "burst-gone", &gone, NULL);
    th_call_tok(&srv, "POST", "/api/v1/auth/logout", gone, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);
    login_ok(&srv, "dispatcher", "burst-1", &old1, NULL);
    old2 = forge(spec_of(claims(uid_of(&srv, "dispatcher"), "dispatcher",
                                th_sqlf(&srv,
                                        "SELECT token_version FROM users WHERE username ="
                                        " '%s'",
                                        th_username(&srv, "dispatcher")),
                                300))); /* no session: isolates the version check */
    expect_accepted("dispatcher before logout-all", old2, uid_of(&srv, "dispatcher"), "dispatcher");
    th_call_tok(&srv, "POST", "/api/v1/auth/logout-all", old1, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);

    for (i = 0; i < 64; i++) { /* http.max_inflight_per_conn */
        const char *t = i % 8 < 4 ? ok[i % 8] : i % 8 == 4 ? gone : i % 8 == 5 ? old2 : NULL;
        auth = th_xprintf("Bearer %s", t ? t : "not.a.token");
        json_array_append_new(reqs, json_pack("{s:s,s:s}", "path", "/api/v1/me", "authorization",
                                              i % 8 == 7 ? ok[0] /* no "Bearer " */ : auth));
        free(auth);
    }
    rejected0 = audit_n(&srv, "auth.token_rejected");
    audit0 = th_sqlf(&srv, "SELECT COALESCE(MAX(id), 0) FROM audit_log");
    res = th_burst(&srv, reqs);
    for (i = 0; i < 64; i++) {
        json_t *a = json_array_get(res, i);
        long status = (long)json_integer_value(json_object_get(a, "status"));
        json_t *body = json_loads(json_string_value(json_object_get(a, "body")), 0, NULL);

        assert_non_null(body);
        if (i % 8 < 4) {
            if (status != 200)
                th_sh("grep '\"level\":\"error' %s | tail -3 >&2", srv.log);
            if (status != 200)
                fail_msg("request %zu (%s): %ld %s", i, roles[i % 8], status,
                         json_string_value(json_object_get(a, "body")));
            assert_int_equal(th_jint(body, "id"), uids[i % 8]);
            assert_string_equal(th_jstr(body, "username"), th_username(&srv, roles[i % 8]));
            assert_string_equal(
                json_string_value(json_array_get(json_object_get(body, "roles"), 0)), roles[i % 8]);
            if (i % 8 == 0) /* the inspector's grids come with the profile */
                assert_true(json_array_size(json_object_get(body, "grid_ids")) > 0);
            n_ok++;
        } else {
            if (status != 401)
                fail_msg("request %zu: expected 401, got %ld", i, status);
            assert_string_equal(th_jstr(json_object_get(body, "error"), "code"), "unauthenticated");
            n_401++;
        }
        json_decref(body);
    }
    assert_int_equal(n_ok, 32);
    assert_int_equal(n_401, 32);
    /* Every refusal audited with its own request: ended session, old version, bad token,
     * missing scheme — 8 of each. */
    assert_int_equal(audit_n(&srv, "auth.token_rejected"), rejected0 + 32);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.token_rejected'"
                             " AND id > %lld AND detail LIKE '%%session ended'",
                             audit0),
                     8);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.token_rejected'"
                             " AND id > %lld AND detail LIKE '%%token version revoked'",
                             audit0),
                     8);
    json_decref(res);
    json_decref(reqs);

    /* And they were checked together: the access log shows requests served in batches. */
    reqs = json_array();
    for (i = 0; i < 64; i++) {
        auth = th_xprintf("Bearer %s", ok[i % 4]);
        json_array_append_new(reqs,
                              json_pack("{s:s,s:s}", "path", "/api/v1/me", "authorization", auth));
        free(auth);
    }
    res = th_burst(&srv, reqs);
    for (i = 0; i < 64; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(res, i), "status")),
                         200);
    json_decref(res);
    json_decref(reqs);
    usleep(300 * 1000);
    print_message("largest batch of /api/v1/me: %lld (before: %lld)\n",
                  th_largest_batch(&srv, "/api/v1/me\""), batch0);
    assert_true(th_largest_batch(&srv, "/api/v1/me\"") > 1);
    for (i = 0; i < 4; i++)
        free(ok[i]);
    free(gone);
    free(old1);
    free(old2);
}

/* A shift starting: many log-ins at once. Password hashing runs a few at a time on its own
 * workers, so the burst queues there while every other request is served as usual. */
static void login_burst_holds_no_database_worker(void **state)
{
    const char *roles[] = {"citizen", "inspector", "handler", "operator"};
    const char *token = th_token(&srv, "leader");
    json_t *reqs = json_array(), *res;
    double worst = 0;
    FILE *p;

    for (int i = 0; i < 48; i++) {
        json_t *b =
            json_pack("{s:s,s:s,s:s,s:s}", "account", th_username(&srv, roles[i % 4]), "password",
                      th_password(&srv, roles[i % 4]), "device_id", "shift", "platform", "android");
        char *body = json_dumps(b, JSON_COMPACT);
        json_array_append_new(reqs, json_pack("{s:s,s:s,s:s}", "path", "/api/v1/auth/login",
                                              "method", "POST", "body", body));
        free(body);
        json_decref(b);
    }
    p = th_burst_start(&srv, reqs);
    json_decref(reqs);
    /* While the log-ins are hashed (48 at two at a time is over a second): */
    for (int i = 0; i < 60 && worst < 0.8; i++) {
        struct th_resp r;
        usleep(20 * 1000);
        th_get(&srv, "/api/v1/me", token, &r);
        assert_int_equal(r.status, 200);
        if (r.seconds > worst)
            worst = r.seconds;
        th_resp_free(&r);
    }
    res = th_burst_wait(p, 48);
    print_message("GET /api/v1/me during 48 log-ins: worst %.3f s\n", worst);
    for (size_t i = 0; i < json_array_size(res); i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(res, i), "status")),
                         200);
    json_decref(res);
    assert_true(worst < 0.8); /* on the database workers: 1.5 s here */
}

/* ---- 4. logout and devices ---------------------------------------------------------------- */

static long long session_of(const char *device)
{
    return th_sqlf(&srv, "SELECT MAX(id) FROM sessions WHERE device_id = '%s'", device);
}

static void logout_and_devices(void **state)
{
    long long leader = uid_of(&srv, "leader");
    char *aa, *ra, *ab, *rb, *ac, *rc, *ao, *ro, *path;
    long long sa, sb, so;
    struct th_resp r;
    json_t *items, *it;
    size_t i;
    int seen_a = 0, seen_b = 0;

    login_ok(&srv, "leader", "leader-dev-a", &aa, &ra);
    login_ok(&srv, "leader", "leader-dev-b", &ab, &rb);
    sa = session_of("leader-dev-a");
    sb = session_of("leader-dev-b");

    th_call_tok(&srv, "GET", "/api/v1/me/devices", aa, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    items = json_object_get(r.json, "items");
    json_array_foreach(items, i, it)
    {
        json_int_t id = json_integer_value(json_object_get(it, "id"));
        if (id == sa) {
            seen_a = 1;
            assert_true(json_is_true(json_object_get(it, "current")));
            assert_string_equal(json_string_value(json_object_get(it, "device_id")),
                                "leader-dev-a");
        } else if (id == sb) {
            seen_b = 1;
            assert_true(json_is_false(json_object_get(it, "current")));
        } else {
            assert_true(json_is_false(json_object_get(it, "current")));
        }
    }
    assert_true(seen_a && seen_b);
    th_resp_free(&r);

    /* Logout ends this device's session only. */
    th_call_tok(&srv, "POST", "/api/v1/auth/logout", aa, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM sessions WHERE id = %lld AND revoked_reason = 'logout'",
                sa),
        1);
    refresh_call(&srv, ra, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);
    expect_rejected("access token of a logged-out device", aa, "session ended");
    expect_accepted("access token of the other device", ab, leader, "leader");
    refresh_call(&srv, rb, &r);
    assert_int_equal(r.status, 200);
    free(rb);
    rb = jstr(&r, "refresh_token");
    th_resp_free(&r);

    /* Revoke device b from device c. */
    login_ok(&srv, "leader", "leader-dev-c", &ac, &rc);
    path = th_xprintf("/api/v1/me/devices/%lld", sb);
    th_call_tok(&srv, "DELETE", path, ac, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);
    free(path);
    assert_int_equal(th_sqlf(&srv,
                             "SELECT COUNT(*) FROM sessions WHERE id = %lld AND revoked_reason ="
                             " 'device_revoked'",
                             sb),
                     1);
    refresh_call(&srv, rb, &r);
    assert_int_equal(r.status, 401);
    th_resp_free(&r);
    expect_rejected("access token of a revoked device", ab, "session ended");
    th_call_tok(&srv, "GET", "/api/v1/me/devices", ac, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        json_int_t id = json_integer_value(json_object_get(it, "id"));
        assert_true(id != sa && id != sb);
    }
    th_resp_free(&r);

    /* Someone else's session: 404, and it stays alive. */
    login_ok(&srv, "citizen", "citizen-own-phone", &ao, &ro);
    so = session_of("citizen-own-phone");
    assert_true(th_sqlf(&srv, "SELECT user_id FROM sessions WHERE id = %lld", so) != leader);
    path = th_xprintf("/api/v1/me/devices/%lld", so);
    th_call_tok(&srv, "DELETE", path, ac, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(th_error_code(&r), "not_found");
    th_resp_free(&r);
    free(path);
    assert_int_equal(
        th_sqlf(&srv, "SELECT COUNT(*) FROM sessions WHERE id = %lld AND revoked_at IS NULL", so),
        1);
    refresh_call(&srv, ro, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    th_call_tok(&srv, "DELETE", "/api/v1/me/devices/999999", ac, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(th_error_code(&r), "not_found");
    th_resp_free(&r);

    free(aa);
    free(ra);
    free(ab);
    free(rb);
    free(ac);
    free(rc);
    free(ao);
    free(ro);
}

/* ---- 5. lockout and throttling (own server) ----------------------------------------------- */

static void expect_login(struct th_server *s, const char *account, const char *password,
                         long status, const char *code)
{
    struct th_resp r;
    char got_code[64];
    bool got_token;
    long got;

    th_login(s, account, password, "lock-test", &r);
    got = r.status;
    snprintf(got_code, sizeof got_code, "%s", th_error_code(&r));
    got_token = json_object_get(r.json, "access_token") != NULL;
    if (got != status)
        print_error("login %s: expected %ld, got %ld %.300s\n", account, status, got, r.body);
    th_resp_free(&r); /* before asserting: a failed test must not also leak */
    assert_int_equal(got, status);
    if (code)
        assert_string_equal(got_code, code);
    else
        assert_true(got_token);
}

/* Re-login as admin (the cached token may have expired once the clock moved). */
static void fresh_admin(struct th_server *s)
{
    json_object_del(s->tokens, "admin");
    (void)th_token(s, "admin");
}

static void lockout_and_address_throttling(void **state)
{
    const char *insp, *insp_pw;
    long long attempts, sessions;
    char acct[32];

    th_server_start(&own, "testing.clock_control = true\nauth.lockout_threshold = 3\n");
    th_seed(&own);
    (void)th_token(&own, "admin");
    insp = th_username(&own, "inspector");
    insp_pw = th_password(&own, "inspector");

    /* Three failures lock the account: then even the right password is refused. */
    for (int i = 0; i < 3; i++)
        expect_login(&own, insp, "Wrong-Password-1", 401, "unauthenticated");
    attempts = th_sqlf(&own, "SELECT COUNT(*) FROM login_attempts");
    sessions = th_sqlf(&own, "SELECT COUNT(*) FROM sessions");
    expect_login(&own, insp, insp_pw, 423, "locked");
    assert_int_equal(th_sqlf(&own, "SELECT COUNT(*) FROM sessions"), sessions);
    assert_int_equal(th_sqlf(&own, "SELECT COUNT(*) FROM login_attempts"), attempts);
    assert_int_equal(th_sqlf(&own, "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND"
                                   " result = 'denied' AND detail = 'account locked'"),
                     1);
    /* Other accounts are not affected. */
    expect_login(&own, th_username(&own, "handler"), th_password(&own, "handler"), 200, NULL);

    /* Past auth.lockout_duration_s (900 s) the right password works again. */
    th_clock_offset(&own, 901 * 1000LL);
    expect_login(&own, insp, insp_pw, 200, NULL);
    fresh_admin(&own);

    /* Throttling per source address: threshold * 4 = 12 failures across accounts. */
    for (int i = 0; i < 12; i++) {
        snprintf(acct, sizeof acct, "ghost-%d", i);
        expect_login(&own, acct, "Wrong-Password-1", 401, "unauthenticated");
    }
    attempts = th_sqlf(&own, "SELECT COUNT(*) FROM login_attempts");
    sessions = th_sqlf(&own, "SELECT COUNT(*) FROM sessions");
    expect_login(&own, th_username(&own, "operator"), th_password(&own, "operator"), 429,
                 "rate_limited");
    assert_int_equal(th_sqlf(&own, "SELECT COUNT(*) FROM sessions"), sessions);
    assert_int_equal(th_sqlf(&own, "SELECT COUNT(*) FROM login_attempts"), attempts);
    assert_int_equal(th_sqlf(&own, "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND"
                                   " result = 'denied' AND detail = 'source address throttled'"),
                     1);
    th_clock_offset(&own, 3 * 900 * 1000LL);
    expect_login(&own, th_username(&own, "operator"), th_password(&own, "operator"), 200, NULL);
}

/* The lock belongs to the user, not to the spelling of the account: a user with both a username
 * and a phone number must not get threshold guesses per spelling. */
static void lockout_covers_every_login_name_of_a_user(void **state)
{
    const char *name, *pw;

    th_server_start(&own, "auth.lockout_threshold = 3\n");
    th_seed(&own);
    name = th_username(&own, "handler");
    pw = th_password(&own, "handler");
    {
        char q[160];
        snprintf(q, sizeof q, "UPDATE users SET phone = '13912345678' WHERE username = '%s'", name);
        th_sql_exec(&own, q);
    }
    for (int i = 0; i < 3; i++)
        expect_login(&own, name, "Wrong-Password-1", 401, "unauthenticated");
    expect_login(&own, name, pw, 423, "locked");
    /* BUG: reported — session_login counts failures per account string, so the phone number of
     * the same locked user still logs in (and gets 3 more guesses). */
    expect_login(&own, "13912345678", pw, 423, "locked");
}

/* ---- 6. password change ------------------------------------------------------------------- */

static void put_password(const char *token, const char *old_pw, const char *new_pw,
                         struct th_resp *r)
{
    json_t *b = json_pack("{s:s,s:s}", "old_password", old_pw, "new_password", new_pw);
    char *body = json_dumps(b, JSON_COMPACT);

    th_call_tok(&srv, "PUT", "/api/v1/me/password", token, NULL, NULL, body, r);
    free(body);
    json_decref(b);
}

static void password_change(void **state)
{
    const char *name = th_username(&srv, "shift_lead");
    const char *old_pw = th_password(&srv, "shift_lead");
    const char *new_pw = "Brand-New-Passw0rd";
    long long uid = uid_of(&srv, "shift_lead");
    long long crc = th_sqlf(&srv, "SELECT CRC32(password_hash) FROM users WHERE id = %lld", uid);
    long long denied = th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action ="
                                     " 'user.password_change' AND result = 'denied'");
    char *access, *refresh, *weak;
    struct th_resp r;

    login_ok(&srv, "shift_lead", "shift-desk", &access, &refresh);

    put_password(access, "Not-The-Old-One-1", new_pw, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(th_error_code(&r), "permission_denied");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action ="
                                   " 'user.password_change' AND result = 'denied'"),
                     denied + 1);

    put_password(access, old_pw, "short", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(th_error_code(&r), "invalid_argument");
    assert_non_null(strstr(err_message(&r), "new_password"));
    th_resp_free(&r);
    weak = th_xprintf("Xx-1%s-2", name); /* contains the username */
    put_password(access, old_pw, weak, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(th_error_code(&r), "invalid_argument");
    th_resp_free(&r);
    free(weak);
    assert_int_equal(th_sqlf(&srv, "SELECT CRC32(password_hash) FROM users WHERE id = %lld", uid),
                     crc);
    assert_int_equal(th_sqlf(&srv, "SELECT token_version FROM users WHERE id = %lld", uid), 0);
    expect_accepted("token after refused changes", access, uid, "shift_lead");

    put_password(access, old_pw, new_pw, &r);
    assert_int_equal(r.status, 204);
    th_resp_free(&r);
    assert_true(th_sqlf(&srv, "SELECT CRC32(password_hash) FROM users WHERE id = %lld", uid) !=
                crc);
    expect_rejected("access token after a password change", access, NULL);
    refresh_call(&srv, refresh, &r);
    assert_int_equal(r.status, 401);
    th_resp_free(&r);
    expect_login(&srv, name, old_pw, 401, "unauthenticated");
    expect_login(&srv, name, new_pw, 200, NULL);
    free(access);
    free(refresh);
}

/* ---- 7. registration ---------------------------------------------------------------------- */

static void post_register(const char *phone, const char *extra, struct th_resp *r)
{
    char *body =
        th_xprintf("{\"phone\":\"%s\",\"password\":\"Citizen-Pass-77\",\"display_name\":"
                   "\"\\u5f20\\u4e09\",\"device_id\":\"reg-phone\",\"platform\":\"android\","
                   "\"code\":\"123456\""
                   "%s}",
                   phone, extra ? extra : "");
    th_post_json(&srv, "/api/v1/auth/register", NULL, body, r);
    free(body);
}

/* The whole two-step registration (code by text message, then the account) runs against an
 * SMS gateway stand-in in abuse_test.c. This server has no gateway (sms.url is empty). */
static void citizen_registration(void **state)
{
    long long users = th_sqlf(&srv, "SELECT COUNT(*) FROM users");
    struct th_resp r;

    th_post_json(&srv, "/api/v1/auth/register/code", NULL, "{\"phone\":\"13800138000\"}", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(th_error_code(&r), "unavailable");
    th_resp_free(&r);
    post_register("13800138000", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(th_error_code(&r), "invalid_argument");
    assert_non_null(strstr(err_message(&r), "code"));
    assert_null(json_object_get(r.json, "access_token"));
    th_resp_free(&r);

    /* Mass assignment: fields the client does not own. */
    post_register("13800138001", ",\"roles\":[\"admin\"]", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(th_error_code(&r), "invalid_argument");
    assert_non_null(strstr(err_message(&r), "roles"));
    th_resp_free(&r);
    post_register("13800138001", ",\"user_id\":1", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(th_error_code(&r), "invalid_argument");
    assert_non_null(strstr(err_message(&r), "user_id"));
    th_resp_free(&r);
    post_register("13800138001", ",\"disabled\":0,\"token_version\":0", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(th_error_code(&r), "invalid_argument");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM users WHERE phone = '13800138001'"), 0);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM users"), users);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM users WHERE roles & 128"), 1);
}

/* ---- 8. bad login bodies ------------------------------------------------------------------ */

struct table_counts {
    long long users, attempts, sessions, logins;
};

static void snapshot(struct table_counts *c)
{
    c->users = th_sqlf(&srv, "SELECT COUNT(*) FROM users");
    c->attempts = th_sqlf(&srv, "SELECT COUNT(*) FROM login_attempts");
    c->sessions = th_sqlf(&srv, "SELECT COUNT(*) FROM sessions");
    c->logins = audit_n(&srv, "auth.login");
}

static void expect_unchanged(const struct table_counts *before)
{
    struct table_counts now;

    snapshot(&now);
    assert_int_equal(now.users, before->users);
    assert_int_equal(now.attempts, before->attempts);
    assert_int_equal(now.sessions, before->sessions);
    assert_int_equal(now.logins, before->logins);
}

static void login_raw(const char *ctype, const char *body, size_t len, struct th_resp *r)
{
    const char *hs[] = {ctype, NULL};
    th_request(&srv, "POST", "/api/v1/auth/login", ctype ? hs : NULL, body, len, 0, r);
}

/* A buffer of prefix, n copies of c1, n copies of c2, suffix (malloc). */
static char *repeat_body(const char *prefix, char c1, char c2, size_t n, const char *suffix)
{
    size_t lp = strlen(prefix), ls = strlen(suffix);
    char *b = malloc(lp + 2 * n + ls + 1);

    if (!b)
        th_die("out of memory");
    memcpy(b, prefix, lp);
    memset(b + lp, c1, n);
    memset(b + lp + n, c2, n);
    memcpy(b + lp + 2 * n, suffix, ls + 1);
    return b;
}

static void expect_bad_login(const char *ctype, const char *body, long status, const char *code,
                             const char *in_message)
{
    struct th_resp r;

    login_raw(ctype, body, strlen(body), &r);
    if (r.status != status)
        print_error("body %.60s...: expected %ld, got %ld %s\n", body, status, r.status, r.body);
    assert_int_equal(r.status, status);
    assert_string_equal(th_error_code(&r), code);
    if (in_message && !strstr(err_message(&r), in_message)) {
        print_error("message \"%s\" does not mention \"%s\"\n", err_message(&r), in_message);
        fail();
    }
    assert_true(r.seconds < 1.0);
    assert_null(json_object_get(r.json, "access_token"));
    th_resp_free(&r);
}

static void bad_login_bodies(void **state)
{
    static const char ct[] = "Content-Type: application/json";
    struct table_counts before;
    char *body;

    snapshot(&before);

    expect_bad_login(ct, "{\"account\": \"x\", ", 400, "invalid_argument", "line");
    /* 10,000 levels do not fit the 4 KiB limit of the route: refused before any parsing. */
    body = repeat_body("", '[', ']', 10000, "");
    expect_bad_login(ct, body, 413, "payload_too_large", NULL);
    free(body);
    /* 1,900 levels do fit: refused by the depth check. */
    body = repeat_body("{\"account\":", '[', ']', 1900, "}");
    expect_bad_login(ct, body, 400, "invalid_argument", "nested");
    free(body);
    body = repeat_body("{\"account\":", '{', '}', 1, "}"); /* {"account":{}} */
    expect_bad_login(ct, body, 400, "invalid_argument", "account");
    free(body);
    expect_bad_login(ct,
                     "{\"account\":\"a\",\"password\":\"b\",\"device_id\":\"c\","
                     "\"platform\":\"android\",\"is_admin\":true}",
                     400, "invalid_argument", "is_admin");
    expect_bad_login("Content-Type: text/plain",
                     "{\"account\":\"a\",\"password\":\"b\",\"device_id\":\"c\","
                     "\"platform\":\"android\"}",
                     415, "unsupported_media_type", NULL);
    body = repeat_body("{\"account\":\"", 'a', 'a', 2500,
                       "\",\"password\":\"b\",\"device_id\":\"c\",\"platform\":\"android\"}");
    expect_bad_login(ct, body, 413, "payload_too_large", NULL);
    free(body);
    expect_bad_login(ct, "{\"account\":\"a\"}", 400, "invalid_argument", "required");
    expect_bad_login(ct, "", 400, "invalid_argument", NULL);
    expect_bad_login(ct,
                     "{\"account\":\"a\",\"password\":12345678901,\"device_id\":\"c\","
                     "\"platform\":\"android\"}",
                     400, "invalid_argument", "password");
    expect_bad_login(ct,
                     "{\"account\":\"a\",\"account\":\"b\",\"password\":\"c\","
                     "\"device_id\":\"c\",\"platform\":\"android\"}",
                     400, "invalid_argument", NULL);
    expect_bad_login(ct, "[\"account\",\"password\"]", 400, "invalid_argument", NULL);

    expect_unchanged(&before);
}

/* ---- 9. machine API keys ------------------------------------------------------------------ */

#define MACHINE_KEY "ck_hb000001s3cr3t-0123456789abcdefXYZ"

static void post_api_key(const char *key, struct th_resp *r)
{
    char *body = th_xprintf("{\"api_key\":\"%s\"}", key);
    th_post_json(&srv, "/api/v1/auth/token", NULL, body, r);
    free(body);
}

static void api_key_exchange_and_revocation(void **state)
{
    long long uid, key_id, denied;
    char *tok;
    struct th_resp r;
    json_t *pl;
    char sub[32];

    th_sql_exec(&srv, "INSERT INTO users (username, display_name, roles) VALUES"
                      " ('hotline-bridge', '12345 hotline bridge', 256)");
    uid = th_sqlf(&srv, "SELECT id FROM users WHERE username = 'hotline-bridge'");
    {
        char q[512];
        snprintf(q, sizeof q,
                 "INSERT INTO api_keys (name, prefix, key_hash, user_id) VALUES ('hotline',"
                 " 'hb000001', SHA2('%s', 256), %lld)",
                 MACHINE_KEY, uid);
        th_sql_exec(&srv, q);
    }
    key_id = th_sqlf(&srv, "SELECT id FROM api_keys WHERE prefix = 'hb000001'");

    post_api_key(MACHINE_KEY, &r);
    assert_int_equal(r.status, 200);
    tok = jstr(&r, "access_token");
    assert_non_null(tok);
    assert_null(json_object_get(r.json, "refresh_token"));
    th_resp_free(&r);
    pl = token_payload(tok);
    assert_int_equal(json_array_size(json_object_get(pl, "roles")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(pl, "roles"), 0)),
                        "machine");
    snprintf(sub, sizeof sub, "%lld", uid);
    assert_string_equal(json_string_value(json_object_get(pl, "sub")), sub);
    json_decref(pl);
    assert_int_equal(
        th_sqlf(&srv, "SELECT last_used_at IS NOT NULL FROM api_keys WHERE id = %lld", key_id), 1);

    /* ROLE_ANY accepts it (logout: no session to end, 400); ROLE_USER does not. */
    th_call_tok(&srv, "POST", "/api/v1/auth/logout", tok, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(th_error_code(&r), "invalid_argument");
    th_resp_free(&r);
    th_call_tok(&srv, "GET", "/api/v1/me", tok, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(th_error_code(&r), "permission_denied");
    th_resp_free(&r);

    /* Wrong secret with the right prefix, and malformed keys. */
    denied = th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.api_key' AND"
                           " result = 'denied'");
    post_api_key("ck_hb000001s3cr3t-0123456789abcdefXYy", &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    assert_null(json_object_get(r.json, "access_token"));
    th_resp_free(&r);
    post_api_key("hb000001s3cr3t-0123456789abcdefXYZ", &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);
    assert_int_equal(th_sqlf(&srv, "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.api_key'"
                                   " AND result = 'denied'"),
                     denied + 2);

    /* Revoking the key kills the access tokens already issued for it. */
    {
        char q[128];
        snprintf(q, sizeof q, "UPDATE api_keys SET revoked_at = NOW() WHERE id = %lld", key_id);
        th_sql_exec(&srv, q);
    }
    {
        long long before = audit_n(&srv, "auth.token_rejected");
        th_call_tok(&srv, "POST", "/api/v1/auth/logout", tok, NULL, NULL, NULL, &r);
        assert_int_equal(r.status, 401);
        assert_string_equal(th_error_code(&r), "unauthenticated");
        th_resp_free(&r);
        assert_int_equal(audit_n(&srv, "auth.token_rejected"), before + 1);
        assert_int_equal(th_sqlf(&srv,
                                 "SELECT detail = 'api key revoked' FROM audit_log WHERE action ="
                                 " 'auth.token_rejected' ORDER BY id DESC LIMIT 1"),
                         1);
    }
    post_api_key(MACHINE_KEY, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(login_success_and_uniform_failure),
        cmocka_unit_test(tokens_minted_by_pyjwt_are_accepted),
        cmocka_unit_test(forged_and_malformed_tokens_are_rejected),
        cmocka_unit_test(oversized_tokens),
        cmocka_unit_test(logout_all_and_disabling_revoke_access_tokens),
        cmocka_unit_test(refresh_rotation_and_reuse_detection),
        cmocka_unit_test(tokens_checked_together),
        cmocka_unit_test(login_burst_holds_no_database_worker),
        cmocka_unit_test(logout_and_devices),
        cmocka_unit_test(password_change),
        cmocka_unit_test(citizen_registration),
        cmocka_unit_test(bad_login_bodies),
        cmocka_unit_test(api_key_exchange_and_revocation),
        cmocka_unit_test_teardown(lockout_and_address_throttling, stop_own),
        cmocka_unit_test_teardown(lockout_covers_every_login_name_of_a_user, stop_own),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
