#!/usr/bin/env bash
# scripts/backup.sh: back up a running cityd's MariaDB database and media store together.
#
#   scripts/backup.sh -c /etc/cityd/cityd.conf -o /var/backups/cityd
#
# Makes OUT/cityd-<UTC time>/ with
#   db.sql.gz      mariadb-dump --single-transaction: one consistent InnoDB snapshot, taken
#                  without locking out writers (cityd keeps serving);
#   media.tar      the media store (content-addressed files), copied AFTER the snapshot;
#   MANIFEST       what, when, row and file counts, sha256 of both files;
# and prints that directory's path on the last line. docs/deployment.md explains the procedure.
#
# Why this order is consistent: cityd writes a media file before the row that names it commits,
# and never changes or deletes a file a row names. So every file a row of the snapshot names is
# already on disk when the copy starts and is still there, unchanged, when it is read. Files
# added after the snapshot are copied too; they are harmless (the next sweep removes files no
# row names). tmp/ (writes in progress) and uploads/ (unfinished resumable uploads, which restore
# forgets) are left out.
#
# Connection settings come from the cityd config file (db.socket, db.host, db.port, db.user,
# db.name, media.dir) and the environment as cityd reads them (CITYD_DB_PASSWORD, ...). The
# account needs SELECT, SHOW VIEW, TRIGGER and LOCK TABLES on the database (the runtime user
# of db.runtime_user is not enough: run as the migrating user or a backup user: -u USER).
# The password is passed to the MariaDB tools in a mode-0600 option file, never on argv.
set -euo pipefail

usage() {
  echo "usage: $0 -c CITYD_CONF -o OUT_DIR [-u DB_USER] [--keep N]" >&2
  exit 2
}

conf= out= user_override= keep=0
while (($#)); do
  case $1 in
    -c) conf=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    -u) user_override=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ -n $conf && -n $out ]] || usage
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cityd-conf.sh
. "$here/cityd-conf.sh"
cityd_conf_load "$conf"
[[ -n $user_override ]] && DB_USER=$user_override

stamp=$(date -u +%Y%m%dT%H%M%SZ)
dest=$out/cityd-$stamp
mkdir -p "$out"
umask 077
work=$(mktemp -d "$out/.cityd-backup.XXXXXX")
trap 'rm -rf "$work"' EXIT
cityd_mysql_defaults "$work/my.cnf"

# 1. The database: one consistent snapshot. --single-transaction starts a REPEATABLE READ
# transaction WITH CONSISTENT SNAPSHOT before reading anything; nothing is locked for writers.
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mariadb-dump --defaults-extra-file="$work/my.cnf" --single-transaction --quick --hex-blob \
  --routines --triggers --no-tablespaces --default-character-set=utf8mb4 \
  --skip-add-locks "$DB_NAME" | gzip -6 > "$work/db.sql.gz"
# A dump that stopped half-way has no completion line.
gzip -dc "$work/db.sql.gz" | tail -1 | grep -q '^-- Dump completed' ||
  { echo "backup: mariadb-dump did not complete" >&2; exit 1; }

# 2. The media store, after the snapshot (see above).
[[ -d $MEDIA_DIR ]] || { echo "backup: media.dir $MEDIA_DIR is not a directory" >&2; exit 1; }
tar -C "$MEDIA_DIR" --exclude=./tmp --exclude=./uploads -cf "$work/media.tar" .
files=$(tar -tf "$work/media.tar" | grep -c '[0-9a-f]\{64\}$' || true)

{
  echo "cityd backup"
  echo "created $started"
  echo "database $DB_NAME"
  echo "media_dir $MEDIA_DIR"
  echo "media_files $files"
  (cd "$work" && sha256sum db.sql.gz media.tar)
} > "$work/MANIFEST"
rm -f "$work/my.cnf"
mv "$work" "$dest"
trap - EXIT

if ((keep > 0)); then
  # Oldest first; keep the newest N.
  mapfile -t all < <(ls -1d "$out"/cityd-*Z 2>/dev/null | sort)
  for ((i = 0; i < ${#all[@]} - keep; i++)); do rm -rf "${all[i]}"; done
fi
echo "$dest"
