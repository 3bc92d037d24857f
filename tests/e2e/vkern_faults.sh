#!/usr/bin/env bash
# Fault isolation, end to end (tests/services/vk_fault_service.c):
#  - a NULL write, a divide by zero, and a write into another connection's
#    heap each kill only the faulting process: a connection opened before
#    keeps its answers and its memory, an echo load running at the same
#    time on the same kernel verifies every byte, and the kernel's count of
#    killed processes goes up by one each time;
#  - without isolation the same write silently corrupts the other
#    connection, which is what isolation is for;
#  - a fault under a vk_catch becomes an error the thread handles;
#  - an exhausted micro-heap raises an error naming the pages it needed,
#    and only that process dies;
#  - SIGHUP reaches the reload hook of every kernel;
#  - a kernel that dies is restarted and the service goes on.
. "$(dirname "$0")/lib.sh"

SVC="$BUILD/tests/services/vk_fault_service"
need_bin "$SVC"
need_bin "$BUILD/tests/e2e/echo_load"

# Sends LINE on fd and requires the reply WANT (a bash pattern).
expect_reply() {
	local fd=$1 line=$2 want=$3 got
	printf '%s\n' "$line" >&"$fd"
	IFS= read -r -t 5 -u "$fd" got || fail "no reply to '$line' within 5 s"
	# shellcheck disable=SC2053
	[[ $got == $want ]] || fail "reply to '$line': got '$got', expected '$want'"
	REPLY_LINE=$got
}

# One connection sends LINE and must be closed by the server, having
# received exactly WANT (possibly empty) first.
expect_closed_after() {
	local port=$1 line=$2 want=$3 fd got
	tcp_open fd "$port"
	printf '%s\n' "$line" >&"$fd"
	got=$(tcp_read_to_close "$fd" 5) || fail "'$line': connection still open after 5 s"
	tcp_close "$fd"
	[ "$got" = "$want" ] || fail "'$line': got '$got' before the close, expected '$want'"
}

# A new connection sends LINE and must get the reply WANT.
expect_reply_on_new() {
	local port=$1 line=$2 want=$3 fd
	tcp_open fd "$port"
	expect_reply "$fd" "$line" "$want"
	tcp_close "$fd"
}

stat_field() {
	local fd=$1 key=$2
	expect_reply "$fd" '!stats' 'killed=* caught=* failed=* live=* reloads=*'
	sed -n "s/.*\b$key=\([0-9]*\).*/\1/p" <<<"$REPLY_LINE"
}

faults_kill_only_their_process() {
	local port keeper load_pid addr rc=0
	start_server fault "$SVC" -p 0 -k 1 -i -s
	port=${E2E_PORT[fault]}
	tcp_open keeper "$port"
	expect_reply "$keeper" "before" "1 before"
	expect_reply "$keeper" '!addr' '*'
	addr=$REPLY_LINE
	"$BUILD/tests/e2e/echo_load" -p "$port" -c 20 -n 3000 -t 60 >"$E2E_TMP/load.out" 2>&1 &
	load_pid=$!

	expect_closed_after "$port" '!null' ''
	expect_reply "$keeper" "after null" "2 after null"
	[ "$(stat_field "$keeper" killed)" = 1 ] || fail "killed count after !null: $REPLY_LINE"

	expect_closed_after "$port" '!div0' ''
	expect_reply "$keeper" "after div0" "3 after div0"
	[ "$(stat_field "$keeper" killed)" = 2 ] || fail "killed count after !div0: $REPLY_LINE"

	expect_closed_after "$port" "!poke $addr" ''
	expect_reply "$keeper" "after poke" "4 after poke"
	expect_reply "$keeper" '!check' 'canary ok'
	[ "$(stat_field "$keeper" killed)" = 3 ] || fail "killed count after !poke: $REPLY_LINE"

	wait "$load_pid" || rc=$?
	[ "$rc" = 0 ] || fail "concurrent echo load failed: $(cat "$E2E_TMP/load.out")"
	note "$(cat "$E2E_TMP/load.out")"
	tcp_close "$keeper"
	stop_server fault
	[ "$(stat_of fault killed)" = 3 ] || fail "kernel counted $(stat_of fault killed) killed, expected 3"
	grep -q 'killed: signal 11' "$(server_err_file fault)" || fail "no SIGSEGV kill logged"
	grep -q 'killed: signal 8' "$(server_err_file fault)" || fail "no SIGFPE kill logged"
}

