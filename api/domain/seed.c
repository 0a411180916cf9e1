/* api/domain/seed.c: the demo city. Coordinates are WGS-84 around a fictional 示范市 centre
 * (31.30 N, 120.60 E); four 1 km grids in two streets of two districts. */
#include "seed.h"

#include <stdio.h>
#include <string.h>
#include "audit.h"
#include "server/auth/password.h"
#include "server/core/ids.h"
#include "server/core/roles.h"
#include "server/db/db.h"

static enum err upsert_region(struct rctx *cx, int64_t parent, const char *level, const char *code,
                              const char *name, int64_t *id)
{
    struct db_res r;
    enum err res =
        db_exec(cx,
                "INSERT INTO regions (parent_id, level, code, name) VALUES (?,?,?,?)"
                " ON DUPLICATE KEY UPDATE name = VALUES(name), id = LAST_INSERT_ID(id)",
                DB_ARGS(parent ? DBI(parent) : DBNULL, DBS(level), DBS(code), DBS(name)), &r);
    if (!res)
        *id = (int64_t)r.insert_id;
    return res;
}

static enum err upsert_dept(struct rctx *cx, const char *code, const char *name, int64_t *id)
{
    struct db_res r;
    enum err res = db_exec(cx,
                           "INSERT INTO departments (code, name) VALUES (?,?) ON DUPLICATE KEY"
                           " UPDATE name = VALUES(name), id = LAST_INSERT_ID(id)",
                           DB_ARGS(DBS(code), DBS(name)), &r);
    if (!res)
        *id = (int64_t)r.insert_id;
    return res;
}

static enum err upsert_grid(struct rctx *cx, const char *code, const char *name, int64_t region,
                            double lng0, double lat0, int64_t *id)
{
    char wkt[256];
    struct db_res r;
    double d = 0.01; /* about 1 km */
    enum err res;

    snprintf(wkt, sizeof wkt, "POLYGON((%.6f %.6f,%.6f %.6f,%.6f %.6f,%.6f %.6f,%.6f %.6f))", lng0,
             lat0, lng0 + d, lat0, lng0 + d, lat0 + d, lng0, lat0 + d, lng0, lat0);
    res = db_exec(cx,
                  "INSERT INTO grids (code, name, region_id, boundary) VALUES"
                  " (?,?,?,ST_GeomFromText(?)) ON DUPLICATE KEY UPDATE name = VALUES(name),"
                  " boundary = VALUES(boundary), id = LAST_INSERT_ID(id)",
                  DB_ARGS(DBS(code), DBS(name), DBI(region), DBS(wkt)), &r);
    if (!res)
        *id = (int64_t)r.insert_id;
    return res;
}

/* A random password that passes the policy: letters of both cases, digits and a symbol. */
static void demo_password(char *out, size_t cap)
{
    char t[13];
    ids_token(t, 12);
    snprintf(out, cap, "Cd-%s7a", t);
}

/* A demo user is created once: an existing one (matched by username) is left exactly as an
 * admin left it — password, roles, department, disabled — and *created is false. */
static enum err upsert_user(struct rctx *cx, const char *username, const char *display,
                            uint32_t roles, int64_t dept, int64_t region, const char *password,
                            int64_t *id, bool *created)
{
    char hash[AUTH_PW_HASH_MAX];
    struct db_res r;
    enum err res;

    *created = false;
    res = db_exec(cx, "SELECT id FROM users WHERE username = ?", DB_ARGS(DBS(username)), &r);
    if (res)
        return res;
    if (r.nrows) {
        *id = db_cell_i64(&r, 0, 0);
        return ERR_OK;
    }
    if (auth_password_hash(password, hash))
        return rctx_fail(cx, ERR_INTERNAL, "password hashing failed");
    res =
        db_exec(cx,
                "INSERT INTO users (username, display_name, password_hash, roles, department_id,"
                " region_id, password_changed_at) VALUES (?,?,?,?,?,?,FROM_UNIXTIME(? / 1000))",
                DB_ARGS(DBS(username), DBS(display), DBS(hash), DBI(roles),
                        dept ? DBI(dept) : DBNULL, region ? DBI(region) : DBNULL, DBI(cx->now_ms)),
                &r);
    if (!res) {
        *id = (int64_t)r.insert_id;
        *created = true;
    }
    return res;
}

