#!/usr/bin/env bash
# tests/e2e/tools/tls_mariadb.sh start|stop DIR — a throw-away MariaDB for the db.tls_*
# test: TCP on 127.0.0.1 with TLS required (require_secure_transport), a certificate for
# 127.0.0.1 signed by DIR/ca.pem, a second unrelated CA in DIR/other-ca.pem, and the user
# cityd/cityd-tls-pw at 127.0.0.1 with every right (REQUIRE SSL). Root logs in over DIR/sock.
# The port it listens on is written to DIR/port: one outside the kernel's ephemeral range (where
# no client connection of a parallel test can hold it), and the next one down when it is taken.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?DIR}
case $cmd in
start)
  rm -rf "$dir" && mkdir -p "$dir" && chmod 700 "$dir" && cd "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=cityd-test-ca \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca \
    -keyout other-key.pem -out other-ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem \
    -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
    -extfile san.ext -out server.pem 2>/dev/null
  mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
    --user="$(id -un)" --skip-test-db >install.log 2>&1
  userarg=()
  [[ $(id -u) -eq 0 ]] && userarg=(--user=root)
  read -r ephemeral_lo ephemeral_hi </proc/sys/net/ipv4/ip_local_port_range
  if ((ephemeral_lo > 17100)); then port=$((ephemeral_lo - 1 - (BASHPID % 8000) * 2))
  else port=$((ephemeral_hi + 100 + (BASHPID % 2000) * 2)); fi
  for _ in $(seq 1 20); do
    : >"$dir/err.log"
    setsid mariadbd --no-defaults "${userarg[@]}" --datadir="$dir/data" --socket="$dir/sock" \
      --port="$port" --bind-address=127.0.0.1 --pid-file="$dir/pid" --log-error="$dir/err.log" \
      --ssl-ca="$dir/ca.pem" --ssl-cert="$dir/server.pem" --ssl-key="$dir/server-key.pem" \
      --require-secure-transport=ON --innodb-buffer-pool-size=64M \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
      --default-time-zone=+00:00 </dev/null >/dev/null 2>&1 &
    server=$!
    for _ in $(seq 1 150); do
      if mariadb --no-defaults -uroot --socket="$dir/sock" -e "SELECT 1" >/dev/null 2>&1; then
        mariadb --no-defaults -uroot --socket="$dir/sock" <<'SQL'
CREATE USER 'cityd'@'127.0.0.1' IDENTIFIED BY 'cityd-tls-pw' REQUIRE SSL;
GRANT ALL PRIVILEGES ON *.* TO 'cityd'@'127.0.0.1';
SQL
        echo "$port" >"$dir/port"
        exit 0
      fi
      kill -0 "$server" 2>/dev/null || break
      sleep 0.1
    done
    wait "$server" 2>/dev/null || true
    grep -q "Address already in use" "$dir/err.log" || break
    port=$((port - 1))
  done
  cat "$dir/err.log" >&2
  exit 1
  ;;
stop)
  [[ -f $dir/pid ]] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  for _ in $(seq 1 100); do [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$dir"
  ;;
esac
