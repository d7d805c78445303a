# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# shellcheck shell=bash
# scripts/mariadb-throwaway.sh: bash functions that start and stop a private
# mariadbd (temp datadir, free loopback port).  Source it; do not run it.
#
#   . scripts/mariadb-throwaway.sh
#   mdb_start            # sets MDB_DIR MDB_PORT MDB_SOCK MDB_PID
#   mdb_sql 'SELECT 1'   # runs SQL as root over the socket
#   mdb_stop             # kills that server only and removes MDB_DIR
#
# and for benchmark scripts (see each below): ib_bench_begin NAME,
# ib_start_inbatch BIN CONF OUT <<EOF ... EOF, ib_bench_settings MODE,
# mdb_create_projects KEYS, ib_build_lookups SRCDIR OUT.
#
# The server has root without a password and app@'%' / app@localhost with
# password 'secret' and all privileges, plus an empty database `demo`.
# Its tmpdir is private, for mariadb-install-db too: a starting mariadbd
# deletes the #sql* files in its tmpdir, which would include other running
# servers' (and a concurrent install's) temporary tables.
# Extra mariadbd options go in the array MDB_EXTRA_ARGS.

PATH="$PATH:/usr/sbin:/sbin"

MDB_DIR=""
MDB_PORT=""
MDB_SOCK=""
MDB_PID=""
IB_PID=""
IB_PORT=""
IB_ADMIN=""

