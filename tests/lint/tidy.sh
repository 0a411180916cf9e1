#!/usr/bin/env bash
# tests/lint/tidy.sh ROOT BUILD_DIR CLANG_TIDY: tidy.all — clang-tidy with the repository's
# .clang-tidy over every C file of server/ api/ media/, compiled as BUILD_DIR's
# compile_commands.json says. Prints each finding as file:line; fails when there is one.
set -euo pipefail
root=${1:?root} build=${2:?build dir} tidy=${3:?clang-tidy}
cd "$root"
[[ -f $build/compile_commands.json ]] || { echo "tidy: no $build/compile_commands.json" >&2; exit 2; }
out=$(find server api media -name '*.c' -print0 | sort -z |
  xargs -0 -P "$(nproc)" -n 8 "$tidy" -p "$build" --quiet 2>/dev/null || true)
# Findings located in system headers (/usr/...) are the analyzer's view of library code, not ours.
found=$(printf '%s\n' "$out" | grep -E ': (warning|error):' | grep -v '^/usr/' || true)
if [[ -n $found ]]; then
  printf '%s\n' "$out"
  echo "tidy: $(printf '%s\n' "$found" | wc -l) finding(s) (.clang-tidy)"
  exit 1
fi
echo "tidy: $(find server api media -name '*.c' | wc -l) files clean"
