/* tests/unit/test_jwt.c: server/auth/jwt.c — round trips, key handling and the attack catalogue.
 *
 * Every rejection test checks the reason as well as the code, so a token refused for the wrong
 * reason (say, a forged signature that only fails because of a typo in the claims) fails the
 * test. Attack tokens are built here by hand (libsodium HMAC, OpenSSL ECDSA, libjwt), never with
 * the code under test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "server/auth/jwt.h"
#include "server/core/roles.h"

#define NOW 1767225600LL /* 2026-01-01T00:00:00Z */
#define LEEWAY 30
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define TOK (AUTH_JWT_MAX + 1)

static const unsigned char secret1[] = "k1-secret-0123456789abcdefghijklmnop";
static const unsigned char secret2[] = "k2-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA";
#define SECRET_LEN (sizeof secret1 - 1)

static const struct auth_policy pol = {"cityd", "cityd-api", LEEWAY};

static char tmpdir[64];
static char ec1_priv[128], ec1_pub[128], ec2_priv[128], ec2_pub[128], p384_pub[128];
static EVP_PKEY *ec1, *ec2;
static struct auth_keys *hs;     /* k1 primary, k2 for rotation */
static struct auth_keys *hs_old; /* k2 primary: the deployment before the rotation */
static struct auth_keys *es;     /* e1 primary with private key, e2 verify-only */
static struct auth_keys *es_old; /* e2 primary with private key */
static struct auth_keys *es_pub; /* e1 public key only */

static void write_key(const char *path, EVP_PKEY *k, int private)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    if (private)
        assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_PUBKEY(f, k), 1);
    fclose(f);
}

static int setup(void **state)
{
    char err[200] = "";
    EVP_PKEY *p384;

    if (sodium_init() < 0)
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cityd_test_jwt_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(ec1_priv, sizeof ec1_priv, "%s/ec1.key", tmpdir);
    snprintf(ec1_pub, sizeof ec1_pub, "%s/ec1.pub", tmpdir);
    snprintf(ec2_priv, sizeof ec2_priv, "%s/ec2.key", tmpdir);
    snprintf(ec2_pub, sizeof ec2_pub, "%s/ec2.pub", tmpdir);
    snprintf(p384_pub, sizeof p384_pub, "%s/p384.pub", tmpdir);
    ec1 = EVP_EC_gen("P-256");
    ec2 = EVP_EC_gen("P-256");
    p384 = EVP_EC_gen("P-384");
    if (!ec1 || !ec2 || !p384)
        return -1;
    write_key(ec1_priv, ec1, 1);
    write_key(ec1_pub, ec1, 0);
    write_key(ec2_priv, ec2, 1);
    write_key(ec2_pub, ec2, 0);
    write_key(p384_pub, p384, 0);
    EVP_PKEY_free(p384);

    hs = auth_keys_new_hs256("k1", secret1, SECRET_LEN, "k2", secret2, SECRET_LEN, err, sizeof err);
    hs_old = auth_keys_new_hs256("k2", secret2, SECRET_LEN, NULL, NULL, 0, err, sizeof err);
    es = auth_keys_new_es256("e1", ec1_priv, ec1_pub, "e2", ec2_pub, err, sizeof err);
    es_old = auth_keys_new_es256("e2", ec2_priv, ec2_pub, NULL, NULL, err, sizeof err);
    es_pub = auth_keys_new_es256("e1", "", ec1_pub, "", "", err, sizeof err); /* unset config */
    if (!hs || !hs_old || !es || !es_old || !es_pub) {
        fprintf(stderr, "key setup: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    const char *files[] = {ec1_priv, ec1_pub, ec2_priv, ec2_pub, p384_pub};

    auth_keys_free(hs);
    auth_keys_free(hs_old);
    auth_keys_free(es);
    auth_keys_free(es_old);
    auth_keys_free(es_pub);
    EVP_PKEY_free(ec1);
    EVP_PKEY_free(ec2);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(tmpdir);
    return 0;
}

static struct auth_claims claims(const char *typ)
{
    struct auth_claims c;

    memset(&c, 0, sizeof c);
    c.sub = 42;
    c.roles = ROLE_INSPECTOR | ROLE_ADMIN;
    c.tv = 3;
    snprintf(c.typ, sizeof c.typ, "%s", typ);
    snprintf(c.device, sizeof c.device, "Redmi Note 12 小米手机"); /* any UTF-8 text */
    c.akid = 9;
    snprintf(c.family, sizeof c.family, "fam0123456789");
    snprintf(c.jti, sizeof c.jti, "jti-abc");
    c.iat = NOW;
    c.nbf = NOW;
    c.exp = NOW + 900;
    return c;
}

static void sign(const struct auth_keys *k, const struct auth_claims *c, char *out)
{
    assert_int_equal(auth_jwt_sign(k, &pol, c, out, TOK), ERR_OK);
}

/* Append t to s (a TOK buffer). */
static void cat(char *s, const char *t)
{
    size_t off = strlen(s);

    assert_true(strlen(t) < TOK - off);
    snprintf(s + off, TOK - off, "%s", t);
}

/* Append base64url of bin to s (a TOK buffer). */
static void cat_b64(char *s, const void *bin, size_t n)
{
    size_t off = strlen(s);

    assert_true(sodium_base64_ENCODED_LEN(n, B64) <= TOK - off);
    sodium_bin2base64(s + off, TOK - off, bin, n, B64);
}

static void hmac(const unsigned char *key, size_t keylen, const char *in, size_t n,
                 unsigned char mac[32])
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)in, n);
    crypto_auth_hmacsha256_final(&st, mac);
}

