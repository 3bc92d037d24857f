#!/usr/bin/env bash
# vkgw end to end: isolation, on by default (tests/services/gw_fault_gateway
# is vkgw with a test-only "fault" filter; tests/e2e/gw_isolation.py is the
# client). One kernel, so every connection shares its address space.
#
#   isolated     by default, 20 faults (NULL dereferences and writes into
#                another connection's heap) each end only their own
#                connection with a 500 and a close, while 16 keep-alive
#                connections and an h2load run get every answer; the
#                victim's canary stays intact; /stats and /metrics say
#                isolation is on and count the faults caught
#   unprotected  with --no-isolation, the same cross-heap write is not
#                caught: the victim's canary is corrupted, /stats and
#                /metrics say isolation is off
#   per listener "isolation": false or "off" in the listener's config turns
#                it off; "always" catches the same faults
#   tls_faults   on a TLS listener, 10 faults each end their connection with
#                a 500 and give its TLS state back (the kernel frees it
#                when it closes the fd): /stats counts no TLS connection
#                left once all are closed
#   cost         the default mode ("filters") makes no mprotect call for a
#                route without filters or with built-in ones, and some for
#                one with a user's filter (the fault filter)
. "$(dirname "$0")/lib.sh"

GATEWAY="$BUILD/tests/services/gw_fault_gateway"
CLIENT="$(dirname "$0")/gw_isolation.py"
need_bin "$GATEWAY"
command -v h2load >/dev/null || fail "h2load is not installed (deploy/install-deps.sh: nghttp2-client)"
command -v promtool >/dev/null || fail "promtool is not installed (deploy/install-deps.sh: prometheus)"

ROUNDS=20
LOAD_CONNS=16

# faulty NAME [ISOLATION_KEY] [ARGS...]: the gateway on one kernel, every
# request through the fault filter, answered 200 "ok"; sets PORT and
# ADMIN_PORT.
faulty() {
	local name=$1 key=$2 line
	shift 2
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "faulty", "port": 0, "kernels": 1 $key } ],
  "admin": { "port": 0 },
  "routes": [ { "name": "all", "filters": [ { "type": "fault" } ],
                "action": { "respond": { "status": 200, "body": "ok" } } } ]
}
JSON
	start_server "$name" "$GATEWAY" -c "$E2E_TMP/$name.json" -k 1 -s "$@"
	PORT=${E2E_PORT[$name]}
	line=$(sed -n 2p "$E2E_TMP/$name.out")
	[[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] || fail "$name: no admin 'listening on' line: $line"
	ADMIN_PORT=${BASH_REMATCH[1]}
}

# stat EXPR: a value of /stats, EXPR a Python expression over `d`.
stat() {
	curl -s --noproxy '*' --max-time 10 "http://127.0.0.1:$ADMIN_PORT/stats" >"$E2E_TMP/stats.json" ||
		fail "/stats: curl failed"
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$E2E_TMP/stats.json" "$1" || fail "/stats: cannot evaluate $1 on: $(cat "$E2E_TMP/stats.json")"
}

