#!/usr/bin/env bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/cpu.sh: what each query costs the proxy and the server in CPU, side
# by side in one run.  sysbench oltp_point_select against
#
#   direct     the throwaway MariaDB itself
#   haproxy    HAProxy, TCP mode, one thread (the cost of a bare hop)
#   off        inbatch, batch_mode = off (pass-through)
#   adaptive   inbatch, batch_mode = adaptive
#
# for each thread count and for text (--db-ps-mode=disable) and prepared
# (--db-ps-mode=auto) statements, runs interleaved so that the drift of a
# shared machine hits every target alike.  For each run: qps, p95, the
# proxy's and MariaDB's CPU time (utime + stime of /proc/PID/stat, all
# threads) per query served, and the server's Com_select delta.  Then the
# seed scenario (1,000 lookups from 64 connections, bench/lookups.c) against
# the same targets.  Prints a table and writes results.txt (every run),
# medians.txt (each cell's median), seed.txt (every page) and
# seed-table.txt, table.txt and cpu.png (qps and proxy CPU per query) into
# $OUT.
#
# Environment:
#   INBATCH      proxy binary (default: ./src/inbatch, $IB_BUILDDIR/src/inbatch,
#                build-test/src/inbatch, first that exists)
#   BENCH_TIME   seconds per run (default 8)
#   THREADS      sysbench thread counts (default "1 16 64")
#   MODES        statement modes, any of "text prepared" (default both)
#   TARGETS      any of "direct haproxy off adaptive" (default all four)
#   BASELINE     a second inbatch binary (say, a build of the main branch):
#                adds targets base-off and base-adaptive, run with it right
#                after off and adaptive, for before/after in one run
#   TABLES, TABLE_SIZE   sysbench data set (default 4 x 25000 = 100k rows)
#   ROUNDS       runs of each cell, interleaved with the other targets'
#                (default 1).  The tables and the plot show each cell's
#                median over the rounds; results.txt keeps every run, and
#                the ratios say in how many rounds a target came first
#   SEED_REPEAT  rounds of the seed scenario, 0 to skip it (default 7)
#   SEED_LOOKUPS lookups of its page (default 1000; more: the page's steady
#                state, with less of its start and its tail)
#   OUT          output directory (default ./cpu-<date>-<time>)
#   BATCH_WINDOW_US, BATCH_MAX_KEYS, BATCH_BUSY_KEYS   inbatch settings
#                (default 500, 256, and inbatch's own: builds older than
#                batch_busy_keys refuse it)
#   PROXY_NICE   a nice value (say -10) given to every proxy (HAProxy and
#                inbatch alike) once started: on a machine that the client
#                and the server share, how much of a proxy's latency is
#                its wait for a CPU
#   PROFILE      set: after the runs, `perf record -g` on each proxy (not
#                direct) under the last of THREADS, text; the top of each
#                profile (by DSO, then by symbol, self time) goes to
#                $OUT/profile-<target>.txt
#   SYSCALLS     set: after the runs, one more run of each proxy under the
#                last of THREADS, text, with `perf stat` counting the
#                proxy's system calls: calls per query, by call, beside
#                its user and system CPU per query and the system CPU per
#                call ($OUT/syscalls.txt, also in table.txt)
#   SCHED        set: after the runs, a page of SCHED_LOOKUPS (default
#                16000) lookups from 64 connections against each target
#                under `perf sched record -a`; over the middle half of the
#                page, how the CPUs' time went (proxy, server, client,
#                other, idle) and, while a CPU idled, what the others ran
#                ($OUT/sched.txt, also in table.txt; bench/sched-idle.awk
#                reads perf's events)

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

BENCH_TIME=${BENCH_TIME:-8}
THREADS=${THREADS:-"1 16 64"}
MODES=${MODES:-"text prepared"}
TARGETS=${TARGETS:-"direct haproxy off adaptive"}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-25000}
SEED_REPEAT=${SEED_REPEAT:-7}
SEED_LOOKUPS=${SEED_LOOKUPS:-1000}
ROUNDS=${ROUNDS:-1}
OUT=$(realpath -m "${OUT:-$PWD/cpu-$(date +%Y%m%d-%H%M%S)}")

for m in $MODES; do
	case $m in
	text | prepared) ;;
	*) echo "cpu.sh: MODES: unknown mode $m (text, prepared)" >&2; exit 2 ;;
	esac
done
for t in $TARGETS; do
	case $t in
	direct | haproxy | off | adaptive) ;;
	*) echo "cpu.sh: TARGETS: unknown target $t" >&2; exit 2 ;;
	esac
