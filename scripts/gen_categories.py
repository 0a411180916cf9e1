#!/usr/bin/env python3
"""Generate migrations/0003_categories.sql from the 部件/事件 classification CSV.

The CSV (542 rows: GB/T 30428.2-era and GB/T 47678.5-2026 codes, with a name-implied
typical_department) and its companion categories.md live in the shared data folder. This script
turns them into one migration: the `categories` table and one multi-row INSERT per
(code_set, kind), with default time limits (时限) per category chosen by the rules below.

Usage, from the repository root:

    python3 scripts/gen_categories.py /work/shared/data/categories.csv
        writes migrations/0003_categories.sql
    python3 scripts/gen_categories.py CSV -o -          writes to stdout
    python3 scripts/gen_categories.py CSV --check       exits 1 if the file differs

The output was generated once and committed. Migrations are never edited once merged, so a later
change to the data or the rules belongs in a new migration (UPDATE statements), not in a rerun.

The migration runner prepares statement by statement, so the SQL uses plain CREATE TABLE and
INSERT statements, each ending with a semicolon at the end of a line, and no semicolon anywhere
else at a line end (not even in comments). Python 3 standard library only.
"""

import argparse
import csv
import hashlib
import os
import sys

EXPECTED_HEADER = [
    "code_set", "kind", "major_code", "major_name", "minor_code", "minor_name", "full_code",
    "typical_department",
]
CODE_SETS = {"gbt30428": (2, 2), "gbt47678": (2, 3)}  # digits of major and minor code
KINDS = ("component", "event")
UNITS = ("work_min", "work_hour", "work_day", "natural_hour")

# Step limits in working minutes, the same for every category unless urgent (brief defaults).
LIMIT_REGISTER_MIN = 30   # 立案
LIMIT_DISPATCH_MIN = 30   # 派遣
LIMIT_VERIFY_MIN = 60     # 核查: 太原 asks 1 h in town (domain.md 4.4)
LIMIT_CLOSE_MIN = 30      # 结案
# 紧急 items: 太原 wants 立案+派遣 within 10 min for urgent items against 30 otherwise. We keep
# the per-step shape of the defaults and give each of the two steps 10 minutes. Urgent cases are
# meant to run in natural time (a missing manhole cover at night cannot wait for 08:30), as the
# column comment below says, and counting them so is the domain's job.
URGENT_REGISTER_MIN = 10
URGENT_DISPATCH_MIN = 10

# 处置时限 when no rule below names the category: a day for events, three for components
# (repairing a facility needs parts and a crew, clearing an event usually does not).
DEFAULT_HANDLE = {"event": (1, "work_day"), "component": (3, "work_day")}

