#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# bench/prefetch-loop.sh: the seed N+1 loop (issue 13): 1,000 lookups on one
# connection inside a transaction, direct vs through inbatch.  Legs (DELAYS):
#   plain  no relay at all: the client and inbatch reach MariaDB on loopback
#   <us>   both the direct client and inbatch reach MariaDB through
#          bench/delay-relay with that one-way delay (0 = the relay alone)
# Each run is timed by the client and counted on the server (the
# Com_select delta).  Prints every run, then one row per leg: the medians,
# the spread, the time ratio and the statement ratio; draws loop.png.
#
# KEYS=id looks the rows up by the parent row's id (an integer key) rather
# than by name.  MariaDB's CPU time per loop (/proc/PID/stat) is printed
# beside the times: what the loop costs the server.
#
#   bench/prefetch-loop.sh     (INBATCH=..., N=1000, DELAYS="plain 0 250",
#                               REPS=5, CLIENT=c|python, KEYS=name|id,
#                               OUT=dir)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
N=${N:-1000}
DELAYS=${DELAYS:-"plain 0 250"}
REPS=${REPS:-5}
CLIENT=${CLIENT:-c}
KEYS=${KEYS:-name}
case $KEYS in
name) BY_ID=() ;;
id) BY_ID=(--by-id) ;;
*) echo "prefetch-loop: KEYS is name or id" >&2; exit 2 ;;
esac
OUT=${OUT:-./prefetch-loop-$(date +%Y%m%d-%H%M%S)}

# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"
INBATCH=$(ib_find_inbatch "$top")
ib_bench_begin prefetch-loop
mkdir -p "$OUT"

# shellcheck disable=SC2046
gcc -O2 -Wall -Wextra -Werror "$here/delay-relay.c" \
	$(pkg-config --cflags --libs libevent) -o "$WORK/delay-relay"
ib_build_lookups "$top" "$WORK/lookups"
mdb_start "$WORK/mdb"
mdb_sql "USE demo;
	 CREATE TABLE demo.projects (id INT PRIMARY KEY, gid VARCHAR(20))
	 ENGINE=InnoDB;
	 CREATE TABLE demo.projects_settings (id INT AUTO_INCREMENT PRIMARY KEY,
	 name VARCHAR(64) NOT NULL UNIQUE, owner VARCHAR(64)) ENGINE=InnoDB;
	 INSERT INTO demo.projects SELECT seq, CONCAT('g', seq * 7 % 100003)
	 FROM seq_1_to_$N;
	 INSERT INTO demo.projects_settings (id, name, owner)
	 SELECT id, CONCAT('proj:', gid), CONCAT('v', id) FROM demo.projects;"

com_select()
{
	mdb_sql "SHOW GLOBAL STATUS LIKE 'Com_select'" -N | awk '{print $2}'
}

# mdb_ticks: MariaDB's utime + stime, in clock ticks (after the command
# name, which may hold spaces, utime and stime are fields 12 and 13).
mdb_ticks()
{
	local s
	s=$(cat "/proc/$MDB_PID/stat")
	awk '{ print $12 + $13 }' <<<"${s##*) }"
}

# run LABEL LEG PORT: one loop; appends "LABEL LEG seconds statements
# mariadb_cpu_ms".
run()
{
	local before after out secs t0 t1
	before=$(com_select)
	t0=$(mdb_ticks)
	if [ "$CLIENT" = python ]; then
		out=$(/usr/bin/python3 "$here/prefetch-loop.py" 127.0.0.1 "$3" "$N" \
			"$KEYS")
	else
		out=$("$WORK/lookups" -h 127.0.0.1 -P "$3" -u app -p secret \
			-D demo -n "$N" --mode loop --parent projects \
			--table projects_settings --prefix proj: "${BY_ID[@]}")
	fi
	t1=$(mdb_ticks)
	after=$(com_select)
	secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
	case $out in
	*errors=0* | *found=$N*) ;;
	*) echo "prefetch-loop: wrong answers: $out" >&2; exit 1 ;;
	esac
	echo "$1 $2 $secs $((after - before))" \
	     "$(( (t1 - t0) * 1000 / $(getconf CLK_TCK) ))" | tee -a "$WORK/runs"
}

echo "# $N lookups by $KEYS on one connection in a transaction," \
     "$CLIENT client, $REPS runs per target, interleaved; $INBATCH"