/* base64url(header).base64url(payload) into out. */
static void signing_input(char *out, const char *header, const char *payload)
{
    out[0] = '\0';
    cat_b64(out, header, strlen(header));
    cat(out, ".");
    cat_b64(out, payload, strlen(payload));
}

/* A token with the given header and payload JSON, HMAC-SHA256 signed with key. */
static void forge_hs(char *out, const char *header, const char *payload, const unsigned char *key,
                     size_t keylen)
{
    unsigned char mac[32];

    signing_input(out, header, payload);
    hmac(key, keylen, out, strlen(out), mac);
    cat(out, ".");
    cat_b64(out, mac, sizeof mac);
}

/* The same, ES256-signed by priv (JOSE r||s). */
static void forge_es(char *out, const char *header, const char *payload, EVP_PKEY *priv)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128], sig[64];
    const unsigned char *p = der;
    size_t dlen = sizeof der;
    ECDSA_SIG *es_sig;

    signing_input(out, header, payload);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, priv), 1);
    assert_int_equal(EVP_DigestSign(md, der, &dlen, (const unsigned char *)out, strlen(out)), 1);
    es_sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    assert_non_null(es_sig);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es_sig), sig, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es_sig), sig + 32, 32), 32);
    ECDSA_SIG_free(es_sig);
    EVP_MD_CTX_free(md);
    cat(out, ".");
    cat_b64(out, sig, sizeof sig);
}

/* A valid access-token payload with exp; extra (",\"k\":v") is appended inside the object. */
static void payload(char *out, size_t n, const char *extra)
{
    snprintf(out, n,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"42\",\"typ\":\"access\",\"roles\":"
             "[\"admin\"],"
             "\"tv\":1,\"exp\":%lld%s}",
             NOW + 600, extra);
}

#define HS_HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}"
#define ES_HDR "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"e1\"}"

/* A forged HS256 access token signed with the real primary secret, so only the payload decides. */
static void forge_payload(char *out, const char *pl)
{
    forge_hs(out, HS_HDR, pl, secret1, SECRET_LEN);
}

static void expect_ok(const struct auth_keys *k, const char *tok, const char *typ,
                      struct auth_claims *out)
{
    char why[64] = "";
    enum err res;

    res = auth_jwt_verify(k, &pol, tok, strlen(tok), NOW, typ, out, why, sizeof why);
    if (res)
        print_error("rejected: %s\n", why);
    assert_int_equal(res, ERR_OK);
}

static void expect_reject_len(const struct auth_keys *k, const char *tok, size_t len,
                              const char *typ, const char *reason)
{
    struct auth_claims out, before;
    char why[64] = "";
    enum err res;

    memset(&out, 0x5a, sizeof out);
    before = out;
    res = auth_jwt_verify(k, &pol, tok, len, NOW, typ, &out, why, sizeof why);
    assert_int_equal(res, ERR_UNAUTH);
    assert_string_equal(why, reason);
    assert_memory_equal(&out, &before, sizeof out); /* written only on success */
}

static void expect_reject(const struct auth_keys *k, const char *tok, const char *typ,
                          const char *reason)
{
    expect_reject_len(k, tok, strlen(tok), typ, reason);
}

/* Segment i (0..2) of tok, NUL-terminated, into out. */
static void segment(const char *tok, int i, char *out)
{
    const char *s = tok;
    size_t n;

    for (; i > 0; i--)
        s = strchr(s, '.') + 1;
    n = strcspn(s, ".");
    memcpy(out, s, n);
    out[n] = '\0';
}

static void assert_same_claims(const struct auth_claims *a, const struct auth_claims *b)
{
    assert_int_equal(a->sub, b->sub);
    assert_int_equal(a->roles, b->roles);
    assert_int_equal(a->tv, b->tv);
    assert_string_equal(a->typ, b->typ);
    assert_string_equal(a->device, b->device);
    assert_int_equal(a->akid, b->akid);
    assert_string_equal(a->family, b->family);
    assert_string_equal(a->jti, b->jti);
    assert_int_equal(a->iat, b->iat);
    assert_int_equal(a->nbf, b->nbf);
    assert_int_equal(a->exp, b->exp);
}

static void header_of(const char *tok, char *out, size_t n)
{
    char seg[TOK];
    size_t len;

    segment(tok, 0, seg);
    assert_int_equal(
        sodium_base642bin((unsigned char *)out, n - 1, seg, strlen(seg), NULL, &len, NULL, B64), 0);
    out[len] = '\0';
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 8192);

    assert_non_null(f);
    *n = fread(buf, 1, 8191, f);
    fclose(f);
    return buf;
}

