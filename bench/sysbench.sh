#!/usr/bin/env bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/sysbench.sh: sysbench oltp_point_select, side by side, against
#
#   direct            the throwaway MariaDB itself
#   haproxy           HAProxy in TCP mode in front of it (the cost of a hop)
#   inbatch-off       inbatch with batch_mode = off (pure pass-through)
#   inbatch-adaptive  inbatch with batch_mode = adaptive
#   inbatch-window    inbatch with batch_mode = window (only if asked for)
#
# for each thread count, with text queries (--db-ps-mode=disable) and with
# server-side prepared statements (sysbench's default).  Runs are
# interleaved (for each thread count and mode: direct, haproxy, inbatch-off,
# inbatch-adaptive) so that drift of a noisy machine hits all targets alike.
#
# Environment:
#   INBATCH            proxy binary (default: ./src/inbatch,
#                      $IB_BUILDDIR/src/inbatch, build-test/src/inbatch)
#   BENCH_TIME         seconds per run (default 10)
#   THREADS            thread counts (default "1 16 64")
#   MAX_THREADS        if set (e.g. 256), also run with that many threads
#   PS_MODES           sysbench ps modes (default "disable auto")
#   BENCH_BATCH_MODES  inbatch batch modes (default "off adaptive"); set it
#                      to e.g. "off adaptive window", or to any other value
#                      to get all three
#   TABLES, TABLE_SIZE sysbench data set (default 4, 10000)

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

BENCH_TIME=${BENCH_TIME:-10}
THREADS=${THREADS:-"1 16 64"}
if [ -n "${MAX_THREADS:-}" ]; then
	THREADS="$THREADS $MAX_THREADS"
fi
PS_MODES=${PS_MODES:-"disable auto"}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}

if [ -z "${BENCH_BATCH_MODES:-}" ]; then
	MODES="off adaptive"
elif [[ "$BENCH_BATCH_MODES" =~ ^[[:space:]]*((off|adaptive|window)[[:space:]]*)+$ ]]; then
	MODES=$BENCH_BATCH_MODES
else
	MODES="off adaptive window"
fi

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"

INBATCH=$(ib_find_inbatch "$top")
if [ ! -x "$INBATCH" ]; then
	echo "sysbench.sh: no inbatch binary at $INBATCH (set INBATCH)" >&2
	exit 1
fi
for tool in sysbench haproxy; do
	if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
		echo "sysbench.sh: $tool is not installed" >&2
		exit 1
	fi
done

ib_bench_begin sysbench

echo "# starting MariaDB" >&2
mdb_start "$WORK/mdb"
mdb_sql "SET GLOBAL max_connections = 3000; CREATE DATABASE sbtest"

SB_COMMON=(oltp_point_select --db-driver=mysql --mysql-host=127.0.0.1
	   --mysql-user=app --mysql-password=secret --mysql-db=sbtest
	   --tables="$TABLES" --table-size="$TABLE_SIZE")

echo "# sysbench prepare ($TABLES tables x $TABLE_SIZE rows)" >&2
if ! sysbench "${SB_COMMON[@]}" --mysql-port="$MDB_PORT" --threads="$TABLES" \
	prepare >"$WORK/prepare.log" 2>&1; then
	cat "$WORK/prepare.log" >&2
	exit 1
fi

declare -A port_of
port_of[direct]=$MDB_PORT
TARGETS=(direct haproxy)

echo "# starting haproxy" >&2
ib_start_haproxy || exit 1
port_of[haproxy]=$HA_PORT

# One inbatch per batch mode.
for mode in $MODES; do
	rc=0
	echo "# starting inbatch batch_mode=$mode ($INBATCH)" >&2
	ib_start_inbatch "$INBATCH" "$WORK/inbatch-$mode.conf" \
		"$WORK/inbatch-$mode.out" <<EOF || rc=$?
log_level = warn
batch_mode = $mode
batch_window_us = ${BATCH_WINDOW_US:-500}
batch_max_keys = ${BATCH_MAX_KEYS:-256}
max_client_conn = 4096
[users]
app = secret
EOF
	[ "$rc" -eq 0 ] || exit 1
	port_of[inbatch-$mode]=$IB_PORT
	TARGETS+=("inbatch-$mode")
done

# backend_counts: prints "<Com_select> <Com_stmt_execute>".
backend_counts()
{
	mdb_sql "SHOW GLOBAL STATUS WHERE Variable_name IN
		 ('Com_select', 'Com_stmt_execute')" -N |
		awk '$1 == "Com_select" { s = $2 }
		     $1 == "Com_stmt_execute" { e = $2 }
		     END { print s + 0, e + 0 }'
}

