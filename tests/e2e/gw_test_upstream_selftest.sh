#!/usr/bin/env bash
# The gateway tests' upstream (tests/services/gw_test_upstream.c) checked on
# its own, with curl and bash /dev/tcp and no proxy in between, so that a
# gateway test failing later is the gateway's fault:
#  - /echo returns the request head byte for byte, then the body; a chunked
#    body comes back decoded, with X-Body-Was: chunked (small and large);
#  - /bytes, /bytes-chunked and /bytes-close send the documented stream
#    (checked against a Python rendering of it) for 0, 1 and 1 MiB bytes, in
#    their framings, and 1 GiB goes through whole (streamed: the service
#    holds no body in memory; the time bound only stops a hang);
#  - /cksum of a 5 MiB upload (Content-Length and chunked) equals cksum(1);
#    Expect: 100-continue is answered at once;
#  - /status, /close-mid-body, /reset, /stall, /slow, /whoami, /ws (RFC 6455
#    accept key, raw echo), /health (file and environment), 404;
#  - keep-alive, pipelining, HTTP/1.0, many parallel connections; SIGTERM
#    exits 0 after every case.
. "$(dirname "$0")/lib.sh"

SVC="$BUILD/tests/services/gw_test_upstream"
WS_GUID=258EAFA5-E914-47DA-95CA-C5AB0DC85B11
MIB=1048576
GIB=1073741824
UPLOAD_BYTES=$((5 * MIB))
SLOW_MS=200
PARALLEL=200
PARALLEL_REQUESTS=2000

need_bin "$SVC"
for tool in curl python3 cksum openssl base64; do
	command -v "$tool" >/dev/null || fail "$tool is not installed"
done

# Starts the upstream as server NAME (ARGS: more flags); PORT is its port.
# Every start has its own name: lib.sh tells servers apart by their files.
up() {
	UP=$1
	shift
	start_server "$UP" "$SVC" -p 0 -k 1 "$@"
	PORT=${E2E_PORT[$UP]}
}

down() { stop_server "$UP"; }

# curl to the upstream, never through a proxy, bounded in time.
hc() {
	curl -s --noproxy '*' --max-time 5 "$@"
}

url() { printf 'http://%s:%s%s' "$E2E_LOOPBACK" "$PORT" "$1"; }