static void hs256_round_trip(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS), got;
    char tok[TOK], hdr[256], *grants;
    jwt_t *j = NULL;

    sign(hs, &c, tok);
    header_of(tok, hdr, sizeof hdr);
    assert_string_equal(hdr, HS_HDR);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    assert_same_claims(&got, &c);

    /* An independent implementation agrees on the signature and the payload. */
    assert_int_equal(jwt_decode(&j, tok, secret1, (int)SECRET_LEN), 0);
    grants = jwt_get_grants_json(j, "roles");
    assert_string_equal(grants, "[\"inspector\",\"admin\"]");
    assert_string_equal(jwt_get_grant(j, "sub"), "42");
    free(grants);
    jwt_free(j);
}

static void es256_round_trip(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS), got;
    char tok[TOK], hdr[256], *pem;
    size_t n;
    jwt_t *j = NULL;

    sign(es, &c, tok);
    header_of(tok, hdr, sizeof hdr);
    assert_string_equal(hdr, ES_HDR);
    expect_ok(es, tok, AUTH_TYP_ACCESS, &got);
    assert_same_claims(&got, &c);
    expect_ok(es_pub, tok, AUTH_TYP_ACCESS, &got); /* a verify-only deployment */

    /* libjwt accepts our r||s signature, so other JOSE verifiers will too. */
    pem = read_file(ec1_pub, &n);
    assert_int_equal(jwt_decode(&j, tok, (const unsigned char *)pem, (int)n), 0);
    assert_int_equal(jwt_get_alg(j), JWT_ALG_ES256);
    jwt_free(j);
    free(pem);
}

static void es256_accepts_libjwt_signature(void **state)
{
    char pl[512], *tok, *pem;
    struct auth_claims got;
    size_t n;
    jwt_t *j = NULL;

    /* A token signed by libjwt (its own DER to r||s conversion) passes our OpenSSL verifier. */
    payload(pl, sizeof pl, "");
    pem = read_file(ec1_priv, &n);
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, pl), 0);
    assert_int_equal(jwt_add_header(j, "kid", "e1"), 0);
    assert_int_equal(jwt_set_alg(j, JWT_ALG_ES256, (const unsigned char *)pem, (int)n), 0);
    sodium_memzero(pem, n);
    free(pem);
    tok = jwt_encode_str(j);
    jwt_free(j);
    assert_non_null(tok);
    expect_ok(es, tok, AUTH_TYP_ACCESS, &got);
    free(tok);
    assert_int_equal(got.sub, 42);
    assert_int_equal(got.roles, ROLE_ADMIN);
}

static void refresh_round_trip_and_type_confusion(void **state)
{
    struct auth_claims a = claims(AUTH_TYP_ACCESS), r = claims(AUTH_TYP_REFRESH), got;
    char at[TOK], rt[TOK], hdr[256];

    sign(hs, &a, at);
    sign(hs, &r, rt);
    header_of(rt, hdr, sizeof hdr);
    assert_string_equal(hdr, HS_HDR);
    expect_ok(hs, rt, AUTH_TYP_REFRESH, &got);
    assert_same_claims(&got, &r);
    expect_reject(hs, rt, AUTH_TYP_ACCESS, "wrong token type");
    expect_reject(hs, at, AUTH_TYP_REFRESH, "wrong token type");

    sign(es, &r, rt);
    expect_ok(es, rt, AUTH_TYP_REFRESH, &got);
    expect_reject(es, rt, AUTH_TYP_ACCESS, "wrong token type");
}

static void header_and_claim_typ(void **state)
{
    char pl[512], tok[TOK];
    struct auth_claims got;

    payload(pl, sizeof pl, "");
    forge_hs(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", pl, secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong header type");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", pl, secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong header type");
    forge_hs(tok, HS_HDR, pl, secret1, SECRET_LEN); /* the control */
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    assert_string_equal(got.typ, AUTH_TYP_ACCESS);

    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"42\",\"roles\":[],\"tv\":0,"
             "\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong token type");
    expect_reject(hs, tok, AUTH_TYP_REFRESH, "wrong token type");
    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"42\",\"typ\":\"Access\","
             "\"roles\":[],\"tv\":0,\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong token type");
    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"42\",\"typ\":[\"access\"],"
             "\"roles\":[],\"tv\":0,\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong token type");
}

static void alg_none(void **state)
{
    char pl[512], tok[TOK];

    payload(pl, sizeof pl, "");
    /* The textbook form, empty signature. */
    signing_input(tok, "{\"alg\":\"none\",\"typ\":\"JWT\"}", pl);
    cat(tok, ".");
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "malformed token");
    expect_reject(es, tok, AUTH_TYP_ACCESS, "malformed token");
    /* With some signature bytes, so it gets as far as the header. */
    cat(tok, "AAAA");
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "algorithm not allowed");
    expect_reject(es, tok, AUTH_TYP_ACCESS, "algorithm not allowed");
    signing_input(tok, "{\"alg\":\"NONE\",\"typ\":\"JWT\",\"kid\":\"k1\"}", pl);
    cat(tok, ".AAAA");
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "algorithm not allowed");
}

