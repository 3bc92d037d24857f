#!/usr/bin/env bash
# vkgw and signals, with one kernel and with a supervisor (-k 2):
#   SIGUSR1   reopens the access log (logrotate: rename, signal, the new
#             file gets the lines)
#   SIGHUP    reloads the configuration file (the route's answer
#             changes, said once in the log); with a configuration file
#             that has problems, nothing reloads and /stats and /metrics
#             say why
#   stray signals (ALRM, PROF, IO, PWR, XFSZ, real-time...)
#             are ignored: the gateway keeps serving and exits 0 on SIGTERM
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
need_bin "$VKGW"

start_gateway() { # start_gateway NAME KERNELS [MEMBERS]: MEMBERS, more top-level JSON
	local name=$1
	cat >"$E2E_TMP/$name.json" <<JSON
{${3:-}
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0 } ],
  "access_log": { "path": "$E2E_TMP/$name.log", "buffer_bytes": 4096 },
  "routes": [ { "name": "r", "action": { "respond": { "status": 200, "body": "ok\n" } } } ]
}
JSON
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -k "$2"
}

get() { curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:${E2E_PORT[$1]}$2"; }

lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

# The gateway's processes: the one started, and its children (kernels).
gateway_pids() {
	local pid=${E2E_PID[$1]}
	echo "$pid"
	cat "/proc/$pid/task/$pid/children" 2>/dev/null | tr ' ' '\n' | grep . || true
}

# Every process of the gateway that has the log open has it under NAME
# (none holds the renamed file), and KERNELS of them do.
log_reopened() {
	local name=$1 kernels=$2 pid new=0 old=0
	for pid in $(gateway_pids "$name"); do
		new=$((new + $(find "/proc/$pid/fd" -lname "$E2E_TMP/$name.log" 2>/dev/null | wc -l)))
		old=$((old + $(find "/proc/$pid/fd" -lname "$E2E_TMP/$name.log.1" 2>/dev/null | wc -l)))
	done
	[ "$old" = 0 ] && [ "$new" -ge "$kernels" ]
}

# log_lines_are FILE N: FILE has N lines, read when asked.
log_lines_are() { [ "$(lines "$1")" = "$2" ]; }

usr1_reopens_the_access_log() {
	local k=$1 name=rot$1 i
	start_gateway "$name" "$k"
	for i in 1 2 3; do [ "$(get "$name" /before)" = ok ] || fail "request $i"; done
	wait_until 5 "3 lines in the access log" log_lines_are "$E2E_TMP/$name.log" 3
	mv "$E2E_TMP/$name.log" "$E2E_TMP/$name.log.1"
	signal_server "$name" USR1
	wait_until 5 "every kernel reopens the log" log_reopened "$name" "$k"
	for i in 1 2 3 4; do [ "$(get "$name" /after)" = ok ] || fail "request $i after SIGUSR1"; done
	wait_until 5 "4 lines in the new access log" log_lines_are "$E2E_TMP/$name.log" 4
	[ "$(grep -c '/before' "$E2E_TMP/$name.log.1")" = 3 ] && ! grep -q '/after' "$E2E_TMP/$name.log.1" ||
		fail "the rotated log: $(cat "$E2E_TMP/$name.log.1")"
	! grep -q '/before' "$E2E_TMP/$name.log" || fail "the new log has old lines: $(cat "$E2E_TMP/$name.log")"
	stop_server "$name"
}

hup_reloads_and_stray_signals_change_nothing() {
	local k=$1 name=sig$1 sig
	start_gateway "$name" "$k"
	sed -i 's/"ok\\n"/"reloaded\\n"/' "$E2E_TMP/$name.json"
	signal_server "$name" HUP
	wait_until 5 "SIGHUP's configuration applied by every kernel" \
		[ "$(grep -c 'configuration 2 applied' "$(server_err_file "$name")")" = "$k" ]
	[ "$(get "$name" /)" = reloaded ] || fail "the old answer after SIGHUP: $(get "$name" /)"
	for sig in ALRM VTALRM PROF IO PWR XFSZ RTMIN RTMIN+3 RTMAX; do
		signal_server "$name" "$sig"
		[ "$(get "$name" /)" = reloaded ] || fail "no answer after SIG$sig:$(server_stderr "$name")"
	done
	! grep -q 'ended unexpectedly' "$(server_err_file "$name")" || fail "a kernel died:$(server_stderr "$name")"
	[ "$(grep -c 'applied' "$(server_err_file "$name")")" = "$k" ] ||
		fail "SIGHUP not said once per kernel:$(server_stderr "$name")"
	stop_server "$name"
}

# The problems of a configuration file are checked where SIGHUP is taken
# (the supervisor, or the lone kernel) before any kernel reloads: with
# problems, no kernel hears of it, and /stats and /metrics say so; once
# the file is right again, the next SIGHUP is accepted.
hup_with_problems_reloads_nothing() {
	local k=$1 name=bad$1 admin config good problems
	start_gateway "$name" "$k" '
  "admin": { "address": "127.0.0.1", "port": 0 },'
	wait_until 5 "$name: admin 'listening on' line" admin_listening "$name"
	admin=$(admin_port "$name")
	config=$E2E_TMP/$name.json
	good=$(cat "$config")
	# Line 5, column 3: a member the schema does not know.
	sed 's/"routes":/"routez":/' <<<"$good" >"$config"
	signal_server "$name" HUP
	wait_until 5 "the refused reload counted" admin_stat_is "$admin" 'd["config"]["reloads"]["refused"]' 1
	problems=$(admin_stat "$admin" '"\n".join(d["config"]["problems"])')
	grep -qx "$config:5:3: /routez: unknown key \"routez\";.*" <<<"$problems" &&
		grep -qx "$config:1:1: missing required key \"routes\"" <<<"$problems" ||
		fail "the problems in /stats: $problems"
	admin_stat_is "$admin" 'd["config"]["last_reload"]' refused || fail "last_reload: $(admin_stat "$admin" 'd["config"]')"
	grep -q "$config:5:3: /routez" "$(server_err_file "$name")" || fail "the problem was not logged:$(server_stderr "$name")"
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$admin/metrics" >"$E2E_TMP/$name.metrics"
	grep -qx 'vkgw_config_reloads_total{result="refused"} 1' "$E2E_TMP/$name.metrics" &&
		grep -qx 'vkgw_config_last_reload_successful 0' "$E2E_TMP/$name.metrics" ||
		fail "/metrics: $(grep vkgw_config "$E2E_TMP/$name.metrics")"
	! grep -q 'applied' "$(server_err_file "$name")" || fail "a kernel reloaded:$(server_stderr "$name")"
	[ "$(get "$name" /)" = ok ] || fail "no answer after the refused reload"
	printf '%s\n' "$good" >"$config"
	signal_server "$name" HUP
	wait_until 5 "the next reload accepted" admin_stat_is "$admin" 'd["config"]["last_reload"]' accepted
	admin_stat_is "$admin" '(d["config"]["reloads"], d["config"]["problems"])' "({'accepted': 1, 'refused': 1}, [])" ||
		fail "after the good reload: $(admin_stat "$admin" 'd["config"]')"
	wait_until 5 "every kernel reloaded" \
		[ "$(grep -c 'configuration 2 applied' "$(server_err_file "$name")")" = "$k" ]
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$admin/metrics" >"$E2E_TMP/$name.metrics"
	[ "$(grep -c '^vkgw_config_generation{kernel="[0-9]*"} 2$' "$E2E_TMP/$name.metrics")" = "$k" ] ||
		fail "/metrics after the reload: $(grep vkgw_config "$E2E_TMP/$name.metrics")"
	stop_server "$name"
}

for k in 1 2; do
	run_case "-k $k: SIGUSR1 reopens the access log after a rename" usr1_reopens_the_access_log "$k"
	run_case "-k $k: SIGHUP reloads the configuration; stray signals are ignored" \
		hup_reloads_and_stray_signals_change_nothing "$k"
	run_case "-k $k: SIGHUP with a configuration that has problems reloads nothing, and says why" \
		hup_with_problems_reloads_nothing "$k"
done
finish
