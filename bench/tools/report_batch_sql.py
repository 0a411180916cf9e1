#!/usr/bin/env python3
"""bench/tools/report_batch_sql.py K N SEED CATEGORY_ID REPORTER_ID: SQL for N transactions that
each create K reports the way POST /api/v1/cases does, but with every step batched across the K
reports into one statement (multi-row INSERTs, one UNION ALL for the grid lookups and one for
the duplicate searches, the answer read with two statements). bench/report_ceiling.sh runs 16
clients of it against MariaDB directly: how many reports a second the database alone could take
if cityd grouped reports perfectly, with no HTTP, JSON or load generator on the same cores.
Printed to stdout; one transaction per block of lines."""
import random
import sys
import uuid

k, n, seed, cat, reporter = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rnd = random.Random(seed)


def box(lat, lng, d=0.0005):
    return (f"POLYGON(({lng - d:.7f} {lat - d:.7f},{lng + d:.7f} {lat - d:.7f},{lng + d:.7f} {lat + d:.7f},"
            f"{lng - d:.7f} {lat + d:.7f},{lng - d:.7f} {lat - d:.7f}))")


for t in range(n):
    pts = [(31.25 + rnd.random() * 0.1, 120.55 + rnd.random() * 0.1) for _ in range(k)]
    keys = [uuid.UUID(int=rnd.getrandbits(128)).hex for _ in range(k)]
    stmts = [
        "START TRANSACTION;",
        # idempotency claims
        "INSERT INTO idempotency_keys (principal, idem_key, route, request_hash, status, response) VALUES "
        + ",".join(f"('u:{reporter}','{key}','POST /api/v1/cases','{'0' * 64}',0,'')" for key in keys) + ";",
        # category, grids, case settings, work calendar
        f"SELECT id, code_set, kind, limit_register_min FROM categories WHERE id = {cat};",
        " UNION ALL ".join(
            f"(SELECT {i}, id, region_id FROM grids WHERE ST_Contains(boundary,"
            f" ST_GeomFromText('POINT({lng:.7f} {lat:.7f})')) ORDER BY id LIMIT 1)"
            for i, (lat, lng) in enumerate(pts)) + ";",
        "SELECT escalate_pct, dup_radius_m, dup_window_h, work_periods FROM case_settings WHERE id = 1;",
        "SELECT YEAR(day), MONTH(day), DAY(day), working FROM work_calendar_days WHERE day BETWEEN"
        " CURDATE() - INTERVAL 60 DAY AND CURDATE() + INTERVAL 400 DAY ORDER BY day LIMIT 1000;",
        # the cases, their first timeline rows, events, audit rows, idempotency results
        "INSERT INTO cases (code_set, category_id, kind, urgency, source, description, lat, lng,"
        " accuracy_m, pt, reporter_id, state, step, step_started_at, due_at, remind50_at, remind80_at,"
        " escalate_at, next_alert_at, created_at, updated_at) VALUES "
        + ",".join(
            f"('gbt30428',{cat},'event','normal','inspector','路边暴露垃圾 {t}-{i}',{lat:.7f},{lng:.7f},10,"
            f"ST_GeomFromText('POINT({lng:.7f} {lat:.7f})'),{reporter},'reported','register',NOW(3),"
            "NOW(3)+INTERVAL 1 DAY,NOW(3)+INTERVAL 12 HOUR,NOW(3)+INTERVAL 18 HOUR,NOW(3)+INTERVAL 2 DAY,"
            "NOW(3)+INTERVAL 12 HOUR,NOW(3),NOW(3))"
            for i, (lat, lng) in enumerate(pts)) + ";",
        "SET @f = LAST_INSERT_ID();",
        "INSERT INTO case_steps (case_id, action, to_state, actor_id, actor_role, step, due_at, photos,"
        " created_at) VALUES "
        + ",".join(f"(@f+{i},'report','reported',{reporter},'inspector','register',NOW(3)+INTERVAL 1 DAY,"
                   "'[]',NOW(3))" for i in range(k)) + ";",
        "INSERT INTO events (type, subject_type, subject_id, actor_id, payload) VALUES "
        + ",".join(f"('case.reported','case',@f+{i},{reporter},'{{\"case_id\":0}}')" for i in range(k)) + ";",
        "INSERT INTO audit_log (actor_id, actor_roles, action, object_type, object_id, result) VALUES "
        + ",".join(f"({reporter},2,'case.report','case',@f+{i},'ok')" for i in range(k)) + ";",
        f"UPDATE idempotency_keys SET status = 201, response = '{{}}' WHERE principal = 'u:{reporter}'"
        " AND idem_key IN (" + ",".join(f"'{key}'" for key in keys) + ");",
        "COMMIT;",
        # duplicate search and the answer
        " UNION ALL ".join(
            f"(SELECT {i}, o.id FROM cases o WHERE MBRContains(ST_GeomFromText('{box(lat, lng)}'), o.pt)"
            f" AND o.category_id = {cat} AND o.state IN ('reported','accepted','registered','dispatched')"
            " LIMIT 5)" for i, (lat, lng) in enumerate(pts)) + ";",
        f"SELECT c.id, c.state, c.version, c.description, cat.full_code FROM cases c JOIN categories cat"
        f" ON cat.id = c.category_id WHERE c.id BETWEEN @f AND @f + {k - 1};",
        f"SELECT case_id, id, action FROM case_steps WHERE case_id BETWEEN @f AND @f + {k - 1}"
        " ORDER BY case_id, id;",
    ]
    print("\n".join(stmts))
