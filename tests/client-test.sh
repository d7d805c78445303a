#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/client-test.sh: run MariaDB's C API test program (mariadb-client-test,
# Debian package mariadb-test) one test per process, directly against a
# private mariadbd and through inbatch with batch_mode adaptive and off, each
# leg on its own server, and print per test what passed where.
#
#   tests/client-test.sh [-k] [-t SECONDS] [-j JOBS] [TEST...]
#
#   -t SECONDS  time limit per test process (default 120)
#   -j JOBS     legs run at once (default 3: all three in parallel)
#   -k          keep the work directory (outputs of every run)
#   TEST...     only these tests (default: all that -T lists)
#
# Environment: INBATCH or IB_BUILDDIR find the binary (as scripts/*.sh do),
# IB_CLIENT_TEST the test program, IB_CT_LOG_LEVEL inbatch's log_level
# (with -k, its logs stay in the work directory), IB_CT_ON_MODE the
# batch_mode of the "adaptive" leg (window: every lookup of these
# one-connection tests waits its window and runs as a batch of one, with
# the probe; adaptive runs a lookup alone when none of its shape is in
# flight, which in one connection is always).  Exit status: 0 when every test that
# passes directly also passes through inbatch in both modes, or is listed in
# KNOWN below; 1 otherwise; 2 when the setup failed; 77 (skip) without
# mariadb-client-test.  A run of all ~300 tests takes several minutes: it is
# run by hand or by a CI stage with a time limit, not by `make check`.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$top/scripts/mariadb-throwaway.sh"

# Tests that pass directly and fail through inbatch for a reason that is
# inbatch's design, one per line with the reason.  Keep this list short.
KNOWN="
"

per_test=120
jobs=3
keep=0
while getopts "kt:j:" opt; do
	case $opt in
	k) keep=1 ;;
	t) per_test=$OPTARG ;;
	j) jobs=$OPTARG ;;
	*) sed -n '2,20p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

ct=${IB_CLIENT_TEST:-$(command -v mariadb-client-test || true)}
if [ -z "$ct" ] || [ ! -x "$ct" ]; then
	echo "client-test.sh: mariadb-client-test not found (apt-get install mariadb-test)" >&2
	exit 77
fi
inbatch=$(ib_find_inbatch "$top")
if [ ! -x "$inbatch" ]; then
	echo "client-test.sh: inbatch binary not found at $inbatch (set INBATCH or IB_BUILDDIR)" >&2
	exit 2
fi

if [ $# -gt 0 ]; then
	tests=("$@")
else
	mapfile -t tests < <("$ct" --no-defaults -T 2>/dev/null |
				     grep -E '^[a-z][A-Za-z0-9_]*$')
fi
if [ ${#tests[@]} -eq 0 ]; then
	echo "client-test.sh: no tests listed by $ct -T" >&2
	exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/inbatch-ct.XXXXXX")
legs=(direct adaptive off)
declare -A srv_dir srv_port srv_pid ib_pid ib_port

cleanup()
{
	local leg
	for leg in "${legs[@]}"; do
		[ -n "${ib_pid[$leg]:-}" ] && ib_stop_pid "${ib_pid[$leg]}"
		if [ -n "${srv_pid[$leg]:-}" ]; then
			MDB_PID=${srv_pid[$leg]} MDB_DIR=${srv_dir[$leg]}
			mdb_stop
		fi
	done
	if [ "$keep" -eq 1 ]; then
		echo "outputs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# The server options mysql-test-run gives main.mysql_client_test.
MDB_EXTRA_ARGS=(--max-allowed-packet=32000000 --general-log
		--general-log-file=general.log --log-output=FILE,TABLE
		--proxy-protocol-networks='*' --sequence=on
		--local-infile=1)
for leg in "${legs[@]}"; do
	mdb_start "$WORK/srv-$leg" || exit 2
	srv_dir[$leg]=$MDB_DIR srv_port[$leg]=$MDB_PORT srv_pid[$leg]=$MDB_PID
	# the test program logs in as root over TCP from 127.0.0.1
	mdb_sql "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
		 GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
		 GRANT PROXY ON ''@'%' TO 'root'@'127.0.0.1' WITH GRANT OPTION;
		 CREATE DATABASE test;" ||
		exit 2
	mkdir -p "$WORK/$leg/var" "$WORK/$leg/tmp"
	if [ "$leg" = direct ]; then
		ib_port[$leg]=$MDB_PORT
		continue
	fi
	ib_port[$leg]=$(ib_free_port)
	cat >"$WORK/$leg/inbatch.ini" <<-EOF
	[inbatch]
	listen = 127.0.0.1:${ib_port[$leg]}
	admin_listen =
	backend = 127.0.0.1:$MDB_PORT
	batch_mode = $([ "$leg" = adaptive ] && echo "${IB_CT_ON_MODE:-adaptive}" || echo "$leg")
	query_timeout = 0
	max_client_conn = 2000
	max_packet_size = 1073741824
	log_level = ${IB_CT_LOG_LEVEL:-info}
	[users]
	root =
	# accounts the tests create (inbatch checks passwords itself)
	mysqltest_pw = password
	mysqltest_no_pw =
	# test_bug31669's account of 16 b's, and names near it that the
	# server refuses (a refused COM_CHANGE_USER keeps the session)
	b* =
	EOF
	ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16} \
		"$inbatch" -c "$WORK/$leg/inbatch.ini" >"$WORK/$leg/inbatch.log" 2>&1 &
	ib_pid[$leg]=$!
	if ! ib_wait_port "${ib_port[$leg]}" 20; then
		echo "inbatch ($leg) did not start:" >&2
		tail -20 "$WORK/$leg/inbatch.log" >&2
		exit 2
	fi
done

# run_leg LEG: every test against LEG's endpoint, one process each.
run_leg()
{
	local leg=$1 t rc out
	for t in "${tests[@]}"; do
		out=$WORK/$leg/$t.out
		MYSQL_TMP_DIR=$WORK/$leg/tmp timeout -k 5 "$per_test" \
			"$ct" --no-defaults --testcase --vardir="$WORK/$leg/var" \
			-h 127.0.0.1 -P "${ib_port[$leg]}" -u root "$t" \
			>"$out" 2>&1 </dev/null
		rc=$?
		echo "$rc" >"$WORK/$leg/$t.rc"
	done
}

start=$(date +%s)
pids=()
running=0
for leg in "${legs[@]}"; do
	run_leg "$leg" &
	pids+=($!)
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait "${pids[0]}"
		pids=("${pids[@]:1}")
		running=$((running - 1))
	fi
done
wait "${pids[@]}"
elapsed=$(($(date +%s) - start))

# known TEST: true when TEST is on the KNOWN list.
known()
{
	grep -qE "^$1([[:space:]]|\$)" <<<"$KNOWN"
}

result()
{
	local rc
	rc=$(cat "$WORK/$1/$2.rc" 2>/dev/null || echo 255)
	case $rc in
	0) echo pass ;;
	124|137) echo timeout ;;
	*) echo fail ;;
	esac
}

