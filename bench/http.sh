#!/usr/bin/env bash
# bench/http.sh: an in-memory JSON route of cityd (GET /api/v1/version, answered on the event
# loop) against Debian's standalone h2o serving the same bytes as a static file, side by side:
# h2c with `h2load -c 50 -m 10`, HTTP/1.1 with `wrk -c 50`. Runs alternate A/B five times; the
# figure is the ratio of medians. Goal (issue 2): at least 0.8x.
source "$(dirname "$0")/lib.sh"
bench_build
bench_db
bench_cityd "http.threads = 2"
curl -s "http://127.0.0.1:$port/api/v1/version" >"$work/version.json"
mkdir -p "$work/static"
chmod 755 "$work" "$work/static" # h2o started as root serves files as nobody
cp "$work/version.json" "$work/static/version.json"
hport=$((port + 1))
cat >"$work/h2o.conf" <<CONF
listen:
  port: $hport
  host: 127.0.0.1
num-threads: 2
access-log: $work/h2o-access.log
hosts:
  default:
    paths:
      /api/v1:
        file.dir: $work/static
CONF
h2o -c "$work/h2o.conf" >"$work/h2o.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$hport/api/v1/version.json" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$hport/api/v1/version.json" >/dev/null || { cat "$work/h2o.log"; exit 1; }

n=${N:-200000}
h2() { h2load -n "$n" -c 50 -m 10 -t 1 "$1" 2>/dev/null | awk '/^finished in/ {gsub(/,/,""); print $4}'; }
h1() { wrk -t 1 -c 50 -d "${WRK_SECONDS:-5}s" "$1" 2>/dev/null | awk '/Requests\/sec/ {print $2}'; }
for i in 1 2 3 4 5; do
  echo "$(h2 "http://127.0.0.1:$port/api/v1/version") $(h2 "http://127.0.0.1:$hport/api/v1/version.json")" >>"$work/h2"
  echo "$(h1 "http://127.0.0.1:$port/api/v1/version") $(h1 "http://127.0.0.1:$hport/api/v1/version.json")" >>"$work/h1"
done
c2=$(awk '{print $1}' "$work/h2" | median); b2=$(awk '{print $2}' "$work/h2" | median)
c1=$(awk '{print $1}' "$work/h1" | median); b1=$(awk '{print $2}' "$work/h1" | median)
echo "machine: $(machine)"
echo "h2c  h2load -n $n -c 50 -m 10: cityd $c2 req/s, h2o static $b2 req/s, ratio $(echo "scale=2; $c2/$b2" | bc)"
echo "h1   wrk -t1 -c50: cityd $c1 req/s, h2o static $b1 req/s, ratio $(echo "scale=2; $c1/$b1" | bc)"
echo "raw runs (cityd h2o):"; sed 's/^/  h2c /' "$work/h2"; sed 's/^/  h1  /' "$work/h1"
