#!/bin/bash
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# scripts/test.sh: the whole test suite.  Installs packages, builds with
# --enable-debug --enable-asan --enable-werror in build-test/, runs
# make check, every benchmark script once at toy sizes (bench/smoke.sh), a
# libFuzzer smoke run (build-fuzz/, clang) and make distcheck.
# Knobs: IB_SKIP_BENCH=1, IB_SKIP_FUZZ=1, IB_SKIP_DISTCHECK=1,
# IB_FUZZ_SECONDS=N, IB_JOBS=N, IB_TIMEOUT=N (seconds allowed for make check
# and for make distcheck).
set -uo pipefail

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$SRCDIR/build-test
FUZZ_BUILD=$SRCDIR/build-fuzz
JOBS=${IB_JOBS:-2}
FUZZ_SECONDS=${IB_FUZZ_SECONDS:-30}
TIMEOUT=${IB_TIMEOUT:-1800}

export AM_COLOR_TESTS=no
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
skipped=0
stage_fail()
{
	echo "FAIL: stage: $*"
	failed=$((failed + 1))
}
section()
{
	printf '\n==== %s ====\n' "$*"
}

# Print test-suite.log and the log of each failed test in <dir>.
show_failures()
{
	local dir=$1 trs
	if [ -f "$dir/test-suite.log" ]; then
		section "test-suite.log"
		cat "$dir/test-suite.log"
	fi
	while IFS= read -r trs; do
		if grep -Eq '^:global-test-result: (FAIL|ERROR|XPASS)' "$trs"; then
			section "${trs%.trs}.log"
			cat "${trs%.trs}.log" 2>/dev/null || true
		fi
	done < <(find "$dir" -name '*.trs' -not -path '*/inbatch-*/*' | sort)
}

finish()
{
	section "summary"
	[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

cd "$SRCDIR" || exit 1

# ------------------------------------------------------------------
section "packages"
if ! bash scripts/deps.sh; then
	stage_fail "deps.sh"
	finish
fi

# ------------------------------------------------------------------
section "build (debug, asan, werror) in build-test/"
if [ -f "$SRCDIR/config.status" ]; then
	# an in-tree configure blocks the out-of-tree builds below
	echo "source tree is configured in place; running make distclean there"
	make -C "$SRCDIR" distclean >/dev/null 2>&1 || rm -f "$SRCDIR/config.status"
fi
rm -rf "$BUILD"
mkdir -p "$BUILD"
if ! ./autogen.sh ||
   ! (cd "$BUILD" && "$SRCDIR/configure" --enable-debug --enable-asan --enable-werror) ||
   ! make -C "$BUILD" -j"$JOBS"; then
	stage_fail "build"
	[ -f "$BUILD/config.log" ] && tail -n 40 "$BUILD/config.log"
	finish
fi

# ------------------------------------------------------------------
section "make check"
out=$BUILD/check-output.txt
# timeout signals its whole process group, so a hung test cannot hang CI
timeout -k 30 "$TIMEOUT" make -C "$BUILD" -j"$JOBS" check 2>&1 | tee "$out"
check_rc=${PIPESTATUS[0]}
[ "$check_rc" -eq 124 ] && echo "make check: timed out after ${TIMEOUT}s"
# Prefer the harness's own summary ("# PASS:  N"): with -j the per-test
# lines can interleave.  Fall back to counting those lines.
summary_count()
{
	awk -v want="$1" '$1 == "#" && $2 == want ":" { n += $3; seen = 1 }
		END { print seen ? n : -1 }' "$out"
}
if [ "$(summary_count PASS)" -ge 0 ]; then
	p=$(($(summary_count PASS) + $(summary_count XFAIL)))
	f=$(($(summary_count FAIL) + $(summary_count ERROR) + $(summary_count XPASS)))
	s=$(summary_count SKIP)
else
	p=$(grep -Ec '^(PASS|XFAIL): ' "$out")
	f=$(grep -Ec '^(FAIL|ERROR|XPASS): ' "$out")
	s=$(grep -Ec '^SKIP: ' "$out")
fi
passed=$((passed + p))
failed=$((failed + f))
skipped=$((skipped + s))
if [ "$check_rc" -ne 0 ]; then
	show_failures "$BUILD"
	# make check can fail before any test runs (a test program that does
	# not build); count that too.
	[ "$f" -eq 0 ] && stage_fail "make check (exit $check_rc)"
fi

# ------------------------------------------------------------------
section "bench smoke run (every benchmark script once, toy sizes)"
if [ "${IB_SKIP_BENCH:-0}" = 1 ]; then
	echo "skipped (IB_SKIP_BENCH=1)"
elif INBATCH=$BUILD/src/inbatch timeout -k 30 900 bash bench/smoke.sh; then
	echo "PASS: bench smoke run"
else
	stage_fail "bench smoke run"
fi

# ------------------------------------------------------------------
section "fuzz smoke run (${FUZZ_SECONDS}s per target) in build-fuzz/"
if [ "${IB_SKIP_FUZZ:-0}" = 1 ]; then
	echo "skipped (IB_SKIP_FUZZ=1)"
elif ! command -v clang >/dev/null 2>&1; then
	echo "skipped (no clang)"
else
	rm -rf "$FUZZ_BUILD"
	mkdir -p "$FUZZ_BUILD"
	if (cd "$FUZZ_BUILD" && CC=clang "$SRCDIR/configure" --enable-fuzz --enable-asan) &&
	   make -C "$FUZZ_BUILD" -j"$JOBS" fuzz-run FUZZ_SECONDS="$FUZZ_SECONDS"; then
		echo "PASS: fuzz smoke run"
	else
		stage_fail "fuzz smoke run"
	fi
fi

# ------------------------------------------------------------------
section "make distcheck"
if [ "${IB_SKIP_DISTCHECK:-0}" = 1 ]; then
	echo "skipped (IB_SKIP_DISTCHECK=1)"
elif timeout -k 30 "$TIMEOUT" make -C "$BUILD" -j"$JOBS" distcheck \
		DISTCHECK_CONFIGURE_FLAGS=--enable-werror; then
	echo "PASS: make distcheck"
else
	stage_fail "make distcheck"
	# distcheck leaves its tree behind on failure: show its test logs
	show_distcheck=$(find "$BUILD" -maxdepth 1 -type d -name 'inbatch-*' | head -n 1)
	if [ -n "$show_distcheck" ] && [ -f "$show_distcheck/_build/sub/test-suite.log" ]; then
		section "distcheck test-suite.log"
		cat "$show_distcheck/_build/sub/test-suite.log"
	fi
fi

finish
