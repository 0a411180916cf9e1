#!/usr/bin/env bash
# bench/tracks.sh: GPS track ingest and the live map (issue 12).
#  1. Ingest: C phones (checked-in inspectors) send B batches of 100 points each over h2c
#     (bench/tools/tracks_load.c on libnghttp2, built here with cc + pkg-config: one connection
#     per phone, one batch in flight per phone, one thread polling them all — the C client
#     beside the baseline's C client; GEN=node sends the same bodies with node's http2,
#     bench/tools/tracks_load.js, the generator until 2026-12-03, which itself took 2.4-3.1 ms of
#     CPU per 1,000 points of the two cores the servers use; GEN="c node" runs a leg with each),
#     against the same rows written by C `mariadb` clients as plain multi-row INSERTs of 100 rows
#     into the same table (autocommit: one durable commit per statement, as cityd commits once
#     per group of batches; innodb_flush_log_at_trx_commit=1), alternately, ROUNDS times.
#     Goal: >= 0.7x. Each leg prints the CPU time per 1,000 points of mariadbd and of cityd
#     (utime + stime from /proc), of the load generator (its own count) and, for cityd, how many track requests a worker took at once
#     (the access log's "batch": the batches stored together, track.h track_ingest_many).
#  2. Latest positions of 5000 on-duty people inside a box, read by a leader whose region holds
#     them: p99 of N sequential reads, with the default 1 s answer cache and without it
#     (gps.latest_cache_ms = 0). Goal: < 20 ms.
# Knobs: C (16), B (60), ROUNDS (3), N (300); GEN (c); POOL (cityd's db.pool_size; default C, as many
# database connections as the baseline has clients — the shipped default is 8, and with fewer
# workers than phones in flight the shipped overload control answers part of the batches 503
# "overloaded", db.queue_target_ms); SKIP_BUILD=1 uses build/release as it is; LATEST=0 skips part 2; OLD=path/to/another/cityd adds an A/B leg
# per round with that binary (same database, same config; the order of the two alternates);
# FORMS ("object array") runs cityd's legs once per body form ("object": points as objects;
# "array": the compact form of docs/attendance.md; OLD's legs send OLD_FORM, "object");
# STATS=1 prints, per leg, more of MariaDB's counters per 100-point batch and the sizes of the
# worker batches;
# PERF=file records a CPU profile of cityd during its first measured leg (PERF_HZ samples a
# second, default 499; perf report -i file). (Recording mariadbd as well once hung in perf's
# post-processing for minutes.)
source "$(dirname "$0")/lib.sh"
C=${C:-16}
B=${B:-60}
ROUNDS=${ROUNDS:-3}
N=${N:-300}
LATEST=${LATEST:-1}
POOL=${POOL:-$C}
OLD=${OLD:-}
FORMS=${FORMS:-object array}
OLD_FORM=${OLD_FORM:-object}
GEN=${GEN:-c}
for gen in $GEN; do
  case $gen in
  c)
    # shellcheck disable=SC2046 # pkg-config's flags are separate words
    cc -std=c17 -O2 -Wall -Wextra -o "$work/tracks_load" bench/tools/tracks_load.c \
      $(pkg-config --cflags --libs libnghttp2 jansson)
    ;;
  node) ;;
  *) echo "GEN: c and/or node, not $gen" >&2 && exit 2 ;;
  esac
done
gen=${GEN%% *} # the warm-up's and OLD's generator
# load ARGS...: one ingest by the generator $gen; its JSON line on stdout.
load() {
  if [[ $gen == node ]]; then node bench/tools/tracks_load.js "$@"; else "$work/tracks_load" "$@"; fi
}
[[ ${SKIP_BUILD:-} == 1 ]] || bench_build
bench_db
bench_cityd "db.pool_size = $POOL"
new_pid=${pids[-1]}
new_port=$port
new_log=$work/cityd.log
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
if [[ -n $OLD ]]; then
  # The other binary on the same database and configuration (the same token key).
  "$OLD" -c "$work/cityd.conf" serve --port-file "$work/port.old" 2>"$work/cityd.old.log" &
  pids+=($!)
  old_pid=$!
  for _ in $(seq 1 600); do [[ -s $work/port.old ]] && break; sleep 0.1; done
  old_port=$(cat "$work/port.old")
