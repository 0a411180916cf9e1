/* api/domain/points.h: 积分 — citizens' points for accepted reports, and their redemption for
 * items that admins define (tables of migrations/NNNN_points.sql).
 *
 * Invariants:
 * - Every change of a balance is one points_ledger row naming its cause ("report_registered",
 *   "redemption") and what caused it (the case, the redemption), written in the transaction
 *   that changes points_accounts.balance; balance_after is the balance after it, so the
 *   ledger replays to the balance.
 * - A cause is paid once: (user, cause, ref) is unique, so a retried or repeated 立案 never
 *   pays twice; a redemption spends once per Idempotency-Key.
 * - A balance never goes below 0 and an item's stock never below 0: both rows are locked
 *   (item first, then account: one order everywhere) before they are checked and changed,
 *   and the table constraints refuse a negative value should a bug try.
 * - Points are paid when a citizen's report is registered (立案, the report was accepted as a
 *   real case): an invalid (作废) or merged (合并) report never gets there. At most
 *   points.daily_cap per local day (citytime.h) are paid for reports; a report past the cap gets a
 *   row of 0 points saying so.
 * Results are pool memory of cx. No HTTP, no JSON. */
#ifndef CITYD_DOMAIN_POINTS_H
#define CITYD_DOMAIN_POINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

struct idem;

struct points_config {
    int per_report; /* points.per_report */
    int daily_cap;  /* points.daily_cap; 0 = none */
};

/* Once at start-up, before any request. */
void points_configure(const struct points_config *c);

#define POINTS_PAGE_MAX 100
#define POINTS_NAME_MAX 64
#define POINTS_DESC_MAX 500

/* Inside the 立案 transaction (case.c): pay the reporter of a citizen's report once. */
enum err points_award_report(struct rctx *cx, int64_t reporter_id, int64_t case_id) MUST_CHECK;

struct points_summary {
    int64_t balance, earned, spent, earned_today;
    int per_report, daily_cap;
};
/* The caller's balance and today's earnings. */
enum err points_summary(struct rctx *cx, struct points_summary *out) MUST_CHECK;

struct points_entry {
    int64_t id, delta, balance_after, ref_id, created_ms;
    const char *cause, *cause_label, *ref_type, *note;
};
/* The caller's ledger, newest first, below before_id (0: newest); limit 1..POINTS_PAGE_MAX. */
enum err points_ledger(struct rctx *cx, int64_t before_id, int limit, size_t *n,
                       struct points_entry **out, int64_t *next_before) MUST_CHECK;

struct points_item {
    int64_t id, cost, stock;
    const char *name, *description;
    bool active;
    int64_t created_ms, updated_ms;
};
/* Items: active ones, or all of them when all (admins). */
enum err points_items_list(struct rctx *cx, bool all, size_t *n,
                           struct points_item **out) MUST_CHECK;

/* An item as given; a has_ flag unset leaves the field alone in points_item_patch. */
struct points_item_in {
    const char *name, *description;
    int64_t cost, stock;
    bool active;
    bool has_name, has_description, has_cost, has_stock, has_active;
};
/* Admins: create (name, cost and stock required) or change an item. ERR_INVALID, ERR_NOTFOUND.
 * Audited. */
enum err points_item_create(struct rctx *cx, const struct points_item_in *in,
                            struct points_item *out) MUST_CHECK;
enum err points_item_patch(struct rctx *cx, int64_t id, const struct points_item_in *in,
                           struct points_item *out) MUST_CHECK;

struct points_redemption {
    int64_t id, item_id, cost, balance_after, created_ms;
    const char *item_name;
    bool replay;
};
/* Spend the item's cost on one of it. ERR_NOTFOUND (no such active item), ERR_BAD_STATE (out
 * of stock, or not enough points: the message says which and how many are missing). A replay
 * of the Idempotency-Key answers the first redemption and spends nothing. */
enum err points_redeem(struct rctx *cx, int64_t item_id, struct idem *idem,
                       struct points_redemption *out) MUST_CHECK;

#endif
