#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# tests/mtr-extern.sh: run MariaDB's own mysql-test-run (package
# mariadb-test) with --extern over a list of main-suite tests, first
# against a private MariaDB directly, then through inbatch (no [users],
# batching on), and print both counts and every test whose outcome
# differs.  Not part of `make check`: it takes minutes and needs the
# mariadb-test package.
#
#   tests/mtr-extern.sh [TEST...]     default: the list below
#
# Environment: IB_BUILDDIR (holds src/inbatch; default: the source tree,
# then ./), MTR_DIR (default /usr/share/mysql/mysql-test), IB_MTR_BATCH
# (batch_mode, default window), IB_MTR_KEEP=1 keeps the work directory.
set -uo pipefail

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MTR_DIR=${MTR_DIR:-/usr/share/mysql/mysql-test}
BATCH=${IB_MTR_BATCH:-window}
if [ -n "${IB_BUILDDIR:-}" ]; then
	INBATCH=$IB_BUILDDIR/src/inbatch
elif [ -x "$SRCDIR/src/inbatch" ]; then
	INBATCH=$SRCDIR/src/inbatch
else
	INBATCH=$PWD/src/inbatch
fi
[ -x "$INBATCH" ] || { echo "no inbatch binary at $INBATCH" >&2; exit 2; }
[ -x "$MTR_DIR/mtr" ] || {
	echo "no $MTR_DIR/mtr: apt-get install mariadb-test" >&2; exit 2; }

