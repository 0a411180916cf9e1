#!/usr/bin/env bash
# bench/pois.sh: nearby services (issue 14) — GET /api/v1/pois/nearby over NP POIs.
#  cityd: Q requests over h2c (`h2load -c 16 -m 4`), 200 different places in turn (`-i`),
#         radius 1000 m, limit 20, any type, against
#  floor: the statement the endpoint runs (R-tree cut by the radius's box, ST_Distance_Sphere,
#         ORDER BY dist LIMIT 20) for one place, by mariadb-slap with 16 clients: the database's
#         own rate for the same answer. Goal >= 0.5x.
#  scan:  the same statement with the spatial index ignored (IGNORE INDEX (pois_pt)), by
#         mariadb-slap, to show what the index buys (reported as floor / scan).
# Knobs: NP (100000 POIs within about 20 km of 苏州), Q (20000), QS (2000 scan queries),
#        ROUNDS (3), SKIP_BUILD.
source "$(dirname "$0")/lib.sh"
NP=${NP:-100000}
Q=${Q:-20000}
QS=${QS:-2000}
ROUNDS=${ROUNDS:-3}

if [[ -z ${SKIP_BUILD:-} ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j2 --target cityd >/dev/null
fi
scripts/db.sh start var/bench-db
db_sock=$root/var/bench-db/mysqld.sock
dbname=cityd_bench_pois
sql() { mariadb --no-defaults -uroot --socket="$db_sock" "$@"; }
sql -e "DROP DATABASE IF EXISTS $dbname; CREATE DATABASE $dbname CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
bench_cityd "http.threads = 2
db.pool_size = 16
db.name = $dbname"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null 2>&1
base=http://127.0.0.1:$port
admin=$(bench_token admin)
citizen=$(bench_token citizen)
echo "machine: $(machine)"

# NP POIs in a 0.36 x 0.42 degree box (about 40 x 40 km) around 31.30, 120.60, in files of
# 50,000 rows (the import's limit), and 200 query places inside the box.
python3 - "$work" "$NP" <<'PY'
import random, sys
work, n = sys.argv[1], int(sys.argv[2])
random.seed(14)
types = ["toilet", "parking", "refuse_point", "recycling"]
k = 0
for f in range((n + 49999) // 50000):
    with open(f"{work}/pois.{f}.csv", "w") as out:
        out.write("type,name,lat,lng,ref\n")
        for _ in range(min(50000, n - k)):
            out.write(f"{random.choice(types)},设施{k},{31.30 + (random.random() - 0.5) * 0.36:.7f},"
                      f"{120.60 + (random.random() - 0.5) * 0.42:.7f},b{k}\n")
            k += 1
with open(f"{work}/urls.txt", "w") as out:
    for _ in range(200):
        out.write(f"/api/v1/pois/nearby?lat={31.30 + (random.random() - 0.5) * 0.3:.6f}"
                  f"&lng={120.60 + (random.random() - 0.5) * 0.35:.6f}&radius=1000&limit=20\n")
PY
t0=$(date +%s.%N)
for f in "$work"/pois.*.csv; do
  curl -sf --http2-prior-knowledge "$base/api/v1/pois/import" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: text/csv' --data-binary @"$f" >/dev/null
done
t1=$(date +%s.%N)
echo "import: $NP POIs in $(echo "scale=1; ($t1 - $t0) / 1" | bc) s"
sql "$dbname" -e "ANALYZE TABLE pois" >/dev/null
first=$(head -1 "$work/urls.txt")
n_answer=$(curl -sf --http2-prior-knowledge "$base$first" -H "Authorization: Bearer $citizen" |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
echo "first place: $n_answer POIs within 1000 m"

# The endpoint's statement for the place 31.30, 120.60 (the box as poi.c builds it).
stmt() {
  python3 - "$1" <<'PY'
import math, sys
lat, lng, r = 31.30, 120.60, 1000.0
dlat = r / 110540.0 * 1.01
dlng = r / (111320.0 * math.cos((abs(lat) + dlat) * math.pi / 180)) * 1.01
box = (f"POLYGON(({lng-dlng:.7f} {lat-dlat:.7f},{lng+dlng:.7f} {lat-dlat:.7f},{lng+dlng:.7f} "
       f"{lat+dlat:.7f},{lng-dlng:.7f} {lat+dlat:.7f},{lng-dlng:.7f} {lat-dlat:.7f}))")
hint = "IGNORE INDEX (pois_pt)" if sys.argv[1] == "scan" else ""
print(f"SELECT id, type, name, address, source_ref, lat, lng, ST_Distance_Sphere(pt, "
      f"ST_GeomFromText('POINT({lng} {lat})')) AS dist FROM pois {hint} WHERE "
      f"MBRContains(ST_GeomFromText('{box}'), pt) AND active = 1 HAVING dist <= 1000 "
      f"ORDER BY dist, id LIMIT 20")
PY
}
floor_q=$(stmt index)
scan_q=$(stmt scan)
echo "plan: $(sql -N "$dbname" -e "EXPLAIN $floor_q" | awk -F'\t' '{print $4, $6, $10}')"

for r in $(seq 1 "$ROUNDS"); do
  c=$(h2load -n "$Q" -c 16 -m 4 -i "$work/urls.txt" -B "$base" \
    -H "authorization: Bearer $citizen" 2>/dev/null | awk '/^finished in/ {print $4}')
  ok=$(h2load -n 200 -c 1 -i "$work/urls.txt" -B "$base" -H "authorization: Bearer $citizen" \
    2>/dev/null | awk '/^status codes:/ {print $3}')
  f=$(bench_slap "$dbname" "$Q" "$floor_q")
  s=$(bench_slap "$dbname" "$QS" "$scan_q")
  echo "round $r: cityd $c req/s (2xx of 200: $ok), floor $f q/s, scan $s q/s;" \
    "cityd/floor $(echo "scale=2; $c / $f" | bc)x, floor/scan $(echo "scale=1; $f / $s" | bc)x"
done
