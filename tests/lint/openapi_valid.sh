#!/usr/bin/env bash
# tests/lint/openapi_valid.sh ROOT: lint.openapi_valid — `redocly lint openapi.yaml` with
# tests/lint/redocly.yaml (Redocly's recommended ruleset, warnings as errors).
# Redocly comes from tests/tools (pinned in package-lock.json); a missing install is a failure,
# never a skip.
set -euo pipefail
root=${1:?usage: openapi_valid.sh ROOT}
redocly=$root/tests/tools/node_modules/.bin/redocly
if [[ ! -x $redocly ]]; then
  echo "openapi_valid: $redocly is missing: run scripts/npm-tools.sh (installs the pinned npm" \
       "tools under tests/tools/node_modules)"
  exit 1
fi
# No telemetry or update checks: the test must not need the network.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
cd "$root"
exec "$redocly" lint --config tests/lint/redocly.yaml openapi.yaml