static void hs256_keyed_with_es256_public_pem(void **state)
{
    char pl[512], tok[TOK], *pem;
    size_t n;
    jwt_t *j = NULL;

    payload(pl, sizeof pl, "");
    pem = read_file(ec1_pub, &n);
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"e1\"}", pl,
             (const unsigned char *)pem, n);
    /* The trap is real: bare libjwt, handed the public key, accepts the forgery. */
    assert_int_equal(jwt_decode(&j, tok, (const unsigned char *)pem, (int)n), 0);
    jwt_free(j);
    expect_reject(es, tok, AUTH_TYP_ACCESS, "algorithm not allowed");
    expect_reject(es_pub, tok, AUTH_TYP_ACCESS, "algorithm not allowed");
    free(pem);
}

static void tampered_payload(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS);
    const struct auth_keys *ks[] = {hs, es};
    char tok[TOK], forged[TOK], hdr[TOK], sig[TOK], pl[512];

    payload(pl, sizeof pl, "");
    for (size_t i = 0; i < 2; i++) {
        sign(ks[i], &c, tok);
        segment(tok, 0, hdr);
        segment(tok, 2, sig);
        forged[0] = '\0';
        cat(forged, hdr);
        cat(forged, ".");
        cat_b64(forged, pl, strlen(pl)); /* a valid payload, just not the signed one */
        cat(forged, ".");
        cat(forged, sig);
        expect_reject(ks[i], forged, AUTH_TYP_ACCESS, "bad signature");
    }
}

static void spliced_signature(void **state)
{
    struct auth_claims a = claims(AUTH_TYP_ACCESS), b = claims(AUTH_TYP_ACCESS);
    const struct auth_keys *ks[] = {hs, es};
    char ta[TOK], tb[TOK], forged[TOK], sig[TOK];

    a.roles = ROLE_ADMIN;
    b.roles = ROLE_CITIZEN;
    for (size_t i = 0; i < 2; i++) {
        sign(ks[i], &a, ta);
        sign(ks[i], &b, tb);
        segment(tb, 2, sig);
        memcpy(forged, ta, (size_t)(strrchr(ta, '.') - ta + 1));
        forged[strrchr(ta, '.') - ta + 1] = '\0';
        cat(forged, sig);
        expect_reject(ks[i], forged, AUTH_TYP_ACCESS, "bad signature");
    }
}

static void wrong_alg(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS);
    char tok[TOK], pl[512], *lt;
    jwt_t *j = NULL;

    sign(es, &c, tok); /* a genuine ES256 token at an HS256 deployment, and back */
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "algorithm not allowed");
    sign(hs, &c, tok);
    expect_reject(es, tok, AUTH_TYP_ACCESS, "algorithm not allowed");

    payload(pl, sizeof pl, "");
    assert_int_equal(jwt_new(&j), 0);
    assert_int_equal(jwt_add_grants_json(j, pl), 0);
    assert_int_equal(jwt_set_alg(j, JWT_ALG_HS512, secret1, (int)SECRET_LEN), 0);
    lt = jwt_encode_str(j);
    expect_reject(hs, lt, AUTH_TYP_ACCESS, "algorithm not allowed");
    free(lt);
    jwt_free(j);

    forge_hs(tok, "{\"alg\":\"hs256\",\"typ\":\"JWT\"}", pl, secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "algorithm not allowed");
    forge_hs(tok, "{\"typ\":\"JWT\"}", pl, secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "algorithm not allowed");
}

static void audience(void **state)
{
    struct auth_policy other = pol;
    struct auth_claims c = claims(AUTH_TYP_ACCESS), got;
    char tok[TOK], pl[512];

    other.audience = "cityd-ws";
    assert_int_equal(auth_jwt_sign(hs, &other, &c, tok, sizeof tok), ERR_OK);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong audience");

    snprintf(
        pl, sizeof pl,
        "{\"iss\":\"cityd\",\"aud\":[\"cityd-ws\",\"cityd-api\"],\"sub\":\"42\",\"typ\":\"access\","
        "\"roles\":[],\"tv\":0,\"exp\":%lld}",
        NOW + 60);
    forge_payload(tok, pl);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    assert_int_equal(got.roles, 0);
    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":[\"cityd-ws\",\"cityd-api2\"],\"sub\":\"42\",\"typ\":"
             "\"access\","
             "\"roles\":[],\"tv\":0,\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong audience");
    snprintf(
        pl, sizeof pl,
        "{\"iss\":\"cityd\",\"sub\":\"42\",\"typ\":\"access\",\"roles\":[],\"tv\":0,\"exp\":%lld}",
        NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong audience");
}

static void issuer(void **state)
{
    struct auth_policy other = pol;
    struct auth_claims c = claims(AUTH_TYP_ACCESS);
    char tok[TOK], pl[512];

    other.issuer = "evil";
    assert_int_equal(auth_jwt_sign(hs, &other, &c, tok, sizeof tok), ERR_OK);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong issuer");
    snprintf(pl, sizeof pl,
             "{\"aud\":\"cityd-api\",\"sub\":\"42\",\"typ\":\"access\",\"roles\":[],\"tv\":0,"
             "\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "wrong issuer");
}

static void expiry_and_leeway(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS), got;
    char tok[TOK];

    c.iat = c.nbf = NOW - 900;
    c.exp = NOW - LEEWAY - 1;
    sign(hs, &c, tok);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "token expired");
    c.exp = NOW - LEEWAY; /* just inside the leeway */
    sign(hs, &c, tok);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    c.exp = INT64_MAX; /* no overflow in exp + leeway */
    sign(hs, &c, tok);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    assert_int_equal(got.exp, INT64_MAX);
}

