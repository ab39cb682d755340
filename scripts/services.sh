#!/usr/bin/env bash
# scripts/services.sh COMMAND...: runs COMMAND with the servers the tests need, started for it
# alone, and exits with COMMAND's status. `make test` and `.ci/run` go through it.
#
# PostgreSQL: the Debian package (installed with apt-get when no `initdb` is found), a cluster
# made by `initdb` in a temporary folder, listening on a free port of 127.0.0.1 only (its unix
# socket inside the folder), with TLS from a CA made for the run. COMMAND sees:
#
#   ETL_TEST_POSTGRES_URL         postgres://etl:PASSWORD@127.0.0.1:PORT/etl (role `etl` owns
#                                 the database `etl`; password authentication, scram-sha-256)
#   ETL_TEST_POSTGRES_READER_URL  the same database as role `etl_reader`, which may connect and
#                                 nothing else (for permission errors)
#   ETL_TEST_POSTGRES_CA          the CA (PEM) that signed the server's certificate, for
#                                 127.0.0.1 and localhost
#
# S3: s3s-fs from crates.io (built once into target/tools), on a free port of 127.0.0.1, with
# a bucket `etl-test` (scripts/s3server.sh): ETL_TEST_S3_ENDPOINT, ETL_TEST_S3_BUCKET,
# ETL_TEST_S3_ACCESS_KEY_ID, ETL_TEST_S3_SECRET_ACCESS_KEY, ETL_TEST_S3_DATA_DIR.
#
# Chromium: the Debian package (installed with apt-get when no chromium is found), checked to
# start headless; the browser tests launch it themselves: ETL_TEST_CHROMIUM (its path).
#
# Every server is stopped and the folder removed when COMMAND ends, fails or is interrupted.
# A server that cannot start is an error (exit 1, the reason on stderr): COMMAND does not run,
# so the tests that need it fail rather than skip.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: scripts/services.sh COMMAND [ARGS...]" >&2
  exit 2
fi

fail() {
  echo "services.sh: $*" >&2
  exit 1
}

root=$(mktemp -d "${TMPDIR:-/tmp}/etl-services.XXXXXX")
# The servers run as an unprivileged user when we are root: they may cross this folder.
chmod 711 "$root"
pg_data=$root/postgres/data
pg_bin=
pg_running=

# shellcheck source=scripts/s3server.sh
. "$(dirname "${BASH_SOURCE[0]}")/s3server.sh"

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$pg_running" ]; then
    as_server "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  stop_s3
  rm -rf "$root"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# as_server CMD...: runs CMD as the servers' user (ourselves, or `nobody` when we are root,
# since initdb and postgres refuse to run as root).
server_user=
if [ "$(id -u)" -eq 0 ]; then
  server_user=nobody
  id "$server_user" >/dev/null 2>&1 || fail "running as root, and there is no user \`nobody\` to run the servers as"
fi
as_server() {
  if [ -n "$server_user" ]; then
    runuser -u "$server_user" -- "$@"
  else
    "$@"
  fi
}

# free_port: a loopback port nothing listens on now (the server may still lose a race for it:
# start_postgres tries again).
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  fail "found no free port on 127.0.0.1"
}

random_secret() {
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# --- PostgreSQL --------------------------------------------------------------------------------

# find_postgres: sets pg_bin to the folder of initdb, pg_ctl, psql and pg_isready, installing the
# Debian package when there is none.
find_postgres() {
  local dir
  # Debian keeps the server's programs out of PATH, one folder per major version: the newest.
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
    pg_bin=$dir
  elif command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    pg_bin=$(dirname "$(command -v initdb)")
  else
    echo "services.sh: PostgreSQL is not installed; installing the Debian package" >&2
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    command -v apt-get >/dev/null || fail "no initdb/pg_ctl found and no apt-get to install PostgreSQL: install it (initdb, pg_ctl, psql, pg_isready)"
    $sudo apt-get update -q >&2 || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q postgresql >&2 ||
      fail "apt-get install postgresql failed"
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] || fail "installed PostgreSQL, but found no initdb under /usr/lib/postgresql"
    pg_bin=$dir
  fi
  for tool in psql pg_isready; do
    if [ ! -x "$pg_bin/$tool" ]; then
      command -v "$tool" >/dev/null || fail "found initdb in $pg_bin but no $tool"
    fi
  done
}

