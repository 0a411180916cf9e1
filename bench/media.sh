#!/usr/bin/env bash
# bench/media.sh: photo uploads (issue 4). A generated 12-megapixel noisy JPEG (4-5 MB) is
# uploaded to POST /api/v1/media, which decodes it once and stores the stripped original
# (Q90), the display rendition (1280, Q82) and the thumbnail (320, Q75). The baseline makes the
# same three outputs with the libvips CLI in the same run: `vips copy` (original) and two
# `vipsthumbnail` calls, their process start-up (a `vipsheader` of a 16x16 JPEG, per process)
# subtracted. Figures, medians of ROUNDS alternating rounds:
#   1. CPU per upload: cityd's user+system time over K sequential uploads (from /proc) against
#      the CLI's (getrusage of the children) for the same K photos.      goal <= 1.15x
#   2. uploads/s with both cores busy: 4 concurrent uploaders against two CLI pipelines in
#      parallel, same photos.                                             goal >= 1.2x
#   3. memory: cityd's peak RSS while 1 and 4 uploads are in flight, against its idle RSS.
#      goal: growth <= ~26 MiB per upload beyond its own size; < 200 MiB whole with 4.
# Knobs: K (photos per round, default 8), ROUNDS (default 3), SKIP_BUILD=1.
# Each upload carries different bytes (a counter after the JPEG's end marker, which decoding
# ignores) so that the content-hash dedupe never short-cuts the work.
source "$(dirname "$0")/lib.sh"
K=${K:-8}
ROUNDS=${ROUNDS:-3}

