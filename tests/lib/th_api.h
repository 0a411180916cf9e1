/* tests/lib/th_api.h: the e2e programs' shared vocabulary over the harness — requests as a
 * role or with a token, a case report and its actions, formatted SQL, the moved clock — so no
 * test file carries its own copy of `post`, `get`, `act` or `report_as`.
 *
 * Every function takes the server first, like the harness. Functions named for an outcome
 * (th_report_as, th_act, th_check) fail the current cmocka test when the server answers
 * otherwise; the *_resp variants leave the response to the caller. Strings returned as
 * `const char *` live in static buffers until the next call of the same function. */
#ifndef CITYD_TEST_TH_API_H
#define CITYD_TEST_TH_API_H

#include <stdarg.h>
#include "harness.h"

/* The demo city's fixed places and category (th_seed). */
#define TH_CAT_0102 "\"code_set\":\"gbt30428\",\"full_code\":\"0102\",\"kind\":\"event\""
/* Inside grid 1 (东华一网格, 东城区) and grid 3 (西湖一网格, 西城区). */
#define TH_IN_GRID1 "\"location\":{\"lat\":31.305,\"lng\":120.605}"
#define TH_IN_GRID3 "\"location\":{\"lat\":31.305,\"lng\":120.585}"
#define TH_GRID1_CODE "999901001001001"
#define TH_GRID3_CODE "999902001001001"

/* ---- text and SQL ---------------------------------------------------------------------- */

/* A formatted string (malloc'd; aborts on out of memory). */
char *th_xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* th_sql_int of a formatted statement (at most 4 KiB). */
long long th_sqlf(struct th_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* th_sql_exec of a formatted statement (at most 4 KiB). */
void th_sql_execf(struct th_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- requests ---------------------------------------------------------------------------- */

/* "Authorization: Bearer <role's token>" (one of four rotating static buffers). */
const char *th_bearer(struct th_server *s, const char *role);
/* Any method with a bearer token (NULL: none), an Idempotency-Key (NULL: none), one more
 * header line (NULL: none) and a JSON body (NULL: no body and no Content-Type). */
void th_call_tok(struct th_server *s, const char *method, const char *path, const char *token,
                 const char *key, const char *extra_header, const char *body, struct th_resp *r);
/* The same as the seeded demo user of role. */
void th_call(struct th_server *s, const char *role, const char *method, const char *path,
             const char *key, const char *body, struct th_resp *r);
void th_post(struct th_server *s, const char *role, const char *path, const char *key,
             const char *body, struct th_resp *r);
void th_get_as(struct th_server *s, const char *role, const char *path, struct th_resp *r);
/* th_call, then th_expect(status, code), then free: for calls whose answer is only checked. */
void th_check(struct th_server *s, const char *role, const char *method, const char *path,
              const char *body, long status, const char *code);

/* ---- cases ------------------------------------------------------------------------------- */

/* Report category 0102 as role at where ("\"location\":{...}"; NULL: inside grid 1); expects
 * 201 and returns the case id. */
long long th_report_as(struct th_server *s, const char *role, const char *where);
/* The same with the response left in r (not checked). */
void th_report_resp(struct th_server *s, const char *role, const char *where, struct th_resp *r);
/* The case's version, read from the database. */
long long th_case_version(struct th_server *s, long long id);
/* The case's state and due_at as GET /api/v1/cases/{id} answers the dispatcher. */
const char *th_case_state(struct th_server *s, long long id);
const char *th_case_due(struct th_server *s, long long id);
/* POST /api/v1/cases/{id}/actions as role with the case's current version and the members
 * given by fmt (e.g. "\"action\":\"accept\""), Idempotency-Key key (may be NULL). th_act
 * expects 200 and returns the due_at of the answer; th_act_resp leaves the response in r. */
const char *th_act(struct th_server *s, const char *role, long long id, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void th_act_resp(struct th_server *s, const char *role, long long id, const char *key,
                 struct th_resp *r, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void th_act_vresp(struct th_server *s, const char *role, long long id, const char *key,
                  struct th_resp *r, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/* ---- time ------------------------------------------------------------------------------ */

/* The real wall clock, in milliseconds since the epoch. */
long long th_now_ms(void);
/* Move cityd's clock (testing.clock_control) to a UTC instant and drop the cached tokens
 * (they were minted at another time). */
void th_clock_at(struct th_server *s, int y, int mo, int d, int h, int mi);
/* The same at a China wall time (UTC+8, the demo city's); returns that instant in ms. */
long long th_clock_local(struct th_server *s, int y, int mo, int d, int h, int mi);
/* The retention job keeps track_points' day partitions ahead of cityd's clock: after a jump of
 * the clock, wait (at most 15 s) until a partition reaches a day past at, so points land in
 * their day and not in pmax; fails the current test otherwise. */
void th_wait_track_partitions(struct th_server *s, long long at);
/* The clock keeps running after a move, so instants are compared to the minute. */
void th_assert_minute(const char *got, const char *want);

/* Every rollup table (the dashboard's and 考评's) equals what `cityd rollup-rebuild` recomputes
 * from scratch: each table's rows are checksummed before and after the rebuild; fails the
 * current test naming the first table that differs. The one list of rollup tables the tests
 * compare — a new rollup table goes here. */
void th_rollups_match_rebuild(struct th_server *s);

#endif