RESULTS=$WORK/results
: >"$RESULTS"
FAILED=0
nruns=0
for t in $THREADS; do
	for ps in $PS_MODES; do
		nruns=$((nruns + ${#TARGETS[@]}))
	done
done
echo "# $nruns runs of ${BENCH_TIME}s" >&2

i=0
for t in $THREADS; do
	for ps in $PS_MODES; do
		for target in "${TARGETS[@]}"; do
			i=$((i + 1))
			echo "# [$i/$nruns] $target ps-mode=$ps threads=$t" >&2
			log=$WORK/run-$target-$ps-$t.log
			read -r s0 e0 < <(backend_counts)
			rc=0
			sysbench "${SB_COMMON[@]}" --mysql-port="${port_of[$target]}" \
				--db-ps-mode="$ps" --threads="$t" \
				--time="$BENCH_TIME" --percentile=95 \
				--report-interval=0 run >"$log" 2>&1 || rc=$?
			read -r s1 e1 < <(backend_counts)
			if [ "$rc" -ne 0 ] || ! grep -q 'queries:' "$log"; then
				echo "sysbench.sh: run failed ($target ps-mode=$ps" \
				     "threads=$t, exit $rc):" >&2
				tail -n 20 "$log" >&2
				FAILED=1
				echo "$target $ps $t FAIL FAIL $((s1 - s0)) $((e1 - e0)) FAIL" >>"$RESULTS"
				continue
			fi
			qps=$(awk '/queries:/ { gsub(/[()]/, "", $3); print $3; exit }' "$log")
			p95=$(awk '/95th percentile:/ { print $3; exit }' "$log")
			errs=$(awk '/ignored errors:/ { print $3; exit }' "$log")
			echo "$target $ps $t $qps $p95 $((s1 - s0)) $((e1 - e0)) ${errs:-0}" >>"$RESULTS"
		done
	done
done

echo
echo "sysbench oltp_point_select, $TABLES tables x $TABLE_SIZE rows," \
     "${BENCH_TIME}s per run, $(nproc) CPUs; inbatch: $INBATCH"
printf '%-17s %-8s %7s %11s %9s %11s %11s %6s\n' target ps-mode threads \
	"qps" "p95 ms" "backend" "backend" errors
printf '%-17s %-8s %7s %11s %9s %11s %11s %6s\n' "" "" "" "" "" \
	"SELECTs" "stmt execs" ""
awk '{ printf "%-17s %-8s %7s %11s %9s %11s %11s %6s\n",
	      $1, $2, $3, $4, $5, $6, $7, $8 }' "$RESULTS"

echo
echo "ratios (side by side, this run): throughput vs haproxy and vs direct," \
     "p95 difference vs haproxy"
awk '
	{ key = $2 " " $3; qps[$1, key] = $4; p95[$1, key] = $5
	  if (!(key in seen)) { seen[key] = 1; keys[++nk] = key }
	  if (!($1 in tseen)) { tseen[$1] = 1; tg[++nt] = $1 } }
	function num(x) { return x != "FAIL" && x != "" }
	END {
		printf "%-17s %-8s %7s %13s %12s %14s\n", "target", "ps-mode",
		       "threads", "qps/haproxy", "qps/direct", "p95-haproxy ms"
		for (k = 1; k <= nk; k++) {
			split(keys[k], kk, " ")
			for (j = 1; j <= nt; j++) {
				t = tg[j]
				if (t !~ /^inbatch/) continue
				q = qps[t, keys[k]]; h = qps["haproxy", keys[k]]
				d = qps["direct", keys[k]]
				r1 = (num(q) && num(h) && h > 0) ? sprintf("%.3f", q / h) : "n/a"
				r2 = (num(q) && num(d) && d > 0) ? sprintf("%.3f", q / d) : "n/a"
				pq = p95[t, keys[k]]; ph = p95["haproxy", keys[k]]
				r3 = (num(pq) && num(ph)) ? sprintf("%+.2f", pq - ph) : "n/a"
				printf "%-17s %-8s %7s %13s %12s %14s\n", t, kk[1],
				       kk[2], r1, r2, r3
			}
		}
	}' "$RESULTS"

for target in "${TARGETS[@]}"; do
	case $target in
	inbatch-*)
		if [ -s "$WORK/$target.out" ]; then
			echo
			echo "$target log (last lines):"
			tail -n 10 "$WORK/$target.out"
		fi
		;;
	esac
done

exit "$FAILED"
