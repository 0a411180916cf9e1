/* server/core/cidr.h: lists of IP addresses and CIDR blocks ("127.0.0.1,10.0.0.0/8,fd00::/8").
 *
 * Used for who may scrape /metrics (metrics.allow) and which peers are trusted proxies
 * (http.trusted_proxies). Parsing allocates nothing; matching is a prefix compare. An IPv4
 * address seen as IPv6 (::ffff:a.b.c.d) matches IPv4 entries. */
#ifndef CITYD_CIDR_H
#define CITYD_CIDR_H

#include <stdbool.h>
#include <stddef.h>

#define CIDR_LIST_MAX 32

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
};

/* Parse a comma-separated list (spaces allowed around entries) into out[0..max). Returns the
 * number of entries (0 for ""), or -1 when an entry is not an address or block or there are
 * more than max. */
int cidr_parse_list(const char *list, struct cidr *out, int max);
/* Is addr (4 bytes for AF_INET, 16 for AF_INET6) inside one of the n entries? */
bool cidr_match(const struct cidr *list, int n, int family, const unsigned char *addr);
/* The same for an address in text form; false when it does not parse. */
bool cidr_match_text(const struct cidr *list, int n, const char *ip, size_t len);

#endif