# The first N bytes of the upstream's stream, computed here independently
# (see the comment at the top of gw_test_upstream.c).
stream() {
	python3 - "$1" <<'EOF'
import sys
M = (1 << 64) - 1
def word(k):
    z = ((k + 1) * 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
n = int(sys.argv[1])
sys.stdout.buffer.write(b"".join(word(k).to_bytes(8, "little") for k in range((n + 7) // 8))[:n])
EOF
}

# Head (through the blank line) or body of the HTTP response in FILE.
resp_part() {
	python3 - "$1" "$2" <<'EOF'
import sys
data = open(sys.argv[2], "rb").read()
end = data.find(b"\r\n\r\n")
if end < 0:
    sys.exit(1)
sys.stdout.buffer.write(data[: end + 4] if sys.argv[1] == "head" else data[end + 4 :])
EOF
}

# Value of header NAME in the response head file (empty if absent).
header_of() {
	tr -d '\r' <"$2" | sed -n "s/^$1: *//Ip" | head -n 1
}

# Sends the bytes of file REQ on a new connection, saves all that comes
# back until the server closes into OUT.
exchange() {
	local req=$1 out=$2 fd
	tcp_open fd "$PORT"
	cat "$req" >&"$fd"
	tcp_read_to_close "$fd" 5 >"$out" || fail "$(head -n 1 "$req" | tr -d '\r'): no close within 5 s"
	tcp_close "$fd"
}

expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

# ---- cases ----

echo_returns_exact_head() {
	local req=$E2E_TMP/echo.req out=$E2E_TMP/echo.out
	up echo-returns-exact-head
	{
		printf 'POST /echo?q=1 HTTP/1.1\r\nHost: test\r\nX-Odd-Case:   spaced  value \r\nx-lower: a:b\r\n'
		printf 'Content-Length: 11\r\nConnection: close\r\n\r\nhello world'
	} >"$req"
	exchange "$req" "$out"
	resp_part head "$out" >"$out.head" || fail "no response head: $(od -c "$out" | head -n 5)"
	expect_eq "status line" "$(head -n 1 "$out.head" | tr -d '\r')" "HTTP/1.1 200 OK"
	expect_eq "Content-Length" "$(header_of Content-Length "$out.head")" "$(stat -c %s "$req")"
	expect_eq "X-Upstream-Port" "$(header_of X-Upstream-Port "$out.head")" "$PORT"
	expect_eq "X-Body-Was" "$(header_of X-Body-Was "$out.head")" ""
	resp_part body "$out" | cmp -s - "$req" || fail "echo body differs from the request: $(resp_part body "$out" | od -c | head)"
	down
}

echo_decodes_chunked_body() {
	local req=$E2E_TMP/chunked.req out=$E2E_TMP/chunked.out big=$E2E_TMP/big
	up echo-decodes-chunked-body
	printf 'POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' >"$req.head"
	{
		cat "$req.head"
		printf '5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n'
	} >"$req"
	exchange "$req" "$out"
	resp_part head "$out" >"$out.head" || fail "no response head"
	expect_eq "X-Body-Was" "$(header_of X-Body-Was "$out.head")" "chunked"
	{
		cat "$req.head"
		printf 'hello, world'
	} >"$req.want"
	resp_part body "$out" | cmp -s - "$req.want" ||
		fail "decoded echo differs: $(resp_part body "$out" | od -c | tail -n 4)"

	# Larger than what /echo holds before answering: streamed, chunked.
	head -c 300000 /dev/urandom >"$big"
	hc -H 'Transfer-Encoding: chunked' --data-binary @"$big" -D "$out.head" -o "$out" "$(url /echo)" ||
		fail "curl chunked upload to /echo failed ($?)"
	expect_eq "Transfer-Encoding" "$(header_of Transfer-Encoding "$out.head")" "chunked"
	expect_eq "X-Body-Was" "$(header_of X-Body-Was "$out.head")" "chunked"
	tail -c 300000 "$out" | cmp -s - "$big" || fail "300000-byte chunked echo: body differs"
	down
}

# MODE N: size and checksum against the reference stream, and the framing.
check_bytes() {
	local mode=$1 n=$2 body=$E2E_TMP/bytes.body head=$E2E_TMP/bytes.head want got
	hc -D "$head" -o "$body" "$(url "/$mode/$n")" || fail "/$mode/$n: curl failed ($?)"
	expect_eq "/$mode/$n size" "$(stat -c %s "$body")" "$n"
	want=$(stream "$n" | cksum)
	got=$(cksum <"$body")
	expect_eq "/$mode/$n cksum" "$got" "$want"
	case $mode in
	bytes) expect_eq "/$mode/$n Content-Length" "$(header_of Content-Length "$head")" "$n" ;;
	bytes-chunked) expect_eq "/$mode/$n Transfer-Encoding" "$(header_of Transfer-Encoding "$head")" chunked ;;
	bytes-close)
		expect_eq "/$mode/$n Content-Length" "$(header_of Content-Length "$head")" ""
		expect_eq "/$mode/$n Connection" "$(header_of Connection "$head")" close
		;;
	esac
}

bytes_match_reference_stream() {
	local mode n raw
	up bytes-match-reference-stream
	for mode in bytes bytes-chunked bytes-close; do
		for n in 0 1 "$MIB"; do
			check_bytes "$mode" "$n"
		done
	done
	# Chunk sizes vary: a MiB takes many chunks (framing bytes on the wire).
	raw=$(hc --raw "$(url "/bytes-chunked/$MIB")" | wc -c)
	[ "$raw" -gt $((MIB + 100)) ] || fail "/bytes-chunked/$MIB: only $raw bytes raw, expected many chunks"
	expect_eq "/bytes/x" "$(hc -o /dev/null -w '%{http_code}' "$(url /bytes/x)")" 400
	expect_eq "/bytes/2^40+1" "$(hc -o /dev/null -w '%{http_code}' "$(url /bytes/1099511627777)")" 400
	down
}

gib_goes_through_whole() {
	local t0 mode got
	up gib-goes-through-whole
	for mode in bytes bytes-chunked; do
		t0=$(now_ms)
		# 60 s: a sanitizer build on a loaded machine takes over 15.
		got=$(hc --max-time 60 -o /dev/null -w '%{size_download}' "$(url "/$mode/$GIB")") ||
			fail "/$mode/$GIB: curl failed ($?)"
		expect_eq "/$mode/$GIB size" "$got" "$GIB"
		note "/$mode/1GiB in $(($(now_ms) - t0)) ms"
	done
	down
}

cksum_equals_posix_cksum() {
	local file=$E2E_TMP/upload empty=$E2E_TMP/empty want t0
	up cksum-equals-posix-cksum
	head -c "$UPLOAD_BYTES" /dev/urandom >"$file"
	: >"$empty"
	want=$(cksum <"$file")
	expect_eq "/cksum (Content-Length)" "$(hc -H 'Expect:' --data-binary @"$file" "$(url /cksum)")" "$want"
	expect_eq "/cksum (chunked)" \
		"$(hc -H 'Transfer-Encoding: chunked' --data-binary @"$file" "$(url /cksum)")" "$want"
	expect_eq "/cksum (empty)" "$(hc --data-binary @"$empty" "$(url /cksum)")" "$(cksum <"$empty")"
	# curl waits up to 1 s for "100 Continue" before sending the body.
	t0=$(now_ms)
	expect_eq "/cksum (Expect: 100-continue)" \
		"$(hc -H 'Expect: 100-continue' --data-binary @"$file" "$(url /cksum)")" "$want"
	[ $(($(now_ms) - t0)) -lt 900 ] || fail "Expect: 100-continue took $(($(now_ms) - t0)) ms: no 100 Continue?"
	down
}

status_codes() {
	local out=$E2E_TMP/status
	up status-codes
	expect_eq "/status/503 code" "$(hc -o "$out" -w '%{http_code}' "$(url /status/503)")" 503
	expect_eq "/status/503 body" "$(cat "$out")" "status 503"
	expect_eq "/status/204 code" "$(hc -o "$out" -w '%{http_code}' "$(url /status/204)")" 204
	[ ! -s "$out" ] || fail "/status/204 has a body"
	expect_eq "/status/103 (then 200)" "$(hc -o "$out" -w '%{http_code}' "$(url /status/103)")" 200
	expect_eq "/status/99" "$(hc -o /dev/null -w '%{http_code}' "$(url /status/99)")" 400
	expect_eq "/nowhere" "$(hc -o /dev/null -w '%{http_code}' "$(url /nowhere)")" 404
	down
}

broken_responses() {
	local rc got t0
	up broken-responses
	rc=0
	got=$(hc "$(url /close-mid-body)" | wc -c) || true
	hc -o /dev/null "$(url /close-mid-body)" || rc=$?
	expect_eq "/close-mid-body curl status (18: partial)" "$rc" 18
	expect_eq "/close-mid-body bytes" "$got" 10

	rc=0
	hc -o /dev/null "$(url /reset)" || rc=$?
	[ "$rc" = 56 ] || [ "$rc" = 52 ] || fail "/reset: curl status $rc, expected 56 (reset) or 52 (empty)"

	rc=0
	t0=$(now_ms)
	hc --max-time 1 -o /dev/null "$(url /stall)" || rc=$?
	expect_eq "/stall curl status (28: timed out)" "$rc" 28
	[ $(($(now_ms) - t0)) -ge 1000 ] || fail "/stall ended after $(($(now_ms) - t0)) ms"
	down
}

slow_and_whoami() {
	local ms
	up slow-and-whoami
	ms=$(hc -o /dev/null -w '%{time_total}' "$(url "/slow/$SLOW_MS")")
	ms=$(awk -v t="$ms" 'BEGIN { printf "%d", t * 1000 }')
	[ "$ms" -ge "$SLOW_MS" ] || fail "/slow/$SLOW_MS answered after $ms ms"
	note "/slow/$SLOW_MS answered after $ms ms"
	expect_eq "/whoami" "$(hc "$(url /whoami)")" "$PORT"
	down
	# Every kernel knows the port it listens on.
	up slow-and-whoami2 -k 2
	expect_eq "/whoami on 2 kernels" "$(hc "$(url /whoami)")" "$PORT"
	down
}

# KEY: the handshake must answer 101 with base64(SHA-1(KEY GUID)); WANT
# (if given) is that value, from elsewhere.
ws_handshake() {
	local key=$1 want=${2:-} fd line status='' accept='' echoed
	[ -n "$want" ] || want=$(printf '%s%s' "$key" "$WS_GUID" | openssl sha1 -binary | base64)
	tcp_open fd "$PORT"
	{
		printf 'GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n'
		printf 'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n' "$key"
	} >&"$fd"
	while IFS= read -r -t 5 -u "$fd" line; do
		line=${line%$'\r'}
		[ -n "$line" ] || break
		[ -n "$status" ] || status=$line
		case ${line,,} in sec-websocket-accept:*) accept=${line#*: } ;; esac
	done
	expect_eq "/ws status" "$status" "HTTP/1.1 101 Switching Protocols"
	expect_eq "Sec-WebSocket-Accept for $key" "$accept" "$want"
	printf 'raw\x01bytes\xff' >&"$fd"
	echoed=$(timeout 5 head -c 10 <&"$fd" | od -An -tx1 | tr -d ' \n')
	expect_eq "/ws echo" "$echoed" "$(printf 'raw\x01bytes\xff' | od -An -tx1 | tr -d ' \n')"
	tcp_close "$fd"
}

websocket() {
	up websocket
	# The example of RFC 6455 section 1.3, then a random key.
	ws_handshake dGhlIHNhbXBsZSBub25jZQ== s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
	ws_handshake "$(head -c 16 /dev/urandom | base64)"
	expect_eq "/ws without Upgrade" "$(hc -o /dev/null -w '%{http_code}' "$(url /ws)")" 400
	down
}

health_flips() {
	local file=$E2E_TMP/health
	TEST_UPSTREAM_HEALTH_FILE=$file up health-flips
	expect_eq "/health, no file" "$(hc -w ' %{http_code}' "$(url /health)")" "ok
 200"
	echo down >"$file"
	expect_eq "/health, file says down" "$(hc -w ' %{http_code}' "$(url /health)")" "down
 503"
	echo up >"$file"
	expect_eq "/health, file says up" "$(hc -o /dev/null -w '%{http_code}' "$(url /health)")" 200
	down
	TEST_UPSTREAM_UNHEALTHY=1 up health-flips2
	expect_eq "/health, TEST_UPSTREAM_UNHEALTHY=1" "$(hc -o /dev/null -w '%{http_code}' "$(url /health)")" 503
	down
}

keep_alive_pipelining_http10() {
	local req=$E2E_TMP/pipe.req out=$E2E_TMP/pipe.out
	up keep-alive-pipelining-http10
	{
		printf 'GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n'
		printf 'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz'
		printf 'GET /status/201 HTTP/1.1\r\nHost: t\r\n\r\n'
		printf 'GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
	} >"$req"
	exchange "$req" "$out"
	# The echo's body runs into the next status line: match anywhere.
	expect_eq "pipelined statuses" "$(grep -ao 'HTTP/1\.1 [0-9][0-9][0-9]' "$out" | cut -d' ' -f2 | tr '\n' ' ')" \
		"200 200 201 200 "
	expect_eq "X-Upstream-Port on each" "$(grep -ac "^X-Upstream-Port: $PORT" "$out")" 4
	grep -aq '^xyzHTTP/1.1 201' "$out" || fail "echo body not followed by the next response"

	printf 'GET /whoami HTTP/1.0\r\n\r\n' >"$req"
	exchange "$req" "$out"
	expect_eq "HTTP/1.0 Connection" "$(resp_part head "$out" >"$out.head" && header_of Connection "$out.head")" close
	expect_eq "HTTP/1.0 body" "$(resp_part body "$out")" "$PORT"
	down
}

many_parallel_connections() {
	local cfg=$E2E_TMP/parallel.cfg got i
	up many-parallel-connections -k 2
	for ((i = 0; i < PARALLEL_REQUESTS; i++)); do
		printf 'url = "%s"\noutput = /dev/null\n' "$(url "/bytes/$((i % 7 * 1000))")"
	done >"$cfg"
	got=$(curl -s --noproxy '*' --max-time 10 -Z --parallel-max "$PARALLEL" -K "$cfg" -w '%{http_code}\n' 2>"$cfg.err" |
		sort | uniq -c | awk '{ print $2 "x" $1 }')
	expect_eq "$PARALLEL_REQUESTS requests over $PARALLEL connections" "$got" "200x$PARALLEL_REQUESTS"
	down
}

run_case "/echo returns the request head byte for byte" echo_returns_exact_head
run_case "/echo decodes chunked bodies (small, and streamed large)" echo_decodes_chunked_body
run_case "/bytes, /bytes-chunked, /bytes-close: 0, 1, 1 MiB match the stream" bytes_match_reference_stream
run_case "1 GiB of /bytes and /bytes-chunked" gib_goes_through_whole
run_case "/cksum of 5 MiB (length, chunked, 100-continue) and empty = cksum(1)" cksum_equals_posix_cksum
run_case "/status/NNN, 404" status_codes
run_case "/close-mid-body short, /reset resets, /stall stalls" broken_responses
run_case "/slow/$SLOW_MS waits, /whoami is the port (1 and 2 kernels)" slow_and_whoami
run_case "/ws: RFC 6455 accept key, raw echo" websocket
run_case "/health follows the health file and the environment" health_flips
run_case "keep-alive, pipelining, HTTP/1.0" keep_alive_pipelining_http10
run_case "$PARALLEL parallel connections, $PARALLEL_REQUESTS requests, 2 kernels" many_parallel_connections
finish