done
case $ROUNDS in
'' | *[!0-9]* | 0*) echo "cpu.sh: ROUNDS: a positive number" >&2; exit 2 ;;
esac
if [ -n "${BASELINE:-}" ]; then
	if [ ! -x "$BASELINE" ]; then
		echo "cpu.sh: BASELINE: no binary at $BASELINE" >&2
		exit 2
	fi
	t2=""
	for t in $TARGETS; do
		t2="$t2 $t"
		case $t in off | adaptive) t2="$t2 base-$t" ;; esac
	done
	TARGETS=${t2# }
fi

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"

INBATCH=$(ib_find_inbatch "$top")
if [ ! -x "$INBATCH" ]; then
	echo "cpu.sh: no inbatch binary at $INBATCH (set INBATCH)" >&2
	exit 1
fi
for tool in sysbench haproxy; do
	if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
		echo "cpu.sh: $tool is not installed" >&2
		exit 1
	fi
done

# The plot: gnuplot, else Debian's matplotlib; as root, install gnuplot-nox
# if neither is there (as scripts/deps.sh installs what is missing).
PLOTTER=""
if command -v gnuplot >/dev/null; then
	PLOTTER=gnuplot
elif /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
	PLOTTER=matplotlib
elif [ "$(id -u)" -eq 0 ]; then
	echo "# installing gnuplot-nox for the plot" >&2
	if DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends gnuplot-nox >/dev/null 2>&1 ||
	   { apt-get update >/dev/null 2>&1 &&
	     DEBIAN_FRONTEND=noninteractive apt-get install -y \
		--no-install-recommends gnuplot-nox >/dev/null 2>&1; }; then
		PLOTTER=gnuplot
	fi
fi
if [ -z "$PLOTTER" ]; then
	echo "cpu.sh: neither gnuplot nor python3-matplotlib: no plot" \
	     "(apt-get install gnuplot-nox)" >&2
fi

mkdir -p "$OUT"
ib_bench_begin cpu
HZ=$(getconf CLK_TCK)
TIMEFORMAT='%3U %3S'	# bash's time: the client's user and system seconds

# cpu_ticks <pid>: utime + stime of every thread of <pid>, in clock ticks.
# The command name (field 2) may hold spaces: count from after its ')'.
cpu_ticks()
{
	local s
	s=$(cat "/proc/$1/stat") || { echo 0; return; }
	s=${s##*) }
	# after "comm": state is field 1, utime field 12, stime field 13
	awk '{ print $12 + $13 }' <<<"$s"
}

# cpu_split <pid>: "<utime> <stime>" of every thread of <pid>, in ticks.
cpu_split()
{
	local s
	s=$(cat "/proc/$1/stat") || { echo 0 0; return; }
	s=${s##*) }
	awk '{ print $12, $13 }' <<<"$s"
}

# cpu_busy: "<busy> <total>" ticks of all CPUs since boot (/proc/stat);
# idle and iowait are not busy.  Fields 2-9 only: guest time is counted
# in user time already.
cpu_busy()
{
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i
		print t - $5 - $6, t; exit }' /proc/stat
}

loadavg() { cut -d' ' -f1 /proc/loadavg; }

# sched_wait <pid>: microseconds the threads of <pid> have waited, runnable,
# for a CPU (second field of each /proc/PID/task/TID/schedstat).  Threads
# that ended are not counted: MariaDB keeps its connection threads cached.
sched_wait()
{
	cat /proc/"$1"/task/*/schedstat 2>/dev/null |
		awk '{ w += $2 } END { printf "%.0f\n", w / 1000 }'
}

# proxy_nice <pid>: PROXY_NICE, if set, for <pid>.
proxy_nice()
{
	[ -n "${PROXY_NICE:-}" ] || return 0
	renice -n "$PROXY_NICE" -p "$1" >/dev/null ||
		{ echo "cpu.sh: cannot renice $1 to $PROXY_NICE" >&2; exit 1; }
}

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

declare -A port_of pid_of
port_of[direct]=$MDB_PORT
pid_of[direct]=""

start_haproxy()
{
	echo "# starting haproxy" >&2
	ib_start_haproxy || exit 1
	proxy_nice "$HA_PID"
	pid_of[haproxy]=$HA_PID
	port_of[haproxy]=$HA_PORT
}

# start_inbatch <target>: one inbatch; the target names its batch mode,
# base-<mode> runs $BASELINE.
start_inbatch()
{
	local target=$1 mode=${1#base-} bin=$INBATCH rc=0
	[ "$target" != "$mode" ] && bin=$BASELINE
	echo "# starting inbatch batch_mode=$mode ($bin)" >&2
	ib_start_inbatch "$bin" "$WORK/inbatch-$target.conf" \
		"$WORK/inbatch-$target.out" < <(ib_bench_settings "$mode") ||
		rc=$?
	[ "$rc" -eq 0 ] || exit 1
	proxy_nice "$IB_PID"
	pid_of[$target]=$IB_PID
	port_of[$target]=$IB_PORT
}

for t in $TARGETS; do
	case $t in
	haproxy) start_haproxy ;;
	off | adaptive | base-*) start_inbatch "$t" ;;
	esac
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

# Warm every target once (connections, buffer pool, the batcher's probe).
echo "# warm-up" >&2
for target in $TARGETS; do
	sysbench "${SB_COMMON[@]}" --mysql-port="${port_of[$target]}" \
		--db-ps-mode=disable --threads=16 --time=1 \
		--report-interval=0 run >"$WORK/warmup-$target.log" 2>&1 || {
		echo "cpu.sh: warm-up against $target failed:" >&2
		tail -n 20 "$WORK/warmup-$target.log" >&2
		exit 1
	}
done

RESULTS=$OUT/results.txt
echo "# threads mode target qps p95_ms proxy_us_per_q mariadb_us_per_q" \
     "com_select com_stmt_execute queries errors loadavg client_us_per_q" \
     "proxy_user_us_per_q proxy_sys_us_per_q cpus_busy_pct" \
     "proxy_wait_us_per_q mariadb_wait_us_per_q round" >"$RESULTS"
FAILED=0
ntargets=$(wc -w <<<"$TARGETS")
nruns=$(($(wc -w <<<"$THREADS") * $(wc -w <<<"$MODES") * ntargets * ROUNDS))
echo "# $nruns runs of ${BENCH_TIME}s; loadavg now $(cat /proc/loadavg)" >&2

i=0
for t in $THREADS; do
	for mode in $MODES; do
		ps=disable
		[ "$mode" = prepared ] && ps=auto
		for ((round = 1; round <= ROUNDS; round++)); do
		# each round starts one target further on: none always runs
		# right after the same other
		read -ra order <<<"$TARGETS"
		rot=$(((round - 1) % ${#order[@]}))
		for target in "${order[@]:rot}" "${order[@]:0:rot}"; do
			i=$((i + 1))
			la=$(loadavg)
			echo "# [$i/$nruns] $target $mode threads=$t round $round" \
			     "(loadavg $la)" >&2
			log=$WORK/run-$target-$mode-$t.log
			ppid=${pid_of[$target]}
			read -r s0 e0 < <(backend_counts)
			m0=$(cpu_ticks "$MDB_PID")
			pu0=0 ps0=0
			[ -n "$ppid" ] && read -r pu0 ps0 < <(cpu_split "$ppid")
			read -r b0 bt0 < <(cpu_busy)
			mw0=$(sched_wait "$MDB_PID") pw0=0
			[ -n "$ppid" ] && pw0=$(sched_wait "$ppid")
			rc=0
			# the client's own CPU too: with all three on one
			# machine, it is part of every query's cost
			{ time { sysbench "${SB_COMMON[@]}" \
				--mysql-port="${port_of[$target]}" \
				--db-ps-mode="$ps" --threads="$t" \
				--time="$BENCH_TIME" --percentile=95 \
				--report-interval=0 run >"$log" 2>&1 || rc=$?; }; } \
				2>"$WORK/time.txt"
			read -r b1 bt1 < <(cpu_busy)
			mw1=$(sched_wait "$MDB_PID") pw1=0
			[ -n "$ppid" ] && pw1=$(sched_wait "$ppid")
			m1=$(cpu_ticks "$MDB_PID")
			pu1=0 ps1=0
			[ -n "$ppid" ] && read -r pu1 ps1 < <(cpu_split "$ppid")
			p0=$((pu0 + ps0)) p1=$((pu1 + ps1))
			read -r cu cs < "$WORK/time.txt"
			read -r s1 e1 < <(backend_counts)
			if [ "$rc" -ne 0 ] || ! grep -q 'queries:' "$log"; then
				echo "cpu.sh: run failed ($target $mode threads=$t," \
				     "exit $rc):" >&2
				tail -n 20 "$log" >&2
				FAILED=1
				echo "$t $mode $target FAIL FAIL FAIL FAIL" \
				     "$((s1 - s0)) $((e1 - e0)) 0 FAIL $la" \
				     "FAIL FAIL FAIL FAIL FAIL FAIL $round" >>"$RESULTS"
				continue
			fi
			# "queries: 123456 (15432.10 per sec.)"
			read -r nq qps < <(awk '/queries:/ { gsub(/[()]/, "", $3);
				print $2, $3; exit }' "$log")
			p95=$(awk '/95th percentile:/ { print $3; exit }' "$log")
			errs=$(awk '/ignored errors:/ { print $3; exit }' "$log")
			awk -v t="$t" -v m="$mode" -v g="$target" -v q="$qps" \
			    -v p95="$p95" -v dp=$((p1 - p0)) -v dm=$((m1 - m0)) \
			    -v hz="$HZ" -v n="$nq" -v s=$((s1 - s0)) \
			    -v e=$((e1 - e0)) -v err="${errs:-0}" -v la="$la" \
			    -v proxied="$ppid" -v cl="$cu $cs" \
			    -v du=$((pu1 - pu0)) -v ds=$((ps1 - ps0)) \
			    -v busy=$((b1 - b0)) -v tot=$((bt1 - bt0)) \
			    -v pw=$((pw1 - pw0)) -v mw=$((mw1 - mw0)) \
			    -v round="$round" 'BEGIN {
				pc = proxied == "" ? "-" : sprintf("%.2f", dp * 1e6 / hz / n)
				pu = proxied == "" ? "-" : sprintf("%.2f", du * 1e6 / hz / n)
				ps = proxied == "" ? "-" : sprintf("%.2f", ds * 1e6 / hz / n)
				pwq = proxied == "" ? "-" : sprintf("%.2f", pw / n)
				split(cl, c, " ")
				printf "%s %s %s %.0f %s %s %.2f %d %d %d %s %s %.2f %s %s %.0f %s %.2f %d\n",
				       t, m, g, q, p95, pc, dm * 1e6 / hz / n,
				       s, e, n, err, la, (c[1] + c[2]) * 1e6 / n,
				       pu, ps, (tot > 0 ? busy * 100 / tot : 0),
				       pwq, mw / n, round }' >>"$RESULTS"
		done
		done
	done
done

# Each cell's median over its rounds, in the same columns, for the tables
# and the plot; a cell with a failed round fails.  Errors add up.  Each
# column's median is its own: the medians of user and system time need
# not add up to the median of the two together.
RUNS=$RESULTS
RESULTS=$OUT/medians.txt
awk '!/^#/ { k = $1 " " $2 " " $3; if (!(k in n)) ks[++nk] = k
		n[k]++; for (f = 4; f <= 18; f++) v[k, f, n[k]] = $f
		if ($4 == "FAIL") bad[k] = 1 }
	function median(k, f,    i, j, m, a, t) {
		m = n[k]
		for (i = 1; i <= m; i++) a[i] = v[k, f, i]
		if (a[1] == "-") return "-"
		for (i = 2; i <= m; i++)	# insertion sort: a few rounds
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		if (m % 2) return a[(m + 1) / 2]
		t = (a[m / 2] + a[m / 2 + 1]) / 2	# not "%.6g": 1.2e+06
		return t == int(t) ? sprintf("%d", t) : sprintf("%.2f", t) }
	END {
		for (i = 1; i <= nk; i++) {
			k = ks[i]; line = k
			for (f = 4; f <= 18; f++) {
				if (bad[k] && f != 8 && f != 9 && f != 12)
					x = "FAIL"
				else if (f == 11) {
					x = 0
					for (j = 1; j <= n[k]; j++) x += v[k, f, j]
				} else
					x = median(k, f)
				line = line " " x
			}
			print line " " n[k]
		}
	}' "$RUNS" >"$RESULTS"

# wins: per cell, in how many rounds off served more qps than haproxy, and
# adaptive more than direct
wins()
{
	awk '!/^#/ && $4 != "FAIL" {
			k = $1 " " $2; q[k, $3, $19] = $4
			if (!(k in seen)) { seen[k] = 1; ks[++n] = k }
			if ($19 > r) r = $19 }
		function w(k, a, b,    j, m, x) {
			for (j = 1; j <= r; j++)
				if ((k, a, j) in q && (k, b, j) in q) {
					m++
					if (q[k, a, j] > q[k, b, j]) x++
				}
			return m ? sprintf("%d/%d", x, m) : "n/a" }
		END {
			for (i = 1; i <= n; i++) {
				split(ks[i], kk, " ")
				printf "%7s %-8s %14s %14s\n", kk[1], kk[2],
				       w(ks[i], "off", "haproxy"),
				       w(ks[i], "adaptive", "direct")
			}
		}' "$RUNS"
}

# The seed scenario: a page of 1,000 lookups (SEED_LOOKUPS) from 64
# connections.
SEED=$OUT/seed.txt
: >"$SEED"
if [ "$SEED_REPEAT" -gt 0 ]; then
	KEYS=10000
	LK=$WORK/lookups
	ib_build_lookups "$top" "$LK"
	mdb_create_projects "$KEYS"
	echo "# seed scenario: $SEED_REPEAT rounds (loadavg $(loadavg))" >&2
	for ((r = 0; r <= SEED_REPEAT; r++)); do
		for target in $TARGETS; do
			ppid=${pid_of[$target]}
			pids=(--cpu-pid "$MDB_PID")
			[ -n "$ppid" ] && pids+=(--cpu-pid "$ppid")
			read -r s0 _ < <(backend_counts)
			if ! o=$("$LK" -h 127.0.0.1 -P "${port_of[$target]}" -u app \
				-p secret -D demo --keys "$KEYS" -n "$SEED_LOOKUPS" -c 64 \
				--mode parallel --count-port "$MDB_PORT" "${pids[@]}" \
				2>"$WORK/lookups.err"); then
				echo "cpu.sh: seed scenario against $target failed:" >&2
				cat "$WORK/lookups.err" >&2
				FAILED=1
				break 2
			fi
			read -r s1 _ < <(backend_counts)
			[ "$r" -eq 0 ] && continue	# round 0 warms up
			echo "$target $((s1 - s0)) $MDB_PID ${ppid:--} $o" >>"$SEED"
		done
	done
	awk -v n="$SEED_LOOKUPS" -v ncpu="$(nproc)" -f "$here/seed-table.awk" \
		"$SEED" >"$OUT/seed-table.txt" || FAILED=1
fi

# perf_unusable DONE WHAT ARGS...: why perf cannot do WHAT here, as
# "not DONE: ...", or nothing when `perf ARGS -- true` runs.
perf_unusable()
{
	local done=$1 what=$2 log=$WORK/perf-check.log
	shift 2
	if ! command -v perf >/dev/null; then
		echo "not $done: perf is not installed (apt-get install linux-perf)"
	elif ! perf "$@" -- true >"$log" 2>&1; then
		echo "not $done: perf cannot $what here: $(tail -n 1 "$log")"
	fi
}

# The profiles: where each proxy's time goes under the highest load.
PROFILES=""
if [ -n "${PROFILE:-}" ]; then
	pt=${THREADS##* }
	secs=$((BENCH_TIME > 3 ? BENCH_TIME - 2 : 1))
	PROFILES=$(perf_unusable recorded record record -q -o "$WORK/perf-check.data")
	for target in $TARGETS; do
		ppid=${pid_of[$target]}
		[ -z "$PROFILES" ] || break	# perf cannot record
		[ -n "$ppid" ] || continue
		echo "# profile: $target text threads=$pt" >&2
		sysbench "${SB_COMMON[@]}" --mysql-port="${port_of[$target]}" \
			--db-ps-mode=disable --threads="$pt" --time=$((secs + 2)) \
			--report-interval=0 run >"$WORK/profile-$target.log" 2>&1 &
		sb=$!
		sleep 1	# its connections are up
		perf record -q -g -p "$ppid" -o "$WORK/perf-$target.data" \
			-- sleep "$secs" >"$WORK/perf-$target.log" 2>&1 || true
		wait "$sb" || { echo "cpu.sh: sysbench under perf against $target failed" >&2; FAILED=1; }
		f=$OUT/profile-$target.txt
		perf report -i "$WORK/perf-$target.data" --stdio --no-children \
			--sort dso -g none >"$WORK/dso-$target.txt" 2>&1 || true
		perf report -i "$WORK/perf-$target.data" --stdio --no-children \
			--sort dso,symbol -g none --percent-limit 0.5 \
			>"$WORK/sym-$target.txt" 2>&1 || true
		{
			echo "# $target, oltp_point_select text, $pt threads," \
			     "${secs}s, self time"
			echo "## by DSO"
			awk '!/^#/ && !/^ *$/ && n++ < 8' "$WORK/dso-$target.txt"
			echo "## by symbol (at least 0.5%)"
			awk '!/^#/ && !/^ *$/ && n++ < 30 { sub(/[ -]*$/, ""); print }' \
				"$WORK/sym-$target.txt"
		} >"$f"
		PROFILED="${PROFILED:-}$f "
	done
	PROFILES=${PROFILES:-${PROFILED:-none}}
fi

# The system calls: how many each query costs the proxy, and what one
# costs in system CPU here.  Counted in a run of its own, since counting
# costs a little too.
SYSCALL_KINDS="read recvfrom readv write sendto writev epoll_wait epoll_ctl"
SYSCALL_TABLE=""
if [ -n "${SYSCALLS:-}" ]; then
	st=${THREADS##* }
	ev=raw_syscalls:sys_enter
	for k in $SYSCALL_KINDS; do ev="$ev,syscalls:sys_enter_$k"; done
	SYSCALL_TABLE=$(perf_unusable counted "count system calls" \
		stat -x, -e "$ev" -o "$WORK/perf-stat-check.txt")
	SC=$WORK/syscalls.txt
	: >"$SC"
	for target in $TARGETS; do
		ppid=${pid_of[$target]}
		[ -z "$SYSCALL_TABLE" ] || break	# perf cannot count
		[ -n "$ppid" ] || continue
		echo "# system calls: $target text threads=$st" >&2
		log=$WORK/syscalls-$target.log
		perf stat -x, -e "$ev" -p "$ppid" -o "$WORK/stat-$target.txt" \
			>/dev/null 2>&1 &
		pst=$!
		sleep 0.5	# perf is counting
		read -r pu0 ps0 < <(cpu_split "$ppid")
		rc=0
		sysbench "${SB_COMMON[@]}" --mysql-port="${port_of[$target]}" \
			--db-ps-mode=disable --threads="$st" --time="$BENCH_TIME" \
			--report-interval=0 run >"$log" 2>&1 || rc=$?
		read -r pu1 ps1 < <(cpu_split "$ppid")
		kill -INT "$pst" 2>/dev/null || true
		wait "$pst" || true
		if [ "$rc" -ne 0 ] || ! grep -q 'queries:' "$log"; then
			echo "cpu.sh: sysbench under perf stat against $target failed" >&2
			tail -n 20 "$log" >&2
			FAILED=1
			continue
		fi
		nq=$(awk '/queries:/ { print $2; exit }' "$log")
		# perf stat -x,: "count,unit,event,..." per event
		awk -F, -v g="$target" -v n="$nq" -v hz="$HZ" \
		    -v du=$((pu1 - pu0)) -v ds=$((ps1 - ps0)) -v kinds="$SYSCALL_KINDS" '
			$3 == "raw_syscalls:sys_enter" { all = $1 }
			$3 ~ /^syscalls:sys_enter_/ { k = $3; sub(/.*_enter_/, "", k); c[k] = $1 }
			END {
				# "<not counted>" is no count: no line at all
				if (n <= 0 || all + 0 <= 0) exit 1
				line = sprintf("%s %d %.2f", g, n, all / n)
				nk = split(kinds, ks, " "); rest = all
				for (i = 1; i <= nk; i++) {
					line = line sprintf(" %.2f", c[ks[i]] / n)
					rest -= c[ks[i]]
				}
				sys = ds * 1e6 / hz / n
				printf "%s %.2f %.2f %.2f %.2f\n", line, rest / n,
				       du * 1e6 / hz / n, sys, sys * n / all
			}' "$WORK/stat-$target.txt" >>"$SC" || {
			echo "cpu.sh: no system call counts for $target:" >&2
			cat "$WORK/stat-$target.txt" >&2
			FAILED=1
		}
	done
	if [ -z "$SYSCALL_TABLE" ]; then
		# the floor: what a call costs this machine, no proxy around it
		if ! { gcc -O2 -Wall -Wextra -Werror "$here/syscost.c" \
			-o "$WORK/syscost" && "$WORK/syscost"; } \
			>"$WORK/syscost.log" 2>&1; then
			echo "cpu.sh: bench/syscost failed:" >&2
			cat "$WORK/syscost.log" >&2
			FAILED=1
		fi
		SYSCALL_TABLE=$OUT/syscalls.txt
		{
			echo "the proxy's system calls per query, sysbench" \
			     "oltp_point_select text, $st threads, ${BENCH_TIME}s" \
			     "(perf stat; a run of its own):"
			printf '%-13s %6s' target all
			for k in $SYSCALL_KINDS; do printf ' %7.7s' "$k"; done
			printf ' %7s %9s %9s %9s\n' other "user" "system" "system"
			printf '%-13s %6s' "" ""
			for k in $SYSCALL_KINDS; do printf ' %7s' ""; done
			printf ' %7s %9s %9s %9s\n' "" "µs/query" "µs/query" "µs/call"
			awk '{ printf "%-13s %6s", $1, $3
				for (i = 4; i <= NF - 3; i++) printf " %7s", $i
				printf " %9s %9s %9s\n", $(NF - 2), $(NF - 1), $NF }' "$SC"
			echo "what calls cost this machine alone (bench/syscost):"
			grep '^syscost: ' "$WORK/syscost.log" || true
		} >"$SYSCALL_TABLE"
	fi
fi

# Where a page's idle CPU time goes (SCHED=1): the scheduler's events on
# every CPU over part of a long page of lookups, against each target.
SCHED_TABLE=""
if [ -n "${SCHED:-}" ]; then
	SCHED_LOOKUPS=${SCHED_LOOKUPS:-16000}
	SCHED_TABLE=$(perf_unusable recorded "record scheduler events" \
		sched record -o "$WORK/sched-check.data")
	if [ -z "$SCHED_TABLE" ] && [ -z "${LK:-}" ]; then
		KEYS=10000
		LK=$WORK/lookups
		ib_build_lookups "$top" "$LK"
		mdb_create_projects "$KEYS"
	fi
	ST=$OUT/sched.txt
	: >"$ST"
	for target in $TARGETS; do
		[ -z "$SCHED_TABLE" ] || break	# perf cannot record
		ppid=${pid_of[$target]}
		echo "# scheduler events: $target, $SCHED_LOOKUPS lookups" >&2
		# perf runs the page: it has started recording before the page
		# starts, and it stops with it
		if ! perf sched record -a -o "$WORK/sched-$target.data" -- \
			"$LK" -h 127.0.0.1 -P "${port_of[$target]}" -u app \
			-p secret -D demo --keys "$KEYS" -n "$SCHED_LOOKUPS" \
			-c 64 --mode parallel >"$WORK/sched-$target.log" 2>&1; then
			echo "cpu.sh: the page under perf sched against $target failed:" >&2
			tail -n 5 "$WORK/sched-$target.log" >&2
			FAILED=1
			continue
		fi
		perf sched timehist -i "$WORK/sched-$target.data" \
			>"$WORK/sched-$target.txt" 2>>"$WORK/sched-$target.log" || true
		if ! awk -v name="$target" -v proxy="${ppid:-0}" \
			-v server="$MDB_PID" -f "$here/sched-idle.awk" \
			"$WORK/sched-$target.txt" >>"$ST"; then
			echo "cpu.sh: no page in the scheduler events of $target:" >&2
			tail -n 5 "$WORK/sched-$target.log" >&2
			FAILED=1
		fi
		rm -f "$WORK/sched-$target.data" "$WORK/sched-$target.txt"
	done
	SCHED_TABLE=${SCHED_TABLE:-$ST}
fi

# The table.
{
	echo "sysbench oltp_point_select, $TABLES tables x $TABLE_SIZE rows," \
	     "${BENCH_TIME}s per run, $(nproc) CPUs, CPU from /proc/PID/stat" \
	     "(1/$HZ s ticks); inbatch: $INBATCH${BASELINE:+, base-*: $BASELINE}"
	printf '%7s %-8s %-13s %8s %7s %9s %9s %10s %10s %6s %5s\n' threads mode \
		target qps "p95 ms" "proxy" "MariaDB" "Com_select" "Com_stmt" \
		errors load
	printf '%7s %-8s %-13s %8s %7s %9s %9s %10s %10s %6s %5s\n' "" "" "" "" "" \
		"µs/query" "µs/query" "delta" "_execute" "" avg
	awk '!/^#/ { printf "%7s %-8s %-13s %8s %7s %9s %9s %10s %10s %6s %5s\n",
		$1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12 }' "$RESULTS"

	echo
	if [ "$ROUNDS" -gt 1 ]; then
		echo "medians of $ROUNDS interleaved rounds per cell"
	fi
	echo "ratios (side by side, this run):"
	awk '!/^#/ && $4 != "FAIL" { k = $1 " " $2; q[k, $3] = $4; p[k, $3] = $5
		c[k, $3] = $6; if (!(k in seen)) { seen[k] = 1; ks[++n] = k } }
		function r(a, b) { return (a != "" && b != "" && b > 0) ?
			sprintf("%.2f", a / b) : "n/a" }
		END {
			printf "%7s %-8s %14s %14s %14s %14s %16s\n", "threads",
			       "mode", "off/haproxy", "off/haproxy", "adaptive/",
			       "adaptive/off", "adaptive-off"
			printf "%7s %-8s %14s %14s %14s %14s %16s\n", "", "",
			       "qps", "proxy CPU", "direct qps", "proxy CPU",
			       "p95 ms"
			for (i = 1; i <= n; i++) {
				k = ks[i]; split(k, kk, " ")
				d = (p[k, "adaptive"] != "" && p[k, "off"] != "") ?
				    sprintf("%+.2f", p[k, "adaptive"] - p[k, "off"]) : "n/a"
				printf "%7s %-8s %14s %14s %14s %14s %16s\n", kk[1],
				       kk[2], r(q[k, "off"], q[k, "haproxy"]),
				       r(c[k, "off"], c[k, "haproxy"]),
				       r(q[k, "adaptive"], q[k, "direct"]),
				       r(c[k, "adaptive"], c[k, "off"]), d
			}
		}' "$RESULTS"

	if [ "$ROUNDS" -gt 1 ]; then
		echo
		echo "rounds in which the first served more qps than the second:"
		printf '%7s %-8s %14s %14s\n' threads mode off/haproxy \
			adaptive/direct
		wins
	fi

	# Client, proxy and server share the CPUs: a target can serve at
	# most (CPUs x 1 s) / (the three's CPU per query) queries a second.
	echo
	echo "CPU per query of all three (client = sysbench), the CPUs'" \
	     "busy share, and the qps that CPU would allow on $(nproc) CPUs:"
	printf '%7s %-8s %-13s %8s %11s %9s %8s %8s %6s %9s %10s\n' threads \
		mode target client "proxy" MariaDB sum qps busy "full-CPU" \
		"full-CPU/"
	printf '%7s %-8s %-13s %8s %11s %9s %8s %8s %6s %9s %10s\n' "" "" "" \
		"µs/q" "usr+sys" "µs/q" "µs/q" "" "%" qps "direct qps"
	awk -v ncpu="$(nproc)" '!/^#/ && $4 != "FAIL" {
			r[++n] = $0; if ($3 == "direct") d[$1 " " $2] = $4 }
		END {
			for (i = 1; i <= n; i++) {
				split(r[i], f, " ")
				p = f[6] == "-" ? 0 : f[6]
				sum = f[13] + p + f[7]
				pp = f[6] == "-" ? "-" : sprintf("%s+%s", f[14], f[15])
				full = sum > 0 ? ncpu * 1e6 / sum : 0
				dq = d[f[1] " " f[2]]
				printf "%7s %-8s %-13s %8.1f %11s %9.1f %8.1f %8s %6s %9.0f %10s\n",
				       f[1], f[2], f[3], f[13], pp, f[7], sum, f[4],
				       f[16], full,
				       (dq > 0 ? sprintf("%.2f", full / dq) : "n/a")
			}
		}' "$RESULTS"

	# A query waits for the proxy and the server twice over: for their
	# CPU time, and, on a machine the client shares, for a CPU at all.
	echo
	echo "CPU time per query beside the time spent runnable, waiting for" \
	     "a CPU (/proc/PID/task/*/schedstat):"
	printf '%7s %-8s %-13s %10s %10s %10s %10s\n' threads mode target \
		"proxy" "proxy" "MariaDB" "MariaDB"
	printf '%7s %-8s %-13s %10s %10s %10s %10s\n' "" "" "" "CPU µs/q" \
		"wait µs/q" "CPU µs/q" "wait µs/q"
	awk '!/^#/ && $4 != "FAIL" {
		printf "%7s %-8s %-13s %10s %10s %10s %10s\n", $1, $2, $3,
		       $6, $17, $7, $18 }' "$RESULTS"

	if [ -n "${BASELINE:-}" ]; then
		echo
		echo "this build against BASELINE (side by side, this run):"
		awk '!/^#/ && $4 != "FAIL" { k = $1 " " $2; q[k, $3] = $4
			c[k, $3] = $6; if (!(k in seen)) { seen[k] = 1; ks[++n] = k } }
			function r(a, b) { return (a != "" && b != "" && b > 0) ?
				sprintf("%.2f", a / b) : "n/a" }
			END {
				printf "%7s %-8s %14s %14s %14s %14s\n", "threads",
				       "mode", "off/base-off", "off/base-off",
				       "adaptive/base", "adaptive/base"
				printf "%7s %-8s %14s %14s %14s %14s\n", "", "",
				       "qps", "proxy CPU", "qps", "proxy CPU"
				for (i = 1; i <= n; i++) {
					k = ks[i]; split(k, kk, " ")
					printf "%7s %-8s %14s %14s %14s %14s\n", kk[1],
					       kk[2], r(q[k, "off"], q[k, "base-off"]),
					       r(c[k, "off"], c[k, "base-off"]),
					       r(q[k, "adaptive"], q[k, "base-adaptive"]),
					       r(c[k, "adaptive"], c[k, "base-adaptive"])
				}
			}' "$RESULTS"
	fi

	if [ -s "$SEED" ]; then
		echo
		echo "seed scenario: $SEED_LOOKUPS lookups from 64 connections," \
		     "median of $SEED_REPEAT rounds"
		if [ -s "$OUT/seed-table.txt" ]; then
			cat "$OUT/seed-table.txt"
		else
			echo "no table: a page's line lacks a field ($SEED)"
		fi
	fi

	case $SCHED_TABLE in
	'') ;;
	/*) echo
	    echo "where the CPUs' time went in the middle half of a page of" \
		 "$SCHED_LOOKUPS lookups from 64 connections (perf sched, %):"
	    cat "$SCHED_TABLE"
	    echo "(idle beside: while a CPU idled, what the others ran;" \
		 "idle beside the proxy is a wait for its one thread)" ;;
	*) echo; echo "scheduler events: $SCHED_TABLE" ;;
	esac

	case $SYSCALL_TABLE in
	'') ;;
	/*) echo; cat "$SYSCALL_TABLE" ;;
	*) echo; echo "system calls: $SYSCALL_TABLE" ;;
	esac
} | tee "$OUT/table.txt"

# The plot: qps and proxy CPU per query against threads, one line per
# target, text and prepared side by side.
plot_gnuplot()
{
	local m f col cmd="" i=0 lt nm
	nm=$(wc -w <<<"$MODES")
	for m in $MODES; do
		for t in $TARGETS; do
			awk -v m="$m" -v g="$t" '!/^#/ && $2 == m && $3 == g &&
				$4 != "FAIL" { print $1, $4, ($6 == "-" ? "NaN" : $6) }' \
				"$RESULTS" >"$WORK/plot-$m-$t.dat"
		done
	done
	{
		echo "set terminal pngcairo size $((nm * 640)),900 noenhanced" 2>/dev/null
		echo "set output '$OUT/cpu.png'"
		echo "set multiplot layout 2,$nm title 'oltp_point_select, ${BENCH_TIME}s runs, $(nproc) CPUs'"
		echo "set logscale x 2; set xlabel 'sysbench threads'; set grid"
		echo "set key top left"
		for col in 2 3; do
			for m in $MODES; do
				if [ "$col" = 2 ]; then
					echo "set ylabel 'queries per second'; set title '$m: qps'"
				else
					echo "set ylabel 'proxy CPU µs per query'; set title '$m: proxy CPU per query'"
				fi
				cmd="plot"
				i=0
				lt=0
				for t in $TARGETS; do
					lt=$((lt + 1))	# one colour per target
					[ "$col" = 3 ] && [ "$t" = direct ] && continue
					f=$WORK/plot-$m-$t.dat
					[ $i -gt 0 ] && cmd="$cmd,"
					cmd="$cmd '$f' using 1:$col with linespoints lt $lt lw 2 title '$t'"
					i=$((i + 1))
				done
				echo "$cmd"
			done
		done
		echo "unset multiplot"
	} >"$WORK/plot.gp"
	gnuplot "$WORK/plot.gp" 2>"$WORK/plot.err" || {
		# no cairo: the plain png terminal
		sed -i 's/^set terminal pngcairo/set terminal png/' "$WORK/plot.gp"
		gnuplot "$WORK/plot.gp"
	}
}

plot_matplotlib()
{
	/usr/bin/python3 - "$RESULTS" "$OUT/cpu.png" "$MODES" "$TARGETS" <<'EOF'
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

res, png, modes, targets = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
rows = [l.split() for l in open(res) if not l.startswith("#")]
fig, ax = plt.subplots(2, len(modes), figsize=(6.4 * len(modes), 9), squeeze=False)
for j, m in enumerate(modes):
    for t in targets:
        pts = [(int(r[0]), r[3], r[5]) for r in rows if r[1] == m and r[2] == t and r[3] != "FAIL"]
        if not pts:
            continue
        colour = "C%d" % targets.index(t)
        ax[0][j].plot([p[0] for p in pts], [float(p[1]) for p in pts], "o-", color=colour, label=t)
        if t != "direct":
            ax[1][j].plot([p[0] for p in pts], [float(p[2]) for p in pts], "o-", color=colour, label=t)
    ax[0][j].set_title(m + ": qps")
    ax[1][j].set_title(m + ": proxy CPU per query")
    ax[0][j].set_ylabel("queries per second")
    ax[1][j].set_ylabel("proxy CPU µs per query")
    for a in (ax[0][j], ax[1][j]):
        a.set_xscale("log", base=2)
        a.set_xlabel("sysbench threads")
        a.grid(True)
        a.legend()
fig.tight_layout()
fig.savefig(png)
EOF
}

case $PLOTTER in
gnuplot) plot_gnuplot && echo "plot: $OUT/cpu.png" ;;
matplotlib) plot_matplotlib && echo "plot: $OUT/cpu.png" ;;
esac
[ -z "${PROFILE:-}" ] || echo "profile: $PROFILES"
echo "results: $OUT/results.txt, table: $OUT/table.txt"

for target in $TARGETS; do
	if [ -s "$WORK/inbatch-$target.out" ]; then
		echo
		echo "inbatch-$target log (last lines):"
		tail -n 10 "$WORK/inbatch-$target.out"
	fi
done

exit "$FAILED"