# SKIP_BUILD=1 reuses build/release/server/cityd (when the tree is mid-edit).
if [[ -z ${SKIP_BUILD:-} ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j2 --target cityd >/dev/null
fi
bench_db
bench_cityd "http.threads = 2"
pid=${pids[-1]}
cityd_bin=build/release/server/cityd

# ---- inputs ----------------------------------------------------------------------------
cd "$work"
vips gaussnoise n.v 4000 3000 --mean 128 --sigma 11
vips cast n.v c.v uchar
vips bandjoin "c.v c.v c.v" rgb.v
vips copy rgb.v "photo.jpg[Q=90]"
vips crop rgb.v t.v 0 0 16 16 && vips copy t.v "tiny.jpg[Q=90]"
rm -f n.v c.v rgb.v t.v
size=$(stat -c %s photo.jpg)
mkdir -p in
for i in $(seq 1 $((K * (ROUNDS * 3 + 4)))); do
  cp photo.jpg "in/$i.jpg"
  printf 'cityd-bench-%08d' "$i" >>"in/$i.jpg"
done
cd "$root"

# ---- a token -------------------------------------------------------------------------------
"$cityd_bin" -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null 2>&1
read -r user pass < <(/usr/bin/python3 -c '
import json,sys
for u in json.load(open(sys.argv[1])):
    if u["role"] == "inspector": print(u["username"], u["password"])' "$work/logins.json")
token=$(curl -s "http://127.0.0.1:$port/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"account\":\"$user\",\"password\":\"$pass\",\"device_id\":\"bench\",\"platform\":\"android\"}" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

next=1
# Sets $f to the next unused photo (not a $(...) call: that would run in a subshell).
take() { f="$work/in/$next.jpg"; next=$((next + 1)); }
alive() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
upload() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge \
    -H "Authorization: Bearer $token" -H 'Content-Type: image/jpeg' \
    --data-binary "@$1" "http://127.0.0.1:$port/api/v1/media")
  [[ $code == 201 ]] || echo "upload $1: HTTP $code" >&2
}
export -f upload
export token port
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
# The three outputs with the CLI, one photo.
cli_one() {
  local f=$1 o=$2
  vips copy "$f" "$o/orig.jpg[Q=90,strip]"
  vipsthumbnail "$f" -s 1280 -o "$o/disp.jpg[Q=82,strip,optimize_coding]"
  vipsthumbnail "$f" -s 320 -o "$o/thumb.jpg[Q=75,strip,optimize_coding]"
}
export -f cli_one
# Children's user+sys seconds of a command (bash `times` after it, minus before).
child_cpu() {
  local t0 t1
  t0=$(/usr/bin/python3 -c 'import os; t=os.times(); print(t.children_user + t.children_system)')
  "$@"
  t1=$(/usr/bin/python3 -c 'import os; t=os.times(); print(t.children_user + t.children_system)')
  echo "$t0 $t1"
}

# Process start-up of one libvips CLI call.
startup=$(/usr/bin/python3 - "$work/tiny.jpg" <<'PY'
import os, subprocess, sys
n = 20
t0 = os.times()
for _ in range(n):
    subprocess.run(["vipsheader", sys.argv[1]], stdout=subprocess.DEVNULL, check=True)
t1 = os.times()
print(((t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)) / n)
PY
)

# Warm up (page cache, first connections, libvips modules).
for _ in 1 2; do take; upload "$f"; done
mkdir -p "$work/o"
take; cli_one "$f" "$work/o"
idle_rss=$(rss_kb)

for r in $(seq 1 "$ROUNDS"); do
  # 1. CPU, sequential.
  files=(); for _ in $(seq 1 "$K"); do take; files+=("$f"); done
  c0=$(cpu_ticks)
  for g in "${files[@]}"; do upload "$g"; done
  c1=$(cpu_ticks)
  srv_cpu=$(echo "scale=4; ($c1 - $c0) / $hz / $K" | bc)
  cli=$(/usr/bin/python3 - "$work/o" "$startup" "${files[@]}" <<'PY'
import os, subprocess, sys
o, startup, files = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
t0 = os.times()
for f in files:
    subprocess.run(["bash", "-c", 'cli_one "$0" "$1"', f, o], check=True)
t1 = os.times()
# bash itself is also a child: its start-up is part of the pipeline cost, like vips' own.
cpu = (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)
print("%.4f" % (cpu / len(files) - 3 * startup))
PY
)
  echo "$srv_cpu $cli" >>"$work/cpu"

  # 2. Throughput with both cores busy: 4 uploaders vs two CLI pipelines.
  files=(); for _ in $(seq 1 "$K"); do take; files+=("$f"); done
  t0=$(date +%s.%N)
  printf '%s\n' "${files[@]}" | xargs -P 4 -I{} bash -c 'upload "$1"' _ {}
  t1=$(date +%s.%N)
  srv_rate=$(echo "scale=3; $K / ($t1 - $t0)" | bc)
  t0=$(date +%s.%N)
  mkdir -p "$work/o1" "$work/o2"
  printf '%s\n' "${files[@]}" | awk 'NR % 2 == 1' | while read -r f; do cli_one "$f" "$work/o1"; done &
  a=$!
  printf '%s\n' "${files[@]}" | awk 'NR % 2 == 0' | while read -r f; do cli_one "$f" "$work/o2"; done &
  b=$!
  wait "$a" "$b"
  t1=$(date +%s.%N)
  cli_rate=$(echo "scale=3; $K / ($t1 - $t0)" | bc)
  echo "$srv_rate $cli_rate" >>"$work/rate"

  # 3. Memory: peak RSS with 1, then 4 uploads in flight.
  for inflight in 1 4; do
    base=$(rss_kb); peak=$base; up=()
    for _ in $(seq 1 "$inflight"); do take; upload "$f" & up+=($!); done
    while alive "${up[@]}"; do
      v=$(rss_kb); ((v > peak)) && peak=$v
      sleep 0.01
    done
    wait "${up[@]}"
    echo "$inflight $base $peak" >>"$work/mem"
  done
done

# ---- report ------------------------------------------------------------------------------
s=$(awk '{print $1}' "$work/cpu" | median); c=$(awk '{print $2}' "$work/cpu" | median)
sr=$(awk '{print $1}' "$work/rate" | median); cr=$(awk '{print $2}' "$work/rate" | median)
p1=$(awk '$1 == 1 {print $3 - $2}' "$work/mem" | median)
p4=$(awk '$1 == 4 {print $3 - $2}' "$work/mem" | median)
w4=$(awk '$1 == 4 {print $3}' "$work/mem" | sort -n | tail -1)
echo "machine: $(machine)"
echo "photo: 4000x3000 noisy JPEG, $size bytes; K=$K per round, $ROUNDS rounds; CLI start-up $startup s/process"
echo "CPU per upload: cityd $s s, CLI $c s (start-up subtracted), ratio $(echo "scale=2; $s / $c" | bc)"
echo "uploads/s, both cores busy: cityd $sr (4 uploaders), CLI $cr (2 pipelines), ratio $(echo "scale=2; $sr / $cr" | bc)"
echo "idle RSS $((idle_rss / 1024)) MiB; growth with 1 in flight $((p1 / 1024)) MiB; with 4 in flight $((p4 / 1024)) MiB ($((p4 / 4 / 1024)) MiB each); peak RSS with 4 in flight $((w4 / 1024)) MiB"
echo "raw: cpu (cityd cli)"; sed 's/^/  /' "$work/cpu"
echo "raw: rate (cityd cli)"; sed 's/^/  /' "$work/rate"
echo "raw: mem (inflight base_kb peak_kb)"; sed 's/^/  /' "$work/mem"
