#!/usr/bin/env bash
# vkgw end to end: retries with deadlines (issue 14), against scripted
# upstreams (gw_deadline_upstream.py) that fail the first N times, hang,
# reset, reset mid-response, answer with Retry-After, or echo the deadline
# headers they received. Each upstream logs what reached it, so attempts
# are counted at the upstreams and the order of events is read from the
# logs, not timed.
#
#   recover     retries succeed within the deadline; every attempt is in
#               the access log (endpoint, outcome, ms) with the deadline left
#   exclude     connect failures retried, never twice on the same endpoint
#   safety      a POST is not retried once sent, is after a connect failure
#               (its body whole), and is with an Idempotency-Key; a reset
#               mid-response is never retried
#   per_try     a hung attempt is cut at the per-try timeout, its
#               connection closed, and the next endpoint answers
#   deadline    504 at the deadline (the client's X-Request-Timeout or the
#               route's timeout_ms): the upstream holding the request sees
#               its connection closed; a malformed client timeout ignored;
#               a gRPC request gets grpc-status 4
#   upload      a slow upload under a short deadline: the deadline counts
#               from the request's end
#   chain       two gateways: what reaches the second is smaller by at least
#               the time the first spent (a Retry-After of 1 s), in
#               milliseconds and in grpc-timeout's units
#   backoff     a Retry-After that fits the deadline is waited for, one that
#               does not is not (the 503 goes back at once)
#   budget      every endpoint failing: the retry budget caps the attempts
#               the upstreams see; refusals logged and counted; without the
#               budget, every request is tried 3 times
#   hedge       a slow endpoint: a hedge on the other wins, the slow attempt
#               is cancelled (its connection closed before it answered); a
#               first attempt that answers before the hedge wins and the
#               hedge is cancelled; a POST is never hedged
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UP="$(dirname "$0")/gw_deadline_upstream.py"
need_bin "$VKGW"

# upstream NAME MODE: a scripted upstream logging to $E2E_TMP/NAME.log.
upstream() {
	start_server "$1" python3 "$UP" "$2" "$E2E_TMP/$1.log"
}

# gateway NAME UPSTREAM_JSON ROUTES_JSON: one kernel, an admin listener and
# an access log at $E2E_TMP/NAME.access.
gateway() {
	cat >"$E2E_TMP/$1.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "access_log": { "path": "$E2E_TMP/$1.access" },
  "http": { "max_buffered_body_bytes": 65536 },
  "upstreams": $2,
  "routes": [ $3 ]
}
JSON
	start_server "$1" "$VKGW" -c "$E2E_TMP/$1.json" ${VKGW_ARGS:-}
	wait_until 5 "$1's admin listener" admin_listening "$1"
}

ep() { printf '"127.0.0.1:%s"' "${E2E_PORT[$1]}"; }

# requests NAME: the requests upstream NAME received.
requests() { if [ -f "$E2E_TMP/$1.log" ]; then grep -c '"event": "request"' "$E2E_TMP/$1.log" || true; else echo 0; fi; }

closed_seen() { [ -f "$E2E_TMP/$1.log" ] && grep -q '"event": "closed"' "$E2E_TMP/$1.log"; }

lines_at_least() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

# get PORT PATH [CURL ARGS]: "STATUS BODY".
get() {
	local port=$1 path=$2
	shift 2
	curl -s --noproxy '*' --max-time 20 -w ' %{http_code}' "$@" "http://127.0.0.1:$port$path"
}

metric() {
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$(admin_port "$1")/metrics" | grep -F -- "$2" | awk '{ print $NF }'
}

# access_check NAME PYTHON: the access log's lines as `lines` (parsed
# JSON) to a Python assertion block.
access_check() {
	python3 -c "import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
$2" "$E2E_TMP/$1.access" || fail "access log of $1: $(tail -n 3 "$E2E_TMP/$1.access")"
}

