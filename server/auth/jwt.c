/* server/auth/jwt.c: token assembly, signing and the one verifier (see jwt.h). */
#include "jwt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "server/core/roles.h"

#define ES256_SIG_LEN 64
#define HS256_SIG_LEN 32
#define ROLES_MAX 32
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

struct auth_key {
    char kid[AUTH_KID_MAX + 1];
    size_t kid_len;
    unsigned char *secret; /* HS256: sodium_malloc'd, read-only after creation */
    size_t secret_len;
    EVP_PKEY *pub; /* ES256 */
};

struct auth_keys {
    enum auth_alg alg;
    size_t n;
    struct auth_key key[2];
    EVP_PKEY *priv; /* ES256 private key of key[0]; NULL when this process only verifies */
};

static void seterr(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void seterr(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;

    if (!buf || !n)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
}

static bool valid_kid(const char *kid)
{
    size_t n = 0;

    if (!kid)
        return false;
    for (; kid[n]; n++) {
        char ch = kid[n];
        if (n >= AUTH_KID_MAX)
            return false;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return n > 0;
}

static void set_kid(struct auth_key *key, const char *kid)
{
    key->kid_len = strlen(kid);
    memcpy(key->kid, kid, key->kid_len + 1);
}

static enum err add_secret(struct auth_key *key, const char *kid, const unsigned char *secret,
                           size_t len, char *errbuf, size_t errlen)
{
    static const char pem[] = "-----BEGIN";

    if (!valid_kid(kid)) {
        seterr(errbuf, errlen, "HS256 kid must be 1..%d characters of [A-Za-z0-9._-]",
               AUTH_KID_MAX);
        return ERR_INVALID;
    }
    if (!secret || len < AUTH_SECRET_MIN || len > AUTH_SECRET_MAX) {
        seterr(errbuf, errlen, "HS256 secret for kid %s must be %d..%d bytes", kid, AUTH_SECRET_MIN,
               AUTH_SECRET_MAX);
        return ERR_INVALID;
    }
    /* A PEM public key as HMAC secret is exactly what the HS/ES confusion attack forges with. */
    for (size_t i = 0; i + sizeof pem - 1 <= len; i++) {
        if (memcmp(secret + i, pem, sizeof pem - 1) == 0) {
            seterr(errbuf, errlen, "HS256 secret for kid %s looks like a PEM key", kid);
            return ERR_INVALID;
        }
    }
    key->secret = sodium_malloc(len);
    if (!key->secret) {
        seterr(errbuf, errlen, "out of memory");
        return ERR_INTERNAL;
    }
    memcpy(key->secret, secret, len);
    key->secret_len = len;
    sodium_mprotect_readonly(key->secret);
    set_kid(key, kid);
    return ERR_OK;
}

struct auth_keys *auth_keys_new_hs256(const char *kid1, const unsigned char *secret1, size_t len1,
                                      const char *kid2, const unsigned char *secret2, size_t len2,
                                      char *errbuf, size_t errlen)
{
    struct auth_keys *k = NULL;
    enum err res = ERR_INVALID;

    if (kid2 && !*kid2 && !secret2)
        kid2 = NULL; /* "" is how an unset config value arrives */
    if (sodium_init() < 0) {
        seterr(errbuf, errlen, "libsodium cannot initialise");
        goto out;
    }
    k = calloc(1, sizeof *k);
    if (!k) {
        seterr(errbuf, errlen, "out of memory");
        goto out;
    }
    k->alg = AUTH_HS256;
    res = add_secret(&k->key[0], kid1, secret1, len1, errbuf, errlen);
    if (res)
        goto out;
    k->n = 1;
    if (!kid2 && !secret2)
        goto out;
    if (kid2 && strcmp(kid1, kid2) == 0) {
        seterr(errbuf, errlen, "HS256 kids must differ");
        res = ERR_INVALID;
        goto out;
    }
    res = add_secret(&k->key[1], kid2, secret2, len2, errbuf, errlen);
    if (!res)
        k->n = 2;
out:
    if (res) {
        auth_keys_free(k);
        return NULL;
    }
    return k;
}

/* Without a callback OpenSSL would prompt on the terminal for an encrypted key. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

static EVP_PKEY *load_p256(const char *path, bool private, char *errbuf, size_t errlen)
{
    EVP_PKEY *pkey = NULL;
    BIO *bio;
    char group[32];
    size_t glen = 0;

    bio = BIO_new_file(path, "r");
    if (!bio) {
        seterr(errbuf, errlen, "cannot read ES256 key %s", path);
        goto out;
    }
    if (private)
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    else
        pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    if (!pkey) {
        seterr(errbuf, errlen, "%s is not an unencrypted PEM %s key", path,
               private ? "private" : "public");
        goto out;
    }
    if (!EVP_PKEY_is_a(pkey, "EC") ||
        EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) != 1 ||
        strcmp(group, "prime256v1") != 0) {
        seterr(errbuf, errlen, "%s is not an EC P-256 key", path);
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
out:
    BIO_free(bio);
    /* Leftover errors on this thread's queue would confuse the next TLS call (SSL_get_error). */
    ERR_clear_error();
    return pkey;
}

struct auth_keys *auth_keys_new_es256(const char *kid, const char *private_pem_path,
                                      const char *public_pem_path, const char *kid2,
                                      const char *public_pem_path2, char *errbuf, size_t errlen)
{
    struct auth_keys *k = NULL;
    enum err res = ERR_INVALID;

    /* "" is how an unset config value arrives. */
    if (private_pem_path && !*private_pem_path)
        private_pem_path = NULL;
    if (kid2 && !*kid2 && (!public_pem_path2 || !*public_pem_path2))
        kid2 = public_pem_path2 = NULL;
    if (sodium_init() < 0) {
        seterr(errbuf, errlen, "libsodium cannot initialise");
        goto out;
    }
    if (!valid_kid(kid) || (kid2 && !valid_kid(kid2))) {
        seterr(errbuf, errlen, "ES256 kid must be 1..%d characters of [A-Za-z0-9._-]",
               AUTH_KID_MAX);
        goto out;
    }
    if (!public_pem_path || !*public_pem_path || (!kid2 != !public_pem_path2)) {
        seterr(errbuf, errlen, "ES256 needs a public key file for each kid");
        goto out;
    }
    if (kid2 && strcmp(kid, kid2) == 0) {
        seterr(errbuf, errlen, "ES256 kids must differ");
        goto out;
    }
    k = calloc(1, sizeof *k);
    if (!k) {
        seterr(errbuf, errlen, "out of memory");
        goto out;
    }
    k->alg = AUTH_ES256;
    k->key[0].pub = load_p256(public_pem_path, false, errbuf, errlen);
    if (!k->key[0].pub)
        goto out;
    set_kid(&k->key[0], kid);
    k->n = 1;
    if (kid2) {
        k->key[1].pub = load_p256(public_pem_path2, false, errbuf, errlen);
        if (!k->key[1].pub)
            goto out;
        set_kid(&k->key[1], kid2);
        k->n = 2;
    }
    if (private_pem_path) {
        k->priv = load_p256(private_pem_path, true, errbuf, errlen);
        if (!k->priv)
            goto out;
        /* Signing with a key the verifiers do not hold would only show up as 401s in production. */
        if (EVP_PKEY_eq(k->priv, k->key[0].pub) != 1) {
            ERR_clear_error();
            seterr(errbuf, errlen, "ES256 private key %s does not match public key %s",
                   private_pem_path, public_pem_path);
            goto out;
        }
    }
    res = ERR_OK;
out:
    if (res) {
        auth_keys_free(k);
        return NULL;
    }
    return k;
}

void auth_keys_free(struct auth_keys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < 2; i++) {
        if (k->key[i].secret)
            sodium_free(k->key[i].secret); /* wipes */
        EVP_PKEY_free(k->key[i].pub);
    }
    EVP_PKEY_free(k->priv);
    free(k);
}