# metrics_say SERIES VALUE: /metrics passes promtool and has the series.
metrics_say() {
	curl -s --noproxy '*' --max-time 10 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$E2E_TMP/metrics" ||
		fail "/metrics: curl failed"
	promtool check metrics <"$E2E_TMP/metrics" >"$E2E_TMP/promtool.out" 2>&1 ||
		fail "promtool check metrics: $(cat "$E2E_TMP/promtool.out")"
	grep -qxF "$1 $2" "$E2E_TMP/metrics" || fail "/metrics has no '$1 $2':$(grep -F "${1%%\{*}" "$E2E_TMP/metrics")"
}

isolated() {
	local h2_pid rc=0 out
	faulty iso ""
	[ "$(stat "d['listeners'][0]['isolation']")" = filters ] || fail "/stats: isolation is not \"filters\" by default"
	timeout 60 h2load --h1 -n 20000 -c 8 "http://127.0.0.1:$PORT/" >"$E2E_TMP/h2load.out" 2>&1 &
	h2_pid=$!
	python3 "$CLIENT" isolated "$PORT" "$ROUNDS" "$LOAD_CONNS" >"$E2E_TMP/client.out" 2>&1 ||
		fail "$(cat "$E2E_TMP/client.out"); gateway stderr:$(server_stderr iso)"
	note "$(cat "$E2E_TMP/client.out")"
	wait "$h2_pid" || rc=$?
	out=$(cat "$E2E_TMP/h2load.out")
	[ "$rc" = 0 ] || fail "h2load exited $rc: $out"
	grep -q '20000 succeeded, 0 failed, 0 errored, 0 timeout' <<<"$out" || fail "h2load: $out"
	grep -q 'status codes: 20000 2xx' <<<"$out" || fail "h2load: $out"
	[ "$(stat "d['total']['vkern']['faults_caught']")" = "$ROUNDS" ] ||
		fail "/stats: faults_caught $(stat "d['total']['vkern']['faults_caught']"), expected $ROUNDS"
	[ "$(stat "d['total']['vkern']['killed']")" = 0 ] || fail "/stats: a process was killed"
	[ "$(stat "d['total']['responses']['5xx']")" = "$ROUNDS" ] || fail "/stats: 5xx count is not $ROUNDS"
	[ "$(stat "d['total']['vkern']['mprotects'] > 0")" = True ] || fail "/stats: no mprotect counted"
	# 20000 requests on 8 connections: some dispatches had another process
	# queued behind them, whose hot lines were prefetched.
	[ "$(stat "d['total']['vkern']['prefetched_lines'] > 0")" = True ] || fail "/stats: no prefetched line counted"
	metrics_say 'vkgw_listener_isolation{kernel="0",listener="faulty",mode="filters"}' 1
	metrics_say 'vkgw_vkern_faults_caught_total{kernel="0"}' "$ROUNDS"
	stop_server iso
}

unprotected() {
	faulty open "" --no-isolation
	[ "$(stat "d['listeners'][0]['isolation']")" = off ] || fail "/stats: isolation is on with --no-isolation"
	python3 "$CLIENT" unprotected "$PORT" >"$E2E_TMP/client.out" 2>&1 ||
		fail "$(cat "$E2E_TMP/client.out"); gateway stderr:$(server_stderr open)"
	note "$(cat "$E2E_TMP/client.out")"
	[ "$(stat "d['total']['vkern']['faults_caught']")" = 1 ] || fail "/stats: faults_caught is not 1 (the NULL fault)"
	[ "$(stat "d['total']['vkern']['mprotects']")" = 0 ] || fail "/stats: mprotect calls without isolation"
	metrics_say 'vkgw_listener_isolation{kernel="0",listener="faulty",mode="off"}' 0
	stop_server open
}

per_listener() {
	local value n=0
	for value in false '"off"'; do
		n=$((n + 1))
		faulty "off$n" ", \"isolation\": $value"
		[ "$(stat "d['listeners'][0]['isolation']")" = off ] || fail "/stats: \"isolation\": $value is not shown"
		python3 "$CLIENT" unprotected "$PORT" >"$E2E_TMP/client.out" 2>&1 ||
			fail "\"isolation\": $value: $(cat "$E2E_TMP/client.out")"
		stop_server "off$n"
	done
	faulty always ', "isolation": "always"'
	[ "$(stat "d['listeners'][0]['isolation']")" = always ] || fail "/stats: \"isolation\": \"always\" is not shown"
	python3 "$CLIENT" isolated "$PORT" 4 4 >"$E2E_TMP/client.out" 2>&1 ||
		fail "\"isolation\": \"always\": $(cat "$E2E_TMP/client.out"); gateway stderr:$(server_stderr always)"
	[ "$(stat "d['total']['vkern']['faults_caught']")" = 4 ] || fail "\"always\": faults_caught is not 4"
	metrics_say 'vkgw_listener_isolation{kernel="0",listener="faulty",mode="always"}' 1
	stop_server always
}

# In the default mode only users' filter code is kept out of other heaps: a
# route with no filter, or with built-in ones, costs no mprotect at all; one
# with a user's filter does.
tls_connections_are() { [ "$(stat "d['total']['tls']['connections']")" = "$1" ]; }

tls_faults() {
	local code
	openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=f.test \
		-keyout "$E2E_TMP/f.key" -out "$E2E_TMP/f.pem" 2>/dev/null || fail "openssl could not make a certificate"
	faulty tf ", \"tls\": { \"certificates\": [ { \"cert\": \"f.pem\", \"key\": \"f.key\" } ] }"
	for ((i = 0; i < 10; i++)); do
		code=$(curl -sk --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' -H 'x-fault: null' \
			"https://127.0.0.1:$PORT/") || true
		[ "$code" = 500 ] || fail "fault $i over TLS: status $code, expected 500"
	done
	for ((i = 0; i < 5; i++)); do
		[ "$(curl -sk --noproxy '*' --max-time 10 "https://127.0.0.1:$PORT/")" = ok ] || fail "request $i after the faults"
	done
	[ "$(stat "d['total']['vkern']['faults_caught']")" = 10 ] || fail "/stats: faults_caught is not 10"
	wait_until 5 "TLS connections still counted alive: $(stat "d['total']['tls']")" tls_connections_are 0
	[ "$(stat "d['total']['tls']['handshakes']")" = 15 ] || fail "/stats: TLS handshakes are not 15"
	metrics_say 'vkgw_tls_connections{kernel="0"}' 0
	stop_server tf
}

cost() {
	local line
	cat >"$E2E_TMP/cost.json" <<JSON
{
  "listeners": [ { "name": "faulty", "port": 0, "kernels": 1 } ],
  "admin": { "port": 0 },
  "routes": [ { "name": "plain", "match": { "path": { "prefix": "/plain" } },
                "action": { "respond": { "status": 200, "body": "ok" } } },
              { "name": "builtin", "match": { "path": { "prefix": "/builtin" } },
                "filters": [ { "type": "request_id" }, { "type": "headers", "response": { "add": { "x-b": "1" } } } ],
                "action": { "respond": { "status": 200, "body": "ok" } } },
              { "name": "filtered", "filters": [ { "type": "fault" } ],
                "action": { "respond": { "status": 200, "body": "ok" } } } ]
}
JSON
	start_server cost "$GATEWAY" -c "$E2E_TMP/cost.json" -k 1
	PORT=${E2E_PORT[cost]}
	line=$(sed -n 2p "$E2E_TMP/cost.out")
	[[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] || fail "cost: no admin 'listening on' line: $line"
	ADMIN_PORT=${BASH_REMATCH[1]}
	h2load --h1 -n 2000 -c 8 "http://127.0.0.1:$PORT/plain" >"$E2E_TMP/h2load.out" 2>&1 ||
		fail "h2load /plain: $(cat "$E2E_TMP/h2load.out")"
	grep -q 'status codes: 2000 2xx' "$E2E_TMP/h2load.out" || fail "h2load /plain: $(cat "$E2E_TMP/h2load.out")"
	[ "$(stat "d['total']['vkern']['mprotects']")" = 0 ] ||
		fail "/stats: $(stat "d['total']['vkern']['mprotects']") mprotect calls for a route without filters"
	h2load --h1 -n 2000 -c 8 "http://127.0.0.1:$PORT/builtin" >"$E2E_TMP/h2load.out" 2>&1 ||
		fail "h2load /builtin: $(cat "$E2E_TMP/h2load.out")"
	grep -q 'status codes: 2000 2xx' "$E2E_TMP/h2load.out" || fail "h2load /builtin: $(cat "$E2E_TMP/h2load.out")"
	[ "$(stat "d['total']['vkern']['mprotects']")" = 0 ] ||
		fail "/stats: $(stat "d['total']['vkern']['mprotects']") mprotect calls for built-in (trusted) filters"
	h2load --h1 -n 2000 -c 8 "http://127.0.0.1:$PORT/filtered" >"$E2E_TMP/h2load.out" 2>&1 ||
		fail "h2load /filtered: $(cat "$E2E_TMP/h2load.out")"
	grep -q 'status codes: 2000 2xx' "$E2E_TMP/h2load.out" || fail "h2load /filtered: $(cat "$E2E_TMP/h2load.out")"
	[ "$(stat "d['total']['vkern']['mprotects'] > 0")" = True ] || fail "/stats: no mprotect call for filter code"
	stop_server cost
}

run_case "isolated by default: each fault ends only its own connection" isolated
run_case "--no-isolation: a cross-heap write is not caught" unprotected
run_case "\"isolation\": false or \"off\" turns it off, \"always\" catches faults too" per_listener
run_case "a fault on a TLS listener gives the connection's TLS state back" tls_faults
run_case "\"filters\" isolation costs nothing without a user's filter" cost
finish
