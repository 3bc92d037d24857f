#!/usr/bin/env bash
# vkgw end to end: the program, its configuration, and the proxy path to
# real upstreams (tests/services/gw_test_upstream) on loopback.
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"

# Writes a config: listener on an ephemeral port; upstream "app" with the
# given endpoint ports; routes for /direct, /moved and everything else.
write_config() {
	local file=$1 eps="" port
	shift
	for port in "$@"; do
		eps="$eps${eps:+, }\"127.0.0.1:$port\""
	done
	cat >"$file" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "timeouts": { "header_ms": 2000, "body_idle_ms": 2000, "keepalive_idle_ms": 5000 },
  "upstreams": {
    "app": { "endpoints": [ $eps ], "timeouts": { "connect_ms": 500, "response_ms": 1000 } }
  },
  "routes": [
    { "name": "direct", "match": { "path": { "exact": "/direct" } },
      "action": { "respond": { "status": 200, "body": "direct\n", "headers": { "x-route": "direct" } } } },
    { "name": "moved", "match": { "path": { "prefix": "/old/" } },
      "action": { "redirect": { "status": 301, "location": "https://example.test/new/" } } },
    { "name": "api", "match": { "path": { "prefix": "/api/" }, "methods": ["GET", "POST"] },
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "app", "match": { "host": "*.test", "path": { "prefix": "/" } },
      "action": { "proxy": { "upstream": "app" } } }
  ]
}
JSON
}

start_gateway() { # start_gateway NAME UPSTREAM_PORT...
	local name=$1
	shift
	write_config "$E2E_TMP/$name.json" "$@"
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -s
}

