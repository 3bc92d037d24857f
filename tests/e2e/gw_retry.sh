#!/usr/bin/env bash
# vkgw end to end: a filter asks for another attempt (gw_exchange_retry),
# shown with the built-in retry filter over two test upstreams.
#
#   5xx          endpoint A answers /health with 503, B with 200: with retry
#                (attempts 2, on 503) 20 GETs all get 200, and A saw its share;
#                the same route without the filter lets A's 503s through
#   refused      an endpoint that refuses connections: 502 retried elsewhere
#   body         a POST body kept by the filter goes again, whole, to B
#   exhausted    both endpoints 503: the client gets the second 503, and
#                each request went upstream exactly twice
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"

# gateway NAME ENDPOINTS_JSON FILTER_JSON: round robin over the endpoints;
# /r/... goes through FILTER_JSON (a retry filter), /plain/... through none;
# both rewrite to /.
gateway() {
	local name=$1 endpoints=$2 filter=$3
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "access_log": { "path": "$E2E_TMP/$name.access.log" },
  "http": { "max_buffered_body_bytes": 4096 },
  "upstreams": { "app": { "endpoints": $endpoints, "timeouts": { "connect_ms": 500 }${UPSTREAM_EXTRA:-} } },
  "routes": [
    { "name": "retry", "match": { "path": { "prefix": "/r/" } }, "filters": [ $filter ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/" } } },
    { "name": "plain", "match": { "path": { "prefix": "/plain/" } },
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/" } } }
  ]
}
JSON
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json"
}

# statuses PORT PATH N [CURL_ARGS...]: the statuses of N requests, one a line.
statuses() {
	local port=$1 path=$2 n=$3 i
	shift 3
	for i in $(seq 1 "$n"); do
		curl -s --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}\n' "$@" "http://127.0.0.1:$port$path"
	done
}

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

log_lines_at_least() { [ "$(lines "$1")" -ge "$2" ]; }

retry_on_5xx() {
	local port out a_log="$E2E_TMP/rt_a.log" b_log="$E2E_TMP/rt_b.log"
	TEST_UPSTREAM_UNHEALTHY=1 TEST_UPSTREAM_LOG="$a_log" start_server rt_a "$UPSTREAM" -p 0 -k 1
	TEST_UPSTREAM_LOG="$b_log" start_server rt_b "$UPSTREAM" -p 0 -k 1
	gateway rt_gw "[ \"127.0.0.1:${E2E_PORT[rt_a]}\", \"127.0.0.1:${E2E_PORT[rt_b]}\" ]" \
		'{ "type": "retry", "attempts": 2, "on_statuses": [ 503 ] }'
	port=${E2E_PORT[rt_gw]}
	out=$(statuses "$port" /r/health 20 | sort | uniq -c | tr -s ' ')
	[ "$out" = " 20 200" ] || fail "with retry, expected 20 x 200, got:$out"
	[ "$(lines "$a_log")" -ge 5 ] || fail "A saw $(lines "$a_log") requests: the 503s were not its"
	# A's 503s have a short body, come with their heads: dropped with the
	# answer, the connection kept for the next request (not one per retry)
	[ "$(established "${E2E_PORT[rt_a]}")" = 1 ] ||
		fail "expected A's one connection kept after 503s with a body, ss counts $(established "${E2E_PORT[rt_a]}")"
	# the access log counts the attempts: 2 for those A answered first
	wait_until 3 "the access log has 20 lines" log_lines_at_least "$E2E_TMP/rt_gw.access.log" 20
	grep -q '"attempts":2' "$E2E_TMP/rt_gw.access.log" || fail "no request logged with 2 attempts: $(head -n 3 "$E2E_TMP/rt_gw.access.log")"
	# HEAD: A's 503 has no body, so its connection is kept for reuse
	out=$(statuses "$port" /r/health 6 -I | sort | uniq -c | tr -s ' ')
	[ "$out" = " 6 200" ] || fail "HEAD with retry, expected 6 x 200, got:$out"
	[ "$(established "${E2E_PORT[rt_a]}")" = 1 ] ||
		fail "expected A's one connection kept after bodiless 503s, ss counts $(established "${E2E_PORT[rt_a]}")"
	# the control: without the filter, A's 503s reach the client
	out=$(statuses "$port" /plain/health 20 | grep -c '^503$' || true)
	[ "$out" -ge 5 ] || fail "without retry, expected A's 503s to come through, got $out"
	stop_server rt_gw
	stop_server rt_a
	stop_server rt_b
}

retry_on_refused() {
	local port out
	start_server rf_b "$UPSTREAM" -p 0 -k 1
	gateway rf_gw "[ \"127.0.0.1:1\", \"127.0.0.1:${E2E_PORT[rf_b]}\" ]" '{ "type": "retry" }'
	port=${E2E_PORT[rf_gw]}
	out=$(statuses "$port" /r/whoami 10 | sort | uniq -c | tr -s ' ')
	[ "$out" = " 10 200" ] || fail "a refusing endpoint: expected 10 x 200, got:$out"
	stop_server rf_gw
	stop_server rf_b
}

retry_replays_the_kept_body() {
	local port i body got
	start_server rb_b "$UPSTREAM" -p 0 -k 1
	gateway rb_gw "[ \"127.0.0.1:1\", \"127.0.0.1:${E2E_PORT[rb_b]}\" ]" '{ "type": "retry", "all_methods": true }'
	port=${E2E_PORT[rb_gw]}
	for i in 1 2 3 4; do
		body="payload number $i, $(head -c 3000 /dev/zero | tr '\0' x)"
		got=$(curl -s --noproxy '*' --max-time 10 --data-binary "$body" "http://127.0.0.1:$port/r/cksum")
		[ "$got" = "$(printf '%s' "$body" | cksum | cut -d' ' -f1-2)" ] ||
			fail "POST $i: the upstream's checksum '$got' is not the body's"
	done
	stop_server rb_gw
	stop_server rb_b
}

unretried_bodies_stream() {
	local port body got
	start_server rs_b "$UPSTREAM" -p 0 -k 1
	gateway rs_gw "[ \"127.0.0.1:${E2E_PORT[rs_b]}\" ]" '{ "type": "retry" }'
	port=${E2E_PORT[rs_gw]}
	body=$(head -c 10000 /dev/zero | tr '\0' y)
	got=$(curl -s --noproxy '*' --max-time 10 --data-binary "$body" "http://127.0.0.1:$port/r/cksum")
	[ "$got" = "$(printf '%s' "$body" | cksum | cut -d' ' -f1-2)" ] ||
		fail "a 10000-byte POST (not retried, so not kept) did not stream through: '$got'"
	stop_server rs_gw
	stop_server rs_b
}

# A refusal before any endpoint is no attempt to repeat: the filters all
# see the 503, and the cors stage before retry still adds its header.
refusal_goes_through_filters() {
	local port out
	TEST_UPSTREAM_UNHEALTHY=1 start_server rn_a "$UPSTREAM" -p 0 -k 1
	UPSTREAM_EXTRA=', "health_check": { "path": "/health", "interval_ms": 50, "unhealthy_threshold": 1 }' \
		gateway rn_gw "[ \"127.0.0.1:${E2E_PORT[rn_a]}\" ]" \
		'{ "type": "cors", "allow_origins": [ "https://a.example" ] }, { "type": "retry", "attempts": 3, "on_statuses": [ 503 ] }'
	port=${E2E_PORT[rn_gw]}
	wait_until 5 "the health check to mark A unhealthy" \
		grep -qF "endpoint 127.0.0.1:${E2E_PORT[rn_a]} is now unhealthy" "$(server_err_file rn_gw)"
	out=$(curl -s -i --noproxy '*' --max-time 5 -H 'Origin: https://a.example' "http://127.0.0.1:$port/r/whoami" | tr -d '\r')
	grep -q '^HTTP/1.1 503' <<<"$out" && grep -q 'no healthy endpoint' <<<"$out" || fail "expected the 503 refusal: $out"
	grep -qi '^access-control-allow-origin: https://a.example' <<<"$out" || fail "the cors stage was skipped: $out"
	wait_until 3 "the access log line" log_lines_at_least "$E2E_TMP/rn_gw.access.log" 1
	grep -q '"attempts":0' "$E2E_TMP/rn_gw.access.log" || fail "the refusal logged attempts: $(cat "$E2E_TMP/rn_gw.access.log")"
	stop_server rn_gw
	stop_server rn_a
}

attempts_are_bounded() {
	local port out a_log="$E2E_TMP/rx_a.log" b_log="$E2E_TMP/rx_b.log"
	TEST_UPSTREAM_UNHEALTHY=1 TEST_UPSTREAM_LOG="$a_log" start_server rx_a "$UPSTREAM" -p 0 -k 1
	TEST_UPSTREAM_UNHEALTHY=1 TEST_UPSTREAM_LOG="$b_log" start_server rx_b "$UPSTREAM" -p 0 -k 1
	gateway rx_gw "[ \"127.0.0.1:${E2E_PORT[rx_a]}\", \"127.0.0.1:${E2E_PORT[rx_b]}\" ]" \
		'{ "type": "retry", "attempts": 2, "on_statuses": [ 503 ] }'
	port=${E2E_PORT[rx_gw]}
	out=$(statuses "$port" /r/health 5 | sort | uniq -c | tr -s ' ')
	[ "$out" = " 5 503" ] || fail "both endpoints down: expected 5 x 503, got:$out"
	[ $(($(lines "$a_log") + $(lines "$b_log"))) = 10 ] ||
		fail "expected 10 upstream requests (2 per request), got $(($(lines "$a_log") + $(lines "$b_log")))"
	stop_server rx_gw
	stop_server rx_a
	stop_server rx_b
}

run_case "503 from one endpoint: retried on the other; without the filter it comes through" retry_on_5xx
run_case "a refusing endpoint: its 502 retried on the other" retry_on_refused
run_case "a POST body kept by the filter goes again whole" retry_replays_the_kept_body
run_case "attempts 2 with both endpoints down: two tries, then the 503" attempts_are_bounded
run_case "a POST the filter will not retry streams, even past max_buffered_body_bytes" unretried_bodies_stream
run_case "no healthy endpoint: one 503, through every filter (CORS header on it)" refusal_goes_through_filters
finish
