/* api/domain/track.h: GPS tracks of people and vehicles — ingest with filters, the latest
 * positions for the live map, replay with statistics, the photo evidence check, and retention.
 *
 * Owns track_devices, track_points, positions_latest and vehicles (migrations/0011_gps.sql).
 * Points are stored once per (device, sequence number): phones resend and reorder, so a batch
 * answers how many points were new, duplicates, set aside by a filter (kept with the reason)
 * or refused because their owner was off duty at that time (PIPL: people are tracked only
 * between check-in and check-out, attendance.h; those points are never stored). Coordinates
 * are stored in WGS-84; GCJ-02 input is converted on the way in. Every read of a person's
 * track is audited ("track.read"); leaders and shift leads read only people of their
 * jurisdiction (their region and below; anyone else is ERR_NOTFOUND, as if absent), citizens
 * none. Old points go by dropping whole day partitions (track_retention_job). This module
 * never speaks HTTP or JSON. */
#ifndef CITYD_DOMAIN_TRACK_H
#define CITYD_DOMAIN_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "server/core/err.h"
#include "server/core/rctx.h"

#define TRACK_BATCH_MAX 500
#define TRACK_READ_MAX 20000     /* raw points of one track read */
#define TRACK_LATEST_MAX 20000   /* rows of one latest-positions answer */
#define TRACK_PERIOD_MAX_DAYS 31 /* longest span of one track read */

/* Tunables, from the gps.* configuration keys (docs/config.md); set once at start-up. */
struct gps_cfg {
    int retention_days;         /* track points older than this are dropped */
    int max_accuracy_m;         /* filter: a fix less accurate than this */
    int max_speed_kmh;          /* filter: implied speed from the previous usable fix */
    int max_age_s;              /* filter: fix time older than this when received */
    int max_future_s;           /* filter: fix time ahead of the server's clock by more */
    int checkin_tolerance_m;    /* a check-in this close to a grid's edge counts as inside */
    int checkin_max_accuracy_m; /* a check-in less accurate than this is low_accuracy */
    int stop_min;               /* a dwell longer than this is a stop in replays */
    int vehicle_active_s;       /* a vehicle counts as on duty this long after its last fix */
    int latest_cache_ms;        /* a caller's same live-map read is answered from memory this
                                   long (0: never) */
    int auto_out_after_min;     /* a forgotten check-out of a shift instance is made this long
                                   after the instance's end (0: never; attendance.h) */
    int max_duty_hours;         /* any other duty is closed after this many hours (0: never) */
};
extern struct gps_cfg gps_cfg;

/* ---- ingest --------------------------------------------------------------------------------- */

enum track_has {
    TRACK_HAS_ACCURACY = 1u << 0,
    TRACK_HAS_SPEED = 1u << 1,
    TRACK_HAS_HEADING = 1u << 2,
    TRACK_HAS_ALTITUDE = 1u << 3,
    TRACK_HAS_BATTERY = 1u << 4,
};

struct track_point_in {
    int64_t seq; /* per device, >= 0 */
    int64_t t;   /* fix time, ms since the epoch (device clock) */
    double lat, lng, accuracy, speed, heading, altitude;
    int battery;
    unsigned has; /* enum track_has */
};

struct track_batch {
    int64_t vehicle_id; /* machine callers: the vehicle; 0 for people (the caller) */
    const char *device; /* the device's name; NULL: the caller's token device */
    bool gcj02;         /* lat/lng are GCJ-02 */
    size_t n;
    struct track_point_in *pts; /* modified: converted to WGS-84 */
};

enum track_filter {
    TRACK_OK,
    TRACK_INVALID,
    TRACK_ACCURACY,
    TRACK_SPEED,
    TRACK_DUP_TIME,
    TRACK_FUTURE,
    TRACK_TOO_OLD,
    TRACK_NFILTERS
};
/* Wire name of a filter ("ok", "invalid_coordinates", …). */
const char *track_filter_name(enum track_filter f);

struct track_ingest_out {
    size_t received, fresh, duplicate, filtered, off_duty;
    size_t by_filter[TRACK_NFILTERS]; /* of the fresh points, per filter */
};

/* Store a batch in one transaction. People: only points timed inside their duty intervals;
 * if none is, ERR_OFF_DUTY. Machines: the vehicle must be active and bound to the caller's
 * account (else ERR_NOTFOUND). ERR_INVALID for more than TRACK_BATCH_MAX points. */
enum err track_ingest(struct rctx *cx, struct track_batch *b,
                      struct track_ingest_out *out) MUST_CHECK;

/* The same for n batches of different requests at once (a route's batch handler): res[i] and
 * outs[i] are what track_ingest would give bs[i] alone. Batches are stored in groups (group
 * commit): a call's batches and those other workers queued meanwhile are taken together by one
 * of at most two storing workers, the other callers wait; batches of different owners share one
 * transaction — their devices locked, context read, points inserted and live-map rows written
 * in one statement each, one commit — so the database's work per batch falls with the load;
 * batches of one owner go in different groups, one after the other. When one batch is refused
 * (off duty, no such vehicle) or the database fails a group (a deadlock), nothing of that group
 * is kept and each of its batches is stored alone. cxs[i] must all share cxs[0]'s connection;
 * another worker may lend it its own while storing (docs/attendance.md). */
