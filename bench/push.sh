#!/usr/bin/env bash
# bench/push.sh: pushes a second from cityd's queue through the APNs stand-in
# (tests/e2e/tools/push_apns_standin.js, HTTP/2 over TLS, ES256 provider tokens checked) over
# one HTTP/2 connection, against the stand-in's own ceiling measured alone in the same run:
# h2load on one connection with as many streams in flight as cityd's batch.
#
# cityd's figure is the whole path: N queued pushes (one per device, N devices, so none
# collapse) inserted in one statement, then claimed in batches of push.batch, sent as
# multiplexed streams, recorded (push_sent row, queue row deleted), until the queue is empty.
#
#   bench/push.sh            N=20000 BATCHES=64,256
source "$(dirname "$0")/lib.sh"
N=${N:-20000}
BATCHES=${BATCHES:-64,256}
[[ -n ${SKIP_BUILD:-} ]] || bench_build  # SKIP_BUILD=1: use build/release as it is
bench_db
echo "machine: $(machine)"

(cd "$work" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout key.pem -out cert.pem -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1 &&
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out apns.p8 2>/dev/null &&
  openssl pkey -in apns.p8 -pubout -out apns.pub 2>/dev/null)
node tests/e2e/tools/push_apns_standin.js --cert "$work/cert.pem" --key "$work/key.pem" \
  --key-pub "$work/apns.pub" --key-id BENCHKEY01 --team BENCHTEAM1 --topic cn.gov.city.bench \
  --port 0 --port-file "$work/sport" ${STANDIN_LOG:+--log "$work/apns.log"} ${STANDIN_LOG:---no-log} &
pids+=($!)
for _ in $(seq 1 100); do [[ -s $work/sport ]] && break; sleep 0.1; done
sport=$(cat "$work/sport")

# The ceiling: the stand-in alone, one connection, the same headers and payload size.
jwt=$(node -e '
const c = require("crypto"), fs = require("fs");
const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const input = b({alg: "ES256", kid: "BENCHKEY01"}) + "." + b({iss: "BENCHTEAM1", iat: Math.floor(Date.now() / 1000)});
const sig = c.sign("sha256", Buffer.from(input), {key: fs.readFileSync(process.argv[1]), dsaEncoding: "ieee-p1363"});
console.log(input + "." + sig.toString("base64url"));' "$work/apns.p8")
printf '%s' '{"aps":{"alert":{"title":"新任务"},"sound":"default","thread-id":"work","interruption-level":"active"},"seq":1,"kind":"case.dispatched","case_id":12345}' >"$work/payload.json"

bench_cityd "push.apns.base_url = https://127.0.0.1:$sport
push.ca_file = $work/cert.pem
push.apns.key_file = $work/apns.p8
push.apns.key_id = BENCHKEY01
push.apns.team_id = BENCHTEAM1
push.apns.topic = cn.gov.city.bench
push.ack_grace_s = 0
push.batch = ${BATCH:-64}"
"${CITYD_BIN:-build/release/server/cityd}" -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
sql() { mariadb --no-defaults -uroot --socket="$db_sock" cityd_bench -N -e "$1"; }
uid=$(sql "SELECT MIN(id) FROM users")
sql "INSERT INTO push_devices (user_id, device_id, family, platform, vendor, token, app_version, locale)
     SELECT $uid, CONCAT('bench-', seq), 'benchfamily', 'ios', 'apns', CONCAT('okbench', seq), '1.0', 'zh-CN'
     FROM seq_1_to_$N"

run_cityd() { # batch size: restart cityd with it, queue N, time until the queue is empty
  local batch=$1 t0 t1 conns
  kill "${pids[-1]}" && wait "${pids[-1]}" 2>/dev/null || true
  sed -i "s/^push.batch = .*/push.batch = $batch/" "$work/cityd.conf"
  rm -f "$work/port"
  "${CITYD_BIN:-build/release/server/cityd}" -c "$work/cityd.conf" serve --port-file "$work/port" 2>>"$work/cityd.log" &
  pids+=($!)
  for _ in $(seq 1 100); do [[ -s $work/port ]] && break; sleep 0.1; done
  sql "DELETE FROM push_sent"
  sleep 1 # the push thread's first look at the queue
  t0=$(date +%s.%N)
  sql "INSERT INTO push_queue (device_row, user_id, seq, kind, ref_id, vendor, created_ms, due_ms)
       SELECT id, user_id, 1, 'case.dispatched', 12345, 'apns', UNIX_TIMESTAMP(NOW(3)) * 1000,
              UNIX_TIMESTAMP(NOW(3)) * 1000 FROM push_devices"
  # PERF=file: a 5 s CPU profile of cityd while it drains the queue (perf report -i file).
  [[ -z ${PERF:-} ]] || perf record -F 999 -g -p "${pids[-1]}" -o "$PERF.$batch" -- sleep 5 >/dev/null 2>&1 &
  while [[ $(sql "SELECT COUNT(*) FROM push_queue") != 0 ]]; do sleep 0.05; done
  t1=$(date +%s.%N)
  conns=$(grep -c 'push: new connection to apns' "$work/cityd.log" || true)
  sent=$(sql "SELECT COUNT(*) FROM push_sent")
  retried=$(sql "SELECT COUNT(*) FROM push_sent WHERE attempts > 1")
  echo "cityd batch=$batch: $N pushes in $(echo "scale=2; $t1 - $t0" | bc) s = $(echo "scale=0; $N / ($t1 - $t0)" | bc)/s, sent=$sent (retried $retried), connections opened to the stand-in (all runs so far): $conns"
  echo "scale=0; $N / ($t1 - $t0)" | bc >"$work/rate.$batch"
  # STANDIN_LOG=1: how many HTTP/2 sessions the stand-in saw (h2load's and cityd's, all runs).
  [[ -z ${STANDIN_LOG:-} ]] || echo "stand-in sessions so far: $(python3 -c 'import json,sys; print(len({json.loads(l)["session"] for l in open(sys.argv[1])}))' "$work/apns.log")"
}

IFS=, read -ra batches <<<"$BATCHES"
for b in "${batches[@]}"; do
  out=$(h2load -n "$N" -c 1 -m "$b" -d "$work/payload.json" \
    -H "authorization: bearer $jwt" -H 'apns-topic: cn.gov.city.bench' \
    -H 'apns-push-type: alert' -H 'apns-priority: 10' -H 'apns-collapse-id: cityd.work' \
    -H 'content-type: application/json' \
    "https://127.0.0.1:$sport/3/device/okbench-ceiling" 2>&1)
  ceiling=$(echo "$out" | awk '/^finished in/ {print int($4)}')
  ok=$(echo "$out" | awk '/status codes:/ {print $3}')
  echo "stand-in alone, 1 connection, $b streams: $ceiling req/s ($ok x 2xx of $N)"
  run_cityd "$b"
  echo "ratio batch=$b: $(echo "scale=2; $(cat "$work/rate.$b") / $ceiling" | bc)"
done
