# scripts/cityd-conf.sh: read the database and media settings of a cityd config file the way
# cityd does (server/core/cfg.c): `key = value` lines, '#' comments, optional quotes, then
# CITYD_<KEY> environment variables win. Sourced by backup.sh and restore.sh.

# cityd_conf_get FILE KEY DEFAULT
cityd_conf_get() {
  local file=$1 key=$2 def=$3 env val line
  env=CITYD_$(echo "$key" | tr 'a-z.' 'A-Z_')
  if [[ -n ${!env+x} ]]; then
    printf '%s' "${!env}"
    return
  fi
  val=$def
  if [[ -n $file ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      [[ $line =~ ^[[:space:]]*# ]] && continue
      if [[ $line =~ ^[[:space:]]*([a-z0-9_.]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])?[[:space:]]*$ ]] &&
         [[ ${BASH_REMATCH[1]} == "$key" ]]; then
        val=${BASH_REMATCH[2]}
        [[ $val =~ ^\"(.*)\"$ ]] && val=${BASH_REMATCH[1]}
      fi
    done < "$file"
  fi
  printf '%s' "$val"
}

# Sets DB_HOST DB_PORT DB_SOCKET DB_USER DB_PASSWORD DB_NAME MEDIA_DIR from FILE.
cityd_conf_load() {
  local file=$1
  [[ -r $file ]] || { echo "cannot read config $file" >&2; exit 2; }
  DB_HOST=$(cityd_conf_get "$file" db.host localhost)
  DB_PORT=$(cityd_conf_get "$file" db.port 3306)
  DB_SOCKET=$(cityd_conf_get "$file" db.socket "")
  DB_USER=$(cityd_conf_get "$file" db.user cityd)
  DB_PASSWORD=$(cityd_conf_get "$file" db.password "")
  DB_NAME=$(cityd_conf_get "$file" db.name cityd)
  MEDIA_DIR=$(cityd_conf_get "$file" media.dir var/media)
  [[ $DB_NAME =~ ^[A-Za-z0-9_]+$ ]] || { echo "db.name must be [A-Za-z0-9_]+: $DB_NAME" >&2; exit 2; }
}

# cityd_mysql_defaults FILE: an option file for the MariaDB client tools (mode 0600).
cityd_mysql_defaults() {
  local f=$1
  (
    umask 077
    {
      echo "[client]"
      echo "user=$DB_USER"
      [[ -n $DB_PASSWORD ]] && echo "password=\"${DB_PASSWORD//\"/\\\"}\""
      if [[ -n $DB_SOCKET ]]; then
        echo "socket=$DB_SOCKET"
      else
        echo "host=$DB_HOST"
        echo "port=$DB_PORT"
        echo "protocol=tcp"
      fi
    } > "$f"
  )
}
