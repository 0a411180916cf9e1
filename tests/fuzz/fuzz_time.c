/* tests/fuzz/fuzz_time.c: api_parse_time, the instant parser of query parameters and bodies
 * (RFC 3339 with a zone, or milliseconds since the epoch). The first byte chooses whether
 * milliseconds are allowed; the rest is the text. An accepted text must parse to the same
 * instant again, and an RFC 3339 one (allow_ms off) must lie in years 0001..9999. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api/api.h"
#include "server/core/rctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rctx cx;
    bool allow_ms;
    int64_t t1 = 0, t2 = 0;
    char *s;

    if (size == 0 || size > 256)
        return 0;
    allow_ms = data[0] & 1;
    s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    rctx_init(&cx);
    if (api_parse_time(&cx, "t", s, allow_ms, &t1) == ERR_OK) {
        if (api_parse_time(&cx, "t", s, allow_ms, &t2) != ERR_OK || t1 != t2)
            abort(); /* the same text must give the same instant */
        /* 0001-01-01 and 9999-12-31 (a day of zone offset either way) */
        if (!allow_ms && (t1 < INT64_C(-62135683200000) || t1 > INT64_C(253402387200000)))
            abort();
    }
    rctx_dispose(&cx);
    free(s);
    return 0;
}
