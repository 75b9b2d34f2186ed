#!/usr/bin/env bash
# run.sh — run pgx v5's own test packages twice, once against PostgreSQL and
# once through phiguard, and compare the results test by test.
#
#   integration/pgxsuite/run.sh                 both runs and the comparison
#   integration/pgxsuite/run.sh --direct-only   only the run against PostgreSQL
#
# Environment:
#   PG_BIN              PostgreSQL server binaries (default /usr/lib/postgresql/15/bin)
#   PGXSUITE_OUT        where direct.json / proxied.json / phiguard.log are kept
#                       (default integration/pgxsuite/out, gitignored)
#   PGXSUITE_PACKAGES   pgx packages to run, relative to the pgx module root
#   PGXSUITE_TIMEOUT    go test -timeout per package (default 10m; a hang guard)
#   PGXSUITE_KEEP=1     keep the scratch directory for inspection
#   PGXSUITE_PHIGUARD_LOG  phiguard log level (default warn)
#
# PostgreSQL is set up the way pgx's testsetup/ and ci/setup_test.bash do it:
# its pg_hba.conf and postgresql_ssl.conf, certificates from
# testsetup/generate_certs.go, postgresql_setup.sql, and the PGX_TEST_*
# connection strings of scripts/lib/test_targets.rb. PostgreSQL refuses to run
# as root, so when this script is root the server runs as the `postgres` user.
#
# The last line of output is "pgxsuite: N passed, M failed": N tests passed
# both directly and through phiguard, M passed directly but not through
# phiguard and are not listed in expected-differences.txt. The exit status is
# non-zero when M > 0 or when the setup fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

direct_only=0
case "${1:-}" in
  "") ;;
  --direct-only) direct_only=1 ;;
  *) echo "usage: $0 [--direct-only]" >&2; exit 2 ;;
esac

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
OUT=${PGXSUITE_OUT:-$here/out}
# Every pgx package whose tests talk to a database; each takes under a minute
# on two cores. pgproto3 is here for TestTrace, which records a session's
# exact wire messages. Left out: internal/*, pgconn/ctxwatch,
# pgconn/internal/bgreader and multitracer, whose tests never open a
# connection and so say nothing about phiguard.
PACKAGES=${PGXSUITE_PACKAGES:-". ./pgconn ./pgproto3 ./pgtype ./pgtype/zeronull ./pgxpool ./stdlib ./tracelog"}
TIMEOUT=${PGXSUITE_TIMEOUT:-10m}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

[[ -x $PG_BIN/initdb ]] || die "no PostgreSQL server binaries in $PG_BIN (set PG_BIN)"
command -v go >/dev/null || die "go not on PATH"

