#!/usr/bin/env bash
# bench/report_ceiling.sh: how many durable reports a second MariaDB alone could take on this
# machine if cityd grouped K reports per transaction perfectly (bench/tools/report_batch_sql.py:
# multi-row statements for everything a report writes and reads), 16 clients over the unix
# socket, against the single-row INSERT rate of issue 5's goal measured in the same run. No
# HTTP, JSON or load generator shares the cores here, so cityd could only do worse.
# Knobs: KS ("1 16 64"), R (reports per client per K, 400), QI (slap inserts, 20000).
source "$(dirname "$0")/lib.sh"
bench_build
bench_db
bench_cityd "http.threads = 1"
build/release/server/cityd -c "$work/cityd.conf" seed-demo --logins "$work/logins.json" >/dev/null
sql() { mariadb --no-defaults -uroot --socket="$db_sock" "$@"; }
cat_id=$(sql -N cityd_bench -e "SELECT id FROM categories WHERE code_set = 'gbt30428' AND kind = 'event' AND full_code = '0102'")
reporter=$(sql -N cityd_bench -e "SELECT id FROM users WHERE username = 'inspector'")
sql cityd_bench -e "CREATE TABLE bench_insert (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  a INT NOT NULL, b VARCHAR(200) NOT NULL, created_at DATETIME(3) NOT NULL) ENGINE=InnoDB"
R=${R:-400}
QI=${QI:-20000}
echo "machine: $(machine)"
for k in ${KS:-1 16 64}; do
  n=$(((R + k - 1) / k))
  for c in $(seq 1 16); do python3 bench/tools/report_batch_sql.py "$k" "$n" "$k.$c.$RANDOM" "$cat_id" "$reporter" >"$work/q.$c.sql"; done
  t0=$(date +%s.%N)
  cl=()
  for c in $(seq 1 16); do sql cityd_bench <"$work/q.$c.sql" >/dev/null & cl+=($!); done
  wait "${cl[@]}"
  t1=$(date +%s.%N)
  r=$(echo "scale=0; 16 * $n * $k / ($t1 - $t0)" | bc)
  i=$(bench_slap cityd_bench "$QI" "INSERT INTO bench_insert (a, b, created_at) VALUES (1, 'bench row of about forty bytes here', NOW(3))")
  echo "K=$k reports per transaction: $r reports/s; single-row INSERT: $i/s; ratio $(echo "scale=2; $r / $i" | bc)"
done
