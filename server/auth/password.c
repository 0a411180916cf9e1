/* server/auth/password.c: argon2id password hashes, the password policy, opaque secrets. */
#include "password.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* libsodium's INTERACTIVE set, pinned as numbers so a library upgrade that changes the constants
 * shows up as needs_rehash rather than silently. Measured in the header comment. */
#define PW_OPSLIMIT 2ULL
#define PW_MEMLIMIT ((size_t)64 << 20)
#define PW_INPUT_MAX 4096

/* A hash of a random password nobody knows, made with the parameters above (regenerate it when
 * they change; test_password compares its cost with a real hash). Verifying against it makes an
 * unknown user cost as much as a known one. */
static const char dummy_hash[AUTH_PW_HASH_MAX] =
    "$argon2id$v=19$m=65536,t=2,p=1$GPzd3xoKDUhfVEDQmRgkNg$p0OyT0BUOsDG/"
    "ZISrOEANwsHPc8aQNl+MPY4rNZKVRU";

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void sodium_ready(void)
{
    /* Only fails when the kernel has no randomness to give: nothing secure can run then. */
    if (sodium_init() < 0)
        abort();
}

/* argon2id holds 64 MiB for ~70 ms: at most this many run at once in the process, whoever
 * calls (login, registration, password change), so a burst cannot take all memory or every
 * database worker. The others wait their turn. */

static sem_t slots;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static void slots_init(void)
{
    sem_init(&slots, 0, AUTH_PW_CONCURRENT);
}

static void slot_take(void)
{
    pthread_once(&slots_once, slots_init);
    while (sem_wait(&slots) != 0)
        ; /* EINTR */
}

static void slot_give(void)
{
    sem_post(&slots);
}

enum err auth_password_hash(const char *password, char out[AUTH_PW_HASH_MAX])
{
    int rc;
    char buf[crypto_pwhash_STRBYTES];
    size_t n;

    _Static_assert(crypto_pwhash_STRBYTES == AUTH_PW_HASH_MAX, "hash buffer size");
    if (!password)
        return ERR_INVALID;
    n = strnlen(password, PW_INPUT_MAX + 1);
    if (n > PW_INPUT_MAX)
        return ERR_INVALID;
    sodium_ready();
    slot_take();
    rc = crypto_pwhash_str(buf, password, n, PW_OPSLIMIT, PW_MEMLIMIT);
    slot_give();
    if (rc != 0)
        return ERR_INTERNAL;
    memcpy(out, buf, sizeof buf);
    return ERR_OK;
}

bool auth_password_verify(const char *hash, const char *password)
{
    size_t n;
    int rc;

    if (!password)
        return false;
    n = strnlen(password, PW_INPUT_MAX + 1);
    if (n > PW_INPUT_MAX)
        return false;
    sodium_ready();
    if (hash && strnlen(hash, AUTH_PW_HASH_MAX) == AUTH_PW_HASH_MAX)
        return false;
    slot_take();
    rc = crypto_pwhash_str_verify(hash ? hash : dummy_hash, password, n);
    slot_give();
    if (!hash) {
        if (rc == 0)
            abort(); /* unreachable: nobody knows the dummy's password */
        return false;
    }
    return rc == 0;
}

bool auth_password_needs_rehash(const char *hash)
{
    if (!hash || strnlen(hash, AUTH_PW_HASH_MAX) == AUTH_PW_HASH_MAX)
        return true;
    sodium_ready();
    return crypto_pwhash_str_needs_rehash(hash, PW_OPSLIMIT, PW_MEMLIMIT) != 0;
}

static char lower(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return (char)(ch - 'A' + 'a');
    return ch;
}

static bool contains_ci(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0 || nn > hn)
        return false;
    for (size_t i = 0; i + nn <= hn; i++) {
        size_t j = 0;
        while (j < nn && lower(hay[i + j]) == lower(needle[j]))
            j++;
        if (j == nn)
            return true;
    }
    return false;
}

