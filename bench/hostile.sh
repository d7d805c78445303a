#!/usr/bin/env bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/hostile.sh: honest clients beside hostile ones (pre-login floods,
# slowloris on the client, admin and metrics ports, clients that never read
# their answers, pipelining, shape and session churn, garbage) for
# HOSTILE_SECONDS.  Starts a throwaway MariaDB and an inbatch with the
# limits below, runs bench/hostile.py, and prints honest latency and
# errors, proxy RSS and fds at start, peak and end, and backend connections
# at peak, each beside the bound the configuration allows.  Exits 1 on an
# honest error or a bound passed.
#
# Environment:
#   INBATCH          proxy binary (as bench/soak.sh finds it)
#   HOSTILE_SECONDS  length of the run (default 60)
#   HOSTILE_HONEST   honest client threads (default 16)

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

SECONDS_RUN=${HOSTILE_SECONDS:-60}
HONEST=${HOSTILE_HONEST:-16}
KEYS=10000
MAX_CLIENT_CONN=500
MAX_PACKET=1048576
PY=/usr/bin/python3

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"

INBATCH=$(ib_find_inbatch "$top")
if [ ! -x "$INBATCH" ]; then
	echo "hostile: no inbatch binary at $INBATCH (set INBATCH)" >&2
	exit 2
fi

ib_bench_begin hostile

echo "# starting MariaDB" >&2
mdb_start "$WORK/mdb"
mdb_sql "SET GLOBAL max_connections = 1000"
mdb_create_projects "$KEYS"
mdb_sql "CREATE TABLE wide (id INT PRIMARY KEY, name VARCHAR(20), pad MEDIUMTEXT,
		KEY (name)) ENGINE = InnoDB;
	 INSERT INTO wide SELECT seq, CONCAT('w', seq), REPEAT('x', 16384)
		FROM seq_1_to_64;" demo >/dev/null

IB_METRICS=$(ib_free_port)
ib_start_inbatch "$INBATCH" "$WORK/inbatch.conf" "$WORK/inbatch.out" <<CONF || exit 1
metrics_listen = 127.0.0.1:$IB_METRICS
log_level = error
max_client_conn = $MAX_CLIENT_CONN
max_packet_size = $MAX_PACKET
handshake_timeout = 5
net_read_timeout = 5
batch_max_groups = 1024
[users]
app = secret
CONF
sleep 1

# What the limits allow: per client, its unread answers (4 MiB before the
# proxy stops taking its commands) and one command of max_packet_size
# buffered beside the one in flight; plus 64 MiB for everything else.
RSS_BOUND_KB=$(( 65536 + MAX_CLIENT_CONN * (4096 + 2 * MAX_PACKET / 1024) ))

rc=0
"$PY" "$here/hostile.py" --port "$IB_PORT" --admin-port "$IB_ADMIN" \
	--metrics-port "$IB_METRICS" --db-port "$MDB_PORT" \
	--proxy-pid "$IB_PID" --seconds "$SECONDS_RUN" --honest "$HONEST" \
	--keys "$KEYS" --wide-table wide --rss-bound-kb "$RSS_BOUND_KB" \
	--backend-bound "$MAX_CLIENT_CONN" || rc=$?
if ! kill -0 "$IB_PID" 2>/dev/null; then
	echo "hostile: inbatch exited; the end of its output:" >&2
	tail -n 50 "$WORK/inbatch.out" >&2
	rc=1
fi
exit "$rc"
