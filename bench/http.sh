#!/usr/bin/env bash
# bench/http.sh: an in-memory JSON route of cityd (GET /api/v1/version, answered on the event
# loop) against Debian's standalone h2o serving the same bytes as a static file, side by side:
# h2c with `h2load -c 50 -m 10`, HTTP/1.1 with `wrk -c 50`. Runs alternate A/B five times; the
# figure is the ratio of medians, beside each server's CPU time per request (from /proc).
# Goal (issue 9): at least 0.9x on both. Both servers get two threads (THREADS=1: one each);
# h2o accepts on one shared socket, so the 50 connections a client opens at once often all land
# on one of its threads, while cityd's SO_REUSEPORT listeners always split them between its two
# loops, which then sleep and wake per request (docs/benchmarks.md, "HTTP loop speed").
source "$(dirname "$0")/lib.sh"
[[ -n ${SKIP_BUILD:-} ]] || bench_build
bench_db
threads=${THREADS:-2} # THREADS=1: one loop of cityd against one h2o thread
bench_cityd "http.threads = $threads"
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
for i in $(seq 1 "$rounds"); do
  echo "$(run "$cityd_pid" h2 "$cu") $(run "$h2o_pid" h2 "$hu")" >>"$work/h2"
  echo "$(run "$cityd_pid" h1 "$cu") $(run "$h2o_pid" h1 "$hu")" >>"$work/h1"
done
echo "machine: $(machine); threads: cityd $threads loops, h2o $threads"
for p in h2 h1; do
  c=$(awk '{print $1}' "$work/$p" | median); b=$(awk '{print $3}' "$work/$p" | median)
  cc=$(awk '{print $2}' "$work/$p" | median); bc_=$(awk '{print $4}' "$work/$p" | median)
  [[ $p == h2 ]] && what="h2c  h2load -n $n -c 50 -m 10" || what="h1   wrk -t1 -c50"
  echo "$what: cityd $c req/s, h2o static $b req/s, ratio $(echo "scale=2; $c/$b" | bc);" \
    "server CPU/request cityd $cc µs, h2o $bc_ µs, ratio $(echo "scale=2; $bc_/$cc" | bc)"
done
echo "raw runs (cityd req/s, µs/req; h2o req/s, µs/req):"
sed 's/^/  h2c /' "$work/h2"; sed 's/^/  h1  /' "$work/h1"