# 处置时限 by category, from the city rules in categories.md section 6 (and domain.md 4.4 for
# 露天烧烤). Keyed by (code_set, kind, full_code); the name is checked so that a renumbered CSV
# fails loudly instead of giving a limit to the wrong item. Where sources disagree the value
# kept is the one the brief asked for, and the others are noted.
HANDLE_BY_CODE = {
    # 私搭乱建: S7b 拆除 20 工作日 (济源 S7a says 15; 停工 4 工作时 and 处罚 7 工作日 are
    # intermediate steps, not the deadline of the case).
    ("gbt30428", "event", "0101"): ("私搭乱建", 20, "work_day"),
    ("gbt47678", "event", "06001"): ("私搭乱建", 20, "work_day"),
    # 暴露垃圾: 4 工作时 (S7b), the stricter of S7a's 1 工作日 and S7b.
    ("gbt30428", "event", "0102"): ("暴露垃圾", 4, "work_hour"),
    ("gbt47678", "event", "06010"): ("暴露垃圾", 4, "work_hour"),
    # 积存垃圾渣土: 4 工作日 (济源 S7a). S7b splits it (建筑垃圾 4 工作时, 渣土堆 2 工作日),
    # which one category cannot express.
    ("gbt30428", "event", "0103"): ("积存垃圾渣土", 4, "work_day"),
    ("gbt47678", "event", "06011"): ("积存垃圾渣土", 4, "work_day"),
    # 道路不洁: 5 工作时 (济源 S7a). S7b's 道路保洁 2 工作时 is a cleaning round, not a report.
    ("gbt30428", "event", "0104"): ("道路不洁", 5, "work_hour"),
    ("gbt47678", "event", "06012"): ("道路不洁", 5, "work_hour"),
    # 水域不洁: 15 工作日 (济源 S7a).
    ("gbt30428", "event", "0105"): ("水域不洁", 15, "work_day"),
    ("gbt47678", "event", "06025"): ("水域不洁", 15, "work_day"),
    # 绿地脏乱 (绿地保洁): 4 工作时 (S7b).
    ("gbt30428", "event", "0106"): ("绿地脏乱", 4, "work_hour"),
    ("gbt47678", "event", "06017"): ("绿地脏乱", 4, "work_hour"),
    # 绿地 as a facility (植被缺失、绿地塌陷 = 绿地养护): 5 工作日 (S7b).
    ("gbt30428", "component", "0405"): ("绿地", 5, "work_day"),
    ("gbt47678", "component", "04013"): ("绿地", 5, "work_day"),
    ("gbt47678", "event", "04013"): ("绿地异常", 5, "work_day"),
    # 道路积水 (路面积水): 4 工作时 (S7b).
    ("gbt30428", "event", "0406"): ("道路积水", 4, "work_hour"),
    # 下水道堵塞或破损: one Shenzhen system stores TIME_LIMIT 72 without a unit (S8). Read as
    # 72 natural hours, three days round the clock, not as an urgent item.
    ("gbt30428", "event", "0404"): ("下水道堵塞或破损", 72, "natural_hour"),
    # 露天烧烤: 太原 asks to arrive within 1 h and finish within 2 h (domain.md 4.4). It happens
    # in the evening, so natural hours, and urgent.
    ("gbt30428", "event", "0510"): ("露天烧烤", 2, "natural_hour"),
    ("gbt47678", "event", "06029"): ("露天烧烤", 2, "natural_hour"),
}
URGENT_CODES = {
    ("gbt30428", "event", "0510"),
    ("gbt47678", "event", "06029"),
}

# Manhole covers (井盖, and the 47678 matters "…井盖异常"): replace or repair within 6 h of the
# report (广州 S7c, 天津 S7d), day and night: urgent. 36 h applies only when work conditions
# prevent it, which a case records as an extension. 雨水箅子 and 水井 are not covers.
COVER_MARK = "井盖"
COVER_HANDLE = (6, "natural_hour")

# 立案条件 / 结案条件 where a source gives them (domain.md 4.4), otherwise NULL for admins to fill.
CONDITIONS = {
    ("gbt30428", "event", "0102"): ("成堆、成片", "彻底清理"),
    ("gbt47678", "event", "06010"): ("成堆、成片", "彻底清理"),
}

# Column widths of the table below, checked against the data.
WIDTHS = {"major_code": 4, "major_name": 32, "minor_code": 4, "minor_name": 64, "full_code": 8,
          "typical_department": 32}

