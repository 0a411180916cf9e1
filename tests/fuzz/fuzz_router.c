/* tests/fuzz/fuzz_router.c: router_match on arbitrary method and path bytes against the real
 * route tables. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "api/api.h"
#include "server/http/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct router *r;
    const uint8_t *sp = memchr(data, ' ', size);
    struct route_match m;
    char allow[96], err[256];
    enum err res;

    if (!r)
        r = router_new(api_tables, err, sizeof err);
    if (!r || !sp)
        return 0;
    res = router_match(r, (const char *)data, (size_t)(sp - data), (const char *)sp + 1,
                       size - (size_t)(sp - data) - 1, &m, allow, sizeof allow);
    (void)res;
    return 0;
}
