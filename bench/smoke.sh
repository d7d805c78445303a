#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# bench/smoke.sh: run every benchmark script once at toy sizes, so that a
# script that no longer starts, parses or cleans up fails the test suite
# instead of the next person who measures.  The figures mean nothing (the
# sizes are tiny and the binary may be a sanitizer build); what is checked is
# each script's exit status, that it printed its result line, and that it
# left no process or work directory of its own behind.  instr.sh counts
# HAProxy only: callgrind cannot run a sanitizer build.
#
#   bench/smoke.sh            (INBATCH or IB_BUILDDIR find the binary)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"
INBATCH=$(ib_find_inbatch "$top")
export INBATCH
if [ ! -x "$INBATCH" ]; then
	echo "smoke: no inbatch binary at $INBATCH (set INBATCH)" >&2
	exit 2
fi
OUT=$(mktemp -d "${TMPDIR:-/tmp}/inbatch-smoke.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

# name | environment | script | a line its output must have
SCRIPTS=(
"cpu|BENCH_TIME=1 THREADS=2 MODES=text SEED_REPEAT=1 TABLE_SIZE=500 PROFILE=1 OUT=$OUT/cpu|cpu.sh|^profile: "
"cpu-syscalls|BENCH_TIME=1 THREADS=2 MODES=text TARGETS=adaptive SEED_REPEAT=0 TABLE_SIZE=500 SYSCALLS=1 OUT=$OUT/cpu-syscalls|cpu.sh|^(adaptive +[0-9]+\.[0-9]+ |system calls: not counted)"
"cpu-seed|BENCH_TIME=1 THREADS=1 MODES=text TARGETS=adaptive SEED_REPEAT=1 TABLE_SIZE=500 OUT=$OUT/cpu-seed|cpu.sh|^adaptive +[0-9]+\.[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+\.[0-9] +[0-9]+\.[0-9] +[0-9]+\.[0-9] +[0-9]+\.[0-9]{2} +n/a +[0-9]+\.[0-9]{2} +n/a$"
"cpu-sched|BENCH_TIME=1 THREADS=1 MODES=text TARGETS=adaptive SEED_REPEAT=0 TABLE_SIZE=500 SCHED=1 SCHED_LOOKUPS=4000 OUT=$OUT/cpu-sched|cpu.sh|^(adaptive +idle beside +proxy +[0-9]+\.[0-9] |scheduler events: not recorded)"
"seed-loops|LOOPS=2 ROUNDS=1 SEED_LOOKUPS=200 OUT=$OUT/seed-loops|seed-loops.sh|^loops-2 +[0-9]+\.[0-9]{2} +[0-9]+ +[0-9]+ +[0-9]+\.[0-9] +[0-9]+\.[0-9] +[0-9]+\.[0-9] +[0-9]+\.[0-9]{2} +[0-9]+\.[0-9]{2} +[0-9]+\.[0-9]{2} +[0-9]+\.[0-9]{2}$"
"cpu-rounds|BENCH_TIME=1 THREADS=2 MODES=text ROUNDS=3 SEED_REPEAT=0 TABLE_SIZE=500 OUT=$OUT/cpu-rounds|cpu.sh|^ +2 text +[0-3]/3 +[0-3]/3$"
"sysbench|BENCH_TIME=1 THREADS=2 PS_MODES=disable TABLE_SIZE=500|sysbench.sh|^inbatch-adaptive "
"settings-page|REPEAT=1 N=50 CONNS=4|settings-page.sh|time, direct/inbatch"
"hostile|HOSTILE_SECONDS=3 HOSTILE_HONEST=2|hostile.sh|^verdict: PASS"
"soak|SOAK_SECONDS=3 SOAK_WARMUP=1 SOAK_CLIENTS=20 SOAK_PROCS=1 SOAK_RSS_SLACK_MB=1024|soak.sh|^verdict: PASS"
"prefetch-loop|N=50 DELAYS=0 REPS=1 OUT=$OUT/prefetch-loop|prefetch-loop.sh|MariaDB CPU ms"
"instr|TARGETS=haproxy MODES=text EVENTS_SMALL=20 EVENTS=60 TABLE_SIZE=100|instr.sh|^text +haproxy +[0-9]+ +1.00"
"prefetch-loop-id|N=50 DELAYS=plain REPS=1 KEYS=id OUT=$OUT/prefetch-loop-id|prefetch-loop.sh|MariaDB CPU ms"
)

rc=0
for entry in "${SCRIPTS[@]}"; do
	IFS='|' read -r name envs script want <<<"$entry"
	before=$(pgrep -c -f "inbatch-$name\.|$INBATCH -c" || true)
	# shellcheck disable=SC2086  # envs is a list of NAME=value words
	if env $envs timeout 600 bash "$here/$script" >"$OUT/$name.log" 2>&1 &&
	   grep -Eq "$want" "$OUT/$name.log"; then
		status=ok
	else
		status=FAILED
		rc=1
	fi
	after=$(pgrep -c -f "inbatch-$name\.|$INBATCH -c" || true)
	if [ "$after" -gt "$before" ]; then
		status="$status, left $((after - before)) process(es) behind"
		rc=1
	fi
	echo "smoke: $name: $status"
	if [ "$status" != ok ]; then
		tail -n 30 "$OUT/$name.log" | sed "s/^/  $name: /"
	fi
done
exit $rc
