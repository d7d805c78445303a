#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# tests/mtr-extern.sh: run MariaDB's own mysql-test-run (package
# mariadb-test) with --extern over a list of main-suite tests, first
# against a MariaDB server directly, then through inbatch in front of it
# (no [users]: it relays authentication; batching on), and print both
# counts and every test whose outcome differs.  Not part of `make check`:
# it takes some minutes and needs the mariadb-test package.
#
#   tests/mtr-extern.sh [--direct-only] [TEST...]
#
# e.g.  IB_BUILDDIR=/tmp/wm tests/mtr-extern.sh
#       IB_BUILDDIR=/tmp/wm IB_MTR_KEEP=1 tests/mtr-extern.sh main.ps_error
#
# The expected results of mtr assume mtr's own server options and system
# tables, which a server set up by mariadb-install-db lacks.  So mtr starts
# the server itself (--start-and-exit, private --vardir and --tmpdir, on a
# port group found free), and both runs use that server's vardir, so that
# secure_file_priv and the datadir paths the tests use agree.  Each run gets
# a freshly initialised server with the same options and port, so what one
# run leaves behind cannot change the other's results.  --direct-only skips
# the run through inbatch (used to choose the list, see mtr-extern.list).
#
# Environment: IB_BUILDDIR (holds src/inbatch; default: the source tree,
# then ./), MTR_DIR (default /usr/share/mysql/mysql-test), IB_MTR_LIST
# (default tests/mtr-extern.list), IB_MTR_BATCH (batch_mode, default
# adaptive), IB_MTR_TIMEOUT (seconds per mtr run, default 1200),
# IB_MTR_KEEP=1 keeps the work directory (logs, mtr vardirs, rejects).
#
# Only loopback is used; only processes this script started are stopped,
# by pid.  mtr writes a failed test's .reject next to its .result when it
# can (as root); those this run wrote are moved into the work directory.
set -uo pipefail

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MTR_DIR=${MTR_DIR:-/usr/share/mysql/mysql-test}
LIST=${IB_MTR_LIST:-$SRCDIR/tests/mtr-extern.list}
BATCH=${IB_MTR_BATCH:-adaptive}
RUN_TIMEOUT=${IB_MTR_TIMEOUT:-1200}
DIRECT_ONLY=0
if [ "${1:-}" = --direct-only ]; then
	DIRECT_ONLY=1
	shift
fi
if [ -n "${IB_BUILDDIR:-}" ]; then
	INBATCH=$IB_BUILDDIR/src/inbatch
elif [ -x "$SRCDIR/src/inbatch" ]; then
	INBATCH=$SRCDIR/src/inbatch
else
	INBATCH=$PWD/src/inbatch
fi
[ $DIRECT_ONLY = 1 ] || [ -x "$INBATCH" ] ||
	{ echo "no inbatch binary at $INBATCH" >&2; exit 2; }
[ -x "$MTR_DIR/mtr" ] || {
	echo "no $MTR_DIR/mtr: apt-get install mariadb-test" >&2; exit 2; }

if [ $# -gt 0 ]; then
	TESTS=("$@")
else
	mapfile -t TESTS < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$LIST" |
			     grep -v '^$')
