/* tests/unit/test_cidr.c: server/core/cidr.c (metrics.allow, http.trusted_proxies). */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "server/core/cidr.h"

static void test_lists(void **state)
{
    struct cidr l[4];
    unsigned char a4[4], a6[16];
    int n = cidr_parse_list(" 127.0.0.1, 10.1.0.0/16 ,::1,fd00::/8", l, 4);

    assert_int_equal(n, 4);
    inet_pton(AF_INET, "10.1.200.3", a4);
    assert_true(cidr_match(l, n, AF_INET, a4));
    inet_pton(AF_INET, "10.2.0.1", a4);
    assert_false(cidr_match(l, n, AF_INET, a4));
    inet_pton(AF_INET6, "::ffff:127.0.0.1", a6);
    assert_true(cidr_match(l, n, AF_INET6, a6));
    inet_pton(AF_INET6, "fd12::5", a6);
    assert_true(cidr_match(l, n, AF_INET6, a6));
    inet_pton(AF_INET6, "fe80::1", a6);
    assert_false(cidr_match(l, n, AF_INET6, a6));
    assert_int_equal(cidr_parse_list("", l, 4), 0);
    assert_false(cidr_match(l, 0, AF_INET6, a6));
    assert_true(cidr_match_text(l, n, "10.1.0.1", 8));
    assert_false(cidr_match_text(l, n, "10.1.0.1x", 9));
    assert_false(cidr_match_text(l, n, "", 0));
    assert_int_equal(cidr_parse_list("10.0.0.0/33", l, 4), -1);
    assert_int_equal(cidr_parse_list("example.org", l, 4), -1);
    assert_int_equal(cidr_parse_list("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", l, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
