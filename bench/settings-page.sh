#!/usr/bin/env bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/settings-page.sh: the "settings page" benchmark.  A page that shows
# 1,000 projects by name issues 1,000 single-key lookups; this measures how
# long the page takes, and how many statements reach the server, when the
# lookups go straight to MariaDB and when they go through inbatch.
#
# Starts a throwaway MariaDB and an inbatch (batch_mode = adaptive) in front
# of it, loads `projects` with 10,000 rows, then runs each scenario REPEAT
# times (interleaved) and prints the medians:
#
#   (a) 1,000 lookups from 64 connections, direct
#   (b) the same through inbatch
#   (c) 1,000 lookups one after another on one connection, direct
#   (d) the same through inbatch
#   (e) one hand-written  WHERE name IN (...1,000 keys...)  query, direct
#   (f) 1,000 connections, one lookup each, direct
#   (g) the same through inbatch
#
# Environment:
#   INBATCH       proxy binary (default: ./src/inbatch, $IB_BUILDDIR/src/inbatch,
#                 build-test/src/inbatch, first that exists)
#   LOOKUPS       lookups binary (default: built from bench/lookups.c)
#   REPEAT        runs per scenario, median reported (default 3)
#   N             lookups per page (default 1000)
#   CONNS         connections of (a)/(b) (default 64)
#   FANOUT        connections of (f)/(g) (default = N)
#   BATCH_WINDOW_US, BATCH_MAX_KEYS   proxy settings (default 500, 256)

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

REPEAT=${REPEAT:-3}
N=${N:-1000}
CONNS=${CONNS:-64}
FANOUT=${FANOUT:-$N}
BATCH_WINDOW_US=${BATCH_WINDOW_US:-500}
BATCH_MAX_KEYS=${BATCH_MAX_KEYS:-256}
KEYS=10000

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"

INBATCH=$(ib_find_inbatch "$top")
if [ ! -x "$INBATCH" ]; then
	echo "settings-page: no inbatch binary at $INBATCH (set INBATCH)" >&2
	exit 1
fi

ib_bench_begin settings-page
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((FANOUT * 3 + 100)) ]; then
	echo "settings-page: warning: open files limit $(ulimit -n) may be too low" >&2
fi

# The load generator.
if [ -n "${LOOKUPS:-}" ]; then
	LK=$LOOKUPS
else
	LK=$WORK/lookups
	ib_build_lookups "$top" "$LK"
fi

echo "# starting MariaDB" >&2
mdb_start "$WORK/mdb"
mdb_sql "SET GLOBAL max_connections = 3000"
mdb_create_projects "$KEYS"

echo "# starting inbatch ($INBATCH)" >&2
ib_start_inbatch "$INBATCH" "$WORK/inbatch.conf" "$WORK/inbatch.out" <<EOF || exit 1
log_level = warn
batch_mode = adaptive
batch_window_us = $BATCH_WINDOW_US
batch_max_keys = $BATCH_MAX_KEYS
max_client_conn = $((FANOUT * 4 + 100))
[users]
app = secret
EOF

com_select()
{
	mdb_sql "SHOW GLOBAL STATUS LIKE 'Com_select'" -N | awk '{print $2}'
}

# run <port> <lookups args...>: prints "<seconds> <backend statements>".
run()
{
	local port=$1 out before after secs
	shift
	before=$(com_select)
	if ! out=$("$LK" -h 127.0.0.1 -P "$port" -u app -p secret -D demo \
			--keys "$KEYS" "$@" 2>"$WORK/lookups.err"); then
		echo "settings-page: lookups $* on port $port failed:" >&2
		echo "$out" >&2
		cat "$WORK/lookups.err" >&2
		if ! kill -0 "$IB_PID" 2>/dev/null; then
			echo "inbatch exited; its output:" >&2
			tail -n 50 "$WORK/inbatch.out" >&2
		fi
		exit 1
	fi
	after=$(com_select)
	secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
	echo "$secs $((after - before))"
}

# Scenario table: id, target port variable, lookups arguments, label.
scen_ids=(a b c d e f g)
declare -A scen_port scen_args scen_label scen_target
scen_port=([a]=$MDB_PORT [b]=$IB_PORT [c]=$MDB_PORT [d]=$IB_PORT
	   [e]=$MDB_PORT [f]=$MDB_PORT [g]=$IB_PORT)
