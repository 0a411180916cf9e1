/* tests/unit/test_err.c: server/core/err.c — the tables generated from err.def.
 *
 * err.def is included here a third time, so every row is checked against the generated
 * functions: a unique, well-formed wire code and a 4xx/5xx status per kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "server/core/err.h"

struct row {
    enum err e;
    int status;
    const char *code;
    const char *name;
    const char *reason;
};

static const struct row rows[] = {
#define ERR(name, status, code, reason) {ERR_##name, status, code, #name, reason},
#include "server/core/err.def"
#undef ERR
};

#define NROWS (sizeof rows / sizeof rows[0])

static void test_ok(void **state)
{
    (void)state;
    assert_int_equal(ERR_OK, 0);
    assert_int_equal(err_http_status(ERR_OK), 200);
    assert_string_equal(err_code(ERR_OK), "ok");
}

static void test_every_row(void **state)
{
    (void)state;
    assert_int_equal(NROWS, ERR__COUNT - 1);
    for (size_t i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        const char *code = err_code(r->e);

        assert_int_equal(r->e, (int)i + 1);
        if (r->status < 400 || r->status > 599)
            fail_msg("ERR_%s: status %d is not 4xx/5xx", r->name, r->status);
        if (err_http_status(r->e) != r->status)
            fail_msg("ERR_%s: err_http_status %d, err.def says %d", r->name, err_http_status(r->e),
                     r->status);
        assert_non_null(code);
        if (strcmp(code, r->code) != 0)
            fail_msg("ERR_%s: err_code \"%s\", err.def says \"%s\"", r->name, code, r->code);
        if (code[0] == '\0' || strcmp(code, "ok") == 0)
            fail_msg("ERR_%s: wire code \"%s\" is empty or \"ok\"", r->name, code);
        for (const char *p = code; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
                fail_msg("ERR_%s: wire code \"%s\" is not lower_snake", r->name, code);
        for (size_t j = 0; j < i; j++)
            if (strcmp(rows[j].code, r->code) == 0)
                fail_msg("ERR_%s and ERR_%s share the wire code \"%s\"", rows[j].name, r->name,
                         r->code);
    }
}

static void test_known_mappings(void **state)
{
    (void)state;
    /* The ones clients and the HTTP layer rely on by name. */
    assert_int_equal(err_http_status(ERR_INVALID), 400);
    assert_string_equal(err_code(ERR_INVALID), "invalid_argument");
    assert_int_equal(err_http_status(ERR_UNAUTH), 401);
    assert_int_equal(err_http_status(ERR_FORBIDDEN), 403);
    assert_int_equal(err_http_status(ERR_NOTFOUND), 404);
    assert_int_equal(err_http_status(ERR_METHOD), 405);
    assert_int_equal(err_http_status(ERR_TOOBIG), 413);
    assert_int_equal(err_http_status(ERR_INTERNAL), 500);
    assert_string_equal(err_code(ERR_INTERNAL), "internal");
    assert_int_equal(err_http_status(ERR_BUSY), 503);
    assert_string_equal(err_code(ERR_BUSY), "unavailable");
}

static void test_reasons(void **state)
{
    (void)state;
    /* Every error status answers with its err.def phrase (rows sharing a status share it). */
    for (size_t i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        if (r->reason[0] == '\0')
            fail_msg("ERR_%s: empty reason phrase", r->name);
        if (strcmp(err_reason(r->status), r->reason) != 0)
            fail_msg("ERR_%s: err_reason(%d) \"%s\", err.def says \"%s\"", r->name, r->status,
                     err_reason(r->status), r->reason);
    }
    assert_string_equal(err_reason(200), "OK");
    assert_string_equal(err_reason(201), "Created");
    assert_string_equal(err_reason(204), "No Content");
    assert_string_equal(err_reason(304), "Not Modified");
    assert_string_equal(err_reason(413), "Payload Too Large");
    assert_string_equal(err_reason(599), "Internal Server Error");
}

static void test_out_of_range(void **state)
{
    (void)state;
    /* A value outside the enum (a bug) still maps to something safe to send. */
    assert_int_equal(err_http_status(ERR__COUNT), 500);
    assert_string_equal(err_code(ERR__COUNT), "internal");
    assert_int_equal(err_http_status((enum err) - 1), 500);
    assert_string_equal(err_code((enum err) - 1), "internal");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_every_row),
        cmocka_unit_test(test_known_mappings),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
