/* server/core/metrics_http.h: the /metrics listener, apart from the API listener.
 *
 * One thread, one blocking socket: it accepts a connection, reads one HTTP/1.x request head
 * (at most 4 KiB, within 2 s), answers GET /metrics with metrics_render() and closes. Scrapes
 * are rare (every few seconds) and come from a known Prometheus, so one connection at a time
 * is enough, and a stalled client costs the next scrape at most the time-outs, never an API
 * request. Peers not in the allow list get 403 and nothing else.
 *
 * Must not: share anything with the API loops, or grow with its input. */
#ifndef CITYD_METRICS_HTTP_H
#define CITYD_METRICS_HTTP_H

#include <stddef.h>

struct metrics_http;

/* Bind listen ("host:port", "[v6]:port"; port 0 = any free port) and start serving. allow is
 * a comma-separated list of addresses or CIDR blocks ("127.0.0.1,10.0.0.0/8,::1"); "" allows
 * every peer. NULL with a reason in errbuf when the address or the list is bad or the port
 * cannot be bound. */
struct metrics_http *metrics_http_start(const char *listen, const char *allow, char *errbuf,
                                        size_t errlen);
/* The bound port. */
int metrics_http_port(const struct metrics_http *m);
/* Stop the thread, close the socket, free. NULL is a no-op. */
void metrics_http_stop(struct metrics_http *m);

#endif
