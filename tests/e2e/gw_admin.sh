#!/usr/bin/env bash
# vkgw end to end: the admin listener ("admin" in the config).
#
#   ready     /ready answers 200 {"status":"ready"}; after SIGTERM, with a
#             proxied request still in flight, 503 {"status":"draining"}
#             (the admin listener serves through the drain)
#   drain     POST /drain (GET: 405, Allow: POST) drains the whole program
#             as SIGTERM does, with 1 kernel and with 2: /ready 503, the
#             request in flight answered, exit 0
#   token     with an admin token, an action without it, with another, or
#             in another scheme is a 401 and nothing happens (even on
#             loopback); with it, POST /config/reload answers 200 applied
#   counts    with 2 kernels, N requests through the proxy show up in
#             /stats as N requests, N 2xx, N connections, summed over
#             the kernels, and on the upstream's endpoint
#   5xx       an upstream that refuses connections: its 502s are counted
#             as 5xx and connect failures, in totals and on the upstream
#   ejection  2 refused connects eject an endpoint: /stats says
#             "ejected", /metrics vkgw_endpoint_ejected 1
#   metrics   /metrics passes promtool check metrics and has the
#             documented families and labels
#   errors    unknown path 404, POST 405 with Allow, garbage 400, HEAD
#             without a body; JSON error bodies
#   header    a connection that sends nothing is closed quietly after the
#             admin's header timeout (5 s from the accept), not after the
#             keep-alive idle (60 s)
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"
command -v promtool >/dev/null || fail "promtool is not installed (deploy/install-deps.sh: prometheus)"

