#!/usr/bin/env bash
# bench/dashboard.sh: the leader's dashboard over N cases (default 1,000,000; a year of a city,
# bench/tools/dashboard_gen.py), loaded with LOAD DATA, rollups computed by `cityd
# rollup-rebuild`. Each dashboard endpoint is measured with h2load (-c 4 -m 1, per-request
# log) for p50/p99 latency; goal (issue 13): p99 <= 50 ms for every endpoint. Baseline in the
# same run: the same numbers computed straight from cases (the full scans the rollups avoid),
# timed as single queries in the mariadb client; the figure is the ratio.
# Scopes: admin = the whole database (the heaviest: every scope-0 row), a city leader, a
# district leader and a street leader of the generated city.
# Knobs: N, REQ; DB_BUFFER_POOL (default 4G: the data set is ~6 GiB; it applies when the private
# server starts, so `scripts/db.sh stop var/bench-db` first if one is running with another size);
# REUSE=1 measures the database an earlier run left in var/bench-db (the server and the
# database stay after every run; the logins are kept in var/bench-db/dashboard-logins.json)
# without generating, loading and rebuilding again; ONLY="summary hotspots" measures only the
# endpoints whose path contains one of the words; SCOPES (default "admin 9000 9001 9100").
source "$(dirname "$0")/lib.sh"
N=${N:-1000000}
REQ=${REQ:-400}
REUSE=${REUSE:-0}
ONLY=${ONLY:-}
SCOPES=${SCOPES:-admin 9000 9001 9100}
export DB_BUFFER_POOL=${DB_BUFFER_POOL:-4G}
bench_build
keep=$root/var/bench-db/dashboard-logins.json
if [[ $REUSE == 1 ]]; then
  scripts/db.sh start var/bench-db
  db_sock=$root/var/bench-db/mysqld.sock
  [[ -s $keep ]] || { echo "REUSE=1: no earlier run in var/bench-db" >&2; exit 1; }
else
  bench_db
  rm -f "$keep"
fi
bench_cityd "http.threads = 2
db.pool_size = 8"
sql() { mariadb --no-defaults -uroot --socket="$db_sock" --local-infile=1 "$@"; }
if [[ $REUSE == 1 ]]; then
  cp "$keep" "$work/logins.json"
  echo "$(head -1 "$root/var/bench-db/dashboard-gen.txt" 2>/dev/null) (REUSE=1)" >"$work/gen.txt"
  t0=0 t1=0 t2=0 t3=0
else
  build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
  sql -N cityd_bench -e "SELECT id, kind, full_code, minor_name FROM categories WHERE code_set = 'gbt30428'" >"$work/cats.tsv"
  t0=$(date +%s.%N)
  python3 bench/tools/dashboard_gen.py --n "$N" --out "$work/gen" --categories "$work/cats.tsv" | tee "$work/gen.txt"
  t1=$(date +%s.%N)
  sql cityd_bench <"$work/gen/load.sql"
  t2=$(date +%s.%N)
  build/release/server/cityd -c "$work/cityd.conf" rollup-rebuild 2>"$work/rebuild.log"
  t3=$(date +%s.%N)
  tail -1 "$work/rebuild.log"
  cp "$work/logins.json" "$keep"
  cp "$work/gen.txt" "$root/var/bench-db/dashboard-gen.txt"
fi

base=http://127.0.0.1:$port
tok_admin=$(bench_token admin)
tok_leader=$(bench_token leader)
leader_region() { sql cityd_bench -e "UPDATE users SET region_id = $1 WHERE username = 'leader'"; }
busy_inspector=$(sql -N cityd_bench -e "SELECT subject_id FROM eval_day WHERE scope_id = 0 AND subject_type = 'user' AND indicator = 'valid_report' GROUP BY subject_id ORDER BY SUM(den) DESC LIMIT 1")

