#!/usr/bin/env bash
# Signals on vk_hello:
#  - SIGTERM on an idle server exits 0 fast: 5 fresh servers per driver and
#    kernel count (-k 1, -k 2), median kill-to-exit time < 500 ms;
#  - SIGTERM with an idle keep-alive connection open: the connection is
#    closed on drain, exit 0, median < 500 ms over 5 runs;
#  - SIGTERM with a request head half sent (-g 1000): the server waits for
#    it until the grace period ends, then exits 0; completed inside the
#    grace period, the request is answered and the server exits at once;
#  - SIGPIPE does not kill the server: client resets while it writes, and
#    SIGPIPE sent to every server process outright.
. "$(dirname "$0")/lib.sh"

DRIVERS=(epoll epoll-oneshot poll aio uring)
RUNS=5
# An exit on the signal itself takes a few ms; one that waits for a poll
# timeout or the grace period (10 s by default) takes a second or more.
# The bound tells the two apart with room for a loaded machine: it is not
# a speed measure (aio once took 109 ms with other suites running).
IDLE_MAX_MS=500
GRACE_MS=1000
REQ=$'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
HEAD_PART=$'GET / HTTP/1.1\r\nHost: x\r\n'

need_bin "$BUILD/vk_hello"
need_bin "$BUILD/tests/e2e/http_close_flood"
command -v curl >/dev/null || fail "curl is not installed"
command -v pgrep >/dev/null || fail "pgrep (procps) is not installed"

expect_hello() {
	local body
	body=$(http_get "$1") || fail "$2: curl failed (status $?); stderr:$(server_stderr "$3")"
	[ "$body" = "Hello, world" ] || fail "$2: curl got $(printf '%q' "$body")"
}

# Reads one "Hello, world" response from fd (head, then the 13-byte body).
read_hello() {
	local fd=$1 line body
	IFS= read -r -t 5 -u "$fd" line || fail "no response within 5 s"
	[[ $line == "HTTP/1.1 200 "* ]] || fail "status line $(printf '%q' "$line")"
	while IFS= read -r -t 5 -u "$fd" line; do
		[ "$line" != $'\r' ] || break
	done
	[ "$line" = $'\r' ] || fail "response head not complete within 5 s"
	IFS= read -r -t 5 -N 13 -u "$fd" body || fail "response body not complete within 5 s"
	[ "$body" = $'Hello, world\n' ] || fail "body $(printf '%q' "$body")"
}

# The peer must have closed fd with nothing more to say.
expect_closed() {
	local fd=$1 what=$2 rc=0 extra=
	IFS= read -r -t 2 -N 1 -u "$fd" extra || rc=$?
	[ "$rc" -le 128 ] || fail "$what: connection still open"
	[ -z "$extra" ] || fail "$what: unexpected bytes $(printf '%q' "$extra")"
}

# True once the one established connection to PORT has had its bytes
# received by the server's TCP (client side: nothing unacked) and read by
# the server (server side: empty receive queue); /proc/net/tcp, in hex.
consumed() {
	awk -v p="$(printf '%04X' "$1")" -v lo=0100007F '
		$4 == "01" && split($2, l, ":") && split($3, r, ":") && split($5, q, ":") {
			if (l[1] == lo && l[2] == p) { srv++; if (q[2] != "00000000") busy = 1 }
			if (r[1] == lo && r[2] == p) { cli++; if (q[1] != "00000000") busy = 1 }
		}
		END { exit !(srv == 1 && cli == 1 && !busy) }' /proc/net/tcp
}

# Median of RUNS kill-to-exit times, each on a fresh server that has just
# answered a request.
idle_term() {
	local drv=$1 k=$2 times=() i name med
	for ((i = 1; i <= RUNS; i++)); do
		name="idle-$drv-k$k-$i"
		start_server "$name" "$BUILD/vk_hello" -p 0 -k "$k" -P "$drv"
		expect_hello "${E2E_PORT[$name]}" "$name" "$name"
		stop_server "$name"
		times+=("$E2E_ELAPSED_MS")
	done
	med=$(median "${times[@]}")
	note "$drv -k $k idle: SIGTERM to exit ms: ${times[*]} (median $med)"
	[ "$med" -lt "$IDLE_MAX_MS" ] || fail "$drv -k $k: median SIGTERM-to-exit $med ms >= $IDLE_MAX_MS ms (${times[*]})"
}

