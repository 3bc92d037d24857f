#!/usr/bin/env bash
# vkgw end to end: upstream connection pools, per kernel, shared by every
# client connection of the kernel (tests/services/gw_test_upstream's /conn
# answers "<connection number> <request number on it>").
#
#   reuse            30 client connections one after another (each with
#                    Connection: close) are served by one upstream connection
#   max_idle 0       nothing is kept: 5 requests, 5 upstream connections
#   upstream close   an upstream that closes its idle connections (FIN seen
#                    while the connection was kept): the next request gets a
#                    new connection, not an error
#   retry            a kept connection the upstream drops on the next request
#                    (no FIN before): a GET goes again on a new connection and
#                    succeeds; a POST with a body is not replayed: 502
#   idle_ms          a kept connection unused for idle_ms is closed
#   max_connections  1 connection, 3 concurrent /slow requests: all served in
#                    turn on that one connection
#   max_pending      max_connections 1, max_pending 1, 3 concurrent: one 503
#                    naming max_pending
#   wait timeout     max_connections 1, connect_ms 300: a request waiting
#                    behind a 1.5 s one is answered 503 at ~300 ms
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"

# gateway_config NAME UPSTREAM_NAME EXTRA_UPSTREAM_JSON: one kernel, every
# request proxied to that test upstream; in $E2E_TMP/NAME.json.
gateway_config() {
	local name=$1 up=$2 extra=${3:-}
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "timeouts": { "header_ms": 5000, "body_idle_ms": 5000, "keepalive_idle_ms": 5000 },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[$up]}" ]${extra:+, $extra} } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
}

# gateway NAME UPSTREAM_NAME EXTRA_UPSTREAM_JSON: started on that config.
gateway() {
	gateway_config "$@"
	start_server "$1" "$VKGW" -c "$E2E_TMP/$1.json"
}

# get PORT PATH: the body of one GET on a new client connection.
get() {
	curl -s --noproxy '*' --max-time 10 -H 'Connection: close' "http://127.0.0.1:$1$2"
}

none_established() { [ "$(established "$1")" = 0 ]; }

one_established() { [ "$(established "$1")" = 1 ]; }

# The upstream's unasked bytes have reached the gateway's kept connection
# to PORT (they wait in its receive queue), or the gateway closed it.
unasked_bytes_arrived() {
	ss -Htn state established "( dport = :$1 )" | awk '$1 > 0 { n++ } END { exit !(NR == 0 || n > 0) }'
}

reuse_across_client_connections() {
	local port body i conns
	start_server pr_up "$UPSTREAM" -p 0 -k 1
	gateway pr_gw pr_up
	port=${E2E_PORT[pr_gw]}
	for i in $(seq 1 30); do
		body=$(get "$port" /conn)
		[ "$body" = "1 $i" ] || fail "request $i: expected upstream connection 1, request $i; got '$body'"
	done
	conns=$(established "${E2E_PORT[pr_up]}")
	[ "$conns" = 1 ] || fail "expected 1 upstream connection kept open, ss shows $conns"
	stop_server pr_gw
	stop_server pr_up
}

nothing_kept_with_max_idle_0() {
	local port body i
	start_server pz_up "$UPSTREAM" -p 0 -k 1
	gateway pz_gw pz_up '"limits": { "max_idle_per_kernel": 0 }'
	port=${E2E_PORT[pz_gw]}
	for i in $(seq 1 5); do
		body=$(get "$port" /conn)
		[ "$body" = "$i 1" ] || fail "request $i: expected a new upstream connection ($i 1), got '$body'"
	done
	stop_server pz_gw
	stop_server pz_up
}

# The upstream is stopped (its connections close with a FIN while the
# gateway keeps them) and a new one started on the same port.
upstream_close_seen_while_kept() {
	local port body upport
	start_server pc_up "$UPSTREAM" -p 0 -k 1
	gateway pc_gw pc_up
	port=${E2E_PORT[pc_gw]}
	upport=${E2E_PORT[pc_up]}
	body=$(get "$port" /conn)
	[ "$body" = "1 1" ] || fail "first request: got '$body'"
	stop_server pc_up
	start_server pc_up2 "$UPSTREAM" -p "$upport" -k 1
	body=$(get "$port" /conn)
	[ "$body" = "1 1" ] || fail "after the upstream closed its connections: expected a new connection (1 1), got '$body'"
	stop_server pc_gw
	stop_server pc_up2
}

