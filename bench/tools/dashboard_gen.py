#!/usr/bin/python3
"""bench/tools/dashboard_gen.py: a year of a city's cases for the dashboard benchmark.

Writes tab-separated files for LOAD DATA (regions, grids, departments, users, user_grids, cases,
case_steps, case_urgings) and load.sql that loads them, for N cases (default 1,000,000) over the
DAYS days (default 365) ending now:

- a city of 6 districts x 6 streets x 8 grids (1 km squares, 288 grids), 144 inspectors (two
  grids each), 12 departments with 8 handlers each, 6 operators / shift leads / dispatchers;
- sources inspector 55 %, citizen 20 %, hotline 14 %, video AI 9 %, leader 2 %;
- the real categories (ids passed in --categories, the gbt30428 事件 and 部件 rows) with a few
  frequent ones (暴露垃圾, 非法小广告, 占道经营 ...) and a long tail (Zipf);
- seasonality (summer +30 %, Spring Festival -40 %), weekends -25 %, hours of day peaking
  09-11 and 14-16, grids with hot spots (a few grids get 5x);
- the workflow: 2 % merged and 5 % voided at intake, 3 % voided at 立案, 5 % returned (回退)
  and re-dispatched, 8 % reworked (核查不通过), about 10-20 % of steps late (with the scanner's
  overdue row), 1.5 % urged (督办); cases of the last days stop wherever now cuts them.
Times are UTC; the local day is UTC+8. Deterministic for a given --seed."""

import argparse
import math
import os
import random
import time

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=1_000_000)
p.add_argument("--days", type=int, default=365)
p.add_argument("--out", required=True)
p.add_argument("--categories", required=True, help="file: id<TAB>kind<TAB>full_code<TAB>name")
p.add_argument("--seed", type=int, default=13)
p.add_argument("--now-ms", type=int, default=int(time.time() * 1000))
a = p.parse_args()
rnd = random.Random(a.seed)
os.makedirs(a.out, exist_ok=True)

_daycache = {}


def ts(ms):
    d, r = divmod(ms, DAY)
    s = _daycache.get(d)
    if s is None:
        s = time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
        _daycache[d] = s
    h, r = divmod(r, HOUR)
    m, r = divmod(r, MIN)
    sec, milli = divmod(r, 1000)
    return "%s %02d:%02d:%02d.%03d" % (s, h, m, sec, milli)


N = r"\N"

