#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/seed-loops.sh: what more event loops would give the seed page.
# inbatch runs one event loop; while the page waits on it, a CPU can idle
# (cpu.sh's seed table: CPUs busy).  Here the page (bench/lookups, 64
# connections, one key each) goes direct and through L inbatch processes
# for each L in LOOPS, batch_mode=adaptive, with the connections taking
# the processes in turn: L event loops, each with a batcher of its own.
# One table (bench/seed-table.awk): page time, statements, CPU per lookup
# of client, proxies and server, CPUs busy, and the page that CPU would
# take with every CPU busy.
#
#   INBATCH=build/src/inbatch bench/seed-loops.sh
#
# Settings (environment):
#   LOOPS         inbatch processes per target, each 1 to 3 (default "1 2";
#                 at most 3: lookups reads the CPU of four processes, the
#                 server's and the proxies')
#   SEED_LOOKUPS  lookups per page (default 1000)
#   ROUNDS        pages per target, interleaved, after one that warms up
#                 (default 9)
#   BATCH_WINDOW_US, BATCH_MAX_KEYS, BATCH_BUSY_KEYS  as in cpu.sh
#   OUT           where seed.txt (one line per page) and table.txt go
#                 (default ./seed-loops-DATE-TIME)

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

LOOPS=${LOOPS:-"1 2"}
SEED_LOOKUPS=${SEED_LOOKUPS:-1000}
ROUNDS=${ROUNDS:-9}
OUT=$(realpath -m "${OUT:-$PWD/seed-loops-$(date +%Y%m%d-%H%M%S)}")
KEYS=10000

for l in $LOOPS; do
	case $l in
	1 | 2 | 3) ;;
	*) echo "seed-loops.sh: LOOPS: 1, 2 or 3 each, not $l" >&2; exit 2 ;;
	esac
done
for v in "$SEED_LOOKUPS" "$ROUNDS"; do
	case $v in
	'' | *[!0-9]* | 0*)
		echo "seed-loops.sh: SEED_LOOKUPS and ROUNDS: positive numbers" >&2
		exit 2 ;;
	esac
done

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"

INBATCH=$(ib_find_inbatch "$top")
if [ ! -x "$INBATCH" ]; then
	echo "seed-loops.sh: no inbatch binary at $INBATCH (set INBATCH)" >&2
	exit 1
fi

ib_bench_begin seed-loops
mkdir -p "$OUT"

echo "# starting MariaDB" >&2
mdb_start "$WORK/mdb"
mdb_sql "SET GLOBAL max_connections = 3000"
mdb_create_projects "$KEYS"
LK=$WORK/lookups
ib_build_lookups "$top" "$LK"

# The processes of target loops-L: ports (-P each) and pids (comma list).
declare -A ports_of pids_of
targets=direct
ports_of[direct]="-P $MDB_PORT"
pids_of[direct]=-
n=0
for l in $LOOPS; do
	t=loops-$l
	case " $targets " in *" $t "*) continue ;; esac
	targets="$targets $t"
	ports_of[$t]=""
	pids_of[$t]=""
	for ((i = 1; i <= l; i++)); do
		n=$((n + 1))
		echo "# starting inbatch $i of $t" >&2
		ib_start_inbatch "$INBATCH" "$WORK/inbatch-$n.conf" \
			"$WORK/inbatch-$n.out" < <(ib_bench_settings adaptive) ||
			exit 1
		ports_of[$t]="${ports_of[$t]} -P $IB_PORT"
		pids_of[$t]="${pids_of[$t]:+${pids_of[$t]},}$IB_PID"
	done
done

# com_select: the server's Com_select now (the page's statements and the
# logins' together); it fails rather than count nothing
com_select()
{
	local v
	v=$(mdb_sql "SHOW GLOBAL STATUS LIKE 'Com_select'" -N | cut -f2)
	case $v in
	'' | *[!0-9]*) echo "seed-loops.sh: no Com_select: '$v'" >&2; exit 1 ;;
	esac
	echo "$v"
}

SEED=$OUT/seed.txt
: >"$SEED"
echo "# $ROUNDS rounds of $SEED_LOOKUPS lookups from 64 connections" \
     "against: $targets" >&2
for ((r = 0; r <= ROUNDS; r++)); do
	for t in $targets; do
		cpu=(--cpu-pid "$MDB_PID")
		if [ "${pids_of[$t]}" != - ]; then
			for p in ${pids_of[$t]//,/ }; do
				cpu+=(--cpu-pid "$p")
			done
		fi
		s0=$(com_select)
		# shellcheck disable=SC2086  # one -P PORT per process
		if ! o=$("$LK" -h 127.0.0.1 ${ports_of[$t]} -u app -p secret \
			-D demo --keys "$KEYS" -n "$SEED_LOOKUPS" -c 64 \
			--mode parallel --count-port "$MDB_PORT" "${cpu[@]}" \
			2>"$WORK/lookups.err"); then
			echo "seed-loops.sh: the page against $t failed:" >&2
			cat "$WORK/lookups.err" >&2
			exit 1
		fi
		s1=$(com_select)
		[ "$r" -eq 0 ] && continue	# round 0 warms up
		echo "$t $((s1 - s0)) $MDB_PID ${pids_of[$t]} $o" >>"$SEED"
	done
done

{
	echo "seed page: $SEED_LOOKUPS lookups from 64 connections, median of" \
	     "$ROUNDS rounds; loops-L: L inbatch processes (adaptive), the" \
	     "connections in turn"
	awk -v n="$SEED_LOOKUPS" -v ncpu="$(nproc)" -f "$here/seed-table.awk" \
		"$SEED"
} >"$OUT/table.txt"
cat "$OUT/table.txt"
echo "results: $SEED, table: $OUT/table.txt"
