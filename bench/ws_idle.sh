#!/usr/bin/env bash
# bench/ws_idle.sh: server memory per idle, authenticated, synced WebSocket connection — cityd
# against mosquitto (MQTT over WebSocket, subscribed; in its own network namespace) with the
# same client (bench/tools/ws_fanout.js). RSS is the process's own memory: the kernel's socket
# buffers are not in it.
#
#   bench/ws_idle.sh            N=10000 (100000 needs about 6 GB for the node client)
source "$(dirname "$0")/lib.sh"
N=${N:-10000}
gen=$root/bench/tools/ws_fanout.js
ulimit -n "$(ulimit -Hn)" # 100,000 connections need more than most containers allow
rss() { awk '/VmRSS/{print $2}' /proc/"$1"/status; }

scripts/npm-tools.sh
bench_build
bench_db
bench_cityd "db.pool_size = 8"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
token=$(bench_token admin)
wsurl=$(curl -sf "http://127.0.0.1:$port/api/v1/version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["ws_url"])')
cityd_pid=${pids[0]}
echo "machine: $(machine)"
# Warm-up: one connection, so that per-process set-up (lws' tables, first allocations) is not
# counted per connection.
mkfifo "$work/hold"
node "$gen" cityd "$wsurl" "$token" "http://127.0.0.1:$port" 1 0 0 <"$work/hold" >/dev/null &
warm=$!
exec 7>"$work/hold"
sleep 2
before=$(rss "$cityd_pid")
mkfifo "$work/hold2"
node --max-old-space-size=8192 "$gen" cityd "$wsurl" "$token" "http://127.0.0.1:$port" "$N" 0 0 \
  <"$work/hold2" >"$work/idle.out" &
idle=$!
exec 8>"$work/hold2"
for _ in $(seq 1 600); do [[ -s $work/idle.out ]] && break; sleep 1; done
sleep 3
after=$(rss "$cityd_pid")
echo "cityd: $(cat "$work/idle.out") RSS $before -> $after KiB:" \
  "$(( (after - before) * 1024 / N )) bytes per connection"
exec 8>&- 7>&-
wait "$warm" "$idle" 2>/dev/null || true # not cityd: lib.sh stops it at exit

# Debian's mosquitto 2.0.11 exits ("Unable to start any listening sockets") when its only
# listener is a websockets one: a plain MQTT listener goes first.
cat >"$work/mosquitto.conf" <<CONF
listener 1883 127.0.0.1
listener 9001 127.0.0.1
protocol websockets
allow_anonymous true
CONF
unshare -n bash -c "ip link set lo up; ulimit -n \$(ulimit -Hn)
  for k in \$(seq 2 \$(( $N / 50000 + 1 ))); do ip addr add 127.0.0.\$k/8 dev lo 2>/dev/null; done
  mosquitto -c '$work/mosquitto.conf' 2>/dev/null & m=\$!; sleep 0.5
  before=\$(awk '/VmRSS/{print \$2}' /proc/\$m/status)
  mkfifo '$work/hold3'
  node --max-old-space-size=8192 '$gen' mqtt ws://127.0.0.1:9001 - - '$N' 0 0 <'$work/hold3' >'$work/mq.out' &
  exec 9>'$work/hold3'
  for _ in \$(seq 1 600); do [[ -s '$work/mq.out' ]] && break; sleep 1; done
  sleep 3
  after=\$(awk '/VmRSS/{print \$2}' /proc/\$m/status)
  echo \"mosquitto: \$(cat '$work/mq.out') RSS \$before -> \$after KiB: \$(( (after - before) * 1024 / $N )) bytes per connection\"
  exec 9>&-; kill \$m"
