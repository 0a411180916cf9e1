/* tests/unit/test_password.c: server/auth/password.c — argon2id hashes, the password policy and
 * opaque secrets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "server/auth/password.h"

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void hash_and_verify(void **state)
{
    char h1[AUTH_PW_HASH_MAX], h2[AUTH_PW_HASH_MAX];
    double t0, t1;

    t0 = now_ms();
    assert_int_equal(auth_password_hash("Correct-Horse-9", h1), ERR_OK);
    t1 = now_ms();
    print_message("one argon2id hash: %.1f ms\n", t1 - t0);
    assert_true(strncmp(h1, "$argon2id$v=19$m=65536,t=2,p=1$", 31) == 0);
    assert_true(auth_password_verify(h1, "Correct-Horse-9"));
    assert_false(auth_password_verify(h1, "correct-Horse-9"));
    assert_false(auth_password_verify(h1, "Correct-Horse-9 "));
    assert_false(auth_password_verify(h1, ""));
    assert_false(auth_password_verify(h1, NULL));
    assert_false(auth_password_needs_rehash(h1));

    /* Salted: the same password never gives the same string. */
    assert_int_equal(auth_password_hash("Correct-Horse-9", h2), ERR_OK);
    assert_string_not_equal(h1, h2);
    assert_true(auth_password_verify(h2, "Correct-Horse-9"));

    /* UTF-8 passwords are bytes like any other. */
    assert_int_equal(auth_password_hash("城市管理Passw0rd", h2), ERR_OK);
    assert_true(auth_password_verify(h2, "城市管理Passw0rd"));
    assert_false(auth_password_verify(h2, "城市管理passw0rd"));
}

static void bad_hashes(void **state)
{
    char h[AUTH_PW_HASH_MAX], unterminated[AUTH_PW_HASH_MAX];
    double t0, t1, t2;

    assert_false(auth_password_verify("", "x"));
    assert_false(auth_password_verify("$argon2id$v=19$m=65536,t=2,p=1$garbage", "x"));
    assert_false(auth_password_verify("plaintext-password", "plaintext-password"));
    memset(unterminated, 'a', sizeof unterminated);
    assert_false(auth_password_verify(unterminated, "a"));
    assert_true(auth_password_needs_rehash(unterminated));
    assert_true(auth_password_needs_rehash(NULL));
    assert_true(auth_password_needs_rehash("not a hash"));

    /* An unknown user costs about what a known one does (so the dummy hash has the current
     * parameters) and never matches. */
    assert_int_equal(auth_password_hash("Correct-Horse-9", h), ERR_OK);
    t0 = now_ms();
    assert_false(auth_password_verify(NULL, "Correct-Horse-9"));
    t1 = now_ms();
    assert_false(auth_password_verify(h, "Wrong-Horse-9"));
    t2 = now_ms();
    print_message("verify: unknown user %.1f ms, known user %.1f ms\n", t1 - t0, t2 - t1);
    assert_true(t1 - t0 > 0.5 * (t2 - t1));

    assert_int_equal(auth_password_hash(NULL, h), ERR_INVALID);
}

static void rehash_after_parameter_change(void **state)
{
    char weak[crypto_pwhash_STRBYTES];

    assert_int_equal(sodium_init() >= 0, 1);
    assert_int_equal(crypto_pwhash_str(weak, "Correct-Horse-9", 15, crypto_pwhash_OPSLIMIT_MIN,
                                       crypto_pwhash_MEMLIMIT_MIN),
                     0);
    assert_true(auth_password_verify(weak, "Correct-Horse-9"));
    assert_true(auth_password_needs_rehash(weak));
}

static void overlong_input(void **state)
{
    static char big[5000];
    char h[AUTH_PW_HASH_MAX];

    memset(big, 'A', sizeof big - 1);
    assert_int_equal(auth_password_hash(big, h), ERR_INVALID);
    big[4096] = '\0';
    assert_int_equal(auth_password_hash(big, h), ERR_OK);
    assert_true(auth_password_verify(h, big));
    big[4096] = 'A';
    assert_false(auth_password_verify(h, big));
}

static void expect_policy(const char *pw, const char *user, const char *phone, const char *msg)
{
    char got[160] = "";
    enum err res;

    res = auth_password_check_policy(pw, user, phone, got, sizeof got);
    if (!msg) {
        if (res)
            print_error("refused \"%s\": %s\n", pw ? pw : "(null)", got);
        assert_int_equal(res, ERR_OK);
        return;
    }
    assert_int_equal(res, ERR_INVALID);
    assert_non_null(strstr(got, msg));
}

