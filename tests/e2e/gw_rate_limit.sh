#!/usr/bin/env bash
# vkgw end to end: the rate_limit filter, local mode (one table of cells
# every kernel shares), in front of tests/services/gw_test_upstream.
#
#   answers        a rule of 5 per 10 s: 5 requests through with
#                  RateLimit-Policy/RateLimit counting down (and the
#                  legacy X-RateLimit-*), then 429 in the JSON error shape
#                  with Retry-After and the same headers; another client
#                  key is apart; "status": 503 answers 503; /metrics
#                  counts each rule's requests by result (promtool)
#   across kernels 2 kernels, 8 keep-alive clients spread over both (each
#                  kernel served some): a limit of 100/s (burst 10)
#                  admits 100/s +-5% over 10 s
#   keys           per consumer after api_key (each consumer its own
#                  bucket, an override for one), per header, per network
#                  (/24), a request lacking its part is not counted
#                  ("skip"), or counted under an empty part ("limit");
#                  two rules: a refusal by the second gives back what the
#                  first took
#   shadow         nothing refused, what would be is logged
#   reload         a reload that keeps the rule keeps its cells (still
#                  refused after it); one that changes the rule starts
#                  afresh
#   config         bad rules at their pointers; the table's size fixed at
#                  start
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
LOAD="$(dirname "$0")/gw_rate_load.py"
need_bin "$VKGW"
need_bin "$UPSTREAM"

# gateway NAME KERNELS ROUTES_JSON [TOP_JSON]: vkgw NAME in front of the
# test upstream, with an admin listener.
gateway() {
	start_server "$1_up" "$UPSTREAM" -p 0 -k 1
	cat >"$E2E_TMP/$1.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": $2 } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[$1_up]}" ] } },
  ${4:-}
  "routes": [ $3 ]
}
JSON
	start_server "$1" "$VKGW" -c "$E2E_TMP/$1.json"
	GW="http://127.0.0.1:${E2E_PORT[$1]}"
}

# route NAME FILTERS_JSON: /NAME/... through FILTERS to the upstream's /echo.
route() {
	printf '{ "name": "%s", "match": { "path": { "prefix": "/%s/" } }, "filters": [ %s ],
	  "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } }' "$1" "$1" "$2"
}

get() { curl -s -i --noproxy '*' --max-time 5 "$@" | tr -d '\r'; }
code() { curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 5 "$@"; }
status_of() { head -n 1 <<<"$1" | cut -d' ' -f2; }
has_line() { grep -qixF -- "$2" <<<"$1"; }
# codes N ARGS...: the statuses of N requests, space-separated.
codes() {
	local n=$1 out=""
	shift
	for _ in $(seq "$n"); do out+="$(code "$@") "; done
	printf '%s' "${out% }"
}

answers() {
	local out
	gateway an 1 "$(route a '{ "type": "rate_limit", "headers": "both",
	    "rules": [ { "name": "five", "key": [ { "header": "x-client" } ], "rate": 5, "period_seconds": 10 } ] }'),
	  $(route s '{ "type": "rate_limit", "status": 503, "headers": "none",
	    "rules": [ { "name": "one", "key": [ "route" ], "rate": 1, "period_seconds": 60 } ] }')"
	for i in 4 3 2 1 0; do
		out=$(get -H 'x-client: c1' "$GW/a/x")
		[ "$(status_of "$out")" = 200 ] || fail "request $((5 - i)): $out"
		has_line "$out" 'ratelimit-policy: "five";q=5;w=10' || fail "RateLimit-Policy: $out"
		grep -qix "ratelimit: \"five\";r=$i;t=[0-9]*" <<<"$out" || fail "RateLimit r=$i: $out"
		has_line "$out" "x-ratelimit-remaining: $i" || fail "X-RateLimit-Remaining: $out"
		has_line "$out" "x-ratelimit-limit: 5" || fail "X-RateLimit-Limit: $out"
		grep -q '^GET /echo/x HTTP/1.1' <<<"$out" || fail "not the upstream's answer: $out"
	done
	out=$(get -H 'x-client: c1' "$GW/a/x")
	[ "$(status_of "$out")" = 429 ] || fail "the sixth: $out"
	[ "${out##*$'\n'}" = '{"error":"rate limit exceeded","status":429}' ] || fail "429 body: $out"
	has_line "$out" "retry-after: 2" || fail "Retry-After: $out"
	grep -qix 'ratelimit: "five";r=0;t=1[0-9]' <<<"$out" || fail "RateLimit on 429: $out"
	grep -q '^GET /echo' <<<"$out" && fail "a refused request reached the upstream: $out"
	[ "$(code -H 'x-client: c2' "$GW/a/x")" = 200 ] || fail "another key was refused"
	[ "$(codes 3 "$GW/s/x")" = "200 503 503" ] || fail "status 503: $(codes 1 "$GW/s/x")"
	out=$(get "$GW/s/x")
	grep -qi '^ratelimit' <<<"$out" && fail "headers: none sent some: $out"
	# /metrics: each rule's requests by result, promtool's format.
	curl -s --noproxy '*' --max-time 5 -o "$E2E_TMP/metrics" "http://127.0.0.1:$(admin_port an)/metrics"
	promtool check metrics <"$E2E_TMP/metrics" >"$E2E_TMP/promtool.out" 2>&1 ||
		fail "promtool check metrics: $(cat "$E2E_TMP/promtool.out")"
	for want in 'route="a",rule="five",result="allowed"} 6' 'route="a",rule="five",result="limited"} 1' \
		'route="s",rule="one",result="allowed"} 1' 'route="s",rule="one",result="limited"} 3' \
		'route="a",rule="five",result="shadow_limited"} 0'; do
		grep -qF "vkgw_rate_limit_requests_total{$want" "$E2E_TMP/metrics" ||
			fail "/metrics lacks $want: $(grep rate_limit "$E2E_TMP/metrics")"
	done
	grep -q '^vkgw_rate_limit_live_evictions_total 0$' "$E2E_TMP/metrics" || fail "no live evictions counter"
}

