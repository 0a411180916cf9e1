/* tests/unit/test_db_sqlb.c: server/db/sqlb.c — the capped SQL text builder (issue 9 item 4).
 * Text and argument caps are enforced, reported by db_sqlb_check as ERR_INTERNAL with a
 * message, and never overrun or truncate into a statement that could run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "server/db/sqlb.h"

static void test_builds_text_and_args(void **state)
{
    struct rctx cx;
    struct db_sqlb b;

    (void)state;
    rctx_init(&cx);
    db_sqlb_init(&cx, &b, 0, "SELECT id FROM cases WHERE id IN (");
    db_sqlb_marks(&b, 3);
    db_sqlb_addf(&b, ") AND state = '%s' LIMIT %d", "reported", 50);
    for (int i = 1; i <= 3; i++)
        db_sqlb_arg(&b, DBI(i));
    assert_true(db_sqlb_ok(&b));
    assert_int_equal(db_sqlb_check(&b), ERR_OK);
    assert_string_equal(b.sql,
                        "SELECT id FROM cases WHERE id IN (?,?,?) AND state = 'reported' LIMIT 50");
    assert_int_equal(b.len, strlen(b.sql));
    assert_int_equal(b.nargs, 3);
    assert_int_equal(b.args[2].i, 3);
    rctx_dispose(&cx);
}

/* Growing past the first allocation keeps every byte (the builder reallocates in the pool). */
static void test_grows_within_cap(void **state)
{
    struct rctx cx;
    struct db_sqlb b;
    char want[8000];
    size_t n = 0;

    (void)state;
    rctx_init(&cx);
    db_sqlb_init(&cx, &b, 8000, "");
    for (int i = 0; i < 700; i++) {
        char piece[16];
        snprintf(piece, sizeof piece, "c%d,", i);
        db_sqlb_add(&b, piece);
        memcpy(want + n, piece, strlen(piece) + 1);
        n += strlen(piece);
    }
    assert_true(db_sqlb_ok(&b));
    assert_int_equal(b.len, n);
    assert_string_equal(b.sql, want);
    /* Exactly the cap fits. */
    db_sqlb_init(&cx, &b, 10, "0123456789");
    assert_true(db_sqlb_ok(&b));
    assert_int_equal(db_sqlb_check(&b), ERR_OK);
    rctx_dispose(&cx);
}

static void test_text_cap_is_an_error(void **state)
{
    struct rctx cx;
    struct db_sqlb b;

    (void)state;
    rctx_init(&cx);
    db_sqlb_init(&cx, &b, 32, "SELECT a, b, c FROM t");
    db_sqlb_add(&b, " WHERE a = ?"); /* 33 bytes: one past the cap */
    assert_false(db_sqlb_ok(&b));
    /* The refused piece left nothing behind, and the refusal sticks. */
    assert_string_equal(b.sql, "SELECT a, b, c FROM t");
    db_sqlb_add(&b, "!");
    db_sqlb_addf(&b, "%d", 1);
    db_sqlb_marks(&b, 1);
    db_sqlb_arg(&b, DBI(1));
    assert_string_equal(b.sql, "SELECT a, b, c FROM t");
    assert_int_equal(b.nargs, 0);
    assert_int_equal(db_sqlb_check(&b), ERR_INTERNAL);
    assert_non_null(strstr(cx.err.message, "over its text cap"));
    /* db_sqlb_exec refuses before touching the (absent) connection. */
    assert_int_equal(db_sqlb_exec(&b, NULL), ERR_INTERNAL);
    rctx_dispose(&cx);

    /* addf is refused as a whole, not truncated. */
    rctx_init(&cx);
    db_sqlb_init(&cx, &b, 16, "SELECT ");
    db_sqlb_addf(&b, "%s FROM t", "a_long_column");
    assert_false(db_sqlb_ok(&b));
    assert_string_equal(b.sql, "SELECT ");
    assert_int_equal(db_sqlb_check(&b), ERR_INTERNAL);
    rctx_dispose(&cx);

    /* A huge placeholder count cannot wrap the size arithmetic. */
    rctx_init(&cx);
    db_sqlb_init(&cx, &b, 0, "IN (");
    db_sqlb_marks(&b, SIZE_MAX / 2 + 2);
    assert_false(db_sqlb_ok(&b));
    assert_string_equal(b.sql, "IN (");
    assert_int_equal(db_sqlb_check(&b), ERR_INTERNAL);
    rctx_dispose(&cx);
}

static void test_argument_cap_is_an_error(void **state)
{
    struct rctx cx;
    struct db_sqlb b;

    (void)state;
    rctx_init(&cx);
    db_sqlb_init(&cx, &b, 0, "SELECT 1");
    for (int i = 0; i < DB_SQLB_ARGS_MAX; i++)
        db_sqlb_arg(&b, DBI(i));
    assert_true(db_sqlb_ok(&b));
    assert_int_equal(b.nargs, DB_SQLB_ARGS_MAX);
    assert_int_equal(b.args[DB_SQLB_ARGS_MAX - 1].i, DB_SQLB_ARGS_MAX - 1);
    db_sqlb_arg(&b, DBI(-1));
    assert_false(db_sqlb_ok(&b));
    assert_int_equal(b.nargs, DB_SQLB_ARGS_MAX);
    assert_int_equal(db_sqlb_check(&b), ERR_INTERNAL);
    assert_non_null(strstr(cx.err.message, "over its arguments cap"));
    rctx_dispose(&cx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builds_text_and_args),
        cmocka_unit_test(test_grows_within_cap),
        cmocka_unit_test(test_text_cap_is_an_error),
        cmocka_unit_test(test_argument_cap_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
