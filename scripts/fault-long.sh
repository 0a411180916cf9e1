#!/usr/bin/env bash
# scripts/fault-long.sh [SOAK_MINUTES]: the longer fault run of docs/reliability.md (not ./test).
#   1. the fault label three times in a row on the dev (ASan/UBSan) build: repeatable, not lucky;
#   2. every libFuzzer target of the fuzz preset for FUZZ_SECONDS each (default 600);
#   3. the soak (tests/fault/soak.c): the ASan cityd at half its measured capacity for
#      SOAK_MINUTES (default 30) with flat RSS, constant descriptors and threads, no 5xx, the
#      ledger clean and no sanitizer report.
# Each step prints its result; the script stops at the first failure. About an hour in all.
set -euo pipefail
cd "$(dirname "$0")/.."
soak=${1:-${SOAK_MINUTES:-30}}
fuzz_s=${FUZZ_SECONDS:-600}

scripts/deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev -j"$(nproc)"
echo "fault-long: 1/3 the fault label, three times"
for i in 1 2 3; do
  (cd build/dev && ctest --output-on-failure -L fault)
done

echo "fault-long: 2/3 libFuzzer, ${fuzz_s} s per target"
cmake --preset fuzz -DCITYD_FUZZ_SECONDS="$fuzz_s" >/dev/null
cmake --build --preset fuzz -j"$(nproc)"
(cd build/fuzz && ctest --output-on-failure -L fuzz --timeout $((fuzz_s + 120)))

echo "fault-long: 3/3 soak, ${soak} min"
db=$(mktemp -d /tmp/cityd-soak-db.XXXXXX)
trap 'scripts/db.sh wipe "$db" >/dev/null 2>&1 || true' EXIT
scripts/db.sh start "$db"
CITYD_TEST_DB_SOCKET="$db/mysqld.sock" CITYD_SOURCE_DIR="$PWD" SOAK_MINUTES="$soak" \
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" build/dev/tests/fault/fault_soak
echo "fault-long: all passed"
