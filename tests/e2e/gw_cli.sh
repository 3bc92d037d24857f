#!/usr/bin/env bash
# vkgw's command line: bad input gets a clear message and status 2 (usage)
# or 1 (the configuration), and nothing hangs.
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
need_bin "$VKGW"

write_good() {
	cat >"$1" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "routes": [ { "name": "r", "match": { "path": { "prefix": "/" } },
                "action": { "respond": { "status": 200, "body": "ok\n" } } } ]
}
JSON
}

# A FIFO nobody writes to: --check refuses it at once instead of waiting
# for a writer in open().
check_on_fifo_does_not_hang() {
	local out rc=0
	mkfifo "$E2E_TMP/config.fifo"
	out=$(timeout 5 "$VKGW" --check -c "$E2E_TMP/config.fifo" 2>&1) || rc=$?
	[ "$rc" != 124 ] || fail "--check on a FIFO hung (killed after 5 s)"
	[ "$rc" = 1 ] || fail "--check on a FIFO exited $rc, expected 1: $out"
	grep -q 'not a regular file' <<<"$out" || fail "no clear reason for the FIFO: $out"
}

# Every numeric option takes a whole number in its range, nothing else;
# checked before the configuration is even looked at (--check stops there).
numeric_options_are_validated() {
	local opt value out rc
	write_good "$E2E_TMP/good.json"
	out=$("$VKGW" --check -c "$E2E_TMP/good.json" -k 2 -g 0 -P poll 2>&1) || fail "good options refused: $out"
	for value in off filters always; do
		out=$("$VKGW" --check -c "$E2E_TMP/good.json" --isolation "$value" 2>&1) ||
			fail "--isolation $value refused: $out"
	done
	while read -r opt value; do
		rc=0
		out=$(timeout 5 "$VKGW" --check -c "$E2E_TMP/good.json" "$opt" "$value" 2>&1) || rc=$?
		[ "$rc" = 2 ] || fail "$opt '$value' exited $rc, expected 2: $out"
		grep -q "^vkgw: $opt" <<<"$out" || fail "$opt '$value': the message does not name the option: $out"
	done <<'CASES'
-k 0
-k -1
-k abc
-k 2x
-k 257
-k 99999999999999999999
-g -1
-g 1e3
-g 10s
-g 3600001
-g 4294967296
-P bogus
--isolation on
--isolation ALWAYS
--isolation 1
CASES
	# an empty value, and blanks around a number
	for value in "" " 5" "5 "; do
		rc=0
		out=$("$VKGW" --check -c "$E2E_TMP/good.json" -g "$value" 2>&1) || rc=$?
		[ "$rc" = 2 ] || fail "-g '$value' exited $rc, expected 2: $out"
	done
}

run_case "--check on a FIFO answers at once" check_on_fifo_does_not_hang
run_case "-k, -g, -P and --isolation refuse what they cannot take" numeric_options_are_validated
finish