scen_args=([a]="-n $N -c $CONNS --mode parallel"
	   [b]="-n $N -c $CONNS --mode parallel"
	   [c]="-n $N -c 1 --mode sequential"
	   [d]="-n $N -c 1 --mode sequential"
	   [e]="-n $N -c 1 --mode in"
	   [f]="-n $N -c $FANOUT --mode parallel"
	   [g]="-n $N -c $FANOUT --mode parallel")
scen_label=([a]="$N lookups over $CONNS connections"
	    [b]="$N lookups over $CONNS connections"
	    [c]="$N lookups, one connection"
	    [d]="$N lookups, one connection"
	    [e]="one IN query, $N keys"
	    [f]="$FANOUT connections, one lookup each"
	    [g]="$FANOUT connections, one lookup each")
scen_target=([a]=direct [b]=inbatch [c]=direct [d]=inbatch [e]=direct
	     [f]=direct [g]=inbatch)
if [ "$FANOUT" != "$N" ]; then
	scen_label[f]="$N lookups over $FANOUT connections"
	scen_label[g]=${scen_label[f]}
fi

echo "# warm-up" >&2
# shellcheck disable=SC2086
for s in a b; do run "${scen_port[$s]}" ${scen_args[$s]} >/dev/null || exit 1; done

declare -A secs_of stmts_of
for ((r = 1; r <= REPEAT; r++)); do
	echo "# round $r of $REPEAT" >&2
	for s in "${scen_ids[@]}"; do
		# shellcheck disable=SC2086
		out=$(run "${scen_port[$s]}" ${scen_args[$s]}) || exit 1
		read -r t c <<<"$out"
		secs_of[$s]="${secs_of[$s]:-} $t"
		stmts_of[$s]="${stmts_of[$s]:-} $c"
	done
done

median()
{
	tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR] = $1}
		END { if (NR % 2) print v[(NR + 1) / 2];
		      else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A med_ms med_st
echo
echo "settings page: $N lookups of 'proj:<k>' in projects ($KEYS rows);" \
     "inbatch batch_mode=adaptive, window ${BATCH_WINDOW_US}us," \
     "max keys $BATCH_MAX_KEYS; median of $REPEAT"
printf '%-4s %-40s %-8s %10s %10s   %s\n' "" scenario target "ms" \
	"backend" "runs (ms)"
printf '%-4s %-40s %-8s %10s %10s\n' "" "" "" "" "SELECTs"
for s in "${scen_ids[@]}"; do
	med_ms[$s]=$(median <<<"${secs_of[$s]}" | awk '{printf "%.2f", $1 * 1000}')
	med_st[$s]=$(median <<<"${stmts_of[$s]}")
	runs=$(tr ' ' '\n' <<<"${secs_of[$s]}" | sed '/^$/d' |
		awk '{printf "%s%.1f", (NR > 1 ? " " : ""), $1 * 1000}')
	printf '(%s)  %-40s %-8s %10s %10s   %s\n' "$s" "${scen_label[$s]}" \
		"${scen_target[$s]}" "${med_ms[$s]}" "${med_st[$s]}" "$runs"
done

ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b;
					 else print "n/a" }'
}

echo
echo "ratios (side by side, this run):"
echo "  (a)/(b) time, direct/inbatch, $CONNS connections: " \
     "$(ratio "${med_ms[a]}" "${med_ms[b]}")x" \
     "  backend statements (a)/(b): $(ratio "${med_st[a]}" "${med_st[b]}")x"
echo "  (c)/(d) time, direct/inbatch, one connection:     " \
     "$(ratio "${med_ms[c]}" "${med_ms[d]}")x"
echo "  (f)/(g) time, direct/inbatch, $FANOUT connections:" \
     "$(ratio "${med_ms[f]}" "${med_ms[g]}")x" \
     "  backend statements (f)/(g): $(ratio "${med_st[f]}" "${med_st[g]}")x"
echo "  (g)/(e) time, inbatch fan-in / hand-written IN:   " \
     "$(ratio "${med_ms[g]}" "${med_ms[e]}")x"
