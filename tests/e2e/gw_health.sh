#!/usr/bin/env bash
# Active health checks end to end: two upstreams behind round robin; one
# is made unhealthy through its health file, the gateway stops sending it
# requests after unhealthy_threshold failed probes, and sends them again
# after healthy_threshold passed ones. A drain is not held up by the
# health-check processes.
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"
INTERVAL_MS=100

# Counts, over N requests, the answers from the upstream on port $2.
answers_from() {
	local gw_port=$1 port=$2 n=$3 i hits=0 who
	for i in $(seq 1 "$n"); do
		who=$(curl -s --max-time 5 "http://127.0.0.1:$gw_port/whoami")
		[ "$who" = "$port" ] && hits=$((hits + 1))
	done
	echo "$hits"
}

logged() { grep -qF -- "$2" "$(server_err_file "$1")"; }

unhealthy_endpoint_is_skipped_then_returns() {
	local flag="$E2E_TMP/health-b" gw_port got
	echo up >"$flag"
	start_server hc_a "$UPSTREAM" -p 0 -k 1
	TEST_UPSTREAM_HEALTH_FILE=$flag start_server hc_b "$UPSTREAM" -p 0 -k 1
	cat >"$E2E_TMP/gw.json" <<JSON
{
  "listeners": [ { "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "upstreams": { "app": {
    "endpoints": [ "127.0.0.1:${E2E_PORT[hc_a]}", "127.0.0.1:${E2E_PORT[hc_b]}" ],
    "health_check": { "path": "/health", "interval_ms": $INTERVAL_MS, "timeout_ms": 500,
                      "healthy_threshold": 2, "unhealthy_threshold": 2 } } },
  "routes": [ { "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
	start_server hc_gw "$VKGW" -c "$E2E_TMP/gw.json" -s
	gw_port=${E2E_PORT[hc_gw]}
	got=$(answers_from "$gw_port" "${E2E_PORT[hc_b]}" 20)
	[ "$got" = 10 ] || fail "both healthy: b answered $got of 20"
	echo down >"$flag"
	# One kernel: once it has logged the change, its requests follow it.
	wait_until 5 "an 'is now unhealthy' log line for b (probes every $INTERVAL_MS ms)" \
		logged hc_gw "endpoint 127.0.0.1:${E2E_PORT[hc_b]} is now unhealthy"
	got=$(answers_from "$gw_port" "${E2E_PORT[hc_b]}" 20)
	[ "$got" = 0 ] || fail "b unhealthy: it still answered $got of 20"
	echo up >"$flag"
	wait_until 5 "an 'is now healthy' log line for b" \
		logged hc_gw "endpoint 127.0.0.1:${E2E_PORT[hc_b]} is now healthy"
	got=$(answers_from "$gw_port" "${E2E_PORT[hc_b]}" 20)
	[ "$got" = 10 ] || fail "b healthy again: it answered $got of 20"
	stop_server hc_gw
	[ "$E2E_ELAPSED_MS" -lt 1000 ] || fail "drain took $E2E_ELAPSED_MS ms: health checks held it up"
	stop_server hc_a
	stop_server hc_b
}

run_case "an unhealthy endpoint gets no requests until it passes its checks again" \
	unhealthy_endpoint_is_skipped_then_returns
finish
