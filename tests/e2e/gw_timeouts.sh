#!/usr/bin/env bash
# vkgw end to end: every timeout maps to its status, answered with a JSON
# body {"error":...,"status":N}, and the connection is closed.
#
#   header_ms         a slowloris head (one header line every 300 ms) -> 408
#   body_idle_ms      Content-Length 100, only 10 bytes sent           -> 408
#                     (and a body that keeps trickling in stays alive)
#   keepalive_idle_ms an idle connection is closed, without a byte
#   connect_ms        an upstream whose accept backlog is full          -> 504
#                     (its SYNs are dropped); a refused connect         -> 502
#   response_ms       /stall                                            -> 504
#   upstream reset    /reset (dies before its response head)            -> 502
#
# Elapsed times are measured by a small Python client from its connect and
# must lie in [timeout, timeout + 700 ms).
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"
command -v python3 >/dev/null || fail "python3 is not installed"

SLACK_MS=700

# ---- a scripted raw client ----
#
#   client.py PORT LIMIT_S OUT STEP...
#   STEP: s:TEXT  send TEXT (\r, \n and \xNN escapes)
#         w:MS    wait MS milliseconds
# A reader thread takes everything the server sends until it closes (EOF
# or reset). Sending stops once the server has closed (or a send fails).
# Prints "FIRST_MS CLOSE_MS BYTES": from the connect to the first byte
# received and to the close; -1 for what never happened within LIMIT_S.
# What was received goes to OUT.
cat >"$E2E_TMP/client.py" <<'PY'
import socket, sys, threading, time

port, limit, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
steps = sys.argv[4:]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.settimeout(None)
t0 = time.monotonic()
got = bytearray()
first = [None]
closed = [None]
done = threading.Event()

def reader():
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            if first[0] is None:
                first[0] = time.monotonic()
            got.extend(b)
    except OSError:
        pass
    closed[0] = time.monotonic()
    done.set()

threading.Thread(target=reader, daemon=True).start()
for step in steps:
    kind, arg = step[0], step[2:]
    if done.is_set():
        break
    if kind == "s":
        try:
            s.sendall(arg.encode("latin-1").decode("unicode_escape").encode("latin-1"))
        except OSError:
            break
    elif kind == "w":
        done.wait(int(arg) / 1000.0)
done.wait(max(0.0, t0 + limit - time.monotonic()))
ms = lambda t: -1 if t is None else int((t - t0) * 1000)
with open(out, "wb") as f:
    f.write(got)
print(ms(first[0]), ms(closed[0]), len(got))
PY

# client PORT LIMIT_S STEP...: sets FIRST_MS and CLOSE_MS; the bytes
# received are in $E2E_TMP/resp.
client() {
	local port=$1 limit=$2 line
	shift 2
	line=$(timeout $((${limit%.*} + 5)) python3 "$E2E_TMP/client.py" "$port" "$limit" "$E2E_TMP/resp" "$@") ||
		fail "client script failed (port $port)"
	read -r FIRST_MS CLOSE_MS _ <<<"$line"
}

resp() { cat "$E2E_TMP/resp"; }

