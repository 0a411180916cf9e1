#!/usr/bin/env bash
# bench/tracks.sh: GPS track ingest and the live map (issue 12).
#  1. Ingest: C phones (checked-in inspectors) send B batches of 100 points each over h2c
#     (bench/tools/tracks_load.js, one connection per phone, one batch in flight per phone),
#     against the same rows written by C `mariadb` clients as plain multi-row INSERTs of 100 rows
#     into the same table (autocommit: one durable commit per statement, as cityd commits once
#     per batch; innodb_flush_log_at_trx_commit=1), alternately, ROUNDS times. Goal: >= 0.7x.
#  2. Latest positions of 5000 on-duty people inside a box, read by a leader whose region holds
#     them: p99 of N sequential reads, with the default 1 s answer cache and without it
#     (gps.latest_cache_ms = 0). Goal: < 20 ms.
# Knobs: C (16), B (60), ROUNDS (3), N (300); LATEST=0 skips part 2; PERF=file records a CPU
# profile of cityd during the first round's ingest (perf report -i file). (Recording mariadbd
# as well once hung in perf's post-processing for minutes.)
source "$(dirname "$0")/lib.sh"
C=${C:-16}
B=${B:-60}
ROUNDS=${ROUNDS:-3}
N=${N:-300}
LATEST=${LATEST:-1}
bench_build
bench_db
# As many database connections as the baseline has clients (the default pool is 8).
bench_cityd "db.pool_size = $C"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
sql() { mariadb --no-defaults -uroot --socket="$db_sock" cityd_bench "$@"; }
echo "machine: $(machine)"
admin=$(bench_token admin)
# The retention job adds the day partitions of track_points within its first run (10 s).
for _ in $(seq 1 150); do
  [[ $(sql -N -e "SELECT COUNT(*) FROM information_schema.partitions WHERE table_schema = DATABASE() AND table_name = 'track_points'") -gt 2 ]] && break
  sleep 0.1
done
for r in $(seq 1 "$ROUNDS"); do
  # Fresh people each round (new users, new devices), the same number of rows as the baseline.
  sql -e "DELETE FROM positions_latest; DELETE FROM track_points; DELETE FROM track_devices"
  sql -e "UPDATE duty SET on_duty = 0"
  sql -e "DELETE FROM checkins; DELETE FROM duty"
  base=$(python3 bench/tools/tracks_setup.py people "$port" "$admin" "$C" "$work/clients.json")
  python3 bench/tools/tracks_setup.py baseline $((900000 + r * 1000)) "$C" "$B" 100 "$base" "$work"
  t0=$(date +%s.%N)
  cl=()
  for k in $(seq 0 $((C - 1))); do sql <"$work/base.$k.sql" & cl+=($!); done
  wait "${cl[@]}"
  t1=$(date +%s.%N)
  b=$(echo "scale=0; $C * $B * 100 / ($t1 - $t0)" | bc)
  perfs=()
  if [[ -n ${PERF:-} && $r == 1 ]]; then
    perf record -F 499 -g -p "${pids[-1]}" -o "$PERF" >/dev/null 2>&1 & perfs+=($!)
  fi
  out=$(node bench/tools/tracks_load.js --port "$port" --mode ingest --clients "$work/clients.json" --batches "$B" --size 100)
  for p in "${perfs[@]}"; do kill -INT "$p"; wait "$p" || true; done
  c=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["points_per_s"])' "$out")
  echo "round $r: cityd $c points/s, mariadb multi-row INSERT $b points/s, ratio $(echo "scale=2; $c / $b" | bc)"
done
[[ $LATEST == 0 ]] && exit 0
d1=$(sql -N -e "SELECT id FROM regions WHERE code = '999901'")
python3 bench/tools/tracks_setup.py latest 5000 "$d1" | sql
leader=$(bench_token leader)
echo "latest positions, gps.latest_cache_ms = 1000 (default):"
node bench/tools/tracks_load.js --port "$port" --mode latest --token "$leader" --n "$N" \
  --path "/api/v1/positions/latest?bbox=120.50,31.20,120.70,31.40"
# The same reads against the database every time (a second cityd on the same database).
bench_cityd "gps.latest_cache_ms = 0"
leader=$(bench_token leader)
echo "latest positions, gps.latest_cache_ms = 0 (every read from MariaDB):"
node bench/tools/tracks_load.js --port "$port" --mode latest --token "$leader" --n "$N" \
  --path "/api/v1/positions/latest?bbox=120.50,31.20,120.70,31.40"
