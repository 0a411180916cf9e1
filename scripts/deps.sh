#!/usr/bin/env bash
# scripts/deps.sh: install the Debian packages cityd needs to build, run and test, if missing.
# Idempotent and quiet when everything is there. Needs root (or sudo) only when installing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang-format clang-tidy clang
  libh2o-dev libuv1-dev libssl-dev libwebsockets-dev libmariadb-dev libjwt-dev
  libvips-dev libvips-tools libjansson-dev libxml2-dev libsodium-dev libcmocka-dev libcurl4-openssl-dev
  libsystemd-dev libjemalloc-dev
  mariadb-server mariadb-client
  fonts-droid-fallback curl nghttp2-client wrk h2o bc nodejs npm python3 python3-jwt python3-yaml libimage-exiftool-perl faketime
  mosquitto nginx-light libnginx-mod-nchan  # baselines of bench/ws_*.sh
  libnghttp2-dev  # bench/tools/tracks_load.c
  python3-prometheus-client chromium systemd
  python3-h2 python3-hyperframe python3-hpack slowhttptest  # tests/fault: raw HTTP/2 frames, slow clients
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
# nodejs may come from elsewhere on a developer machine: a working node and npm are enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
