#!/usr/bin/env bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/instr.sh: the instructions each proxy executes per relayed query,
# counted by valgrind's callgrind: user-space work only (the proxy, libevent,
# libc), the same from run to run, where qps and CPU time on a shared
# 2-core machine move by 10% or more.  The kernel's side (the socket calls,
# which both proxies make alike) is not counted: bench/cpu.sh has it.
#
# One sysbench oltp_point_select thread, so that every query is relayed on
# its own, against each target started under callgrind; each runs twice,
# with EVENTS_SMALL and EVENTS queries, and the difference divided by the
# difference in queries is the cost of a query, without start-up and login.
#
#   haproxy      HAProxy, TCP mode, one thread
#   off          inbatch, batch_mode = off
#   adaptive     inbatch, batch_mode = adaptive (one client: nothing to batch,
#                so this is what the batcher's checks add to a lookup)
#   base-off, base-adaptive   the same with $BASELINE, when set
#
# Environment:
#   INBATCH      proxy binary (as bench/cpu.sh); not a sanitizer build
#   BASELINE     a second inbatch binary, for before/after in one run
#   TARGETS      any of "haproxy off adaptive" (default all three)
#   MODES        any of "text prepared" (default both)
#   EVENTS_SMALL, EVENTS   queries of the two runs (default 1000, 5000)
#   TABLE_SIZE   rows of the one sysbench table (default 10000)
#   SEED         a number of lookups (say 5000): also the instructions per
#                batched lookup of the seed page (bench/lookups.c, 64
#                connections) through adaptive (and base-adaptive), from a
#                run of SEED_SMALL (default 1000) lookups and one of SEED
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"

INBATCH=$(ib_find_inbatch "$top")
TARGETS=${TARGETS:-haproxy off adaptive}
MODES=${MODES:-text prepared}
EVENTS_SMALL=${EVENTS_SMALL:-1000}
EVENTS=${EVENTS:-5000}
TABLE_SIZE=${TABLE_SIZE:-10000}
BASELINE=${BASELINE:-}

for tool in valgrind sysbench haproxy; do
	if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
		echo "instr: $tool not found (scripts/deps.sh installs it)" >&2
		exit 2
	fi
done
if [ "$EVENTS" -le "$EVENTS_SMALL" ]; then
	echo "instr: EVENTS ($EVENTS) must be more than EVENTS_SMALL" >&2
	exit 2
fi
case " $TARGETS ${SEED:+seed} " in
*" off "* | *" adaptive "* | *" seed "*)
	if [ ! -x "$INBATCH" ]; then
		echo "instr: no inbatch binary at $INBATCH (set INBATCH)" >&2
		exit 2
	fi
	# valgrind cannot run what AddressSanitizer instruments
	for b in "$INBATCH" $BASELINE; do
		if nm -D "$b" 2>/dev/null | grep -q __asan_init ||
		   nm "$b" 2>/dev/null | grep -q __asan_init; then
			echo "instr: $b is a sanitizer build; build one with" \
			     "./configure && make" >&2
			exit 2
		fi
	done
	;;
esac

ib_bench_begin instr
mdb_start || exit 1
mdb_sql "CREATE DATABASE sbtest" || exit 1
SEED=${SEED:-}
SEED_SMALL=${SEED_SMALL:-1000}
if [ -n "$SEED" ]; then
	if ! [ "$SEED" -gt "$SEED_SMALL" ] 2>/dev/null; then
		echo "instr: SEED ($SEED) must be a number above SEED_SMALL" >&2
		exit 2
	fi
	mdb_create_projects 10000 || exit 1
	ib_build_lookups "$top" "$WORK/lookups" || exit 1
fi
SB=(sysbench oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1
    --mysql-user=app --mysql-password=secret --mysql-db=sbtest --tables=1
    --table-size="$TABLE_SIZE" --threads=1 --time=0)
if ! "${SB[@]}" --mysql-port="$MDB_PORT" prepare >"$WORK/prepare.log" 2>&1; then
	echo "instr: sysbench prepare failed:" >&2
	cat "$WORK/prepare.log" >&2
	exit 1
fi