static void not_before_and_issued_at(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS), got;
    char tok[TOK];

    c.nbf = NOW + LEEWAY + 1;
    sign(hs, &c, tok);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "token not yet valid");
    c.nbf = NOW + LEEWAY;
    sign(hs, &c, tok);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    c.nbf = 0;
    c.iat = NOW + LEEWAY + 1;
    sign(hs, &c, tok);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "token issued in the future");
    c.iat = 0; /* both optional */
    sign(hs, &c, tok);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    assert_int_equal(got.iat, 0);
    assert_int_equal(got.nbf, 0);
}

static void unknown_kid(void **state)
{
    char pl[512], tok[TOK];

    payload(pl, sizeof pl, "");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k3\"}", pl, secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "unknown key id");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"\"}", pl, secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "unknown key id");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":1}", pl, secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "unknown key id");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\\u0000\"}", pl, secret1,
             SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "malformed header"); /* jansson refuses NUL */
    forge_es(tok, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"e3\"}", pl, ec1);
    expect_reject(es, tok, AUTH_TYP_ACCESS, "unknown key id");
}

static void kid_path_traversal(void **state)
{
    char pl[512], tok[TOK], *pem;
    size_t n;

    payload(pl, sizeof pl, "");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"../../etc/passwd\"}", pl, secret1,
             SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "unknown key id");
    /* A kid naming the public key file, HMAC'd with that file: still never a path. */
    pem = read_file(ec1_pub, &n);
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"../../../../tmp/ec1.pub\"}", pl,
             (const unsigned char *)pem, n);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "unknown key id");
    free(pem);
    /* jku/x5u/jwk are never followed: a jwk naming the attacker's key changes nothing. */
    forge_es(tok,
             "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"jku\":\"https://evil.example/k\","
             "\"x5u\":\"file:///etc/passwd\",\"jwk\":{\"kty\":\"EC\"}}",
             pl, ec2);
    expect_reject(es, tok, AUTH_TYP_ACCESS, "bad signature");
}

static void oversized_token(void **state)
{
    size_t n = (size_t)64 * 1024;
    char *big = malloc(n + 1);
    char tok[TOK];
    struct auth_claims c = claims(AUTH_TYP_ACCESS);

    memset(big, 'a', n);
    big[1000] = '.';
    big[2000] = '.';
    big[n] = '\0';
    expect_reject(hs, big, AUTH_TYP_ACCESS, "token too long");
    expect_reject_len(hs, big, AUTH_JWT_MAX + 1, AUTH_TYP_ACCESS, "token too long");
    free(big);

    sign(hs, &c, tok); /* a short valid token with trailing bytes outside len is fine */
    expect_reject_len(hs, tok, 0, AUTH_TYP_ACCESS, "empty token");
    expect_reject_len(hs, NULL, 0, AUTH_TYP_ACCESS, "empty token");
}

static void segment_count(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS);
    char tok[TOK], bad[TOK];

    sign(hs, &c, tok);
    memcpy(bad, tok, (size_t)(strrchr(tok, '.') - tok));
    bad[strrchr(tok, '.') - tok] = '\0';
    expect_reject(hs, bad, AUTH_TYP_ACCESS, "malformed token"); /* 2 segments */
    bad[0] = '\0';
    cat(bad, tok);
    cat(bad, ".AAAA");
    expect_reject(hs, bad, AUTH_TYP_ACCESS, "malformed token"); /* 4 segments */
    bad[0] = '\0';
    cat(bad, tok);
    cat(bad, ".");
    expect_reject(hs, bad, AUTH_TYP_ACCESS, "malformed token");
    expect_reject(hs, "..", AUTH_TYP_ACCESS, "malformed token");
    expect_reject(hs, "a..b", AUTH_TYP_ACCESS, "malformed token");
    expect_reject(hs, ".a.b", AUTH_TYP_ACCESS, "malformed token");
    expect_reject(hs, "abc", AUTH_TYP_ACCESS, "malformed token");
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &c);
}

static void non_base64url_characters(void **state)
{
    static const char bad_chars[] = {'+', '/', '=', ' ', '\n', '\0', (char)0xc3, '%', '"'};
    struct auth_claims c = claims(AUTH_TYP_ACCESS);
    char tok[TOK], bad[TOK];
    size_t n, at;

    sign(hs, &c, tok);
    n = strlen(tok);
    at = (size_t)(strchr(tok, '.') - tok) + 5; /* inside the payload */
    for (size_t i = 0; i < sizeof bad_chars; i++) {
        memcpy(bad, tok, n + 1);
        bad[at] = bad_chars[i];
        expect_reject_len(hs, bad, n, AUTH_TYP_ACCESS, "malformed token");
    }
    /* Padded base64url of a valid signature. */
    bad[0] = '\0';
    cat(bad, tok);
    cat(bad, "=");
    expect_reject(hs, bad, AUTH_TYP_ACCESS, "malformed token");
    /* Right alphabet, but the last character carries non-zero padding bits (not canonical). */
    memcpy(bad, tok, n + 1);
    bad[n - 1] = bad[n - 1] == 'B' ? 'C' : 'B';
    expect_reject(hs, bad, AUTH_TYP_ACCESS, "bad signature");
}