retry_once_on_a_dropped_kept_connection() {
	local port body code
	start_server pd_up "$UPSTREAM" -p 0 -k 1
	gateway pd_gw pd_up
	port=${E2E_PORT[pd_gw]}
	get "$port" /drop-next >/dev/null
	body=$(get "$port" /conn)
	[ "$body" = "2 1" ] || fail "GET after /drop-next: expected it to go again on connection 2 (2 1), got '$body'"
	get "$port" /drop-next >/dev/null
	code=$(curl -s --noproxy '*' --max-time 10 -o "$E2E_TMP/pd.body" -w '%{http_code}' -d 'payload' \
		"http://127.0.0.1:$port/conn")
	[ "$code" = 502 ] || fail "POST with a body after /drop-next: expected 502 (not replayed), got $code"
	grep -q '"status":502' "$E2E_TMP/pd.body" || fail "502 without its JSON body: $(cat "$E2E_TMP/pd.body")"
	body=$(get "$port" /conn)
	[ "$body" = "3 1" ] || fail "after the failed POST: expected a new connection (3 1), got '$body'"
	stop_server pd_gw
	stop_server pd_up
}

# Bytes the upstream sends unasked on a kept connection (a second response
# nobody asked for) must never reach the next client: the connection is
# closed, not reused.
unasked_bytes_are_never_relayed() {
	local port body
	start_server pj_up "$UPSTREAM" -p 0 -k 1
	gateway pj_gw pj_up
	port=${E2E_PORT[pj_gw]}
	[ "$(get "$port" /junk-after)" = ok ] || fail "/junk-after did not answer"
	wait_until 5 "the unasked response to reach the gateway" unasked_bytes_arrived "${E2E_PORT[pj_up]}"
	body=$(get "$port" /conn)
	[ "$body" = "2 1" ] || fail "after unasked bytes on the kept connection: expected a new connection (2 1), got '$body'"
	stop_server pj_gw
	stop_server pj_up
}

kept_connection_closed_after_idle_ms() {
	local port upport
	start_server pi_up "$UPSTREAM" -p 0 -k 1
	gateway pi_gw pi_up '"timeouts": { "idle_ms": 500 }'
	port=${E2E_PORT[pi_gw]}
	upport=${E2E_PORT[pi_up]}
	get "$port" /conn >/dev/null
	[ "$(established "$upport")" = 1 ] || fail "expected the upstream connection to be kept"
	# idle_ms 500, swept once a second: gone within 2.5 s.
	wait_until 3 "the kept connection still open after idle_ms 500" none_established "$upport"
	[ "$(get "$port" /conn)" = "2 1" ] || fail "after the idle close: expected a new connection"
	stop_server pi_gw
	stop_server pi_up
}

# concurrent PORT N PATH PREFIX: N requests at once; PREFIX.i gets
# "STATUS BODY" of request i.
concurrent() {
	local port=$1 n=$2 path=$3 prefix=$4 i pids=()
	for i in $(seq 1 "$n"); do
		curl -s --noproxy '*' --max-time 10 -H 'Connection: close' -w ' %{http_code}' \
			"http://127.0.0.1:$port$path" >"$prefix.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || fail "curl failed"
	done
}

max_connections_queues_requests() {
	local port f="$E2E_TMP/pm" ok
	start_server pm_up "$UPSTREAM" -p 0 -k 1
	gateway pm_gw pm_up '"limits": { "max_connections": 1, "max_pending": 8 }'
	port=${E2E_PORT[pm_gw]}
	concurrent "$port" 3 /slow/200 "$f"
	ok=$(grep -l '^slow$' "$f".* | wc -l)
	[ "$ok" = 3 ] || fail "max_connections 1, 3 concurrent: expected 3 answers in turn, got: $(cat "$f".* | tr '\n' '|')"
	[ "$(get "$port" /conn)" = "1 4" ] || fail "expected all on the one upstream connection"
	stop_server pm_gw
	stop_server pm_up
}