recover() {
	local out
	upstream rc_up fail:2
	gateway rc_gw "{ \"app\": { \"endpoints\": [ $(ep rc_up) ] } }" \
		'{ "name": "r", "filters": [ { "type": "retry", "attempts": 3, "on_statuses": [ 503 ], "backoff": { "base_ms": 1, "max_ms": 5 } } ],
		   "action": { "proxy": { "upstream": "app", "timeout_ms": 10000 } } }'
	out=$(get "${E2E_PORT[rc_gw]}" /x)
	[ "$out" = "ok ${E2E_PORT[rc_up]}
 200" ] || fail "expected the third attempt's 200, got: $out"
	[ "$(requests rc_up)" = 3 ] || fail "the upstream saw $(requests rc_up) attempts, not 3"
	wait_until 5 "the access log line" lines_at_least "$E2E_TMP/rc_gw.access" 1
	access_check rc_gw '
t = lines[0]["tries"]
assert [x["outcome"] for x in t] == ["503", "503", "200"], t
assert all(x["endpoint"] == "127.0.0.1:'"${E2E_PORT[rc_up]}"'" and x["ms"] >= 0 for x in t), t
assert 0 < lines[0]["deadline_left_ms"] <= 10000, lines[0]
assert lines[0]["retry_refused"] is None'
	[ "$(metric rc_gw 'vkgw_upstream_retries_total{kernel="0",upstream="app"}')" = 2 ] || fail "retries not counted: $(metric rc_gw retries_total)"
}

exclude() {
	local i out
	upstream ex_up ok
	gateway ex_gw "{ \"app\": { \"endpoints\": [ \"127.0.0.1:1\", \"127.0.0.1:2\", $(ep ex_up) ],
	                 \"retry_budget\": { \"min_per_second\": 1000 } } }" \
		'{ "name": "r", "filters": [ { "type": "retry", "attempts": 3, "backoff": { "base_ms": 0 } } ],
		   "action": { "proxy": { "upstream": "app" } } }'
	for i in $(seq 1 12); do
		out=$(get "${E2E_PORT[ex_gw]}" /x)
		[ "${out: -3}" = 200 ] || fail "request $i: $out"
	done
	wait_until 5 "12 access log lines" lines_at_least "$E2E_TMP/ex_gw.access" 12
	# three endpoints, two refusing: never the same one twice in a request
	access_check ex_gw '
for l in lines:
    eps = [x["endpoint"] for x in l["tries"]]
    assert len(eps) == len(set(eps)), eps
    assert l["tries"][-1]["outcome"] == "200" and all(x["outcome"] == "SC" for x in l["tries"][:-1]), l["tries"]
assert max(len(l["tries"]) for l in lines) == 3'
	[ "$(requests ex_up)" = 12 ] || fail "the live endpoint saw $(requests ex_up) requests, not 12"
}

