/* server/core/cidr.c: see cidr.h. */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int parse_one(const char *s, size_t n, struct cidr *c)
{
    char text[64];
    const char *slash;
    int maxbits;

    if (n == 0 || n >= sizeof text)
        return -1;
    memcpy(text, s, n);
    text[n] = '\0';
    slash = strchr(text, '/');
    if (slash)
        text[slash - text] = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, text, c->addr) == 1) {
        c->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, text, c->addr) == 1) {
        c->family = AF_INET6;
        maxbits = 128;
    } else {
        return -1;
    }
    c->bits = maxbits;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || b < 0 || b > maxbits)
            return -1;
        c->bits = (int)b;
    }
    return 0;
}

int cidr_parse_list(const char *list, struct cidr *out, int max)
{
    int n = 0;
    const char *p = list;

    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len) {
            if (n >= max || parse_one(p, len, &out[n]))
                return -1;
            n++;
        }
        p = e ? e + 1 : NULL;
    }
    return n;
}

static bool prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;

    if (memcmp(a, b, (size_t)whole) != 0)
        return false;
    if (rest) {
        unsigned char mask = (unsigned char)(0xffu << (8 - rest));
        return (a[whole] & mask) == (b[whole] & mask);
    }
    return true;
}

bool cidr_match(const struct cidr *list, int n, int family, const unsigned char *addr)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0) {
        family = AF_INET;
        addr += 12;
    }
    for (int i = 0; i < n; i++)
        if (list[i].family == family && prefix_eq(list[i].addr, addr, list[i].bits))
            return true;
    return false;
}

bool cidr_match_text(const struct cidr *list, int n, const char *ip, size_t len)
{
    char text[64];
    unsigned char a[16];

    if (len == 0 || len >= sizeof text)
        return false;
    memcpy(text, ip, len);
    text[len] = '\0';
    if (inet_pton(AF_INET, text, a) == 1)
        return cidr_match(list, n, AF_INET, a);
    if (inet_pton(AF_INET6, text, a) == 1)
        return cidr_match(list, n, AF_INET6, a);
    return false;
}
