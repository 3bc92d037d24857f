#!/usr/bin/env bash
# Binary upgrade (SIGUSR2): the running vkgw starts its binary again with
# its kernels' listening sockets (vkern/vk_upgrade.h); once every kernel of
# the new one listens on them, the old one drains and exits.
#
#   under load   (-k 1 and -k 2) wrk on kept-alive connections and on a new
#                connection per request all through an upgrade: no socket
#                error, no status but 200; the old process exits 0, the
#                new one (another pid) serves on the same port and the
#                same admin port
#   long-lived   a request in flight on the old process when the upgrade
#                happens (its body half sent) finishes there: the old one
#                waits for it, and exits once it is answered
#
# The new process is not this shell's child: it is stopped by its pid, by
# the case or by the EXIT trap if the case fails.
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"
command -v wrk >/dev/null || fail "wrk is not installed (deploy/install-deps.sh)"

SUCCESSOR=

# The new process goes with the case, however it ends.
stop_successor() {
	[ -z "$SUCCESSOR" ] || kill -KILL "$SUCCESSOR" 2>/dev/null || true
}

start_gateway() { # start_gateway NAME KERNELS UPSTREAM_PORT
	local name=$1
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0 } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:$3" ] } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -k "$2" -g 10000
	wait_until 5 "$name: the admin listener announced" admin_listening "$name"
	ADMIN=$(admin_port "$name")
	PORT=${E2E_PORT[$name]}
}

# upgrade NAME: SIGUSR2, and a wait until the new process listens and the
# old one was told to drain; SUCCESSOR is the new pid.
upgrade() {
	local name=$1 err
	err=$(server_err_file "$name")
	trap 'stop_successor; _e2e_cleanup' EXIT
	signal_server "$name" USR2
	wait_until 10 "the new process started" grep -q 'vk: upgrade: started .* (pid [0-9]*)' "$err"
	SUCCESSOR=$(sed -n 's/^vk: upgrade: started .* (pid \([0-9]*\)).*/\1/p' "$err" | head -n 1)
	[ -n "$SUCCESSOR" ] && [ "$SUCCESSOR" != "${E2E_PID[$name]}" ] || fail "no new pid:$(server_stderr "$name")"
	wait_until 10 "the new process listening, the old one draining" \
		grep -q "vk: upgrade: listening; pid ${E2E_PID[$name]} drains" "$err"
}

# The new process's pid, its parent gone, ends on SIGTERM within SECS.
stop_successor_by_pid() {
	kill -TERM "$SUCCESSOR"
	wait_until "$1" "the new process (pid $SUCCESSOR) exits on SIGTERM" eval "! kill -0 $SUCCESSOR 2>/dev/null"
	SUCCESSOR=
}

wrk_clean() { # wrk_clean FILE: wrk made requests, none failed
	grep -q 'requests in' "$1" || fail "wrk made no requests: $(cat "$1")"
	! grep -q 'Socket errors\|Non-2xx' "$1" || fail "requests failed across the upgrade: $(cat "$1")"
}

upgrade_under_load() {
	local k=$1 gw=ug$1 up=ug$1_up old keep close
	start_server "$up" "$UPSTREAM" -p 0 -k 1
	start_gateway "$gw" "$k" "${E2E_PORT[$up]}"
	old=${E2E_PID[$gw]}
	keep=$E2E_TMP/$gw.keep close=$E2E_TMP/$gw.close
	timeout 30 wrk -t1 -c16 -d4s "http://127.0.0.1:$PORT/whoami" >"$keep" 2>&1 &
	local keep_pid=$!
	timeout 30 wrk -t1 -c4 -d4s -H 'Connection: close' "http://127.0.0.1:$PORT/whoami" >"$close" 2>&1 &
	local close_pid=$!
	# Under load from the start: the upgrade comes after requests flowed.
	wait_until 5 "requests through the old process" admin_stat_is "$ADMIN" 'd["total"]["requests"] > 100' True
	upgrade "$gw"
	await_server "$gw" 15
	[ "$E2E_STATUS" = 0 ] || fail "the old process exited with $E2E_STATUS:$(server_stderr "$gw")"
	kill -0 "$SUCCESSOR" 2>/dev/null || fail "the new process is gone:$(server_stderr "$gw")"
	# The same ports, now the new process's.
	[ "$(http_get "$PORT" /whoami)" = "${E2E_PORT[$up]}" ] || fail "no answer from the new process on $PORT"
	admin_stat_is "$ADMIN" 'd["per_kernel"][0]["pid"] != '"$old" True ||
		fail "the admin port is not the new process's: $(admin_stat "$ADMIN" 'd["per_kernel"]')"
	wait "$keep_pid" || fail "wrk (kept-alive) failed: $(cat "$keep")"
	wait "$close_pid" || fail "wrk (new connections) failed: $(cat "$close")"
	wrk_clean "$keep"
	wrk_clean "$close"
	note "  -k $k: $(grep -h 'requests in' "$keep" "$close" | tr -s ' ' | paste -sd ';')"
	stop_successor_by_pid 10
	stop_server "$up"
}

long_lived_finishes_on_the_old() {
	local gw=ll_gw up=ll_up held out
	start_server "$up" "$UPSTREAM" -p 0 -k 1
	start_gateway "$gw" 2 "${E2E_PORT[$up]}"
	post_begin held "$PORT" /cksum
	wait_until 5 "the held request is in flight" \
		admin_stat_is "$ADMIN" 'd["upstreams"]["app"]["active"]' 1
	upgrade "$gw"
	# The old process waits for its request; new ones go to the new one.
	_e2e_running "${E2E_PID[$gw]}" || fail "the old process did not wait for its request in flight"
	[ "$(http_get "$PORT" /whoami)" = "${E2E_PORT[$up]}" ] || fail "no answer from the new process"
	out=$(post_end "$held")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "the request held across the upgrade got: $(head -n 1 <<<"$out")"
	await_server "$gw" 10
	[ "$E2E_STATUS" = 0 ] || fail "the old process exited with $E2E_STATUS:$(server_stderr "$gw")"
	stop_successor_by_pid 10
	stop_server "$up"
}

for k in 1 2; do
	run_case "-k $k: an upgrade under load: no error, the old process exits, the new one serves" upgrade_under_load "$k"
done
run_case "a request in flight when the upgrade comes finishes on the old process" long_lived_finishes_on_the_old
finish