static void exp_required_and_integer(void **state)
{
    char pl[512], tok[TOK];
    const char *bad[] = {"\"9999999999\"", "9999999999.0", "1e10", "true", "null", "[9999999999]"};

    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"42\",\"typ\":\"access\",\"roles\":"
             "[],\"tv\":0}");
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "missing or bad exp");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(pl, sizeof pl,
                 "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"42\",\"typ\":\"access\","
                 "\"roles\":[],\"tv\":0,"
                 "\"exp\":%s}",
                 bad[i]);
        forge_payload(tok, pl);
        expect_reject(hs, tok, AUTH_TYP_ACCESS, "missing or bad exp");
    }
    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"42\",\"typ\":\"access\",\"roles\":"
             "[],\"tv\":0,"
             "\"exp\":99999999999999999999999}");
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "malformed payload");
    payload(pl, sizeof pl, ",\"nbf\":\"0\"");
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad nbf");
    payload(pl, sizeof pl, ",\"iat\":1.5");
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad iat");
}

static void subject_roles_and_version(void **state)
{
    const char *bad_sub[] = {
        "\"0\"", "\"-1\"", "\"042\"", "42", "\"abc\"", "\"12a\"", "\"9223372036854775808\"",
        "\"\""};
    char pl[512], tok[TOK];
    struct auth_claims got;

    for (size_t i = 0; i < sizeof bad_sub / sizeof bad_sub[0]; i++) {
        snprintf(pl, sizeof pl,
                 "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":%s,\"typ\":\"access\",\"roles\":"
                 "[],\"tv\":0,"
                 "\"exp\":%lld}",
                 bad_sub[i], NOW + 60);
        forge_payload(tok, pl);
        expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad subject");
    }
    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"9223372036854775807\",\"typ\":"
             "\"access\","
             "\"roles\":[\"citizen\",\"machine\",\"citizen\"],\"tv\":0,\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    assert_int_equal(got.sub, INT64_MAX);
    assert_int_equal(got.roles, ROLE_CITIZEN | ROLE_MACHINE);

    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"1\",\"typ\":\"access\",\"roles\":["
             "\"root\"],"
             "\"tv\":0,\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad roles");
    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"1\",\"typ\":\"access\",\"roles\":"
             "\"admin\","
             "\"tv\":0,\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad roles");
    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"1\",\"typ\":\"access\",\"roles\":["
             "\"Admin\"],"
             "\"tv\":0,\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad roles");
    snprintf(pl, sizeof pl,
             "{\"iss\":\"cityd\",\"aud\":\"cityd-api\",\"sub\":\"1\",\"typ\":\"access\",\"roles\":["
             "],\"exp\":%lld}",
             NOW + 60);
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad token version");
    payload(pl, sizeof pl, ",\"device\":\"a\\u0001b\"");
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad string claim");
    payload(pl, sizeof pl, ",\"akid\":\"7\"");
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad api key id");
    payload(pl, sizeof pl, ",\"jti\":\"0123456789012345678901234567890123\"");
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad string claim");
}

static void duplicate_claims_and_crit(void **state)
{
    char pl[512], tok[TOK];

    /* Two parsers could pick different "sub"s; refuse the question. */
    payload(pl, sizeof pl, ",\"sub\":\"1\"");
    forge_payload(tok, pl);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "malformed payload");
    payload(pl, sizeof pl, "");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"alg\":\"none\"}", pl, secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "malformed header");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"crit\":[\"exp\"],\"exp\":1}", pl, secret1,
             SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "unsupported critical header");
    forge_hs(tok, "[\"HS256\"]", pl, secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "malformed header");
    forge_hs(tok, HS_HDR, "[1]", secret1, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "malformed payload");
}

static void es256_bad_signatures(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS);
    unsigned char zero[64] = {0}, sig[65];
    char tok[TOK], bad[TOK], pl[512];
    size_t siglen;

    sign(es, &c, tok);
    /* r = s = 0 (the "psychic signature" of CVE-2022-21449). */
    memcpy(bad, tok, (size_t)(strrchr(tok, '.') - tok + 1));
    bad[strrchr(tok, '.') - tok + 1] = '\0';
    cat_b64(bad, zero, sizeof zero);
    expect_reject(es, bad, AUTH_TYP_ACCESS, "bad signature");
    /* The right signature with one byte more, and one byte less. */
    assert_int_equal(sodium_base642bin(sig, sizeof sig, strrchr(tok, '.') + 1,
                                       strlen(strrchr(tok, '.') + 1), NULL, &siglen, NULL, B64),
                     0);
    assert_int_equal(siglen, 64);
    sig[64] = 0;
    bad[strrchr(tok, '.') - tok + 1] = '\0';
    cat_b64(bad, sig, 65);
    expect_reject(es, bad, AUTH_TYP_ACCESS, "bad signature");
    bad[strrchr(tok, '.') - tok + 1] = '\0';
    cat_b64(bad, sig, 63);
    expect_reject(es, bad, AUTH_TYP_ACCESS, "bad signature");
    /* Signed by the other key, claiming to be e1. */
    payload(pl, sizeof pl, "");
    forge_es(bad, ES_HDR, pl, ec2);
    expect_reject(es, bad, AUTH_TYP_ACCESS, "bad signature");
    forge_es(bad, ES_HDR, pl, ec1); /* the control */
    expect_ok(es, bad, AUTH_TYP_ACCESS, &c);
}

