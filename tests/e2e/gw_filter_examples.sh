#!/usr/bin/env bash
# vkgw end to end: the two filters docs/filters.md shows (docs/examples/),
# built into tests/services/gw_example_gateway, in front of
# tests/services/gw_test_upstream (/echo answers with the head it got) and
# tests/e2e/gw_filter_directory.py (the directory "lookup" asks):
#
#   the doc      each example in docs/filters.md is its file, to the byte
#   require      never blocks: 401 without the key, the key a value after
#   lookup       a cache miss waits on the stage's own socket; the consumer
#                is forwarded as x-consumer; the answer is kept in per-kernel
#                state, so a second connection with the key costs no lookup;
#                an unknown key is a 403; no directory, a 503
#   no blocking  lock-step: while one request waits on the directory (which
#                holds its answer), another connection on the same single
#                kernel is answered; then the directory answers the first
. "$(dirname "$0")/lib.sh"

GATEWAY="$BUILD/tests/services/gw_example_gateway"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
DIRECTORY="$(dirname "$0")/gw_filter_directory.py"
DOC="$(dirname "$0")/../../docs/filters.md"
need_bin "$GATEWAY"
need_bin "$UPSTREAM"

# Every "<!-- example: FILE -->" in the doc is followed by a ```c block
# that must be FILE exactly.
doc_matches_code() {
	python3 - "$DOC" <<'PY' || fail "docs/filters.md and docs/examples/ differ"
import os, re, sys
doc = open(sys.argv[1]).read()
root = os.path.join(os.path.dirname(sys.argv[1]), "..")
found = re.findall(r"<!-- example: (\S+) -->\n```c\n(.*?)```\n", doc, re.S)
if len(found) != 2:
    sys.exit("expected 2 examples in the doc, found %d" % len(found))
for path, block in found:
    if open(os.path.join(root, path)).read() != block:
        sys.exit("%s is not what the doc shows" % path)
PY
}

# start_all NAME: the three servers, named after the case (a server's
# output file is where its port is read from), the directory's files in
# DIR_FILES.
start_all() {
	DIR_FILES="$E2E_TMP/$1"
	mkdir -p "$DIR_FILES"
	start_server "$1_up" "$UPSTREAM" -p 0 -k 1
	start_server "$1_dir" python3 "$DIRECTORY" "$DIR_FILES"
	cat >"$E2E_TMP/$1.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[$1_up]}" ] } },
  "routes": [
    { "name": "api", "match": { "path": { "prefix": "/api/" } },
      "filters": [ { "type": "require" }, { "type": "lookup", "port": ${E2E_PORT[$1_dir]}, "timeout_ms": 2000 } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "open", "match": { "path": { "prefix": "/open/" } },
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } }
  ]
}
JSON
	start_server "$1_gw" "$GATEWAY" -c "$E2E_TMP/$1.json" -k 1
	GW="http://127.0.0.1:${E2E_PORT[$1_gw]}"
}

get() { curl -s -i --noproxy '*' --max-time 5 "$@" | tr -d '\r'; }

lookups() { [ -f "$DIR_FILES/lookups" ] && wc -l <"$DIR_FILES/lookups" || echo 0; }

examples_at_work() {
	local out
	start_all work
	out=$(get "$GW/api/a")
	grep -q '^HTTP/1.1 401' <<<"$out" && grep -q 'missing credentials' <<<"$out" || fail "no key: $out"
	[ "$(lookups)" = 0 ] || fail "a request without a key was looked up"
	out=$(get -H 'x-api-key: k1' "$GW/api/b")
	grep -q '^HTTP/1.1 200' <<<"$out" || fail "key k1: $out"
	grep -qix 'x-consumer: alice' <<<"$out" || fail "the upstream got no x-consumer: alice: $out"
	[ "$(lookups)" = 1 ] || fail "expected 1 lookup, the directory saw $(lookups)"
	# a new connection (curl makes one per run), the same kernel: cached
	out=$(get -H 'x-api-key: k1' "$GW/api/c")
	grep -qix 'x-consumer: alice' <<<"$out" || fail "the second request lost its consumer: $out"
	[ "$(lookups)" = 1 ] || fail "the kernel's cache did not outlive the connection: $(lookups) lookups"
	out=$(get -H 'x-api-key: zz' "$GW/api/d")
	grep -q '^HTTP/1.1 403' <<<"$out" && grep -q 'unknown api key' <<<"$out" || fail "an unknown key: $out"
	# the client cannot forge the consumer: the filter sets it
	out=$(get -H 'x-api-key: k1' -H 'x-consumer: mallory' "$GW/api/e")
	grep -qix 'x-consumer: alice' <<<"$out" && ! grep -qi 'mallory' <<<"$out" || fail "a forged x-consumer: $out"
	stop_server work_dir
	out=$(get -H 'x-api-key: k2' "$GW/api/f")
	grep -q '^HTTP/1.1 503' <<<"$out" && grep -q 'directory unavailable' <<<"$out" || fail "no directory: $out"
}

waiting_does_not_block_the_kernel() {
	local out slow_pid
	start_all slow
	get -H 'x-api-key: slow' "$GW/api/slow" >"$E2E_TMP/slow.out" &
	slow_pid=$!
	wait_until 5 "the directory was never asked about the slow key" test -f "$DIR_FILES/slow.asked"
	# The slow request's connection is parked on the directory; the one
	# kernel still answers another connection, on both routes.
	out=$(get "$GW/open/x")
	grep -q '^HTTP/1.1 200' <<<"$out" || fail "the kernel did not answer while a filter waited: $out"
	out=$(get -H 'x-api-key: k1' "$GW/api/y")
	grep -qix 'x-consumer: alice' <<<"$out" || fail "a second lookup while one waited: $out"
	kill -0 "$slow_pid" 2>/dev/null && [ ! -s "$E2E_TMP/slow.out" ] || fail "the slow request did not wait for the directory"
	touch "$DIR_FILES/slow.release"
	wait "$slow_pid" || fail "curl for the slow request failed"
	grep -q '^HTTP/1.1 200' "$E2E_TMP/slow.out" && grep -qix 'x-consumer: bob' "$E2E_TMP/slow.out" ||
		fail "the slow request, once answered: $(cat "$E2E_TMP/slow.out")"
}

run_case "docs/filters.md shows docs/examples/ as they are" doc_matches_code
run_case "require never blocks; lookup waits, forwards, caches per kernel" examples_at_work
run_case "a filter waiting on its own socket does not block the kernel" waiting_does_not_block_the_kernel
finish