keepalive_term() {
	local k=$1 times=() i name fd med
	for ((i = 1; i <= RUNS; i++)); do
		name="keepalive-k$k-$i"
		# The default grace (10 s): waiting for the idle connection would show.
		start_server "$name" "$BUILD/vk_hello" -p 0 -k "$k" -g 10000
		tcp_open fd "${E2E_PORT[$name]}"
		printf '%s' "$REQ" >&"$fd"
		read_hello "$fd"
		stop_server "$name"
		times+=("$E2E_ELAPSED_MS")
		expect_closed "$fd" "$name: the idle keep-alive connection"
		tcp_close "$fd"
	done
	med=$(median "${times[@]}")
	note "-k $k idle keep-alive connection open: SIGTERM to exit ms: ${times[*]} (median $med)"
	[ "$med" -lt "$IDLE_MAX_MS" ] || fail "-k $k: median SIGTERM-to-exit $med ms >= $IDLE_MAX_MS ms (${times[*]})"
}

# A request head never finished: exit 0 once the grace period is over.
midrequest_term() {
	local k=$1 name="mid-k$1" fd
	start_server "$name" "$BUILD/vk_hello" -p 0 -k "$k" -g "$GRACE_MS"
	tcp_open fd "${E2E_PORT[$name]}"
	printf '%s' "$HEAD_PART" >&"$fd"
	wait_until 5 "the server did not read the request bytes" consumed "${E2E_PORT[$name]}"
	signal_server "$name" TERM
	# The supervisor SIGKILLs its kernels 2 s after the grace period.
	await_server "$name" $((GRACE_MS / 1000 + 4))
	note "-k $k half-sent request, -g $GRACE_MS: SIGTERM to exit $E2E_ELAPSED_MS ms, status $E2E_STATUS"
	[ "$E2E_STATUS" = 0 ] || fail "exit status $E2E_STATUS, expected 0; stderr:$(server_stderr "$name")"
	[ "$E2E_ELAPSED_MS" -ge $((GRACE_MS - 50)) ] ||
		fail "exited after $E2E_ELAPSED_MS ms: did not wait for the request in progress (grace $GRACE_MS ms)"
	[ "$E2E_ELAPSED_MS" -lt $((GRACE_MS + 1500)) ] ||
		fail "exited only after $E2E_ELAPSED_MS ms (grace $GRACE_MS ms)"
	expect_closed "$fd" "$name: the unfinished request's connection"
	tcp_close "$fd"
}

# Nothing listens on PORT any more: every kernel has begun its drain.
not_listening() {
	[ -z "$(ss -Hltn "( sport = :$1 )")" ]
}

# The same, but the head is completed once the drain has begun: the request
# is answered, then the server exits without waiting out the grace period.
midrequest_complete() {
	local k=$1 name="midok-k$1" fd grace=5000
	start_server "$name" "$BUILD/vk_hello" -p 0 -k "$k" -g "$grace"
	tcp_open fd "${E2E_PORT[$name]}"
	printf '%s' "$HEAD_PART" >&"$fd"
	wait_until 5 "the server did not read the request bytes" consumed "${E2E_PORT[$name]}"
	signal_server "$name" TERM
	wait_until 5 "the drain to close the listener" not_listening "${E2E_PORT[$name]}"
	printf '\r\n' >&"$fd"
	read_hello "$fd"
	expect_closed "$fd" "$name: the connection after its response while draining"
	tcp_close "$fd"
	await_server "$name" 5
	note "-k $k request completed during drain: SIGTERM to exit $E2E_ELAPSED_MS ms, status $E2E_STATUS"
	[ "$E2E_STATUS" = 0 ] || fail "exit status $E2E_STATUS, expected 0; stderr:$(server_stderr "$name")"
	[ "$E2E_ELAPSED_MS" -lt 1500 ] || fail "exited after $E2E_ELAPSED_MS ms: waited for the grace period ($grace ms)"
}

