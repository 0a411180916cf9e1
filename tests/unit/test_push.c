/* tests/unit/test_push.c: the pure rules of vendor push (api/domain/push.h, server/ext/push.h):
 * which items are IM and which urgent, quiet-hour windows (also across midnight), and vendor
 * names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "api/domain/push.h"
#include "server/ext/push.h"

static void classify(void **state)
{
    bool im, urgent;

    push_classify("message", &im, &urgent);
    assert_true(im);
    assert_false(urgent);
    push_classify("case.dispatched", &im, &urgent);
    assert_false(im);
    assert_false(urgent);
    push_classify("case.urged", &im, &urgent); /* 督办 */
    assert_false(im);
    assert_true(urgent);
    push_classify("case.overdue", &im, &urgent);
    assert_true(urgent);
    push_classify("case.escalated", &im, &urgent);
    assert_true(urgent);
    push_classify("case.reminder", &im, &urgent);
    assert_false(urgent);
    push_classify("im.mention", &im, &urgent);
    assert_true(im);
}

static void quiet_windows(void **state)
{
    struct push_quiet day = {9 * 60, 17 * 60}, night = {22 * 60, 7 * 60}, none = {-1, -1},
                      empty = {600, 600};

    assert_false(push_quiet_contains(&day, 9 * 60 - 1));
    assert_true(push_quiet_contains(&day, 9 * 60));
    assert_true(push_quiet_contains(&day, 17 * 60 - 1));
    assert_false(push_quiet_contains(&day, 17 * 60)); /* the end is exclusive */
    assert_true(push_quiet_contains(&night, 23 * 60));
    assert_true(push_quiet_contains(&night, 0));
    assert_true(push_quiet_contains(&night, 7 * 60 - 1));
    assert_false(push_quiet_contains(&night, 7 * 60));
    assert_false(push_quiet_contains(&night, 12 * 60));
    assert_false(push_quiet_contains(&none, 0));
    assert_false(push_quiet_contains(&empty, 600));
}

static void vendor_names(void **state)
{
    for (int v = 0; v < EXT_PUSH_NVENDORS; v++)
        assert_int_equal(ext_push_vendor_by_name(ext_push_vendor_name(v)), v);
    assert_int_equal(ext_push_vendor_by_name("fcm"), -1);
    assert_int_equal(ext_push_vendor_by_name(NULL), -1);
    assert_null(ext_push_vendor_name(EXT_PUSH_NVENDORS));
    assert_false(ext_push_configured(EXT_PUSH_APNS)); /* nothing configured in this process */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify),
        cmocka_unit_test(quiet_windows),
        cmocka_unit_test(vendor_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