# The answer received is exactly one error response with STATUS, its JSON
# body {"error":"...","status":STATUS} (and MESSAGE in it, if given), and
# the connection was closed right after it.
expect_error_and_close() {
	local status=$1 message=${2:-} r body
	r=$(resp)
	[ "$CLOSE_MS" -ge 0 ] || fail "connection still open after the $status answer; received: $r"
	[ "$FIRST_MS" -ge 0 ] || fail "expected $status, the connection closed without an answer after $CLOSE_MS ms"
	grep -q "^HTTP/1.1 $status " <<<"$r" || fail "expected $status, got: $r"
	[ "$(grep -c '^HTTP/1' <<<"$r")" = 1 ] || fail "more than one response: $r"
	grep -qi '^Connection: close' <<<"$r" || fail "no 'Connection: close' in: $r"
	grep -qi '^Content-Type: application/json' <<<"$r" || fail "not JSON: $r"
	body=${r#*$'\r\n\r\n'} # $(...) took the final newline
	re='^\{"error":"[^"]+","status":'$status'\}$'
	[[ $body =~ $re ]] || fail "body is not {\"error\":...,\"status\":$status}: '$body'"
	[ -z "$message" ] || grep -qF "$message" <<<"$body" || fail "body does not say '$message': $body"
	[ $((CLOSE_MS - FIRST_MS)) -lt 200 ] ||
		fail "closed $((CLOSE_MS - FIRST_MS)) ms after the $status answer, not at once"
}

# The answer came within [LOW, LOW + SLACK_MS) of the connect.
expect_answer_between() {
	local low=$1 high=$(($1 + SLACK_MS)) what=$2
	[ "$FIRST_MS" -ge "$low" ] || fail "$what: answered after $FIRST_MS ms, before the $low ms timeout"
	[ "$FIRST_MS" -lt "$high" ] || fail "$what: answered after $FIRST_MS ms, expected < $high ms"
	note "  $what: answered after $FIRST_MS ms"
}

# gateway NAME UPSTREAM_ENDPOINTS_JSON [TIMEOUTS_JSON] [UPSTREAM_TIMEOUTS_JSON]
gateway() {
	local name=$1 eps=$2
	local timeouts=${3:-'"header_ms": 5000, "body_idle_ms": 5000, "keepalive_idle_ms": 5000'}
	local up_timeouts=${4:-'"connect_ms": 1000, "response_ms": 5000'}
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "timeouts": { $timeouts },
  "upstreams": { "app": { "endpoints": [ $eps ], "timeouts": { $up_timeouts } } },
  "routes": [
    { "name": "direct", "match": { "path": { "exact": "/direct" } },
      "action": { "respond": { "status": 200, "body": "direct\n" } } },
    { "name": "app", "action": { "proxy": { "upstream": "app" } } }
  ]
}
JSON
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -s
}

# ---- cases ----

header_timeout_stops_slowloris() {
	local port steps=(s:'GET /whoami HTTP/1.1\r\nHost: a.test\r\n') i
	for i in $(seq 1 12); do
		steps+=(w:300 s:"X-Slow-$i: $i\\r\\n")
	done
	gateway hd_gw '"127.0.0.1:1"' '"header_ms": 1000, "body_idle_ms": 5000, "keepalive_idle_ms": 5000'
	port=${E2E_PORT[hd_gw]}
	client "$port" 6 "${steps[@]}"
	expect_error_and_close 408 "request head not received in time"
	expect_answer_between 1000 "header_ms 1000 under a slowloris head"
	stop_server hd_gw
}

body_idle_timeout() {
	local port
	start_server bd_up "$UPSTREAM" -p 0 -k 1
	gateway bd_gw "\"127.0.0.1:${E2E_PORT[bd_up]}\"" '"header_ms": 5000, "body_idle_ms": 500, "keepalive_idle_ms": 5000'
	port=${E2E_PORT[bd_gw]}
	client "$port" 4 s:'POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\n0123456789'
	expect_error_and_close 408 "request body stalled"
	expect_answer_between 500 "body_idle_ms 500 after 10 of 100 body bytes"
	stop_server bd_gw
	stop_server bd_up
}

# docs/config.md: body_idle_ms is the "longest silence inside a request
# body", not a limit on the whole body: 100 bytes sent 10 at a time every
# 150 ms (1.35 s in all, no silence over 150 ms) must get through with
# body_idle_ms 500.
body_idle_is_silence_not_total() {
	local port steps=(s:'POST /cksum HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\nContent-Length: 100\r\n\r\n') i r want
	for i in $(seq 1 10); do
		steps+=(w:150 s:'0123456789')
	done
	start_server bt_up "$UPSTREAM" -p 0 -k 1
	gateway bt_gw "\"127.0.0.1:${E2E_PORT[bt_up]}\"" '"header_ms": 5000, "body_idle_ms": 500, "keepalive_idle_ms": 5000'
	port=${E2E_PORT[bt_gw]}
	client "$port" 3 "${steps[@]}"
	r=$(resp)
	want=$(for i in $(seq 1 10); do printf 0123456789; done | cksum)
	grep -q '^HTTP/1.1 200 ' <<<"$r" ||
		fail "a body trickling in (10 bytes every 150 ms, body_idle_ms 500) was cut: answer after $FIRST_MS ms: $r"
	grep -qF "$want" <<<"$r" || fail "body not received whole (want cksum '$want'): $r"
	stop_server bt_gw
	stop_server bt_up
}