# Main-suite tests that need no server restart and no special server
# options, chosen for what a proxy can break: accounts and logins,
# change-user, prepared statements, multi-statements, session state,
# errors and warnings, lookups of every type.
TESTS=(
	main.change_user main.connect main.grant main.grant2 main.grant4
	main.grant5 main.grant_lowercase_fs main.create_user
	main.lock_user main.password_expiration main.set_password
	main.plugin_auth main.alter_user main.show_grants
	main.ps main.ps_1general main.ps_2myisam main.ps_ddl main.ps_error
	main.select main.select_found main.select_safe main.func_str
	main.func_math main.func_time main.type_date main.type_decimal
	main.type_datetime main.type_varchar main.type_blob main.null
	main.user_var main.variables main.sp main.sp-error main.view
	main.temp_table main.multi_statement main.errors main.warnings
	main.join main.subselect main.union main.having main.group_by
	main.order_by main.insert main.update main.delete main.default
	main.commit main.flush main.kill main.status main.mysql
	main.information_schema main.key main.distinct main.count_distinct
)
[ $# -gt 0 ] && TESTS=("$@")
# keep the tests this mariadb-test package has (mtr stops at an unknown one)
have=()
for t in "${TESTS[@]}"; do
	suite=${t%%.*} name=${t#*.}
	if [ -f "$MTR_DIR/main/$name.test" ] && [ "$suite" = main ] ||
	   [ -f "$MTR_DIR/suite/$suite/t/$name.test" ]; then
		have+=("$t")
	else
		echo "not in this mariadb-test: $t" >&2
	fi
done
TESTS=("${have[@]}")

WORK=$(mktemp -d /tmp/ib-mtr.XXXXXX)
MDB_PID=
IB_PID=
cleanup()
{
	[ -n "$IB_PID" ] && kill "$IB_PID" 2>/dev/null && wait "$IB_PID" 2>/dev/null
	if [ -n "$MDB_PID" ]; then
		kill "$MDB_PID" 2>/dev/null
		wait "$MDB_PID" 2>/dev/null
	fi
	[ "${IB_MTR_KEEP:-}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port()
{
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port()
{
	local i
	for i in $(seq 1 $(($2 * 10))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# --- a private MariaDB, its own tmpdir ---------------------------------
mkdir -p "$WORK/data" "$WORK/tmp"
user_opt=()
[ "$(id -u)" = 0 ] && user_opt=(--user=root)
mariadb-install-db --no-defaults --auth-root-authentication-method=normal \
	--datadir="$WORK/data" "${user_opt[@]}" >"$WORK/install.log" 2>&1 ||
	{ cat "$WORK/install.log" >&2; exit 1; }
MDB_PORT=$(free_port)
mariadbd --no-defaults --datadir="$WORK/data" --tmpdir="$WORK/tmp" \
	--port="$MDB_PORT" --bind-address=127.0.0.1 \
	--socket="$WORK/mdb.sock" --pid-file="$WORK/mdb.pid" \
	--log-error="$WORK/mdb.err" --skip-name-resolve \
	--max-connections=500 --max-allowed-packet=64M \
	"${user_opt[@]}" >/dev/null 2>&1 &
MDB_PID=$!
wait_port "$MDB_PORT" 60 || { cat "$WORK/mdb.err" >&2; exit 1; }
mariadb --no-defaults -uroot -S "$WORK/mdb.sock" -e \
	"CREATE DATABASE IF NOT EXISTS test;
	 CREATE USER IF NOT EXISTS root@'127.0.0.1';
	 GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION" ||
	exit 1

# --- inbatch in front of it: no [users], batching on ---------------------
IB_PORT=$(free_port)
ADMIN_PORT=$(free_port)
cat >"$WORK/inbatch.conf" <<EOF
[inbatch]
listen = 127.0.0.1:$IB_PORT
backend = 127.0.0.1:$MDB_PORT
admin_listen = 127.0.0.1:$ADMIN_PORT
batch_mode = $BATCH
batch_window_us = 2000
max_client_conn = 400
EOF
"$INBATCH" -c "$WORK/inbatch.conf" >"$WORK/inbatch.log" 2>&1 &
IB_PID=$!
wait_port "$IB_PORT" 20 || { cat "$WORK/inbatch.log" >&2; exit 1; }

# --- mtr, once per endpoint ---------------------------------------------
# mysqltest reaches the endpoint over TCP only (no socket given), so
# connect(...localhost...) in a test goes through the endpoint too.
run_mtr()
{
	local name=$1 port=$2
	mkdir -p "$WORK/$name/tmp"
	(cd "$MTR_DIR" && ./mtr --extern host=127.0.0.1 --extern port="$port" \
		--extern user=root --extern protocol=tcp \
		--vardir="$WORK/$name/var" --tmpdir="$WORK/$name/tmp" \
		--force --max-test-fail=0 --retry=0 --testcase-timeout=10 \
		--parallel=1 \
		"${TESTS[@]}") >"$WORK/$name.log" 2>&1
	# one line per test: "main.x  [ pass ]" / "[ fail ]" / "[ skipped ]"
	grep -E '^[a-z0-9_]+\.[A-Za-z0-9_-]+ +(\S+ +)?\[ [a-z]+' "$WORK/$name.log" |
		sed -E 's/^([^ ]+) .*\[ ([a-z]+).*/\1 \2/' | sort -u >"$WORK/$name.res"
}

count()
{
	grep -c " $2\$" "$WORK/$1.res"
}

run_mtr direct "$MDB_PORT"
run_mtr proxy "$IB_PORT"

for n in direct proxy; do
	printf '%-7s pass %3d  fail %3d  skipped %3d  (of %d)\n' "$n" \
		"$(count $n pass)" "$(count $n fail)" "$(count $n skipped)" \
		"${#TESTS[@]}"
done
echo "tests whose outcome differs (direct -> through inbatch):"
join -a1 -a2 -e missing -o 0,1.2,2.2 "$WORK/direct.res" "$WORK/proxy.res" |
	awk '$2 != $3 { printf "  %-32s %s -> %s\n", $1, $2, $3; d++ }
	     END { if (!d) print "  none" }'
mariadb --no-defaults -h127.0.0.1 -P"$ADMIN_PORT" -uadmin -padmin -N -e \
	'SHOW STATS' 2>/dev/null | grep -E '^(queries_total|queries_batched|batches|auth_failures)\s'