safety() {
	local out body
	upstream sf_reset reset
	upstream sf_ok ok
	upstream sf_mid reset-mid
	gateway sf_gw "{ \"resets\": { \"endpoints\": [ $(ep sf_reset) ] },
	                 \"refused\": { \"endpoints\": [ \"127.0.0.1:1\", $(ep sf_ok) ] },
	                 \"mid\": { \"endpoints\": [ $(ep sf_mid) ] } }" \
		'{ "name": "resets", "match": { "path": { "prefix": "/resets" } },
		   "filters": [ { "type": "retry", "attempts": 2, "backoff": { "base_ms": 0 } } ], "action": { "proxy": { "upstream": "resets" } } },
		 { "name": "refused", "match": { "path": { "prefix": "/refused" } },
		   "filters": [ { "type": "retry", "attempts": 2, "backoff": { "base_ms": 0 } } ], "action": { "proxy": { "upstream": "refused" } } },
		 { "name": "mid", "match": { "path": { "prefix": "/mid" } },
		   "filters": [ { "type": "retry", "attempts": 3, "backoff": { "base_ms": 0 } } ], "action": { "proxy": { "upstream": "mid" } } }'
	# sent, then reset: a POST may have been acted on (with a body that
	# streamed, and without a body: replayable, but not safe)
	out=$(get "${E2E_PORT[sf_gw]}" /resets --data-binary 'a=1')
	[ "${out: -3}" = 502 ] || fail "POST to a resetting endpoint: $out"
	[ "$(requests sf_reset)" = 1 ] || fail "the POST was sent $(requests sf_reset) times, not once"
	out=$(get "${E2E_PORT[sf_gw]}" /resets -X POST)
	[ "${out: -3}" = 502 ] || fail "a bodiless POST to a resetting endpoint: $out"
	[ "$(requests sf_reset)" = 2 ] || fail "the bodiless POST was sent twice"
	# with an Idempotency-Key it may go again
	out=$(get "${E2E_PORT[sf_gw]}" /resets --data-binary 'a=1' -H 'Idempotency-Key: 8e03978e-40d5-43e8-bc93-6894a57f9324')
	[ "${out: -3}" = 502 ] || fail "POST with an Idempotency-Key: $out"
	[ "$(requests sf_reset)" = 4 ] || fail "the keyed POST was not sent twice: $(requests sf_reset) requests in all"
	# a GET may go again
	get "${E2E_PORT[sf_gw]}" /resets >/dev/null
	[ "$(requests sf_reset)" = 6 ] || fail "the GET was not sent twice: $(requests sf_reset) requests in all"
	# never sent: a POST whose connect failed goes to the next endpoint, whole
	body=$(head -c 3000 /dev/zero | tr '\0' p)
	for i in 1 2 3 4; do
		out=$(get "${E2E_PORT[sf_gw]}" /refused --data-binary "$body")
		[ "$out" = "ok ${E2E_PORT[sf_ok]}
 200" ] || fail "POST $i after a refused connect: $out"
	done
	python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if "\"request\"" in l]
assert len(r) == 4 and all(x["method"] == "POST" and x["body"] == 3000 for x in r), r' "$E2E_TMP/sf_ok.log" ||
		fail "the POSTs did not reach the live endpoint once each, whole: $(cat "$E2E_TMP/sf_ok.log")"
	wait_until 5 "the access log" lines_at_least "$E2E_TMP/sf_gw.access" 8
	access_check sf_gw '
r = [l["tries"] for l in lines if l["route"] == "refused"]
assert len(r) == 4 and all([x["outcome"] for x in t] == ["SC", "200"] for t in r), r'
	# a reset after the head went to the client: nothing can go again
	out=$(curl -s --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:${E2E_PORT[sf_gw]}/mid" || true)
	[ "$out" = "200 10" ] || fail "reset mid-response: $out, not the head and 10 bytes"
	[ "$(requests sf_mid)" = 1 ] || fail "a response cut mid-body was retried: $(requests sf_mid) requests"
}

per_try() {
	local i out
	upstream pt_hang hang
	upstream pt_ok ok
	gateway pt_gw "{ \"app\": { \"endpoints\": [ $(ep pt_hang), $(ep pt_ok) ] } }" \
		'{ "name": "r", "filters": [ { "type": "retry", "attempts": 2, "per_try_timeout_ms": 200, "backoff": { "base_ms": 0 } } ],
		   "action": { "proxy": { "upstream": "app" } } }'
	for i in 1 2 3 4; do
		out=$(get "${E2E_PORT[pt_gw]}" /x)
		[ "$out" = "ok ${E2E_PORT[pt_ok]}
 200" ] || fail "request $i: $out"
	done
	# round robin: the retry takes the turn of the next request, which
	# starts on the hanging endpoint again
	[ "$(requests pt_hang)" = 4 ] || fail "the hanging endpoint saw $(requests pt_hang) requests, not 4"
	# the abandoned attempts' connections were closed, not kept
	wait_until 5 "the hung connections closed" eval '[ "$(grep -c "\"event\": \"closed\"" "$E2E_TMP/pt_hang.log")" = 4 ]'
	wait_until 5 "4 access log lines" lines_at_least "$E2E_TMP/pt_gw.access" 4
	access_check pt_gw '
cut = [l for l in lines if len(l["tries"]) == 2]
assert len(cut) == 4, [l["tries"] for l in lines]
for l in cut:
    assert l["tries"][0]["outcome"] == "sH" and l["tries"][0]["ms"] >= 200, l["tries"]
    assert l["tries"][1]["outcome"] == "200", l["tries"]'
}