declare -A npass
bad=0 nknown=0 fixed=0
for leg in "${legs[@]}"; do npass[$leg]=0; done
printf '%-32s %-8s %-8s %-8s\n' test direct adaptive off
for t in "${tests[@]}"; do
	d=$(result direct "$t")
	a=$(result adaptive "$t")
	o=$(result off "$t")
	for leg in "${legs[@]}"; do
		[ "$(result "$leg" "$t")" = pass ] && npass[$leg]=$((npass[$leg] + 1))
	done
	note=""
	if [ "$d" = pass ] && { [ "$a" != pass ] || [ "$o" != pass ]; }; then
		if known "$t"; then
			note="known difference"
			nknown=$((nknown + 1))
		else
			note="DIFFERENT"
			bad=$((bad + 1))
		fi
	elif [ "$d" = pass ] && known "$t"; then
		note="on the known list, but passes now"
		fixed=$((fixed + 1))
	elif [ "$d" != pass ] && { [ "$a" = pass ] || [ "$o" = pass ]; }; then
		note="passes only through inbatch"
	fi
	printf '%-32s %-8s %-8s %-8s %s\n' "$t" "$d" "$a" "$o" "$note"
	if [ -n "$note" ]; then
		for leg in "${legs[@]}"; do
			[ "$(result "$leg" "$t")" = pass ] && continue
			echo "    --- $leg: last lines ---"
			grep -v '^ *$' "$WORK/$leg/$t.out" | tail -n 6 | sed 's/^/    /'
		done
	fi
done
echo
echo "tests: ${#tests[@]}; passed: direct ${npass[direct]}," \
     "inbatch adaptive ${npass[adaptive]}, inbatch off ${npass[off]};" \
     "${elapsed}s"
echo "passing directly but not through inbatch: $bad unexpected, $nknown known"
[ "$fixed" -gt 0 ] && echo "$fixed known differences pass now: update KNOWN"
for leg in adaptive off; do
	if grep -qE 'AddressSanitizer|runtime error:|LeakSanitizer' \
		"$WORK/$leg/inbatch.log"; then
		echo "inbatch ($leg) printed a sanitizer report:"
		grep -m5 -E 'AddressSanitizer|runtime error:' "$WORK/$leg/inbatch.log"
		bad=$((bad + 1))
	fi
	if ! kill -0 "${ib_pid[$leg]}" 2>/dev/null; then
		echo "inbatch ($leg) died; log tail:"
		tail -20 "$WORK/$leg/inbatch.log"
		bad=$((bad + 1))
	fi
done
[ "$bad" -eq 0 ]
