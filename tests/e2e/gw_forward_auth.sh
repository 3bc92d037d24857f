#!/usr/bin/env bash
# vkgw end to end: forward_auth in front of tests/services/gw_test_upstream
# (/echo answers with the request head it received), asking
# tests/e2e/gw_auth_service.py (its decisions are listed there).
#
#   allow          a 2xx lets the request through: X-User and X-Tier copied
#                  from the answer (the client's own replaced), X-User as
#                  the consumer in the access log; the service saw the
#                  configured method and path, Authorization, and the
#                  X-Forwarded-Method/-Uri/-Host/-For of the request, and
#                  not the other headers; headers the answer lacks are
#                  removed from the request (a client cannot pose as the
#                  service); the service's connection is kept alive
#   deny           401 and 403 go to the client with the service's status,
#                  body and deny_headers (WWW-Authenticate, Content-Type),
#                  not its other headers
#   kept closed    a kept connection the service closed without answering
#                  the next request on it: the question goes again on a
#                  new connection, and the request passes
#   failures       a service that does not answer in timeout_ms, one whose
#                  answer is malformed, one that is down: 503 in the JSON
#                  error shape; with on_error allow the request goes on,
#                  without the headers only the service may set
#   cache          with a cache keyed by Authorization, a repeated token is
#                  decided once (allow and deny), another token is asked
#                  again; a route without one asks every time
#   config         an unknown upstream, a consumer_header not among the
#                  response_headers, a bad on_error: --check names each at
#                  its pointer
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
SERVICE="$(dirname "$0")/gw_auth_service.py"
need_bin "$VKGW"
need_bin "$UPSTREAM"

