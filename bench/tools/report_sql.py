#!/usr/bin/env python3
"""bench/tools/report_sql.py LIST N SEED USER_ID FAMILY CATEGORY_IDS: the SQL statements that N
reports send to MariaDB, one report after another, as POST /api/v1/cases does (captured from
the general log of a real report; values written in where cityd binds them). Printed to stdout
for the mariadb client; bench/report_ceiling.sh runs 16 clients of it to measure how many
reports a second the database alone can take: the floor of a report's cost, below which no
cityd can go.

LIST is which statement list:
  now     what a report sends (25 statements: token check, START TRANSACTION, idempotency
          claim, refdata_versions counters, case, timeline row, event, audit row, idempotency
          result, then the rollups: the rollup read, rollup_cases, the 考评 mark, and the
          counters from the least to the most shared row (250 m cell, 500 m and 1 km cells in
          one statement, 小类, grid, hour, staff, eval_day, dash_day with both its columns in
          one row, dash_tiles), COMMIT, duplicate search, the case and its timeline for the
          answer)
  before  what it sent before the rollups were reordered and folded (26: the rollups right after
          the timeline row, each dash_day column its own statement, a DELETE from dash_hot,
          the counters in table order, then event, audit row and idempotency result; no
          coarse heat-map cells, which came later)

Places and categories are drawn as bench/tools/cases_load.js draws them (a 0.2 x 0.1 degree box
around the demo city, five 小类 in turn). cityd gets the new case and timeline ids from the protocol;
here the statement after each INSERT takes LAST_INSERT_ID() into @c (the case) or @s (the
timeline row) where it needs it, so the count stays the same."""
import math
import random
import sys
import time
import uuid

lst, n, seed, uid, family, cats = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
cats = [int(c) for c in cats.split(",")]
rnd = random.Random(seed)
now_ms = int(time.time() * 1000)

MS = "CAST(UNIX_TIMESTAMP({0}) * 1000 AS SIGNED)"
CASE_COLS = (
    "c.id, c.code_set, c.kind, c.urgency, c.source, c.description, c.address, c.state, c.step,"
    " c.category_id, cat.full_code, cat.minor_name, cat.major_name, c.lat, c.lng, c.accuracy_m,"
    " c.grid_id, c.region_id, c.department_id, c.assignee_id, c.reporter_id, c.duplicate_of,"
    " c.version, c.rework_count, c.extension_hours, c.extension_pending, c.overdue, c.alert_level, "
    + ", ".join(MS.format(x) for x in ("c.step_started_at", "c.due_at", "c.created_at", "c.updated_at", "c.closed_at"))
    + ", cat.department_id, cr.case_id IS NOT NULL, cr.score, cr.text,"
    " (SELECT GROUP_CONCAT(m.public_id ORDER BY a.position SEPARATOR ',')  FROM media_attachments a"
    " JOIN media m ON m.id = a.media_id  WHERE a.owner_type = 'case' AND a.owner_id = c.id AND"
    " a.purpose = 'report'), EXISTS (SELECT 1 FROM case_urgings u WHERE u.case_id = c.id),"
    " (SELECT r.department_id FROM dispatch_rules r JOIN departments d  ON d.id = r.department_id"
    " AND d.active = 1  WHERE (r.category_id = c.category_id OR r.category_id IS NULL)  AND"
    " (r.grid_id = c.grid_id OR r.grid_id IS NULL)  ORDER BY (r.category_id IS NOT NULL) DESC,"
    " (r.grid_id IS NOT NULL) DESC, r.id  LIMIT 1)"
)


