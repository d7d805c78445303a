#!/usr/bin/env bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
#
# bench/soak.sh: a bounded soak.  Starts a throwaway MariaDB
# (max_connections 3000) and an inbatch (batch_mode = adaptive,
# max_client_conn 2000) in front of it, loads `projects` (10,000 rows) and
# an empty `counters` table, then runs bench/soak.py: 1,000 client
# connections doing lookups, writes, short transactions and reconnects for
# SOAK_SECONDS, every answer checked, while the proxy's RSS and open
# descriptors are sampled.  Ends with a PASS/FAIL verdict line; exits 1 on
# FAIL.
#
# Environment:
#   INBATCH        proxy binary (default: ./src/inbatch, $IB_BUILDDIR/src/inbatch,
#                  build-test/src/inbatch, first that exists)
#   SOAK_SECONDS   length of the measured run (default 180)
#   SOAK_WARMUP    warm-up before it, all clients connected (default 15)
#   SOAK_CLIENTS   client connections (default 1000)
#   SOAK_PROCS     client processes they are spread over (default 4)
#   SOAK_THINK_MS  random pause of up to this long between operations (0)
#   SOAK_RSS_SLACK_MB  RSS growth allowed over the run, at least (16; a
#                  sanitizer build keeps freed memory in quarantine)
#   BATCH_MODE, BATCH_WINDOW_US, BATCH_MAX_KEYS   proxy settings
#                  (default adaptive, 500, 256, 8)
#   SOAK_KEEP_LOG  if set, copy the proxy's log to this file

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

SOAK_SECONDS=${SOAK_SECONDS:-180}
SOAK_WARMUP=${SOAK_WARMUP:-15}
SOAK_CLIENTS=${SOAK_CLIENTS:-1000}
SOAK_PROCS=${SOAK_PROCS:-4}
SOAK_THINK_MS=${SOAK_THINK_MS:-0}
SOAK_RSS_SLACK_MB=${SOAK_RSS_SLACK_MB:-16}
BATCH_MODE=${BATCH_MODE:-adaptive}
BATCH_WINDOW_US=${BATCH_WINDOW_US:-500}
BATCH_MAX_KEYS=${BATCH_MAX_KEYS:-256}
KEYS=10000
PY=/usr/bin/python3

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=scripts/mariadb-throwaway.sh
. "$top/scripts/mariadb-throwaway.sh"

INBATCH=$(ib_find_inbatch "$top")
if [ ! -x "$INBATCH" ]; then
	echo "soak: no inbatch binary at $INBATCH (set INBATCH)" >&2
	exit 2
fi
if ! "$PY" -c 'import pymysql' 2>/dev/null; then
	echo "soak: $PY cannot import pymysql (apt-get install python3-pymysql)" >&2
	exit 2
fi

# shellcheck disable=SC2317  # reached through the EXIT trap
bench_on_exit()
{
	if [ -n "${SOAK_KEEP_LOG:-}" ] && [ -f "$WORK/inbatch.out" ]; then
		cp "$WORK/inbatch.out" "$SOAK_KEEP_LOG" || true
	fi
}
ib_bench_begin soak
if [ "$(ulimit -n)" != unlimited ] &&
   [ "$(ulimit -n)" -lt $((SOAK_CLIENTS * 2 + 200)) ]; then
	echo "soak: warning: open files limit $(ulimit -n) may be too low" >&2
fi

echo "# starting MariaDB" >&2
mdb_start "$WORK/mdb"
mdb_sql "SET GLOBAL max_connections = 3000"
mdb_create_projects "$KEYS"
mdb_sql "CREATE TABLE counters (
		id INT PRIMARY KEY,
		owner INT NOT NULL,
		n BIGINT NOT NULL
	 ) ENGINE = InnoDB;" demo >/dev/null

echo "# starting inbatch ($INBATCH)" >&2
ib_start_inbatch "$INBATCH" "$WORK/inbatch.conf" "$WORK/inbatch.out" <<EOF || exit 1
log_level = warn
batch_mode = $BATCH_MODE
batch_window_us = $BATCH_WINDOW_US
batch_max_keys = $BATCH_MAX_KEYS
max_client_conn = $((SOAK_CLIENTS * 2))
[users]
app = secret
EOF
# ib_wait_port's probe connections must be gone before the baseline.
sleep 1

rc=0
"$PY" "$here/soak.py" --port "$IB_PORT" --admin-port "$IB_ADMIN" \
	--db-port "$MDB_PORT" --proxy-pid "$IB_PID" \
	--clients "$SOAK_CLIENTS" --procs "$SOAK_PROCS" \
	--seconds "$SOAK_SECONDS" --warmup "$SOAK_WARMUP" \
	--keys "$KEYS" --think-ms "$SOAK_THINK_MS" \
	--rss-slack-mb "$SOAK_RSS_SLACK_MB" || rc=$?

if ! kill -0 "$IB_PID" 2>/dev/null; then
	echo "soak: inbatch exited; the end of its output:" >&2
	tail -n 50 "$WORK/inbatch.out" >&2
	rc=1
elif [ -s "$WORK/inbatch.out" ]; then
	echo "# proxy log (warn and above), last lines:" >&2
	tail -n 20 "$WORK/inbatch.out" >&2
fi
exit "$rc"