# write_config FILE UPSTREAM_PORT SERVICE_PORT
write_config() {
	cat >"$1" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "access_log": { "path": "$E2E_TMP/access.log", "buffer_bytes": 4096 },
  "upstreams": {
    "app": { "endpoints": [ "127.0.0.1:$2" ] },
    "auth": { "endpoints": [ "127.0.0.1:$3" ] }
  },
  "routes": [
    { "name": "a", "match": { "path": { "prefix": "/a/" } },
      "filters": [ { "type": "forward_auth", "upstream": "auth", "path": "/check?from=vkgw",
                     "response_headers": [ "x-user", "x-tier" ], "consumer_header": "x-user",
                     "timeout_ms": 300 } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "o", "match": { "path": { "prefix": "/o/" } },
      "filters": [ { "type": "forward_auth", "upstream": "auth", "method": "POST",
                     "response_headers": [ "x-user" ], "timeout_ms": 300, "on_error": "allow" } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "c", "match": { "path": { "prefix": "/c/" } },
      "filters": [ { "type": "forward_auth", "upstream": "auth", "response_headers": [ "x-user" ],
                     "cache": { "key_headers": [ "authorization" ], "seconds": 60 } } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } }
  ]
}
JSON
}

start_all() {
	start_server "$1_up" "$UPSTREAM" -p 0 -k 1
	start_server "$1_svc" python3 "$SERVICE"
	write_config "$E2E_TMP/$1.json" "${E2E_PORT[$1_up]}" "${E2E_PORT[$1_svc]}"
	start_server "$1_gw" "$VKGW" -c "$E2E_TMP/$1.json"
	GW="http://127.0.0.1:${E2E_PORT[$1_gw]}"
	SVC="http://127.0.0.1:${E2E_PORT[$1_svc]}"
}

get() { curl -s -i --noproxy '*' --max-time 5 "$@" | tr -d '\r'; }
svc() { curl -s --noproxy '*' --max-time 5 "$SVC/$1"; }
status_of() { head -n 1 <<<"$1" | cut -d' ' -f2; }
body_of() { printf '%s' "${1#*$'\n\n'}"; }
# has_line OUT LINE: OUT has LINE whole (case-insensitive).
has_line() { grep -qixF -- "$2" <<<"$1"; }

allow() {
	local out last
	start_all al
	out=$(get -H 'Authorization: Bearer good-alice' -H 'X-User: mallory' -H 'X-Secret: s3' "$GW/a/x?q=1")
	[ "$(status_of "$out")" = 200 ] || fail "allowed: $out"
	has_line "$out" "x-user: alice" || fail "X-User not the service's: $out"
	has_line "$out" "x-tier: gold" || fail "no X-Tier: $out"
	grep -qi '^x-user: mallory' <<<"$out" && fail "the client's X-User went upstream: $out"
	last=$(svc _last | tr -d '\r')
	grep -q '^GET /check?from=vkgw HTTP/1.1$' <<<"$last" || fail "the service's request line: $last"
	has_line "$last" "authorization: Bearer good-alice" || fail "no Authorization at the service: $last"
	has_line "$last" "x-forwarded-method: GET" || fail "no X-Forwarded-Method: $last"
	has_line "$last" "x-forwarded-uri: /a/x?q=1" || fail "no X-Forwarded-Uri: $last"
	has_line "$last" "x-forwarded-host: 127.0.0.1:${E2E_PORT[al_gw]}" || fail "no X-Forwarded-Host: $last"
	has_line "$last" "x-forwarded-for: 127.0.0.1" || fail "no X-Forwarded-For: $last"
	grep -qi '^x-secret\|^x-user' <<<"$last" && fail "headers not named went to the service: $last"
	wait_until 5 "the access log names the consumer" grep -q '"consumer":"alice"' "$E2E_TMP/access.log"
	# An answer without X-User/X-Tier: the client's own are removed.
	out=$(get -H 'Authorization: Bearer bare' -H 'X-User: mallory' -H 'X-Tier: platinum' "$GW/a/y")
	[ "$(status_of "$out")" = 200 ] || fail "bare: $out"
	grep -qi '^x-user:\|^x-tier:' <<<"$out" && fail "the client posed as the service: $out"
	# Three more decisions, one connection to the service.
	for i in 1 2 3; do
		[ "$(status_of "$(get -H "Authorization: Bearer good-u$i" "$GW/a/z")")" = 200 ] || fail "request $i"
	done
	[ "$(svc _connections)" = 1 ] || fail "the service's connections were not kept: $(svc _connections)"
	[ "$(svc _count)" = 5 ] || fail "decisions asked: $(svc _count), expected 5"
}

deny() {
	local out
	start_all dn
	out=$(get "$GW/a/x")
	[ "$(status_of "$out")" = 401 ] || fail "no credentials: $out"
	has_line "$out" 'www-authenticate: Bearer realm="svc"' || fail "no challenge: $out"
	has_line "$out" "content-type: text/plain" || fail "no Content-Type: $out"
	[ "$(body_of "$out")" = "who are you?" ] || fail "not the service's body: $out"
	out=$(get -H 'Authorization: Bearer deny' "$GW/a/x")
	[ "$(status_of "$out")" = 403 ] || fail "denied: $out"
	[ "$(body_of "$out")" = '{"denied":"by policy"}' ] || fail "not the service's body: $out"
	has_line "$out" "content-type: application/json" || fail "no Content-Type: $out"
	grep -qi '^x-internal' <<<"$out" && fail "a header not in deny_headers reached the client: $out"
	grep -qi '^x-upstream-port' <<<"$out" && fail "the upstream was reached: $out"
	return 0
}

kept_closed() {
	start_all kc
	[ "$(status_of "$(get -H 'Authorization: Bearer drop-next' "$GW/a/x")")" = 200 ] || fail "the first"
	# The kept connection takes this question and closes: asked again.
	out=$(get -H 'Authorization: Bearer good-erin' "$GW/a/x")
	[ "$(status_of "$out")" = 200 ] || fail "a question on a dropped kept connection: $out"
	has_line "$out" "x-user: erin" || fail "not the second answer's X-User: $out"
	[ "$(svc _connections)" = 2 ] || fail "connections that carried decisions: $(svc _connections), expected 2"
}

failures() {
	local out port
	start_all fl
	out=$(get -H 'Authorization: Bearer stall' "$GW/a/x")
	[ "$(status_of "$out")" = 503 ] || fail "a stalled service: $out"
	[ "$(body_of "$out")" = '{"error":"authorization service unavailable","status":503}' ] || fail "body: $out"
	out=$(get -H 'Authorization: Bearer broken' "$GW/a/x")
	[ "$(status_of "$out")" = 503 ] || fail "a malformed answer: $out"
	# on_error allow: through, without what only the service may set.
	out=$(get -H 'Authorization: Bearer stall' -H 'X-User: mallory' "$GW/o/x")
	[ "$(status_of "$out")" = 200 ] || fail "on_error allow: $out"
	grep -qi '^x-user:' <<<"$out" && fail "the client's X-User went upstream unvouched: $out"
	# The service gone: refused connects.
	stop_server fl_svc
	out=$(get -H 'Authorization: Bearer good-alice' "$GW/a/x")
	[ "$(status_of "$out")" = 503 ] || fail "the service down: $out"
	out=$(get -H 'Authorization: Bearer good-alice' "$GW/o/x")
	[ "$(status_of "$out")" = 200 ] || fail "the service down, on_error allow: $out"
	# And back on the same port: asked again.
	port=${E2E_PORT[fl_svc]}
	start_server fl_svc2 python3 "$SERVICE" "$port"
	wait_until 5 "the service answers through the gateway" \
		bash -c "curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Authorization: Bearer good-bob' '$GW/a/x' | grep -qx 200"
}

cached() {
	local out
	start_all ca
	for i in 1 2 3; do
		out=$(get -H 'Authorization: Bearer good-carol' -H 'X-User: mallory' "$GW/c/x")
		[ "$(status_of "$out")" = 200 ] || fail "cached allow $i: $out"
		has_line "$out" "x-user: carol" || fail "cached allow $i lost X-User: $out"
	done
	[ "$(svc _count)" = 1 ] || fail "a repeated token asked $(svc _count) times"
	for i in 1 2; do
		out=$(get -H 'Authorization: Bearer deny' "$GW/c/x")
		[ "$(status_of "$out")" = 403 ] && [ "$(body_of "$out")" = '{"denied":"by policy"}' ] ||
			fail "cached deny $i: $out"
		has_line "$out" "content-type: application/json" || fail "cached deny $i lost its Content-Type: $out"
	done
	[ "$(svc _count)" = 2 ] || fail "a repeated denial asked again: $(svc _count)"
	out=$(get "$GW/c/x")
	[ "$(status_of "$out")" = 401 ] || fail "no credentials: $out"
	out=$(get "$GW/c/x")
	[ "$(status_of "$out")" = 401 ] || fail "no credentials, cached: $out"
	has_line "$out" 'www-authenticate: Bearer realm="svc"' || fail "cached challenge: $out"
	[ "$(svc _count)" = 3 ] || fail "absent credentials asked again: $(svc _count)"
	[ "$(status_of "$(get -H 'Authorization: Bearer good-dave' "$GW/c/x")")" = 200 ] || fail "another token"
	[ "$(svc _count)" = 4 ] || fail "another token not asked: $(svc _count)"
	# Without a cache, every request is asked.
	get -H 'Authorization: Bearer good-carol' "$GW/a/x" >/dev/null
	get -H 'Authorization: Bearer good-carol' "$GW/a/x" >/dev/null
	[ "$(svc _count)" = 6 ] || fail "the uncached route: $(svc _count)"
}

config_errors() {
	local out
	cat >"$E2E_TMP/bad.json" <<'JSON'
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0 } ],
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:1" ] } },
  "routes": [
    { "name": "a", "match": { "path": { "prefix": "/" } },
      "filters": [ { "type": "forward_auth", "upstream": "nowhere", "on_error": "maybe",
                     "response_headers": [ "x-user" ], "consumer_header": "x-who",
                     "cache": { "key_headers": [ ] } } ],
      "action": { "proxy": { "upstream": "app" } } }
  ]
}
JSON
	out=$("$VKGW" --check -c "$E2E_TMP/bad.json" 2>&1) && fail "--check passed: $out"
	grep -q 'bad.json:6:[0-9]*: /routes/0/filters/0/upstream: unknown upstream "nowhere"; defined upstreams: app' <<<"$out" ||
		fail "unknown upstream: $out"
	grep -q '/routes/0/filters/0/on_error: "deny" (503) or "allow"' <<<"$out" || fail "on_error: $out"
	grep -q '/routes/0/filters/0/consumer_header: must be one of "response_headers"' <<<"$out" ||
		fail "consumer_header: $out"
	grep -q '/routes/0/filters/0/cache: "key_headers" must name at least one header' <<<"$out" ||
		fail "cache: $out"
}

run_case "forward_auth: a 2xx lets the request through with the service's headers; the service sees what was asked" \
	allow
run_case "forward_auth: other statuses are the answer, with the service's body and deny headers" deny
run_case "forward_auth: a kept connection the service dropped is asked again on a new one" kept_closed
run_case "forward_auth: time out, malformed answer, service down: 503, or through with on_error allow" failures
run_case "forward_auth: the decision cache asks once per token, allow and deny" cached
run_case "forward_auth: configuration errors at their pointers" config_errors
finish
