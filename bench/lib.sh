# bench/lib.sh: shared set-up for the benchmark scripts (sourced, not run).
# A release build, a private MariaDB under var/bench-db and a cityd on a free port, stopped at
# exit. Results are ratios against a baseline measured in the same run: these machines are noisy.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
work=$(mktemp -d /tmp/cityd-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# bench_build: the release build; SKIP_BUILD=1 (every script) uses build/release as it is.
bench_build() {
  [[ -z ${SKIP_BUILD:-} ]] || return 0
  cmake --preset release >/dev/null
  cmake --build --preset release -j"$(nproc)" >/dev/null
}

bench_db() {
  scripts/db.sh start var/bench-db
  db_sock=$root/var/bench-db/mysqld.sock
  mariadb --no-defaults -uroot --socket="$db_sock" -e \
    "DROP DATABASE IF EXISTS cityd_bench; CREATE DATABASE cityd_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
}

# bench_cityd [extra config lines]: starts cityd, sets $port.
bench_cityd() {
  head -c 48 /dev/urandom >"$work/jwt.key"
  cat >"$work/cityd.conf" <<CONF
http.listen = 127.0.0.1:0
ws.listen = 127.0.0.1:0
db.socket = $db_sock
db.user = root
db.name = cityd_bench
migrations.dir = $root/migrations
auth.jwt_secret_file = $work/jwt.key
media.dir = $work/media
${1:-}
CONF
  "${CITYD_BIN:-build/release/server/cityd}" -c "$work/cityd.conf" serve --port-file "$work/port" 2>"$work/cityd.log" &
  pids+=($!)
  for _ in $(seq 1 600); do [[ -s $work/port ]] && break; sleep 0.1; done # migrations: slow on a busy machine
  port=$(cat "$work/port")
}

machine() {
  echo "$(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
}

# bench_token ROLE: log in as the seeded demo user of ROLE (logins in $work/logins.json, written
# by `cityd seed-demo --logins`) and print the access token.
bench_token() {
  local user pass
  read -r user pass < <(python3 -c '
import json,sys
for u in json.load(open(sys.argv[1])):
    if u["role"] == sys.argv[2]: print(u["username"], u["password"])' "$work/logins.json" "$1")
  curl -sf "http://127.0.0.1:$port/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"account\":\"$user\",\"password\":\"$pass\",\"device_id\":\"bench-$1\",\"platform\":\"web\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# bench_slap SCHEMA N QUERY: mariadb-slap, 16 clients over the unix socket; prints queries/s.
bench_slap() {
  local t0 t1
  t0=$(date +%s.%N)
  mariadb-slap --no-defaults -uroot --socket="$db_sock" --create-schema="$1" --concurrency=16 \
    --iterations=1 --number-of-queries="$2" --query="$3" >/dev/null
  t1=$(date +%s.%N)
  echo "scale=0; $2 / ($t1 - $t0)" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