# The server's processes: the one started, and with -k > 1 its kernels.
server_pids() {
	local pid=${E2E_PID[$1]}
	printf '%s\n' "$pid"
	[ "$2" -le 1 ] || pgrep -P "$pid"
}

# SIGPIPE (bit 13) is not pending on PID: it was delivered or discarded
# (or PID is gone, which the caller finds out).
pipe_not_pending() {
	local key mask
	while read -r key mask; do
		case $key in SigPnd: | ShdPnd:) (((0x$mask >> 12) & 1)) && return 1 ;; esac
	done 2>/dev/null <"/proc/$1/status" || return 0
	return 0
}

# PID exists and is no zombie.
alive() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	set -- ${stat##*) }
	[ "$1" != Z ]
}

sigpipe() {
	local k=$1 name="sigpipe-k$1" port fd i reqs pids p resets epipes
	start_server "$name" "$BUILD/vk_hello" -p 0 -k "$k" -v
	port=${E2E_PORT[$name]}
	pids=$(server_pids "$name" "$k")
	[ "$(wc -l <<<"$pids")" -eq $((k > 1 ? k + 1 : 1)) ] || fail "expected $k kernel processes, found: $pids"

	# Resets while the server writes: 100 pipelined requests, then close
	# unread (the kernel sends RST); and http_close_flood's RST closes.
	reqs=$(for ((i = 0; i < 100; i++)); do printf '%s' "$REQ"; done)
	for ((i = 0; i < 50; i++)); do
		tcp_open fd "$port"
		printf '%s' "$reqs" >&"$fd"
		tcp_close "$fd"
	done
	"$BUILD/tests/e2e/http_close_flood" -p "$port" -n 700 -t 30 || fail "http_close_flood failed"

	# SIGPIPE itself, to every process, whatever the writes above raised.
	for p in $pids; do
		kill -PIPE "$p"
	done
	for p in $pids; do
		wait_until 5 "SIGPIPE to leave process $p's pending set" pipe_not_pending "$p"
		alive "$p" || fail "process $p died of SIGPIPE; stderr:$(server_stderr "$name")"
	done
	[ "$(server_pids "$name" "$k")" = "$pids" ] || fail "kernel processes changed after SIGPIPE; stderr:$(server_stderr "$name")"
	expect_hello "$port" "$name after SIGPIPE" "$name"
	! grep -q 'ended unexpectedly' "$(server_err_file "$name")" ||
		fail "a kernel died; stderr:$(server_stderr "$name")"
	stop_server "$name"
	resets=$(grep -c 'Connection reset by peer' "$(server_err_file "$name")" || true)
	epipes=$(grep -c 'Broken pipe' "$(server_err_file "$name")" || true)
	note "-k $k: connections failed by ECONNRESET: $resets, by EPIPE: $epipes"
}

for drv in "${DRIVERS[@]}"; do
	for k in 1 2; do
		run_case "$drv -k $k: SIGTERM on an idle server, median of $RUNS < $IDLE_MAX_MS ms" idle_term "$drv" "$k"
	done
done
for k in 1 2; do
	run_case "-k $k: SIGTERM with an idle keep-alive connection, median of $RUNS < $IDLE_MAX_MS ms" keepalive_term "$k"
	run_case "-k $k: SIGTERM mid-request waits for the grace period ($GRACE_MS ms), exits 0" midrequest_term "$k"
	run_case "-k $k: SIGTERM mid-request, request completed while draining" midrequest_complete "$k"
	run_case "-k $k: SIGPIPE does not kill the server" sigpipe "$k"
done
finish