CREATE_TABLE = """\
CREATE TABLE categories (
  id BIGINT NOT NULL AUTO_INCREMENT,
  code_set VARCHAR(16) NOT NULL COMMENT 'gbt30428 (GB/T 30428.2 / CJ/T 214 numbering) or gbt47678 (GB/T 47678.5-2026)',
  kind ENUM('component','event') NOT NULL COMMENT '部件 or 事件 (47678: 管理事项)',
  major_code VARCHAR(4) NOT NULL COMMENT '大类 code, 2 digits',
  major_name VARCHAR(32) NOT NULL,
  minor_code VARCHAR(4) NOT NULL COMMENT '小类 code, 2 digits (30428) or 3 (47678)',
  minor_name VARCHAR(64) NOT NULL,
  full_code VARCHAR(8) NOT NULL COMMENT 'major_code || minor_code, 4 or 5 digits',
  typical_department VARCHAR(32) NULL COMMENT 'name-implied default owner, not normative',
  department_id BIGINT NULL COMMENT 'owning department, set by admins (no FK, departments is another migration)',
  urgent TINYINT NOT NULL DEFAULT 0 COMMENT '1 = 紧急, its steps are meant to run in natural time',
  limit_register_min INT NOT NULL DEFAULT 30 COMMENT '立案时限, working minutes',
  limit_dispatch_min INT NOT NULL DEFAULT 30 COMMENT '派遣时限, working minutes',
  limit_handle INT NOT NULL DEFAULT 1 COMMENT '处置时限, in limit_handle_unit',
  limit_handle_unit ENUM('work_min','work_hour','work_day','natural_hour') NOT NULL DEFAULT 'work_day',
  limit_verify_min INT NOT NULL DEFAULT 60 COMMENT '核查时限, working minutes',
  limit_close_min INT NOT NULL DEFAULT 30 COMMENT '结案时限, working minutes',
  register_condition TEXT NULL COMMENT '立案条件',
  close_condition TEXT NULL COMMENT '结案条件',
  active TINYINT NOT NULL DEFAULT 1,
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY uq_categories_code (code_set, kind, full_code),
  KEY ix_categories_department (department_id),
  CONSTRAINT ck_categories_flags CHECK (urgent IN (0, 1) AND active IN (0, 1)),
  CONSTRAINT ck_categories_limits CHECK (limit_register_min > 0 AND limit_dispatch_min > 0
    AND limit_handle > 0 AND limit_verify_min > 0 AND limit_close_min > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='部件/事件 classification with default time limits'"""

INSERT_COLUMNS = (
    "code_set, kind, major_code, major_name, minor_code, minor_name, full_code,\n"
    "  typical_department, urgent, limit_register_min, limit_dispatch_min, limit_handle,\n"
    "  limit_handle_unit, limit_verify_min, limit_close_min, register_condition, close_condition"
)


def fail(msg):
    sys.exit("gen_categories: " + msg)


def sql_str(s):
    if s is None:
        return "NULL"
    if "\n" in s or "\r" in s or "\0" in s:
        fail("control character in value %r" % s)
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != EXPECTED_HEADER:
            fail("unexpected header %r" % header)
        rows = []
        seen = set()
        for n, rec in enumerate(reader, start=2):
            if len(rec) != len(EXPECTED_HEADER):
                fail("line %d: %d fields" % (n, len(rec)))
            row = dict(zip(EXPECTED_HEADER, (v.strip() for v in rec)))
            digits = CODE_SETS.get(row["code_set"])
            if digits is None:
                fail("line %d: unknown code_set %r" % (n, row["code_set"]))
            if row["kind"] not in KINDS:
                fail("line %d: unknown kind %r" % (n, row["kind"]))
            for col, nd in zip(("major_code", "minor_code"), digits):
                if len(row[col]) != nd or not row[col].isdigit():
                    fail("line %d: %s %r is not %d digits" % (n, col, row[col], nd))
            if row["full_code"] != row["major_code"] + row["minor_code"]:
                fail("line %d: full_code %r" % (n, row["full_code"]))
            for col in ("major_name", "minor_name"):
                if not row[col]:
                    fail("line %d: empty %s" % (n, col))
            for col, width in WIDTHS.items():
                if len(row[col]) > width:
                    fail("line %d: %s longer than %d" % (n, col, width))
            key = (row["code_set"], row["kind"], row["full_code"])
            if key in seen:
                fail("line %d: duplicate %r" % (n, key))
            seen.add(key)
            rows.append(row)
    return rows


