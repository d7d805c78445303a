#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# scripts/deps.sh: make sure the Debian 12 packages needed to build, run
# and test inbatch are installed.  As root it installs what is missing;
# otherwise it prints the apt-get line to run and fails.
set -euo pipefail

BUILD_PKGS="build-essential autoconf automake libtool pkg-config
	libevent-dev libssl-dev zlib1g-dev libmariadb-dev libmariadb-dev-compat"
RUN_PKGS="mariadb-server mariadb-client mariadb-test python3 python3-pytest
	python3-pymysql python3-mysqldb python3-sqlalchemy
	python3-prometheus-client sysbench haproxy mandoc clang linux-perf
	valgrind
	procps iproute2 openssl ca-certificates"

# "installed" means dpkg says "install ok installed".
missing=()
for p in $BUILD_PKGS $RUN_PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing+=("$p") ;;
	esac
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all packages present"
	exit 0
fi

echo "deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: run this, then try again:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# mariadb-server's postinst starts the system service.  We never use that
# instance (tests and demo start private servers), so unless the machine
# already has a policy, deny service starts for the length of the install.
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=yes
	trap 'rm -f "$policy"' EXIT
fi
apt-get install -y --no-install-recommends "${missing[@]}"
if [ "$own_policy" = yes ]; then
	rm -f "$policy"
	trap - EXIT
fi
echo "deps: installed ${#missing[@]} packages"
