#!/usr/bin/env bash
# vkgw end to end: HTTP details a proxy must get right, against
# tests/services/gw_test_upstream on loopback.
#
#   upgrades   only a protocol the route allows ("upgrades", WebSocket by
#              default) is asked of the upstream, and a 101 becomes a
#              tunnel only for a protocol the request offered: no h2c
#              smuggling past routing and filters
#   CONNECT    405 with Allow, unless the route has "connect": true (then
#              a TCP tunnel to the upstream after a 200)
#   mid-body   a client that stops sending mid-body gets a 400 (or a
#              close), and nothing counts against the upstream; an
#              upstream that stops reading the body is a 504, not a 408
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"

# start_pair NAME: an upstream NAME_up and a gateway NAME_gw (with an admin
# listener) in front of it.
start_pair() {
	local name=$1
	start_server "${name}_up" "$UPSTREAM" -p 0 -k 1
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "timeouts": { "header_ms": 2000, "body_idle_ms": 2000, "keepalive_idle_ms": 5000 },
  "upstreams": {
    "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[${name}_up]}" ],
             "timeouts": { "connect_ms": 1000, "response_ms": 2000 },
             "outlier_detection": { "consecutive_5xx": 1, "consecutive_connect_failures": 1 } }
  },
  "routes": [
    { "name": "tunnel", "match": { "host": "tunnel.test", "methods": ["CONNECT"] },
      "action": { "proxy": { "upstream": "app", "connect": true } } },
    { "name": "h2c-ok", "match": { "path": { "prefix": "/h2c-ok/" } },
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/", "upgrades": ["h2c"] } } },
    { "name": "no-upgrades", "match": { "path": { "prefix": "/no-upgrades/" } },
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/", "upgrades": [] } } },
    { "name": "app", "action": { "proxy": { "upstream": "app" } } }
  ]
}
JSON
	start_server "${name}_gw" "$VKGW" -c "$E2E_TMP/$name.json"
}

# The port the gateway's second "listening on" line names (the admin).
admin_port() {
	sed -n '2s/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$E2E_TMP/$1.out"
}

# exchange PORT: sends stdin's bytes (Python escapes: \r\n) on one
# connection, half-closes only if $HALF_CLOSE, prints all that comes back
# until the close (bounded).
exchange() {
	local data
	data=$(cat)
	python3 - "$1" "${HALF_CLOSE:-}" "$data" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[3].encode("latin-1").decode("unicode_escape").encode("latin-1"))
if sys.argv[2]:
    s.shutdown(socket.SHUT_WR)
got = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
except socket.timeout:
    got += b"\n<<TIMEOUT>>"
sys.stdout.write(got.decode("latin-1"))
PY
}

# h2c smuggling: Upgrade: h2c is dropped on a route that does not allow it
# (the upstream never sees it), and an upstream that answers 101 anyway
# gets no tunnel: the bytes after the head never reach it raw.
upgrade_only_what_the_route_allows() {
	local port out
	start_pair up
	port=${E2E_PORT[up_gw]}
	out=$(printf '%s' 'GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n' |
		HALF_CLOSE=1 exchange "$port" | tr -d '\r')
	head -n 1 <<<"$out" | grep -q '^HTTP/1.1 200 ' || fail "a plain request with Upgrade: h2c: $out"
	! grep -qi '^Upgrade:' <<<"$out" || fail "Upgrade: h2c reached the upstream: $out"
	out=$(printf '%s' 'GET /switch/h2c HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n' |
		exchange "$port" | tr -d '\r')
	head -n 1 <<<"$out" | grep -q '^HTTP/1.1 502 ' || fail "an unasked 101 (h2c): $out"
	! grep -q 'smuggled\|^HTTP/1.1 101' <<<"$out" || fail "h2c became a tunnel: $out"
	# WebSocket asked, h2c granted: no tunnel either.
	out=$(printf '%s' 'GET /switch/h2c HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nraw bytes' |
		exchange "$port" | tr -d '\r')
	head -n 1 <<<"$out" | grep -q '^HTTP/1.1 502 ' || fail "a 101 to another protocol than asked: $out"
	! grep -q 'raw bytes' <<<"$out" || fail "a mismatched 101 became a tunnel: $out"
	# "upgrades": [] drops even WebSocket.
	out=$(printf '%s' 'GET /no-upgrades/echo HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n' |
		HALF_CLOSE=1 exchange "$port" | tr -d '\r')
	! grep -qi '^Upgrade:' <<<"$out" || fail "\"upgrades\": [] forwarded an Upgrade: $out"
	# A route that allows h2c tunnels it: the echo comes back raw. Only
	# the allowed one of the offered protocols is asked.
	out=$(printf '%s' 'GET /h2c-ok/switch/h2c HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: foo, h2c\r\n\r\nraw bytes' |
		HALF_CLOSE=1 exchange "$port" | tr -d '\r')
	head -n 1 <<<"$out" | grep -q '^HTTP/1.1 101 ' || fail "an allowed h2c upgrade: $out"
	grep -q 'raw bytes' <<<"$out" || fail "the allowed tunnel did not echo: $out"
	stop_server up_gw
}