ROLLUP_READ = 'SELECT s.case_id, s.action, s.from_state, s.to_state, COALESCE(s.actor_id, 0), s.actor_role, COALESCE(s.department_id, 0), s.step, CAST(UNIX_TIMESTAMP(s.due_at) * 1000 AS SIGNED), CAST(UNIX_TIMESTAMP(s.created_at) * 1000 AS SIGNED), COALESCE(c.region_id, 0), COALESCE(c.grid_id, 0), c.category_id, COALESCE(c.reporter_id, 0), c.source, c.urgency, CAST(UNIX_TIMESTAMP(c.created_at) * 1000 AS SIGNED), c.lat, c.lng, f.case_id, f.state, f.step, CAST(UNIX_TIMESTAMP(f.due_at) * 1000 AS SIGNED), f.overdue, f.late, COALESCE(f.department_id, 0), COALESCE(f.dispatcher_id, 0), r0.id, r1.id, r2.id, r3.id, COALESCE(s.assignee_id, 0) FROM case_steps s JOIN cases c ON c.id = s.case_id LEFT JOIN rollup_cases f ON f.case_id = s.case_id LEFT JOIN regions r0 ON r0.id = c.region_id LEFT JOIN regions r1 ON r1.id = r0.parent_id LEFT JOIN regions r2 ON r2.id = r1.parent_id LEFT JOIN regions r3 ON r3.id = r2.parent_id WHERE s.id = {sid};'