# ib_free_port: print a TCP port that is free on 127.0.0.1 right now.
ib_free_port()
{
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# ib_wait_port <port> [seconds]: wait until something listens on <port>.
ib_wait_port()
{
	local port=$1 limit=${2:-30} i
	for ((i = 0; i < limit * 10; i++)); do
		if /usr/bin/python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5)
s.close()' "$port" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# mdb_start [dir]: initialise a datadir under <dir> (default: a new temp
# dir), start mariadbd on a free port and create the app account.
# Returns non-zero, with the error log printed, if the server won't start.
mdb_start()
{
	local user_opt=() i

	MDB_DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/inbatch-mdb.XXXXXX")}
	mkdir -p "$MDB_DIR/data" "$MDB_DIR/tmp"
	MDB_SOCK=$MDB_DIR/sock
	MDB_PORT=$(ib_free_port)
	if [ "$(id -u)" -eq 0 ]; then
		user_opt=(--user=root)
	fi

	if ! mariadb-install-db --no-defaults --auth-root-authentication-method=normal \
		--skip-test-db --datadir="$MDB_DIR/data" --tmpdir="$MDB_DIR/tmp" \
		--user="$(id -un)" >"$MDB_DIR/install.log" 2>&1; then
		echo "mariadb-install-db failed:" >&2
		cat "$MDB_DIR/install.log" >&2
		return 1
	fi

	mariadbd --no-defaults --datadir="$MDB_DIR/data" --port="$MDB_PORT" \
		--bind-address=127.0.0.1 --socket="$MDB_SOCK" \
		--tmpdir="$MDB_DIR/tmp" \
		--pid-file="$MDB_DIR/mariadbd.pid" --log-error="$MDB_DIR/error.log" \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
		--skip-name-resolve --innodb-buffer-pool-size=128M \
		--max-connections=2000 "${user_opt[@]}" \
		${MDB_EXTRA_ARGS[@]+"${MDB_EXTRA_ARGS[@]}"} >/dev/null 2>&1 &
	MDB_PID=$!

	for ((i = 0; i < 600; i++)); do
		if mariadb-admin --no-defaults -h127.0.0.1 -P"$MDB_PORT" -uroot \
			ping >/dev/null 2>&1 &&
		   mdb_sql 'SELECT 1' >/dev/null 2>&1; then
			break
		fi
		if ! kill -0 "$MDB_PID" 2>/dev/null; then
			i=600
			break
		fi
		sleep 0.1
	done
	if [ "$i" -ge 600 ]; then
		echo "mariadbd did not come up on port $MDB_PORT; error log:" >&2
		cat "$MDB_DIR/error.log" >&2 || true
		mdb_stop
		return 1
	fi

	mdb_sql "CREATE USER 'app'@'%' IDENTIFIED BY 'secret';
		 CREATE USER 'app'@'localhost' IDENTIFIED BY 'secret';
		 GRANT ALL ON *.* TO 'app'@'%';
		 GRANT ALL ON *.* TO 'app'@'localhost';
		 CREATE DATABASE demo;"
}

# mdb_sql <sql> [extra mariadb args...]: run <sql> as root over the socket.
mdb_sql()
{
	local sql=$1
	shift
	mariadb --no-defaults -S "$MDB_SOCK" -uroot "$@" -e "$sql"
}

# ib_stop_pid PID [TENTHS]: SIGTERM a process this script started, give it
# TENTHS tenths of a second (default 50) to exit, then SIGKILL and reap it.
ib_stop_pid()
{
	local pid=$1 tenths=${2:-50} i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < tenths; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# mdb_stop: stop the server mdb_start started (by pid) and remove its dir.
mdb_stop()
{
	[ -n "$MDB_PID" ] && ib_stop_pid "$MDB_PID" 300
	MDB_PID=""
	if [ -n "$MDB_DIR" ] && [ -d "$MDB_DIR" ]; then
		rm -rf "$MDB_DIR"
	fi
	MDB_DIR=""
}

# ib_find_inbatch TOP: the inbatch binary to use: $INBATCH if set, else the
# first built one of TOP/src, $IB_BUILDDIR/src and TOP/build-test/src.
ib_find_inbatch()
{
	local top=$1 c
	if [ -n "${INBATCH:-}" ]; then
		echo "$INBATCH"
		return
	fi
	for c in "$top/src/inbatch" ${IB_BUILDDIR:+"$IB_BUILDDIR/src/inbatch"} \
		 "$top/build-test/src/inbatch"; do
		if [ -x "$c" ]; then
			echo "$c"
			return
		fi
	done
	echo "$top/src/inbatch"
}

# ib_start_inbatch BIN CONF OUT [BACKEND_PORT]: write CONF with an [inbatch]
# section that listens on a free port, points at the server mdb_start started
# (or at 127.0.0.1:BACKEND_PORT), has an admin port (admin/admin), followed
# by the lines read from standard input
# (the other keys, which must not repeat these, and sections); start BIN on
# it with its output in OUT and wait for its ports.  Sets IB_PID, IB_PORT
# and IB_ADMIN and adds IB_PID to IB_PIDS (ib_bench_end stops it).  Returns
# non-zero, with OUT printed, if it does not start.
ib_start_inbatch()
{
	local bin=$1 conf=$2 out=$3 backend=${4:-$MDB_PORT}
	IB_PORT=$(ib_free_port)
	IB_ADMIN=$(ib_free_port)
	{
		printf '[inbatch]\nlisten = 127.0.0.1:%s\n' "$IB_PORT"
		printf 'backend = 127.0.0.1:%s\n' "$backend"
		printf 'admin_listen = 127.0.0.1:%s\n' "$IB_ADMIN"
		printf 'admin_user = admin\nadmin_password = admin\n'
		cat
	} >"$conf"
	"$bin" -c "$conf" >"$out" 2>&1 &
	IB_PID=$!
	IB_PIDS+=("$IB_PID")
	if ! ib_wait_port "$IB_PORT" 30 || ! ib_wait_port "$IB_ADMIN" 30; then
		echo "inbatch ($bin -c $conf) did not start:" >&2
		cat "$out" >&2
		return 1
	fi
}

# ib_bench_settings MODE: the inbatch settings of the CPU benchmarks
# (cpu.sh, seed-loops.sh), for ib_start_inbatch's standard input:
# batch_mode MODE, BATCH_WINDOW_US (default 500), BATCH_MAX_KEYS (256),
# BATCH_BUSY_KEYS only when set (a build older than that key refuses it),
# and the user app (password secret).
ib_bench_settings()
{
	cat <<EOF
log_level = warn
batch_mode = $1
batch_window_us = ${BATCH_WINDOW_US:-500}
batch_max_keys = ${BATCH_MAX_KEYS:-256}
${BATCH_BUSY_KEYS:+batch_busy_keys = $BATCH_BUSY_KEYS}
max_client_conn = 4096
[users]
app = secret
EOF
}

# ib_bench_begin NAME: what every benchmark script starts with: a work dir
# WORK, as many open files as the hard limit allows, and an EXIT trap
# (ib_bench_end) that stops every process in IB_PIDS (ib_start_inbatch adds
# its own; add yours), runs bench_on_exit first if the script defines it,
# stops the server and removes WORK.
IB_PIDS=()
ib_bench_begin()
{
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/inbatch-$1.XXXXXX")
	trap ib_bench_end EXIT
	trap 'exit 130' INT TERM
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# shellcheck disable=SC2317  # reached through the EXIT trap
ib_bench_end()
{
	local pid
	if declare -F bench_on_exit >/dev/null; then
		bench_on_exit || true
	fi
	for pid in "${IB_PIDS[@]}"; do
		ib_stop_pid "$pid"
	done
	IB_PIDS=()
	IB_PID=""
	mdb_stop
	if [ -n "${WORK:-}" ]; then
		rm -rf "$WORK"
	fi
}

# ib_stop_started PID: stop a process of IB_PIDS before the end and forget
# it, so that ib_bench_end does not signal a pid that may be reused.
ib_stop_started()
{
	local pid keep=()
	ib_stop_pid "$1"
	for pid in "${IB_PIDS[@]}"; do
		[ "$pid" = "$1" ] || keep+=("$pid")
	done
	IB_PIDS=("${keep[@]}")
}

# mdb_create_projects KEYS: the table of the lookup benchmarks, in database
# demo: projects(id, name 'proj:<n>' unique, owner 'owner<n % 10>'), KEYS
# rows, analysed.
mdb_create_projects()
{
	mdb_sql "CREATE TABLE projects (
			id INT AUTO_INCREMENT PRIMARY KEY,
			name VARCHAR(64) NOT NULL UNIQUE,
			owner VARCHAR(64)
		 ) ENGINE = InnoDB;
		 INSERT INTO projects (name, owner)
			SELECT CONCAT('proj:', seq), CONCAT('owner', seq % 10)
			FROM seq_1_to_$1;
		 ANALYZE TABLE projects;" demo >/dev/null
}

# ib_build_lookups SRCDIR OUT: compile the C load generator bench/lookups.c.
ib_build_lookups()
{
	# shellcheck disable=SC2046
	gcc -O2 -Wall -Wextra -Werror $(mariadb_config --cflags) \
		"$1/bench/lookups.c" $(mariadb_config --libs) -lpthread -o "$2"
}

# ib_start_haproxy: HAProxy in plain TCP forwarding to the server, one
# thread (the cost of a bare hop, beside inbatch's one event loop), on a free
# port; config and output in WORK; $HAPROXY, if set, is the command run.  Sets HA_PID and HA_PORT and adds HA_PID
# to IB_PIDS.  Returns non-zero, with its output printed, if it won't start.
ib_start_haproxy()
{
	local bin
	bin=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
	HA_PORT=$(ib_free_port)
	cat >"$WORK/haproxy.cfg" <<HAEOF
global
	maxconn 8192
	nbthread 1

defaults
	mode tcp
	timeout connect 1m
	timeout client 1m
	timeout server 1m

frontend mysql_in
	bind 127.0.0.1:$HA_PORT
	maxconn 4096
	default_backend mysql_out

backend mysql_out
	server db 127.0.0.1:$MDB_PORT maxconn 4096
HAEOF
	"$bin" -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.out" 2>&1 &
	HA_PID=$!
	IB_PIDS+=("$HA_PID")
	if ! ib_wait_port "$HA_PORT" 30; then
		echo "haproxy did not start:" >&2
		cat "$WORK/haproxy.out" >&2
		return 1
	fi
}
