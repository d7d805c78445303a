#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# bench/prefetch-loop.sh: the seed N+1 loop (issue 13): 1,000 lookups on one
# connection inside a transaction, direct vs through inbatch, with the
# database behind bench/delay-relay at 0 and 250 us one-way delay (both the
# direct client and inbatch reach it through the relay).  Prints the time
# and the backend statements (Com_select delta) of each, and the ratios.
#
#   bench/prefetch-loop.sh            (INBATCH=..., N=1000, DELAYS="0 250",
#                                      REPS=3 to override)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
N=${N:-1000}
DELAYS=${DELAYS:-"0 250"}
REPS=${REPS:-3}

# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"
INBATCH=$(ib_find_inbatch "$top")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/inbatch-pf.XXXXXX")
RELAY_PID=""
INB_PID=""
cleanup()
{
	[ -n "$INB_PID" ] && ib_stop_pid "$INB_PID"
	[ -n "$RELAY_PID" ] && ib_stop_pid "$RELAY_PID"
	INB_PID=""
	RELAY_PID=""
	mdb_stop
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2046
gcc -O2 -Wall -Wextra -Werror "$here/delay-relay.c" \
	$(pkg-config --cflags --libs libevent) -o "$WORK/delay-relay"
mdb_start
mdb_sql "USE demo;
	 CREATE TABLE demo.projects (id INT PRIMARY KEY, gid VARCHAR(20))
	 ENGINE=InnoDB;
	 CREATE TABLE demo.projects_settings (id INT AUTO_INCREMENT PRIMARY KEY,
	 name VARCHAR(64) NOT NULL UNIQUE, value VARCHAR(64)) ENGINE=InnoDB;
	 INSERT INTO demo.projects SELECT seq, CONCAT('g', seq * 7 % 100003)
	 FROM seq_1_to_$N;
	 INSERT INTO demo.projects_settings (name, value)
	 SELECT CONCAT('proj:', gid), CONCAT('v', id) FROM demo.projects;"

run() # label port
{
	local out
	out=$(/usr/bin/python3 "$here/prefetch-loop.py" 127.0.0.1 "$2" "$MDB_PORT" "$N")
	echo "$1 $out"
}

for d in $DELAYS; do
	RPORT=$(ib_free_port)
	"$WORK/delay-relay" "$RPORT" 127.0.0.1 "$MDB_PORT" "$d" &
	RELAY_PID=$!
	ib_wait_port "$RPORT"
	IPORT=$(ib_free_port)
	cat >"$WORK/inbatch.ini" <<EOT
[inbatch]
listen = 127.0.0.1:$IPORT
admin_listen =
backend = 127.0.0.1:$RPORT
log_level = warn
[users]
app = secret
EOT
	"$INBATCH" -c "$WORK/inbatch.ini" &
	INB_PID=$!
	ib_wait_port "$IPORT"
	echo "# delay ${d}us one way, $N lookups, $REPS runs each, interleaved"
	for _ in $(seq "$REPS"); do
		run "direct  delay=$d" "$RPORT"
		run "inbatch delay=$d" "$IPORT"
	done | tee "$WORK/runs"
	awk -v d="$d" '
		{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		$1 == "direct"  { dt += v["seconds"]; ds += v["com_select"]; dn++ }
		$1 == "inbatch" { it += v["seconds"]; is += v["com_select"]; in_++ }
		END { printf "# delay %sus: inbatch/direct time %.3f (%.1fx faster), backend statements %d vs %d (1/%.0f)\n",
			d, (it/in_)/(dt/dn), (dt/dn)/(it/in_), is/in_, ds/dn, (ds/dn)/((is/in_) > 0 ? is/in_ : 1) }' "$WORK/runs"
	ib_stop_pid "$INB_PID"
	INB_PID=""
	ib_stop_pid "$RELAY_PID"
	RELAY_PID=""
done