def dashboard(lst, t, lat, lng, cat, uid):
    """The dashboard and 考评 rollups a report writes in its transaction (api/domain/rollup.c),
    as captured for a report outside every grid (city scope 0 only; the places drawn here are
    almost all outside the four demo grids): day, week and month spans."""
    day = (t + 8 * 3600000) // 86400000 + 719528  # TO_DAYS of the local (UTC+8) date
    local = t // 1000 + 8 * 3600
    hour = (local // 3600) % 24
    week = day - ((day - 719528 + 3) % 7)  # the Monday
    month = day - (time.gmtime(local).tm_mday - 1)
    spans = [(0, day), (1, week), (2, month)]
    cy, cx = int(lat * 445.28), int(lng * 380.6)

    def coarse(m):  # rollup_cell_of for the 500 m and 1 km cells
        y = math.floor(lat * 111320 / m)
        k = math.cos((y + 0.5) * m / 111320 * math.pi / 180)
        return y, math.floor(lng * 111320 * k / m)

    def rows(fmt):
        return ",".join(fmt.format(span=sp, d=d) for sp, d in spans)
    upd = " ON DUPLICATE KEY UPDATE n = n + VALUES(n);"
    fact = ("INSERT INTO rollup_cases (case_id, state, step, due_at, overdue, late, department_id, dispatcher_id)"
            f" VALUES (@c,'reported','register',FROM_UNIXTIME({t + 1800000}/1000),0,0,NULL,NULL) ON DUPLICATE KEY"
            " UPDATE state = VALUES(state), step = VALUES(step), due_at = VALUES(due_at), overdue = VALUES(overdue),"
            " late = VALUES(late), department_id = VALUES(department_id), dispatcher_id = VALUES(dispatcher_id);")
    mark = ("INSERT INTO eval_marks (case_id, region_id, day, subject_type, subject_id, indicator, ok, reason, step_id)"
            f" VALUES (@c,NULL,FROM_DAYS({day}),'user',{uid},'valid_report',0,'待立案',@s);")
    cat_ = ("INSERT INTO dash_category (scope_id, span, day, category_id, n) VALUES "
            + rows("(0,{span},FROM_DAYS({d})," + str(cat) + ",1)") + upd)
    grid = "INSERT INTO dash_grid (scope_id, span, day, grid_id, n) VALUES " + rows("(0,{span},FROM_DAYS({d}),0,1)") + upd
    hour_ = ("INSERT INTO dash_hour (scope_id, span, day, hour, n) VALUES "
             + rows("(0,{span},FROM_DAYS({d})," + str(hour) + ",1)") + upd)
    cell = ("INSERT INTO dash_cell (scope_id, span, day, cy, cx, n) VALUES "
            + rows("(0,{span},FROM_DAYS({d})," + f"{cy},{cx}" + ",1)") + upd)
    cells = ",".join(
        f"(0,{m},{sp},FROM_DAYS({d}),{coarse(m)[0]},{coarse(m)[1]},1)" for m in (500, 1000) for sp, d in spans)
    coarse_ = "INSERT INTO dash_cell_coarse (scope_id, cell_m, span, day, cy, cx, n) VALUES " + cells + upd
    staff = f"INSERT IGNORE INTO dash_staff (scope_id, day, user_id) VALUES (0,FROM_DAYS({day}),{uid});"
    ev = ("INSERT INTO eval_day (scope_id, span, day, subject_type, subject_id, indicator, num, den) VALUES "
          + rows("(0,{span},FROM_DAYS({d}),'user'," + str(uid) + ",'valid_report',0,1)")
          + " ON DUPLICATE KEY UPDATE num = num + VALUES(num), den = den + VALUES(den);")
    tiles = (f"INSERT INTO dash_tiles (scope_id, changed_at) VALUES (0,FROM_UNIXTIME({t}/1000)) ON DUPLICATE KEY"
             " UPDATE changed_at = GREATEST(changed_at, VALUES(changed_at));")
    if lst == "now":
        return [
            ROLLUP_READ.format(sid="@s"), fact, mark, cell, coarse_, cat_, grid, hour_, staff, ev,
            f"INSERT INTO dash_day (scope_id, day, new_inspector, open_delta) VALUES (0,FROM_DAYS({day}),1,1) ON"
            " DUPLICATE KEY UPDATE new_inspector = new_inspector + VALUES(new_inspector), open_delta = open_delta +"
            " VALUES(open_delta);",
            tiles,
        ]
    return [
        ROLLUP_READ.format(sid="(@s := LAST_INSERT_ID())"), fact, mark,
        "DELETE FROM dash_hot WHERE case_id = @c AND scope_id IN (0,0,0,0,0);",
        f"INSERT INTO dash_day (scope_id, day, new_inspector) VALUES (0,FROM_DAYS({day}),1) ON DUPLICATE KEY"
        " UPDATE new_inspector = new_inspector + VALUES(new_inspector);",
        f"INSERT INTO dash_day (scope_id, day, open_delta) VALUES (0,FROM_DAYS({day}),1) ON DUPLICATE KEY"
        " UPDATE open_delta = open_delta + VALUES(open_delta);",
        cat_, grid, hour_, cell, staff, ev, tiles,
    ]


def fu(ms):
    return f"FROM_UNIXTIME({ms} / 1000)"


for i in range(n):
    lat = round(31.25 + rnd.random() * 0.1, 6)
    lng = round(120.50 + rnd.random() * 0.2, 6)
    cat = cats[i % len(cats)]
    key = uuid.UUID(int=rnd.getrandbits(128)).hex
    t = now_ms + i
    pt = f"POINT({lng:.7f} {lat:.7f})"
    d = 50 / 110540.0
    e = 50 / 111320.0
    box = (f"POLYGON(({lng - e:.7f} {lat - d:.7f},{lng + e:.7f} {lat - d:.7f},{lng + e:.7f} {lat + d:.7f},"
           f"{lng - e:.7f} {lat + d:.7f},{lng - e:.7f} {lat - d:.7f}))")
    head = [
        "SELECT u.id, u.token_version, u.disabled, s.family, s.revoked_at IS NOT NULL FROM users u"
        f" LEFT JOIN sessions s ON s.user_id = u.id AND s.family IN ('{family}') WHERE u.id IN ({uid});",
        "START TRANSACTION;",
        "INSERT INTO idempotency_keys (principal, idem_key, route, request_hash, status, response, created_at)"
        f" VALUES ('u:{uid}','{key}','POST /api/v1/cases','{key * 2}',0,'{{}}',{fu(t)});",
        "SELECT categories, case_settings, work_calendar, grids FROM refdata_versions WHERE id = 1;",
        "INSERT INTO cases (code_set, category_id, kind, urgency, source, description, lat, lng, accuracy_m,"
        " address, pt, grid_id, region_id, reporter_id, state, step, step_started_at, due_at, remind50_at,"
        " remind80_at, escalate_at, next_alert_at, created_at, updated_at, source_ip) VALUES"
        f" ('gbt30428',{cat},'event','normal','inspector','压测上报 {seed}-{i}: 路边暴露垃圾',{lat},{lng},8,NULL,"
        f"ST_GeomFromText('{pt}'),NULL,NULL,{uid},'reported','register',{fu(t)},{fu(t + 1800000)},"
        f"{fu(t + 900000)},{fu(t + 1440000)},{fu(t + 2700000)},{fu(t + 900000)},{fu(t)},{fu(t)},NULL);",
        "INSERT INTO case_steps (case_id, action, from_state, to_state, actor_id, actor_role, text, department_id,"
        " assignee_id, step, due_at, photos, created_at) VALUES"
        f" (@c := LAST_INSERT_ID(),'report',NULL,'reported',{uid},'inspector',NULL,NULL,NULL,'register',"
        f"{fu(t + 1800000)},'[]',{fu(t)});",
    ]
    # The timeline row's id for the rollups, taken where the next statement can see it.
    subject = "@c" if lst != "now" else "IF((@s := LAST_INSERT_ID()) > 0, @c, @c)"
    outbox = [
        "INSERT INTO events (type, subject_type, subject_id, actor_id, payload, created_at) VALUES"
        f" ('case.reported','case',{subject},{uid},CONCAT('{{\"case_id\":',@c,',\"category_id\":{cat},"
        f"\"source\":\"inspector\",\"grid_id\":0,\"state\":\"reported\"}}'),{fu(t)});",
        "INSERT INTO audit_log (actor_id, actor_roles, action, object_type, object_id, result, ip, device_id,"
        f" request_id, detail, at) VALUES ({uid},2,'case.report','case',@c,'ok','127.0.0.1','bench',"
        f"'{key[:16]}','',{fu(t)});",
        "UPDATE idempotency_keys SET status = 201, response = CONCAT('{\"id\":',@c,'}') WHERE"
        f" principal = 'u:{uid}' AND idem_key = '{key}';",
    ]
    # now: the rollups after the outbox, just before COMMIT; before: right after the timeline row.
    rollups = dashboard(lst, t, lat, lng, cat, uid)
    s = head + (outbox + rollups if lst == "now" else rollups + outbox) + ["COMMIT;"]
    mine = (f"(c.reporter_id = {uid} OR c.grid_id IS NULL OR c.grid_id IN (SELECT ug.grid_id FROM user_grids ug"
            f" WHERE ug.user_id = {uid}) OR c.assignee_id = {uid})")
    s += [
        f"SELECT c.id, c.state, ST_Distance_Sphere(c.pt, ST_GeomFromText('{pt}')) AS dist,"
        f" {MS.format('c.created_at')} FROM cases c WHERE MBRContains(ST_GeomFromText('{box}'), c.pt)"
        f" AND c.category_id = {cat} AND c.id <> @c AND c.state IN ('reported','confirming','accepted',"
        f"'registered','dispatched','handled','verified','suspended') AND c.created_at >= {fu(t - 72 * 3600000)}"
        f" AND c.created_at <= {fu(t)} AND {mine} HAVING dist <= 50 ORDER BY dist, c.id LIMIT 5;",
        f"SELECT {CASE_COLS} FROM cases c JOIN categories cat ON cat.id = c.category_id LEFT JOIN"
        f" case_ratings cr ON cr.case_id = c.id WHERE c.id = @c AND {mine};",
        "SELECT case_id, id, action, from_state, to_state, actor_id, actor_role, text, department_id,"
        f" assignee_id, step, {MS.format('due_at')}, photos, {MS.format('created_at')} FROM case_steps"
        " WHERE case_id = @c AND (1 OR action NOT IN ('urge', 'overdue', 'escalate')) ORDER BY id;",
    ]
    print("\n".join(s))