enum auth_alg auth_keys_alg(const struct auth_keys *k)
{
    return k->alg;
}

bool auth_keys_can_sign(const struct auth_keys *k)
{
    return k && (k->alg == AUTH_HS256 || k->priv);
}

static const char *alg_name(enum auth_alg alg)
{
    return alg == AUTH_ES256 ? "ES256" : "HS256";
}

static bool valid_typ(const char *typ)
{
    return typ && (strcmp(typ, AUTH_TYP_ACCESS) == 0 || strcmp(typ, AUTH_TYP_REFRESH) == 0);
}

static bool valid_policy(const struct auth_policy *p)
{
    return p && p->issuer && *p->issuer && p->audience && *p->audience && p->leeway_s >= 0 &&
           p->leeway_s <= AUTH_LEEWAY_MAX;
}

static uint32_t known_roles(void)
{
    uint32_t mask = 0;

    for (size_t i = 0; i < role_count(); i++)
        mask |= role_at(i);
    return mask;
}

/* Optional string fields are printable ASCII so they are safe in logs, SQL parameters and JSON. */
static bool printable(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);

    if (n == cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

/* The device claim is the client's own text (any UTF-8, which jansson guarantees), without
 * control characters: "Redmi Note 12", "小米手机". */
static bool text_n(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool text(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    return n < cap && text_n(s, n);
}

static bool printable_n(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

/* Append base64url(bin) at tok[*off], keeping a NUL; false when it does not fit in cap. */
static bool append_b64(char *tok, size_t cap, size_t *off, const void *bin, size_t n)
{
    size_t need = sodium_base64_ENCODED_LEN(n, B64);

    if (need > cap - *off)
        return false;
    sodium_bin2base64(tok + *off, cap - *off, bin, n, B64);
    *off += need - 1;
    return true;
}

static bool es256_sign(EVP_PKEY *priv, const char *in, size_t n, unsigned char sig[ES256_SIG_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *es = NULL;
    unsigned char der[128];
    const unsigned char *p = der;
    size_t dlen = sizeof der;
    const BIGNUM *r, *s;
    bool ok = false;

    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, priv) != 1 ||
        EVP_DigestSign(md, der, &dlen, (const unsigned char *)in, n) != 1)
        goto out;
    /* OpenSSL produces DER; JWS wants the fixed-width r||s (RFC 7518 section 3.4). */
    es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (!es)
        goto out;
    ECDSA_SIG_get0(es, &r, &s);
    ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

static bool es256_verify(EVP_PKEY *pub, const char *in, size_t n,
                         const unsigned char sig[ES256_SIG_LEN])
{
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *es = NULL;
    BIGNUM *r = BN_bin2bn(sig, 32, NULL);
    BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    int dlen;
    bool ok = false;

    es = ECDSA_SIG_new();
    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by es now */
    dlen = i2d_ECDSA_SIG(es, &der);
    if (dlen <= 0)
        goto out;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) != 1)
        goto out;
    ok = EVP_DigestVerify(md, der, (size_t)dlen, (const unsigned char *)in, n) == 1;
out:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    BN_free(r);
    BN_free(s);
    /* Bad signatures are attacker-driven; keep the thread's error queue clean for TLS. */
    ERR_clear_error();
    return ok;
}

static json_t *claims_json(const struct auth_policy *p, const struct auth_claims *c)
{
    json_t *o = json_object();
    json_t *roles = json_array();
    char sub[24];

    if (!o || !roles)
        goto fail;
    snprintf(sub, sizeof sub, "%lld", (long long)c->sub);
    for (size_t i = 0; i < role_count(); i++)
        if (c->roles & role_at(i))
            if (json_array_append_new(roles, json_string(role_name(role_at(i)))))
                goto fail;
    if (json_object_set_new(o, "iss", json_string(p->issuer)) ||
        json_object_set_new(o, "aud", json_string(p->audience)) ||
        json_object_set_new(o, "sub", json_string(sub)) ||
        json_object_set_new(o, "typ", json_string(c->typ)) || json_object_set(o, "roles", roles) ||
        json_object_set_new(o, "tv", json_integer(c->tv)) ||
        json_object_set_new(o, "exp", json_integer(c->exp)))
        goto fail;
    if (c->iat && json_object_set_new(o, "iat", json_integer(c->iat)))
        goto fail;
    if (c->nbf && json_object_set_new(o, "nbf", json_integer(c->nbf)))
        goto fail;
    if (c->jti[0] && json_object_set_new(o, "jti", json_string(c->jti)))
        goto fail;
    if (c->device[0] && json_object_set_new(o, "device", json_string(c->device)))
        goto fail;
    if (c->akid && json_object_set_new(o, "akid", json_integer(c->akid)))
        goto fail;
    if (c->family[0] && json_object_set_new(o, "family", json_string(c->family)))
        goto fail;
    json_decref(roles);
    return o;
fail:
    json_decref(roles);
    json_decref(o);
    return NULL;
}

enum err auth_jwt_sign(const struct auth_keys *k, const struct auth_policy *p,
                       const struct auth_claims *c, char *out, size_t outlen)
{
    char tok[AUTH_JWT_MAX + 1];
    unsigned char sig[ES256_SIG_LEN];
    size_t off = 0, siglen;
    json_t *hdr = NULL, *pl = NULL;
    char *hs = NULL, *ps = NULL;
    enum err res = ERR_INVALID;

    if (!auth_keys_can_sign(k) || !valid_policy(p) || !c || !valid_typ(c->typ) || !out ||
        c->sub <= 0 || c->tv < 0 || c->exp <= 0 || c->iat < 0 || c->nbf < 0 ||
        (c->roles & ~known_roles()) || !text(c->device, sizeof c->device) || c->akid < 0 ||
        !printable(c->family, sizeof c->family) || !printable(c->jti, sizeof c->jti))
        goto out;
    res = ERR_INTERNAL;
    hdr = json_pack("{s:s, s:s, s:s}", "alg", alg_name(k->alg), "typ", "JWT", "kid", k->key[0].kid);
    pl = claims_json(p, c);
    if (!hdr || !pl)
        goto out;
    hs = json_dumps(hdr, JSON_COMPACT);
    ps = json_dumps(pl, JSON_COMPACT);
    if (!hs || !ps)
        goto out;
    res = ERR_INVALID; /* from here only size can fail, and the claims decide the size */
    if (!append_b64(tok, sizeof tok, &off, hs, strlen(hs)) || off + 1 >= sizeof tok)
        goto out;
    tok[off++] = '.';
    if (!append_b64(tok, sizeof tok, &off, ps, strlen(ps)))
        goto out;
    if (k->alg == AUTH_HS256) {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, k->key[0].secret, k->key[0].secret_len);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, off);
        crypto_auth_hmacsha256_final(&st, sig);
        sodium_memzero(&st, sizeof st);
        siglen = HS256_SIG_LEN;
    } else {
        if (!es256_sign(k->priv, tok, off, sig)) {
            res = ERR_INTERNAL;
            goto out;
        }
        siglen = ES256_SIG_LEN;
    }
    if (off + 1 >= sizeof tok)
        goto out;
    tok[off++] = '.';
    if (!append_b64(tok, sizeof tok, &off, sig, siglen) || off + 1 > outlen)
        goto out;
    memcpy(out, tok, off + 1);
    res = ERR_OK;
