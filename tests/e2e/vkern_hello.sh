#!/usr/bin/env bash
# vk_hello end to end, on every poll driver (one kernel each):
#  - http_close_flood: 10,000 connections in a row (Connection: close and
#    HTTP/1.0, some dropped unread, some reset) leave the server serving
#    (the flood ends with two keep-alive requests on one connection);
#  - http_pipeline: 100 pipelined requests on one connection, in order;
#  - curl gets "Hello, world";
#  - SIGTERM exits 0, and no process faulted (killed=0).
. "$(dirname "$0")/lib.sh"

DRIVERS=(epoll epoll-oneshot poll aio uring)
FLOOD=10000
PIPELINE=100

need_bin "$BUILD/vk_hello"
need_bin "$BUILD/tests/e2e/http_close_flood"
need_bin "$BUILD/tests/e2e/http_pipeline"
command -v curl >/dev/null || fail "curl is not installed"

hello() {
	local drv=$1 name="hello-$1" port t0 body
	start_server "$name" "$BUILD/vk_hello" -p 0 -k 1 -P "$drv" -s
	port=${E2E_PORT[$name]}

	t0=$(now_ms)
	"$BUILD/tests/e2e/http_close_flood" -p "$port" -n "$FLOOD" -t 90 ||
		fail "http_close_flood -n $FLOOD on $drv failed; server stderr:$(server_stderr "$name")"
	note "$drv: http_close_flood -n $FLOOD took $(($(now_ms) - t0)) ms"

	"$BUILD/tests/e2e/http_pipeline" -p "$port" -n "$PIPELINE" -t 30 ||
		fail "http_pipeline -n $PIPELINE on $drv failed; server stderr:$(server_stderr "$name")"

	body=$(http_get "$port") || fail "curl to $drv server failed (status $?)"
	[ "$body" = "Hello, world" ] || fail "curl got $(printf '%q' "$body"), expected 'Hello, world'"

	stop_server "$name"
	[ "$(stat_of "$name" killed)" = 0 ] || fail "$name: a process was killed by a fault; stderr:$(server_stderr "$name")"
	note "$drv: $(grep -h '^vk: kernel' "$(server_err_file "$name")")"
}

for drv in "${DRIVERS[@]}"; do
	run_case "$drv: close flood x$FLOOD, pipeline x$PIPELINE, curl, SIGTERM" hello "$drv"
done
finish