# instr_wrap NAME BIN: a script that runs BIN under callgrind, its counts in
# $WORK/NAME.cg (the pid stays valgrind's: exec)
instr_wrap()
{
	printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s %s "$@"\n' \
		"$WORK/$1.cg" "$2" >"$WORK/$1.sh"
	chmod +x "$WORK/$1.sh"
}

# instr_total FILE: the instructions callgrind counted in all
instr_total()
{
	awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

# instr_run TARGET PSMODE EVENTS: start TARGET under callgrind, run EVENTS
# queries through it, stop it; prints the instructions it executed in all.
instr_run()
{
	local target=$1 ps=$2 events=$3 bin mode port pid
	case $target in
	haproxy)
		instr_wrap run "$(command -v haproxy || echo /usr/sbin/haproxy)"
		HAPROXY=$WORK/run.sh ib_start_haproxy >/dev/null || return 1
		port=$HA_PORT
		pid=$HA_PID
		;;
	*)
		bin=$INBATCH
		mode=${target#base-}
		[ "$mode" != "$target" ] && bin=$BASELINE
		instr_wrap run "$bin"
		ib_start_inbatch "$WORK/run.sh" "$WORK/ib.conf" "$WORK/ib.log" <<EOC || return 1
log_level = warn
batch_mode = $mode
[users]
app = secret
EOC
		port=$IB_PORT
		pid=$IB_PID
		;;
	esac
	if [ "$ps" = seed ]; then
		if ! "$WORK/lookups" -h 127.0.0.1 -P "$port" -u app -p secret \
			-D demo -n "$events" -c 64 >"$WORK/run.log" 2>&1; then
			echo "instr: lookups through $target failed:" >&2
			tail -n 20 "$WORK/run.log" >&2
			return 1
		fi
	elif ! "${SB[@]}" --db-ps-mode="$ps" --mysql-port="$port" \
		--events="$events" run >"$WORK/run.log" 2>&1; then
		echo "instr: sysbench through $target failed:" >&2
		tail -n 20 "$WORK/run.log" >&2
		return 1
	fi
	ib_stop_started "$pid"
	instr_total "$WORK/run.cg"
	rm -f "$WORK/run.cg"
}

targets=()
for t in $TARGETS; do
	targets+=("$t")
	if [ -n "$BASELINE" ] && [ "$t" != haproxy ]; then
		targets+=("base-$t")
	fi
done

printf 'callgrind, one sysbench oltp_point_select thread, (%s - %s queries)\n' \
	"$EVENTS" "$EVENTS_SMALL"
printf '%-9s %-14s %14s %12s\n' mode target "instr/query" "x haproxy"
for m in $MODES; do
	case $m in
	text) ps=disable ;;
	prepared) ps=auto ;;
	*) echo "instr: unknown mode $m" >&2; exit 2 ;;
	esac
	ha=""
	for t in "${targets[@]}"; do
		small=$(instr_run "$t" "$ps" "$EVENTS_SMALL") || exit 1
		big=$(instr_run "$t" "$ps" "$EVENTS") || exit 1
		per=$(( (big - small) / (EVENTS - EVENTS_SMALL) ))
		[ "$t" = haproxy ] && ha=$per
		if [ -n "$ha" ] && [ "$ha" -gt 0 ]; then
			x=$(awk -v a="$per" -v b="$ha" 'BEGIN { printf "%.2f", a / b }')
		else
			x=-
		fi
		printf '%-9s %-14s %14s %12s\n' "$m" "$t" "$per" "$x"
	done
done

if [ -n "$SEED" ]; then
	printf '\ncallgrind, the seed page (64 connections), (%s - %s lookups)\n' \
		"$SEED" "$SEED_SMALL"
	printf '%-14s %14s\n' target "instr/lookup"
	for t in adaptive ${BASELINE:+base-adaptive}; do
		small=$(instr_run "$t" seed "$SEED_SMALL") || exit 1
		big=$(instr_run "$t" seed "$SEED") || exit 1
		printf '%-14s %14s\n' "$t" $(( (big - small) / (SEED - SEED_SMALL) ))
	done
fi
