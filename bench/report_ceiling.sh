#!/usr/bin/env bash
# bench/report_ceiling.sh: a durable report through cityd against the floor of its own
# statements, measured in the same run.
#   floor   16 mariadb clients over the unix socket send exactly the statements one report
#           sends (bench/tools/report_sql.py now, values inlined), report after report: what
#           the database alone can take, with no HTTP, JSON, thread hop or load generator.
#   before  the same with the statement list a report sent before its rollups were reordered
#           and folded (report_sql.py before): how much the floor moved.
#   cityd   POST /api/v1/cases through cityd (bench/tools/cases_load.js, 4 connections x 16
#           streams, each report its own Idempotency-Key and place), same places and
#           categories, once for each pool size in POOLS (db.pool_size: the first is the
#           figure compared with the floor; 16 = as many connections as the floor has clients,
#           as bench/gps.sh gives cityd as many as its baseline has), cityd restarted for each.
# Rounds alternate all of them; the figures are medians. Every commit is durable
# (innodb_flush_log_at_trx_commit=1, scripts/db.sh). Goal: cityd >= 0.9x floor.
# Knobs: ROUNDS (3), R (reports per floor client per round, 300), NR (cityd reports per round,
# 5000), POOLS ("16 8"), SKIP_BUILD=1.
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
R=${R:-300}
NR=${NR:-5000}
POOLS=${POOLS:-16 8}
[[ -n ${SKIP_BUILD:-} ]] || bench_build
bench_db
# Shedding off (db.queue_target_ms = 0): 64 reports in flight against the workers are a
# standing queue, which cityd would answer partly with 503 (docs/config.md); this measures how
# many it can commit, as bench/overload.sh measures capacity.
bench_cityd "http.threads = 2
db.queue_target_ms = 0
db.pool_size = 8"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null 2>&1
sql() { mariadb --no-defaults -uroot --socket="$db_sock" "$@"; }
tok=$(bench_token inspector)
uid=$(sql -N cityd_bench -e "SELECT id FROM users WHERE username = 'inspector'")
family=$(sql -N cityd_bench -e "SELECT family FROM sessions WHERE user_id = $uid ORDER BY id DESC LIMIT 1")
cats=$(sql -N cityd_bench -e "SELECT GROUP_CONCAT(id ORDER BY full_code) FROM categories WHERE
  code_set = 'gbt30428' AND kind = 'event' AND full_code IN ('0101','0102','0103','0104','0105')")
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
nstmt() { python3 bench/tools/report_sql.py "$1" 1 x "$uid" "$family" "$cats" | wc -l; }
for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
pids=()

# floor LIST ROUND: reports/s of 16 clients sending LIST's statements. A statement that fails
# (MariaDB 10.11 now and then refuses the duplicate search's spatial read with error 1207) is
# counted in $work/ferr and the client goes on (--force), so every client sends all R reports.
floor() {
  local c t0 t1 cl=()
  for c in $(seq 1 16); do
    python3 bench/tools/report_sql.py "$1" "$R" "$1.$2.$c.$RANDOM" "$uid" "$family" "$cats" >"$work/q.$c.sql"
  done
  t0=$(date +%s.%N)
  for c in $(seq 1 16); do sql --force cityd_bench <"$work/q.$c.sql" >/dev/null 2>>"$work/ferr" & cl+=($!); done
  wait "${cl[@]}"
  t1=$(date +%s.%N)
  echo "scale=0; 16 * $R / ($t1 - $t0)" | bc
}

# cityd POOL ROUND: start cityd with db.pool_size = POOL, warm it up, print the load's JSON.
cityd() {
  local p
  rm -f "$work/port"
  sed -i '/^db.pool_size/d' "$work/cityd.conf"
  echo "db.pool_size = $1" >>"$work/cityd.conf"
  build/release/server/cityd -c "$work/cityd.conf" serve --port-file "$work/port" 2>>"$work/cityd.log" &
  p=$!
  pids+=("$p")
  for _ in $(seq 1 600); do [[ -s $work/port ]] && break; sleep 0.1; done
  port=$(cat "$work/port")
  node bench/tools/cases_load.js --port "$port" --token "$tok" --n 500 --prefix "w$1.$2" >/dev/null
  node bench/tools/cases_load.js --port "$port" --token "$tok" --n "$NR" --c 4 --m 16 --prefix "r$1.$2"
  kill "$p"
  wait "$p" 2>/dev/null || true
}

sn=$(nstmt now)
sb=$(nstmt before)
echo "machine: $(machine)"
echo "model: $(lscpu | grep 'Model name' | cut -d: -f2 | xargs)"
: >"$work/f"
: >"$work/b"
: >"$work/ferr"
for i in $(seq 1 "$ROUNDS"); do
  f=$(floor now "$i")
  b=$(floor before "$i")
  line="round $i (load $(cut -d' ' -f1 /proc/loadavg)): floor ($sn statements) $f/s, floor before ($sb) $b/s"
  for pool in $POOLS; do
    cj=$(cityd "$pool" "$i")
    c=$(echo "$cj" | jget 'd["rps"]')
    [[ $(echo "$cj" | jget 'd["ok"]') == "$NR" ]] || echo "cityd pool $pool: not all 2xx: $cj" >&2
    echo "$c" >>"$work/c.$pool"
    line+=", cityd ($pool workers) $c/s (p99 $(echo "$cj" | jget 'd["p99_ms"]') ms, ratio $(echo "scale=2; $c / $f" | bc))"
  done
  echo "$line"
  echo "$f" >>"$work/f"
  echo "$b" >>"$work/b"
done
fm=$(median <"$work/f")
bm=$(median <"$work/b")
line="median: floor $fm/s, floor before $bm/s"
for pool in $POOLS; do line+=", cityd ($pool workers) $(median <"$work/c.$pool")/s"; done
echo "$line"
for pool in $POOLS; do
  echo "cityd ($pool workers) / floor: $(echo "scale=2; $(median <"$work/c.$pool") / $fm" | bc)"
done
echo "floor now / floor before: $(echo "scale=2; $fm / $bm" | bc)"
echo "floor statements that failed (all rounds): $(grep -c '^ERROR' "$work/ferr" || true)"
