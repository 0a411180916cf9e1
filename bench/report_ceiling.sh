#!/usr/bin/env bash
# bench/report_ceiling.sh: a durable report through cityd against the floor of its own
# statements, measured in the same run.
#   floor   16 mariadb clients over the unix socket send exactly the statements one report
#           sends (bench/tools/report_sql.py now: 26 statements, values inlined), report after
#           report: what the database alone can take, with no HTTP, JSON, thread hop or load
#           generator. No cityd can do better than this with these statements.
#   before  the same with the statement list a report sent before the read-mostly data moved
#           into memory (report_sql.py before: 30 statements): how much the floor moved.
#   cityd   POST /api/v1/cases through cityd (bench/tools/cases_load.js, 4 connections x 16
#           streams, each report its own Idempotency-Key and place), same places and categories.
# Rounds alternate the three; the figures are medians. Every commit is durable
# (innodb_flush_log_at_trx_commit=1, scripts/db.sh). Goal: cityd >= 0.9x floor.
# Knobs: ROUNDS (3), R (reports per floor client per round, 300), NR (cityd reports per round,
# 5000), POOL (db.pool_size, 8), SKIP_BUILD=1.
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
R=${R:-300}
NR=${NR:-5000}
[[ -n ${SKIP_BUILD:-} ]] || bench_build
bench_db
# Shedding off (db.queue_target_ms = 0): 64 reports in flight against 8 workers are a
# standing queue, which cityd would answer partly with 503 (docs/config.md); this measures how
# many it can commit, as bench/overload.sh measures capacity.
bench_cityd "http.threads = 2
db.pool_size = ${POOL:-8}
db.queue_target_ms = 0"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null 2>&1
sql() { mariadb --no-defaults -uroot --socket="$db_sock" "$@"; }
tok=$(bench_token inspector)
uid=$(sql -N cityd_bench -e "SELECT id FROM users WHERE username = 'inspector'")
family=$(sql -N cityd_bench -e "SELECT family FROM sessions WHERE user_id = $uid ORDER BY id DESC LIMIT 1")
cats=$(sql -N cityd_bench -e "SELECT GROUP_CONCAT(id ORDER BY full_code) FROM categories WHERE
  code_set = 'gbt30428' AND kind = 'event' AND full_code IN ('0101','0102','0103','0104','0105')")
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# floor LIST ROUND: reports/s of 16 clients sending LIST's statements.
floor() {
  local c t0 t1 cl=()
  for c in $(seq 1 16); do
    python3 bench/tools/report_sql.py "$1" "$R" "$1.$2.$c.$RANDOM" "$uid" "$family" "$cats" >"$work/q.$c.sql"
  done
  t0=$(date +%s.%N)
  for c in $(seq 1 16); do sql cityd_bench <"$work/q.$c.sql" >/dev/null & cl+=($!); done
  wait "${cl[@]}"
  t1=$(date +%s.%N)
  echo "scale=0; 16 * $R / ($t1 - $t0)" | bc
}

echo "machine: $(machine)"
echo "model: $(lscpu | grep 'Model name' | cut -d: -f2 | xargs)"
node bench/tools/cases_load.js --port "$port" --token "$tok" --n 500 --prefix warm >/dev/null
: >"$work/f" ; : >"$work/b" ; : >"$work/c"
for i in $(seq 1 "$ROUNDS"); do
  f=$(floor now "$i")
  b=$(floor before "$i")
  cj=$(node bench/tools/cases_load.js --port "$port" --token "$tok" --n "$NR" --c 4 --m 16 --prefix "r$i")
  c=$(echo "$cj" | jget 'd["rps"]')
  echo "round $i: floor (26 statements) $f/s, floor before (30) $b/s, cityd $c/s" \
    "(p50 $(echo "$cj" | jget 'd["p50_ms"]') ms, p99 $(echo "$cj" | jget 'd["p99_ms"]') ms)"
  echo "$f" >>"$work/f"; echo "$b" >>"$work/b"; echo "$c" >>"$work/c"
done
fm=$(median <"$work/f"); bm=$(median <"$work/b"); cm=$(median <"$work/c")
echo "median: floor $fm/s, floor before $bm/s, cityd $cm/s"
echo "cityd / floor: $(echo "scale=2; $cm / $fm" | bc); floor now / floor before: $(echo "scale=2; $fm / $bm" | bc)"