kernel_requests() {
	curl -s --noproxy '*' "http://127.0.0.1:$(admin_port ak)/stats" |
		python3 -c 'import json,sys; print(" ".join(str(k["requests"]) for k in json.load(sys.stdin)["per_kernel"]))'
}

across_kernels() {
	local out admitted per
	# A burst of 10 (100 ms of the rate): with a burst of 1, each
	# request that comes a little after its 10 ms slot opens loses that
	# lateness for good, and a client slowed by a busy machine got 93-95%
	# of the rate; the burst adds at most 10 to the count.
	gateway ak 2 "$(route k '{ "type": "rate_limit", "headers": "none",
	    "rules": [ { "name": "hundred", "key": [ { "constant": "all" } ], "rate": 100, "period_seconds": 1, "burst": 10 } ] }')"
	out=$(python3 "$LOAD" "${E2E_PORT[ak]}" /k/x 10 8)
	admitted=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("200", 0))' "$out")
	note "100/s for 10 s over 2 kernels: $out"
	[ "$admitted" -ge 950 ] && [ "$admitted" -le 1050 ] ||
		fail "admitted $admitted in 10 s, not 1000 +-5%: $out"
	per=$(kernel_requests)
	for n in $per; do
		[ "$n" -ge 1000 ] || fail "a kernel served only $n requests: the load was not spread ($per)"
	done
}

keys() {
	local consumers
	consumers='{ "type": "api_key", "keys": [ { "consumer": "alice", "key": "ka" }, { "consumer": "bob", "key": "kb" } ] }'
	gateway ky 1 "$(route c "$consumers"', { "type": "rate_limit", "headers": "none",
	    "rules": [ { "name": "per-consumer", "key": [ "consumer" ], "rate": 2, "period_seconds": 60,
	                 "overrides": [ { "key": "bob", "rate": 4 } ] } ] }'),
	  $(route n '{ "type": "rate_limit", "headers": "none",
	    "rules": [ { "name": "per-net", "key": [ { "client_address": { "ipv4_prefix": 24 } } ], "rate": 1, "period_seconds": 60 } ] }'),
	  $(route m '{ "type": "rate_limit", "headers": "none",
	    "rules": [ { "name": "skip", "key": [ { "header": "x-tenant" } ], "rate": 1, "period_seconds": 60 },
	               { "name": "limit", "key": [ { "header": "x-team" } ], "rate": 1, "period_seconds": 60, "missing": "limit" } ] }'),
	  $(route t '{ "type": "rate_limit", "headers": "none",
	    "rules": [ { "name": "wide", "key": [ "route" ], "rate": 10, "period_seconds": 60, "burst": 2 },
	               { "name": "narrow", "key": [ { "header": "x-user" } ], "rate": 1, "period_seconds": 60 } ] }')"
	[ "$(codes 3 -H 'x-api-key: ka' "$GW/c/x")" = "200 200 429" ] || fail "alice: $(codes 1 -H 'x-api-key: ka' "$GW/c/x")"
	[ "$(codes 5 -H 'x-api-key: kb' "$GW/c/x")" = "200 200 200 200 429" ] || fail "bob's override"
	# 127.0.0.1 and 127.0.0.2 share a /24.
	[ "$(code "$GW/n/x")" = 200 ] || fail "the network's first"
	[ "$(code --interface 127.0.0.2 "$GW/n/x")" = 429 ] || fail "the same /24 from another address"
	# x-tenant absent: not counted by "skip"; x-team absent: counted
	# under an empty part by "limit".
	[ "$(codes 2 -H 'x-team: t1' "$GW/m/x")" = "200 429" ] || fail "x-team t1"
	[ "$(code -H 'x-team: t2' "$GW/m/x")" = 200 ] || fail "x-team t2"
	[ "$(codes 2 -H 'x-tenant: a' "$GW/m/x")" = "200 429" ] || fail "x-tenant a, no x-team"
	# "wide" lets 2 at once; "narrow" refuses u1's second, and "wide"
	# gets back what it took: u2 and u3 still pass.
	[ "$(codes 2 -H 'x-user: u1' "$GW/t/x")" = "200 429" ] || fail "u1"
	[ "$(code -H 'x-user: u2' "$GW/t/x")" = 200 ] || fail "u2: wide was not given back its token"
	[ "$(code -H 'x-user: u3' "$GW/t/x")" = 429 ] || fail "u3: wide's burst of 2 is spent"
}

