#!/usr/bin/env bash
# Bodies stream through vkgw: every byte it receives goes on before it
# waits for more, both ways, chunked or Content-Length; an upstream failing
# mid-response gives a 502 while nothing reached the client, else the part
# that came and a close. Each case is lock-step (tests/e2e/gw_streaming.py
# drives the test upstream's /lockstep-* routes through a control socket):
# a gateway that holds bytes back deadlocks, and the case's bound fails it.
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
CLIENT="$(dirname "$0")/gw_streaming.py"
need_bin "$VKGW"
need_bin "$UPSTREAM"

start_pair() { # start_pair CASE: the upstream CASE_up and the gateway CASE_gw
	local up=$1_up gw=$1_gw
	start_server "$up" "$UPSTREAM" -p 0 -k 1
	cat >"$E2E_TMP/$gw.json" <<JSON
{
  "listeners": [ { "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "timeouts": { "header_ms": 20000, "body_idle_ms": 20000 },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[$up]}" ],
                          "timeouts": { "connect_ms": 5000, "response_ms": 20000 } } },
  "routes": [ { "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
	start_server "$gw" "$VKGW" -c "$E2E_TMP/$gw.json" -s
}

lockstep() { # lockstep CASE
	local out
	start_pair "$1"
	out=$(timeout 120 python3 "$CLIENT" "$1" "${E2E_PORT[$1_gw]}" 2>&1) || fail "$out"
	stop_server "$1_gw"
	stop_server "$1_up"
	[ "$(stat_of "$1_gw" killed)" = 0 ] || fail "the gateway lost processes to faults"
}

run_case "chunked response: the head, then each chunk, reach the client before the next is sent" lockstep down_chunked
run_case "HTTP/1.0 client, chunked upstream: raw data, each piece before the next is sent, then a close" lockstep down_http10
run_case "Content-Length response: the head, then each piece, reach the client before the next is sent" lockstep down_length
run_case "text/event-stream: status line and first event before the second is released, then one by one" lockstep sse
run_case "pipelined: an answer goes out while the next request waits; a 502 after it leaves it whole" lockstep pipelined
run_case "chunked upload: the head, then each chunk, reach the upstream before the next is sent" lockstep up_chunked
run_case "Content-Length upload: the head, then each piece, reach the upstream before the next is sent" lockstep up_length
run_case "chunked upstream fails before any body byte reached the client: 502 JSON and a close" lockstep fail_before_body
run_case "chunked upstream fails after part of the body: the client gets all that came, then a close" lockstep fail_after_body
run_case "chunked upstream resets after part of the body: the client gets it, then a close" lockstep fail_reset_after_body
finish
