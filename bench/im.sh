#!/usr/bin/env bash
# bench/im.sh: instant messaging (issue 11) on the gateway — 1:1 latency at stepped message rates
# and a 200-member group's fan-out (bench/tools/im_load.js), each against a baseline measured
# in the same run on the same sockets: ping/pong round trips for 1:1 (the gateway without the
# database), shared-stream announcements for the group (stored once, one frame for everyone).
#
#   bench/im.sh            PAIRS=50 RATES=250,500,1000 SECS=5 GROUP=200 MSGS=50
# The goals: 1:1 p99 under 20 ms at 1,000 messages/s; the group's message on every online
# member within 100 ms p99.
source "$(dirname "$0")/lib.sh"
PAIRS=${PAIRS:-50}
RATES=${RATES:-250,500,1000}
SECS=${SECS:-5}
GROUP=${GROUP:-200}
MSGS=${MSGS:-50}
scripts/npm-tools.sh
bench_build
bench_db
bench_cityd "ws.max_msgs_per_s = 1000
db.pool_size = 8"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
# Colleagues imbench1..N: inspectors sharing the demo inspector's password (no hashing here).
n=$((PAIRS * 2 > GROUP ? PAIRS * 2 : GROUP))
pass=$(python3 -c 'import json,sys
print([u for u in json.load(open(sys.argv[1])) if u["role"] == "inspector"][0]["password"])' \
  "$work/logins.json")
mariadb --no-defaults -uroot --socket="$db_sock" cityd_bench -e "
  INSERT INTO users (username, display_name, password_hash, roles)
  SELECT CONCAT('imbench', seq), CONCAT('队员', seq),
         (SELECT password_hash FROM users WHERE username = 'inspector'), 2
  FROM seq_1_to_$n"
wsurl=$(curl -sf "http://127.0.0.1:$port/api/v1/version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["ws_url"])')
echo "machine: $(machine)"
ADMIN_TOKEN=$(bench_token admin) node "$root/bench/tools/im_load.js" "http://127.0.0.1:$port" \
  "$wsurl" imbench "$pass" "$PAIRS" "$RATES" "$SECS" "$GROUP" "$MSGS"
echo "cityd RSS after: $(awk '/VmRSS/{print $2}' /proc/"${pids[0]}"/status) KiB"