# gateway NAME KERNELS UPSTREAM_JSON [VKGW_ARGS...]: a gateway whose only
# route proxies to upstream "app" (UPSTREAM_JSON: the members of its
# object), with an admin listener on an ephemeral port; sets ADMIN_PORT.
gateway() {
	local name=$1 kernels=$2 upstream=$3 line
	shift 3
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": $kernels } ],
  "admin": { "address": "127.0.0.1", "port": 0${ADMIN_EXTRA:-} },
  "timeouts": { "header_ms": 5000, "body_idle_ms": 5000, "keepalive_idle_ms": 5000 },
  "upstreams": { "app": { $upstream } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" "$@"
	# The listeners are announced first, the admin listener last.
	wait_until 5 "$name: the admin listener announced" admin_listening "$name"
	line=$(sed -n 2p "$E2E_TMP/$name.out")
	[[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] || fail "$name: no admin 'listening on' line: $line"
	ADMIN_PORT=${BASH_REMATCH[1]}
}

# admin PATH [CURL_ARGS...]: the body; STATUS gets the status code.
admin() {
	local path=$1 out
	shift
	out=$(curl -s --noproxy '*' --max-time 5 -w '\n%{http_code}' "$@" "http://127.0.0.1:$ADMIN_PORT$path") ||
		fail "admin $path: curl failed"
	STATUS=${out##*$'\n'}
	BODY=${out%$'\n'*}
	BODY=${BODY%$'\n'} # bodies end in a newline
}

# stat EXPR: a value of /stats, EXPR a Python expression over `d`.
stat() {
	admin /stats
	[ "$STATUS" = 200 ] || fail "/stats answered $STATUS: $BODY"
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$BODY" "$1" ||
		fail "/stats: cannot evaluate $1 on: $BODY"
}

stat_is() {
	[ "$(stat "$1")" = "$2" ]
}

# hits PORT PATH N: N requests on new connections; their statuses, one a line.
hits() {
	local port=$1 path=$2 n=$3 i args=()
	for i in $(seq 1 "$n"); do
		args+=(-o /dev/null "http://127.0.0.1:$port$path")
	done
	curl -s --noproxy '*' --max-time 20 -H 'Connection: close' -w '%{http_code}\n' "${args[@]}"
}

ready_is() {
	admin /ready
	[ "$STATUS" = "$1" ]
}

ready_then_draining() {
	local held out
	start_server rd_up "$UPSTREAM" -p 0 -k 1
	gateway rd_gw 1 "\"endpoints\": [ \"127.0.0.1:${E2E_PORT[rd_up]}\" ]" -g 5000
	admin /ready
	[ "$STATUS" = 200 ] && [ "$BODY" = '{"status":"ready"}' ] || fail "/ready before the drain: $STATUS $BODY"
	# A request held in flight (its body half sent) holds the drain open.
	post_begin held "${E2E_PORT[rd_gw]}" /cksum
	wait_until 2 "the held request is in flight" \
		stat_is "(d['total']['connections']['active'], d['upstreams']['app']['active'])" "(1, 1)"
	signal_server rd_gw TERM
	wait_until 2 "/ready to answer 503 once SIGTERM has started the drain" ready_is 503
	[ "$BODY" = '{"status":"draining"}' ] || fail "/ready while draining: $STATUS $BODY"
	# /stats still answers while draining, too.
	stat_is "d['total']['connections']['active']" 1 || fail "draining: the held connection is not counted active"
	out=$(post_end "$held")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "the request in flight during the drain got: $(head -n 1 <<<"$out")"
	await_server rd_gw 5
	[ "$E2E_STATUS" = 0 ] || fail "the gateway exited with $E2E_STATUS after the drain:$(server_stderr rd_gw)"
	[ "$E2E_ELAPSED_MS" -lt 3000 ] || fail "the drain took $E2E_ELAPSED_MS ms: the admin listener held it up"
	stop_server rd_up
}

counts_sum_over_kernels() {
	local n=60 codes
	start_server ct_up "$UPSTREAM" -p 0 -k 1
	gateway ct_gw 2 "\"endpoints\": [ \"127.0.0.1:${E2E_PORT[ct_up]}\" ]" -k 2
	codes=$(hits "${E2E_PORT[ct_gw]}" /whoami "$n" | sort | uniq -c | awk '{ print $1, $2 }')
	[ "$codes" = "$n 200" ] || fail "expected $n x 200, got: $codes"
	stat_is "d['kernels']" 2 || fail "/stats does not report 2 kernels"
	wait_until 2 "all connections closed" stat_is "d['total']['connections']['active']" 0
	stat_is "d['total']['requests']" "$n" || fail "total requests $(stat "d['total']['requests']"), expected $n"
	stat_is "d['total']['responses']['2xx']" "$n" || fail "2xx: $(stat "d['total']['responses']")"
	stat_is "d['total']['responses']['5xx']" 0 || fail "5xx: $(stat "d['total']['responses']")"
	stat_is "d['total']['connections']['accepted']" "$n" ||
		fail "accepted: $(stat "d['total']['connections']")"
	stat_is "sum(k['requests'] for k in d['per_kernel'])" "$n" ||
		fail "per kernel requests do not sum to $n: $(stat "[k['requests'] for k in d['per_kernel']]")"
	stat_is "len(d['per_kernel'])" 2 || fail "per_kernel: $(stat "len(d['per_kernel'])") entries"
	stat_is "d['upstreams']['app']['endpoints'][0]['requests']" "$n" ||
		fail "endpoint requests: $(stat "d['upstreams']['app']['endpoints'][0]['requests']")"
	stat_is "d['upstreams']['app']['endpoints'][0]['state']" healthy || fail "endpoint state"
	stat_is "d['total']['bytes']['in'] > 0 and d['total']['bytes']['out'] > 0" True || fail "no bytes counted"
	stat_is "all(k['vkern']['accepted'] >= k['connections']['accepted'] for k in d['per_kernel'])" True ||
		fail "vkern accepted below connections accepted: $(stat "d['per_kernel']")"
	note "  $n requests over 2 kernels: $(stat "[k['requests'] for k in d['per_kernel']]")"
	stop_server ct_gw
	stop_server ct_up
}

down_upstream_counts_5xx() {
	local down codes
	start_server dn_up "$UPSTREAM" -p 0 -k 1
	down=${E2E_PORT[dn_up]}
	stop_server dn_up # its port now refuses connections
	gateway dn_gw 2 "\"endpoints\": [ \"127.0.0.1:$down\" ]" -k 2
	codes=$(hits "${E2E_PORT[dn_gw]}" /whoami 8 | sort | uniq -c | awk '{ print $1, $2 }')
	[ "$codes" = "8 502" ] || fail "expected 8 x 502, got: $codes"
	stat_is "d['total']['responses']['5xx']" 8 || fail "total 5xx: $(stat "d['total']['responses']")"
	stat_is "d['upstreams']['app']['responses']['5xx']" 8 || fail "upstream 5xx: $(stat "d['upstreams']['app']")"
	stat_is "d['upstreams']['app']['connect_failures']" 8 || fail "connect failures: $(stat "d['upstreams']['app']")"
	stat_is "d['upstreams']['app']['endpoints'][0]['connect_failures']" 8 || fail "endpoint connect failures"
	stat_is "d['upstreams']['app']['active']" 0 || fail "requests still active: $(stat "d['upstreams']['app']")"
	stop_server dn_gw
}

endpoint_is_healthy() { stat_is "d['upstreams']['app']['endpoints'][0]['state']" healthy; }
endpoint_is_unhealthy() { stat_is "d['upstreams']['app']['endpoints'][0]['state']" unhealthy; }

unhealthy_endpoint_shows() {
	local flag="$E2E_TMP/uh.health"
	echo down >"$flag"
	TEST_UPSTREAM_HEALTH_FILE="$flag" start_server uh_up "$UPSTREAM" -p 0 -k 1
	gateway uh_gw 1 "\"endpoints\": [ \"127.0.0.1:${E2E_PORT[uh_up]}\" ],
		\"health_check\": { \"path\": \"/health\", \"interval_ms\": 50, \"timeout_ms\": 500,
		                    \"healthy_threshold\": 1, \"unhealthy_threshold\": 2 }"
	wait_until 5 "the endpoint failing its checks shows unhealthy" endpoint_is_unhealthy
	stat_is "d['upstreams']['app']['endpoints'][0]['unhealthy_in_kernels']" 1 ||
		fail "unhealthy_in_kernels: $(stat "d['upstreams']['app']['endpoints'][0]")"
	admin /metrics
	grep -q '^vkgw_endpoint_unhealthy{kernel="0",upstream="app",endpoint="127.0.0.1:[0-9]*"} 1$' <<<"$BODY" ||
		fail "/metrics: no vkgw_endpoint_unhealthy 1: $(grep unhealthy <<<"$BODY")"
	echo up >"$flag"
	wait_until 5 "the endpoint passing its checks again shows healthy" endpoint_is_healthy
	stop_server uh_gw
	stop_server uh_up
}

ejected_endpoint_shows() {
	local good bad
	start_server ej_a "$UPSTREAM" -p 0 -k 1
	start_server ej_b "$UPSTREAM" -p 0 -k 1
	good=${E2E_PORT[ej_a]}
	bad=${E2E_PORT[ej_b]}
	stop_server ej_b
	gateway ej_gw 1 "\"endpoints\": [ \"127.0.0.1:$good\", \"127.0.0.1:$bad\" ],
		\"outlier_detection\": { \"consecutive_connect_failures\": 2, \"base_ejection_ms\": 30000,
		                         \"max_ejection_percent\": 50 }"
	hits "${E2E_PORT[ej_gw]}" /whoami 4 >/dev/null
	stat_is "d['upstreams']['app']['endpoints'][1]['state']" ejected ||
		fail "after 2 refused connects: $(stat "d['upstreams']['app']['endpoints'][1]")"
	stat_is "d['upstreams']['app']['endpoints'][1]['ejections']" 1 || fail "ejections"
	stat_is "d['upstreams']['app']['endpoints'][0]['state']" healthy || fail "the good endpoint is not healthy"
	admin /metrics
	grep -qx "vkgw_endpoint_ejected{kernel=\"0\",upstream=\"app\",endpoint=\"127.0.0.1:$bad\"} 1" <<<"$BODY" ||
		fail "/metrics: no vkgw_endpoint_ejected 1 for the ejected endpoint: $(grep ejected <<<"$BODY")"
	grep -qx "vkgw_endpoint_ejected{kernel=\"0\",upstream=\"app\",endpoint=\"127.0.0.1:$good\"} 0" <<<"$BODY" ||
		fail "/metrics: the good endpoint is not at vkgw_endpoint_ejected 0"
	stop_server ej_gw
	stop_server ej_a
}

metrics_pass_promtool() {
	local type family
	start_server pm_up "$UPSTREAM" -p 0 -k 1
	gateway pm_gw 2 "\"endpoints\": [ \"127.0.0.1:${E2E_PORT[pm_up]}\", \"127.0.0.1:1\" ]" -k 2
	# Round robin over a live and a refusing endpoint: 404s and 502s.
	hits "${E2E_PORT[pm_gw]}" /status/404 6 >/dev/null
	type=$(curl -s --noproxy '*' --max-time 5 -o "$E2E_TMP/metrics" -w '%{content_type}' \
		"http://127.0.0.1:$ADMIN_PORT/metrics")
	[ "$type" = "text/plain; version=0.0.4; charset=utf-8" ] || fail "/metrics Content-Type: $type"
	promtool check metrics <"$E2E_TMP/metrics" >"$E2E_TMP/promtool.out" 2>&1 ||
		fail "promtool check metrics: $(cat "$E2E_TMP/promtool.out")"
	for family in vkgw_requests_total vkgw_responses_total vkgw_connections_accepted_total \
		vkgw_connections_active vkgw_received_bytes_total vkgw_sent_bytes_total vkgw_vkern_accepted_total \
		vkgw_upstream_requests_total vkgw_endpoint_requests_total vkgw_endpoint_connect_failures_total \
		vkgw_endpoint_active_requests vkgw_endpoint_ejected; do
		grep -q "^# TYPE $family " "$E2E_TMP/metrics" || fail "/metrics has no family $family"
	done
	# Summed over the kernels, as Prometheus would.
	[ "$(awk '/^vkgw_responses_total\{.*code_class="[45]xx"/ { n += $2 } END { print n + 0 }' "$E2E_TMP/metrics")" = 6 ] ||
		fail "vkgw_responses_total 4xx and 5xx do not sum to 6: $(grep '^vkgw_responses_total' "$E2E_TMP/metrics")"
	grep -q '^vkgw_endpoint_connect_failures_total{kernel="[01]",upstream="app",endpoint="127.0.0.1:1"} [1-9]' \
		"$E2E_TMP/metrics" || fail "no connect failures on 127.0.0.1:1: $(grep connect_failures "$E2E_TMP/metrics")"
	stop_server pm_gw
	stop_server pm_up
}

drain_by_post() {
	local k=$1 held out up=dp$1_up gw=dp$1_gw
	start_server "$up" "$UPSTREAM" -p 0 -k 1
	gateway "$gw" "$k" "\"endpoints\": [ \"127.0.0.1:${E2E_PORT[$up]}\" ]" -g 5000
	admin /drain -D "$E2E_TMP/$gw.head"
	[ "$STATUS" = 405 ] && grep -qi $'^Allow: POST\r$' "$E2E_TMP/$gw.head" || fail "GET /drain: $STATUS $(cat "$E2E_TMP/$gw.head")"
	admin /ready
	[ "$STATUS" = 200 ] || fail "/ready after GET /drain: $STATUS"
	post_begin held "${E2E_PORT[$gw]}" /cksum
	wait_until 2 "the held request is in flight" stat_is "d['upstreams']['app']['active']" 1
	admin /drain -X POST
	[ "$STATUS" = 202 ] && [ "$BODY" = '{"status":"draining"}' ] || fail "POST /drain: $STATUS $BODY"
	wait_until 2 "/ready to answer 503 once the drain began" ready_is 503
	out=$(post_end "$held")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "the request in flight during the drain got: $(head -n 1 <<<"$out")"
	await_server "$gw" 5
	[ "$E2E_STATUS" = 0 ] || fail "the gateway exited with $E2E_STATUS after the drain:$(server_stderr "$gw")"
	stop_server "$up"
}

actions_need_the_token() {
	local gw=tk_gw token=0123456789abcdef-secret
	start_server tk_up "$UPSTREAM" -p 0 -k 1
	ADMIN_EXTRA=", \"token\": \"$token\"" gateway "$gw" 2 "\"endpoints\": [ \"127.0.0.1:${E2E_PORT[tk_up]}\" ]"
	admin /config/reload -X POST
	[ "$STATUS" = 401 ] || fail "POST /config/reload without the token: $STATUS $BODY"
	grep -qE '^\{"error":"[^"]+","status":401\}$' <<<"$BODY" || fail "the 401's body: $BODY"
	admin /drain -X POST -H "Authorization: Bearer ${token}x"
	[ "$STATUS" = 401 ] || fail "POST /drain with another token: $STATUS $BODY"
	admin /drain -X POST -H "Authorization: Basic $token"
	[ "$STATUS" = 401 ] || fail "POST /drain with the token in another scheme: $STATUS $BODY"
	admin /ready
	[ "$STATUS" = 200 ] || fail "a refused POST /drain drained: /ready $STATUS"
	stat_is "d['config']['reloads']" "{'accepted': 0, 'refused': 0}" || fail "a refused reload ran: $(stat "d['config']")"
	admin /config/reload -X POST -H "Authorization: Bearer $token"
	[ "$STATUS" = 200 ] && [ "$BODY" = '{"status":"applied","generation":2,"problems":[]}' ] ||
		fail "POST /config/reload with the token: $STATUS $BODY"
	stop_server "$gw"
	stop_server tk_up
}

errors_are_json() {
	local fd reply
	start_server er_up "$UPSTREAM" -p 0 -k 1
	gateway er_gw 1 "\"endpoints\": [ \"127.0.0.1:${E2E_PORT[er_up]}\" ]"
	admin /nope
	[ "$STATUS" = 404 ] || fail "/nope: $STATUS"
	grep -qE '^\{"error":"[^"]+","status":404\}$' <<<"$BODY" || fail "/nope body: $BODY"
	admin /stats -X POST -D "$E2E_TMP/er.head"
	[ "$STATUS" = 405 ] || fail "POST /stats: $STATUS"
	grep -qE '^\{"error":"[^"]+","status":405\}$' <<<"$BODY" || fail "POST /stats body: $BODY"
	grep -qi '^Allow: GET, HEAD' "$E2E_TMP/er.head" || fail "405 without Allow: $(cat "$E2E_TMP/er.head")"
	tcp_open fd "$ADMIN_PORT"
	printf 'HEAD /stats?pretty=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"
	reply=$(tcp_read_to_close "$fd" 3) || fail "HEAD: no close"
	tcp_close "$fd"
	grep -q $'^HTTP/1.1 200 OK\r$' <<<"$reply" && grep -q $'^Content-Length: [1-9][0-9]*\r$' <<<"$reply" ||
		fail "HEAD /stats: $reply"
	# (The command substitution took the last newline.)
	[ "${reply: -3}" = $'\r\n\r' ] || fail "HEAD /stats has a body: $reply"
	admin /ready -H 'Connection: keep-alive' --next "http://127.0.0.1:$ADMIN_PORT/stats"
	[ "$STATUS" = 200 ] || fail "two requests on one connection: $STATUS"
	tcp_open fd "$ADMIN_PORT"
	printf 'GET /ready HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n' >&"$fd"
	reply=$(tcp_read_to_close "$fd" 3) || fail "no close after a malformed request"
	tcp_close "$fd"
	grep -q '^HTTP/1.1 400 ' <<<"$reply" || fail "malformed request: $reply"
	grep -q '{"error":"malformed request","status":400}' <<<"$reply" || fail "400 body: $reply"
	# Admin requests are not counted as the gateway's.
	stat_is "d['total']['requests']" 0 || fail "admin requests counted: $(stat "d['total']")"
	stop_server er_gw
	stop_server er_up
}

# The pool's gauges: a kept connection after a request; with
# max_connections 1 and a request held in flight, one request waiting.
pool_gauges() {
	local port held waiter
	start_server pg_up "$UPSTREAM" -p 0 -k 1
	gateway pg_gw 1 "\"endpoints\": [ \"127.0.0.1:${E2E_PORT[pg_up]}\" ], \"limits\": { \"max_connections\": 1 }, \"timeouts\": { \"connect_ms\": 3000 }"
	port=${E2E_PORT[pg_gw]}
	curl -s --noproxy '*' --max-time 5 -o /dev/null "http://127.0.0.1:$port/whoami" || fail "first request failed"
	stat_is "(d['upstreams']['app']['connections'], d['upstreams']['app']['kept'], d['upstreams']['app']['waiting'])" "(1, 1, 0)" ||
		fail "after one request: $(stat "d['upstreams']['app']")"
	post_begin held "$port" /cksum
	wait_until 2 "the held request to take the kept connection" \
		stat_is "(d['upstreams']['app']['connections'], d['upstreams']['app']['kept'], d['upstreams']['app']['active'])" "(1, 0, 1)"
	curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/whoami" >"$E2E_TMP/pg.code" &
	waiter=$!
	wait_until 2 "one request in flight and one waiting: (connections, kept, waiting) = (1, 0, 1)" \
		stat_is "(d['upstreams']['app']['connections'], d['upstreams']['app']['kept'], d['upstreams']['app']['waiting'])" "(1, 0, 1)"
	admin /metrics
	grep -q '^vkgw_upstream_waiting_requests{kernel="0",upstream="app"} 1$' <<<"$BODY" ||
		fail "/metrics has no waiting gauge of 1: $(grep waiting <<<"$BODY")"
	[[ $(post_end "$held") == "HTTP/1.1 200 "* ]] || fail "the held request failed"
	wait "$waiter" && [ "$(<"$E2E_TMP/pg.code")" = 200 ] ||
		fail "the waiting request failed: $(<"$E2E_TMP/pg.code")"
	stat_is "d['upstreams']['app']['waiting']" 0 || fail "still waiting after both ended: $(stat "d['upstreams']['app']")"
}

# A connection that never sends a byte is closed quietly once the admin
# listener's header timeout (GW_ADMIN_HEADER_TIMEOUT_MS, 5 s) has passed
# since its accept; the keep-alive wait (60 s) is only between requests.
silent_connection_closed() {
	local fd t0 elapsed reply
	start_server sc_up "$UPSTREAM" -p 0 -k 1
	gateway sc_gw 1 "\"endpoints\": [ \"127.0.0.1:${E2E_PORT[sc_up]}\" ]"
	t0=$(now_ms)
	tcp_open fd "$ADMIN_PORT"
	reply=$(tcp_read_to_close "$fd" 20) || fail "a silent admin connection still open after 20 s"
	elapsed=$(($(now_ms) - t0))
	tcp_close "$fd"
	[ -z "$reply" ] || fail "a silent admin connection got an answer: $reply"
	[ "$elapsed" -ge 4000 ] || fail "a silent admin connection was closed after $elapsed ms, before the 5 s header timeout"
	note "  silent admin connection closed after $elapsed ms"
	stop_server sc_gw
	stop_server sc_up
}

run_case "ready: 200 ready, then 503 draining after SIGTERM with a request in flight" ready_then_draining
run_case "drain: POST /drain on one kernel drains like SIGTERM; GET is a 405" drain_by_post 1
run_case "drain: POST /drain on one of 2 kernels drains them all" drain_by_post 2
run_case "token: an admin token guards the actions, even on loopback" actions_need_the_token
run_case "pool gauges: connections, kept and waiting in /stats and /metrics" pool_gauges
run_case "active checks: a failing endpoint shows unhealthy, then healthy again" unhealthy_endpoint_shows
run_case "counts: 60 requests over 2 kernels sum to 60 in /stats" counts_sum_over_kernels
run_case "5xx: an upstream refusing connections counts 502s as 5xx and connect failures" down_upstream_counts_5xx
run_case "ejection: 2 refused connects show the endpoint ejected in /stats and /metrics" ejected_endpoint_shows
run_case "metrics: /metrics passes promtool check metrics, with the documented families" metrics_pass_promtool
run_case "errors: 404, 405 with Allow, 400, HEAD; JSON bodies; admin requests not counted" errors_are_json
run_case "header timeout: a connection that sends nothing is closed after 5 s, not the keep-alive 60 s" \
	silent_connection_closed
finish