check_reports_every_problem() {
	local out rc=0
	write_config "$E2E_TMP/good.json" 1
	out=$("$VKGW" --check -c "$E2E_TMP/good.json") || fail "--check rejected a good config: $out"
	printf '{\n  "listeners": [ { "port": "x" } ],\n  "routes": [],\n  "extra": 1\n}\n' >"$E2E_TMP/bad.json"
	out=$("$VKGW" --check -c "$E2E_TMP/bad.json" 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "--check on a bad config exited $rc, expected 1"
	grep -qx "$E2E_TMP/bad.json:2:28: /listeners/0/port: expected an integer from 0 to 65535, not a string" <<<"$out" ||
		fail "no positioned type error in: $out"
	grep -q "^$E2E_TMP/bad.json:4:3: /extra: unknown key \"extra\"" <<<"$out" || fail "no unknown-key error in: $out"
	grep -q "^$E2E_TMP/bad.json:3:13: /routes: " <<<"$out" || fail "no empty-routes error in: $out"
	"$VKGW" --version | grep -q '^vkgw ' || fail "--version"
}

forwarding_rules() {
	local port body
	start_server fw_up "$UPSTREAM" -p 0 -k 1
	start_gateway fw_gw "${E2E_PORT[fw_up]}"
	port=${E2E_PORT[fw_gw]}
	body=$(curl -s --max-time 5 -H 'Host: a.test' -H 'Connection: keep-alive, X-Secret' -H 'X-Secret: 1' \
		-H 'Keep-Alive: 5' "http://127.0.0.1:$port/echo")
	grep -q '^GET /echo HTTP/1.1' <<<"$body" || fail "request line not forwarded: $body"
	grep -qi '^Host: a.test' <<<"$body" || fail "Host not forwarded: $body"
	grep -qi '^Via: 1.1 vkgw' <<<"$body" || fail "no Via: $body"
	grep -qi '^X-Forwarded-For: 127.0.0.1' <<<"$body" || fail "no X-Forwarded-For: $body"
	grep -qi '^X-Forwarded-Proto: http' <<<"$body" || fail "no X-Forwarded-Proto: $body"
	! grep -qi '^X-Secret\|^Keep-Alive\|^Connection' <<<"$body" || fail "hop-by-hop or nominated field forwarded: $body"
	# prefix rewrite: /api/x -> /echo/x
	body=$(curl -s --max-time 5 -H 'Host: a.test' "http://127.0.0.1:$port/api/x?q=1")
	grep -q '^GET /echo/x?q=1 HTTP/1.1' <<<"$body" || fail "prefix not rewritten: $body"
	# a POST body arrives intact, and a chunked one is re-framed
	body=$(curl -s --max-time 5 -H 'Host: a.test' --data-binary 'hello body' "http://127.0.0.1:$port/echo")
	grep -q 'hello body$' <<<"$body" || fail "body not forwarded: $body"
	body=$(printf 'chunked body' | curl -s --max-time 5 -H 'Host: a.test' -H 'Transfer-Encoding: chunked' \
		--data-binary @- "http://127.0.0.1:$port/echo")
	grep -q 'chunked body$' <<<"$body" || fail "chunked body not forwarded: $body"
	stop_server fw_gw
	stop_server fw_up
}

direct_answers_and_errors() {
	local port out
	start_server da_up "$UPSTREAM" -p 0 -k 1
	start_gateway da_gw "${E2E_PORT[da_up]}"
	port=${E2E_PORT[da_gw]}
	out=$(curl -si --max-time 5 "http://127.0.0.1:$port/direct")
	grep -q '^HTTP/1.1 200' <<<"$out" && grep -qi '^x-route: direct' <<<"$out" && grep -q '^direct' <<<"$out" ||
		fail "respond action: $out"
	out=$(curl -si --max-time 5 "http://127.0.0.1:$port/old/page")
	grep -q '^HTTP/1.1 301' <<<"$out" && grep -qi '^Location: https://example.test/new/' <<<"$out" ||
		fail "redirect action: $out"
	out=$(curl -si --max-time 5 -H 'Host: other.example' "http://127.0.0.1:$port/x")
	grep -q '^HTTP/1.1 404' <<<"$out" && grep -q '"status":404' <<<"$out" || fail "no route: $out"
	out=$(curl -si --max-time 5 -X DELETE -H 'Host: a.test' "http://127.0.0.1:$port/api/x")
	grep -q '^HTTP/1.1 404' <<<"$out" || fail "method match: DELETE reached /api/: $out"
	stop_server da_gw
	stop_server da_up
}

round_robin_spreads_evenly() {
	local port i a b counts
	start_server rr_up1 "$UPSTREAM" -p 0 -k 1
	start_server rr_up2 "$UPSTREAM" -p 0 -k 1
	start_gateway rr_gw "${E2E_PORT[rr_up1]}" "${E2E_PORT[rr_up2]}"
	port=${E2E_PORT[rr_gw]}
	for i in $(seq 1 100); do
		curl -s --max-time 5 -H 'Host: a.test' "http://127.0.0.1:$port/whoami"
	done >"$E2E_TMP/who"
	a=$(grep -cx "${E2E_PORT[rr_up1]}" "$E2E_TMP/who" || true)
	b=$(grep -cx "${E2E_PORT[rr_up2]}" "$E2E_TMP/who" || true)
	[ "$a" = 50 ] && [ "$b" = 50 ] || fail "round robin over 2 endpoints: $a / $b of 100"
	stop_server rr_gw
	stop_server rr_up1
	stop_server rr_up2
}

upstream_failures_map_to_statuses() {
	local port out dead
	start_server uf_up "$UPSTREAM" -p 0 -k 1
	# A port nobody listens on: connect refused -> 502.
	dead=$(free_port)
	start_gateway uf_gw "$dead"
	port=${E2E_PORT[uf_gw]}
	out=$(curl -si --max-time 5 -H 'Host: a.test' "http://127.0.0.1:$port/x")
	grep -q '^HTTP/1.1 502' <<<"$out" && grep -q '"status":502' <<<"$out" || fail "refused upstream: $out"
	stop_server uf_gw
	# A stalled upstream: response timeout (1000 ms) -> 504.
	start_gateway uf_gw2 "${E2E_PORT[uf_up]}"
	out=$(curl -si --max-time 5 -H 'Host: a.test' "http://127.0.0.1:${E2E_PORT[uf_gw2]}/stall")
	grep -q '^HTTP/1.1 504' <<<"$out" || fail "stalled upstream: $out"
	stop_server uf_gw2
	stop_server uf_up
}

keepalive_10000_requests_on_100_connections() {
	local out
	start_server ka_up "$UPSTREAM" -p 0 -k 1
	start_gateway ka_gw "${E2E_PORT[ka_up]}"
	out=$(timeout 60 h2load --h1 -n 10000 -c 100 "http://127.0.0.1:${E2E_PORT[ka_gw]}/api/whoami" 2>&1) ||
		fail "h2load failed: $out"
	grep -q 'requests: 10000 total, 10000 started, 10000 done, 10000 succeeded, 0 failed, 0 errored' <<<"$out" ||
		fail "not every request succeeded: $(grep -E 'requests:|status codes:' <<<"$out")"
	grep -q 'status codes: 10000 2xx' <<<"$out" || fail "statuses: $(grep 'status codes' <<<"$out")"
	stop_server ka_gw
	stop_server ka_up
}

one_gib_each_way() {
	local port want got
	start_server gib_up "$UPSTREAM" -p 0 -k 1
	start_gateway gib_gw "${E2E_PORT[gib_up]}"
	port=${E2E_PORT[gib_gw]}
	want=$(curl -s --max-time 60 "http://127.0.0.1:${E2E_PORT[gib_up]}/bytes/1073741824" | cksum)
	got=$(curl -s --max-time 60 -H 'Host: a.test' "http://127.0.0.1:$port/bytes/1073741824" | cksum)
	[ "$got" = "$want" ] || fail "1 GiB download: cksum $got, direct $want"
	got=$(curl -s --max-time 60 -H 'Host: a.test' "http://127.0.0.1:$port/bytes-chunked/1073741824" | cksum)
	[ "$got" = "$want" ] || fail "1 GiB chunked download: cksum $got, direct $want"
	want=$(head -c 1073741824 /dev/zero | tr '\0' 'v' | cksum)
	got=$(head -c 1073741824 /dev/zero | tr '\0' 'v' |
		curl -s --max-time 60 -H 'Host: a.test' -T - \
			"http://127.0.0.1:$port/cksum")
	[ "$got" = "$want" ] || fail "1 GiB upload: upstream cksum $got, sent $want"
	stop_server gib_gw
	stop_server gib_up
}

access_log_lines() {
	local port log="$E2E_TMP/access.log"
	start_server al_up "$UPSTREAM" -p 0 -k 1
	write_config "$E2E_TMP/al.json" "${E2E_PORT[al_up]}"
	python3 - "$E2E_TMP/al.json" "$log" <<'PY'
import json, sys
path, log = sys.argv[1], sys.argv[2]
cfg = json.load(open(path))
cfg["access_log"] = {"path": log}
json.dump(cfg, open(path, "w"))
PY
	start_server al_gw "$VKGW" -c "$E2E_TMP/al.json"
	port=${E2E_PORT[al_gw]}
	curl -s --max-time 5 -H 'Host: a.test' "http://127.0.0.1:$port/echo?q=\"x\"" >/dev/null
	curl -s --max-time 5 "http://127.0.0.1:$port/direct" >/dev/null
	curl -s --max-time 5 -H 'Host: other.example' "http://127.0.0.1:$port/nowhere" >/dev/null
	stop_server al_gw
	python3 - "$log" "${E2E_PORT[al_up]}" <<'PY' || fail "access log: $(cat "$log")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 3, lines
proxied, direct, missing = lines
assert proxied["method"] == "GET" and proxied["target"] == '/echo?q="x"', proxied
assert proxied["status"] == 200 and proxied["route"] == "app", proxied
assert proxied["upstream"] == "127.0.0.1:" + sys.argv[2] and proxied["attempts"] == 1, proxied
assert proxied["bytes_in"] > 0 and proxied["bytes_out"] > 0 and proxied["total_ms"] >= proxied["upstream_ms"] > 0, proxied
assert proxied["client"] == "127.0.0.1" and proxied["time"].endswith("Z"), proxied
assert direct["status"] == 200 and direct["route"] == "direct" and direct["upstream"] is None, direct
assert missing["status"] == 404 and missing["route"] is None, missing
for l in lines:
    assert l["filters"] == {"passed": 0, "answered_by": None}, l
    assert l["tls"] is None, l
PY
	stop_server al_up
}

no_tunnel_left() {
	[ "$(established "${E2E_PORT[ws_gw]}")" = 0 ] && [ "$(established "${E2E_PORT[ws_up]}")" = 0 ]
}

websocket_echo() {
	start_server ws_up "$UPSTREAM" -p 0 -k 1
	start_gateway ws_gw "${E2E_PORT[ws_up]}"
	python3 - "${E2E_PORT[ws_gw]}" <<'PY' || fail "WebSocket through the gateway failed"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    chunk = s.recv(4096)
    assert chunk, "closed before the 101: %r" % head
    head += chunk
head, rest = head.split(b"\r\n\r\n", 1)
lines = head.decode().split("\r\n")
assert lines[0].startswith("HTTP/1.1 101"), lines
fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
assert fields.get("upgrade", "").lower() == "websocket", fields
assert fields.get("connection", "").lower() == "upgrade", fields
assert fields.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", fields
payload = bytes(range(256)) * 64
s.sendall(payload)
got = rest
while len(got) < len(payload):
    chunk = s.recv(65536)
    assert chunk, "tunnel closed after %d of %d bytes" % (len(got), len(payload))
    got += chunk
assert got == payload, "echoed bytes differ"
s.shutdown(socket.SHUT_WR)
assert s.recv(10) == b"", "tunnel not closed after the client's half-close"
# A second tunnel that the client resets mid-stream: the connection ends
# cleanly (no thread is left waiting on a closed socket).
import struct
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    chunk = s.recv(4096)
    assert chunk, "closed before the 101"
    head += chunk
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
PY
	# The reset tunnel ends on both sides: nothing left waiting on it.
	wait_until 5 "the reset tunnel to close, client and upstream side" no_tunnel_left
	# Stopped, it has said all it would (its counters line is last).
	stop_server ws_gw
	! grep -qE 'process [0-9]+ \(.*\) (deadlocked|killed):' "$(server_err_file ws_gw)" &&
		[ "$(stat_of ws_gw killed)" = 0 ] ||
		fail "a reset tunnel left the gateway complaining:$(server_stderr ws_gw)"
	stop_server ws_up
}

# trusted_hops 0 (the edge): received X-Forwarded-* are dropped; 1: the
# received chain is kept and the client appended.
forwarded_headers_and_trusted_hops() {
	local hops body name
	start_server xf_up "$UPSTREAM" -p 0 -k 1
	for hops in 0 1; do
		name=xf_gw$hops
		write_config "$E2E_TMP/$name.json" "${E2E_PORT[xf_up]}"
		python3 - "$E2E_TMP/$name.json" "$hops" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["http"] = {"trusted_hops": int(sys.argv[2])}
json.dump(cfg, open(sys.argv[1], "w"))
PY
		start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json"
		body=$(curl -s --max-time 5 -H 'Host: a.test' -H 'X-Forwarded-For: 203.0.113.9' \
			-H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: public.example' \
			"http://127.0.0.1:${E2E_PORT[$name]}/echo")
		[ "$(grep -ci '^X-Forwarded-For:' <<<"$body")" = 1 ] || fail "hops $hops: not one X-Forwarded-For: $body"
		if [ "$hops" = 0 ]; then
			grep -qi '^X-Forwarded-For: 127.0.0.1.$' <<<"$body" || fail "edge kept a spoofed chain: $body"
			grep -qi '^X-Forwarded-Proto: http.$' <<<"$body" || fail "edge kept a spoofed proto: $body"
			grep -qi '^X-Forwarded-Host: a.test.$' <<<"$body" || fail "edge kept a spoofed host: $body"
		else
			grep -qi '^X-Forwarded-For: 203.0.113.9, 127.0.0.1.$' <<<"$body" || fail "chain not kept: $body"
			grep -qi '^X-Forwarded-Proto: https.$' <<<"$body" || fail "trusted proto not kept: $body"
			grep -qi '^X-Forwarded-Host: public.example.$' <<<"$body" || fail "trusted host not kept: $body"
		fi
		stop_server "$name"
	done
	stop_server xf_up
}

run_case "--check reports every problem at its position" check_reports_every_problem
run_case "X-Forwarded-*: spoofs dropped at the edge, chain kept behind trusted hops" forwarded_headers_and_trusted_hops
run_case "WebSocket: 101 through the gateway, then bytes both ways until close" websocket_echo
run_case "access log: one JSON line per request, with route, upstream, status and timings" access_log_lines
run_case "forwarding: hop-by-hop out, Via and X-Forwarded-* in, rewrite, bodies" forwarding_rules
run_case "respond and redirect actions; no route is a JSON 404" direct_answers_and_errors
run_case "round robin over two upstreams: 50/50 of 100" round_robin_spreads_evenly
run_case "refused upstream -> 502, stalled upstream -> 504" upstream_failures_map_to_statuses
run_case "10,000 keep-alive requests on 100 connections, no error" keepalive_10000_requests_on_100_connections
run_case "1 GiB download (length and chunked) and upload, checksums match" one_gib_each_way
finish