fi
sql() { mariadb --no-defaults -uroot --socket="$db_sock" cityd_bench "$@"; }
db_pid=$(cat var/bench-db/mysqld.pid)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; } # all CPUs, ticks
tck=$(getconf CLK_TCK)
# ms of CPU per 1,000 points from two tick counts
per_k() { echo "scale=1; ($2 - $1) * 1000 / $tck * 1000 / ($C * $B * 100)" | bc; }
# How many of the leg's track requests a worker took together with others (the access log
# names a "batch" only when it held more than one request), after line $2 of log $1.
batches() {
  tail -n +"$(($2 + 1))" "$1" | grep '"path":"/api/v1/tracks"' | grep -o '"batch":[0-9]*' |
    awk -F: -v all=$((C * B)) '{s += $2; n++; if ($2 > m) m = $2} END {if (n) printf "%d of %d requests reached their worker with others (%.1f on average, at most %d)", n, all, s / n, m; else printf "every request reached its worker alone"}'
  [[ -z ${STATS:-} ]] || echo -n " (requests by batch size: $(tail -n +"$(($2 + 1))" "$1" | grep '"path":"/api/v1/tracks"' | grep -o '"batch":[0-9]*' | cut -d: -f2 | sort -n | uniq -c | awk '{printf "%s×%s ", $1, $2}'))"
  echo -n ", $(tail -n +"$(($2 + 1))" "$1" | grep -c 'stored one by one') groups went one by one"
}
# Server counters: name value lines.
counters() {
  sql -N -e "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('QUESTIONS', 'COM_STMT_EXECUTE', 'COM_COMMIT', 'COM_BEGIN', 'HANDLER_WRITE', 'HANDLER_READ_KEY', 'HANDLER_UPDATE', 'INNODB_DATA_FSYNCS', 'COM_STMT_PREPARE', 'COM_SELECT', 'COM_INSERT', 'COM_UPDATE', 'COM_DELETE', 'COM_ROLLBACK')"
}
per_batch() { # before after: the differences per batch
  join <(sort "$1") <(sort "$2") | awk -v n=$((C * B)) '{printf "%s %.2f, ", tolower($1), ($3 - $2) / n}'
}
one() { # before after name: one counter's difference per batch
  join <(sort "$1") <(sort "$2") | awk -v n=$((C * B)) -v k="$3" '$1 == k {printf "%.2f", ($3 - $2) / n}'
}
echo "machine: $(machine)"
echo "cityd: db.pool_size $POOL${OLD:+; A/B against $OLD}; load generator: $GEN (c: bench/tools/tracks_load.c, libnghttp2 $(pkg-config --modversion libnghttp2); node: bench/tools/tracks_load.js, node $(node --version))"
admin=$(bench_token admin)
# The retention job adds the day partitions of track_points within its first run (10 s).
for _ in $(seq 1 150); do
  [[ $(sql -N -e "SELECT COUNT(*) FROM information_schema.partitions WHERE table_schema = DATABASE() AND table_name = 'track_points'") -gt 2 ]] && break
  sleep 0.1
