#!/usr/bin/env bash
# tests/lint/format.sh ROOT CLANG_FORMAT: lint.format — `clang-format --dry-run --Werror` over
# every *.c and *.h in server/ api/ media/ tests/ bench/ (not build/, not node_modules), found at
# test time so new files are covered. Fix with `cmake --build build/dev --target format`.
set -euo pipefail
root=${1:?usage: format.sh ROOT CLANG_FORMAT}
cf=${2:-}
if [[ -z $cf || $cf == *NOTFOUND* ]] || ! command -v "$cf" >/dev/null; then
  echo "format: clang-format not found: install it (scripts/deps.sh) and re-run cmake"
  exit 1
fi
cd "$root"
mapfile -d '' files < <(find server api media tests bench \
  \( -name build -o -name node_modules -o -name .git \) -prune -o \
  -type f \( -name '*.c' -o -name '*.h' \) -print0 2>/dev/null | sort -z)
if ((${#files[@]} == 0)); then
  echo "format: no C sources found under $root"
  exit 1
fi
if ! "$cf" --dry-run --Werror "${files[@]}"; then
  echo "format: the files above are not clang-formatted (.clang-format);" \
       "run: cmake --build build/dev --target format   (or clang-format -i FILE)"
  exit 1
fi
echo "format: ${#files[@]} files formatted"