deadline() {
	local out t0 t1
	upstream dl_hang hang
	upstream dl_echo echo
	gateway dl_gw "{ \"hang\": { \"endpoints\": [ $(ep dl_hang) ], \"timeouts\": { \"response_ms\": 60000 } },
	                 \"echo\": { \"endpoints\": [ $(ep dl_echo) ] } }" \
		'{ "name": "route", "match": { "path": { "prefix": "/route" } }, "action": { "proxy": { "upstream": "hang", "timeout_ms": 300 } } },
		 { "name": "hang", "match": { "path": { "prefix": "/hang" } }, "action": { "proxy": { "upstream": "hang" } } },
		 { "name": "cap", "match": { "path": { "prefix": "/cap" } }, "action": { "proxy": { "upstream": "echo", "timeout_ms": 0,
		   "deadline": { "client_max_ms": 1000, "headers": [ "x-timeout-ms" ] } } } },
		 { "name": "echo", "action": { "proxy": { "upstream": "echo", "timeout_ms": 2000,
		   "deadline": { "headers": [ "x-request-timeout", "x-envoy-expected-rq-timeout-ms" ] } } } }'
	# the route's deadline: 504, and the upstream holding the request sees
	# its connection closed after it came (never before: order of events)
	t0=$(now_ms)
	out=$(get "${E2E_PORT[dl_gw]}" /route)
	t1=$(now_ms)
	[ "$out" = '{"error":"deadline exceeded","status":504}
 504' ] || fail "the route's deadline: $out"
	[ $((t1 - t0)) -ge 300 ] || fail "504 after $((t1 - t0)) ms, before the 300 ms deadline"
	wait_until 5 "the abandoned attempt's connection closed" closed_seen dl_hang
	python3 -c 'import json, sys
e = [json.loads(l)["event"] for l in open(sys.argv[1])]
assert e == ["request", "closed"], e' "$E2E_TMP/dl_hang.log" || fail "events at the upstream: $(cat "$E2E_TMP/dl_hang.log")"
	# the client's, in each of its forms
	for h in 'X-Request-Timeout: 250' 'grpc-timeout: 250m' 'x-envoy-expected-rq-timeout-ms: 250'; do
		out=$(get "${E2E_PORT[dl_gw]}" /hang -H "$h")
		[ "${out: -3}" = 504 ] || fail "$h: $out"
	done
	[ "$(grep -c '"event": "closed"' "$E2E_TMP/dl_hang.log")" = 4 ] || wait_until 5 "4 closed connections" \
		eval '[ "$(grep -c "\"event\": \"closed\"" "$E2E_TMP/dl_hang.log")" = 4 ]'
	# gRPC: DEADLINE_EXCEEDED in grpc-status
	out=$(curl -s --noproxy '*' --max-time 10 -D - -o /dev/null -H 'Content-Type: application/grpc+proto' \
		-H 'grpc-timeout: 100m' "http://127.0.0.1:${E2E_PORT[dl_gw]}/hang" | tr -d '\r')
	grep -q '^HTTP/1.1 504' <<<"$out" && grep -q '^grpc-status: 4$' <<<"$out" || fail "a gRPC deadline: $out"
	# the client may only shorten the route's deadline; a malformed value
	# is ignored (logged), never an error; what the client sent is
	# replaced, one line per header
	out=$(get "${E2E_PORT[dl_gw]}" /e -H 'X-Request-Timeout: 800')
	python3 -c 'import json, sys
d = json.loads(sys.argv[1][:-4])
assert 0 < int(d["x-request-timeout"]) <= 800 and 0 < int(d["x-envoy-expected-rq-timeout-ms"]) <= 800, d
assert d["lines"] == 2, d' "$out" || fail "asked 800: $out"
	out=$(get "${E2E_PORT[dl_gw]}" /e -H 'X-Request-Timeout: 5000')
	python3 -c 'import json, sys
d = json.loads(sys.argv[1][:-4])
assert 0 < int(d["x-request-timeout"]) <= 2000, d' "$out" || fail "asked 5000 of a route of 2000: $out"
	out=$(get "${E2E_PORT[dl_gw]}" /e -H 'X-Request-Timeout: soon' -H 'grpc-timeout: 5 S')
	python3 -c 'import json, sys
d = json.loads(sys.argv[1][:-4])
assert 1000 < int(d["x-request-timeout"]) <= 2000 and "grpc-timeout" not in d, d' "$out" || fail "malformed asks: $out"
	# no route timeout: the client's, up to client_max_ms, in the route's
	# own header, which replaces the one the client sent
	out=$(get "${E2E_PORT[dl_gw]}" /cap -H 'X-Request-Timeout: 5000' -H 'X-Timeout-Ms: 999999')
	python3 -c 'import json, sys
d = json.loads(sys.argv[1][:-4])
assert 0 < int(d["x-timeout-ms"]) <= 1000 and d["lines"] == 1, d' "$out" || fail "asked 5000, capped at 1000: $out"
	wait_until 5 "the access log" lines_at_least "$E2E_TMP/dl_gw.access" 9
	[ "$(grep -c '"deadline_header":"ignored"' "$E2E_TMP/dl_gw.access")" = 1 ] || fail "the ignored header was not logged"
	access_check dl_gw '
d = [l for l in lines if l["status"] == 504]
assert len(d) == 5 and all(l["termination"] == "sH" and l["deadline_left_ms"] <= 0 for l in d), d'
	[ "$(metric dl_gw 'vkgw_upstream_deadline_expired_total{kernel="0",upstream="hang"}')" = 5 ] ||
		fail "deadline expiries: $(metric dl_gw deadline_expired)"
}

upload() {
	local out
	upstream ul_up ok
	upstream ul_hang hang
	gateway ul_gw "{ \"app\": { \"endpoints\": [ $(ep ul_up) ] }, \"hang\": { \"endpoints\": [ $(ep ul_hang) ] } }" \
		'{ "name": "clock", "match": { "path": { "prefix": "/hang" } }, "action": { "proxy": { "upstream": "hang", "timeout_ms": 300 } } },
		 { "name": "r", "action": { "proxy": { "upstream": "app", "timeout_ms": 300 } } }'
	# Half a body, then the rest only once the gateway itself shows that
	# more than the 300 ms deadline has passed (a request on another
	# connection, to a route with the same deadline, got its 504): the
	# upload outlasts the deadline, which counts from the end of the
	# request; the upload is the body timeouts' to bound.
	out=$(python3 - "${E2E_PORT[ul_gw]}" <<'PY'
import http.client, socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"p" * 50)
clock = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
clock.request("GET", "/hang")
assert clock.getresponse().status == 504
s.sendall(b"p" * 50)
print(s.recv(4096).split(b"\r\n", 1)[0].decode())
PY
	) || fail "the upload"
	[ "$out" = "HTTP/1.1 200 OK" ] || fail "an upload longer than its 300 ms deadline: $out"
	python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if "\"request\"" in l]
