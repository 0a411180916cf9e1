/* tests/lib/th_assert.h: cmocka assertions over harness responses, shared by the e2e programs
 * (each includes cmocka before this header). */
#ifndef CITYD_TEST_TH_ASSERT_H
#define CITYD_TEST_TH_ASSERT_H

#include <string.h>
#include "harness.h"

/* Fail the test unless r has status (and, when code is not NULL, that error code); the
 * message shows the body. */
static inline void th_expect(struct th_resp *r, long status, const char *code)
{
    if (r->status != status || (code && strcmp(th_error_code(r), code) != 0))
        fail_msg("expected %ld %s, got %ld: %s", status, code ? code : "", r->status, r->body);
}

static inline long long th_jint(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* "" when absent or not a string. */
static inline const char *th_jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

#endif