fi
# keep the tests this mariadb-test package has (mtr stops at an unknown one)
have=()
for t in "${TESTS[@]}"; do
	suite=${t%%.*} name=${t#*.}
	if [ -f "$MTR_DIR/main/$name.test" ] && [ "$suite" = main ] ||
	   [ -f "$MTR_DIR/suite/$suite/t/$name.test" ]; then
		have+=("$t")
	else
		echo "not in this mariadb-test: $t" >&2
	fi
done
TESTS=("${have[@]}")
[ ${#TESTS[@]} -gt 0 ] || { echo "no tests to run" >&2; exit 2; }

WORK=$(mktemp -d /tmp/ib-mtr.XXXXXX)
SRV_VARDIR=
MDB_PID=
IB_PID=
MTR_PID=

# Stop the server mtr started for us.  mtr has exited by then, so the
# server is no child of ours: take its pid from the pid file in our own
# vardir and check that it runs from there before signalling it.
stop_server()
{
	local pid i

	[ -n "$SRV_VARDIR" ] || return 0
	pid=${MDB_PID:-$(cat "$SRV_VARDIR/run/mysqld.1.pid" 2>/dev/null)}
	SRV_VARDIR= MDB_PID=
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$WORK/" || return 0
	kill "$pid" 2>/dev/null
	for i in $(seq 1 300); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

stop_inbatch()
{
	[ -n "$IB_PID" ] || return 0
	kill "$IB_PID" 2>/dev/null
	wait "$IB_PID" 2>/dev/null
	IB_PID=
}

cleanup()
{
	# timeout(1) runs mtr in a process group of its own and passes a
	# TERM on to it, so an interrupted run stops its mtr too
	[ -n "$MTR_PID" ] && kill "$MTR_PID" 2>/dev/null && wait "$MTR_PID"
	stop_inbatch
	stop_server
	[ "${IB_MTR_KEEP:-}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port()
{
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# An mtr "build thread" B reserves ports 10000+30*B .. +29.  Print a B
# whose group and the next are free on loopback: the server takes B, the
# --extern runs (which start nothing but still reserve ports) take B+1.
# Giving it explicitly also keeps mtr off its shared lock directory.
free_build_thread()
{
	/usr/bin/python3 - <<'EOF'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
cands = list(range(100, 700))
random.shuffle(cands)
for b in cands:
    if all(free(p) for p in range(10000 + 30 * b, 10000 + 30 * (b + 2))):
        print(b)
        break
EOF
}

wait_port()
{
	local i
	for i in $(seq 1 $(($2 * 10))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

BT=$(free_build_thread)
[ -n "$BT" ] || { echo "no free mtr port group" >&2; exit 1; }

# Start a fresh server as mtr configures it for a plain main-suite test
# (main.1st has no options of its own) in $WORK/<name>; set MDB_PORT.
start_server()
{
	local name=$1

	SRV_VARDIR=$WORK/$name/var
	mkdir -p "$WORK/$name/tmp"
	(cd "$MTR_DIR" && timeout 300 ./mtr --start-and-exit \
		--vardir="$SRV_VARDIR" --tmpdir="$WORK/$name/tmp" \
		--build-thread="$BT" main.1st) >"$WORK/$name/start.log" 2>&1 ||
		{ cat "$WORK/$name/start.log" >&2; return 1; }
	MDB_PID=$(cat "$SRV_VARDIR/run/mysqld.1.pid") || return 1
	MDB_PORT=$(awk -F= '/^\[/ { s = ($0 == "[mysqld.1]") }
			    s && $1 == "port" { print $2 }' "$SRV_VARDIR/my.cnf")
	[ -n "$MDB_PORT" ] && wait_port "$MDB_PORT" 30 ||
		{ echo "server of $name not listening" >&2; return 1; }
}

# Start inbatch in front of the server: no [users], batching on.  The
# admin console only serves SHOW STATS at the end.
start_inbatch()
{
	IB_PORT=$(free_port)
	ADMIN_PORT=$(free_port)
	ADMIN_PW=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
	cat >"$WORK/inbatch.conf" <<EOF
[inbatch]
listen = 127.0.0.1:$IB_PORT
backend = 127.0.0.1:$MDB_PORT
admin_listen = 127.0.0.1:$ADMIN_PORT
admin_password = $ADMIN_PW
batch_mode = $BATCH
max_client_conn = 400
EOF
	"$INBATCH" -c "$WORK/inbatch.conf" >"$WORK/inbatch.log" 2>&1 &
	IB_PID=$!
	wait_port "$IB_PORT" 20 || { cat "$WORK/inbatch.log" >&2; return 1; }
}

# Run the tests --extern against 127.0.0.1:<port>, in list order, with the
# server's vardir (see the header).  mysqltest reaches the endpoint over
# TCP only (no socket given), so connect(...localhost...) in a test goes
# through the endpoint too.  Writes $WORK/<name>.res: "test outcome".
run_mtr()
{
	local name=$1 port=$2 rc

	touch "$WORK/$name.stamp"
	cd "$MTR_DIR" || return 1
	timeout "$RUN_TIMEOUT" ./mtr \
		--extern host=127.0.0.1 --extern port="$port" \
		--extern user=root --extern protocol=tcp \
		--vardir="$SRV_VARDIR" --tmpdir="$WORK/$name/tmp" \
		--build-thread=$((BT + 1)) --noreorder \
		--force --max-test-fail=0 --retry=0 --testcase-timeout=2 \
		--parallel=1 "${TESTS[@]}" >"$WORK/$name.log" 2>&1 &
	MTR_PID=$!
	cd - >/dev/null
	wait "$MTR_PID"
	rc=$?
	MTR_PID=
	[ $rc = 124 ] && echo "$name: mtr stopped after ${RUN_TIMEOUT}s" >&2
	mkdir -p "$WORK/$name/rejects"
	find "$MTR_DIR" -name '*.reject' -newer "$WORK/$name.stamp" \
		-exec mv -t "$WORK/$name/rejects" {} + 2>/dev/null
	# one line per test: "main.x  [ pass ]" / "[ fail ]" / "[ skipped ]"
	grep -E '^[a-z0-9_]+\.[A-Za-z0-9_-]+ +(\S+ +)?\[ [a-z]+' "$WORK/$name.log" |
		sed -E 's/^([^ ]+) .*\[ ([a-z]+).*/\1 \2/' | sort -u >"$WORK/$name.res"
}

count()
{
	grep -c " $2\$" "$WORK/$1.res"
}

start_server direct || exit 1
run_mtr direct "$MDB_PORT"
stop_server
runs=(direct)
if [ $DIRECT_ONLY = 0 ]; then
	start_server proxy || exit 1
	start_inbatch || exit 1
	run_mtr proxy "$IB_PORT"
	runs+=(proxy)
fi

for n in "${runs[@]}"; do
	printf '%-7s pass %3d  fail %3d  skipped %3d  (of %d)\n' "$n" \
		"$(count $n pass)" "$(count $n fail)" "$(count $n skipped)" \
		"${#TESTS[@]}"
done
if [ $DIRECT_ONLY = 1 ]; then
	echo "failed directly:"
	awk '$2 == "fail" { print "  " $1 }' "$WORK/direct.res"
	exit 0
fi
echo "tests whose outcome differs (direct -> through inbatch):"
join -a1 -a2 -e missing -o 0,1.2,2.2 "$WORK/direct.res" "$WORK/proxy.res" |
	awk '$2 != $3 { printf "  %-32s %s -> %s\n", $1, $2, $3; d++ }
	     END { if (!d) print "  none" }'
mariadb --no-defaults -h127.0.0.1 -P"$ADMIN_PORT" -uadmin -p"$ADMIN_PW" \
	-N -e 'SHOW STATS' 2>/dev/null |
	grep -E '^(queries_total|queries_batched|batches|auth_failures)\s'
