#!/usr/bin/env bash
# Kernel timers, end to end (tests/services/vk_fault_service.c):
#  - vk_sleep wakes after its time, not before and not much after;
#  - 100 connections sleeping different times all wake in time (the timer
#    heap under a real kernel);
#  - a deadline on a blocking read raises ETIMEDOUT when no input comes,
#    and does not when it does;
#  - an idle kernel makes no system calls: it is not woken at all (no
#    context switches in a second), and one sleeping connection costs a
#    wake-up or two, not a tick.
. "$(dirname "$0")/lib.sh"

SVC="$BUILD/tests/services/vk_fault_service"
need_bin "$SVC"
SLACK_MS=250 # scheduling slack past a deadline on a loaded machine (a timer on the
# wrong clock or unit, or one that waits for a poll timeout, is late by 1 s or more)

ask() { # ask PORT LINE: prints the first reply line
	local fd got
	tcp_open fd "$1"
	printf '%s\n' "$2" >&"$fd"
	IFS= read -r -t 5 -u "$fd" got || fail "no reply to '$2' within 5 s"
	tcp_close "$fd"
	printf '%s' "$got"
}

sleep_wakes_on_time() {
	local port got ms
	start_server sleeper "$SVC" -p 0 -k 1
	port=${E2E_PORT[sleeper]}
	got=$(ask "$port" '!sleep 50')
	[[ $got =~ ^slept\ ([0-9]+)\ ms$ ]] || fail "unexpected reply '$got'"
	ms=${BASH_REMATCH[1]}
	[ "$ms" -ge 50 ] && [ "$ms" -lt $((50 + SLACK_MS)) ] || fail "!sleep 50 took $ms ms"
	stop_server sleeper
}

many_sleepers_wake_in_order() {
	local port i pids=() want got ms
	start_server many "$SVC" -p 0 -k 1
	port=${E2E_PORT[many]}
	for i in $(seq 1 100); do
		want=$(((i * 37) % 200 + 10))
		(ask "$port" "!sleep $want" >"$E2E_TMP/sleep.$i") &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || fail "sleeper $((i + 1)) failed"
	done
	for i in $(seq 1 100); do
		want=$(((i * 37) % 200 + 10))
		got=$(cat "$E2E_TMP/sleep.$i")
		[[ $got =~ ^slept\ ([0-9]+)\ ms$ ]] || fail "sleeper $i: reply '$got'"
		ms=${BASH_REMATCH[1]}
		[ "$ms" -ge "$want" ] && [ "$ms" -lt $((want + SLACK_MS)) ] ||
			fail "sleeper $i asked for $want ms, slept $ms ms"
	done
	stop_server many
}

deadline_raises_timeout() {
	local port fd got t0 t1
	start_server deadline "$SVC" -p 0 -k 1
	port=${E2E_PORT[deadline]}
	t0=$(now_ms)
	got=$(ask "$port" '!deadline 100')
	t1=$(now_ms)
	[ "$got" = timeout ] || fail "!deadline 100 with no input: got '$got', expected timeout"
	[ $((t1 - t0)) -ge 100 ] && [ $((t1 - t0)) -lt $((100 + SLACK_MS + 100)) ] ||
		fail "timeout came after $((t1 - t0)) ms, expected about 100"
	tcp_open fd "$port"
	printf '!deadline 2000\n' >&"$fd"
	# The line must find the read already waiting on its deadline.
	wait_until 5 "the server to read the !deadline command" server_read_all "$port"
	printf 'in time\n' >&"$fd"
	IFS= read -r -t 5 -u "$fd" got || fail "no reply to the in-time line"
	[ "$got" = "line in time" ] || fail "line sent in time: got '$got'"
	tcp_close "$fd"
	stop_server deadline
}

# The one connection to PORT has nothing left in the server's receive
# queue (the server has read what was sent).
server_read_all() {
	ss -Htn state established "( sport = :$1 )" | awk '$1 == 0 { n++ } END { exit !(NR == 1 && n == 1) }'
}

# Every thread of PID is asleep (state S): the kernel waits for events.
all_asleep() {
	local t stat
	for t in /proc/"$1"/task/*; do
		{ read -r stat <"$t/stat"; } 2>/dev/null || return 1
		set -- "$1" ${stat##*) }
		[ "$2" = S ] || return 1
	done
}

switches_of() { # voluntary + involuntary context switches of every thread of PID
	awk '/ctxt_switches/ { n += $2 } END { print n + 0 }' /proc/"$1"/task/*/status
}

idle_kernel_sleeps() {
	local pid before after fd
	start_server idle "$SVC" -p 0 -k 1
	pid=${E2E_PID[idle]}
	wait_until 5 "the idle kernel to be asleep" all_asleep "$pid"
	before=$(switches_of "$pid")
	# Not synchronisation: the second in which nothing may wake it.
	nap 1
	after=$(switches_of "$pid")
	[ "$after" = "$before" ] || fail "idle kernel woke $((after - before)) times in 1 s"
	# One connection asleep for 600 ms: a wake-up or two, not a tick.
	tcp_open fd "${E2E_PORT[idle]}"
	before=$(switches_of "$pid")
	printf '!sleep 600\n' >&"$fd"
	IFS= read -r -t 5 -u "$fd" _ || fail "no reply to !sleep 600"
	after=$(switches_of "$pid")
	[ $((after - before)) -le 5 ] || fail "a 600 ms sleep woke the kernel $((after - before)) times"
	tcp_close "$fd"
	stop_server idle
}

run_case "vk_sleep wakes on time" sleep_wakes_on_time
run_case "100 concurrent sleepers wake on time" many_sleepers_wake_in_order
run_case "a deadline on a blocking read raises ETIMEDOUT" deadline_raises_timeout
run_case "an idle kernel is never woken" idle_kernel_sleeps
finish
