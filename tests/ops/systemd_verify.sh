#!/usr/bin/env bash
# tests/ops/systemd_verify.sh ROOT CITYD: ops.systemd_verify.
# `systemd-analyze verify` on etc/cityd.service (and the backup and audit-purge services and timers), with ExecStart pointed at the built binary
# (verify checks that the program exists). verify exits 0 on unknown keys and bad values, so any
# line it prints fails the test too. Then `systemd-analyze security --offline` must rate the
# sandbox at most 2.0 ("OK"; 10 = no sandbox at all).
set -euo pipefail
root=$1 cityd=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -q '^ExecStart=/usr/local/bin/cityd ' "$root/etc/cityd.service" || {
  echo "systemd_verify: etc/cityd.service: ExecStart is not /usr/local/bin/cityd"; exit 1; }
sed "s|^ExecStart=/usr/local/bin/cityd |ExecStart=$cityd |" "$root/etc/cityd.service" > "$tmp/cityd.service"
rc=0
out=$(cd "$tmp" && systemd-analyze verify --man=no ./cityd.service 2>&1) || rc=$?
if [[ $rc -ne 0 || -n $out ]]; then
  echo "systemd_verify: systemd-analyze verify etc/cityd.service (exit $rc):"
  echo "$out"
  exit 1
fi
# The nightly backup unit and its timer, with ExecStart pointed at the repository's script.
sed "s|^ExecStart=/usr/local/share/cityd/backup.sh |ExecStart=$root/scripts/backup.sh |" \
  "$root/etc/cityd-backup.service" > "$tmp/cityd-backup.service"
grep -q "^ExecStart=$root/scripts/backup.sh " "$tmp/cityd-backup.service" || {
  echo "systemd_verify: etc/cityd-backup.service: ExecStart is not /usr/local/share/cityd/backup.sh"; exit 1; }
cp "$root/etc/cityd-backup.timer" "$tmp/"
rc=0
out=$(cd "$tmp" && systemd-analyze verify --man=no ./cityd-backup.service ./cityd-backup.timer 2>&1) || rc=$?
if [[ $rc -ne 0 || -n $out ]]; then
  echo "systemd_verify: systemd-analyze verify etc/cityd-backup.{service,timer} (exit $rc):"
  echo "$out"
  exit 1
fi
# The nightly audit purge and its timer, with ExecStart pointed at the built binary.
grep -q '^ExecStart=/usr/local/bin/cityd -c /etc/cityd/cityd.conf audit-purge ' \
  "$root/etc/cityd-audit-purge.service" || {
  echo "systemd_verify: etc/cityd-audit-purge.service: ExecStart is not cityd … audit-purge"; exit 1; }
sed "s|^ExecStart=/usr/local/bin/cityd |ExecStart=$cityd |" \
  "$root/etc/cityd-audit-purge.service" > "$tmp/cityd-audit-purge.service"
cp "$root/etc/cityd-audit-purge.timer" "$tmp/"
rc=0
out=$(cd "$tmp" && systemd-analyze verify --man=no ./cityd-audit-purge.service ./cityd-audit-purge.timer 2>&1) || rc=$?
if [[ $rc -ne 0 || -n $out ]]; then
  echo "systemd_verify: systemd-analyze verify etc/cityd-audit-purge.{service,timer} (exit $rc):"
  echo "$out"
  exit 1
fi
for want in 'User=cityd' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'Type=oneshot' \
            'EnvironmentFile=/etc/cityd/audit-purge.env'; do
  grep -q "^$want" "$tmp/cityd-audit-purge.service" || {
    echo "systemd_verify: cityd-audit-purge.service: missing $want"; exit 1; }
done
if ! out=$(cd "$tmp" && systemd-analyze security --offline=yes --threshold=20 --no-pager ./cityd-audit-purge.service 2>&1); then
  echo "systemd_verify: cityd-audit-purge.service: exposure above 2.0:"
  echo "$out" | tail -5
  exit 1
fi
for want in 'Type=notify' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'User=cityd' \
            'LimitNOFILE=' 'Restart=on-failure' 'ReadWritePaths=/var/lib/cityd /var/log/cityd'; do
  grep -q "^$want" "$tmp/cityd.service" || { echo "systemd_verify: missing $want"; exit 1; }
done
if ! out=$(cd "$tmp" && systemd-analyze security --offline=yes --threshold=20 --no-pager ./cityd.service 2>&1); then
  echo "systemd_verify: exposure above 2.0:"
  echo "$out" | tail -5
  exit 1
fi
echo "$out" | tail -1