# The control case: the same poke without isolation lands, silently.
poke_without_isolation_corrupts() {
	local port keeper addr
	start_server plain "$SVC" -p 0 -k 1
	port=${E2E_PORT[plain]}
	tcp_open keeper "$port"
	expect_reply "$keeper" '!addr' '*'
	addr=$REPLY_LINE
	expect_reply_on_new "$port" "!poke $addr" 'poked'
	expect_reply "$keeper" '!check' 'canary corrupted'
	tcp_close "$keeper"
	stop_server plain
}

caught_fault_is_an_error() {
	local port keeper
	start_server caught "$SVC" -p 0 -k 1 -i -s
	port=${E2E_PORT[caught]}
	tcp_open keeper "$port"
	expect_reply_on_new "$port" '!null-caught' 'caught signal 11'
	expect_reply "$keeper" "still" "1 still"
	[ "$(stat_field "$keeper" caught)" = 1 ] || fail "faults_caught after !null-caught: $REPLY_LINE"
	[ "$(stat_field "$keeper" killed)" = 0 ] || fail "a caught fault killed a process: $REPLY_LINE"
	tcp_close "$keeper"
	stop_server caught
}

heap_exhaustion_names_pages() {
	local port keeper
	start_server hog "$SVC" -p 0 -k 1 --pages 16 -s
	port=${E2E_PORT[hog]}
	tcp_open keeper "$port"
	expect_closed_after "$port" '!hog' ''
	expect_reply "$keeper" "alive" "1 alive"
	[ "$(stat_field "$keeper" failed)" = 1 ] || fail "failed count after !hog: $REPLY_LINE"
	expect_closed_after "$port" '!hog-caught' 'ENOMEM needed 265 pages'
	tcp_close "$keeper"
	stop_server hog
	grep -q 'micro-heap exhausted: needed 265 pages, heap has 16' "$(server_err_file hog)" ||
		fail "no heap exhaustion message naming the pages; stderr:$(server_stderr hog)"
}

sighup_reaches_every_kernel() {
	local k port fd i
	for k in 1 2; do
		start_server "hup$k" "$SVC" -p 0 -k "$k"
		port=${E2E_PORT[hup$k]}
		signal_server "hup$k" HUP
		# Connections land on either kernel: every one must have reloaded.
		for i in 1 2 3 4 5 6 7 8; do
			wait_until 5 "reload seen on connection $i (-k $k)" reloaded_once "$port"
		done
		stop_server "hup$k"
	done
}

reloaded_once() {
	local fd got
	tcp_open fd "$1"
	printf '!stats\n' >&"$fd"
	IFS= read -r -t 5 -u "$fd" got || return 1
	tcp_close "$fd"
	[[ $got == *" reloads=1" ]]
}

dead_kernel_is_restarted() {
	local port sup kernels victim i fd
	start_server multi "$SVC" -p 0 -k 2
	port=${E2E_PORT[multi]}
	sup=${E2E_PID[multi]}
	kernels=$(pgrep -P "$sup" | tr '\n' ' ')
	[ "$(wc -w <<<"$kernels")" = 2 ] || fail "expected 2 kernel processes under $sup, found: $kernels"
	victim=${kernels%% *}
	kill -KILL "$victim"
	wait_until 5 "kernel $victim replaced" kernel_replaced "$sup" "$victim"
	for i in $(seq 1 20); do
		tcp_open fd "$port"
		expect_reply "$fd" "after restart $i" "1 after restart $i"
		tcp_close "$fd"
	done
	grep -q "ended unexpectedly" "$(server_err_file multi)" || fail "restart not logged"
	stop_server multi
}

kernel_replaced() {
	local children
	children=$(pgrep -P "$1" | tr '\n' ' ')
	[ "$(wc -w <<<"$children")" = 2 ] && [[ " $children " != *" $2 "* ]]
}

run_case "NULL, divide-by-zero and cross-heap writes kill only their process" faults_kill_only_their_process
run_case "without isolation a cross-heap write corrupts silently" poke_without_isolation_corrupts
run_case "a fault under vk_catch becomes a handled error" caught_fault_is_an_error
run_case "heap exhaustion names the pages needed; only that process dies" heap_exhaustion_names_pages
run_case "SIGHUP calls the reload hook in every kernel" sighup_reaches_every_kernel
run_case "a kernel that dies is restarted" dead_kernel_is_restarted
finish