assert len(r) == 1 and r[0]["body"] == 100, r' "$E2E_TMP/ul_up.log" || fail "the upstream: $(cat "$E2E_TMP/ul_up.log")"
}

chain() {
	local out
	upstream ch_later retry-after:1
	upstream ch_echo echo
	gateway ch_second "{ \"app\": { \"endpoints\": [ $(ep ch_echo) ] } }" \
		'{ "name": "all", "action": { "proxy": { "upstream": "app" } } }'
	gateway ch_first "{ \"app\": { \"endpoints\": [ $(ep ch_later), $(ep ch_second) ] } }" \
		'{ "name": "all", "filters": [ { "type": "retry", "attempts": 2, "on_statuses": [ 503 ], "backoff": { "base_ms": 0 } } ],
		   "action": { "proxy": { "upstream": "app" } } }'
	# round robin: each request meets the 503 and its Retry-After first
	# (its retry took the other endpoint's turn), and waits a second
	# before the second gateway
	for h in 'X-Request-Timeout: 5000' 'X-Request-Timeout: 5000' 'grpc-timeout: 5S' 'grpc-timeout: 5S'; do
		out=$(get "${E2E_PORT[ch_first]}" /x -H "$h" -H "Content-Type: $([[ $h == grpc* ]] && echo application/grpc || echo text/plain)")
		[ "${out: -3}" = 200 ] || fail "$h through two gateways: $out"
	done
	[ "$(requests ch_later)" = 4 ] || fail "the Retry-After endpoint saw $(requests ch_later) requests, not 4"
	python3 -c 'import json, sys