done
fresh() {
  # Fresh devices and check-ins for the next leg (the same people).
  sql -e "DELETE FROM positions_latest; DELETE FROM track_points; DELETE FROM track_devices"
  sql -e "UPDATE duty SET on_duty = 0"
  sql -e "DELETE FROM checkins; DELETE FROM duty"
  python3 bench/tools/tracks_setup.py people "$new_port" "$admin" "$C" "$work/clients.json"
}
# leg NAME PORT PID LOG [FORM]: one cityd ingest of the round; prints its line, sets $rate.
leg() {
  local name=$1 p=$2 pid=$3 log=$4 form=${5:-object} out d0 c0 m0 d1 c1 m1 l0 perfs=()
  fresh >/dev/null
  l0=$(wc -l <"$log")
  if [[ -n ${PERF:-} && $r == 1 && $name == cityd* && -z ${perfed:-} ]]; then # the first measured leg
    perfed=1
    perf record -F "${PERF_HZ:-499}" -g -p "$pid" -o "$PERF" >/dev/null 2>&1 & perfs+=($!)
  fi
  counters >"$work/c0"
  d0=$(cpu "$db_pid") c0=$(cpu "$pid") m0=$(busy)
  out=$(load --port "$p" --mode ingest --clients "$work/clients.json" --batches "$B" --size 100 --form "$form") ||
    { echo "$name: the load generator failed: $out" >&2 && exit 1; }
  d1=$(cpu "$db_pid") c1=$(cpu "$pid") m1=$(busy)
  counters >"$work/c1"
  for q in "${perfs[@]}"; do kill -INT "$q"; wait "$q" || true; done
  rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["points_per_s"])' "$out")
  sleep 0.3 # access lines are flushed every 100 ms
  echo "  $name: $rate points/s ($(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["bytes_per_point"])' "$out") bytes of JSON a point), ratio $(echo "scale=2; $rate / $b" | bc); CPU per 1,000 points: mariadbd $(per_k "$d0" "$d1") ms, cityd $(per_k "$c0" "$c1") ms, the load generator $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_cpu_ms_per_1000"])' "$out") ms, the machine $(per_k "$m0" "$m1") ms (load generator and neighbours included); per batch $(one "$work/c0" "$work/c1" COM_STMT_EXECUTE) statements and $(one "$work/c0" "$work/c1" COM_COMMIT) commits; $(batches "$log" "$l0")"
  [[ -z ${STATS:-} ]] || echo "    per batch: $(per_batch "$work/c0" "$work/c1")"
}
# The new binary's legs of a round, one per body form (and generator, when GEN names two: their
# order alternates per round).
news() {
  local f g0=$gen name gens=$GEN
  ((r % 2)) || gens=$(tr ' ' '\n' <<<"$GEN" | tac | xargs)
  for gen in $gens; do
    for f in $FORMS; do
      name=cityd
      [[ $FORMS == object ]] || name+=/$f
      [[ $GEN == "$gen" ]] || name+=/$gen
      leg "$name" "$new_port" "$new_pid" "$new_log" "$f"
    done
  done
  gen=$g0
}
# Warm-up, not measured: every binary once with a tenth of the batches, so that the rounds
# find the database connections' prepared statements in place (a grouped ingest prepares one
# text per group size and connection) as a server that has run for a while does.
r=0
b=1
B0=$B
B=$(((B + 9) / 10))
for f in $FORMS; do leg warm-up "$new_port" "$new_pid" "$new_log" "$f" >/dev/null; done
[[ -z $OLD ]] || leg warm-up "$old_port" "$old_pid" "$work/cityd.old.log" "$OLD_FORM" >/dev/null
B=$B0
for r in $(seq 1 "$ROUNDS"); do
  base=$(fresh)
  python3 bench/tools/tracks_setup.py baseline $((900000 + r * 1000)) "$C" "$B" 100 "$base" "$work"
  d0=$(cpu "$db_pid")
  t0=$(date +%s.%N)
  cl=()
  for k in $(seq 0 $((C - 1))); do sql <"$work/base.$k.sql" & cl+=($!); done
  wait "${cl[@]}"
  t1=$(date +%s.%N)
  d1=$(cpu "$db_pid")
  b=$(echo "scale=0; $C * $B * 100 / ($t1 - $t0)" | bc)
  echo "round $r (load average $(cut -d' ' -f1-3 /proc/loadavg)): mariadb multi-row INSERT $b points/s; CPU per 1,000 points: mariadbd $(per_k "$d0" "$d1") ms"
  if [[ -n $OLD && $((r % 2)) == 0 ]]; then
    leg old "$old_port" "$old_pid" "$work/cityd.old.log" "$OLD_FORM"
    news
  else
    news
    [[ -z $OLD ]] || leg old "$old_port" "$old_pid" "$work/cityd.old.log" "$OLD_FORM"
  fi
done
[[ $LATEST == 0 ]] && exit 0
port=$new_port
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