pg_tool() {
  local tool=$1
  shift
  if [ -x "$pg_bin/$tool" ]; then "$pg_bin/$tool" "$@"; else "$tool" "$@"; fi
}

# make_certificates DIR: a CA and a server certificate (127.0.0.1, localhost) signed by it.
make_certificates() {
  local dir=$1
  command -v openssl >/dev/null || fail "openssl is needed to make the test server's TLS certificate"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=etl test CA" \
      -keyout ca.key -out ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt
  ) >"$dir/openssl.log" 2>&1 || fail "openssl could not make the certificates: $(cat "$dir/openssl.log")"
  chmod 600 "$dir/server.key"
}

start_postgres() {
  find_postgres
  local dir=$root/postgres password port
  mkdir -p "$dir/run" "$dir/tls"
  password=$(random_secret)
  make_certificates "$dir/tls"
  [ -z "$server_user" ] || chown -R "$server_user" "$dir"
  # The superuser `postgres` connects through the socket in $dir/run only (trust); over TCP
  # every role gives its password.
  as_server "$pg_bin/initdb" -D "$pg_data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    as_server "$pg_bin/initdb" -D "$pg_data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
    fail "initdb failed: $(tail -n 20 "$dir/initdb.log")"
  local started=
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if as_server "$pg_bin/pg_ctl" -D "$pg_data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir/run" \
      -o "-c ssl=on -c ssl_cert_file=$dir/tls/server.crt -c ssl_key_file=$dir/tls/server.key" \
      -o "-c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null 2>&1; then
      started=1
      break
    fi
    grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null ||
      fail "PostgreSQL did not start: $(tail -n 20 "$dir/server.log" 2>/dev/null)"
  done
  [ -n "$started" ] || fail "PostgreSQL did not start: no free port found in 5 tries"
  pg_running=1
  pg_tool pg_isready -q -h "$dir/run" -p "$port" -t 30 ||
    fail "PostgreSQL started but does not accept connections: $(tail -n 20 "$dir/server.log")"
  pg_tool psql -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$port" -U postgres -d postgres \
    >/dev/null 2>"$dir/psql.log" <<SQL || fail "could not create the test roles: $(cat "$dir/psql.log")"
CREATE ROLE etl LOGIN PASSWORD '$password';
CREATE ROLE etl_reader LOGIN PASSWORD '$password';
CREATE DATABASE etl OWNER etl;
SQL
  export ETL_TEST_POSTGRES_URL="postgres://etl:$password@127.0.0.1:$port/etl"
  export ETL_TEST_POSTGRES_READER_URL="postgres://etl_reader:$password@127.0.0.1:$port/etl"
  export ETL_TEST_POSTGRES_CA=$dir/tls/ca.crt
}

start_postgres
# The tests read tables back with this server's own psql.
export PATH="$pg_bin:$PATH"

# --- S3-compatible object storage --------------------------------------------------------------
# s3s-fs (crates.io): see scripts/s3server.sh and docs/destinations.md for why this server.
start_s3 || { echo "services: the S3 server could not start; tests that need it would fail" >&2; exit 1; }

# --- Chromium ----------------------------------------------------------------------------------
# The html reports are checked in a real browser (crates/etl-runner/tests/it/html.rs).
find_chromium() {
  local name
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null; then
      command -v "$name"
      return
    fi
  done
}
chromium=$(find_chromium)
if [ -z "$chromium" ]; then
  echo "services.sh: Chromium is not installed; installing the Debian package" >&2
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  command -v apt-get >/dev/null || fail "no chromium found and no apt-get to install it: install Chromium"
  $sudo apt-get update -q >&2 || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends chromium >&2 ||
    fail "apt-get install chromium failed"
  chromium=$(find_chromium)
  [ -n "$chromium" ] || fail "installed the chromium package, but found no chromium on PATH"
fi
mkdir -p "$root/chromium"
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$root/chromium" --dump-dom about:blank >"$root/chromium.log" 2>&1 ||
  fail "Chromium ($chromium) does not start headless: $(tail -n 20 "$root/chromium.log")"
export ETL_TEST_CHROMIUM=$chromium

# --- The command -------------------------------------------------------------------------------
set +e
"$@"
status=$?
set -e
exit "$status"
