#!/usr/bin/env bash
# Runs every test: cmocka unit tests, then end-to-end suites (tests/e2e/*.sh).
# Usage: tests/run-tests.sh [unit|e2e] ; BUILD selects the build directory.
# An e2e suite that exits with status 77 is skipped (it cannot run here, e.g.
# for lack of a privilege); the last line it printed is the reason. A cmocka
# binary reports its own skipped cases and counts as one pass or failure.
# Prints one closing line "N passed, N failed, N skipped" and exits non-zero
# on a failure, or when nothing passed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
which=${1:-all}
passed=0
failed=0
skipped=0
failures=()
skips=()

# run_one KIND NAME CMD...: KIND e2e lets status 77 mean "skipped".
run_one() {
	local kind=$1 name=$2
	shift 2
	local log rc=0 reason
	log=$(mktemp)
	local start=$SECONDS
	"$@" >"$log" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %-40s %3ss\n' "$name" $((SECONDS - start))
	elif [ "$rc" -eq 77 ] && [ "$kind" = e2e ]; then
		skipped=$((skipped + 1))
		skips+=("$name")
		reason=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
		printf 'SKIP %-40s %3ss  %s\n' "$name" $((SECONDS - start)) "${reason:-(no reason given)}"
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
		run_one unit "unit/$(basename "$t")" timeout 120 "$t"
	done
fi
if [ "$which" = all ] || [ "$which" = e2e ]; then
	for t in tests/e2e/*.sh; do
		[ -f "$t" ] || continue
		[ "$(basename "$t")" = lib.sh ] && continue
		run_one e2e "e2e/$(basename "$t" .sh)" timeout 300 bash "$t"
	done
fi

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
[ ${#skips[@]} -gt 0 ] && echo "skipped: ${skips[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
