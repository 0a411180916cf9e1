/* server/core/roles.c: names of the role bits. */
#include "roles.h"

#include <string.h>

static const struct {
    uint32_t bit;
    const char *name;
} table[] = {
#define X(n, wire, bit) {ROLE_##n, wire},
    ROLE_LIST(X)
#undef X
};

uint32_t role_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0)
            return table[i].bit;
    return 0;
}

const char *role_name(uint32_t bit)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].bit == bit)
            return table[i].name;
    return NULL;
}

size_t role_count(void)
{
    return sizeof table / sizeof table[0];
}

uint32_t role_at(size_t i)
{
    return i < role_count() ? table[i].bit : 0;
}
