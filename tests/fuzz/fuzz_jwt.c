/* tests/fuzz/fuzz_jwt.c: the one token verifier on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "server/auth/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct auth_keys *k;
    static const unsigned char secret[32] = "0123456789abcdef0123456789abcdef";
    struct auth_policy p = {"cityd", "cityd-api", 30};
    struct auth_claims c;
    char why[96], err[128];
    enum err res;

    if (!k)
        k = auth_keys_new_hs256("k1", secret, sizeof secret, NULL, NULL, 0, err, sizeof err);
    if (!k)
        return 0;
    res = auth_jwt_verify(k, &p, (const char *)data, size, 1800000000, AUTH_TYP_ACCESS, &c, why,
                          sizeof why);
    (void)res;
    return 0;
}