keepalive_idle_timeout() {
	local port r n
	start_server ka_up "$UPSTREAM" -p 0 -k 1
	gateway ka_gw "\"127.0.0.1:${E2E_PORT[ka_up]}\"" '"header_ms": 5000, "body_idle_ms": 5000, "keepalive_idle_ms": 500'
	port=${E2E_PORT[ka_gw]}
	client "$port" 4 s:'GET /whoami HTTP/1.1\r\nHost: a.test\r\n\r\n'
	r=$(resp)
	grep -q '^HTTP/1.1 200 ' <<<"$r" || fail "first request: $r"
	n=$(grep -c '^HTTP/1' <<<"$r" || true)
	[ "$n" = 1 ] || fail "expected one response then a silent close, got $n responses: $r"
	grep -q "^${E2E_PORT[ka_up]}\$" <<<"$r" || fail "not the upstream's answer: $r"
	# Nothing after the answer: the body is the port and its newline.
	[[ ${r#*$'\r\n\r\n'} == "${E2E_PORT[ka_up]}" ]] || fail "bytes after the response: $r"
	[ "$CLOSE_MS" -ge 0 ] || fail "idle connection not closed within 4 s (keepalive_idle_ms 500)"
	# The lower bound counts from the connect: the gateway's idle clock
	# starts when it has written the answer, which the client reads a
	# little later (FIRST_MS), so "500 after FIRST_MS" failed at 498 on
	# a loaded machine with nothing wrong.
	[ "$CLOSE_MS" -ge 500 ] ||
		fail "closed $CLOSE_MS ms after the connect ($((CLOSE_MS - FIRST_MS)) after the response), before keepalive_idle_ms 500"
	[ $((CLOSE_MS - FIRST_MS)) -lt $((500 + SLACK_MS)) ] ||
		fail "closed $((CLOSE_MS - FIRST_MS)) ms after the response, expected < $((500 + SLACK_MS))"
	note "  keepalive_idle_ms 500: closed $((CLOSE_MS - FIRST_MS)) ms after the response"
	stop_server ka_gw
	stop_server ka_up
}

# The header timer starts at the accept: a connection that never sends a
# byte is closed after header_ms, without a byte, not after the (long)
# keep-alive idle time.
header_timeout_from_accept() {
	local port
	gateway sl_gw '"127.0.0.1:1"' '"header_ms": 500, "body_idle_ms": 5000, "keepalive_idle_ms": 30000'
	port=${E2E_PORT[sl_gw]}
	client "$port" 4
	[ "$CLOSE_MS" -ge 0 ] ||
		fail "a silent connection is still open after 4 s (header_ms 500, keepalive_idle_ms 30000)"
	[ "$FIRST_MS" = -1 ] || fail "a silent connection got an answer: $(resp)"
	[ "$CLOSE_MS" -ge 500 ] || fail "a silent connection was closed after $CLOSE_MS ms, before header_ms 500"
	[ "$CLOSE_MS" -lt $((500 + SLACK_MS)) ] ||
		fail "a silent connection was closed after $CLOSE_MS ms, expected < $((500 + SLACK_MS))"
	note "  header_ms 500: a silent connection closed after $CLOSE_MS ms"
	stop_server sl_gw
}

# A listener with listen(0) whose one accept-queue slot is taken by a
# connection nobody accepts: Linux then drops every further SYN, so a
# connect neither completes nor is refused. It checks that itself (a probe
# connect must time out) and says so on stderr before "listening on".
cat >"$E2E_TMP/blackhole.py" <<'PY'
import select, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(2):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    fill.append(c)
# The first connect takes the one queue slot once its handshake is done.
if not select.select([], [fill[0]], [], 5)[1]:
    print("probe: the first connect did not complete", file=sys.stderr, flush=True)
probe = socket.socket()
probe.settimeout(0.3)
try:
    probe.connect(("127.0.0.1", port))
    print("probe: connected", file=sys.stderr, flush=True)
except socket.timeout:
    print("probe: timed out", file=sys.stderr, flush=True)
except OSError as e:
    print("probe: %s" % e, file=sys.stderr, flush=True)
print("listening on 127.0.0.1:%d" % port, flush=True)
while True:
    signal.pause()
PY

upstream_connect_timeout() {
	local port
	start_server ct_hole python3 "$E2E_TMP/blackhole.py"
	# The kernel completes (or refuses) connects even with a full backlog:
	# no connect timeout can be provoked on loopback here.
	grep -q '^probe: timed out' "$(server_err_file ct_hole)" ||
		skip "a full backlog does not hold connects here ($(head -n1 "$(server_err_file ct_hole)")): no connect timeout to provoke"
	# response_ms is long: a connect that completed after all would end
	# as a 504 only after 5 s, and with another message.
	gateway ct_gw "\"127.0.0.1:${E2E_PORT[ct_hole]}\"" "" '"connect_ms": 300, "response_ms": 5000'
	port=${E2E_PORT[ct_gw]}
	client "$port" 4 s:'GET /whoami HTTP/1.1\r\nHost: a.test\r\n\r\n'
	expect_error_and_close 504 "upstream connect timed out"
	expect_answer_between 300 "connect_ms 300 to an upstream dropping SYNs"
	stop_server ct_gw
	stop_server ct_hole
}

upstream_connect_refused() {
	gateway cr_gw "\"127.0.0.1:$(free_port)\"" "" '"connect_ms": 300, "response_ms": 5000'
	client "${E2E_PORT[cr_gw]}" 3 s:'GET /whoami HTTP/1.1\r\nHost: a.test\r\n\r\n'
	expect_error_and_close 502 "upstream connect failed"
	[ "$FIRST_MS" -lt 300 ] || fail "a refused connect answered after $FIRST_MS ms, not at once"
	stop_server cr_gw
}

upstream_response_timeout() {
	local port
	start_server rt_up "$UPSTREAM" -p 0 -k 1
	gateway rt_gw "\"127.0.0.1:${E2E_PORT[rt_up]}\"" "" '"connect_ms": 1000, "response_ms": 500'
	port=${E2E_PORT[rt_gw]}
	client "$port" 4 s:'GET /stall HTTP/1.1\r\nHost: a.test\r\n\r\n'
	expect_error_and_close 504 "upstream response timed out"
	expect_answer_between 500 "response_ms 500 on /stall"
	stop_server rt_gw
	stop_server rt_up
}

upstream_reset_before_head() {
	local port
	start_server rs_up "$UPSTREAM" -p 0 -k 1
	gateway rs_gw "\"127.0.0.1:${E2E_PORT[rs_up]}\"" "" '"connect_ms": 1000, "response_ms": 3000'
	port=${E2E_PORT[rs_gw]}
	client "$port" 4 s:'GET /reset HTTP/1.1\r\nHost: a.test\r\n\r\n'
	expect_error_and_close 502 "upstream sent no valid response"
	[ "$FIRST_MS" -lt 1000 ] || fail "a reset upstream answered after $FIRST_MS ms, not at once"
	stop_server rs_gw
	stop_server rs_up
}

run_case "header_ms 1000 under a slowloris head (a line every 300 ms) -> 408 at ~1 s, closed" \
	header_timeout_stops_slowloris
run_case "header_ms 500 starts at the accept: a silent connection is closed at ~500 ms, no bytes" \
	header_timeout_from_accept
run_case "body_idle_ms 500, 10 of 100 body bytes -> 408 at ~500 ms, closed" body_idle_timeout
run_case "body_idle_ms 500 is a silence limit: a body trickling in for 1.35 s gets through" \
	body_idle_is_silence_not_total
run_case "keepalive_idle_ms 500: idle connection closed at ~500 ms, no bytes" keepalive_idle_timeout
run_case "connect_ms 300 to an upstream dropping SYNs (full backlog) -> 504 at ~300 ms, closed" \
	upstream_connect_timeout
run_case "connect refused -> 502 at once, closed" upstream_connect_refused
run_case "response_ms 500 on /stall -> 504 at ~500 ms, closed" upstream_response_timeout
run_case "upstream resets before its response head (/reset) -> 502, closed" upstream_reset_before_head
finish
