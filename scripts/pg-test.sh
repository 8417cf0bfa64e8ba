#!/usr/bin/env bash
# A throwaway PostgreSQL server for Docent's store tests (the store runs on SQLite by
# default and on PostgreSQL through the same code; this is how the second half is tested).
#
#   scripts/pg-test.sh setup          make sure the PostgreSQL server binaries exist (Debian
#                                     package `postgresql`, installed when missing; quick when present)
#   scripts/pg-test.sh with CMD...    start a fresh cluster under target/pg/ on a free loopback
#                                     port, wait until pg_isready says it accepts connections,
#                                     create a database, run CMD with DOCENT_TEST_DATABASE_URL set,
#                                     then stop the cluster and remove it (also when CMD fails or
#                                     is interrupted) and exit with CMD's status
#
# initdb refuses to run as root, and CI runs as root on a fresh machine: as root, the
# cluster is created and run by the `postgres` system user (made by the Debian package;
# a `docent-pg` system user is created when there is none). PG_ROOT overrides the
# directory, PG_KEEP=1 keeps the cluster directory (and its server.log) after the run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PG_ROOT="${PG_ROOT:-$ROOT/target/pg}"
DB_USER="docent"
DB_NAME="docent_test"

die() { echo "pg-test: error: $*" >&2; exit 1; }
log() { echo "pg-test: $*" >&2; }

# The newest PostgreSQL bin directory that has everything this script runs.
pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/pg_isready" ] \
      && [ -x "$d/createdb" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

setup() {
  if BIN="$(pg_bindir)"; then
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "the PostgreSQL server binaries are missing (Debian: apt-get install postgresql, as root)"
  command -v apt-get >/dev/null 2>&1 || die "the PostgreSQL server binaries are missing and apt-get is not available"
  log "installing the Debian package postgresql"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends postgresql >&2; then
    # A fresh machine may not have package lists yet.
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends postgresql >&2 || die "apt-get could not install postgresql"
  fi
  BIN="$(pg_bindir)" || die "postgresql is installed but no /usr/lib/postgresql/*/bin/initdb was found"
}

# Who runs the server: the current user, or (as root) an unprivileged system user.
choose_user() {
  RUN_AS=""
  [ "$(id -u)" -eq 0 ] || return 0
  if id -u postgres >/dev/null 2>&1; then
    RUN_AS="postgres"
  else
    if ! id -u docent-pg >/dev/null 2>&1; then
      log "creating the system user docent-pg to run PostgreSQL (initdb refuses root)"
      useradd --system --no-create-home --shell /usr/sbin/nologin docent-pg || die "could not create user docent-pg"
    fi
    RUN_AS="docent-pg"
  fi
  command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is needed to run PostgreSQL as $RUN_AS"
}

as_pg() {
  if [ -n "$RUN_AS" ]; then
    runuser -u "$RUN_AS" -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

SERVER_PID=""
CLUSTER=""
CMD_PID=""

# Pass a signal on to the command and wait for it, so the cluster outlives it.
stop_cmd() {
  if [ -n "$CMD_PID" ]; then
    kill -"$1" "$CMD_PID" 2>/dev/null || true
    wait "$CMD_PID" 2>/dev/null || true
  fi
}

cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    # Fast shutdown: roll back open transactions, close sessions, stop.
    as_pg "$BIN/pg_ctl" -D "$CLUSTER/data" -m fast -w -t 30 stop >/dev/null 2>&1 || kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "$CLUSTER" ] && [ -d "$CLUSTER" ]; then
    if [ "${PG_KEEP:-0}" = 1 ]; then
      log "kept $CLUSTER (server log: $CLUSTER/server.log)"
    else
      rm -rf "$CLUSTER"
    fi
  fi
  return $status
}

# Start postgres on a free port; 0 when it accepts connections, 1 when the port was taken.
start_server() {
  local port=$1
  local data="$CLUSTER/data"
  # The socket lives next to the data when the path fits in sun_path (108 bytes).
  local sockets=""
  [ ${#CLUSTER} -lt 80 ] && sockets="$CLUSTER"
  as_pg "$BIN/postgres" -D "$data" -c listen_addresses=127.0.0.1 -p "$port" \
    -c unix_socket_directories="$sockets" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=300 >"$CLUSTER/server.log" 2>&1 &
  SERVER_PID=$!
  # Ready when pg_isready says so; bounded: 60 s.
  local deadline=$((SECONDS + 60))
  until "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" 2>/dev/null || true
      SERVER_PID=""
      if grep -q "could not bind\|Address already in use" "$CLUSTER/server.log"; then
        return 1
      fi
      cat "$CLUSTER/server.log" >&2
      die "PostgreSQL exited during start-up"
    fi
    [ $SECONDS -lt $deadline ] || { cat "$CLUSTER/server.log" >&2; die "PostgreSQL was not ready within 60 s"; }
    sleep 0.1
  done
  return 0
}

with_server() { # CMD...
  [ $# -gt 0 ] || die "usage: scripts/pg-test.sh with CMD..."
  setup
  choose_user
  trap cleanup EXIT
  trap 'stop_cmd INT; exit 130' INT
  trap 'stop_cmd TERM; exit 143' TERM
  mkdir -p "$PG_ROOT"
  CLUSTER="$(mktemp -d "$PG_ROOT/cluster.XXXXXX")"
  if [ -n "$RUN_AS" ]; then
    chown "$RUN_AS" "$CLUSTER"
    chmod 700 "$CLUSTER"
    if ! as_pg test -w "$CLUSTER"; then
      # A parent directory the server user cannot traverse: use the temp dir instead.
      rm -rf "$CLUSTER"
      CLUSTER="$(mktemp -d "${TMPDIR:-/tmp}/docent-pg.XXXXXX")"
      chown "$RUN_AS" "$CLUSTER"
      log "$RUN_AS cannot reach $PG_ROOT; using $CLUSTER"
    fi
  fi
  as_pg "$BIN/initdb" -D "$CLUSTER/data" -U "$DB_USER" -A trust -E UTF8 --no-locale --no-sync \
    >"$CLUSTER/initdb.log" 2>&1 || { cat "$CLUSTER/initdb.log" >&2; die "initdb failed"; }
  local port attempt
  for attempt in 1 2 3; do
    port="$(free_port)"
    if start_server "$port"; then
      break
    fi
    [ "$attempt" -lt 3 ] || { cat "$CLUSTER/server.log" >&2; die "no free port for PostgreSQL"; }
    log "port $port was taken, trying another"
  done
  "$BIN/createdb" -h 127.0.0.1 -p "$port" -U "$DB_USER" "$DB_NAME" || die "createdb failed"
  local url="postgres://$DB_USER@127.0.0.1:$port/$DB_NAME"
  log "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') ready at $url (data: $CLUSTER)"
  local status
  # In the background (stdin kept) so that a signal to this script reaches the
  # command at once instead of after it finished.
  DOCENT_TEST_DATABASE_URL="$url" "$@" <&0 &
  CMD_PID=$!
  set +e
  wait "$CMD_PID"
  status=$?
  set -e
  CMD_PID=""
  return $status
}

case "${1:-}" in
  setup) setup; log "server binaries in $BIN" ;;
  with) shift; with_server "$@" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