static void kid_rotation(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS), got;
    char tok[TOK], pl[512];

    /* Issued before the rotation (k2 primary), verified after it (k1 primary, k2 kept). */
    sign(hs_old, &c, tok);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    assert_same_claims(&got, &c);
    sign(hs, &c, tok); /* the old deployment has never heard of k1 */
    expect_reject(hs_old, tok, AUTH_TYP_ACCESS, "unknown key id");

    payload(pl, sizeof pl, "");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k2\"}", pl, secret2, SECRET_LEN);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);
    /* The kid picks the key; a signature by the other key does not verify under it. */
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", pl, secret2, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad signature");
    /* No kid means the primary key. */
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", pl, secret2, SECRET_LEN);
    expect_reject(hs, tok, AUTH_TYP_ACCESS, "bad signature");
    forge_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", pl, secret1, SECRET_LEN);
    expect_ok(hs, tok, AUTH_TYP_ACCESS, &got);

    sign(es_old, &c, tok);
    expect_ok(es, tok, AUTH_TYP_ACCESS, &got);
    assert_same_claims(&got, &c);
    expect_reject(es_pub, tok, AUTH_TYP_ACCESS, "unknown key id");
    forge_es(tok, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"e2\"}", pl, ec1);
    expect_reject(es, tok, AUTH_TYP_ACCESS, "bad signature");
}

static void why_never_echoes_token(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS), out;
    char tok[TOK], why[AUTH_JWT_MAX] = "";

    c.exp = NOW - 3600;
    sign(hs, &c, tok);
    assert_int_equal(
        auth_jwt_verify(hs, &pol, tok, strlen(tok), NOW, AUTH_TYP_ACCESS, &out, why, sizeof why),
        ERR_UNAUTH);
    assert_string_equal(why, "token expired");
    assert_true(strlen(why) < 40);
    /* A NULL why is allowed. */
    assert_int_equal(
        auth_jwt_verify(hs, &pol, tok, strlen(tok), NOW, AUTH_TYP_ACCESS, &out, NULL, 0),
        ERR_UNAUTH);
}

static void bad_verifier_arguments(void **state)
{
    struct auth_policy p = pol;
    struct auth_claims c = claims(AUTH_TYP_ACCESS), out;
    char tok[TOK], why[64];

    sign(hs, &c, tok);
    p.leeway_s = AUTH_LEEWAY_MAX + 1;
    assert_int_equal(
        auth_jwt_verify(hs, &p, tok, strlen(tok), NOW, AUTH_TYP_ACCESS, &out, why, sizeof why),
        ERR_INVALID);
    p = pol;
    p.audience = "";
    assert_int_equal(
        auth_jwt_verify(hs, &p, tok, strlen(tok), NOW, AUTH_TYP_ACCESS, &out, why, sizeof why),
        ERR_INVALID);
    assert_int_equal(
        auth_jwt_verify(hs, &pol, tok, strlen(tok), NOW, "at+jwt", &out, why, sizeof why),
        ERR_INVALID);
    assert_int_equal(auth_jwt_verify(hs, &pol, tok, strlen(tok), NOW, NULL, &out, why, sizeof why),
                     ERR_INVALID);
}

static void sign_refuses_bad_input(void **state)
{
    struct auth_claims c = claims(AUTH_TYP_ACCESS), bad;
    struct auth_policy p = pol;
    char tok[TOK];
    size_t need;

    sign(hs, &c, tok);
    need = strlen(tok) + 1;
    assert_int_equal(auth_jwt_sign(hs, &pol, &c, tok, need - 1), ERR_INVALID);
    assert_int_equal(auth_jwt_sign(hs, &pol, &c, tok, need), ERR_OK);
    assert_int_equal(auth_jwt_sign(es_pub, &pol, &c, tok, sizeof tok), ERR_INVALID);
    assert_false(auth_keys_can_sign(es_pub));
    assert_true(auth_keys_can_sign(es));
    assert_int_equal(auth_keys_alg(es), AUTH_ES256);
    assert_int_equal(auth_keys_alg(hs), AUTH_HS256);

    bad = c;
    bad.sub = 0;
    assert_int_equal(auth_jwt_sign(hs, &pol, &bad, tok, sizeof tok), ERR_INVALID);
    bad = c;
    bad.roles |= 1u << 31;
    assert_int_equal(auth_jwt_sign(hs, &pol, &bad, tok, sizeof tok), ERR_INVALID);
    bad = c;
    snprintf(bad.typ, sizeof bad.typ, "id");
    assert_int_equal(auth_jwt_sign(hs, &pol, &bad, tok, sizeof tok), ERR_INVALID);
    bad = c;
    bad.exp = 0;
    assert_int_equal(auth_jwt_sign(hs, &pol, &bad, tok, sizeof tok), ERR_INVALID);
    bad = c;
    snprintf(bad.device, sizeof bad.device, "a\tb");
    assert_int_equal(auth_jwt_sign(hs, &pol, &bad, tok, sizeof tok), ERR_INVALID);
    bad = c;
    bad.akid = -1;
    assert_int_equal(auth_jwt_sign(hs, &pol, &bad, tok, sizeof tok), ERR_INVALID);
    bad = c;
    memset(bad.jti, 'j', sizeof bad.jti); /* no NUL */
    assert_int_equal(auth_jwt_sign(hs, &pol, &bad, tok, sizeof tok), ERR_INVALID);
    p.issuer = NULL;
    assert_int_equal(auth_jwt_sign(hs, &p, &c, tok, sizeof tok), ERR_INVALID);
}

