#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# check-docs.sh: every key of the config table in src/config.c must appear
# in man/inbatch.conf.5 and conf/inbatch.conf, and both man pages must be
# free of mandoc warnings.  Prints TAP for automake's harness.
set -u

top=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
n=0
failed=0

pass() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }

# Table entries look like "	CFG_INT(batch_max_keys, ...": the key is the
# first macro argument.
keys=$(sed -n 's/^[[:space:]]*CFG_[A-Z_]*([[:space:]]*\([a-z0-9_]*\)[[:space:]]*,.*/\1/p' \
	"$top/src/config.c")
if [ -z "$keys" ]; then
	fail "found config keys in $top/src/config.c"
else
	pass "found $(echo "$keys" | wc -l) config keys in src/config.c"
fi

for key in $keys; do
	if grep -Eq "^\.B $key\$" "$top/man/inbatch.conf.5" &&
	   grep -B1 -E "^\.B $key\$" "$top/man/inbatch.conf.5" | grep -q '^\.TP'; then
		pass "$key documented in man/inbatch.conf.5"
	else
		fail "$key missing from man/inbatch.conf.5 (want .TP then .B $key)"
	fi
	if grep -Eq "^[;#]?[[:space:]]*$key[[:space:]]*=" "$top/conf/inbatch.conf"; then
		pass "$key listed in conf/inbatch.conf"
	else
		fail "$key missing from conf/inbatch.conf (want ';$key = default')"
	fi
done

# The man page lists the keys in table order, as SHOW CONFIG does.
man_order=$(sed -n '/^\.TP$/{n;s/^\.B \([a-z0-9_]*\)$/\1/p}' "$top/man/inbatch.conf.5" |
	grep -Fx -f <(echo "$keys"))
if [ "$man_order" = "$keys" ]; then
	pass "man/inbatch.conf.5 keys are in table order"
else
	fail "man/inbatch.conf.5 keys are not in table order"
fi

if ! command -v mandoc >/dev/null 2>&1; then
	fail "mandoc not found: install the Debian package 'mandoc'"
else
	for page in man/inbatch.8 man/inbatch.conf.5; do
		if out=$(mandoc -Tlint -W warning "$top/$page" 2>&1) && [ -z "$out" ]; then
			pass "mandoc -Tlint $page"
		else
			fail "mandoc -Tlint $page"
			printf '%s\n' "$out" | sed 's/^/# /'
		fi
	done
fi

echo "1..$n"
exit $failed
