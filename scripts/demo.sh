#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# scripts/demo.sh: build inbatch, start a throwaway MariaDB with a demo
# table, put inbatch in front of it and show a burst of lookups being
# coalesced.  Everything it starts is stopped again on exit or Ctrl-C.
set -euo pipefail

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
ROWS=10000
LOOKUPS=${IB_DEMO_LOOKUPS:-1000}
THREADS=${IB_DEMO_THREADS:-64}

section()
{
	printf '\n==== %s ====\n' "$*"
}

. "$SRCDIR/scripts/mariadb-throwaway.sh"

WORK=""
IB_PID=""
# shellcheck disable=SC2317  # reached through the EXIT trap
cleanup()
{
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$IB_PID" ]; then
		ib_stop_pid "$IB_PID"
	fi
	mdb_stop || true
	if [ -n "$WORK" ]; then
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

# ------------------------------------------------------------------
section "1. packages"
bash "$SRCDIR/scripts/deps.sh"

# ------------------------------------------------------------------
section "2. build"
# Reuse an in-tree build if there is one; otherwise build out of tree in
# build/ (an in-tree configure would block the VPATH builds of test.sh).
if [ -n "${IB_BUILDDIR:-}" ]; then
	BUILD=$IB_BUILDDIR
elif [ -f "$SRCDIR/config.status" ]; then
	BUILD=$SRCDIR
else
	BUILD=$SRCDIR/build
fi
if [ ! -x "$SRCDIR/configure" ]; then
	(cd "$SRCDIR" && ./autogen.sh)
fi
mkdir -p "$BUILD"
if [ ! -f "$BUILD/config.status" ]; then
	(cd "$BUILD" && "$SRCDIR/configure" --quiet)
fi
make -C "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" src/inbatch
INBATCH=$BUILD/src/inbatch
echo "binary: $INBATCH"
"$INBATCH" --version || true

# ------------------------------------------------------------------
section "3. throwaway MariaDB"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/inbatch-demo.XXXXXX")
mdb_start "$WORK/mariadb"
echo "mariadbd pid $MDB_PID on 127.0.0.1:$MDB_PORT (datadir $MDB_DIR/data)"

echo "loading demo.projects with $ROWS rows"
mdb_sql "CREATE TABLE projects (
		id INT AUTO_INCREMENT PRIMARY KEY,
		name VARCHAR(64) NOT NULL UNIQUE,
		owner VARCHAR(64),
		created_at DATETIME);
	 INSERT INTO projects (name, owner, created_at)
		SELECT CONCAT('proj:', seq), CONCAT('owner', seq % 97),
		       '2024-01-01 00:00:00' + INTERVAL seq MINUTE
		FROM seq_1_to_$ROWS ORDER BY seq;
	 SELECT COUNT(*) AS rows_loaded FROM projects;" demo

# ------------------------------------------------------------------
section "4. inbatch"
IB_PORT=$(ib_free_port)
ADMIN_PORT=$(ib_free_port)
while [ "$ADMIN_PORT" = "$IB_PORT" ]; do
	ADMIN_PORT=$(ib_free_port)
done
# no certificate configured: make a throwaway self-signed one so the
# demo can show a TLS login too
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
	-keyout "$WORK/tls-key.pem" -out "$WORK/tls-cert.pem" >/dev/null 2>&1
CONF=$WORK/inbatch.conf
cat >"$CONF" <<CONF
; written by scripts/demo.sh
[inbatch]
listen = 127.0.0.1:$IB_PORT
backend = 127.0.0.1:$MDB_PORT
admin_listen = 127.0.0.1:$ADMIN_PORT
admin_user = admin
admin_password = admin
tls_mode = allow
tls_cert = $WORK/tls-cert.pem
tls_key = $WORK/tls-key.pem
; no [users]: every account MariaDB accepts logs in, checked by MariaDB
CONF
cat "$CONF"
"$INBATCH" -c "$CONF" >"$WORK/inbatch.log" 2>&1 &
IB_PID=$!
if ! ib_wait_port "$IB_PORT" 20 || ! kill -0 "$IB_PID" 2>/dev/null; then
	echo "inbatch did not start; its log:" >&2
	cat "$WORK/inbatch.log" >&2
	exit 1
fi
echo "inbatch pid $IB_PID listening on 127.0.0.1:$IB_PORT -> MariaDB 127.0.0.1:$MDB_PORT"

# ------------------------------------------------------------------
section "5a. one lookup with the mariadb client, through inbatch"
echo "\$ mariadb -h127.0.0.1 -P$IB_PORT -uapp -psecret demo \\"
echo "    -e \"SELECT id, name, owner FROM projects WHERE name = 'proj:42' LIMIT 1\""
mariadb --no-defaults --table -h127.0.0.1 -P"$IB_PORT" -uapp -psecret demo \
	-e "SELECT id, name, owner FROM projects WHERE name = 'proj:42' LIMIT 1"
echo
echo "the same over TLS (self-signed certificate made for this demo):"
mariadb --no-defaults --table -h127.0.0.1 -P"$IB_PORT" -uapp -psecret \
	--ssl --ssl-ca="$WORK/tls-cert.pem" demo \
	-e "SELECT id, name, owner FROM projects WHERE name = 'proj:43' LIMIT 1"

