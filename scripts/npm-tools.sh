#!/usr/bin/env bash
# scripts/npm-tools.sh: the npm tools the test suite uses (OpenAPI lint, WebSocket and HTTP/2
# clients), pinned in tests/tools/package-lock.json and installed under tests/tools/.
set -euo pipefail
cd "$(dirname "$0")/../tests/tools"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules ]]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  touch node_modules
fi
