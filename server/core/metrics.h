/* server/core/metrics.h: process metrics in the Prometheus text exposition format.
 *
 * A registry of series. A series is one metric name plus one fixed set of label pairs; it is
 * found or created by metrics_counter(), metrics_gauge() or metrics_histogram() and lives until
 * the process exits (never freed, so a pointer to it may be cached and used from any thread).
 * Updates are lock-free: relaxed atomic adds on the series itself. Only finding a series that
 * does not exist yet takes the registry's mutex; finding an existing one is a lock-free probe of
 * an open-addressing table. metrics_render() writes every series, grouped by name, each family
 * with its # HELP and # TYPE lines.
 *
 * Rules for callers (Prometheus conventions, docs/deployment.md lists the metrics):
 *  - names are cityd_<area>_<what>[_<unit>]: counters end in _total, durations are in seconds
 *    (_seconds), sizes in bytes (_bytes);
 *  - label values come from a bounded set: route templates, pool names, reason codes, status
 *    classes — never user ids, paths, addresses or free text. As a backstop the registry holds
 *    at most METRICS_MAX_SERIES series; past that, new series go to one shared sink (counted by
 *    cityd_metrics_series_dropped_total) and nothing grows.
 *  - one name is one type and one help text: asking for a registered name with another type
 *    is a programming error; it is logged and a sink series is returned.
 *
 * Registration API for other modules (the WebSocket gateway, say): at start-up or on first use,
 *     static struct metrics_series *conns;
 *     conns = metrics_gauge("cityd_connections_open", "Open client connections by protocol.",
 *                           "protocol=\"websocket\"");
 *     metrics_gauge_add(conns, 1);            ... and -1 when it closes
 * and for values computed when scraped, metrics_gauge_fn(). Labels are passed already formatted
 * (`a="x",b="y"`); metrics_labels() builds that string with proper escaping.
 *
 * Must not: allocate per update, block an event loop, or know about HTTP (server/http calls
 * metrics_http_request(); the /metrics listener is metrics_http.c). */
#ifndef CITYD_METRICS_H
#define CITYD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_SERIES 8192
#define METRICS_MAX_BUCKETS 16

struct metrics_series;

/* Find or create a counter / gauge / histogram series. name must be a valid metric name, labels
 * a formatted label list ("" or NULL for none), help one line. bounds (ascending upper bounds,
 * at most METRICS_MAX_BUCKETS) apply when the family is created; NULL = METRICS_SECONDS, the
 * latency buckets from 1 ms to 10 s. Never returns NULL; thread-safe. */
struct metrics_series *metrics_counter(const char *name, const char *help, const char *labels);
struct metrics_series *metrics_gauge(const char *name, const char *help, const char *labels);
struct metrics_series *metrics_histogram(const char *name, const char *help, const char *labels,
                                         const double *bounds, size_t nbounds);
/* A gauge whose value fn(arg) computes when scraped (on the scraping thread, so it must be
 * quick and thread-safe). Registering the same name and labels again replaces fn and arg;
 * metrics_gauge_fn(..., NULL, NULL) turns the series off (rendered as absent). */
void metrics_gauge_fn(const char *name, const char *help, const char *labels,
                      double (*fn)(void *arg), void *arg);

extern const double METRICS_SECONDS[];
extern const size_t METRICS_SECONDS_N;

/* Counter: add n. */
void metrics_add(struct metrics_series *s, uint64_t n);
static inline void metrics_inc(struct metrics_series *s)
{
    metrics_add(s, 1);
}
/* Gauge: set, or add a (possibly negative) delta. */
void metrics_gauge_set(struct metrics_series *s, int64_t v);
void metrics_gauge_add(struct metrics_series *s, int64_t delta);
/* Histogram: one observation. */
void metrics_observe(struct metrics_series *s, double v);

/* Current value of a counter or gauge, or the count of a histogram (tests, and callers that
 * want to read their own numbers). */
double metrics_value(const struct metrics_series *s);

/* Build `k1="v1",k2="v2"` into buf from NULL-terminated key, value pairs, escaping \ " and
 * newlines in values; truncated safely (the result is then still well-formed but cut).
 * Returns buf. */
char *metrics_labels(char *buf, size_t cap, ...) __attribute__((sentinel));

/* The whole registry in the text exposition format 0.0.4, malloc'd (free() it); *len gets
 * its length. NULL on OOM. */
char *metrics_render(size_t *len);

/* The class of an HTTP status: "1xx".."5xx". */
const char *metrics_status_class(int status);

/* One answered HTTP request: counts cityd_http_requests_total{method,route,code}, observes
 * cityd_http_request_duration_seconds{method,route} and counts
 * cityd_http_version_requests_total{version}. route is the route template from the route
 * table ("/api/v1/cases/{id}"; the pointer must stay valid for the process) or NULL when
 * nothing matched (route="unmatched"). method is reduced to the standard methods ("other"
 * for the rest). http_version: 0x101, 0x200. After the first request of a route, method and
 * status class on a thread, a call is a few compares and relaxed atomic adds. */
void metrics_http_request(const char *method, size_t method_len, const char *route, int status,
                          int http_version, double seconds);

#endif
