/* tests/e2e/es256_test.c: a deployment with ES256 tokens (auth.jwt_alg = ES256): logins mint
 * ES256 tokens that the server accepts; a token signed with the previous key stays valid during
 * rotation; an HS256 token keyed with the public key (algorithm confusion) is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "harness.h"

static struct th_server srv;
static char dir[256];

static int setup(void **state)
{
    char extra[1024];
    snprintf(dir, sizeof dir, "/tmp/cityd-es256-%d", (int)getpid());
    if (th_sh("mkdir -p %s && cd %s && "
              "openssl ecparam -name prime256v1 -genkey -noout -out new.pem 2>/dev/null && "
              "openssl ec -in new.pem -pubout -out new.pub 2>/dev/null && "
              "openssl ecparam -name prime256v1 -genkey -noout -out old.pem 2>/dev/null && "
              "openssl ec -in old.pem -pubout -out old.pub 2>/dev/null",
              dir, dir) != 0)
        th_die("openssl could not make EC keys");
    snprintf(extra, sizeof extra,
             "auth.jwt_alg = ES256\nauth.jwt_es256_private_key = %s/new.pem\n"
             "auth.jwt_es256_public_key = %s/new.pub\n"
             "auth.jwt_es256_previous_public_key = %s/old.pub\n",
             dir, dir, dir);
    th_server_start(&srv, extra);
    return 0;
}

static int teardown(void **state)
{
    th_sh("rm -rf %s", dir);
    return th_server_stop(&srv);
}

/* Run /usr/bin/python3 with PyJWT to sign claims for the inspector; returns a malloc'd token. */
static char *pyjwt(const char *alg, const char *keyfile, const char *kid)
{
    char cmd[2048], buf[4096];
    FILE *p;
    long long uid = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'inspector'");

    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import jwt,time; k=open('%s').read(); "
             "print(jwt.encode({'iss':'cityd','aud':'cityd-api','sub':'%lld','typ':'access',"
             "'roles':['inspector'],'tv':0,'iat':int(time.time()),'exp':int(time.time())+300},"
             " k, algorithm='%s', headers=%s))\"",
             keyfile, uid, alg, kid ? kid : "None");
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(buf, sizeof buf, p));
    pclose(p);
    buf[strcspn(buf, "\n")] = '\0';
    return strdup(buf);
}

static char *kid_of(const char *pubfile)
{
    char cmd[600], buf[64];
    FILE *p;
    snprintf(cmd, sizeof cmd, "sha256sum %s | cut -c1-16", pubfile);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(buf, sizeof buf, p));
    pclose(p);
    buf[strcspn(buf, "\n")] = '\0';
    return strdup(buf);
}

static void login_mints_es256_and_it_verifies(void **state)
{
    struct th_resp r;
    const char *tok = th_token(&srv, "inspector");
    char *hdr, cmd[9000];
    FILE *p;

    /* The header says ES256. */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import jwt; print(jwt.get_unverified_header('%s')['alg'])\"",
             tok);
    p = popen(cmd, "r");
    assert_non_null(p);
    hdr = calloc(1, 64);
    assert_non_null(fgets(hdr, 64, p));
    pclose(p);
    assert_string_equal(hdr, "ES256\n");
    free(hdr);
    th_get(&srv, "/api/v1/me", tok, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
}

static void previous_key_verifies_during_rotation(void **state)
{
    char key[400], kidh[64];
    char *kid, *tok;
    struct th_resp r;

    snprintf(key, sizeof key, "%s/old.pub", dir);
    kid = kid_of(key);
    snprintf(kidh, sizeof kidh, "{'kid':'%s'}", kid);
    snprintf(key, sizeof key, "%s/old.pem", dir);
    tok = pyjwt("ES256", key, kidh);
    th_get(&srv, "/api/v1/me", tok, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    free(tok);
    free(kid);
}

static void hs256_keyed_with_the_public_key_is_refused(void **state)
{
    char key[400];
    char *tok;
    struct th_resp r;

    snprintf(key, sizeof key, "%s/new.pub", dir);
    /* PyJWT refuses to use a PEM as an HMAC secret, so sign by hand with hmac. */
    {
        char cmd[2048], buf[4096];
        FILE *p;
        long long uid = th_sql_int(&srv, "SELECT id FROM users WHERE username = 'inspector'");
        snprintf(
            cmd, sizeof cmd,
            "/usr/bin/python3 -c \"import base64,hmac,hashlib,json,time; "
            "b=lambda d: base64.urlsafe_b64encode(d).rstrip(b'=').decode(); "
            "h=b(json.dumps({'alg':'HS256','typ':'JWT'}).encode()); "
            "c=b(json.dumps({'iss':'cityd','aud':'cityd-api','sub':'%lld','typ':'access',"
            "'roles':['admin'],'tv':0,'exp':int(time.time())+300}).encode()); "
            "s=b(hmac.new(open('%s','rb').read(), (h+'.'+c).encode(), hashlib.sha256).digest()); "
            "print(h+'.'+c+'.'+s)\"",
            uid, key);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(buf, sizeof buf, p));
        pclose(p);
        buf[strcspn(buf, "\n")] = '\0';
        tok = strdup(buf);
    }
    th_get(&srv, "/api/v1/me", tok, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(th_error_code(&r), "unauthenticated");
    th_resp_free(&r);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(login_mints_es256_and_it_verifies),
        cmocka_unit_test(previous_key_verifies_during_rotation),
        cmocka_unit_test(hs256_keyed_with_the_public_key_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
