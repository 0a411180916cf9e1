#!/usr/bin/env bash
# bench/ws_latency.sh: latency from a committed case action (a dispatch through REST) to the
# handler's WebSocket, at stepped action rates (bench/tools/ws_action_latency.js). The figure
# is measured from the REST answer, which is sent after the commit.
#
#   bench/ws_latency.sh            RATES=50,100,200,400 SECS=5
source "$(dirname "$0")/lib.sh"
RATES=${RATES:-50,100,200,400}
SECS=${SECS:-5}
scripts/npm-tools.sh
bench_build
bench_db
# Shedding off: preparing the cases sends bursts of reports that the shipped shedding would
# partly answer 503; the figure is the latency of the dispatches that commit.
bench_cityd "db.pool_size = 8
db.queue_target_ms = 0"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
wsurl=$(curl -sf "http://127.0.0.1:$port/api/v1/version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["ws_url"])')
echo "machine: $(machine)"
IFS=, read -ra rates <<<"$RATES"
for r in "${rates[@]}"; do
  node "$root/bench/tools/ws_action_latency.js" "http://127.0.0.1:$port" "$wsurl" \
    "$work/logins.json" "$r" "$SECS"
done