r = [json.loads(l)["headers"] for l in open(sys.argv[1]) if "\"request\"" in l]
assert all(h[" timeout lines"] == 1 for h in r), r
ms = sorted(int(h["x-request-timeout"]) for h in r if "x-request-timeout" in h)
grpc = sorted(h["grpc-timeout"] for h in r if "grpc-timeout" in h)
assert len(ms) == 2 and len(grpc) == 2, r
# 5 s asked, 1 s and more spent in the first gateway
assert all(0 < v <= 4000 for v in ms), ms
assert all(v.endswith("m") and 0 < int(v[:-1]) <= 4000 for v in grpc), grpc' "$E2E_TMP/ch_echo.log" ||
		fail "what reached the last hop: $(cat "$E2E_TMP/ch_echo.log")"
}

# retry_after_pair NAME: an upstream answering its first request 503 with
# "Retry-After: 1", and a gateway retrying 503 once in front of it.
retry_after_pair() {
	upstream "$1_up" retry-after:1:1
	gateway "$1" "{ \"app\": { \"endpoints\": [ $(ep "$1_up") ] } }" \
		'{ "name": "r", "filters": [ { "type": "retry", "attempts": 2, "on_statuses": [ 503 ], "backoff": { "base_ms": 0 } } ],
		   "action": { "proxy": { "upstream": "app" } } }'
}

