/* tests/lib/ledger.h: the fault suite's proof that nothing acknowledged is lost.
 *
 * A test client records every acknowledgement it receives from cityd in a ledger — a case
 * report (Idempotency-Key, case id), a media upload (key, public id, SHA-256 of the bytes it
 * sent), a workflow action (key, case, action, the version the answer carried), a GPS point
 * (owner, device, seq) and an inbox item it was delivered (user, seq, event) — and after a
 * fault ledger_check() proves from the database and the API:
 *   - lost = 0: every acknowledged item is there (and its Idempotency-Key still answers with
 *     it, so a retry cannot create it again);
 *   - twice = 0: none is stored more than once (a report's key is in its description, so a
 *     duplicate case is countable; a media upload by its owner and sha; an action by the steps
 *     of its case; a GPS point by (device, seq); an inbox item by (user, event));
 *   - every media row's files exist and every file under the store has a row (the second only
 *     holds after the store's sweep: call ledger_sweep first), and no temp file is left in
 *     the store's tmp/ or a tus part without its upload row;
 *   - each acknowledged media id is served by GET /api/v1/media/{id}, and the served bytes
 *     hash to the row's sha_original.
 * The same ledger is used by the kill -9 tests (tests/fault/), gps_test and any test that
 * wants the property; docs/reliability.md lists who uses it. */
#ifndef CITYD_TEST_LEDGER_H
#define CITYD_TEST_LEDGER_H

#include <stddef.h>
#include "harness.h"

struct ledger;

struct ledger_stats {
    int acked;             /* acknowledgements recorded */
    int lost;              /* acknowledged but absent (or its key no longer answers with it) */
    int twice;             /* stored more than once */
    int rows_without_file; /* media rows whose file is missing */
    int files_without_row; /* store files no row refers to */
    int temp_files;        /* store tmp/ files and tus parts without their upload */
    int api_failures;      /* acknowledged media the API does not serve intact */
    char problems[2048];   /* the first problems, one per line */
};

struct ledger *ledger_new(void);
void ledger_free(struct ledger *l);

/* POST /api/v1/cases answered 201 (or a replay 200) with case id for key. The report's
 * description must contain key as a word (so a second case for the same key can be counted);
 * keys are 1 to 64 of A-Z a-z 0-9 - _ :. */
void ledger_report(struct ledger *l, const char *key, long long case_id);
/* POST /api/v1/media as role answered with public_id for the len bytes sent (the file, not its
 * multipart wrapping). */
void ledger_media(struct ledger *l, const char *role, const char *key, const char *public_id,
                  const void *sent, size_t len);
/* POST /api/v1/cases/{id}/actions {action} with key answered 200 and version. Every acked
 * action of this name on this case must be recorded (the steps are counted against them). */
void ledger_action(struct ledger *l, const char *key, long long case_id, const char *action,
                   long long version);
/* POST /api/v1/tracks acknowledged point seq of the device of owner ("user"/"vehicle", id). */
void ledger_gps(struct ledger *l, const char *owner_type, long long owner_id, const char *device,
                long long seq);
/* The gateway delivered inbox item seq (from event_id, 0 if none) to user. */
void ledger_inbox(struct ledger *l, long long user_id, long long seq, long long event_id);

/* Everything recorded so far. */
int ledger_count(const struct ledger *l);

/* Check the ledger against s (its database and its media store under s->dir/media). */
void ledger_check(struct ledger *l, struct th_server *s, struct ledger_stats *out);
/* ledger_check, then fail the current cmocka test with the problems unless everything is 0;
 * prints one summary line ("ledger: N acknowledged, 0 lost, 0 twice, ..."). */
void ledger_assert_clean(struct ledger *l, struct th_server *s);

/* Let the media store's sweep run as it would an hour later: age every file under the store by
 * two hours (the sweep spares files younger than MEDIA_STORE_GRACE_S, which could belong to a
 * put whose row is about to be inserted; after a restart no put is in flight), restart cityd
 * (kill -9 of a running s, then th_server_restart) and wait for the start-up sweep's log
 * line. After this, a file without a row is a leak. */
void ledger_sweep(struct th_server *s);

/* Lowercase hex SHA-256 of buf into out[65]. */
void ledger_sha256_hex(const void *buf, size_t len, char out[65]);

#endif
