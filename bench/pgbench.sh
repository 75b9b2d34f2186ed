#!/usr/bin/env bash
# pgbench.sh: compare PostgreSQL direct, PgBouncer and phiguard with pgbench.
#
# Starts a throwaway PostgreSQL 15, a PgBouncer (session pooling) and a
# phiguard built from this tree in front of it, runs pgbench select-only
# (-S) at several client counts and query modes against the three targets,
# and prints a table of median TPS and latency. The same table goes, with
# facts about the machine, to $BENCH_OUT as Markdown.
#
# It never judges the numbers: it fails only when something is broken (a
# target unreachable, pgbench erroring, a tool missing).
#
# Environment (all optional):
#   BENCH_SECONDS  seconds per pgbench run                 (10)
#   BENCH_REPS     repetitions of the whole matrix          (3)
#   BENCH_CLIENTS  client counts                            ("1 8")
#   BENCH_MODES    pgbench query modes                      ("simple extended prepared")
#   BENCH_TARGETS  targets, in order                        ("direct pgbouncer phiguard")
#   BENCH_SCALE    pgbench -i scale factor                  (10)
#   BENCH_WARMUP   seconds of unrecorded warm-up per target (2; 0 skips)
#   BENCH_OUT      Markdown report                          (bench/last-run.md)
#   BENCH_KEEP     1 keeps the temporary directory and its logs
#   PG_BIN         PostgreSQL 15 binaries                   (/usr/lib/postgresql/15/bin)
#
# Must run as root (it installs PgBouncer if missing and runs PostgreSQL and
# PgBouncer as the OS user postgres, since both refuse to run as root).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Taken before this script adds load of its own.
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_REPS=${BENCH_REPS:-3}
BENCH_CLIENTS=${BENCH_CLIENTS:-"1 8"}
BENCH_MODES=${BENCH_MODES:-"simple extended prepared"}
BENCH_TARGETS=${BENCH_TARGETS:-"direct pgbouncer phiguard"}
BENCH_SCALE=${BENCH_SCALE:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_OUT=${BENCH_OUT:-$root/bench/last-run.md}
BENCH_KEEP=${BENCH_KEEP:-0}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

BENCH_USER=bench
BENCH_DB=bench

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_pos() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

# --- arguments ---------------------------------------------------------------

is_pos "$BENCH_SECONDS" || die "BENCH_SECONDS must be a positive integer, not '$BENCH_SECONDS'"
is_pos "$BENCH_REPS" || die "BENCH_REPS must be a positive integer, not '$BENCH_REPS'"
is_pos "$BENCH_SCALE" || die "BENCH_SCALE must be a positive integer, not '$BENCH_SCALE'"
is_uint "$BENCH_WARMUP" || die "BENCH_WARMUP must be a non-negative integer, not '$BENCH_WARMUP'"
read -r -a clients_list <<<"$BENCH_CLIENTS"
read -r -a modes <<<"$BENCH_MODES"
read -r -a targets <<<"$BENCH_TARGETS"
((${#clients_list[@]} > 0)) || die "BENCH_CLIENTS is empty"
((${#modes[@]} > 0)) || die "BENCH_MODES is empty"
((${#targets[@]} > 0)) || die "BENCH_TARGETS is empty"
for c in "${clients_list[@]}"; do
	is_pos "$c" || die "BENCH_CLIENTS: '$c' is not a positive integer"
done
for m in "${modes[@]}"; do
	case $m in simple | extended | prepared) ;; *) die "BENCH_MODES: unknown mode '$m'" ;; esac
done
for t in "${targets[@]}"; do
	case $t in direct | pgbouncer | phiguard) ;; *) die "BENCH_TARGETS: unknown target '$t'" ;; esac
done
has_target() {
	local t
	for t in "${targets[@]}"; do [[ $t == "$1" ]] && return 0; done
	return 1
}

# --- prerequisites -----------------------------------------------------------

((EUID == 0)) || die "run as root (PostgreSQL and PgBouncer are started as the OS user postgres)"
id postgres >/dev/null 2>&1 || die "OS user 'postgres' is missing (install postgresql-15)"
for b in initdb pg_ctl postgres pgbench psql; do
	[[ -x $PG_BIN/$b ]] || die "$PG_BIN/$b not found (install postgresql-15 or set PG_BIN)"
done
for b in runuser ss timeout; do
	command -v "$b" >/dev/null || die "$b not found"
done

pgbouncer_bin=
find_pgbouncer() {
	pgbouncer_bin=$(command -v pgbouncer || true)
	if [[ -z $pgbouncer_bin && -x /usr/sbin/pgbouncer ]]; then
		pgbouncer_bin=/usr/sbin/pgbouncer
	fi
}
if has_target pgbouncer; then
	find_pgbouncer
	if [[ -z $pgbouncer_bin ]]; then
		log "installing pgbouncer from Debian"
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer
		# The package enables (and, where allowed, starts) its own service on
		# port 6432; this benchmark runs a private instance, so stop and disable it.
		if command -v systemctl >/dev/null; then
			if [[ -d /run/systemd/system ]]; then
				systemctl disable --now pgbouncer.service >/dev/null 2>&1 || true
			else
				systemctl disable pgbouncer.service >/dev/null 2>&1 || true
			fi
		fi
		if command -v service >/dev/null; then
			service pgbouncer stop >/dev/null 2>&1 || true
		fi
		find_pgbouncer
		[[ -n $pgbouncer_bin ]] || die "pgbouncer still missing after apt-get install"
	fi
fi

if has_target phiguard; then
	command -v go >/dev/null || die "go not found (needed to build phiguard)"
	compgen -G "$root/cmd/phiguard/*.go" >/dev/null ||
		die "$root/cmd/phiguard has no Go source in this tree; run with BENCH_TARGETS='direct pgbouncer' to skip phiguard"
fi

# --- workspace and cleanup ---------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/phiguard-bench.XXXXXX")
chown postgres: "$tmp"
chmod 700 "$tmp"
phiguard_pid=
pg_started=0

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [[ -n $phiguard_pid ]]; then
		kill "$phiguard_pid" 2>/dev/null
		wait "$phiguard_pid" 2>/dev/null
	fi
	if [[ -s $tmp/pgbouncer.pid ]]; then
		local pid i
		pid=$(<"$tmp/pgbouncer.pid")
		if kill "$pid" 2>/dev/null; then
			for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null
		fi
	fi
	if ((pg_started)); then
		as_postgres "$PG_BIN/pg_ctl" -D "$tmp/pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			as_postgres "$PG_BIN/pg_ctl" -D "$tmp/pgdata" -m immediate -w stop >/dev/null 2>&1
	fi
	if ((rc != 0)); then
		local f
		for f in postgres.log pgbouncer.log phiguard.log; do
			[[ -s $tmp/$f ]] || continue
			log "last lines of $f:"
			tail -n 20 "$tmp/$f" >&2
		done
	fi
	if [[ $BENCH_KEEP == 1 ]]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# as_postgres runs a command as the OS user postgres from a directory it can read.
as_postgres() { (cd "$tmp" && runuser -u postgres -- "$@"); }

declare -A port=()
# pick_port TARGET: sets port[TARGET] to a TCP port nothing listens on and
# that no other target got.
pick_port() {
	local p q i taken
	for ((i = 0; i < 200; i++)); do
		# Below the usual ephemeral range (32768+), so no outgoing connection takes it meanwhile.
		p=$((20000 + RANDOM % 12000))
		taken=0
		for q in "${port[@]}"; do [[ $q == "$p" ]] && taken=1; done
		((taken == 0)) || continue
		if [[ -z $(ss -Htln "sport = :$p") ]]; then
			port[$1]=$p
			return 0
		fi
	done
	die "no free TCP port found"
}
pick_port direct
pick_port pgbouncer
pick_port phiguard

# Connections use PGPASSWORD; nothing puts the password on a command line.
PGPASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PGPASSWORD
export PGSSLMODE=disable PGCONNECT_TIMEOUT=5
unset PGSERVICE PGSERVICEFILE PGOPTIONS PGPASSFILE PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE

# --- phiguard build (first: a broken build should fail before anything starts) --

if has_target phiguard; then
	log "building phiguard"
	(cd "$root" && go build -o "$tmp/phiguard" ./cmd/phiguard)
fi

# --- PostgreSQL --------------------------------------------------------------

log "starting PostgreSQL on 127.0.0.1:${port[direct]}"
mkdir "$tmp/sock"
chown postgres: "$tmp/sock"
as_postgres "$PG_BIN/initdb" -D "$tmp/pgdata" -U postgres -E UTF8 --no-sync \
	--auth-local=trust --auth-host=scram-sha-256 >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; die "initdb failed"; }
cat >>"$tmp/pgdata/postgresql.conf" <<EOF

# phiguard bench: throwaway instance, durability off.
listen_addresses = '127.0.0.1'
port = ${port[direct]}
unix_socket_directories = '$tmp/sock'
max_connections = 50
shared_buffers = 256MB
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
pg_started=1
as_postgres "$PG_BIN/pg_ctl" -D "$tmp/pgdata" -l "$tmp/postgres.log" -w -t 60 start >/dev/null ||
	die "PostgreSQL did not start"

# Superuser over the private Unix socket (trust); everything else over TCP with SCRAM.
su_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp/sock" -p "${port[direct]}" -U postgres -d postgres "$@"; }
# The password goes through stdin, not argv.
su_psql <<EOF
CREATE ROLE $BENCH_USER LOGIN PASSWORD '$PGPASSWORD';
CREATE DATABASE $BENCH_DB OWNER $BENCH_USER;
EOF
scram_secret=$(su_psql -At -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$BENCH_USER'")
[[ $scram_secret == SCRAM-SHA-256\$* ]] || die "role $BENCH_USER has no SCRAM secret"

log "pgbench -i -s $BENCH_SCALE"
"$PG_BIN/pgbench" -i -q -s "$BENCH_SCALE" -h 127.0.0.1 -p "${port[direct]}" -U "$BENCH_USER" "$BENCH_DB" \
	>"$tmp/pgbench-init.log" 2>&1 || { cat "$tmp/pgbench-init.log" >&2; die "pgbench -i failed"; }

# --- PgBouncer ---------------------------------------------------------------

if has_target pgbouncer; then
	log "starting PgBouncer on 127.0.0.1:${port[pgbouncer]}"
	# With the SCRAM secret in auth_file PgBouncer authenticates the client and
	# reuses the client's proof to log in to PostgreSQL (SCRAM pass-through).
	printf '"%s" "%s"\n' "$BENCH_USER" "$scram_secret" >"$tmp/userlist.txt"
	cat >"$tmp/pgbouncer.ini" <<EOF
[databases]
$BENCH_DB = host=127.0.0.1 port=${port[direct]} dbname=$BENCH_DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port[pgbouncer]}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $tmp/userlist.txt
pool_mode = session
default_pool_size = 20
max_client_conn = 100
server_tls_sslmode = disable
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
logfile = $tmp/pgbouncer.log
pidfile = $tmp/pgbouncer.pid
EOF
	chown postgres: "$tmp/userlist.txt" "$tmp/pgbouncer.ini"
	chmod 600 "$tmp/userlist.txt"
	as_postgres "$pgbouncer_bin" -d "$tmp/pgbouncer.ini" || die "PgBouncer did not start"
fi

# --- phiguard ----------------------------------------------------------------

if has_target phiguard; then
	log "starting phiguard on 127.0.0.1:${port[phiguard]}"
	cat >"$tmp/phiguard.yaml" <<EOF
listen: 127.0.0.1:${port[phiguard]}
admin: ""
backend: {host: 127.0.0.1, port: ${port[direct]}, tls: {mode: disable}}
log: {level: warn}
EOF
	"$tmp/phiguard" serve --config "$tmp/phiguard.yaml" 2>"$tmp/phiguard.log" &
	phiguard_pid=$!
fi

# --- readiness ---------------------------------------------------------------

# wait_ready TARGET: waits until a query through TARGET works, or fails.
wait_ready() {
	local t=$1 i out=
	for ((i = 0; i < 100; i++)); do
		if out=$("$PG_BIN/psql" -X -At -h 127.0.0.1 -p "${port[$t]}" -U "$BENCH_USER" -d "$BENCH_DB" \
			-c 'SELECT count(*) FROM pgbench_branches' 2>&1) && [[ $out == "$BENCH_SCALE" ]]; then
			return 0
		fi
		if [[ $t == phiguard ]] && ! kill -0 "$phiguard_pid" 2>/dev/null; then
			die "phiguard exited during startup"
		fi
		sleep 0.2
	done
	die "target $t (127.0.0.1:${port[$t]}) unreachable: $out"
}
for t in "${targets[@]}"; do wait_ready "$t"; done
log "all targets answer: $(for t in "${targets[@]}"; do printf '%s=%s ' "$t" "${port[$t]}"; done)"

# --- runs --------------------------------------------------------------------

ncpu=$(nproc)
# jobs_for CLIENTS: one pgbench thread per client up to the number of CPUs,
# and a divisor of the client count so threads carry equal load.
jobs_for() {
	local c=$1 j
	j=$((c < ncpu ? c : ncpu))
	while ((c % j != 0)); do j=$((j - 1)); done
	echo "$j"
}

# run_pgbench TARGET CLIENTS MODE SECONDS LOGFILE: sets run_tps and run_lat (ms),
# both empty when the run completed no transaction.
run_pgbench() {
	local t=$1 c=$2 m=$3 s=$4 out=$5 j rc=0 res
	j=$(jobs_for "$c")
	timeout --foreground -k 10 $((s + 60)) \
		"$PG_BIN/pgbench" -n -S -M "$m" -c "$c" -j "$j" -T "$s" \
		-h 127.0.0.1 -p "${port[$t]}" -U "$BENCH_USER" "$BENCH_DB" >"$out" 2>&1 || rc=$?
	if ((rc == 130 || rc == 143)); then
		log "interrupted"
		exit "$rc"
	fi
	if ((rc != 0)); then
		cat "$out" >&2
		((rc != 124)) || log "pgbench ran $((s + 60))s for a ${s}s run and was killed"
		die "pgbench against $t (-c $c -M $m) failed with status $rc"
	fi
	# pgbench 15 prints e.g.:
	#   number of failed transactions: 0 (0.000%)
	#   latency average = 0.081 ms
	#   tps = 12345.678901 (without initial connection time)
	res=$(awk -v target="$t" '
		/^number of transactions actually processed:/ { done = $NF + 0 }
		/^number of failed transactions:/ { failed = $5 + 0 }
		/^latency average = / { if ($5 == "ms") lat = $4 }
		/^tps = / && /without initial connection time/ { tps = $3 }
		END {
			# A clean run too short to finish a transaction has no numbers, but is no failure.
			if (done == 0 && failed == 0 && tps == "") { print "none"; exit }
			if (tps == "" || lat == "" || done == 0 || failed != 0) {
				printf "cannot read a clean result for %s (tps=%s latency=%s processed=%s failed=%s)\n",
					target, tps, lat, done, failed > "/dev/stderr"
				exit 1
			}
			print tps, lat
		}' "$out") || { cat "$out" >&2; die "unexpected pgbench output against $t"; }
	run_tps='' run_lat=''
	if [[ $res == none ]]; then
		log "warning: pgbench against $t (-c $c -M $m) finished no transaction in ${s}s; no result recorded"
		return 0
	fi
	read -r run_tps run_lat <<<"$res"
}

if ((BENCH_WARMUP > 0)); then
	for t in "${targets[@]}"; do
		log "warm-up $t (${BENCH_WARMUP}s)"
		run_pgbench "$t" "${clients_list[-1]}" simple "$BENCH_WARMUP" "$tmp/warmup-$t.log"
	done
fi

runs_per_rep=$((${#clients_list[@]} * ${#modes[@]} * ${#targets[@]}))
log "measuring: $BENCH_REPS reps x $runs_per_rep runs x ${BENCH_SECONDS}s ≈ $((BENCH_REPS * runs_per_rep * BENCH_SECONDS / 60 + 1)) min"
results=$tmp/results.tsv
: >"$results"
ntargets=${#targets[@]}
for ((rep = 1; rep <= BENCH_REPS; rep++)); do
	for c in "${clients_list[@]}"; do
		for m in "${modes[@]}"; do
			# Every target runs once per (clients, mode) in each repetition, and the
			# starting target rotates between repetitions, so drift and ordering
			# effects spread over all targets.
			for ((k = 0; k < ntargets; k++)); do
				t=${targets[$(((k + rep - 1) % ntargets))]}
				run_pgbench "$t" "$c" "$m" "$BENCH_SECONDS" "$tmp/run-$rep-$c-$m-$t.log"
				[[ -n $run_tps ]] || continue
				printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$c" "$m" "$t" "$run_tps" "$run_lat" >>"$results"
				log "rep $rep/$BENCH_REPS c=$c $m $t: tps=$run_tps latency=${run_lat}ms"
			done
		done
	done
done
if has_target phiguard && ! kill -0 "$phiguard_pid" 2>/dev/null; then
	die "phiguard exited during the runs"
fi

# --- report ------------------------------------------------------------------

# median CLIENTS MODE TARGET FIELD(5=tps,6=lat): median over repetitions, or "".
median() {
	awk -F'\t' -v c="$1" -v m="$2" -v t="$3" -v f="$4" '$2 == c && $3 == m && $4 == t { print $f }' "$results" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (NR == 0) exit
			if (NR % 2) printf "%.6f\n", v[(NR + 1) / 2]
			else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}
# fmt FORMAT VALUE: printf, or "n/a" when the value is missing.
fmt() {
	[[ -n $2 ]] || { echo "n/a"; return; }
	# shellcheck disable=SC2059 # the format is ours
	LC_ALL=C printf "$1" "$2"
}
# ratio A B: A/B, or "n/a" when either is missing.
ratio() {
	[[ -n $1 && -n $2 ]] || { echo "n/a"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}
# diff_ms A B: A-B with a sign, or "n/a" when either is missing.
diff_ms() {
	[[ -n $1 && -n $2 ]] || { echo "n/a"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.3f", a - b }'
}

table=$tmp/table.md
{
	echo "| clients | mode | TPS direct | TPS pgbouncer | TPS phiguard | lat direct (ms) | lat pgbouncer (ms) | lat phiguard (ms) | phiguard/pgbouncer TPS | phiguard/direct TPS | added lat pgbouncer (ms) | added lat phiguard (ms) |"
	echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for c in "${clients_list[@]}"; do
		for m in "${modes[@]}"; do
			dt=$(median "$c" "$m" direct 5) bt=$(median "$c" "$m" pgbouncer 5) gt=$(median "$c" "$m" phiguard 5)
			dl=$(median "$c" "$m" direct 6) bl=$(median "$c" "$m" pgbouncer 6) gl=$(median "$c" "$m" phiguard 6)
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$m" \
				"$(fmt '%.0f' "$dt")" "$(fmt '%.0f' "$bt")" "$(fmt '%.0f' "$gt")" \
				"$(fmt '%.3f' "$dl")" "$(fmt '%.3f' "$bl")" "$(fmt '%.3f' "$gl")" \
				"$(ratio "$gt" "$bt")" "$(ratio "$gt" "$dt")" \
				"$(diff_ms "$bl" "$dl")" "$(diff_ms "$gl" "$dl")"
		done
	done
} >"$table"

cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
go_version=$(go version 2>/dev/null || echo "not installed")
pg_version=$("$PG_BIN/postgres" --version)
pgbench_version=$("$PG_BIN/pgbench" --version)
pgb_version=$([[ -n $pgbouncer_bin ]] && "$pgbouncer_bin" --version 2>&1 | head -n 1 || echo "not used")
tree=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
# A busy machine makes the numbers noisy; say so rather than judge them. Only
# the load before the script started counts: the runs load the machine themselves.
busy_note=
if awk -v a="${load_start%% *}" -v n="$ncpu" 'BEGIN { exit !(a > n / 2) }'; then
	busy_note="Note: the machine was already busy before the benchmark (load average ${load_start// //} on $ncpu CPUs); other work competed for the CPUs, so treat these numbers as rough and look at the spread in the raw runs."
	log "$busy_note"
fi

mkdir -p "$(dirname "$BENCH_OUT")"
{
	echo "# phiguard benchmark: pgbench select-only"
	echo
	echo "Median over $BENCH_REPS repetition(s) of ${BENCH_SECONDS}s \`pgbench -n -S\` runs (scale $BENCH_SCALE)."
	echo "TPS excludes connection time; latency is pgbench's \"latency average\"; added latency is the target's minus direct's."
	echo "pgbench threads: $(for c in "${clients_list[@]}"; do printf -- '-c %s -j %s; ' "$c" "$(jobs_for "$c")"; done)targets alternate within each repetition."
	echo
	[[ -z $busy_note ]] || printf '%s\n\n' "$busy_note"
	cat "$table"
	echo
	echo "## Machine"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "- nproc: $ncpu"
	echo "- CPU: ${cpu_model:-unknown}"
	echo "- memory: $mem"
	echo "- load average (1/5/15 min) before the script: ${load_start// //}; at the end: ${load_end// //}"
	echo "- kernel: $(uname -sr)"
	echo "- go: $go_version"
	echo "- PostgreSQL: $pg_version (fsync off, synchronous_commit off, shared_buffers 256MB)"
	echo "- pgbench: $pgbench_version"
	echo "- PgBouncer: $pgb_version (session pool, SCRAM via auth_file)"
	echo "- phiguard tree: $tree"
	echo
	echo "## Raw runs"
	echo
	echo "| rep | clients | mode | target | TPS | latency (ms) |"
	echo "|---:|---:|---|---|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %s | %s | %.0f | %.3f |\n", $1, $2, $3, $4, $5, $6 }' "$results"
} >"$BENCH_OUT"

echo
cat "$table"
echo
log "report written to $BENCH_OUT"
