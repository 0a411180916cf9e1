/* server/auth/password.h: user passwords and opaque secrets (refresh tokens, API keys).
 *
 * Owns how cityd turns a credential into something safe to store and how it checks one: argon2id
 * (libsodium crypto_pwhash_str) for passwords, SHA-256 for high-entropy random secrets, and the
 * password policy of 等保2.0 level 3. No database, no logging: callers store and compare the
 * strings produced here and must never log a password, secret or hash. All functions are
 * thread-safe.
 *
 * Cost: one hash or verify with the chosen parameters (argon2id, t=2, m=64 MiB, p=1, libsodium's
 * INTERACTIVE set) took ~80 ms (dev build, ASan+UBSan, 2-vCPU EPYC, two hashes in parallel ~85 ms
 * each) and 64 MiB of memory while it runs. So the login path must bound how many run at once and
 * rate-limit attempts; otherwise it is the cheapest way to exhaust a worker pool. */
#ifndef CITYD_AUTH_PASSWORD_H
#define CITYD_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include "server/core/err.h"

#define AUTH_PW_HASH_MAX 128 /* crypto_pwhash_STRBYTES, NUL included */
#define AUTH_PW_MIN 10       /* policy length bounds, bytes */
#define AUTH_PW_MAX 128
/* Hashes computed at once (each takes 64 MiB and ~50 ms of a core); more callers wait. */
#define AUTH_PW_CONCURRENT 2
#define AUTH_SECRET_HEX 65 /* auth_secret_hash output, NUL included */

/* Hash password (NUL-terminated, at most 4096 bytes) into out as an encoded argon2id string
 * ("$argon2id$v=19$m=...", NUL-terminated). Does not apply the policy. out is written only on
 * success. ERR_INVALID: no password or longer than 4096 bytes; ERR_INTERNAL: out of memory. */
enum err auth_password_hash(const char *password, char out[AUTH_PW_HASH_MAX]) MUST_CHECK;
/* True when password matches hash. A NULL, malformed or foreign hash is false; a NULL hash
 * (unknown user) still spends one hash's time, so the caller can always call this once and not
 * reveal which accounts exist. */
bool auth_password_verify(const char *hash, const char *password);
/* True when hash was made with other parameters than the current ones (or is malformed): after a
 * successful verify, hash the password again and store the new string. */
bool auth_password_needs_rehash(const char *hash);
/* The password policy: AUTH_PW_MIN..AUTH_PW_MAX bytes, at least three of lower-case letters,
 * upper-case letters, digits and other characters, no ASCII control characters, and it must not
 * contain the username (ASCII case-insensitive) or the phone number (its digits; a leading +86
 * or 0086 is ignored, and spaces, dashes and dots in the password do not hide it). username and
 * phone may be NULL or "". ERR_INVALID with a message for the user in msg. */
enum err auth_password_check_policy(const char *password, const char *username, const char *phone,
                                    char *msg, size_t msglen) MUST_CHECK;

/* Write n_chars random characters of the base64url alphabet and a NUL into out[n_chars + 1]
 * (6 bits each: 43 characters carry 258 bits). For refresh tokens and API keys. */
void auth_secret_new(char *out, size_t n_chars);
/* SHA-256 of secret[0..len) as 64 lower-case hex digits and a NUL: the form that is stored. */
void auth_secret_hash(const char *secret, size_t len, char out_hex[AUTH_SECRET_HEX]);
/* Constant-time equality of two auth_secret_hash strings; false unless both are 64 characters. */
bool auth_secret_equal(const char *a_hex, const char *b_hex);

#endif