max_pending_refuses_the_excess() {
	local port f="$E2E_TMP/pp" refused
	start_server pp_up "$UPSTREAM" -p 0 -k 1
	gateway pp_gw pp_up '"limits": { "max_connections": 1, "max_pending": 1 }'
	port=${E2E_PORT[pp_gw]}
	concurrent "$port" 3 /slow/400 "$f"
	refused=$(grep -l 'max_pending' "$f".* | wc -l)
	[ "$refused" = 1 ] || fail "expected one 503 naming max_pending, got: $(cat "$f".* | tr '\n' '|')"
	grep -q ' 503$' "$(grep -l 'max_pending' "$f".*)" || fail "the refusal is not a 503"
	[ "$(grep -l '^slow$' "$f".* | wc -l)" = 2 ] || fail "expected two answered: $(cat "$f".* | tr '\n' '|')"
	stop_server pp_gw
	stop_server pp_up
}

waiting_ends_at_connect_ms() {
	local port t0 t1 out ms
	start_server pw_up "$UPSTREAM" -p 0 -k 1
	gateway pw_gw pw_up '"limits": { "max_connections": 1 }, "timeouts": { "connect_ms": 300 }'
	port=${E2E_PORT[pw_gw]}
	curl -s --noproxy '*' --max-time 10 -o /dev/null "http://127.0.0.1:$port/slow/1500" &
	local slow=$!
	wait_until 5 "the slow request to hold the one upstream connection" one_established "${E2E_PORT[pw_up]}"
	t0=$(now_ms)
	out=$(curl -s --noproxy '*' --max-time 10 -w ' %{http_code}' "http://127.0.0.1:$port/conn")
	t1=$(now_ms)
	ms=$((t1 - t0))
	[[ $out == *' 503' ]] || fail "expected a 503 while the only connection is busy, got '$out'"
	[[ $out == *'no upstream connection free in time'* ]] || fail "the 503 does not say why: '$out'"
	[ "$ms" -ge 250 ] && [ "$ms" -le 1000 ] || fail "answered after $ms ms, expected ~300"
	wait "$slow" || fail "the slow request failed"
	stop_server pw_gw
	stop_server pw_up
}

# The kernel holds kept connections between processes and watches them:
# the same two cases under every poll driver.
every_driver_keeps_and_notices_closes() {
	local driver port upport body n=0
	for driver in epoll epoll-oneshot poll aio uring; do
		n=$((n + 1))
		start_server "pv_up$n" "$UPSTREAM" -p 0 -k 1
		upport=${E2E_PORT[pv_up$n]}
		gateway_config "pv_gw$n" "pv_up$n"
		start_server "pv_gw$n" "$VKGW" -c "$E2E_TMP/pv_gw$n.json" -P "$driver"
		port=${E2E_PORT[pv_gw$n]}
		get "$port" /conn >/dev/null
		body=$(get "$port" /conn)
		[ "$body" = "1 2" ] || fail "$driver: expected the kept connection (1 2), got '$body'"
		stop_server "pv_up$n"
		start_server "pv_up$n.b" "$UPSTREAM" -p "$upport" -k 1
		body=$(get "$port" /conn)
		[ "$body" = "1 1" ] || fail "$driver: after the upstream closed: expected a new connection (1 1), got '$body'"
		stop_server "pv_gw$n"
		stop_server "pv_up$n.b"
	done
}

run_case "reuse: 30 client connections, one upstream connection" reuse_across_client_connections
run_case "every poll driver: kept, reused, and a close noticed while kept" every_driver_keeps_and_notices_closes
run_case "max_idle_per_kernel 0: a new upstream connection per request" nothing_kept_with_max_idle_0
run_case "an upstream that closed a kept connection: the next request connects anew" upstream_close_seen_while_kept
run_case "a kept connection dropped without FIN: GET goes again, POST with body -> 502" retry_once_on_a_dropped_kept_connection
run_case "idle_ms 500: the kept connection is closed" kept_connection_closed_after_idle_ms
run_case "unasked bytes on a kept connection: closed, never relayed" unasked_bytes_are_never_relayed
run_case "max_connections 1: 3 concurrent requests wait their turn" max_connections_queues_requests
run_case "max_pending 1: the third concurrent request -> 503 naming max_pending" max_pending_refuses_the_excess
run_case "waiting for a connection ends at connect_ms -> 503" waiting_ends_at_connect_ms
finish