for d in $DELAYS; do
	RELAY_PID=""
	if [ "$d" = plain ]; then
		RPORT=$MDB_PORT
	else
		RPORT=$(ib_free_port)
		"$WORK/delay-relay" "$RPORT" 127.0.0.1 "$MDB_PORT" "$d" &
		RELAY_PID=$!
		IB_PIDS+=("$RELAY_PID")
		ib_wait_port "$RPORT"
	fi
	ib_start_inbatch "$INBATCH" "$WORK/inbatch.ini" "$WORK/inbatch.out" \
		"$RPORT" <<EOT || exit 1
log_level = warn
[users]
app = secret
EOT
	IPORT=$IB_PORT
	# one round not counted: connections, caches, the buffer pool
	run warmup "$d" "$RPORT" >/dev/null
	run warmup "$d" "$IPORT" >/dev/null
	for _ in $(seq "$REPS"); do
		run direct "$d" "$RPORT"
		run inbatch "$d" "$IPORT"
	done
	ib_stop_started "$IB_PID"
	if [ -n "$RELAY_PID" ]; then
		ib_stop_started "$RELAY_PID"
	fi
done
grep -v '^warmup' "$WORK/runs" >"$OUT/runs.txt"

median()
{
	sort -g | awk '{v[NR] = $1}
		END { if (NR % 2) print v[(NR + 1) / 2];
		      else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# stat TARGET LEG FIELD: "median min max" of one column
stat()
{
	local vals
	vals=$(awk -v t="$1" -v d="$2" -v f="$3" '$1 == t && $2 == d { print $f }' \
		"$OUT/runs.txt")
	echo "$(median <<<"$vals") $(sort -g <<<"$vals" | head -1) $(sort -g <<<"$vals" | tail -1)"
}

{
	echo
	echo "# delay: one way through bench/delay-relay (plain: no relay);" \
	     "ms: median [min-max] of $REPS runs"
	printf '%-6s | %-22s | %-22s | %-7s | %-22s | %s\n' delay "direct ms" \
		"inbatch ms" ratio "statements direct/inbatch" \
		"MariaDB CPU ms direct/inbatch"
	for d in $DELAYS; do
		read -r dm dlo dhi <<<"$(stat direct "$d" 3)"
		read -r im ilo ihi <<<"$(stat inbatch "$d" 3)"
		read -r ds _ _ <<<"$(stat direct "$d" 4)"
		read -r is _ _ <<<"$(stat inbatch "$d" 4)"
		read -r dc _ _ <<<"$(stat direct "$d" 5)"
		read -r ic _ _ <<<"$(stat inbatch "$d" 5)"
		awk -v d="$d" -v dm="$dm" -v dlo="$dlo" -v dhi="$dhi" -v im="$im" \
		    -v ilo="$ilo" -v ihi="$ihi" -v ds="$ds" -v is="$is" \
		    -v dc="$dc" -v ic="$ic" 'BEGIN {
			printf "%-6s | %7.1f [%5.1f-%5.1f] | %7.1f [%5.1f-%5.1f] | %5.1fx | %-22s | %s/%s\n",
				d, dm * 1000, dlo * 1000, dhi * 1000, im * 1000,
				ilo * 1000, ihi * 1000, dm / im,
				sprintf("%d/%d (1/%.0f)", ds, is,
					ds / (is > 0 ? is : 1)), dc, ic
			print d, dm * 1000, im * 1000 >"/dev/stderr" }' 2>>"$WORK/plot.dat"
	done
	echo "# ratio: direct time / inbatch time (above 1: inbatch is faster);" \
	     "MariaDB CPU: median per loop, /proc in 1/$(getconf CLK_TCK) s ticks"
} | tee "$OUT/table.txt"

if command -v gnuplot >/dev/null; then
	cat >"$WORK/plot.gp" <<EOT
set terminal pngcairo size 800,500 noenhanced
set output '$OUT/loop.png'
set title '$N lookups in one transaction, one connection ($CLIENT client): median of $REPS'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel 'ms (log scale)'
set xlabel 'one-way delay to MariaDB (plain: no relay)'
set grid ytics
set key top left
plot '$WORK/plot.dat' using 2:xtic(1) title 'direct', '' using 3 title 'inbatch'
EOT
	if gnuplot "$WORK/plot.gp" 2>"$WORK/plot.err" ||
	   { sed -i 's/^set terminal pngcairo/set terminal png/' "$WORK/plot.gp" &&
	     gnuplot "$WORK/plot.gp"; }; then
		echo "plot: $OUT/loop.png"
	fi
fi
echo "runs: $OUT/runs.txt, table: $OUT/table.txt"