echo
echo "an account created now, while inbatch runs, logs in at once (no list"
echo "to edit: MariaDB checks the password; inbatch relays the exchange):"
mdb_sql "CREATE USER 'late'@'%' IDENTIFIED BY 'late pw';
	 GRANT SELECT ON demo.* TO 'late'@'%'"
mariadb --no-defaults -N -h127.0.0.1 -P"$IB_PORT" -ulate -p'late pw' demo \
	-e "SELECT CURRENT_USER(), COUNT(*) FROM projects"

# ------------------------------------------------------------------
section "5b. burst: $LOOKUPS lookups from $THREADS connections"
cat >"$WORK/burst.py" <<'PYEOF'
# One burst of point lookups from many connections; every answer checked.
import random, sys, threading, time
import pymysql

host_port, be_port, lookups, nthreads, nrows = (
    int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
    int(sys.argv[4]), int(sys.argv[5]))


def connect(port):
    return pymysql.connect(host="127.0.0.1", port=port, user="app",
                           password="secret", database="demo",
                           autocommit=True, connect_timeout=10,
                           read_timeout=30)


def com_select():
    """Com_select read on MariaDB itself, not through the proxy."""
    c = connect(be_port)
    try:
        with c.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Com_select'")
            return int(cur.fetchone()[1])
    finally:
        c.close()


rnd = random.Random(8)
keys = [rnd.randint(1, nrows) for _ in range(lookups)]
shares = [keys[i::nthreads] for i in range(nthreads)]
conns = [connect(host_port) for _ in range(nthreads)]
wrong = []
errors = []
lock = threading.Lock()
start = threading.Barrier(nthreads + 1)


def worker(conn, mine):
    start.wait()
    for k in mine:
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT id, name, owner FROM projects "
                            "WHERE name = 'proj:%d' LIMIT 1" % k)
                rows = cur.fetchall()
            want = ((k, "proj:%d" % k, "owner%d" % (k % 97)),)
            if tuple(tuple(r) for r in rows) != want:
                with lock:
                    wrong.append((k, rows))
        except Exception as e:  # a failed lookup is a wrong answer
            with lock:
                errors.append((k, repr(e)))


threads = [threading.Thread(target=worker, args=(c, s))
           for c, s in zip(conns, shares)]
for t in threads:
    t.start()
before = com_select()
t0 = time.monotonic()
start.wait()
for t in threads:
    t.join()
wall = time.monotonic() - t0
after = com_select()
for c in conns:
    c.close()

# the com_select() probes themselves are SHOW, not SELECT: no correction
print("  lookups sent:          %d" % lookups)
print("  answers checked:       %d correct, %d wrong, %d errors"
      % (lookups - len(wrong) - len(errors), len(wrong), len(errors)))
print("  wall time:             %.3f s (%.0f lookups/s)"
      % (wall, lookups / wall if wall else 0))
delta = after - before
print("  backend Com_select:    +%d" % delta)
if delta > 0:
    print("  lookups per backend SELECT: %.1f" % (lookups / delta))
for k, rows in wrong[:5]:
    print("  WRONG proj:%d -> %r" % (k, rows))
for k, e in errors[:5]:
    print("  ERROR proj:%d -> %s" % (k, e))
sys.exit(1 if wrong or errors else 0)
PYEOF

rc=0
echo "through inbatch (127.0.0.1:$IB_PORT):"
"$PY" "$WORK/burst.py" "$IB_PORT" "$MDB_PORT" "$LOOKUPS" "$THREADS" "$ROWS" || rc=1
echo
echo "for comparison, the same burst straight to MariaDB (127.0.0.1:$MDB_PORT):"
"$PY" "$WORK/burst.py" "$MDB_PORT" "$MDB_PORT" "$LOOKUPS" "$THREADS" "$ROWS" || true
echo
echo "Fewer backend SELECTs than lookups means inbatch answered several"
echo "lookups with one coalesced query."

# ------------------------------------------------------------------
section "5c. admin port (SHOW STATS)"
if ib_wait_port "$ADMIN_PORT" 1; then
	echo "\$ mariadb -h127.0.0.1 -P$ADMIN_PORT -uadmin -padmin -e 'SHOW STATS'"
	mariadb --no-defaults -h127.0.0.1 -P"$ADMIN_PORT" -uadmin -padmin \
		--table -e 'SHOW STATS' || echo "(admin query failed)"
else
	echo "admin port 127.0.0.1:$ADMIN_PORT does not answer; skipped"
fi

# ------------------------------------------------------------------
section "6. result"
if ! kill -0 "$IB_PID" 2>/dev/null; then
	echo "inbatch exited during the demo; its log:"
	cat "$WORK/inbatch.log"
	rc=1
fi
if [ "$rc" -ne 0 ]; then
	echo "FAILED: some lookups through inbatch returned a wrong answer or an error"
	echo "last lines of the inbatch log:"
	tail -n 30 "$WORK/inbatch.log" || true
else
	echo "OK: every lookup through inbatch returned the right row"
fi
exit "$rc"
