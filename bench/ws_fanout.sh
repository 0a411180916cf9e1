#!/usr/bin/env bash
# bench/ws_fanout.sh: WebSocket fan-out — N subscribers of one stream (default 5,000), 100-byte
# messages at stepped rates — cityd against Debian's mosquitto (WebSocket listener) and nginx
# with nchan, in the same run, with the same load generator (bench/tools/ws_fanout.js).
# mosquitto and nginx run with the generator in their own network namespace (`unshare -n`):
# mosquitto binds every address whatever the configuration says. Needs root (unshare, ulimit).
#
#   bench/ws_fanout.sh                  N=5000 RATES=1,2,5,10,20,40 SECS=5
#                                       TARGETS="cityd mosquitto nchan" SKIP_BUILD=1
# TARGETS: the servers, in order; one may come more than once (alternate runs on a noisy
# machine), and `cityd=PATH` runs another cityd binary (e.g. a build of an older commit) for a
# before/after comparison in the same run. Each cityd run gets a fresh database.
# Per step: delivered share and p50/p99 latency from publish to receipt. For cityd a message is
# a REST POST /api/v1/announcements: stored in MariaDB (committed) before it is sent; for the
# baselines it lives in memory only.
source "$(dirname "$0")/lib.sh"
N=${N:-5000}
RATES=${RATES:-1,2,5,10,20,40}
SECS=${SECS:-5}
TARGETS=${TARGETS:-cityd mosquitto nchan}
gen=$root/bench/tools/ws_fanout.js
ulimit -n "$(ulimit -Hn)" # as high as this machine allows

scripts/npm-tools.sh
# The subscribers: bench/tools/ws_sub.c (libwebsockets clients in C, one lws context on one
# libuv loop per process) unless WS_GEN_CLIENT=ws asks for the Node ones (npm ws clients).
# WS_SUB_BIN=PATH runs another build of a ws_sub (e.g. an older commit's) for a before/after.
case ${WS_GEN_CLIENT:-} in
"")
  if [[ -z ${WS_SUB_BIN:-} ]]; then
    # shellcheck disable=SC2046 # pkg-config's flags are separate words
    cc -O2 -Wall -Wextra -o "$work/ws_sub" bench/tools/ws_sub.c $(pkg-config --cflags --libs libwebsockets)
    export WS_SUB_BIN=$work/ws_sub
  fi
  ;;
ws) unset WS_SUB_BIN ;;
*) echo "WS_GEN_CLIENT: ws or nothing (the C subscribers), not $WS_GEN_CLIENT" >&2 && exit 2 ;;
esac
export WS_GEN_PROCS=${WS_GEN_PROCS:-2}
[[ -n ${SKIP_BUILD:-} ]] || bench_build
echo "machine: $(machine)"

