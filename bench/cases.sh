#!/usr/bin/env bash
# bench/cases.sh: the case workflow (issue 5) against MariaDB's own rates on the same server,
# measured in the same run (`mariadb-slap --concurrency=16`, unix socket). Rounds alternate
# cityd and the baseline; the figures are ratios of medians.
#   a. GET /api/v1/cases/{id} as a dispatcher, a case with 8 timeline rows, h2c
#      `h2load -c 50 -m 10`, against a primary-key SELECT on cases.          goal >= 0.5x
#      a2: the same over 200 different cases in turn (`h2load -i`), so that reads checked
#      together are of different cases.
#   b. POST /api/v1/cases, each with its own Idempotency-Key and place (bench/tools/cases_load.js,
#      4 connections x 16 streams: h2load cannot vary a header per request), against a single-row
#      autocommit INSERT into a plain InnoDB table. Both commit durably: the bench MariaDB runs
#      innodb_flush_log_at_trx_commit=1 (scripts/db.sh).                    goal >= 0.5x
#   c. GET /api/v1/tasks?limit=200 of a handler whose department holds 200 dispatched cases:
#      p50/p99 from h2load's per-request log, one client at a time (-c 1) and 16 clients
#      (-c 16 -m 1).                                                        goal p99 < 20 ms
# Knobs: ROUNDS (3), NG (GETs per round, 50000), Q (slap queries, 100000), NR (reports per
# round, 5000), QI (slap inserts, 20000), NT (task lists per load, 2000), SKIP_BUILD=1, POOL
# (db.pool_size, 8), PARTS (which of a b c to measure, "abc"; the others print 0).
# Uses its own database (cityd_bench_cases) on var/bench-db, so it can run beside the others.
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}
NG=${NG:-50000}
Q=${Q:-100000}
NR=${NR:-5000}
QI=${QI:-20000}
NT=${NT:-2000}

