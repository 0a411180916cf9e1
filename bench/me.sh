#!/usr/bin/env bash
# bench/me.sh: authenticated GET /api/v1/me (token check + the user's row + JSON) over h2c with
# `h2load -c 50 -m 10`, against MariaDB's own primary-key select rate measured on the same
# server in the same run (`mariadb-slap`, 16 clients, unix socket). Runs alternate three times;
# the figure is the ratio of medians. Goal (issue 3): at least 0.75x. A second figure has five
# users' tokens at once (five h2load processes), so batched token checks span several users.
source "$(dirname "$0")/lib.sh"
bench_build
bench_db
bench_cityd "http.threads = 2
db.pool_size = 8"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
token=$(bench_token inspector)
curl -sf "http://127.0.0.1:$port/api/v1/me" -H "Authorization: Bearer $token" >/dev/null
# Five callers at once (five h2load processes of 10 connections, each with its own user's
# token): batches then hold different users and sessions.
users=(inspector handler operator dispatcher leader)
tokens=()
for u in "${users[@]}"; do tokens+=("$(bench_token "$u")"); done

n=${N:-100000}
q=${Q:-200000}
me() { h2load -n "$n" -c 50 -m 10 -t 1 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/me" 2>/dev/null |
  awk '/^finished in/ {gsub(/,/,""); print $4} /^status codes:/ {if ($3+0 != '"$n"') print "non-2xx" > "/dev/stderr"}'; }
me5() {
  local i t0 t1
  t0=$(date +%s.%N)
  for i in 0 1 2 3 4; do
    h2load -n $((n / 5)) -c 10 -m 10 -t 1 -H "Authorization: Bearer ${tokens[$i]}" "http://127.0.0.1:$port/api/v1/me" >"$work/me5.$i" 2>/dev/null &
  done
  wait
  t1=$(date +%s.%N)
  for i in 0 1 2 3 4; do grep -q "status codes: $((n / 5)) 2xx" "$work/me5.$i" || echo "non-2xx" >&2; done
  echo "scale=0; $n / ($t1 - $t0)" | bc
}
slap() { bench_slap cityd_bench "$q" "SELECT id, username, display_name, roles FROM users WHERE id = 1"; }
for i in 1 2 3; do echo "$(me) $(slap) $(me5)" >>"$work/runs"; done
c=$(awk '{print $1}' "$work/runs" | median); b=$(awk '{print $2}' "$work/runs" | median)
c5=$(awk '{print $3}' "$work/runs" | median)
echo "machine: $(machine)"
echo "GET /api/v1/me h2load -n $n -c 50 -m 10: $c req/s; mariadb-slap PK select, 16 clients: $b q/s; ratio $(echo "scale=2; $c/$b" | bc)"
echo "GET /api/v1/me, five users (5 x h2load -c 10 -m 10): $c5 req/s; ratio $(echo "scale=2; $c5/$b" | bc)"
echo "raw runs (cityd slap cityd-5-users):"; sed 's/^/  /' "$work/runs"