static void policy_length(void **state)
{
    char pw[200];

    expect_policy(NULL, "zhang", NULL, "required");
    expect_policy("", "zhang", NULL, "required");
    expect_policy("Abcdef12!", "zhang", NULL, "10 to 128"); /* 9 */
    expect_policy("Abcdef12!x", "zhang", NULL, NULL);       /* 10 */
    memset(pw, 'a', sizeof pw);
    memcpy(pw, "A1", 2);
    pw[128] = '\0';
    expect_policy(pw, "zhang", NULL, NULL);
    pw[128] = 'a';
    pw[129] = '\0';
    expect_policy(pw, "zhang", NULL, "10 to 128");
    pw[199] = '\0';
    expect_policy(pw, "zhang", NULL, "10 to 128");
}

static void policy_classes(void **state)
{
    expect_policy("abcdefghij", NULL, NULL, "at least 3 of");
    expect_policy("abcdefghi1", NULL, NULL, "at least 3 of");
    expect_policy("ABCDEFGH!!", NULL, NULL, "at least 3 of");
    expect_policy("1234567890!", NULL, NULL, "at least 3 of");
    expect_policy("abcdefgh1A", NULL, NULL, NULL);  /* lower upper digit */
    expect_policy("abcdefgh1!", NULL, NULL, NULL);  /* lower digit other */
    expect_policy("ABCDEFGH1 ", NULL, NULL, NULL);  /* space counts as other */
    expect_policy("密码密码Abc", NULL, NULL, NULL); /* UTF-8 bytes count as other */
    expect_policy("abcdef\tG1!", NULL, NULL, "control characters");
    expect_policy("abcdefG1!\x7f", NULL, NULL, "control characters");
}

static void policy_username_and_phone(void **state)
{
    expect_policy("xxZhangWei9!", "zhangwei", NULL, "username");
    expect_policy("ZHANGWEI-2024", "zhangwei", NULL, "username");
    expect_policy("Zhang-Wei-2024", "zhangwei", NULL, NULL);
    expect_policy("Zhang-Wei-2024", "", "", NULL);

    expect_policy("Ab!13812345678", "li", "13812345678", "phone");
    expect_policy("Ab!13812345678", "li", "+86 138-1234-5678", "phone");
    expect_policy("Ab!13812345678", "li", "008613812345678", "phone");
    expect_policy("Ab!138-1234-5678", "li", "13812345678", "phone");
    expect_policy("Ab!138 1234 5678x", "li", "+8613812345678", "phone");
    expect_policy("Ab!1381234567", "li", "13812345678", NULL); /* 10 of 11 digits */
    expect_policy("Ab!12345678c", "li", "123", NULL);          /* too short to be a number */
}

static void secrets(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char a[44], b[44], ha[AUTH_SECRET_HEX], hb[AUTH_SECRET_HEX], longer[80];
    static char many[4097];

    auth_secret_new(a, 43);
    auth_secret_new(b, 43);
    assert_int_equal(strlen(a), 43);
    assert_int_equal(strspn(a, alphabet), 43);
    assert_string_not_equal(a, b);
    /* Every character of the alphabet shows up in 4096 draws (missing one: p < 1e-25). */
    auth_secret_new(many, 4096);
    assert_int_equal(strlen(many), 4096);
    for (size_t i = 0; i < 64; i++)
        assert_non_null(strchr(many, alphabet[i]));

    auth_secret_hash("abc", 3, ha);
    assert_string_equal(ha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    auth_secret_hash(a, strlen(a), ha);
    auth_secret_hash(a, strlen(a), hb);
    assert_true(auth_secret_equal(ha, hb));
    auth_secret_hash(b, strlen(b), hb);
    assert_false(auth_secret_equal(ha, hb));
    hb[63] = '\0';
    assert_false(auth_secret_equal(ha, hb));
    snprintf(longer, sizeof longer, "%sff", ha); /* same first 64 characters */
    assert_false(auth_secret_equal(ha, longer));
    assert_false(auth_secret_equal(longer, ha));
    assert_false(auth_secret_equal(ha, NULL));
    assert_false(auth_secret_equal("", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_and_verify),
        cmocka_unit_test(bad_hashes),
        cmocka_unit_test(rehash_after_parameter_change),
        cmocka_unit_test(overlong_input),
        cmocka_unit_test(policy_length),
        cmocka_unit_test(policy_classes),
        cmocka_unit_test(policy_username_and_phone),
        cmocka_unit_test(secrets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