lat() { # lat TOKEN PATH -> "p50_ms p99_ms"
  local log=$work/lat.log
  rm -f "$log"
  h2load -n "$REQ" -c 4 -m 1 -t 1 -H "Authorization: Bearer $1" --log-file="$log" "$base$2" >/dev/null 2>&1
  awk -F'\t' '$2 != 200 {bad++} {print $3 / 1000} END {if (bad) print "non-200: " bad > "/dev/stderr"}' "$log" |
    sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int(NR*0.5+0.5)], a[int(NR*0.99+0.5)]}'
}
qtime() { # qtime SQL -> ms of one run of the query (after one warm-up run)
  sql cityd_bench -e "$1" >/dev/null
  local a b
  a=$(date +%s%N); sql cityd_bench -e "$1" >/dev/null; b=$(date +%s%N)
  echo $(((b - a) / 1000000))
}

# Periods in local days (UTC+8, as the server counts them): the last 365 and 90 days.
paths=(
  "/api/v1/dashboard/summary"
  "/api/v1/dashboard/hotspots"
  "/api/v1/dashboard/hotspots?from=$(TZ=Asia/Shanghai date -d '-364 days' +%F)&cells=2000&top=50"
  "/api/v1/dashboard/alerts?limit=50"
  "/api/v1/dashboard/urgings"
  "/api/v1/evaluation"
  "/api/v1/evaluation?from=$(TZ=Asia/Shanghai date -d '-89 days' +%F)"
  "/api/v1/evaluation/marks?subject_type=user&subject_id=$busy_inspector&failed=true"
  "/api/v1/evaluation/export"
)
echo "machine: $(machine)"
echo "data: $(head -1 "$work/gen.txt")"
printf 'generate %.0f s, LOAD DATA %.0f s, rollup-rebuild %.0f s\n' "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t2" | bc)"
if [[ -n $ONLY ]]; then
  sel=()
  for p in "${paths[@]}"; do for w in $ONLY; do [[ $p == *"$w"* ]] && { sel+=("$p"); break; }; done; done
  paths=("${sel[@]}")
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in "${paths[@]}"; do lat "$tok_admin" "$p" >/dev/null; done # warm up
echo "p50/p99 ms, h2load -n $REQ -c 4 -m 1:"
for scope in $SCOPES; do
  if [[ $scope == admin ]]; then tok=$tok_admin; else leader_region "$scope"; tok=$tok_leader; fi
  for p in "${paths[@]}"; do echo "  $scope $p $(lat "$tok" "$p")"; done
  echo "  (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
done
[[ $REUSE == 1 ]] && exit 0 # the baseline below was measured on the first run

# Baseline: the same answers from cases, as a request without rollups would compute them.
today=$(TZ=Asia/Shanghai date +%F)
b_summary=$(qtime "SELECT source, COUNT(*) FROM cases WHERE created_at >= CONVERT_TZ('$today 00:00:00', '+08:00', '+00:00') GROUP BY source; SELECT COUNT(*), SUM(urgency = 'urgent'), SUM(overdue) FROM cases WHERE state NOT IN ('closed', 'invalid', 'merged')")
b_hot=$(qtime "SELECT category_id, COUNT(*) n FROM cases WHERE created_at >= NOW() - INTERVAL 30 DAY GROUP BY category_id ORDER BY n DESC LIMIT 10; SELECT grid_id, COUNT(*) n FROM cases WHERE created_at >= NOW() - INTERVAL 30 DAY GROUP BY grid_id ORDER BY n DESC LIMIT 10; SELECT HOUR(created_at), COUNT(*) FROM cases WHERE created_at >= NOW() - INTERVAL 30 DAY GROUP BY 1")
b_eval=$(qtime "SELECT s.actor_id, s.action, COUNT(*), SUM(s.created_at <= p.due_at) FROM case_steps s JOIN case_steps p ON p.case_id = s.case_id AND p.id = (SELECT MAX(id) FROM case_steps q WHERE q.case_id = s.case_id AND q.id < s.id) WHERE s.created_at >= NOW() - INTERVAL 30 DAY AND s.action IN ('register', 'dispatch', 'handle', 'verify_pass', 'verify_fail', 'close') GROUP BY s.actor_id, s.action")
echo "baseline (straight from cases, one query each, ms): summary $b_summary, hotspots 30 d $b_hot, evaluation 30 d $b_eval"
