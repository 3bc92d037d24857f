#!/usr/bin/env bash
# Runs every test: cmocka unit tests, then end-to-end suites (tests/e2e/*.sh).
# Usage: tests/run-tests.sh [unit|e2e] ; BUILD selects the build directory.
# Prints one closing line "N passed, N failed" and exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
which=${1:-all}
passed=0
failed=0
failures=()

run_one() {
	local name=$1
	shift
	local log
	log=$(mktemp)
	local start=$SECONDS
	if "$@" >"$log" 2>&1; then
		passed=$((passed + 1))
		printf 'PASS %-40s %3ss\n' "$name" $((SECONDS - start))
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL %-40s %3ss\n' "$name" $((SECONDS - start))
		sed 's/^/    /' "$log" | tail -40
	fi
	rm -f "$log"
}

if [ "$which" = all ] || [ "$which" = unit ]; then
	for t in "$BUILD"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		run_one "unit/$(basename "$t")" timeout 120 "$t"
	done
fi
if [ "$which" = all ] || [ "$which" = e2e ]; then
	for t in tests/e2e/*.sh; do
		[ -f "$t" ] || continue
		[ "$(basename "$t")" = lib.sh ] && continue
		run_one "e2e/$(basename "$t" .sh)" timeout 300 bash "$t"
	done
fi

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
