/* server/auth/jwt.h: issuing and verifying cityd's JSON Web Tokens.
 *
 * Owns the signing keys (struct auth_keys) and the one verifier every token goes through. Pure
 * functions of their arguments: no database, no HTTP, no clock of its own (the caller passes now),
 * no logging of tokens. Keys are immutable after creation and may be shared read-only by any
 * number of threads; every other function is reentrant.
 *
 * Token format (RFC 7519/7515 compact JWS, RFC 8725 rules):
 *   header  {"alg":"HS256"|"ES256","typ":"JWT","kid":"<kid>"}
 *   payload {"iss","aud","sub":"<decimal user id>","typ":"access"|"refresh",
 *            "roles":["admin",...],"tv":<token version>,"exp","iat","nbf" (integers, seconds),
 *            "jti","family" (optional printable strings), "device" (optional UTF-8 text without
 *            control characters: the client's own name of its device, never trusted for
 *            anything), "akid" (optional integer: the API key a machine token was issued for;
 *            only the server sets it, so no client text can make a session pass as a key)}
 * The token type is the required payload claim "typ", and the verifier is told which one it
 * wants, so a refresh token never passes for an access token nor the reverse (RFC 8725 sections
 * 3.11-3.12). It is not the header "typ" ("at+jwt", RFC 9068) because libjwt 1.10.2 overwrites
 * that with "JWT" when encoding and refuses anything else when decoding; the header "typ" is
 * therefore always "JWT". "sub" is a string as RFC 7519 requires. The algorithm is pinned by the
 * keys, never taken from the token; "kid" only selects among the configured keys (never a path
 * or URL); jku, x5u, jwk and x5c are ignored and "crit" is refused.
 *
 * Why libjwt does not do everything: it checks no claims, trusts the token's "alg" and re-parses
 * a PEM key on every ES256 call (~0.7 ms). So tokens are assembled here; HS256 signatures are
 * verified with jwt_decode (always with a key, then the algorithm it saw is checked), ES256 ones
 * with OpenSSL against public keys parsed once (JOSE r||s converted to DER). Claims are read from
 * a strict jansson parse (duplicate keys refused) of the verified payload. */
#ifndef CITYD_AUTH_JWT_H
#define CITYD_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"

#define AUTH_JWT_MAX 8192  /* longest token accepted; also a sufficient buffer for signing */
#define AUTH_KID_MAX 64    /* a kid is 1..64 characters of [A-Za-z0-9._-] */
#define AUTH_SECRET_MIN 32 /* HS256 secret length bounds, bytes */
#define AUTH_SECRET_MAX 1024
#define AUTH_LEEWAY_MAX 60 /* clock skew tolerated, seconds */
#define AUTH_TYP_ACCESS "access"
#define AUTH_TYP_REFRESH "refresh"

enum auth_alg { AUTH_HS256, AUTH_ES256 };

struct auth_keys;

/* HS256 keys: a primary secret (signs and verifies) and optionally a second one that only
 * verifies, for rotation. Secrets are copied into guarded memory; they must be 32..1024 random
 * bytes and must not be PEM text (a public key used as an HMAC secret is the classic confusion
 * attack). Kids are required and must differ. Pass kid2 NULL (or "") and secret2 NULL for a
 * single key. Returns NULL with a reason in errbuf on failure. */
struct auth_keys *auth_keys_new_hs256(const char *kid1, const unsigned char *secret1, size_t len1,
                                      const char *kid2, const unsigned char *secret2, size_t len2,
                                      char *errbuf, size_t errlen);
/* ES256 (P-256) keys: the primary public key (kid) with, if this process signs, its private key
 * (unencrypted PEM; it must match the public key), and optionally a second verify-only public key
 * (kid2, public_pem_path2; both NULL or "" when unused). private_pem_path NULL or "" means
 * verify only. Files are read once, here. Returns NULL with a reason in errbuf on failure. */
struct auth_keys *auth_keys_new_es256(const char *kid, const char *private_pem_path,
                                      const char *public_pem_path, const char *kid2,
                                      const char *public_pem_path2, char *errbuf, size_t errlen);
/* Wipe and free; NULL is a no-op. */
void auth_keys_free(struct auth_keys *k);
enum auth_alg auth_keys_alg(const struct auth_keys *k);
/* True when auth_jwt_sign can be used (HS256, or ES256 with a private key). */
bool auth_keys_can_sign(const struct auth_keys *k);

/* What a token must be issued by and for. Borrowed; issuer and audience are non-empty. */
struct auth_policy {
    const char *issuer;
    const char *audience;
    int leeway_s; /* 0..AUTH_LEEWAY_MAX */
};

struct auth_claims {
    int64_t sub;      /* user id, > 0 */
    uint32_t roles;   /* role bits (server/core/roles.h); "roles" is an array of names */
    int64_t tv;       /* per-user token version, >= 0 */
    char typ[16];     /* AUTH_TYP_ACCESS or AUTH_TYP_REFRESH (payload claim "typ") */
    char device[65];  /* optional ("" = absent); UTF-8 text, no control characters */
    int64_t akid;     /* API key id of a machine token; 0 = absent (a user's token) */
    char family[33];  /* refresh-token family, optional */
    char jti[33];     /* optional */
    int64_t iat, nbf; /* seconds; 0 = absent */
    int64_t exp;      /* seconds, required */
};

/* Sign c with the primary key into out (NUL-terminated; AUTH_JWT_MAX + 1 bytes always suffice).
 * The header carries alg, typ "JWT" and the primary kid; iss and aud come from p. out is written
 * only on success. ERR_INVALID: bad claims or policy, out too small, or keys that cannot sign;
 * ERR_INTERNAL: a crypto or allocation failure. */
enum err auth_jwt_sign(const struct auth_keys *k, const struct auth_policy *p,
                       const struct auth_claims *c, char *out, size_t outlen) MUST_CHECK;

/* The one verifier. token need not be NUL-terminated. expected_typ is AUTH_TYP_ACCESS or
 * AUTH_TYP_REFRESH. Returns ERR_OK and fills out only when the token is well formed, uses the
 * pinned algorithm, names a configured kid (or none: primary key), has a valid signature, is of
 * the expected type, was issued by p->issuer for p->audience (aud string, or array containing
 * it), has an integer exp with now_s <= exp + leeway, nbf and iat (if present) <= now_s + leeway,
 * a positive integer sub, known role names and a token version. Any failure is ERR_UNAUTH with a
 * short fixed reason in why (never token content), suitable for a warn log line; ERR_INVALID
 * means the caller's arguments (policy, expected_typ) are wrong. */
enum err auth_jwt_verify(const struct auth_keys *k, const struct auth_policy *p, const char *token,
                         size_t len, int64_t now_s, const char *expected_typ,
                         struct auth_claims *out, char *why, size_t whylen) MUST_CHECK;

#endif
