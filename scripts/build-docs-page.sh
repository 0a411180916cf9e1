#!/usr/bin/env bash
# scripts/build-docs-page.sh OPENAPI OUT_DIR: the API reference page cityd serves at /docs.
#
# Renders openapi.yaml with Redoc's standalone bundle from the pinned npm tools (tests/tools,
# installed by scripts/npm-tools.sh; the version is in package-lock.json). The page is a small
# HTML file that loads /docs/redoc.standalone.js and renders /docs/openapi.yaml in the browser.
# (`redocly build-docs` pre-renders instead, but its server-side React and the bundle's React
# disagree and the browser logs hydration errors; and it links the bundle from a CDN and the
# fonts from Google. This page fetches nothing from the internet.)
# Writes OUT_DIR/index.html, redoc.standalone.js and openapi.yaml, each also as .gz.
# Without the npm tools it writes nothing and says so (cityd then answers /docs with 404).
set -euo pipefail
spec=$1 out=$2
tools=$(cd "$(dirname "$0")/../tests/tools" && pwd)
bundle=$tools/node_modules/redoc/bundles/redoc.standalone.js
if [[ ! -f $bundle ]]; then
  echo "build-docs-page: npm tools missing (run scripts/npm-tools.sh); /docs will not be served" >&2
  exit 0
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
title=$(sed -n 's/^  title: *//p' "$spec" | head -1)
cat > "$tmp/index.html" <<HTML
<!DOCTYPE html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <title>${title:-cityd} API reference</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="data:,">
  <style>body { margin: 0; padding: 0; }</style>
</head>
<body>
  <noscript>This reference needs JavaScript; the contract itself is <a href="/docs/openapi.yaml">openapi.yaml</a>.</noscript>
  <div id="redoc"></div>
  <script src="/docs/redoc.standalone.js"></script>
  <script>Redoc.init('/docs/openapi.yaml', {}, document.getElementById('redoc'));</script>
</body>
</html>
HTML
# The one thing the bundle loads from the internet is the "API docs by Redocly" logo in the
# menu (cdn.redoc.ly/redoc/logo-mini.svg, unconditionally): point it at an empty inline image.
sed 's#https://cdn\.redoc\.ly/redoc/logo-mini\.svg#data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27/%3E#' \
  "$bundle" > "$tmp/redoc.standalone.js"
if grep -Eq '"https://cdn\.' "$tmp/redoc.standalone.js"; then
  echo "build-docs-page: the Redoc bundle loads from a CDN somewhere else too:" >&2
  grep -Eo '"https://cdn\.[^"]*"' "$tmp/redoc.standalone.js" >&2
  exit 1
fi
cp "$spec" "$tmp/openapi.yaml"
# Served compressed to clients that accept gzip (1.3 MB -> about 0.35 MB).
for f in index.html redoc.standalone.js openapi.yaml; do gzip -9 -n -k "$tmp/$f"; done
for f in index.html redoc.standalone.js openapi.yaml index.html.gz redoc.standalone.js.gz openapi.yaml.gz; do
  cmp -s "$tmp/$f" "$out/$f" || cp "$tmp/$f" "$out/$f"
done