# The pgx version under test is the one phiguard itself depends on.
pgx_src=$(cd "$repo" && go mod download -json github.com/jackc/pgx/v5 |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
pgx_version=$(cd "$repo" && go list -m -f '{{.Version}}' github.com/jackc/pgx/v5)
[[ -d $pgx_src ]] || die "cannot find github.com/jackc/pgx/v5 in the module cache"

work=$(mktemp -d /tmp/pgxsuite.XXXXXX)
pg_pid_file=$work/pg/data/postmaster.pid
proxy_pid=""

as_pg() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cleanup() {
  local status=$?
  set +e
  if [[ -n $proxy_pid ]] && kill -0 "$proxy_pid" 2>/dev/null; then
    kill "$proxy_pid"
    wait "$proxy_pid" 2>/dev/null
  fi
  if [[ -f $pg_pid_file ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1
  fi
  if [[ ${PGXSUITE_KEEP:-0} == 1 ]]; then
    log "kept scratch directory $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a TCP port on 127.0.0.1 that nothing listens on, below
# Linux's ephemeral range so the suite's own outgoing connections cannot hold it.
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

wait_port() { # port seconds pid-to-watch
  for _ in $(seq 1 $(($2 * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

mkdir -p "$OUT"
chmod 0755 "$work"

# --- pgx source, writable, with its own go.mod/go.sum -----------------------
log "pgx $pgx_version from $pgx_src"
cp -r "$pgx_src" "$work/pgx"
chmod -R u+w "$work/pgx"

# --- certificates, as ci/setup_test.bash makes them ---------------------------
log "generating certificates (testsetup/generate_certs.go)"
mkdir -p "$work/certs"
(cd "$work/pgx" && GOWORK=off go build -o "$work/generate_certs" ./testsetup/generate_certs.go)
(cd "$work/certs" && "$work/generate_certs")
certs=$work/certs

# --- PostgreSQL ------------------------------------------------------------
pg_port=$(free_port)
mkdir -p "$work/pg/data" "$work/pg/run"
[[ $EUID -eq 0 ]] && chown -R postgres: "$work/pg"
chmod 0700 "$work/pg/data"
log "initdb and start PostgreSQL on 127.0.0.1:$pg_port"
as_pg "$PG_BIN/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$work/pg/initdb.log" 2>&1 || { cat "$work/pg/initdb.log" >&2; die "initdb failed"; }
cp "$work/pgx/testsetup/pg_hba.conf" "$work/pg/data/pg_hba.conf"
cat "$work/pgx/testsetup/postgresql_ssl.conf" >>"$work/pg/data/postgresql.conf"
cat >>"$work/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$work/pg/run'
max_connections = 200
fsync = off
EOF
cp "$certs/ca.pem" "$work/pg/data/root.crt"
cp "$certs/localhost.crt" "$work/pg/data/server.crt"
cp "$certs/localhost.key" "$work/pg/data/server.key"
[[ $EUID -eq 0 ]] && chown postgres: "$work/pg/data/root.crt" "$work/pg/data/server.crt" "$work/pg/data/server.key"
chmod 0600 "$work/pg/data/server.key"
as_pg "$PG_BIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/postgres.log" -w -t 60 start >/dev/null ||
  { cat "$work/pg/postgres.log" >&2; die "PostgreSQL did not start"; }

psql_admin=("$PG_BIN/psql" --no-psqlrc -q -v ON_ERROR_STOP=1 -h "$work/pg/run" -p "$pg_port" -U postgres)
"${psql_admin[@]}" -d postgres -c 'create database pgx_test' >/dev/null
# Run as this script's user so that `\set whoami` creates the role the
# unix-socket tests connect as.
"${psql_admin[@]}" -d pgx_test -f "$work/pgx/testsetup/postgresql_setup.sql" >/dev/null

# --- phiguard --------------------------------------------------------------
proxy_port=""
if [[ $direct_only == 0 ]]; then
  [[ -d $repo/cmd/phiguard ]] || die "no cmd/phiguard in $repo (use --direct-only)"
  log "building phiguard"
  (cd "$repo" && go build -o "$work/phiguard" ./cmd/phiguard)
  proxy_port=$(free_port)
  cat >"$work/phiguard.yaml" <<EOF
listen: 127.0.0.1:$proxy_port
admin: ""
backend:
  host: 127.0.0.1
  port: $pg_port
  tls: {mode: verify-full, root_ca: $certs/ca.pem}
tls: {cert: $certs/localhost.crt, key: $certs/localhost.key}
log: {level: ${PGXSUITE_PHIGUARD_LOG:-warn}}
shutdown_timeout: 5s
EOF
  log "starting phiguard on 127.0.0.1:$proxy_port"
  "$work/phiguard" serve --config "$work/phiguard.yaml" >"$OUT/phiguard.log" 2>&1 &
  proxy_pid=$!
  wait_port "$proxy_port" 60 "$proxy_pid" ||
    { cat "$OUT/phiguard.log" >&2; die "phiguard did not start listening"; }
fi

# --- the suite ----------------------------------------------------------------
# kv_quote quotes a value for a keyword/value connection string.
kv_quote() { local v=${1//\\/\\\\}; printf "'%s'" "${v//\'/\\\'}"; }

# run_suite NAME PORT UNIX_SOCKET_DIR: go test -json with the PGX_TEST_* set
# of pgx's scripts/lib/test_targets.rb pointed at 127.0.0.1:PORT. An empty
# UNIX_SOCKET_DIR leaves PGX_TEST_UNIX_SOCKET_CONN_STRING unset.
run_suite() {
  local name=$1 port=$2 sock=$3 ca start status
  ca=$(kv_quote "$certs/ca.pem")
  local -a env=(
    "PGX_TEST_DATABASE=host=127.0.0.1 port=$port user=pgx_md5 password=secret dbname=pgx_test"
    "PGX_TEST_TCP_CONN_STRING=host=127.0.0.1 port=$port user=pgx_md5 password=secret dbname=pgx_test"
    "PGX_TEST_MD5_PASSWORD_CONN_STRING=host=127.0.0.1 port=$port user=pgx_md5 password=secret dbname=pgx_test"
    "PGX_TEST_PLAIN_PASSWORD_CONN_STRING=host=127.0.0.1 port=$port user=pgx_pw password=secret dbname=pgx_test"
    "PGX_TEST_SCRAM_PASSWORD_CONN_STRING=host=127.0.0.1 port=$port user=pgx_scram password=secret dbname=pgx_test channel_binding=disable"
    "PGX_TEST_SCRAM_PLUS_CONN_STRING=host=localhost port=$port user=pgx_ssl password=secret sslmode=verify-full sslrootcert=$ca dbname=pgx_test channel_binding=require"
    "PGX_TEST_TLS_CONN_STRING=host=localhost port=$port user=pgx_ssl password=secret sslmode=verify-full sslrootcert=$ca dbname=pgx_test channel_binding=disable"
    "PGX_TEST_TLS_CLIENT_CONN_STRING=host=localhost port=$port user=pgx_sslcert sslmode=verify-full sslrootcert=$ca sslcert=$(kv_quote "$certs/pgx_sslcert.crt") sslkey=$(kv_quote "$certs/pgx_sslcert.key") dbname=pgx_test"
    "PGX_SSL_PASSWORD=certpw"
  )
  if [[ -n $sock ]]; then
    env+=("PGX_TEST_UNIX_SOCKET_CONN_STRING=host=$(kv_quote "$sock") port=$port dbname=pgx_test")
  fi
  # Start from an environment without any PGX_TEST_* or libpq PG* variable
  # the caller may have exported, so both runs see exactly the set above.
  local -a unset=()
  local v
  for v in $(compgen -e); do
    case $v in PGX_*|PG*) unset+=(-u "$v") ;; esac
  done
  log "go test ($name): $PACKAGES"
  start=$SECONDS
  status=0
  # shellcheck disable=SC2086 # PACKAGES is a word list
  (cd "$work/pgx" && env "${unset[@]}" GOWORK=off "${env[@]}" \
    go test -json -count=1 -timeout "$TIMEOUT" $PACKAGES) >"$OUT/$name.json" 2>"$OUT/$name.stderr" || status=$?
  log "go test ($name) finished in $((SECONDS - start))s, exit status $status"
}

# Built, not `go run`: go run would print its own "exit status 1" after the
# summary line CI reads.
(cd "$repo" && go build -o "$work/compare" ./integration/pgxsuite/compare)

run_suite direct "$pg_port" "$work/pg/run"
if [[ $direct_only == 1 ]]; then
  "$work/compare" -direct "$OUT/direct.json"
  exit
fi
run_suite proxied "$proxy_port" ""

if ! kill -0 "$proxy_pid" 2>/dev/null; then
  proxy_status=0
  wait "$proxy_pid" || proxy_status=$?
  proxy_pid=""
  log "phiguard exited during the run with status $proxy_status; see $OUT/phiguard.log"
fi

"$work/compare" -direct "$OUT/direct.json" -proxied "$OUT/proxied.json" \
  -expected "$here/expected-differences.txt"
