#!/usr/bin/env bash
# bench/floor_proxy.c, the byte-copying proxy bench/bench-proxy.sh measures
# the others against, in front of tests/services/gw_test_upstream (whose
# /conn answers "<connection number> <request number on it>"):
#
#   keep-alive      four requests on one client connection, one of them a
#                   100,000-byte body (several reads and writes): each
#                   response whole and byte for byte what the upstream sends
#                   directly, all on one upstream connection
#   backpressure    a client that does not read a 20 MB response until the
#                   proxy has stopped reading the upstream (its buffer full,
#                   partial writes) then gets every byte
#   client closes   a client that closes mid-response, and one that closes
#                   mid-request: the proxy closes their upstream
#                   connections and goes on serving
#   no upstream     the upstream refuses: the client is closed, the proxy
#                   goes on
#   SIGTERM         exit status 0
. "$(dirname "$0")/lib.sh"

FLOOR="$BUILD/bench/floor_proxy"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$FLOOR"
need_bin "$UPSTREAM"

start_server upstream "$UPSTREAM" -p 0 -k 1
start_server floor "$FLOOR" -u "127.0.0.1:${E2E_PORT[upstream]}"
UP_PORT=${E2E_PORT[upstream]}
FLOOR_PORT=${E2E_PORT[floor]}

upstream_conns_are() { [ "$(established "$UP_PORT")" = "$1" ]; }

floor_alive() { _e2e_running "${E2E_PID[floor]}" "$E2E_MAIN_PID"; }

keep_alive() {
	local url="http://127.0.0.1:$FLOOR_PORT" out=$E2E_TMP/ka
	curl -s --noproxy '*' --max-time 5 -w '%{num_connects}\n' \
		-o "$out.1" "$url/conn" -o "$out.2" "$url/bytes/100000" -o "$out.3" "$url/conn" \
		-o "$out.4" "$url/conn" >"$out.connects" || fail "curl through the floor proxy failed"
	[ "$(tr '\n' ' ' <"$out.connects")" = "1 0 0 0 " ] ||
		fail "want one client connection for four requests, curl made: $(tr '\n' ' ' <"$out.connects")"
	http_get "$UP_PORT" /bytes/100000 >"$out.direct" || fail "the upstream itself did not answer"
	[ "$(wc -c <"$out.direct")" = 100000 ] || fail "the upstream's /bytes/100000 is $(wc -c <"$out.direct") bytes"
	cmp -s "$out.2" "$out.direct" || fail "/bytes/100000 through the proxy ($(wc -c <"$out.2") bytes) differs from the upstream's"
	local c1 r1 c3 r3 c4 r4
	read -r c1 r1 <"$out.1"
	read -r c3 r3 <"$out.3"
	read -r c4 r4 <"$out.4"
	[ -n "$c1" ] && [ "$c3" = "$c1" ] && [ "$c4" = "$c1" ] && [ "$r1/$r3/$r4" = 1/3/4 ] ||
		fail "want requests 1, 3, 4 of one upstream connection, got '$c1 $r1', '$c3 $r3', '$c4 $r4'"
	wait_until 5 "the upstream connection closed after the client's" upstream_conns_are 0
}

# Bytes the proxy has left unread on its upstream connection.
upstream_recv_q_nonzero() {
	ss -Htn state established "( dport = :$UP_PORT )" | awk '$1 > 0 { found = 1 } END { exit !found }'
}

backpressure() {
	local fd size=20000000
	http_get "$UP_PORT" "/bytes/$size" >"$E2E_TMP/big.direct" || fail "the upstream itself did not answer"
	tcp_open fd "$FLOOR_PORT"
	printf 'GET /bytes/%s HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' "$size" >&"$fd"
	# More than the socket buffers between the client and the proxy hold.
	wait_until 5 "the proxy to stop reading the upstream while the client does not read" upstream_recv_q_nonzero
	tcp_read_to_close "$fd" 10 >"$E2E_TMP/big.proxied" || fail "the 20 MB response did not end within 10 s"
	tcp_close "$fd"
	grep -q $'^Content-Length: '"$size"$'\r$' "$E2E_TMP/big.proxied" || fail "no Content-Length: $size in the proxied head"
	tail -c "$size" "$E2E_TMP/big.proxied" | cmp -s - "$E2E_TMP/big.direct" ||
		fail "the proxied body differs from the upstream's ($(wc -c <"$E2E_TMP/big.proxied") bytes with the head)"
	[ "$(($(wc -c <"$E2E_TMP/big.proxied") - size))" -lt 1000 ] || fail "more than the response came back"
}

client_closes() {
	local fd
	# Mid-response: 4 MB asked, a little read, then the close (with unread
	# data, so a reset).
	tcp_open fd "$FLOOR_PORT"
	printf 'GET /bytes/4000000 HTTP/1.1\r\nHost: a.test\r\n\r\n' >&"$fd"
	timeout 5 head -c 1000 <&"$fd" >"$E2E_TMP/partial" || true
	[ "$(head -c 15 "$E2E_TMP/partial")" = "HTTP/1.1 200 OK" ] ||
		fail "no response head through the proxy: '$(head -c 40 "$E2E_TMP/partial")'"
	wait_until 5 "the upstream connection while the response is held" upstream_conns_are 1
	tcp_close "$fd"
	wait_until 5 "the upstream connection closed after the client closed mid-response" upstream_conns_are 0
	# Mid-request: half a head, then the close.
	tcp_open fd "$FLOOR_PORT"
	printf 'GET /conn HTTP/1.1\r\nHo' >&"$fd"
	wait_until 5 "the upstream connection for a half-sent request" upstream_conns_are 1
	tcp_close "$fd"
	wait_until 5 "the upstream connection closed after the client closed mid-request" upstream_conns_are 0
	floor_alive || fail "the floor proxy died; stderr:$(server_stderr floor)"
	[ "$(http_get "$FLOOR_PORT" /bytes/10)" = "$(http_get "$UP_PORT" /bytes/10)" ] ||
		fail "the floor proxy does not serve after the closes"
}

no_upstream() {
	local rc=0 dead_port
	dead_port=$(free_port)
	start_server floor_dead "$FLOOR" -u "127.0.0.1:$dead_port"
	curl -s --noproxy '*' --max-time 5 -o /dev/null "http://127.0.0.1:${E2E_PORT[floor_dead]}/" || rc=$?
	# 52: empty reply, 56: reset; 28 would be a hang.
	[ "$rc" = 52 ] || [ "$rc" = 56 ] || fail "want the client closed (curl 52 or 56) when the upstream refuses, curl said $rc"
	_e2e_running "${E2E_PID[floor_dead]}" || fail "the floor proxy died when the upstream refused"
	stop_server floor_dead
}

run_case "keep-alive requests come back whole, on one upstream connection" keep_alive
run_case "a client that stops reading gets the whole response later" backpressure
run_case "a client closing mid-response or mid-request closes its upstream side" client_closes
run_case "an upstream that refuses gets the client closed" no_upstream
# In this shell, which started it (run_case's subshell could not signal it).
stop_server floor
note "ok   SIGTERM: exit status 0"
finish
