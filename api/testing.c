/* api/testing.c: /api/v1/testing — test-only controls, answered 404 unless the configuration
 * enables them (testing.clock_control). Lets the suite move cityd's clock (deadlines, token
 * expiry, lockout expiry) without waiting. */
#include "api.h"

#include <stddef.h>
#include "server/core/clock.h"
#include "server/core/roles.h"

bool api_testing_enabled;

/* One field, decoded straight into the offset (offset 0). */
static const struct api_field clock_fields[] = {
    {"offset_ms", API_I64, true, 0, 0, -10LL * 365 * 86400 * 1000, 10LL * 365 * 86400 * 1000},
    {0},
};

static enum err testing_clock(struct rctx *cx, const struct req *rq, struct resp *rs)
{
    int64_t offset_ms = 0;
    enum err res;

    if (!api_testing_enabled)
        return rctx_fail(cx, ERR_NOTFOUND, "no such path");
    res = api_json_input(cx, rq, clock_fields, &offset_ms, NULL);
    if (res)
        return res;
    clock_set_offset_ms(offset_ms);
    return api_json_reply(cx, rs, 200,
                          json_pack("{s:I,s:I}", "offset_ms", (json_int_t)clock_offset_ms(),
                                    "now_ms", (json_int_t)clock_now_ms()));
}

/* clang-format off */
const struct route api_testing_routes[] = {
    {"PUT", "/api/v1/testing/clock", testing_clock, ROLE_ADMIN, 1024, 0, 0, NULL, NULL},
    {0},
};
/* clang-format on */
