#!/usr/bin/env bash
# vkgw end to end: the filter pipeline and the built-in filters (headers,
# request_id, cors) in front of tests/services/gw_test_upstream, whose
# /echo answers with the request head it received, and whose
# TEST_UPSTREAM_LOG lists every request line that reached it.
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"

# Routes: /h (headers), /rid (request_id), /cors (cors then request_id),
# /direct (a respond action behind headers).
write_config() {
	cat >"$1" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "http": { "max_buffered_body_bytes": 4096 },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:$2" ], "timeouts": { "connect_ms": 500, "response_ms": 1000 } },
                 "gone": { "endpoints": [ "127.0.0.1:1" ] } },
  "routes": [
    { "name": "h", "match": { "path": { "prefix": "/h/" } },
      "filters": [ { "type": "headers",
        "request": { "set": { "x-set": "new" }, "add": { "x-add": "added" }, "remove": [ "x-drop" ] },
        "response": { "set": { "x-upstream-port": "hidden" }, "add": { "x-served-by": "vkgw" }, "remove": [ "content-type" ] } } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "rid", "match": { "path": { "prefix": "/rid/" } },
      "filters": [ { "type": "request_id" } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "cors", "match": { "path": { "prefix": "/cors/" } },
      "filters": [ { "type": "cors", "allow_origins": [ "https://a.example" ], "allow_methods": [ "GET", "PUT" ],
                     "allow_headers": [ "content-type", "x-token" ], "expose_headers": [ "x-request-id" ],
                     "allow_credentials": true, "max_age_s": 600 },
                   { "type": "request_id" } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "hook", "match": { "path": { "prefix": "/hook/" } },
      "filters": [ { "type": "hmac", "header": "x-hub-signature-256", "prefix": "sha256=", "secret": "s3cret" } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "hook1", "match": { "path": { "prefix": "/hook1/" } },
      "filters": [ { "type": "hmac", "header": "x-signature", "algorithm": "sha1", "secret": "other" } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "down", "match": { "path": { "prefix": "/down/" } },
      "filters": [ { "type": "cors", "allow_origins": [ "https://a.example" ] },
                   { "type": "headers", "response": { "add": { "x-served-by": "vkgw" } } } ],
      "action": { "proxy": { "upstream": "gone" } } },
    { "name": "direct", "match": { "path": { "exact": "/direct" } },
      "filters": [ { "type": "headers", "response": { "set": { "x-route": "edited" } } } ],
      "action": { "respond": { "status": 200, "body": "direct\n", "headers": { "x-route": "direct" } } } }
  ]
}
JSON
}

# start_pair NAME: an upstream and a gateway in front of it; each case
# names its own (a server's output file is where its port is read from).
start_pair() {
	UP_LOG="$E2E_TMP/$1_up.log"
	TEST_UPSTREAM_LOG="$UP_LOG" start_server "$1_up" "$UPSTREAM" -p 0 -k 1
	write_config "$E2E_TMP/$1.json" "${E2E_PORT[$1_up]}"
	start_server "$1_gw" "$VKGW" -c "$E2E_TMP/$1.json"
	GW="http://127.0.0.1:${E2E_PORT[$1_gw]}"
}

get() { curl -s -i --noproxy '*' --max-time 5 "$@" | tr -d '\r'; }

# sign BODY: the X-Hub-Signature-256 value for BODY with secret s3cret.
sign() { printf 'sha256=%s' "$(printf '%s' "$1" | openssl dgst -sha256 -hmac s3cret -r | cut -d' ' -f1)"; }

hmac_cases() {
	local out body='{"event":"push","n":1}' big before after
	start_pair hm
	# signed, with a length
	out=$(get -H "X-Hub-Signature-256: $(sign "$body")" -H 'Content-Type: application/json' --data-binary "$body" "$GW/hook/a")
	grep -q '^HTTP/1.1 200' <<<"$out" || fail "a signed body was refused: $out"
	grep -qx "content-length: ${#body}" <<<"$(grep -i '^content-length: ' <<<"$(sed -n '/^POST/,$p' <<<"$out")" | tr 'A-Z' 'a-z')" ||
		fail "the upstream did not get a Content-Length of ${#body}: $out"
	grep -qF "$body" <<<"$out" || fail "the body did not reach the upstream: $out"
	# signed, chunked, with Expect: 100-continue: re-framed with a length
	out=$(get -H "X-Hub-Signature-256: $(sign "$body")" -H 'Transfer-Encoding: chunked' -H 'Expect: 100-continue' \
		--data-binary "$body" "$GW/hook/b")
	grep -q '^HTTP/1.1 200' <<<"$out" || fail "a signed chunked body was refused: $out"
	! grep -qi '^transfer-encoding' <<<"$(sed -n '/^POST/,$p' <<<"$out")" || fail "the kept body went upstream chunked: $out"
	grep -qF "$body" <<<"$out" || fail "the chunked body did not reach the upstream: $out"
	# wrong signature, missing signature, malformed signature: 401, nothing upstream
	before=$(wc -l <"$UP_LOG")
	out=$(get -H "X-Hub-Signature-256: $(sign "tampered")" --data-binary "$body" "$GW/hook/c")
	grep -q '^HTTP/1.1 401' <<<"$out" && grep -q 'does not match' <<<"$out" || fail "a wrong signature: $out"
	out=$(get --data-binary "$body" "$GW/hook/d")
	grep -q '^HTTP/1.1 401' <<<"$out" && grep -q 'missing request signature' <<<"$out" || fail "no signature: $out"
	out=$(get -H 'X-Hub-Signature-256: sha256=zz' --data-binary "$body" "$GW/hook/e")
	grep -q '^HTTP/1.1 401' <<<"$out" && grep -q 'malformed' <<<"$out" || fail "a malformed signature: $out"
	after=$(wc -l <"$UP_LOG")
	[ "$before" = "$after" ] || fail "a refused request reached the upstream: $(tail -n 3 "$UP_LOG")"
	# over max_buffered_body_bytes (4096): 413, with a length or chunked
	big=$(head -c 5000 /dev/zero | tr '\0' a)
	out=$(get -H "X-Hub-Signature-256: $(sign "$big")" --data-binary "$big" "$GW/hook/f")
	grep -q '^HTTP/1.1 413' <<<"$out" || fail "a body over max_buffered_body_bytes with a length: $out"
	out=$(get -H "X-Hub-Signature-256: $(sign "$big")" -H 'Transfer-Encoding: chunked' --data-binary "$big" "$GW/hook/g")
	grep -q '^HTTP/1.1 413' <<<"$out" || fail "a chunked body over max_buffered_body_bytes: $out"
	# a route without the filter still streams a large body
	out=$(get --data-binary "$big" "$GW/h/big")
	grep -q '^HTTP/1.1 200' <<<"$out" || fail "a large body on a route without hmac: $out"
	# routes with other algorithms and secrets, in turn (each algorithm has
	# its own context in a kernel)
	local sig1
	sig1=$(printf '%s' "$body" | openssl dgst -sha1 -hmac other -r | cut -d' ' -f1)
	for path in hook1/h hook/i hook1/j; do
		if [ "${path%%/*}" = hook1 ]; then
			out=$(get -H "X-Signature: $sig1" --data-binary "$body" "$GW/$path")
		else
			out=$(get -H "X-Hub-Signature-256: $(sign "$body")" --data-binary "$body" "$GW/$path")
		fi
		grep -q '^HTTP/1.1 200' <<<"$out" || fail "a signed body on /$path was refused: $out"
	done
	out=$(get -H "X-Signature: $(sign "$body")" --data-binary "$body" "$GW/hook1/k")
	grep -q '^HTTP/1.1 401' <<<"$out" || fail "a sha256 signature passed the sha1 route: $out"
}

# Nothing listens on port 1: the gateway answers 502 itself, and the
# response side of the route's filters still applies.
own_error_through_filters() {
	local out
	start_pair own
	out=$(get -H 'Origin: https://a.example' "$GW/down/x")
	grep -q '^HTTP/1.1 502 ' <<<"$out" || fail "expected a 502: $out"
	grep -q '"status":502' <<<"$out" || fail "no JSON error body: $out"
	grep -qix 'content-type: application/json' <<<"$out" || fail "no JSON content type: $out"
	grep -qix 'x-served-by: vkgw' <<<"$out" || fail "the headers filter did not edit the 502: $out"
	grep -qix 'access-control-allow-origin: https://a.example' <<<"$out" || fail "no CORS header on the 502: $out"
	grep -qix 'connection: close' <<<"$out" || fail "an error answer must close: $out"
	# A request refused before routing has no filters to go through.
	out=$(printf 'GET /down/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' | curl -s --max-time 5 telnet://127.0.0.1:${E2E_PORT[own_gw]} 2>/dev/null | tr -d '\r' || true)
	grep -q '^HTTP/1.1 400 ' <<<"$out" || fail "expected a 400 for two Hosts: $out"
	! grep -qi '^x-served-by' <<<"$out" || fail "a request never routed went through a route's filters: $out"
}

headers_both_directions() {
	local out
	start_pair hdr
	out=$(get -H 'X-Drop: 1' -H 'X-Set: old' -H 'X-Add: first' "$GW/h/x")
	grep -q '^GET /echo/x HTTP/1.1' <<<"$out" || fail "not proxied: $out"
	grep -qix 'x-set: new' <<<"$out" || fail "x-set not set: $out"
	! grep -qix 'x-set: old' <<<"$out" || fail "old x-set kept: $out"
	grep -qix 'x-add: first' <<<"$out" && grep -qix 'x-add: added' <<<"$out" || fail "x-add not added: $out"
	! grep -qi '^x-drop' <<<"$out" || fail "x-drop forwarded: $out"
	grep -qix 'x-upstream-port: hidden' <<<"$out" || fail "response set: $out"
	[ "$(grep -ci '^x-upstream-port' <<<"$out")" = 1 ] || fail "response set kept the upstream's: $out"
	grep -qix 'x-served-by: vkgw' <<<"$out" || fail "response add: $out"
	! grep -qi '^content-type' <<<"$out" || fail "response remove: $out"
	# and on an answer the route makes itself
	out=$(get "$GW/direct")
	grep -qix 'x-route: edited' <<<"$out" && ! grep -qix 'x-route: direct' <<<"$out" || fail "direct: $out"
	grep -qx 'direct' <<<"$out" || fail "direct body: $out"
}

request_id_cases() {
	local out id tp
	start_pair rid
	# generated when absent, echoed, the same upstream and downstream
	out=$(get "$GW/rid/a")
	id=$(sed -n 's/^x-request-id: //Ip' <<<"$out" | sort -u)
	[ "$(wc -l <<<"$id")" = 1 ] && [[ $id =~ ^[0-9a-f]{32}$ ]] || fail "no generated id: $out"
	[ "$(grep -ci "^x-request-id: $id" <<<"$out")" = 2 ] || fail "id not forwarded and echoed: $out"
	# a traceparent is created
	tp=$(sed -n 's/^traceparent: //Ip' <<<"$out")
	[[ $tp =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$ ]] || fail "no traceparent created: $out"
	# two requests, two ids
	[ "$(get "$GW/rid/a" | sed -n 's/^x-request-id: //Ip' | sort -u)" != "$id" ] || fail "id repeated"
	# propagated when well formed
	out=$(get -H 'X-Request-Id: abc-123_x.y' "$GW/rid/b")
	[ "$(grep -ci '^x-request-id: abc-123_x.y$' <<<"$out")" = 2 ] || fail "id not propagated: $out"
	# replaced when malformed
	out=$(get -H 'X-Request-Id: bad id;<x>' "$GW/rid/c")
	! grep -qi 'bad id' <<<"$out" || fail "malformed id kept: $out"
	grep -qiE '^x-request-id: [0-9a-f]{32}$' <<<"$out" || fail "malformed id not replaced: $out"
	# a valid traceparent keeps its trace id and flags, with a new parent id
	out=$(get -H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' "$GW/rid/d")
	tp=$(sed -n 's/^traceparent: //Ip' <<<"$out")
	[[ $tp =~ ^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$ ]] || fail "trace not propagated: $out"
	[ "$tp" != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" ] || fail "parent id not renewed"
	# an invalid one is replaced
	out=$(get -H 'traceparent: 00-00000000000000000000000000000000-b7ad6b7169203331-01' "$GW/rid/e")
	! grep -qi '^traceparent: 00-0000000000' <<<"$out" || fail "invalid traceparent kept: $out"
	[ "$(grep -ci '^traceparent: ' <<<"$out")" = 1 ] || fail "traceparent not replaced: $out"
}

cors_cases() {
	local out before after
	start_pair cors
	before=$(wc -l <"$UP_LOG" 2>/dev/null || echo 0)
	out=$(get -X OPTIONS -H 'Origin: https://a.example' -H 'Access-Control-Request-Method: PUT' "$GW/cors/p")
	grep -q '^HTTP/1.1 204' <<<"$out" || fail "preflight not 204: $out"
	grep -qix 'access-control-allow-origin: https://a.example' <<<"$out" || fail "allow-origin: $out"
	grep -qix 'access-control-allow-methods: GET, PUT' <<<"$out" || fail "allow-methods: $out"
	grep -qix 'access-control-allow-headers: content-type, x-token' <<<"$out" || fail "allow-headers: $out"
	grep -qix 'access-control-allow-credentials: true' <<<"$out" || fail "credentials: $out"
	grep -qix 'access-control-max-age: 600' <<<"$out" || fail "max-age: $out"
	grep -qix 'vary: origin' <<<"$out" || fail "vary: $out"
	out=$(get -X OPTIONS -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: PUT' "$GW/cors/p")
	grep -q '^HTTP/1.1 403' <<<"$out" || fail "refused preflight not 403: $out"
	grep -q '^{"error":"CORS origin not allowed","status":403}$' <<<"$out" || fail "no JSON error: $out"
	out=$(get -X OPTIONS -H 'Origin: https://a.example' -H 'Access-Control-Request-Method: DELETE' "$GW/cors/p")
	grep -q '^HTTP/1.1 403' <<<"$out" || fail "method not refused: $out"
	# none of the three reached the upstream
	after=$(wc -l <"$UP_LOG" 2>/dev/null || echo 0)
	[ "$before" = "$after" ] || fail "an answered preflight reached the upstream: $(cat "$UP_LOG")"
	# an actual request goes on, with the CORS headers on its response
	out=$(get -H 'Origin: https://a.example' "$GW/cors/q")
	grep -q '^GET /echo/q HTTP/1.1' <<<"$out" || fail "actual request not proxied: $out"
	grep -qix 'access-control-allow-origin: https://a.example' <<<"$out" || fail "actual allow-origin: $out"
	grep -qix 'access-control-expose-headers: x-request-id' <<<"$out" || fail "expose: $out"
	grep -q '/echo/q' "$UP_LOG" || fail "upstream log misses the actual request"
	# a refused origin gets no CORS headers, the request still goes
	out=$(get -H 'Origin: https://evil.example' "$GW/cors/r")
	! grep -qi '^access-control-allow-origin' <<<"$out" || fail "refused origin allowed: $out"
}

keep_alive_after_filter_answer() {
	local out
	start_pair ka
	# a 403 from a filter, then a proxied request on the same connection
	out=$(curl -s -i --noproxy '*' --max-time 5 -X OPTIONS -H 'Origin: https://evil.example' \
		-H 'Access-Control-Request-Method: PUT' "$GW/cors/p" --next -s -i "$GW/h/y" | tr -d '\r')
	grep -q '^HTTP/1.1 403' <<<"$out" && grep -q '^GET /echo/y HTTP/1.1' <<<"$out" || fail "second request: $out"
}

run_case "headers: set, add, remove on requests and responses" headers_both_directions
run_case "request_id: generated, propagated, replaced; traceparent" request_id_cases
run_case "cors: preflight allowed and refused, actual requests" cors_cases
run_case "a filter's answer leaves the connection usable" keep_alive_after_filter_answer
run_case "the gateway's own 502 goes back through the route's filters" own_error_through_filters
run_case "hmac: the body kept whole for the filter, verified, forwarded with a length" hmac_cases
finish
