#!/usr/bin/env bash
# Every case of ../shared/corpora/http1 (valid requests, malformed ones,
# smuggling attempts) sent through vkgw to the
# test upstream: each outcome must match the manifest, and the upstream's
# request log must never show /smuggled (tests/e2e/gw_corpus.py).
. "$(dirname "$0")/lib.sh"

CORPUS=${GW_HTTP_CORPUS:-../shared/corpora/http1}
need_bin "$BUILD/tests/services/gw_test_upstream"
need_bin "$BUILD/vkgw"
[ -f "$CORPUS/manifest.json" ] || fail "corpus not found at $CORPUS (shared/ must sit beside the checkout)"

corpus_through_proxy() {
	local log="$E2E_TMP/upstream.log"
	: >"$log"
	TEST_UPSTREAM_LOG=$log start_server upstream "$BUILD/tests/services/gw_test_upstream" -p 0 -k 1
	cat >"$E2E_TMP/gw.json" <<JSON
{
  "listeners": [ { "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "timeouts": { "header_ms": 2000, "body_idle_ms": 2000 },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[upstream]}" ] } },
  "routes": [ { "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
	start_server proxy "$BUILD/vkgw" -c "$E2E_TMP/gw.json" -s
	python3 "$(dirname "$0")/gw_corpus.py" "${E2E_PORT[proxy]}" "$log" "$CORPUS" >"$E2E_TMP/corpus.out" ||
		fail "corpus cases failed:$(grep -v '^ok' "$E2E_TMP/corpus.out" | sed 's/^/\n    /')"
	note "$(tail -n 1 "$E2E_TMP/corpus.out")"
	stop_server proxy
	stop_server upstream
	[ "$(stat_of proxy killed)" = 0 ] || fail "the proxy lost processes to faults"
}

run_case "every http1 corpus case through the proxy; /smuggled never reaches the upstream" corpus_through_proxy
finish
