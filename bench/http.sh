#!/usr/bin/env bash
# bench/http.sh: an in-memory JSON route of cityd (GET /api/v1/version, answered on the event
# loop) against Debian's standalone h2o serving the same bytes as a static file, side by side:
# h2c with `h2load -c 50 -m 10`, HTTP/1.1 with `wrk -c 50`. Runs alternate A/B five times; the
# figure is the ratio of medians, beside each server's CPU time per request (from /proc).
# Goal (issue 9): at least 0.9x on both. Both servers get two threads (THREADS=1: one each).
# cityd runs with its default configuration, so http.accept = shared: its loops accept from one
# socket, as h2o's threads do (ACCEPT=reuseport: a SO_REUSEPORT socket per loop, the kernel
# splits connections evenly; docs/benchmarks.md, "HTTP loop speed").
# Same-run A/B of two cityds: B_BIN=path (another binary) and/or B_CONF='key = value' (another
# setting) start a second cityd measured in the same rounds, reported as "cityd B".
source "$(dirname "$0")/lib.sh"
[[ -n ${SKIP_BUILD:-} ]] || bench_build
bench_db
threads=${THREADS:-2} # THREADS=1: one loop of cityd against one h2o thread
accept_line=${ACCEPT:+http.accept = $ACCEPT}
bench_cityd "http.threads = $threads
$accept_line"
if [[ -n ${B_BIN:-}${B_CONF:-} ]]; then
  a_port=$port
  rm -f "$work/port"
  CITYD_BIN=${B_BIN:-${CITYD_BIN:-}} bench_cityd "http.threads = $threads
${B_CONF:-}"
  b_port=$port b_pid=${pids[1]} port=$a_port
fi
curl -s "http://127.0.0.1:$port/api/v1/version" >"$work/version.json"
mkdir -p "$work/static"
chmod 755 "$work" "$work/static" # h2o started as root serves files as nobody
cp "$work/version.json" "$work/static/version.json"
hport=$(python3 -c "import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])")
cat >"$work/h2o.conf" <<CONF
listen:
  port: $hport
  host: 127.0.0.1
num-threads: $threads
access-log: $work/h2o-access.log
hosts:
  default:
    paths:
      /api/v1:
        file.dir: $work/static
CONF
h2o -c "$work/h2o.conf" >"$work/h2o.log" 2>&1 &
pids+=($!)
h2o_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$hport/api/v1/version.json" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$hport/api/v1/version.json" >/dev/null || { cat "$work/h2o.log"; exit 1; }

cityd_pid=${pids[0]}
n=${N:-200000}
rounds=${ROUNDS:-5}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# run PID KIND URL: prints "req/s µs-of-server-CPU-per-request"
run() {
  local t0 t1 rate reqs
  t0=$(ticks "$1")
  if [[ $2 == h2 ]]; then
    rate=$(h2load -n "$n" -c 50 -m 10 -t 1 "$3" 2>/dev/null | awk '/^finished in/ {gsub(/,/,""); print $4}')
    reqs=$n
  else
    read -r rate reqs < <(wrk -t 1 -c 50 -d "${WRK_SECONDS:-5}s" "$3" 2>/dev/null |
      awk '/Requests\/sec/ {r=$2} /requests in/ {q=$1} END {print r, q}')
  fi
  t1=$(ticks "$1")
  echo "$rate $(echo "scale=2; ($t1 - $t0) * 1000000 / $hz / $reqs" | bc)"
}
cu="http://127.0.0.1:$port/api/v1/version"
hu="http://127.0.0.1:$hport/api/v1/version.json"
bu="http://127.0.0.1:${b_port:-}/api/v1/version"
for i in $(seq 1 "$rounds"); do
  echo "$(run "$cityd_pid" h2 "$cu") $(run "$h2o_pid" h2 "$hu")" >>"$work/h2"
  echo "$(run "$cityd_pid" h1 "$cu") $(run "$h2o_pid" h1 "$hu")" >>"$work/h1"
  if [[ -n ${b_pid:-} ]]; then
    run "$b_pid" h2 "$bu" >>"$work/b2"
    run "$b_pid" h1 "$bu" >>"$work/b1"
  fi
done
echo "machine: $(machine); load average: $(cut -d' ' -f1-3 /proc/loadavg); threads: cityd $threads loops (http.accept = ${ACCEPT:-shared}), h2o $threads"
for p in h2 h1; do
  c=$(awk '{print $1}' "$work/$p" | median); b=$(awk '{print $3}' "$work/$p" | median)
  cc=$(awk '{print $2}' "$work/$p" | median); bc_=$(awk '{print $4}' "$work/$p" | median)
  [[ $p == h2 ]] && what="h2c  h2load -n $n -c 50 -m 10" || what="h1   wrk -t1 -c50"
  echo "$what: cityd $c req/s, h2o static $b req/s, ratio $(echo "scale=2; $c/$b" | bc);" \
    "server CPU/request cityd $cc µs, h2o $bc_ µs, ratio $(echo "scale=2; $bc_/$cc" | bc)"
done
if [[ -n ${b_pid:-} ]]; then
  for p in 2 1; do
    c=$(awk '{print $1}' "$work/b$p" | median); cc=$(awk '{print $2}' "$work/b$p" | median)
    b=$(awk '{print $3}' "$work/h$p" | median)
    echo "cityd B (${B_BIN:-same binary}${B_CONF:+, $B_CONF}) $([[ $p == 2 ]] && echo h2c || echo h1): $c req/s," \
      "ratio to h2o $(echo "scale=2; $c/$b" | bc); CPU/request $cc µs"
  done
fi
echo "raw runs (cityd req/s, µs/req; h2o req/s, µs/req):"
sed 's/^/  h2c /' "$work/h2"; sed 's/^/  h1  /' "$work/h1"
if [[ -n ${b_pid:-} ]]; then
  echo "cityd B (req/s, µs/req):"; sed 's/^/  h2c /' "$work/b2"; sed 's/^/  h1  /' "$work/b1"
fi