shadow() {
	gateway sh 1 "$(route s '{ "type": "rate_limit", "shadow": true,
	    "rules": [ { "name": "one", "key": [ "route" ], "rate": 1, "period_seconds": 60 } ] }')"
	[ "$(codes 3 "$GW/s/x")" = "200 200 200" ] || fail "shadow refused"
	grep -q 'rate_limit: rule one would refuse key s (shadow)' "$(server_err_file sh)" ||
		fail "nothing logged:$(server_stderr sh)"
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$(admin_port sh)/metrics" |
		grep -qF 'vkgw_rate_limit_requests_total{route="s",rule="one",result="shadow_limited"} 2' ||
		fail "shadow refusals not counted"
}

reload() {
	local rule
	rule='{ "type": "rate_limit", "headers": "none", "rules": [ { "name": "one", "key": [ "route" ], "rate": 1, "period_seconds": 600 } ] }'
	gateway rl 2 "$(route r "$rule"), $(route other '{ "type": "request_id" }')"
	[ "$(codes 2 "$GW/r/x")" = "200 429" ] || fail "before the reload"
	# Another route added: the rule is as it was, its cell too.
	sed -i 's/"name": "other"/"name": "another"/' "$E2E_TMP/rl.json"
	signal_server rl HUP
	wait_until 5 "configuration 2 applied" grep -q "configuration 2 applied" "$(server_err_file rl)"
	[ "$(code "$GW/r/x")" = 429 ] || fail "the cell was lost in a reload that kept the rule"
	sed -i 's/"rate": 1,/"rate": 2,/' "$E2E_TMP/rl.json"
	signal_server rl HUP
	wait_until 5 "configuration 3 applied" grep -q "configuration 3 applied" "$(server_err_file rl)"
	[ "$(code "$GW/r/x")" = 200 ] || fail "a changed rule did not start afresh"
	python3 - "$E2E_TMP/rl.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    config = json.load(f)
config["rate_limits"] = {"cells": 5000}
with open(sys.argv[1], "w") as f:
    json.dump(config, f)
PY
	signal_server rl HUP
	wait_until 5 "the resized table refused" grep -q '/rate_limits/cells: the rate limit table is sized at start' \
		"$(server_err_file rl)"
}

config_errors() {
	local out
	cat >"$E2E_TMP/bad.json" <<'JSON'
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0 } ],
  "rate_limits": { "cells": 10 },
  "routes": [
    { "name": "a", "match": { "path": { "prefix": "/" } },
      "filters": [ { "type": "rate_limit", "headers": "some", "status": 500,
                     "rules": [ { "name": "x", "key": [ "nobody" ], "rate": 0 },
                                { "key": [ { "header": "host" } ], "rate": 1, "missing": "maybe" } ] } ],
      "action": { "respond": { "status": 200 } } }
  ]
}
JSON
	out=$("$VKGW" --check -c "$E2E_TMP/bad.json" 2>&1) && fail "--check passed: $out"
	for want in \
		'bad.json:3:[0-9]*: /rate_limits/cells: must be from 1024' \
		'/routes/0/filters/0/rules/0/key/0: "consumer", "route", "client_address", or an object' \
		'/routes/0/filters/0/rules/0/rate: must be from 1 to 1000000000, not 0' \
		'/routes/0/filters/0/rules/1: a rule needs a "name"' \
		'/routes/0/filters/0/rules/1/key/0/header: ' \
		'/routes/0/filters/0/rules/1/missing: "skip"' \
		'/routes/0/filters/0/headers: "draft"' \
		'/routes/0/filters/0/status: '; do
		grep -q -- "$want" <<<"$out" || fail "no \"$want\" in: $out"
	done
}

run_case "rate_limit: 5 per 10 s, the headers counting down, 429 with Retry-After; status 503" answers
run_case "rate_limit: 100/s over 2 kernels admits 1000 +-5% in 10 s" across_kernels
run_case "rate_limit: keys by consumer (override), network, header; missing parts; two rules give back" keys
run_case "rate_limit: shadow mode refuses nothing and logs" shadow
run_case "rate_limit: reloads keep the cells of unchanged rules; the table size is fixed" reload
run_case "rate_limit: configuration errors at their pointers" config_errors
finish
