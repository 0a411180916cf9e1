#!/usr/bin/env bash
# scripts/restore.sh: restore a backup of scripts/backup.sh into the database and media store
# named by a cityd config file, then check that every file a media row names is there with the
# right content.
#
#   scripts/restore.sh -c /etc/cityd/cityd.conf /var/backups/cityd/cityd-20260101T000000Z
#
# Stop cityd first (systemctl stop cityd). The target database is created when missing; one
# that already has tables, or a media.dir that is not empty, is refused unless --force, which
# drops that database and empties that directory first. Unfinished resumable (tus) uploads are
# forgotten: their bytes are not in the backup, and clients start them again (tus answers 404).
# Then start cityd: it checks the schema version at start-up (migrations.auto applies newer
# migrations of a newer cityd to an older backup).
set -euo pipefail

usage() {
  echo "usage: $0 -c CITYD_CONF [-u DB_USER] [--force] BACKUP_DIR" >&2
  exit 2
}

conf= user_override= force=0 src=
while (($#)); do
  case $1 in
    -c) conf=$2; shift 2 ;;
    -u) user_override=$2; shift 2 ;;
    --force) force=1; shift ;;
    -*) usage ;;
    *) [[ -z $src ]] || usage; src=$1; shift ;;
  esac
done
[[ -n $conf && -n $src ]] || usage
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cityd-conf.sh
. "$here/cityd-conf.sh"
cityd_conf_load "$conf"
[[ -n $user_override ]] && DB_USER=$user_override

for f in MANIFEST db.sql.gz media.tar; do
  [[ -r $src/$f ]] || { echo "restore: $src/$f is missing" >&2; exit 1; }
done
(cd "$src" && grep -E '^[0-9a-f]{64}  ' MANIFEST | sha256sum -c --quiet --strict) ||
  { echo "restore: $src does not match its MANIFEST (damaged copy?)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cityd_mysql_defaults "$work/my.cnf"
sql() { mariadb --defaults-extra-file="$work/my.cnf" -N -B "$@"; }

tables=$(sql -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$DB_NAME'")
if ((tables > 0)); then
  ((force)) || { echo "restore: database $DB_NAME has $tables tables (use --force to replace it)" >&2; exit 1; }
  sql -e "DROP DATABASE \`$DB_NAME\`"
fi
sql -e "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
if [[ -d $MEDIA_DIR ]] && [[ -n $(ls -A "$MEDIA_DIR") ]]; then
  ((force)) || { echo "restore: media.dir $MEDIA_DIR is not empty (use --force to replace it)" >&2; exit 1; }
  find "$MEDIA_DIR" -mindepth 1 -delete
fi
mkdir -p "$MEDIA_DIR"
chmod 0750 "$MEDIA_DIR"

gzip -dc "$src/db.sql.gz" | sql "$DB_NAME"
tar -C "$MEDIA_DIR" -xf "$src/media.tar"
sql "$DB_NAME" -e "DELETE FROM uploads WHERE media_id IS NULL"

# Every file a row names, present and intact (content-addressed: its name is its sha256).
sql "$DB_NAME" -e "SELECT sha_original FROM media UNION SELECT sha_display FROM media
                   WHERE sha_display IS NOT NULL UNION SELECT sha_thumb FROM media
                   WHERE sha_thumb IS NOT NULL" > "$work/shas"
missing=0
while read -r sha; do
  p=$MEDIA_DIR/${sha:0:2}/${sha:2:2}/$sha
  if [[ -f $p ]]; then
    echo "$sha  $p"
  else
    echo "restore: missing media file $sha" >&2
    missing=$((missing + 1))
  fi
done < "$work/shas" > "$work/check"
((missing == 0)) || { echo "restore: $missing media files missing" >&2; exit 1; }
sha256sum -c --quiet --strict "$work/check" ||
  { echo "restore: media files do not match their names" >&2; exit 1; }
echo "restored $src into database $DB_NAME and $MEDIA_DIR: $(wc -l < "$work/shas") media files checked"
