#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Run the integration suite (called by `make check`, or by hand from a built
# tree as tests/integration/run.sh [pytest args]).
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${IB_SRCDIR:=$(cd "$here/../.." && pwd)}"
if [ -z "${IB_BUILDDIR:-}" ]; then
	# The current directory when it holds a build, else this tree.
	if [ -x "$PWD/src/inbatch" ]; then
		IB_BUILDDIR=$PWD
	else
		IB_BUILDDIR=$IB_SRCDIR
	fi
fi
export IB_SRCDIR IB_BUILDDIR
export PYTHONDONTWRITEBYTECODE=1

/usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE \
	"$IB_SRCDIR/tests/integration" "$@"
rc=$?
# Exit status 5 means nothing was collected: that is a failure here.
if [ "$rc" -eq 5 ]; then
	echo "run.sh: no tests collected" >&2
	exit 1
fi
exit "$rc"