backoff() {
	local out
	# a Retry-After of 1 s within a deadline of 5 s: waited for
	retry_after_pair bo_in
	out=$(get "${E2E_PORT[bo_in]}" /x -H 'X-Request-Timeout: 5000')
	[ "${out: -3}" = 200 ] || fail "Retry-After within the deadline: $out"
	python3 -c 'import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1]) if "\"request\"" in l]
assert len(t) == 2 and t[1] - t[0] >= 1.0, t' "$E2E_TMP/bo_in_up.log" || fail "the retry came before the Retry-After: $(cat "$E2E_TMP/bo_in_up.log")"
	# past the deadline of 500 ms: not waited for, the 503 goes back
	retry_after_pair bo_past
	out=$(get "${E2E_PORT[bo_past]}" /x -H 'X-Request-Timeout: 500')
	[ "$out" = "later
 503" ] || fail "a Retry-After past the deadline: $out"
	[ "$(requests bo_past_up)" = 1 ] || fail "retried past the deadline: $(requests bo_past_up) requests"
	wait_until 5 "the access log" lines_at_least "$E2E_TMP/bo_past.access" 1
	grep -q '"retry_refused":"deadline"' "$E2E_TMP/bo_past.access" || fail "not logged: $(cat "$E2E_TMP/bo_past.access")"
}

budget() {
	local t0 seconds attempts
	upstream bu_a status:503
	upstream bu_b status:503
	gateway bu_gw "{ \"app\": { \"endpoints\": [ $(ep bu_a), $(ep bu_b) ] } }" \
		'{ "name": "r", "filters": [ { "type": "retry", "attempts": 3, "on_statuses": [ 503 ], "backoff": { "base_ms": 0 } } ],
		   "action": { "proxy": { "upstream": "app" } } }'
	# one request at a time: 20% of one request in flight is no retry, so
	# only the floor of 10 a second lets any through
	# the budget counts retries per second of CLOCK_MONOTONIC: so does
	# the client, which prints how many such seconds the requests spanned
	seconds=$(python3 - "${E2E_PORT[bu_gw]}" 60 <<'PY'
import http.client, math, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
t0 = time.monotonic()
for i in range(int(sys.argv[2])):
    c.request("GET", "/x")
    r = c.getresponse()
    r.read()
    assert r.status == 503, r.status
print(math.floor(time.monotonic()) - math.floor(t0) + 1)
PY
	) || fail "the requests"
	attempts=$(($(requests bu_a) + $(requests bu_b)))
	[ "$attempts" -ge 61 ] && [ "$attempts" -le $((60 + 10 * seconds)) ] ||
		fail "$attempts attempts for 60 requests over at most $seconds s: the budget allows 10 retries a second"
	[ "$(metric bu_gw 'vkgw_upstream_retry_budget_refused_total{kernel="0",upstream="app"}')" -gt 0 ] || fail "no refusal counted"
	[ "$(metric bu_gw 'vkgw_upstream_retries_total{kernel="0",upstream="app"}')" = $((attempts - 60)) ] ||
		fail "retries counted: $(metric bu_gw 'vkgw_upstream_retries_total')"
	wait_until 5 "60 access log lines" lines_at_least "$E2E_TMP/bu_gw.access" 60
	grep -q '"retry_refused":"budget"' "$E2E_TMP/bu_gw.access" || fail "no refusal in the access log"
	note "budget: $attempts attempts for 60 requests in $seconds s"
	stop_server bu_gw
	# the budget off: every request three times
	gateway bu_off "{ \"app\": { \"endpoints\": [ $(ep bu_a), $(ep bu_b) ], \"retry_budget\": { \"enabled\": false } } }" \
		'{ "name": "r", "filters": [ { "type": "retry", "attempts": 3, "on_statuses": [ 503 ], "backoff": { "base_ms": 0 } } ],
		   "action": { "proxy": { "upstream": "app" } } }'
	t0=$(($(requests bu_a) + $(requests bu_b)))
	for i in $(seq 1 10); do get "${E2E_PORT[bu_off]}" /x >/dev/null; done
	[ $(($(requests bu_a) + $(requests bu_b) - t0)) = 30 ] || fail "without the budget: $(($(requests bu_a) + $(requests bu_b) - t0)) attempts for 10 requests"
}