if [[ -z ${SKIP_BUILD:-} ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j2 --target cityd >/dev/null
fi
scripts/db.sh start var/bench-db
db_sock=$root/var/bench-db/mysqld.sock
dbname=cityd_bench_cases
sql() { mariadb --no-defaults -uroot --socket="$db_sock" "$@"; }
sql -e "DROP DATABASE IF EXISTS $dbname; CREATE DATABASE $dbname CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
bench_cityd "http.threads = 2
db.pool_size = ${POOL:-8}
db.name = $dbname"
cityd_bin=build/release/server/cityd
"$cityd_bin" -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null 2>&1
base=http://127.0.0.1:$port

# ---- tokens and a few helpers --------------------------------------------------------------
jget() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
for r in inspector citizen operator shift_lead dispatcher handler; do
  printf -v "tok_$r" '%s' "$(bench_token "$r")"
done
sanitation=$(sql -N "$dbname" -e "SELECT id FROM departments WHERE code = 'sanitation'")

# post TOKEN PATH JSON -> response body; fails the script on a non-2xx answer.
post() {
  curl -sf --http2-prior-knowledge "$base$2" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' -d "$3"
}
report() { post "$1" /api/v1/cases "{\"code_set\":\"gbt30428\",\"full_code\":\"0102\",\"kind\":\"event\",\"description\":\"$2\",\"location\":{\"lat\":31.305,\"lng\":120.605}}" | jget 'd["id"]'; }
# act TOKEN ID VERSION JSON-FIELDS -> the new version
act() { post "$1" "/api/v1/cases/$2/actions" "{\"version\":$3,$4}" | jget 'd["version"]'; }

# ---- a. one case with eight timeline rows ---------------------------------------------------
cid=$(report "$tok_inspector" "路边暴露垃圾一堆")
v=1
v=$(act "$tok_operator" "$cid" $v '"action":"accept"')
v=$(act "$tok_shift_lead" "$cid" "$v" '"action":"register","text":"符合立案条件"')
v=$(act "$tok_dispatcher" "$cid" "$v" "\"action\":\"dispatch\",\"department_id\":$sanitation")
v=$(act "$tok_handler" "$cid" "$v" '"action":"handle","text":"已清理"')
v=$(act "$tok_inspector" "$cid" "$v" '"action":"verify_fail","text":"未彻底清理"')
v=$(act "$tok_handler" "$cid" "$v" '"action":"handle","text":"已彻底清理"')
v=$(act "$tok_inspector" "$cid" "$v" '"action":"verify_pass"')
steps=$(curl -sf --http2-prior-knowledge "$base/api/v1/cases/$cid" -H "Authorization: Bearer $tok_dispatcher" |
  jget 'len(d["timeline"])')
case_bytes=$(curl -sf --http2-prior-knowledge "$base/api/v1/cases/$cid" -H "Authorization: Bearer $tok_dispatcher" | wc -c)

# ---- c. 200 cases dispatched to the handler's department, through the API --------------------
seed_task() {
  local id v
  id=$(report "$tok_inspector" "待处置 $1") # a citizen's 随手拍 are limited per hour
  v=$(act "$tok_operator" "$id" 1 '"action":"accept"')
  v=$(act "$tok_shift_lead" "$id" "$v" '"action":"register"')
  act "$tok_dispatcher" "$id" "$v" "\"action\":\"dispatch\",\"department_id\":$sanitation" >/dev/null
}
# Four at a time; `wait` names them, since a bare `wait` would also wait for cityd.
seeders=()
for i in $(seq 1 200); do
  seed_task "$i" &
  seeders+=($!)
  if ((i % 4 == 0)); then wait "${seeders[@]}"; seeders=(); fi
done
ntasks=$(curl -sf --http2-prior-knowledge "$base/api/v1/tasks?limit=500" -H "Authorization: Bearer $tok_handler" |
  jget 'len(d["items"])')
tasks_bytes=$(curl -sf --http2-prior-knowledge "$base/api/v1/tasks?limit=200" -H "Authorization: Bearer $tok_handler" | wc -c)

# ---- measurements ------------------------------------------------------------------------
sql "$dbname" -e "CREATE TABLE bench_insert (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  a INT NOT NULL, b VARCHAR(200) NOT NULL, created_at DATETIME(3) NOT NULL) ENGINE=InnoDB"

slap() { bench_slap "$dbname" "$1" "$2"; } # slap N QUERY -> queries/s
h2rate() { # h2rate N TOKEN URL -> req/s (warns on any non-2xx)
  h2load -n "$1" -c 50 -m 10 -t 1 -H "Authorization: Bearer $2" "$3" 2>/dev/null |
    awk '/^finished in/ {gsub(/,/,""); print $4} /^status codes:/ {if ($3+0 != '"$1"') print "non-2xx: " $0 > "/dev/stderr"}'
}
h2rate_many() { # h2rate_many N TOKEN URI_FILE -> req/s over the URIs in turn
  h2load -n "$1" -c 50 -m 10 -t 1 -H "Authorization: Bearer $2" -i "$3" 2>/dev/null |
    awk '/^finished in/ {gsub(/,/,""); print $4} /^status codes:/ {if ($3+0 != '"$1"') print "non-2xx: " $0 > "/dev/stderr"}'
}
latency() { # latency N CLIENTS -> "p50_ms p99_ms req/s" for the handler's task list
  local log=$work/lat.$2.log rate
  rm -f "$log"
  rate=$(h2load -n "$1" -c "$2" -m 1 -t 1 -H "Authorization: Bearer $tok_handler" --log-file="$log" \
    "$base/api/v1/tasks?limit=200" 2>/dev/null | awk '/^finished in/ {gsub(/,/,""); print $4}')
  awk -F'\t' '$2 != 200 {bad++} {print $3 / 1000} END {if (bad) print "non-200: " bad > "/dev/stderr"}' "$log" |
    sort -n | awk -v r="$rate" '{a[NR]=$1} END {printf "%.2f %.2f %s\n", a[int(NR*0.5+0.5)], a[int(NR*0.99+0.5)], r}'
}

# a2: the 200 dispatched cases in turn (4 timeline rows each), so that batches hold different cases.
sql -N "$dbname" -e "SELECT id FROM cases WHERE description LIKE '待处置 %' ORDER BY id" |
  sed "s|^|$base/api/v1/cases/|" >"$work/uris"

# Warm up (buffer pool, prepared statements, connections).
h2rate 5000 "$tok_dispatcher" "$base/api/v1/cases/$cid" >/dev/null
node bench/tools/cases_load.js --port "$port" --token "$tok_inspector" --n 500 --prefix warm >/dev/null
latency 200 1 >/dev/null

PARTS=${PARTS:-abc}
for i in $(seq 1 "$ROUNDS"); do
  g=0 s=1 rr=0 si=1
  if [[ $PARTS == *a* ]]; then
    g=$(h2rate "$NG" "$tok_dispatcher" "$base/api/v1/cases/$cid")
    s=$(slap "$Q" "SELECT id, state, version, updated_at FROM cases WHERE id = $cid")
    g2=$(h2rate_many "$NG" "$tok_dispatcher" "$work/uris")
  fi
  echo "$g $s ${g2:-0}" >>"$work/get"
  if [[ $PARTS == *b* ]]; then
    rj=$(node bench/tools/cases_load.js --port "$port" --token "$tok_inspector" --n "$NR" --c 4 --m 16 --prefix "r$i")
    echo "$rj" >>"$work/report.json"
    rr=$(echo "$rj" | jget 'd["rps"]')
    si=$(slap "$QI" "INSERT INTO bench_insert (a, b, created_at) VALUES (1, 'bench row of about forty bytes here', NOW(3))")
  fi
  echo "$rr $si" >>"$work/report"
  if [[ $PARTS == *c* ]]; then
    echo "$(latency "$NT" 1) $(latency "$NT" 16)" >>"$work/tasks"
  else
    echo "0 0 0 0 0 0" >>"$work/tasks"
  fi
done

# ---- report ------------------------------------------------------------------------------
col() { awk "{print \$$1}" "$2" | median; }
g=$(col 1 "$work/get"); s=$(col 2 "$work/get")
rr=$(col 1 "$work/report"); si=$(col 2 "$work/report")
cases_total=$(sql -N "$dbname" -e "SELECT COUNT(*) FROM cases")
echo "machine: $(machine)"
echo "case $cid: $steps timeline rows, $case_bytes bytes as JSON; handler task list: $ntasks tasks, $tasks_bytes bytes for limit=200; $cases_total cases at the end"
g2=$(col 3 "$work/get")
echo "a. GET /api/v1/cases/{id} h2load -n $NG -c 50 -m 10: $g req/s; mariadb-slap PK select, 16 clients: $s q/s; ratio $(echo "scale=2; $g/$s" | bc)"
echo "a2. the same over the $(wc -l <"$work/uris") dispatched cases in turn: $g2 req/s; ratio $(echo "scale=2; $g2/$s" | bc)"
echo "b. POST /api/v1/cases (4 conn x 16 streams, $NR per round): $rr req/s; mariadb-slap INSERT, 16 clients: $si q/s; ratio $(echo "scale=2; $rr/$si" | bc)"
echo "c. GET /api/v1/tasks?limit=200, -c 1: p50 $(col 1 "$work/tasks") ms, p99 $(col 2 "$work/tasks") ms ($(col 3 "$work/tasks") req/s);" \
  "-c 16: p50 $(col 4 "$work/tasks") ms, p99 $(col 5 "$work/tasks") ms ($(col 6 "$work/tasks") req/s)"
echo "raw: get (cityd slap cityd-many-cases)"; sed 's/^/  /' "$work/get"
echo "raw: report (cityd slap)"; sed 's/^/  /' "$work/report"
echo "raw: report latency"; sed 's/^/  /' "$work/report.json"
echo "raw: tasks (c1: p50 p99 rps | c16: p50 p99 rps)"; sed 's/^/  /' "$work/tasks"