# CONNECT: 405 with Allow where no route enables it; a tunnel where one
# does (this upstream then answers a request sent through the tunnel).
connect_is_explicit() {
	local port out
	start_pair co
	port=${E2E_PORT[co_gw]}
	out=$(printf '%s' 'CONNECT elsewhere.test:443 HTTP/1.1\r\nHost: elsewhere.test:443\r\n\r\n' |
		exchange "$port" | tr -d '\r')
	head -n 1 <<<"$out" | grep -q '^HTTP/1.1 405 ' || fail "CONNECT without a route for it: $out"
	grep -qi '^Allow: GET, HEAD, POST' <<<"$out" || fail "no Allow with the 405: $out"
	out=$(printf '%s' 'CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\nGET /echo HTTP/1.1\r\nHost: inner.test\r\nConnection: close\r\n\r\n' |
		exchange "$port" | tr -d '\r')
	head -n 1 <<<"$out" | grep -q '^HTTP/1.1 200 ' || fail "CONNECT on a route with \"connect\": true: $out"
	grep -q '^GET /echo HTTP/1.1$' <<<"$out" || fail "the request inside the tunnel did not reach the upstream: $out"
	grep -qi '^Host: inner.test$' <<<"$out" || fail "the tunnel rewrote the inner request: $out"
	! grep -qi '^Via:' <<<"$out" || fail "the tunnel's bytes went through the proxy's rewriting: $out"
	stop_server co_gw
}

# stat PORT EXPR: a value of the admin's /stats, EXPR a Python expression
# over `d` (the JSON) and `ep` (upstream app's first endpoint).
stat() {
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$1/stats" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ep = d["upstreams"]["app"]["endpoints"][0]
print(eval(sys.argv[1]))' "$2"
}

# counted_at_least ADMIN_PORT N: the endpoint has counted N requests or
# more, read when asked.
counted_at_least() { [ "$(stat "$1" 'ep["requests"]')" -ge "$2" ]; }

# A client that half-closes (or resets) in the middle of its request body
# is at fault: a 400 for a chunked body (a close for a Content-Length one,
# which cannot be told apart from a slow client until the close), and no
# 5xx for the endpoint, which then still serves.
client_stopping_mid_body_is_not_the_upstreams_fault() {
	local port admin out
	start_pair mb
	port=${E2E_PORT[mb_gw]}
	admin=$(admin_port mb_gw)
	[ -n "$admin" ] || fail "no admin port in: $(cat "$E2E_TMP/mb_gw.out")"
	out=$(printf '%s' 'POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n' |
		HALF_CLOSE=1 exchange "$port" | tr -d '\r')
	head -n 1 <<<"$out" | grep -q '^HTTP/1.1 400 ' || fail "a chunked body cut off by the client: $out"
	grep -q 'request body incomplete' <<<"$out" || fail "the 400 does not say why: $out"
	out=$(printf '%s' 'POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\nhello' |
		HALF_CLOSE=1 exchange "$port" | tr -d '\r')
	[ -z "$out" ] || head -n 1 <<<"$out" | grep -q '^HTTP/1.1 400 ' ||
		fail "a Content-Length body cut off by the client: $out"
	# A reset mid-body (SO_LINGER 0) is the client's fault too.
	python3 - "$port" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
PY
	# Each ended counted: 3 requests, and not one 5xx for the endpoint.
	wait_until 5 "the gateway counted 3 requests" counted_at_least "$admin" 3
	[ "$(stat "$admin" 'ep["responses"]["5xx"]')" = 0 ] ||
		fail "the endpoint counts a 5xx for the client's fault: $(stat "$admin" 'ep')"
	[ "$(stat "$admin" 'd["upstreams"]["app"]["responses"]["5xx"]')" = 0 ] || fail "the upstream counts a 5xx"
	[ "$(stat "$admin" 'ep["state"]')" = healthy ] || fail "the endpoint is not healthy: $(stat "$admin" 'ep')"
	out=$(curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/echo")
	[ "$out" = 200 ] || fail "the endpoint no longer serves: $out"
	stop_server mb_gw
}

# An upstream that accepts and never reads: the request body stalls on
# the upstream's side, which is then its fault (504), not a slow client's
# (408). The client keeps offering its body until the answer comes.
upstream_that_stops_reading_is_a_504() {
	local out
	start_server bh_up python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", 0))
s.listen(16)
print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])'
	cat >"$E2E_TMP/bh.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "timeouts": { "header_ms": 2000, "body_idle_ms": 500, "keepalive_idle_ms": 5000 },
  "upstreams": { "hole": { "endpoints": [ "127.0.0.1:${E2E_PORT[bh_up]}" ],
                           "timeouts": { "connect_ms": 1000, "response_ms": 5000 } } },
  "routes": [ { "name": "hole", "action": { "proxy": { "upstream": "hole" } } } ]
}
JSON
	start_server bh_gw "$VKGW" -c "$E2E_TMP/bh.json"
	out=$(python3 - "${E2E_PORT[bh_gw]}" <<'PY'
import select, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
total = 1 << 30
s.sendall(b"POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\n\r\n" % total)
s.setblocking(False)
piece = b"x" * 65536
sent, got, deadline = 0, b"", time.monotonic() + 10
while time.monotonic() < deadline and b"\r\n\r\n" not in got:
    r, w, _ = select.select([s], [s] if sent < total else [], [], 0.5)
    if r:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    elif w:
        try:
            sent += s.send(piece)
        except (BlockingIOError, ConnectionError):
            pass
print(got.decode("latin-1").split("\r\n")[0])
PY
)
	[[ $out == "HTTP/1.1 504 "* ]] || fail "an upstream that stops reading the body: '$out' (expected 504)"
	stop_server bh_gw
}

run_case "upgrades: only what the route allows, and a 101 only for what was asked (h2c)" upgrade_only_what_the_route_allows
run_case "CONNECT: 405 with Allow, a tunnel only where a route says \"connect\": true" connect_is_explicit
run_case "a client stopping mid-body: 400 or a close, no 5xx for the endpoint" client_stopping_mid_body_is_not_the_upstreams_fault
run_case "an upstream that stops reading the request body: 504, not 408" upstream_that_stops_reading_is_a_504
finish
