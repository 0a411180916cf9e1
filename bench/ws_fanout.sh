#!/usr/bin/env bash
# bench/ws_fanout.sh: WebSocket fan-out — N subscribers of one stream (default 5,000), 100-byte
# messages at stepped rates — cityd against Debian's mosquitto (WebSocket listener) and nginx
# with nchan, in the same run, with the same load generator (bench/tools/ws_fanout.js).
# mosquitto and nginx run with the generator in their own network namespace (`unshare -n`):
# mosquitto binds every address whatever the configuration says. Needs root (unshare, ulimit).
#
#   bench/ws_fanout.sh                  N=5000 RATES=1,2,5,10,20,40 SECS=5
# Per step: delivered share and p50/p99 latency from publish to receipt. For cityd a message is
# a REST POST /api/v1/announcements: stored in MariaDB (committed) before it is sent; for the
# baselines it lives in memory only.
source "$(dirname "$0")/lib.sh"
N=${N:-5000}
RATES=${RATES:-1,2,5,10,20,40}
SECS=${SECS:-5}
gen=$root/bench/tools/ws_fanout.js
ulimit -n "$(ulimit -Hn)" # as high as this machine allows

scripts/npm-tools.sh
bench_build
bench_db
bench_cityd "ws.max_queued_bytes = 1048576
db.pool_size = 8"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
token=$(bench_token admin)
wsurl=$(curl -sf "http://127.0.0.1:$port/api/v1/version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["ws_url"])')
echo "machine: $(machine)"
echo "== cityd ($wsurl), $N subscribers"
node "$gen" cityd "$wsurl" "$token" "http://127.0.0.1:$port" "$N" "$RATES" "$SECS" |
  tee "$work/cityd.jsonl"
cityd_pid=${pids[0]}
echo "cityd RSS after: $(awk '/VmRSS/{print $2}' /proc/"$cityd_pid"/status) KiB"

# Debian's mosquitto 2.0.11 exits ("Unable to start any listening sockets") when its only
# listener is a websockets one: a plain MQTT listener goes first.
cat >"$work/mosquitto.conf" <<CONF
listener 1883 127.0.0.1
listener 9001 127.0.0.1
protocol websockets
allow_anonymous true
max_queued_messages 100000
CONF
echo "== mosquitto $(mosquitto -h 2>/dev/null | awk 'NR==1{print $3}') (websockets), $N subscribers"
unshare -n bash -c "ip link set lo up; ulimit -n \$(ulimit -Hn)
  mosquitto -c '$work/mosquitto.conf' 2>'$work/mosquitto.log' & m=\$!; sleep 0.5
  node '$gen' mqtt ws://127.0.0.1:9001 - - '$N' '$RATES' '$SECS'
  echo \"mosquitto RSS after: \$(awk '/VmRSS/{print \$2}' /proc/\$m/status) KiB\"
  kill \$m" | tee "$work/mosquitto.jsonl"

mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile 200000;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 100000; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  server {
    listen 127.0.0.1:9002;
    location = /pub/all { nchan_publisher; nchan_channel_id all; nchan_message_buffer_length 16; }
    location = /sub/all { nchan_subscriber websocket; nchan_channel_id all; }
  }
}
CONF
echo "== nginx $(nginx -v 2>&1 | cut -d/ -f2) + nchan (one worker), $N subscribers"
unshare -n bash -c "ip link set lo up; ulimit -n \$(ulimit -Hn)
  nginx -c '$work/nginx.conf' -p '$work/nginx' -g 'daemon off;' & m=\$!; sleep 0.5
  node '$gen' nchan ws://127.0.0.1:9002/sub/all - http://127.0.0.1:9002/pub/all '$N' '$RATES' '$SECS'
  kill \$m" | tee "$work/nchan.jsonl"

# The sustained rate: the highest step with >= 99 % delivered and p99 <= 250 ms.
python3 - "$work" <<'PY'
import json, sys, os
def best(f):
    b = None
    for line in open(os.path.join(sys.argv[1], f)):
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r["delivered_pct"] >= 99 and r["p99_ms"] is not None and r["p99_ms"] <= 250:
            b = r
    return b
res = {t: best(t + ".jsonl") for t in ("cityd", "mosquitto", "nchan")}
for t, r in res.items():
    print(f"sustained {t}: {r['deliveries_per_s'] if r else 0} deliveries/s"
          + (f" (p99 {r['p99_ms']} ms)" if r else ""))
c = res["cityd"]["deliveries_per_s"] if res["cityd"] else 0
for t in ("mosquitto", "nchan"):
    if res[t]:
        print(f"ratio cityd/{t}: {c / res[t]['deliveries_per_s']:.2f}")
PY
