#!/usr/bin/env bash
# vkgw end to end: why a request ended is logged (the access log's
# "termination", two letters: cause then stage, gateway/gw_term.h), one
# code for each way it ends:
#
#   the route's own answer               --
#   upstream refuses the connect         SC  (502)
#   upstream times out (response_ms)     sH  (504)
#   a malformed request head             BR  (400)
#   the client aborts mid-body           CB
#   the client closes mid-head           CR
#
# And an answer of the gateway's own to a client that reads none of it is
# cut after body_idle_ms, like a relayed body.
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"
command -v python3 >/dev/null || fail "python3 is not installed"

LOG="$E2E_TMP/access.log"

# gateway NAME APP_PORT [ROUTE_JSON]: a gateway logging to $LOG.
gateway() {
	local name=$1 app=$2 extra=${3:-}
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "timeouts": { "header_ms": 5000, "body_idle_ms": 500, "keepalive_idle_ms": 5000 },
  "access_log": { "path": "$LOG" },
  "upstreams": {
    "app": { "endpoints": [ "127.0.0.1:$app" ], "timeouts": { "connect_ms": 1000, "response_ms": 300 } },
    "dead": { "endpoints": [ "127.0.0.1:1" ], "timeouts": { "connect_ms": 1000, "response_ms": 300 } }
  },
  "routes": [ $extra
    { "name": "direct", "match": { "path": { "exact": "/direct" } },
      "action": { "respond": { "status": 200, "body": "direct\n" } } },
    { "name": "dead", "match": { "path": { "prefix": "/refused" } }, "action": { "proxy": { "upstream": "dead" } } },
    { "name": "app", "action": { "proxy": { "upstream": "app" } } }
  ]
}
JSON
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -s
}

# raw PORT STEP...: s:TEXT sends TEXT (\r \n escapes), c closes at once;
# else the answer is read until the gateway closes (5 s at most).
raw() {
	python3 - "$@" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
for step in sys.argv[2:]:
    if step == "c":
        s.close()
        sys.exit(0)
    s.sendall(step[2:].encode().decode("unicode_escape").encode("latin-1"))
got = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
except OSError:
    pass
print(got.split(b"\r\n")[0].decode("latin-1"))
PY
}

log_lines() { [ -f "$LOG" ] && wc -l <"$LOG" || echo 0; }

has_lines() { [ "$(log_lines)" -ge "$1" ]; }

# The last line's "status" and "termination", as "STATUS TERM".
last_line() {
	tail -n 1 "$LOG" | python3 -c 'import json, sys; l = json.loads(sys.stdin.read()); print(l["status"], l["termination"])'
}

# One request, then its line: expect N "STATUS TERM" WHAT CMD...
expect() {
	local n=$1 want=$2 what=$3 got
	shift 3
	"$@" >/dev/null || true
	wait_until 5 "the access log's line for $what" has_lines "$n"
	got=$(last_line)
	[ "$got" = "$want" ] || fail "$what: logged '$got', expected '$want': $(tail -n 1 "$LOG")"
	note "  $what: $got"
}

each_ending_has_its_code() {
	local port
	rm -f "$LOG"
	start_server tc_up "$UPSTREAM" -p 0 -k 1
	gateway tc_gw "${E2E_PORT[tc_up]}"
	port=${E2E_PORT[tc_gw]}
	expect 1 "200 --" "the route's own answer" curl -s --max-time 5 "http://127.0.0.1:$port/direct"
	expect 2 "502 SC" "upstream refused" curl -s --max-time 5 "http://127.0.0.1:$port/refused"
	expect 3 "504 sH" "upstream timeout" curl -s --max-time 5 -H 'Host: a.test' "http://127.0.0.1:$port/stall"
	expect 4 "400 BR" "bad request" raw "$port" 's:GET /bad HTTP/1.1\r\nHost: a.test\r\nNo colon here\r\n\r\n'
	# The upstream has the head and 10 of 100 body bytes when the client
	# goes: the client's fault, whatever the upstream makes of it.
	expect 5 "400 CB" "client aborted mid-body" raw "$port" \
		's:POST /cksum HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\n0123456789' c
	expect 6 "0 CR" "client closed mid-head" raw "$port" 's:GET /half HTTP/1.1\r\nHost: a.t' c
	stop_server tc_gw
	stop_server tc_up
}

# 8 MiB of the route's own body to a client with a tiny receive buffer
# that reads none of it: the gateway's write stalls, and body_idle_ms
# (500) later the connection is gone, long before the client would have
# taken it all.
gateway_answer_to_a_slow_reader_is_cut() {
	local port body
	body=$(head -c 8388608 /dev/zero | tr '\0' 'b')
	gateway sr_gw 1 "{ \"name\": \"big\", \"match\": { \"path\": { \"exact\": \"/big\" } },
	  \"action\": { \"respond\": { \"status\": 200, \"body\": \"$body\" } } },"
	port=${E2E_PORT[sr_gw]}
	python3 - "$port" <<'PY' || fail "a client that reads nothing of a gateway answer was not cut"
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n")
t0 = time.monotonic()
# Wait for the gateway to give up: its side of the connection leaves
# ESTABLISHED (a FIN after what it queued, or a reset).
import subprocess
local = s.getsockname()[1]
while time.monotonic() - t0 < 6:
    out = subprocess.run(["ss", "-Htn", "state", "established", "( sport = :%s and dport = :%d )" % (sys.argv[1], local)],
                         capture_output=True, text=True).stdout
    if not out.strip():
        break
    time.sleep(0.02)  # polling the condition, not a fixed wait
else:
    sys.exit("the gateway still holds the connection after 6 s")
gone = time.monotonic() - t0
# What reached the client is short of the whole answer.
got = 0
s.settimeout(5)
try:
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        got += len(b)
except OSError:
    pass
assert got < 8388608, got
assert gone >= 0.5, gone
print("cut after %.0f ms, %d bytes received" % (gone * 1000, got), file=sys.stderr)
PY
	wait_until 5 "the access log's line for the slow reader" has_lines 1
	stop_server sr_gw
}

run_case "each ending of a request logs its own termination code" each_ending_has_its_code
rm -f "$LOG"
run_case "a gateway answer to a client that reads nothing is cut after body_idle_ms" \
	gateway_answer_to_a_slow_reader_is_cut
finish