run_cityd() { # run_cityd LABEL BINARY
  local wsurl cityd_pid token
  bench_db
  CITYD_BIN=$2 bench_cityd "ws.max_queued_bytes = 1048576
db.pool_size = 8"
  cityd_pid=${pids[-1]}
  "$2" -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
  token=$(bench_token admin)
  wsurl=$(curl -sf "http://127.0.0.1:$port/api/v1/version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["ws_url"])')
  echo "== $1: $2 ($wsurl), $N subscribers, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  SERVER_PID=$cityd_pid node "$gen" cityd "$wsurl" "$token" "http://127.0.0.1:$port" "$N" "$RATES" \
    "$SECS" | tee "$work/$1.jsonl"
  echo "$1 RSS after: $(awk '/VmRSS/{print $2}' /proc/"$cityd_pid"/status) KiB"
  kill "$cityd_pid"
  wait "$cityd_pid" 2>/dev/null || true
  rm -f "$work/port"
}

# Debian's mosquitto 2.0.11 exits ("Unable to start any listening sockets") when its only
# listener is a websockets one: a plain MQTT listener goes first.
cat >"$work/mosquitto.conf" <<CONF
listener 1883 127.0.0.1
listener 9001 127.0.0.1
protocol websockets
allow_anonymous true
max_queued_messages 100000
CONF
run_mosquitto() { # run_mosquitto LABEL
  echo "== $1: mosquitto $(mosquitto -h 2>/dev/null | awk 'NR==1{print $3}') (websockets), $N subscribers, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  unshare -n bash -c "ip link set lo up; ulimit -n \$(ulimit -Hn)
    mosquitto -c '$work/mosquitto.conf' 2>'$work/mosquitto.log' & m=\$!; sleep 0.5
    SERVER_PID=\$m node '$gen' mqtt ws://127.0.0.1:9001 - - '$N' '$RATES' '$SECS'
    echo \"mosquitto RSS after: \$(awk '/VmRSS/{print \$2}' /proc/\$m/status) KiB\"
    kill \$m" | tee "$work/$1.jsonl"
}

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
run_nchan() { # run_nchan LABEL
  echo "== $1: nginx $(nginx -v 2>&1 | cut -d/ -f2) + nchan (one worker), $N subscribers, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  unshare -n bash -c "ip link set lo up; ulimit -n \$(ulimit -Hn)
    nginx -c '$work/nginx.conf' -p '$work/nginx' -g 'daemon off;' & m=\$!; sleep 0.5
    SERVER_PID=\$(pgrep -P \$m | head -1) node '$gen' nchan ws://127.0.0.1:9002/sub/all - http://127.0.0.1:9002/pub/all '$N' '$RATES' '$SECS'
    kill \$m" | tee "$work/$1.jsonl"
}

k=0
labels=()
for t in $TARGETS; do
  k=$((k + 1))
  case $t in
  cityd) lab=$k.cityd && run_cityd "$lab" "${CITYD_BIN:-build/release/server/cityd}" ;;
  cityd=*) lab=$k.cityd-$(basename "${t#cityd=}") && run_cityd "$lab" "${t#cityd=}" ;;
  mosquitto) lab=$k.mosquitto && run_mosquitto "$lab" ;;
  nchan) lab=$k.nchan && run_nchan "$lab" ;;
  *) echo "TARGETS: unknown $t" >&2 && exit 2 ;;
  esac
  labels+=("$lab")
done

# The sustained rate: the highest step with >= 99 % delivered and p99 <= 250 ms.
# Per cityd run, against the mosquitto run nearest to it: p99 at 25,000 deliveries/s (the
# issue's goal: at most half of mosquitto's).
python3 - "$work" "${labels[@]}" <<'PY'
import json, sys, os
runs = {}
for lab in sys.argv[2:]:
    runs[lab] = [json.loads(l) for l in open(os.path.join(sys.argv[1], lab + ".jsonl"))
                 if l.startswith("{\"target\"")]
def best(rows):
    b = None
    for r in rows:
        if r["delivered_pct"] >= 99 and r["p99_ms"] is not None and r["p99_ms"] <= 250:
            b = r
    return b
def at(rows, d):
    return next((r for r in rows if r["deliveries_per_s"] == d), None)
labs = list(runs)
for lab in labs:
    r = best(runs[lab])
    print(f"sustained {lab}: {r['deliveries_per_s'] if r else 0} deliveries/s"
          + (f" (p99 {r['p99_ms']} ms)" if r else ""))
for i, lab in enumerate(labs):
    if ".cityd" not in lab:
        continue
    c = best(runs[lab])
    c = c["deliveries_per_s"] if c else 0
    for kind in ("mosquitto", "nchan"):
        near = sorted((abs(j - i), o) for j, o in enumerate(labs) if o.endswith("." + kind))
        if not near:
            continue
        o = near[0][1]
        ob = best(runs[o])
        if ob:
            print(f"ratio sustained {lab}/{o}: {c / ob['deliveries_per_s']:.2f}")
        a, b = at(runs[lab], 25000), at(runs[o], 25000)
        if a and b and a["p99_ms"] and b["p99_ms"]:
            print(f"p99 at 25,000/s {lab}/{o}: {a['p99_ms']:.0f} / {b['p99_ms']:.0f} ms"
                  f" = {a['p99_ms'] / b['p99_ms']:.2f}")
PY