/* Digits of a phone number without a +86 / 0086 country code, into out[cap]; returns the count. */
static size_t phone_digits(const char *phone, char *out, size_t cap)
{
    size_t n = 0;

    for (; *phone && n < cap; phone++)
        if (*phone >= '0' && *phone <= '9')
            out[n++] = *phone;
    if (n >= 10 && memcmp(out, "0086", 4) == 0) {
        memmove(out, out + 4, n - 4);
        n -= 4;
    } else if (n == 13 && memcmp(out, "86", 2) == 0) {
        memmove(out, out + 2, n - 2);
        n -= 2;
    }
    return n;
}

static enum err policy_fail(char *msg, size_t msglen, const char *text)
{
    if (msg && msglen)
        snprintf(msg, msglen, "%s", text);
    return ERR_INVALID;
}

enum err auth_password_check_policy(const char *password, const char *username, const char *phone,
                                    char *msg, size_t msglen)
{
    bool lo = false, up = false, dig = false, other = false;
    char squeezed[AUTH_PW_MAX];
    char digits[32];
    size_t n, sn = 0, dn;

    if (!password || !*password)
        return policy_fail(msg, msglen, "password is required");
    n = strnlen(password, AUTH_PW_MAX + 1);
    if (n < AUTH_PW_MIN || n > AUTH_PW_MAX)
        return policy_fail(msg, msglen, "password must be 10 to 128 bytes long");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)password[i];
        if (ch < 0x20 || ch == 0x7f)
            return policy_fail(msg, msglen, "password must not contain control characters");
        if (ch >= 'a' && ch <= 'z')
            lo = true;
        else if (ch >= 'A' && ch <= 'Z')
            up = true;
        else if (ch >= '0' && ch <= '9')
            dig = true;
        else
            other = true;
        if (ch != ' ' && ch != '-' && ch != '.')
            squeezed[sn++] = (char)ch;
    }
    if (lo + up + dig + other < 3)
        return policy_fail(msg, msglen,
                           "password must contain at least 3 of: lower-case letters, "
                           "upper-case letters, digits, other characters");
    if (username && contains_ci(password, n, username, strlen(username)))
        return policy_fail(msg, msglen, "password must not contain the username");
    if (phone) {
        dn = phone_digits(phone, digits, sizeof digits);
        /* Fewer digits than this is no phone number, and would forbid half of all passwords. */
        if (dn >= 6 &&
            (contains_ci(password, n, digits, dn) || contains_ci(squeezed, sn, digits, dn)))
            return policy_fail(msg, msglen, "password must not contain the phone number");
    }
    return ERR_OK;
}

void auth_secret_new(char *out, size_t n_chars)
{
    unsigned char rnd[64];
    size_t done = 0;

    sodium_ready();
    while (done < n_chars) {
        size_t chunk = n_chars - done < sizeof rnd ? n_chars - done : sizeof rnd;
        randombytes_buf(rnd, chunk);
        /* 256 is a multiple of 64, so masking keeps every character equally likely. */
        for (size_t i = 0; i < chunk; i++)
            out[done + i] = b64url[rnd[i] & 63];
        done += chunk;
    }
    out[n_chars] = '\0';
    sodium_memzero(rnd, sizeof rnd);
}

void auth_secret_hash(const char *secret, size_t len, char out_hex[AUTH_SECRET_HEX])
{
    unsigned char digest[crypto_hash_sha256_BYTES];

    sodium_ready();
    crypto_hash_sha256(digest, (const unsigned char *)secret, len);
    sodium_bin2hex(out_hex, AUTH_SECRET_HEX, digest, sizeof digest);
}

bool auth_secret_equal(const char *a_hex, const char *b_hex)
{
    if (!a_hex || !b_hex || strnlen(a_hex, AUTH_SECRET_HEX) != AUTH_SECRET_HEX - 1 ||
        strnlen(b_hex, AUTH_SECRET_HEX) != AUTH_SECRET_HEX - 1)
        return false;
    return sodium_memcmp(a_hex, b_hex, AUTH_SECRET_HEX - 1) == 0;
}