# ---- the organisation --------------------------------------------------------------------
CITY = 9000
regions, grids = [], []
lat0, lng0 = 30.50, 114.20
regions.append((CITY, N, "city", "888800", "基准市"))
gid = 9000
streets = []
for d in range(6):
    did = CITY + 1 + d
    regions.append((did, CITY, "district", "8888%02d" % (d + 1), "第%d区" % (d + 1)))
    for s in range(6):
        sid = 9100 + d * 6 + s
        regions.append((sid, did, "street", "8888%02d%03d" % (d + 1, s + 1), "第%d区%d街道" % (d + 1, s + 1)))
        streets.append(sid)
        for g in range(8):
            gx = (d % 3) * 24 + s * 4 + g % 4
            gy = (d // 3) * 2 + g // 4
            la, lo = lat0 + gy * 0.009, lng0 + gx * 0.0105
            code = "8888%02d%03d001%03d" % (d + 1, s + 1, g + 1)
            wkt = "POLYGON((%.6f %.6f,%.6f %.6f,%.6f %.6f,%.6f %.6f,%.6f %.6f))" % (
                lo, la, lo + 0.0105, la, lo + 0.0105, la + 0.009, lo, la + 0.009, lo, la)
            grids.append((gid, code, "网格%s" % code[-6:], sid, wkt, la, lo))
            gid += 1

depts = [(100 + i, "bench_dept_%d" % i, "基准部门%d" % i) for i in range(12)]
users = []  # id, username, display, roles, department, region
uid = 100000
inspectors = []
for i in range(len(grids) // 2):
    users.append((uid, "b_insp_%d" % i, "监督员%d" % i, 2, N, N))
    inspectors.append(uid)
    uid += 1
handlers = {}
for d in depts:
    handlers[d[0]] = []
    for i in range(8):
        users.append((uid, "b_hdl_%d_%d" % (d[0], i), "处置员%d-%d" % (d[0], i), 4, d[0], N))
        handlers[d[0]].append(uid)
        uid += 1
roles = {}
for role, bit in (("operator", 8), ("shift_lead", 16), ("dispatcher", 32)):
    roles[role] = []
    for i in range(6):
        users.append((uid, "b_%s_%d" % (role, i), "%s%d" % (role, i), bit, N, N))
        roles[role].append(uid)
        uid += 1
leaders = []
for r in regions:
    users.append((uid, "b_leader_%d" % r[0], "领导%d" % r[0], 64, N, r[0]))
    leaders.append(uid)
    uid += 1
citizens = list(range(uid, uid + 20000))
for c in citizens:
    users.append((c, "b_cit_%d" % c, "市民%d" % c, 1, N, N))

with open(os.path.join(a.out, "regions.tsv"), "w") as f:
    for r in regions:
        f.write("\t".join(map(str, r)) + "\n")
with open(os.path.join(a.out, "grids.tsv"), "w") as f:
    for g in grids:
        f.write("\t".join(map(str, g[:5])) + "\n")
with open(os.path.join(a.out, "departments.tsv"), "w") as f:
    for d in depts:
        f.write("%d\t%s\t%s\n" % d)
with open(os.path.join(a.out, "users.tsv"), "w") as f:
    for u in users:
        f.write("\t".join(map(str, u)) + "\n")
with open(os.path.join(a.out, "user_grids.tsv"), "w") as f:
    for i, g in enumerate(grids):
        f.write("%d\t%d\n" % (inspectors[i // 2], g[0]))

# ---- categories ----------------------------------------------------------------------------
cats = []
for line in open(a.categories, encoding="utf-8"):
    parts = line.rstrip("\n").split("\t")
    if len(parts) >= 4:
        cats.append((int(parts[0]), parts[1], parts[2], parts[3]))
frequent = ["暴露垃圾", "非法小广告", "占道经营", "店外经营", "道路不洁", "乱堆物料", "机动车乱停放",
            "积存垃圾渣土", "无照经营游商", "绿地脏乱"]
cats.sort(key=lambda c: (frequent.index(c[3]) if c[3] in frequent else 99, rnd.random()))
cat_w = [1.0 / (i + 1) ** 1.1 for i in range(len(cats))]
cat_cum = []
acc = 0
for w in cat_w:
    acc += w
    cat_cum.append(acc)
cat_dept = {c[0]: depts[i % len(depts)][0] for i, c in enumerate(cats)}

grid_w = [5.0 if rnd.random() < 0.05 else rnd.uniform(0.5, 1.5) for _ in grids]
grid_cum = []
acc = 0
for w in grid_w:
    acc += w
    grid_cum.append(acc)

hour_w = [0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.5, 2.5, 3.2, 3.3, 2.8, 1.6, 1.8, 2.9, 3.1, 2.9,
          2.2, 1.4, 1.0, 0.8, 0.6, 0.4, 0.3]  # local hours
hour_cum = []
acc = 0
for w in hour_w:
    acc += w
    hour_cum.append(acc)


def pick(cum):
    x = rnd.random() * cum[-1]
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


# Per-day volume: seasonality and weekends, normalised to N.
now = a.now_ms
first_day = (now + 8 * HOUR) // DAY - a.days + 1  # local day numbers
day_w = []
for i in range(a.days):
    dn = first_day + i
    doy = (dn + 0) % 365
    w = 1.0 + 0.3 * math.sin((doy - 100) / 365 * 2 * math.pi)
    if (dn + 3) % 7 in (5, 6):  # 1970-01-01 was a Thursday: (dn + 3) % 7 is Monday = 0
        w *= 0.75
    if 30 <= doy <= 44:
        w *= 0.6
    day_w.append(w)
tot = sum(day_w)
counts = [int(a.n * w / tot) for w in day_w]
counts[-1] += a.n - sum(counts)
# Today has only its hours so far: move the rest of today's share to yesterday.
local_now = now + 8 * HOUR
frac_today = (local_now % DAY) / DAY
moved = counts[-1] - int(counts[-1] * max(frac_today, 0.05))
counts[-1] -= moved
counts[-2] += moved

SOURCES = (("inspector", 55), ("citizen", 20), ("hotline", 14), ("video_ai", 9), ("leader", 2))
src_cum = []
acc = 0
for _, w in SOURCES:
    acc += w
    src_cum.append(acc)

fc = open(os.path.join(a.out, "cases.tsv"), "w")
fs = open(os.path.join(a.out, "case_steps.tsv"), "w")
fu = open(os.path.join(a.out, "case_urgings.tsv"), "w")
case_id = 0
step_id = 0
urge_id = 0
stats = {"open": 0, "closed": 0, "invalid": 0, "merged": 0, "late_steps": 0, "steps": 0}


def step(cid, action, frm, to, actor, role, dept, stepname, due, at):
    global step_id
    step_id += 1
    stats["steps"] += 1
    fs.write("%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" % (
        step_id, cid, action, frm if frm else N, to, actor if actor else N, role,
        dept if dept else N, stepname, ts(due) if due else N, ts(at)))


for di, cnt in enumerate(counts):
    day_start = (first_day + di) * DAY - 8 * HOUR  # UTC ms of local midnight
    for _ in range(cnt):
        case_id += 1
        cid = case_id
        h = pick(hour_cum)
        t0 = day_start + h * HOUR + rnd.randrange(HOUR)
        if t0 > now:
            t0 = now - rnd.randrange(HOUR)
        gi = pick(grid_cum)
        g = grids[gi]
        lat = g[5] + rnd.random() * 0.009
        lng = g[6] + rnd.random() * 0.0105
        cat = cats[pick(cat_cum)]
        src = SOURCES[pick(src_cum)][0]
        urgent = rnd.random() < 0.04
        if src == "inspector":
            reporter = inspectors[gi // 2]
        elif src == "citizen":
            reporter = citizens[rnd.randrange(len(citizens))]
        elif src == "leader":
            reporter = leaders[rnd.randrange(len(leaders))]
        else:
            reporter = None
        region = g[3]
        # The timeline, cut at now.
        state, stepname, due, dept = "reported", "register", t0 + 30 * MIN, 0
        role0 = {"hotline": "operator", "video_ai": "machine"}.get(src, src)
        steps = [("report", None, "reported", reporter, role0, 0, "register", due, t0)]
        t = t0
        rework = 0
        dup = N
        insp = inspectors[gi // 2]
        op = roles["operator"][rnd.randrange(6)]
        sl = roles["shift_lead"][rnd.randrange(6)]
        dp = roles["dispatcher"][rnd.randrange(6)]

        def late_check(t_act, due_):
            if due_ and t_act > due_:
                stats["late_steps"] += 1
                steps.append(("overdue", state, state, None, "system", 0, stepname, due_, due_))

        x = rnd.random()
        t += rnd.randrange(1, 20) * MIN
        if x < 0.02 and case_id > 100:
            steps.append(("merge", "reported", "merged", op, "operator", 0, "none", 0, t))
            state, stepname, due = "merged", "none", 0
            dup = rnd.randrange(1, case_id - 50)
        elif x < 0.07:
            steps.append(("invalidate", "reported", "invalid", op, "operator", 0, "none", 0, t))
            state, stepname, due = "invalid", "none", 0
        else:
            steps.append(("accept", "reported", "accepted", op, "operator", 0, "register", due, t))
            state = "accepted"
            t += rnd.randrange(2, 40) * MIN
            late_check(t, due)
            if rnd.random() < 0.03:
                steps.append(("invalidate", "accepted", "invalid", sl, "shift_lead", 0, "none", 0, t))
                state, stepname, due = "invalid", "none", 0
            else:
                due = t + 30 * MIN
                steps.append(("register", "accepted", "registered", sl, "shift_lead", 0, "dispatch", due, t))
                state, stepname = "registered", "dispatch"
                dept = cat_dept[cat[0]]
                while True:
                    t += rnd.randrange(1, 45) * MIN
                    late_check(t, due)
                    hdue = t + 24 * HOUR
                    steps.append(("dispatch", "registered", "dispatched", dp, "dispatcher", dept, "handle", hdue, t))
                    state, stepname, due = "dispatched", "handle", hdue
                    if rnd.random() < 0.05:
                        t += rnd.randrange(10, 120) * MIN
                        due2 = t + 30 * MIN
                        steps.append(("return", "dispatched", "registered", handlers[dept][0], "handler", 0, "dispatch", due2, t))
                        state, stepname, due = "registered", "dispatch", due2
                        dept = depts[rnd.randrange(len(depts))][0]
                        continue
                    break
                while state == "dispatched":
                    if rnd.random() < 0.04:  # the long tail: days (parts, permits, weather)
                        t += rnd.randrange(DAY, 8 * DAY)
                    else:
                        t += int(rnd.lognormvariate(math.log(4 * HOUR), 0.9))
                    late_check(t, due)
                    vdue = t + 60 * MIN
                    steps.append(("handle", "dispatched", "handled", handlers[dept][rnd.randrange(8)], "handler", dept, "verify", vdue, t))
                    state, stepname, due = "handled", "verify", vdue
                    t += rnd.randrange(10, 75) * MIN
                    late_check(t, due)
                    if rnd.random() < 0.08 and rework < 2:
                        rework += 1
                        hdue = t + 24 * HOUR
                        steps.append(("verify_fail", "handled", "dispatched", insp, "inspector", dept, "handle", hdue, t))
                        state, stepname, due = "dispatched", "handle", hdue
                        continue
                    cdue = t + 30 * MIN
                    steps.append(("verify_pass", "handled", "verified", insp, "inspector", dept, "close", cdue, t))
                    state, stepname, due = "verified", "close", cdue
                t += rnd.randrange(3, 35) * MIN
                late_check(t, due)
                steps.append(("close", "verified", "closed", sl, "shift_lead", dept, "none", 0, t))
        # Cut at now: drop what has not happened yet; the case is where the last row left it.
        kept = [s for s in steps if s[8] <= now]
        last = kept[-1]
        state = last[2]
        stepname = last[6] if last[0] != "overdue" else last[6]
        due = last[7]
        dept_now = 0
        for s in kept:
            if s[0] == "dispatch":
                dept_now = s[5]
            elif s[0] == "return":
                dept_now = 0
        overdue = 1 if (state not in ("closed", "invalid", "merged") and due and due <= now) else 0
        if overdue and last[0] != "overdue":
            kept.append(("overdue", state, state, None, "system", 0, stepname, due, due))
        kept.sort(key=lambda s: s[8])
        closed_at = kept[-1][8] if state == "closed" else 0
        reworks = sum(1 for s in kept if s[0] == "verify_fail")
        for s in kept:
            step(cid, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8])
        stats[state if state in stats else "open"] += 1
        fc.write("\t".join((
            str(cid), "gbt30428", str(cat[0]), cat[1], "urgent" if urgent else "normal", src,
            "基准案件 %d" % cid, "%.7f" % lat, "%.7f" % lng, N, N, "%.7f" % lng, "%.7f" % lat,
            str(g[0]), str(region), str(dept_now) if dept_now else N, N,
            str(reporter) if reporter else N, state, str(len(kept)), str(reworks),
            str(dup) if state == "merged" else N,
            stepname if state not in ("closed", "invalid", "merged") else "none",
            ts(kept[-1][8]) if due else N, ts(due) if due and state not in ("closed", "invalid", "merged") else N,
            "3" if overdue else "0", str(overdue), ts(t0), ts(kept[-1][8]), ts(closed_at) if closed_at else N,
        )) + "\n")
        if rnd.random() < 0.015 and len(kept) > 2:
            urge_id += 1
            sent = kept[1][8] + rnd.randrange(10, 600) * MIN
            if sent < now:
                read = sent + rnd.randrange(1, 240) * MIN
                ack = read + rnd.randrange(5, 600) * MIN
                fu.write("%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n" % (
                    urge_id, cid, leaders[rnd.randrange(len(leaders))], "请尽快处理",
                    dept_now if dept_now else N, ts(sent), ts(read) if read < now else N,
                    ts(ack) if ack < now and rnd.random() < 0.85 else N,
                    "已安排" if ack < now else N))
fc.close()
fs.close()
fu.close()

load = """SET foreign_key_checks = 0;
SET unique_checks = 0;
LOAD DATA LOCAL INFILE '{d}/regions.tsv' INTO TABLE regions CHARACTER SET utf8mb4 (id, parent_id, level, code, name);
LOAD DATA LOCAL INFILE '{d}/grids.tsv' INTO TABLE grids CHARACTER SET utf8mb4 (id, code, name, region_id, @wkt) SET boundary = ST_GeomFromText(@wkt);
LOAD DATA LOCAL INFILE '{d}/departments.tsv' INTO TABLE departments CHARACTER SET utf8mb4 (id, code, name);
LOAD DATA LOCAL INFILE '{d}/users.tsv' INTO TABLE users CHARACTER SET utf8mb4 (id, username, display_name, roles, department_id, region_id);
LOAD DATA LOCAL INFILE '{d}/user_grids.tsv' INTO TABLE user_grids (user_id, grid_id);
LOAD DATA LOCAL INFILE '{d}/cases.tsv' INTO TABLE cases CHARACTER SET utf8mb4
  (id, code_set, category_id, kind, urgency, source, description, lat, lng, accuracy_m, address,
   @x, @y, grid_id, region_id, department_id, assignee_id, reporter_id, state, version,
   rework_count, duplicate_of, step, step_started_at, due_at, alert_level, overdue, created_at,
   updated_at, closed_at)
  SET pt = POINT(@x, @y);
LOAD DATA LOCAL INFILE '{d}/case_steps.tsv' INTO TABLE case_steps CHARACTER SET utf8mb4
  (id, case_id, action, from_state, to_state, actor_id, actor_role, department_id, step, due_at,
   created_at);
LOAD DATA LOCAL INFILE '{d}/case_urgings.tsv' INTO TABLE case_urgings CHARACTER SET utf8mb4
  (id, case_id, leader_id, note, department_id, sent_at, read_at, acked_at, ack_text);
""".format(d=os.path.abspath(a.out))
with open(os.path.join(a.out, "load.sql"), "w") as f:
    f.write(load)
print("generated: %d cases, %d steps, %d urgings; %s" % (case_id, step_id, urge_id, stats))
print("city=%d district=%d street=%d" % (CITY, CITY + 1, streets[0]))