def limits(row, used):
    """(urgent, register, dispatch, handle, unit, verify, close, reg_cond, close_cond)."""
    key = (row["code_set"], row["kind"], row["full_code"])
    urgent = key in URGENT_CODES
    if key in HANDLE_BY_CODE:
        name, amount, unit = HANDLE_BY_CODE[key]
        if row["minor_name"] != name:
            fail("%r is %r, the rule expects %r" % (key, row["minor_name"], name))
        used.add(key)
    elif COVER_MARK in row["minor_name"]:
        amount, unit = COVER_HANDLE
        urgent = True
    else:
        amount, unit = DEFAULT_HANDLE[row["kind"]]
    assert unit in UNITS and amount > 0
    reg_cond, close_cond = CONDITIONS.get(key, (None, None))
    return (
        1 if urgent else 0,
        URGENT_REGISTER_MIN if urgent else LIMIT_REGISTER_MIN,
        URGENT_DISPATCH_MIN if urgent else LIMIT_DISPATCH_MIN,
        amount,
        unit,
        LIMIT_VERIFY_MIN,
        LIMIT_CLOSE_MIN,
        reg_cond,
        close_cond,
    )


def render(rows, csv_name, csv_sha256):
    used = set()
    groups = {}
    for row in rows:
        groups.setdefault((row["code_set"], row["kind"]), []).append(row)

    out = [
        "-- 0003_categories.sql: the 部件/事件 classification and default time limits (时限).",
        "--",
        "-- GENERATED by scripts/gen_categories.py from %s, %d rows," % (csv_name, len(rows)),
        "-- sha256 %s." % csv_sha256,
        "-- Do not edit by hand. The rules for the limits are commented in the script, and the",
        "-- sources of the data are in categories.md beside the CSV.",
        "-- Step limits other than 处置 are in working minutes. Urgent rows (紧急) are meant to",
        "-- run in natural time.",
    ]
    out.append("")
    out.append(CREATE_TABLE + ";")
    for (code_set, kind), group in groups.items():
        out.append("")
        out.append("-- %s %s: %d rows" % (code_set, kind, len(group)))
        out.append("INSERT INTO categories (%s) VALUES" % INSERT_COLUMNS)
        lines = []
        for row in group:
            lim = limits(row, used)
            vals = [
                sql_str(row["code_set"]), sql_str(row["kind"]), sql_str(row["major_code"]),
                sql_str(row["major_name"]), sql_str(row["minor_code"]), sql_str(row["minor_name"]),
                sql_str(row["full_code"]), sql_str(row["typical_department"] or None),
                str(lim[0]), str(lim[1]), str(lim[2]), str(lim[3]), sql_str(lim[4]), str(lim[5]),
                str(lim[6]), sql_str(lim[7]), sql_str(lim[8]),
            ]
            lines.append("(" + ", ".join(vals) + ")")
        out.append(",\n".join(lines) + ";")
    missing = set(HANDLE_BY_CODE) - used
    if missing:
        fail("rules name categories that are not in the CSV: %r" % sorted(missing))
    if not URGENT_CODES <= set(HANDLE_BY_CODE):
        fail("URGENT_CODES must also be in HANDLE_BY_CODE")
    text = "\n".join(out) + "\n"
    # The runner splits at a semicolon that ends a line: there must be one per statement.
    ends = sum(1 for line in text.splitlines() if line.rstrip().endswith(";"))
    if ends != 1 + len(groups):
        fail("%d lines end with a semicolon, expected %d" % (ends, 1 + len(groups)))
    return text


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "migrations", "0003_categories.sql")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="path to categories.csv")
    ap.add_argument("-o", "--output", default=default_out, help="output file, - for stdout")
    ap.add_argument("--check", action="store_true", help="compare with the output file instead")
    args = ap.parse_args()

    with open(args.csv, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    rows = read_rows(args.csv)
    text = render(rows, os.path.basename(args.csv), digest)

    if args.check:
        with open(args.output, encoding="utf-8") as f:
            if f.read() != text:
                fail("%s is not what the script generates" % args.output)
        return
    if args.output == "-":
        sys.stdout.write(text)
        return
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    urgent = sum(1 for r in rows if limits(r, set())[0])
    print("gen_categories: wrote %s (%d rows, %d urgent)" % (args.output, len(rows), urgent),
          file=sys.stderr)


if __name__ == "__main__":
    main()
