#!/usr/bin/env bash
# scripts/db.sh: a private MariaDB server under a directory of the repository, no system service.
#   db.sh start DIR     start (or reuse) the server: datadir DIR/data, socket DIR/mysqld.sock
#   db.sh stop DIR      stop it
#   db.sh wipe DIR      stop it and delete DIR
#   db.sh status DIR    exit 0 when it answers
#   db.sh sql DIR ...   run the mariadb client as root on it
#   db.sh freeze|thaw DIR   SIGSTOP / SIGCONT the server (fault tests)
# The server listens on the unix socket only (no TCP), with durable commits
# (innodb_flush_log_at_trx_commit=1) and a 256 MiB buffer pool (DB_BUFFER_POOL=4G for a bigger
# one, e.g. the 1,000,000-case dashboard bench; applies when the server starts). DIR is mode 0700: MariaDB's root has no password and is
# reachable by the directory's owner only.
set -euo pipefail

cmd=${1:?usage: db.sh start|stop|wipe|status|sql|freeze|thaw DIR}
dir=${2:?usage: db.sh $cmd DIR}
mkdir -p "$dir"
# The socket lives here and root logs in over it without a password: only the owner may reach
# it (connecting to a unix socket needs search permission on its directory).
chmod 700 "$dir"
dir=$(cd "$dir" && pwd)
sock=$dir/mysqld.sock
pidf=$dir/mysqld.pid
client=(mariadb --no-defaults -uroot --socket="$sock")

alive() { [[ -f $pidf ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; }
answers() { mariadb-admin --no-defaults -uroot --socket="$sock" --connect-timeout=2 ping >/dev/null 2>&1; }

case $cmd in
start)
  if alive && answers; then exit 0; fi
  if [[ ! -d $dir/data/mysql ]]; then
    rm -rf "$dir/data"
    mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
      --user="$(id -un)" --skip-test-db >"$dir/install.log" 2>&1 ||
      { cat "$dir/install.log" >&2; exit 1; }
  fi
  userarg=()
  [[ $(id -u) -eq 0 ]] && userarg=(--user=root)
  setsid mariadbd --no-defaults "${userarg[@]}" --datadir="$dir/data" --socket="$sock" \
    --skip-networking --pid-file="$pidf" --log-error="$dir/mysqld.err" \
    --innodb-buffer-pool-size="${DB_BUFFER_POOL:-256M}" --innodb-flush-log-at-trx-commit=1 \
    --innodb-log-file-size=128M --max-connections=1000 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --default-time-zone=+00:00 </dev/null >/dev/null 2>&1 &
  server=$!
  # Crash recovery on a busy disk can take a while: wait up to 60 s, unless the server exits.
  for _ in $(seq 1 600); do
    answers && exit 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  echo "db.sh: MariaDB did not start; see $dir/mysqld.err" >&2
  tail -20 "$dir/mysqld.err" >&2 || true
  exit 1
  ;;
stop)
  if alive; then
    pid=$(cat "$pidf")
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  ;;
wipe)
  "$0" stop "$dir"
  rm -rf "$dir"
  ;;
status) answers ;;
sql) shift 2; exec "${client[@]}" "$@" ;;
freeze)
  # SIGSTOP lands when each thread next leaves the kernel; wait until the whole process is
  # really stopped (state T), so a caller can rely on "frozen" being true when this returns.
  pid=$(cat "$pidf")
  kill -STOP "$pid"
  for _ in $(seq 1 100); do
    # every thread, not just the main one: the group stop reaches each on its own
    running=$(cat /proc/"$pid"/task/*/stat 2>/dev/null | awk '$3 != "T"' | wc -l)
    [[ $running == 0 ]] && exit 0
    sleep 0.05
  done
  echo "db.sh: MariaDB $pid did not stop" >&2
  exit 1
  ;;
thaw) kill -CONT "$(cat "$pidf")" ;;
*) echo "db.sh: unknown command $cmd" >&2; exit 2 ;;
esac