hedge() {
	local i out
	upstream hd_slow slow:5000
	upstream hd_ok ok
	upstream hd_a slow:1000
	upstream hd_b slow:1000
	gateway hd_gw "{ \"app\": { \"endpoints\": [ $(ep hd_slow), $(ep hd_ok) ] },
	                 \"both\": { \"endpoints\": [ $(ep hd_a), $(ep hd_b) ] } }" \
		'{ "name": "both", "match": { "path": { "prefix": "/both" } },
		   "filters": [ { "type": "retry", "hedge": { "delay_ms": 300 } } ], "action": { "proxy": { "upstream": "both" } } },
		 { "name": "app", "filters": [ { "type": "retry", "hedge": { "delay_ms": 100 } } ], "action": { "proxy": { "upstream": "app" } } }'
	# round robin starts each request on the slow endpoint (the hedge took
	# the other one's turn): the hedge answers, the slow one is cancelled
	for i in 1 2 3; do
		out=$(get "${E2E_PORT[hd_gw]}" /x)
		[ "$out" = "ok ${E2E_PORT[hd_ok]}
 200" ] || fail "hedged request $i: $out"
	done
	wait_until 5 "the slow attempts' connections closed" eval '[ "$(grep -c "\"event\": \"closed\"" "$E2E_TMP/hd_slow.log")" = 3 ]'
	python3 -c 'import json, sys
e = [json.loads(l)["event"] for l in open(sys.argv[1])]
assert e == ["request", "closed"] * 3, e' "$E2E_TMP/hd_slow.log" || fail "the slow endpoint: $(cat "$E2E_TMP/hd_slow.log")"
	wait_until 5 "3 access log lines" lines_at_least "$E2E_TMP/hd_gw.access" 3
	access_check hd_gw '
for l in lines:
    t = l["tries"]
    assert [x["outcome"] for x in t] == ["cancelled", "200"] and t[1].get("hedge") and t[0]["ms"] >= 100, t'
	[ "$(metric hd_gw 'vkgw_upstream_hedges_won_total{kernel="0",upstream="app"}')" = 3 ] ||
		fail "hedges won: $(metric hd_gw hedges_won)"
	# the first attempt answers (at 1 s) before the hedge started at 300 ms
	# would (at 1.3 s): it wins, the hedge is cancelled
	out=$(get "${E2E_PORT[hd_gw]}" /both)
	[ "${out: -3}" = 200 ] || fail "/both: $out"
	wait_until 5 "the hedge's connection closed" eval 'grep -q "\"event\": \"closed\"" "$E2E_TMP/hd_b.log" || grep -q "\"event\": \"closed\"" "$E2E_TMP/hd_a.log"'
	[ "$(($(requests hd_a) + $(requests hd_b)))" = 2 ] || fail "the race did not send the request twice"
	wait_until 5 "4 access log lines" lines_at_least "$E2E_TMP/hd_gw.access" 4
	access_check hd_gw '
t = lines[3]["tries"]
assert [x["outcome"] for x in t] == ["cancelled", "200"] and t[0].get("hedge") and not t[1].get("hedge"), t'
	[ "$(metric hd_gw 'vkgw_upstream_hedges_total{kernel="0",upstream="both"}')" = 1 ] &&
		[ "$(metric hd_gw 'vkgw_upstream_hedges_won_total{kernel="0",upstream="both"}')" = 0 ] ||
		fail "a hedge that lost: $(metric hd_gw hedges)"
	# a POST is not idempotent: never hedged
	out=$(get "${E2E_PORT[hd_gw]}" /both --data-binary 'x=1')
	[ "${out: -3}" = 200 ] || fail "POST: $out"
	[ "$(($(requests hd_a) + $(requests hd_b)))" = 3 ] || fail "a POST was hedged"
	# the loser is cancelled on every poll driver (two requests: at least
	# one starts on the slow endpoint)
	local driver
	for driver in epoll-oneshot poll aio uring; do
		VKGW_ARGS="-P $driver" gateway "hd_$driver" "{ \"app\": { \"endpoints\": [ $(ep hd_slow), $(ep hd_ok) ] } }" \
			'{ "name": "app", "filters": [ { "type": "retry", "hedge": { "delay_ms": 50 } } ], "action": { "proxy": { "upstream": "app" } } }'
		for i in 1 2; do
			out=$(get "${E2E_PORT[hd_$driver]}" /x)
			[ "$out" = "ok ${E2E_PORT[hd_ok]}
 200" ] || fail "$driver: request $i: $out"
		done
		[ "$(metric "hd_$driver" 'vkgw_upstream_hedges_won_total{kernel="0",upstream="app"}')" -ge 1 ] ||
			fail "$driver: no hedge won"
		stop_server "hd_$driver"
	done
	wait_until 5 "every slow attempt cancelled" eval '[ "$(grep -c "\"event\": \"closed\"" "$E2E_TMP/hd_slow.log")" = "$(requests hd_slow)" ]'
}

run_case "deadline: retries succeed within the deadline; every attempt in the access log" recover
run_case "deadline: connect failures retried, never on an endpoint already tried" exclude
run_case "deadline: a POST is not retried once sent, is when never sent or with an Idempotency-Key" safety
run_case "deadline: a hung attempt cut at the per-try timeout, its connection closed" per_try
run_case "deadline: 504 at the deadline, the attempt abandoned; client timeouts capped; gRPC status" deadline
run_case "deadline: a slow upload is the body timeouts' to bound: the deadline counts from its end" upload
run_case "deadline: the time left shrinks across two chained gateways" chain
run_case "deadline: Retry-After waited for when it fits the deadline, not otherwise" backoff
run_case "deadline: the retry budget caps attempts when every endpoint fails" budget
run_case "deadline: a hedge wins on a slow endpoint, the loser cancelled; a POST is never hedged" hedge
finish