static void key_construction_errors(void **state)
{
    static const unsigned char short_secret[] = "0123456789abcdef0123456789abcde"; /* 31 */
    char pem_secret[] = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n";
    char err[256], missing[160];
    struct auth_keys *k;

    err[0] = '\0';
    k = auth_keys_new_hs256("k1", short_secret, sizeof short_secret - 1, NULL, NULL, 0, err,
                            sizeof err);
    assert_null(k);
    assert_non_null(strstr(err, "32"));
    err[0] = '\0';
    k = auth_keys_new_hs256("k1", (const unsigned char *)pem_secret, strlen(pem_secret), NULL, NULL,
                            0, err, sizeof err);
    assert_null(k);
    assert_non_null(strstr(err, "PEM"));
    k = auth_keys_new_hs256("k1", secret1, SECRET_LEN, "k1", secret2, SECRET_LEN, err, sizeof err);
    assert_null(k);
    k = auth_keys_new_hs256("k1", secret1, SECRET_LEN, "k2", NULL, 0, err, sizeof err);
    assert_null(k);
    k = auth_keys_new_hs256("../k", secret1, SECRET_LEN, NULL, NULL, 0, err, sizeof err);
    assert_null(k);
    k = auth_keys_new_hs256(NULL, secret1, SECRET_LEN, NULL, NULL, 0, err, sizeof err);
    assert_null(k);

    snprintf(missing, sizeof missing, "%s/absent.pub", tmpdir);
    err[0] = '\0';
    k = auth_keys_new_es256("e1", NULL, missing, NULL, NULL, err, sizeof err);
    assert_null(k);
    assert_non_null(strstr(err, "absent.pub"));
    err[0] = '\0';
    k = auth_keys_new_es256("e1", NULL, p384_pub, NULL, NULL, err, sizeof err);
    assert_null(k);
    assert_non_null(strstr(err, "P-256"));
    err[0] = '\0';
    k = auth_keys_new_es256("e1", ec2_priv, ec1_pub, NULL, NULL, err, sizeof err);
    assert_null(k);
    assert_non_null(strstr(err, "does not match"));
    k = auth_keys_new_es256("e1", NULL, ec1_priv, NULL, NULL, err, sizeof err); /* not a PUBKEY */
    assert_null(k);
    k = auth_keys_new_es256("e1", NULL, ec1_pub, "e1", ec2_pub, err, sizeof err);
    assert_null(k);
    k = auth_keys_new_es256("e1", NULL, ec1_pub, "e2", NULL, err, sizeof err);
    assert_null(k);
    auth_keys_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hs256_round_trip),
        cmocka_unit_test(es256_round_trip),
        cmocka_unit_test(es256_accepts_libjwt_signature),
        cmocka_unit_test(refresh_round_trip_and_type_confusion),
        cmocka_unit_test(header_and_claim_typ),
        cmocka_unit_test(alg_none),
        cmocka_unit_test(hs256_keyed_with_es256_public_pem),
        cmocka_unit_test(tampered_payload),
        cmocka_unit_test(spliced_signature),
        cmocka_unit_test(wrong_alg),
        cmocka_unit_test(audience),
        cmocka_unit_test(issuer),
        cmocka_unit_test(expiry_and_leeway),
        cmocka_unit_test(not_before_and_issued_at),
        cmocka_unit_test(unknown_kid),
        cmocka_unit_test(kid_path_traversal),
        cmocka_unit_test(oversized_token),
        cmocka_unit_test(segment_count),
        cmocka_unit_test(non_base64url_characters),
        cmocka_unit_test(exp_required_and_integer),
        cmocka_unit_test(subject_roles_and_version),
        cmocka_unit_test(duplicate_claims_and_crit),
        cmocka_unit_test(es256_bad_signatures),
        cmocka_unit_test(kid_rotation),
        cmocka_unit_test(why_never_echoes_token),
        cmocka_unit_test(bad_verifier_arguments),
        cmocka_unit_test(sign_refuses_bad_input),
        cmocka_unit_test(key_construction_errors),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