out:
    free(hs);
    free(ps);
    json_decref(hdr);
    json_decref(pl);
    return res;
}

static enum err reject(char *why, size_t whylen, const char *reason)
{
    seterr(why, whylen, "%s", reason);
    return ERR_UNAUTH;
}

static bool b64url_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

/* Strict base64url (no padding, canonical trailing bits) into bin[cap]; false when invalid. */
static bool b64_decode(unsigned char *bin, size_t cap, const char *s, size_t n, size_t *outn)
{
    const char *end = NULL;

    if (sodium_base642bin(bin, cap, s, n, NULL, outn, &end, B64) != 0)
        return false;
    return end == s + n;
}

static json_t *decode_object(const char *s, size_t n)
{
    unsigned char buf[AUTH_JWT_MAX];
    size_t bn;
    json_t *j;

    if (!b64_decode(buf, sizeof buf, s, n, &bn))
        return NULL;
    j = json_loadb((const char *)buf, bn, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* 1 present (in *v), 0 absent, -1 present but not an integer. */
static int get_int(const json_t *o, const char *name, int64_t *v)
{
    const json_t *j = json_object_get(o, name);

    if (!j)
        return 0;
    if (!json_is_integer(j))
        return -1;
    *v = json_integer_value(j);
    return 1;
}

/* Copy an optional string claim into dst[cap] when ok() accepts it; false when malformed or
 * too long. */
static bool get_str(const json_t *o, const char *name, char *dst, size_t cap,
                    bool (*ok)(const char *, size_t))
{
    const json_t *j = json_object_get(o, name);
    size_t n;

    dst[0] = '\0';
    if (!j)
        return true;
    if (!json_is_string(j))
        return false;
    n = json_string_length(j);
    if (n == 0 || n >= cap || !ok(json_string_value(j), n))
        return false;
    memcpy(dst, json_string_value(j), n + 1);
    return true;
}

/* RFC 7519 sub is a string; ours is a canonical positive decimal that fits int64_t. */
static bool parse_sub(const json_t *j, int64_t *sub)
{
    const char *s;
    size_t n;
    int64_t v = 0;

    if (!json_is_string(j))
        return false;
    s = json_string_value(j);
    n = json_string_length(j);
    if (n == 0 || n > 19 || s[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - (s[i] - '0')) / 10)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *sub = v;
    return true;
}

static bool parse_roles(const json_t *j, uint32_t *roles)
{
    size_t i;
    const json_t *r;
    uint32_t bits = 0, bit;

    if (!json_is_array(j) || json_array_size(j) > ROLES_MAX)
        return false;
    json_array_foreach(j, i, r)
    {
        if (!json_is_string(r))
            return false;
        bit = role_from_name(json_string_value(r), json_string_length(r));
        if (!bit)
            return false;
        bits |= bit;
    }
    *roles = bits;
    return true;
}

static bool aud_matches(const json_t *j, const char *audience)
{
    size_t i;
    const json_t *a;

    if (json_is_string(j))
        return strcmp(json_string_value(j), audience) == 0;
    if (!json_is_array(j))
        return false;
    json_array_foreach(j, i, a) if (json_is_string(a) &&
                                    strcmp(json_string_value(a), audience) == 0) return true;
    return false;
}

static const struct auth_key *find_key(const struct auth_keys *k, const json_t *kid)
{
    if (!kid)
        return &k->key[0];
    if (!json_is_string(kid))
        return NULL;
    for (size_t i = 0; i < k->n; i++)
        if (json_string_length(kid) == k->key[i].kid_len &&
            memcmp(json_string_value(kid), k->key[i].kid, k->key[i].kid_len) == 0)
            return &k->key[i];
    return NULL;
}

static bool hs256_verify(const struct auth_key *key, const char *token, size_t len)
{
    char tok[AUTH_JWT_MAX + 1];
    jwt_t *j = NULL;
    bool ok;

    memcpy(tok, token, len);
    tok[len] = '\0';
    /* Never a NULL key: libjwt then skips the signature check entirely. */
    ok = jwt_decode(&j, tok, key->secret, (int)key->secret_len) == 0 && j &&
         jwt_get_alg(j) == JWT_ALG_HS256;
    jwt_free(j);
    return ok;
}

enum err auth_jwt_verify(const struct auth_keys *k, const struct auth_policy *p, const char *token,
                         size_t len, int64_t now_s, const char *expected_typ,
                         struct auth_claims *out, char *why, size_t whylen)
{
    const char *dot[2] = {NULL, NULL};
    const struct auth_key *key;
    const json_t *v;
    json_t *hdr = NULL, *pl = NULL;
    unsigned char sig[ES256_SIG_LEN + 1];
    size_t ndots = 0, siglen, sigoff;
    struct auth_claims c;
    int64_t t;
    bool sig_ok;
    enum err res;

    if (!k || !valid_policy(p) || !valid_typ(expected_typ) || !out) {
        seterr(why, whylen, "verifier misconfigured");
        return ERR_INVALID;
    }
    memset(&c, 0, sizeof c);
    if (!token || len == 0)
        return reject(why, whylen, "empty token");
    if (len > AUTH_JWT_MAX)
        return reject(why, whylen, "token too long");
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 2)
                return reject(why, whylen, "malformed token");
            dot[ndots++] = token + i;
        } else if (!b64url_char(token[i])) {
            return reject(why, whylen, "malformed token");
        }
    }
    if (ndots != 2 || dot[0] == token || dot[1] == dot[0] + 1 || dot[1] == token + len - 1)
        return reject(why, whylen, "malformed token");

    hdr = decode_object(token, (size_t)(dot[0] - token));
    if (!hdr) {
        res = reject(why, whylen, "malformed header");
        goto out;
    }
    v = json_object_get(hdr, "alg");
    if (!json_is_string(v) || strcmp(json_string_value(v), alg_name(k->alg)) != 0) {
        res = reject(why, whylen, "algorithm not allowed");
        goto out;
    }
    v = json_object_get(hdr, "typ");
    if (!json_is_string(v) || strcmp(json_string_value(v), "JWT") != 0) {
        res = reject(why, whylen, "wrong header type");
        goto out;
    }
    if (json_object_get(hdr, "crit")) {
        res = reject(why, whylen, "unsupported critical header");
        goto out;
    }
    key = find_key(k, json_object_get(hdr, "kid"));
    if (!key) {
        res = reject(why, whylen, "unknown key id");
        goto out;
    }

    /* Parsed before the signature check only so a malformed payload gets its own reason (libjwt
     * reports its parse failures as EINVAL, like a bad signature); nothing in it is trusted yet. */
    pl = decode_object(dot[0] + 1, (size_t)(dot[1] - dot[0] - 1));
    if (!pl) {
        res = reject(why, whylen, "malformed payload");
        goto out;
    }

    sigoff = (size_t)(dot[1] + 1 - token);
    if (!b64_decode(sig, sizeof sig, dot[1] + 1, len - sigoff, &siglen)) {
        res = reject(why, whylen, "bad signature");
        goto out;
    }
    if (k->alg == AUTH_ES256)
        sig_ok = siglen == ES256_SIG_LEN && es256_verify(key->pub, token, sigoff - 1, sig);
    else
        sig_ok = siglen == HS256_SIG_LEN && hs256_verify(key, token, len);
    if (!sig_ok) {
        res = reject(why, whylen, "bad signature");
        goto out;
    }

    v = json_object_get(pl, "typ");
    if (!json_is_string(v) || strcmp(json_string_value(v), expected_typ) != 0) {
        res = reject(why, whylen, "wrong token type");
        goto out;
    }
    snprintf(c.typ, sizeof c.typ, "%s", expected_typ);
    if (get_int(pl, "exp", &c.exp) != 1) {
        res = reject(why, whylen, "missing or bad exp");
        goto out;
    }
    /* now_s is ours; exp is the attacker's, so keep the arithmetic on our side (no overflow). */
    if (now_s - p->leeway_s > c.exp) {
        res = reject(why, whylen, "token expired");
        goto out;
    }
    switch (get_int(pl, "nbf", &t)) {
    case -1:
        res = reject(why, whylen, "bad nbf");
        goto out;
    case 1:
        if (t > now_s + p->leeway_s) {
            res = reject(why, whylen, "token not yet valid");
            goto out;
        }
        c.nbf = t;
        break;
    }
    switch (get_int(pl, "iat", &t)) {
    case -1:
        res = reject(why, whylen, "bad iat");
        goto out;
    case 1:
        if (t > now_s + p->leeway_s) {
            res = reject(why, whylen, "token issued in the future");
            goto out;
        }
        c.iat = t;
        break;
    }
    v = json_object_get(pl, "iss");
    if (!json_is_string(v) || strcmp(json_string_value(v), p->issuer) != 0) {
        res = reject(why, whylen, "wrong issuer");
        goto out;
    }
    if (!aud_matches(json_object_get(pl, "aud"), p->audience)) {
        res = reject(why, whylen, "wrong audience");
        goto out;
    }
    if (!parse_sub(json_object_get(pl, "sub"), &c.sub)) {
        res = reject(why, whylen, "bad subject");
        goto out;
    }
    if (!parse_roles(json_object_get(pl, "roles"), &c.roles)) {
        res = reject(why, whylen, "bad roles");
        goto out;
    }
    if (get_int(pl, "tv", &c.tv) != 1 || c.tv < 0) {
        res = reject(why, whylen, "bad token version");
        goto out;
    }
    if (get_int(pl, "akid", &c.akid) == -1 || c.akid < 0) {
        res = reject(why, whylen, "bad api key id");
        goto out;
    }
    if (!get_str(pl, "jti", c.jti, sizeof c.jti, printable_n) ||
        !get_str(pl, "device", c.device, sizeof c.device, text_n) ||
        !get_str(pl, "family", c.family, sizeof c.family, printable_n)) {
        res = reject(why, whylen, "bad string claim");
        goto out;
    }
    *out = c;
    seterr(why, whylen, "ok");
    res = ERR_OK;
out:
    json_decref(hdr);
    json_decref(pl);
    return res;
}