void track_ingest_many(struct rctx *const *cxs, struct track_batch *const *bs,
                       struct track_ingest_out *outs, enum err *res, size_t n);

/* ---- live map ------------------------------------------------------------------------------- */

/* The latest usable position of every on-duty person (checked in) and active vehicle inside
 * the box (WGS-84 degrees) within the caller's jurisdiction (admins: everything), as the
 * JSON text of the answer's "items" array (pool memory): each entry was rendered at ingest
 * (owner_type, owner_id, name, t, lat, lng and, when known, accuracy, speed, heading), in
 * GCJ-02 when gcj. *n counts the entries; *more tells that TRACK_LATEST_MAX were cut. The same
 * caller asking for the same box within gps.latest_cache_ms gets the answer of the first read
 * (per process, at most 16 answers kept; fixes arrive every few seconds anyway). The one
 * place this module hands out JSON: reading the live map must not decode and re-encode
 * thousands of rows per request. */
enum err track_latest_items(struct rctx *cx, double min_lat, double min_lng, double max_lat,
                            double max_lng, bool gcj, const char **json, size_t *len, size_t *n,
                            bool *more) MUST_CHECK;

/* Free the answers kept by track_latest_items (at shutdown). */
void track_cache_free(void);

/* Mark a person's live-map entry on or off duty (check-in/out, attendance.c). */
enum err track_latest_duty(struct rctx *cx, int64_t user_id, bool on_duty) MUST_CHECK;

/* ---- replay --------------------------------------------------------------------------------- */

struct track_pt {
    int64_t t;
    double lat, lng, accuracy, speed;
};

struct track_stop {
    int64_t from, to;
    double lat, lng;
};

struct track_day {
    char date[11];      /* local date */
    double distance_m;  /* along the usable fixes */
    int64_t on_duty_ms; /* checked in, within the period */
    int64_t inside_ms;  /* of that, spent inside the person's own grids */
    int64_t stops;      /* stops that started that day */
};

struct track_action {
    int64_t case_id, step_id, at;
    const char *action;
    bool placed; /* a track position was found near that time */
    double lat, lng;
};

struct track_view {
    int64_t user_id;
    size_t nraw;          /* usable fixes in the period */
    bool truncated;       /* more than TRACK_READ_MAX */
    struct track_pt *pts; /* simplified */
    size_t npts;
    struct track_stop *stops;
    size_t nstops;
    struct track_day *days;
    size_t ndays;
    struct track_action *actions;
    size_t nactions;
};

/* The usable fixes of user_id from from to to (ms; at most TRACK_PERIOD_MAX_DAYS apart),
 * simplified with tolerance simplify_m (0: none), with stops, per-day distance and 在岗率 and
 * the user's case actions of the period placed on the track. ERR_NOTFOUND for a user outside
 * the caller's reach (see the header). Audited "track.read" with the period. */
enum err track_read(struct rctx *cx, int64_t user_id, int64_t from, int64_t to, double simplify_m,
                    struct track_view *out) MUST_CHECK;

/* ---- evidence ------------------------------------------------------------------------------- */

struct track_evidence {
    const char *status; /* "consistent", "inconsistent" or "unknown" (static) */
    const char *reason; /* why unknown: "no_photo_metadata", "no_track" (static), or NULL */
    int64_t taken_at;   /* capture time (ms) of the photo checked, 0 when none */
    double distance_m, allowed_m;
};

/* Whether the reporter's track at the capture time of the case's report photo agrees with the
 * photo's GPS, within the fix's accuracy. Capture times (EXIF, camera local) are read as
 * local time at case_settings.utc_offset_min. ERR_NOTFOUND: no such case. Staff only (the
 * caller checks the role). */
enum err track_evidence_check(struct rctx *cx, int64_t case_id,
                              struct track_evidence *out) MUST_CHECK;

/* ---- vehicles ------------------------------------------------------------------------------- */

struct vehicle_new {
    const char *plate, *name;
    int64_t region_id, department_id, user_id; /* 0 = none; user_id a machine account */
};

struct vehicle_rec {
    int64_t id, region_id, department_id, user_id;
    const char *plate, *name, *created_at;
    bool active;
};

/* ERR_INVALID: plate 1..16, name 1..64, a region/department that does not exist, user_id not a
 * machine account. ERR_CONFLICT: plate taken. Audited "vehicle.create". */
enum err vehicle_create(struct rctx *cx, const struct vehicle_new *in, int64_t *id) MUST_CHECK;
enum err vehicle_list(struct rctx *cx, struct vehicle_rec **rows, size_t *n) MUST_CHECK;

/* ---- jurisdiction and retention ---------------------------------------------------------------
 */

/* ERR_OK when the caller may see user_id's location data: themselves, admins, leaders and
 * shift leads whose region contains the user's region or one of the user's grids. Otherwise
 * ERR_NOTFOUND (as if absent). */
enum err track_may_see_user(struct rctx *cx, int64_t user_id) MUST_CHECK;

/* The periodic job (api_jobs): add the day partitions of the coming days and drop those older
 * than gps_cfg.retention_days, by the server's clock. */
enum err track_retention_job(struct rctx *cx) MUST_CHECK;

#endif