enum err seed_demo_city(struct rctx *cx, struct seed_login out[SEED_LOGINS], size_t *n)
{
    int64_t city = 0, d1 = 0, d2 = 0, s1 = 0, s2 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0;
    int64_t sanit = 0, munic = 0, parks = 0, enforce = 0, uid = 0;
    static const struct {
        const char *role, *username, *display;
        uint32_t roles;
    } demo[SEED_LOGINS] = {
        {"inspector", "inspector", "示范监督员", ROLE_INSPECTOR},
        {"handler", "handler", "环卫处置员", ROLE_HANDLER},
        {"operator", "operator", "受理员", ROLE_OPERATOR},
        {"shift_lead", "shiftlead", "值班长", ROLE_SHIFT_LEAD},
        {"dispatcher", "dispatcher", "派遣员", ROLE_DISPATCHER},
        {"leader", "leader", "区领导", ROLE_LEADER},
        {"admin", "admin", "系统管理员", ROLE_ADMIN},
        {"citizen", "citizen", "热心市民", ROLE_CITIZEN},
    };
    enum err res = db_tx_begin(cx);

    if (res)
        return res;
    res = upsert_region(cx, 0, "city", "999900", "示范市", &city);
    if (!res)
        res = upsert_region(cx, city, "district", "999901", "东城区", &d1);
    if (!res)
        res = upsert_region(cx, city, "district", "999902", "西城区", &d2);
    if (!res)
        res = upsert_region(cx, d1, "street", "999901001", "东华街道", &s1);
    if (!res)
        res = upsert_region(cx, d2, "street", "999902001", "西湖街道", &s2);
    if (!res)
        res = upsert_grid(cx, "999901001001001", "东华一网格", s1, 120.60, 31.30, &g1);
    if (!res)
        res = upsert_grid(cx, "999901001001002", "东华二网格", s1, 120.61, 31.30, &g2);
    if (!res)
        res = upsert_grid(cx, "999902001001001", "西湖一网格", s2, 120.58, 31.30, &g3);
    if (!res)
        res = upsert_grid(cx, "999902001001002", "西湖二网格", s2, 120.59, 31.30, &g4);
    if (!res)
        res = upsert_dept(cx, "sanitation", "环卫", &sanit);
    if (!res)
        res = upsert_dept(cx, "municipal", "市政", &munic);
    if (!res)
        res = upsert_dept(cx, "parks", "园林", &parks);
    if (!res)
        res = upsert_dept(cx, "enforcement", "城管执法", &enforce);
    for (size_t i = 0; !res && i < SEED_LOGINS; i++) {
        int64_t dept = demo[i].roles == ROLE_HANDLER ? sanit : 0;
        int64_t region = demo[i].roles == ROLE_LEADER ? d1 : 0;
        out[i].role = demo[i].role;
        out[i].username = demo[i].username;
        bool created = false;

        demo_password(out[i].password, sizeof out[i].password);
        res = upsert_user(cx, demo[i].username, demo[i].display, demo[i].roles, dept, region,
                          out[i].password, &uid, &created);
        if (!created)
            explicit_bzero(out[i].password, sizeof out[i].password); /* kept: none to tell */
        if (!res && created && demo[i].roles == ROLE_INSPECTOR)
            res =
                db_exec(cx, "INSERT IGNORE INTO user_grids (user_id, grid_id) VALUES (?,?), (?,?)",
                        DB_ARGS(DBI(uid), DBI(g1), DBI(uid), DBI(g2)), NULL);
    }
    (void)munic;
    (void)parks;
    (void)enforce;
    (void)g3;
    (void)g4;
    if (!res)
        res = audit_write(cx, "seed.demo_city", NULL, 0, AUDIT_OK, NULL);
    res = db_tx_end(cx, res);
    if (!res)
        *n = SEED_LOGINS;
    return res;
}
