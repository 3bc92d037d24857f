#!/usr/bin/env bash
# vkgw end to end: the rate_limit filter in Redis mode, against a real
# redis-server (Debian's) on a loopback port, in front of
# tests/services/gw_test_upstream.
#
#   answers     5 per 600 s: the headers count down, then 429 with
#               Retry-After; the cell is Redis's, hash-tagged
#               "vkgw:{RULE:KEY}"; a second instance sharing the Redis
#               refuses the same key at once
#   global      two instances of 2 kernels each sharing one Redis, loaded
#               together: 100/s admits 1000 +-5% in 10 s
#   batch       "batch": 5 takes tokens in blocks: fewer EVALSHA calls than
#               admitted requests, and over a window the instances admit at
#               most burst + window * rate + (batch - 1) per kernel
#   down        Redis killed and restarted: fail open (on_error allow,
#               redis_errors counted, a log line) and fail closed (deny:
#               503 with Retry-After), each limiting again after the
#               restart; on_error local: this instance's own table
#   midrun      the same under load: no request fails, Redis counts again
#   slow        Redis busy (DEBUG SLEEP): the request is answered after
#               timeout_ms, before Redis is free again (fail open and
#               closed), then limiting resumes
#   noscript    SCRIPT FLUSH on the server: one request meets NOSCRIPT
#               (on_error decides), the script is loaded again
#   after_jwt   keys from the consumer and a claim jwt set
#   auth        a Redis with a password: AUTH on connect; a wrong one is
#               logged and the requests fail open
#   config      bad Redis settings at their pointers
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
LOAD="$(dirname "$0")/gw_rate_load.py"
need_bin "$VKGW"
need_bin "$UPSTREAM"
command -v redis-server >/dev/null || fail "redis-server is not installed (deploy/install-deps.sh)"

# gateway NAME KERNELS ROUTES_JSON: vkgw NAME in front of its own test
# upstream, with an admin listener.
gateway() {
	start_server "$1_up" "$UPSTREAM" -p 0 -k 1
	cat >"$E2E_TMP/$1.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": $2 } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[$1_up]}" ] } },
  "routes": [ $3 ]
}
JSON
	start_server "$1" "$VKGW" -c "$E2E_TMP/$1.json"
}

# limited NAME RULE_JSON [REDIS_EXTRA]: the route /NAME/ limited in Redis
# mode (the Redis "redis" started), RULE_JSON its rules.
limited() {
	printf '{ "name": "%s", "match": { "path": { "prefix": "/%s/" } },
	  "filters": [ { "type": "rate_limit", "mode": "redis",
	    "redis": { "address": "127.0.0.1:%s" %s }, "rules": [ %s ] } ],
	  "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } }' \
		"$1" "$1" "${E2E_PORT[redis]}" "${3:-}" "$2"
}

url() { printf 'http://127.0.0.1:%s/%s' "${E2E_PORT[$1]}" "$2"; }
get() { curl -s -i --noproxy '*' --max-time 5 "$@" | tr -d '\r'; }
code() { curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 5 "$@"; }
status_of() { head -n 1 <<<"$1" | cut -d' ' -f2; }
has_line() { grep -qixF -- "$2" <<<"$1"; }
codes() {
	local n=$1 out=""
	shift
	for _ in $(seq "$n"); do out+="$(code "$@") "; done
	printf '%s' "${out% }"
}
rcli() { redis-cli -p "${E2E_PORT[redis]}" "$@"; }
metrics() { curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$(admin_port "$1")/metrics"; }
# metric NAME LINE_PREFIX: the value of the first /metrics line of NAME's
# starting with LINE_PREFIX (0 when none).
metric() {
	metrics "$1" | awk -v p="$2" 'index($0, p) == 1 { print $NF; found = 1; exit } END { if (!found) print 0 }'
}
metric_at_least() { [ "$(metric "$1" "$2")" -ge "$3" ]; }
code_is() {
	local want=$1
	shift
	[ "$(code "$@")" = "$want" ]
}
json_get() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))' "$1" "$2"; }
evalsha_calls() { rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p'; }

answers() {
	local out
	start_redis redis
	gateway a1 1 "$(limited r '{ "name": "five", "key": [ { "header": "x-client" } ], "rate": 5, "period_seconds": 600 }')"
	for i in 4 3 2 1 0; do
		out=$(get -H 'x-client: c1' "$(url a1 r/x)")
		[ "$(status_of "$out")" = 200 ] || fail "request $((5 - i)): $out"
		has_line "$out" 'ratelimit-policy: "five";q=5;w=600' || fail "RateLimit-Policy: $out"
		grep -qix "ratelimit: \"five\";r=$i;t=[0-9]*" <<<"$out" || fail "RateLimit r=$i: $out"
		grep -q '^GET /echo/x HTTP/1.1' <<<"$out" || fail "not the upstream's answer: $out"
	done
	out=$(get -H 'x-client: c1' "$(url a1 r/x)")
	[ "$(status_of "$out")" = 429 ] || fail "the sixth: $out"
	[ "${out##*$'\n'}" = '{"error":"rate limit exceeded","status":429}' ] || fail "429 body: $out"
	has_line "$out" "retry-after: 120" || fail "Retry-After: $out"
	[ "$(rcli --raw exists 'vkgw:{five:c1}')" = 1 ] || fail "no cell vkgw:{five:c1} in Redis: $(rcli --raw keys '*')"
	[ "$(code -H 'x-client: c2' "$(url a1 r/x)")" = 200 ] || fail "another key was refused"
	# Another instance, the same Redis: c1 is spent there too.
	gateway a2 1 "$(limited r '{ "name": "five", "key": [ { "header": "x-client" } ], "rate": 5, "period_seconds": 600 }')"
	[ "$(code -H 'x-client: c1' "$(url a2 r/x)")" = 429 ] || fail "the second instance let c1 through"
	[ "$(codes 4 -H 'x-client: c2' "$(url a2 r/x)")" = "200 200 200 200" ] || fail "c2 on the second instance"
	[ "$(code -H 'x-client: c2' "$(url a1 r/x)")" = 429 ] || fail "c2's sixth, back on the first"
	metrics a1 >"$E2E_TMP/metrics"
	promtool check metrics <"$E2E_TMP/metrics" >"$E2E_TMP/promtool.out" 2>&1 ||
		fail "promtool check metrics: $(cat "$E2E_TMP/promtool.out")"
	grep -qF 'vkgw_rate_limit_redis_errors_total{route="r",rule="five"} 0' "$E2E_TMP/metrics" ||
		fail "no redis errors counter: $(grep rate_limit "$E2E_TMP/metrics")"
}

# Both instances loaded at once; the admitted requests of both summed.
global_rate() {
	local out1 out2 admitted
	start_redis redis
	for g in g1 g2; do
		gateway $g 2 "$(limited k '{ "name": "hundred", "key": [ { "constant": "all" } ], "rate": 100, "period_seconds": 1, "burst": 5 }')"
	done
	python3 "$LOAD" "${E2E_PORT[g1]}" /k/x 10 6 >"$E2E_TMP/load1" &
	python3 "$LOAD" "${E2E_PORT[g2]}" /k/x 10 6 >"$E2E_TMP/load2"
	wait $!
	out1=$(cat "$E2E_TMP/load1") out2=$(cat "$E2E_TMP/load2")
	admitted=$(($(json_get "$out1" 200) + $(json_get "$out2" 200)))
	note "100/s for 10 s, two instances sharing Redis: $out1 $out2"
	[ "$admitted" -ge 950 ] && [ "$admitted" -le 1050 ] ||
		fail "admitted $admitted in 10 s over both, not 1000 +-5%: $out1 $out2"
	[ "$(json_get "$out1" 200)" -ge 200 ] && [ "$(json_get "$out2" 200)" -ge 200 ] ||
		fail "one instance admitted little: the test did not share: $out1 $out2"
}

batch() {
	local out1 out2 admitted calls seconds bound
	start_redis redis
	for g in b1 b2; do
		gateway $g 2 "$(limited k '{ "name": "ten", "key": [ { "constant": "all" } ], "rate": 10, "period_seconds": 1, "burst": 10 }' \
			', "batch": 5, "lease_ms": 60000'),
		  $(limited h '{ "name": "high", "key": [ { "constant": "all" } ], "rate": 100000, "period_seconds": 1 }' \
			', "batch": 5, "lease_ms": 60000')"
	done
	# A limit never reached: each call takes 5 tokens, so about one
	# round trip per 5 requests (the leases' last tokens at most lapse).
	calls=$(evalsha_calls)
	python3 "$LOAD" "${E2E_PORT[b1]}" /h/x 1 4 >"$E2E_TMP/load1" &
	python3 "$LOAD" "${E2E_PORT[b2]}" /h/x 1 4 >"$E2E_TMP/load2"
	wait $!
	out1=$(cat "$E2E_TMP/load1") out2=$(cat "$E2E_TMP/load2")
	admitted=$(($(json_get "$out1" 200) + $(json_get "$out2" 200)))
	calls=$(($(evalsha_calls) - calls))
	note "batch 5, a limit not reached: $admitted admitted, $calls EVALSHA calls"
	[ "$admitted" -ge 100 ] || fail "too few requests to tell: $out1 $out2"
	[ "$calls" -le $((admitted / 5 + 8)) ] || fail "$calls EVALSHA calls for $admitted requests with batch 5"
	# A limit reached: warm (every kernel holds a lease, the bucket is
	# spent), then a window.
	python3 "$LOAD" "${E2E_PORT[b1]}" /k/x 1 4 >/dev/null &
	python3 "$LOAD" "${E2E_PORT[b2]}" /k/x 1 4 >/dev/null
	wait $!
	python3 "$LOAD" "${E2E_PORT[b1]}" /k/x 3 4 >"$E2E_TMP/load1" &
	python3 "$LOAD" "${E2E_PORT[b2]}" /k/x 3 4 >"$E2E_TMP/load2"
	wait $!
	out1=$(cat "$E2E_TMP/load1") out2=$(cat "$E2E_TMP/load2")
	admitted=$(($(json_get "$out1" 200) + $(json_get "$out2" 200)))
	seconds=$(python3 -c 'import json,sys; print(max(json.loads(a)["seconds"] for a in sys.argv[1:]))' "$out1" "$out2")
	# burst + window * rate + (batch - 1) for each of the 4 kernels; the
	# window is the clients', a little longer than the gateways' own.
	bound=$(python3 -c 'import sys; print(int(10 + (float(sys.argv[1]) + 0.2) * 10 + 4 * 4))' "$seconds")
	note "10/s, batch 5, two instances of 2 kernels, ${seconds} s: admitted $admitted (bound $bound)"
	[ "$admitted" -le "$bound" ] || fail "admitted $admitted over $seconds s, above the bound $bound: $out1 $out2"
	[ "$admitted" -ge 24 ] || fail "admitted only $admitted over $seconds s at 10/s: $out1 $out2"
}

# down_case ON_ERROR WHILE_DOWN: 2 per 600 s; Redis killed, then restarted
# on its port: the requests while down answer WHILE_DOWN, and after the
# restart the rule limits again.
down_case() {
	local g=d_$1 pid out
	start_redis redis
	gateway $g 1 "$(limited d '{ "name": "two", "key": [ "route" ], "rate": 2, "period_seconds": 600 }' \
		", \"on_error\": \"$1\", \"timeout_ms\": 200")"
	# Not refused yet: a refusal is kept in the kernel until its retry
	# time, and would answer without asking Redis.
	[ "$(codes 2 "$(url $g d/x)")" = "200 200" ] || fail "before"
	pid=${E2E_PID[redis]}
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	_e2e_disown "$pid"
	out=$(get "$(url $g d/x)")
	[ "$(status_of "$out")" = "${2%% *}" ] || fail "while Redis is down ($1): $out"
	case $1 in
	deny)
		[ "${out##*$'\n'}" = '{"error":"rate limit service unavailable","status":503}' ] || fail "503 body: $out"
		has_line "$out" "retry-after: 1" || fail "Retry-After: $out"
		;;
	local) [ "$(codes 2 "$(url $g d/x)")" = "200 429" ] || fail "the local table while down" ;;
	esac
	grep -q "rate_limit: redis 127.0.0.1:${E2E_PORT[redis]}: .*: requests are" "$(server_err_file $g)" ||
		fail "no log line:$(server_stderr $g)"
	metric_at_least $g 'vkgw_rate_limit_redis_errors_total{route="d",rule="two"}' 1 ||
		fail "redis errors not counted: $(metrics $g | grep redis_errors)"
	# Restarted empty, on its port: a request makes the cell again (the
	# first ones may still meet the reconnection), one more passes, then
	# the rule refuses.
	start_redis redis "${E2E_PORT[redis]}"
	wait_until 10 "the gateway counting in Redis again" request_makes_cell "$(url $g d/x)" 'vkgw:{two:d}'
	[ "$(codes 2 "$(url $g d/x)")" = "200 429" ] || fail "after the restart"
}

# One request to URL, then whether Redis holds CELL.
request_makes_cell() {
	code "$1" >/dev/null
	[ "$(rcli --raw exists "$2")" = 1 ]
}

down_open() { down_case allow 200; }

# Under load: Redis killed while requests flow, then restarted; no
# request fails (fail open: 200 or 429 only) and Redis counts again.
midrun() {
	local pid out load
	start_redis redis
	gateway mr 2 "$(limited m '{ "name": "fifty", "key": [ { "constant": "all" } ], "rate": 50, "period_seconds": 1 }')"
	python3 "$LOAD" "${E2E_PORT[mr]}" /m/x 8 4 >"$E2E_TMP/load" &
	load=$!
	wait_until 5 "Redis counting the load" calls_above 20
	pid=${E2E_PID[redis]}
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	_e2e_disown "$pid"
	wait_until 5 "the failure logged" grep -q "rate_limit: redis .*: requests are let through" "$(server_err_file mr)"
	start_redis redis "${E2E_PORT[redis]}"
	wait_until 5 "Redis counting again" calls_above 20
	wait "$load"
	out=$(cat "$E2E_TMP/load")
	note "Redis killed and restarted under load: $out"
	[ "$(json_get "$out" errors)" = 0 ] || fail "requests failed: $out"
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(set(d) - {"200", "429", "errors", "seconds"} != set())' "$out" ||
		fail "answers other than 200 and 429: $out"
	[ "$(json_get "$out" 429)" -gt 0 ] || fail "nothing limited: $out"
}

# More than N EVALSHA calls so far.
calls_above() { [ "$(evalsha_calls || echo 0)" -gt "$1" ] 2>/dev/null; }
down_closed() { down_case deny 503; }
down_local() { down_case local 200; }

# slow_case ON_ERROR STATUS: Redis busy for 3 s; the request answers
# STATUS while it still is (its DEBUG SLEEP client has not returned).
slow_case() {
	local g=s_$1 sleeper out
	start_redis redis
	gateway $g 1 "$(limited s '{ "name": "two", "key": [ "route" ], "rate": 2, "period_seconds": 600 }' \
		", \"on_error\": \"$1\", \"timeout_ms\": 100")"
	[ "$(code "$(url $g s/x)")" = 200 ] || fail "before"
	rcli debug sleep 3 >/dev/null &
	sleeper=$!
	wait_until 3 "Redis busy" redis_busy
	out=$(code "$(url $g s/x)")
	kill -0 "$sleeper" 2>/dev/null || fail "Redis came back before the answer: no time out was tested"
	[ "$out" = "$2" ] || fail "while Redis sleeps ($1): $out"
	wait "$sleeper"
	metric_at_least $g 'vkgw_rate_limit_redis_errors_total{route="s",rule="two"}' 1 || fail "the time out not counted"
	# Then Redis answers again: "two" allows one more (the slow
	# request's call never ran, or ran and was dropped), then limits.
	wait_until 10 "limiting again" code_is 429 "$(url $g s/x)"
}

# A PING that gets no answer within 0.2 s: Redis is running a command.
redis_busy() { ! timeout 0.2 redis-cli -p "${E2E_PORT[redis]}" ping >/dev/null 2>&1; }

slow_open() { slow_case allow 200; }
slow_closed() { slow_case deny 503; }

noscript() {
	start_redis redis
	gateway ns 1 "$(limited n '{ "name": "three", "key": [ "route" ], "rate": 3, "period_seconds": 600 }')"
	[ "$(codes 2 "$(url ns n/x)")" = "200 200" ] || fail "before"
	[ "$(rcli script flush)" = OK ] || fail "SCRIPT FLUSH"
	# The first after the flush meets NOSCRIPT (let through: allow); the
	# script is loaded again, and the third of the rule is the last.
	[ "$(codes 3 "$(url ns n/x)")" = "200 200 429" ] || fail "after the flush"
	[ "$(metric ns 'vkgw_rate_limit_redis_errors_total{route="n",rule="three"}')" = 1 ] || fail "one NOSCRIPT error"
}

# An HS256 token for PAYLOAD under SECRET.
mint() {
	python3 - "$1" "$2" <<'PY'
import base64, hashlib, hmac, json, sys
def b64(data): return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
body = b64(sys.argv[1].encode())
sig = hmac.new(sys.argv[2].encode(), (head + "." + body).encode(), hashlib.sha256).digest()
print(head + "." + body + "." + b64(sig))
PY
}

# Keyed by the consumer jwt set and by a claim: each consumer its own
# cell in Redis, a tier's rule across consumers.
after_jwt() {
	local secret=vkgw-e2e-secret-0123456789abcdef k alice bob carol
	k=$(printf '%s' "$secret" | base64 -w0 | tr '+/' '-_' | tr -d '=')
	start_redis redis
	gateway jw 1 '{ "name": "j", "match": { "path": { "prefix": "/j/" } },
	  "filters": [ { "type": "jwt", "providers": [ { "name": "p", "claims_to_values": [ "tier" ], "keys": { "keys": [ { "kty": "oct", "kid": "k1", "k": "'"$k"'" } ] } } ] },
	    { "type": "rate_limit", "mode": "redis", "headers": "none", "redis": { "address": "127.0.0.1:'"${E2E_PORT[redis]}"'" },
	      "rules": [ { "name": "per-user", "key": [ "consumer" ], "rate": 2, "period_seconds": 600 },
	                 { "name": "per-tier", "key": [ { "value": "jwt.tier" } ], "rate": 3, "period_seconds": 600 } ] } ],
	  "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } }'
	alice=$(mint '{"sub": "alice", "tier": "free"}' "$secret")
	bob=$(mint '{"sub": "bob", "tier": "free"}' "$secret")
	carol=$(mint '{"sub": "carol", "tier": "gold"}' "$secret")
	[ "$(codes 3 -H "authorization: Bearer $alice" "$(url jw j/x)")" = "200 200 429" ] || fail "alice"
	[ "$(rcli --raw exists 'vkgw:{per-user:alice}')" = 1 ] || fail "no cell for alice: $(rcli --raw keys '*')"
	# bob is apart from alice, but his tier has one left of its 3.
	[ "$(codes 2 -H "authorization: Bearer $bob" "$(url jw j/x)")" = "200 429" ] || fail "bob and the free tier: $(rcli --raw keys "*") $(get -H "authorization: Bearer $bob" "$(url jw j/x)")"
	[ "$(code -H "authorization: Bearer $carol" "$(url jw j/x)")" = 200 ] || fail "carol, another tier"
	[ "$(code "$(url jw j/x)")" = 401 ] || fail "no token: not refused by jwt first"
}

auth() {
	start_redis redis "" --requirepass s3cret
	gateway au 1 "$(limited p '{ "name": "one", "key": [ "route" ], "rate": 1, "period_seconds": 600 }' ', "password": "s3cret"'),
	  $(limited w '{ "name": "one", "key": [ "route" ], "rate": 1, "period_seconds": 600 }' ', "password": "wrong"')"
	[ "$(codes 2 "$(url au p/x)")" = "200 429" ] || fail "with the password"
	[ "$(codes 2 "$(url au w/x)")" = "200 200" ] || fail "with a wrong password: not let through"
	wait_until 5 "the refusal logged" grep -q "redis 127.0.0.1:${E2E_PORT[redis]}: WRONGPASS" "$(server_err_file au)"
}

config_errors() {
	local out
	cat >"$E2E_TMP/bad.json" <<'JSON'
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0 } ],
  "routes": [
    { "name": "a", "match": { "path": { "prefix": "/a/" } },
      "filters": [ { "type": "rate_limit", "mode": "redis",
                     "rules": [ { "name": "x", "key": [ "route" ], "rate": 1 } ] } ],
      "action": { "respond": { "status": 200 } } },
    { "name": "b", "match": { "path": { "prefix": "/b/" } },
      "filters": [ { "type": "rate_limit", "mode": "redis",
                     "redis": { "address": "redis.example:6379", "on_error": "maybe", "batch": 0, "colour": 1 },
                     "rules": [ { "name": "x", "key": [ "route" ], "rate": 2000000, "period_seconds": 1 } ] } ],
      "action": { "respond": { "status": 200 } } },
    { "name": "c", "match": { "path": { "prefix": "/c/" } },
      "filters": [ { "type": "rate_limit", "mode": "global", "redis": { "address": "127.0.0.1:1" },
                     "rules": [ { "name": "x", "key": [ "route" ], "rate": 1 } ] } ],
      "action": { "respond": { "status": 200 } } }
  ]
}
JSON
	out=$("$VKGW" --check -c "$E2E_TMP/bad.json" 2>&1) && fail "--check passed: $out"
	for want in \
		'bad.json:[0-9]*:[0-9]*: /routes/0/filters/0/mode: "mode": "redis" goes with a "redis" object' \
		'/routes/1/filters/0/redis/address: Redis'"'"'s "HOST:PORT"' \
		'/routes/1/filters/0/redis/on_error: "allow" (fail open)' \
		'/routes/1/filters/0/redis/batch: must be from 1' \
		'/routes/1/filters/0/redis/colour' \
		'/routes/1/filters/0/rules/0: in Redis mode, period_seconds / rate is at least a microsecond' \
		'/routes/2/filters/0/mode: "local"'; do
		grep -q -- "$want" <<<"$out" || fail "no \"$want\" in: $out"
	done
}

run_case "rate_limit redis: 5 per 600 s: headers, 429, the cell in Redis, a second instance sees it" answers
run_case "rate_limit redis: two instances of 2 kernels admit 100/s +-5% over 10 s" global_rate
run_case "rate_limit redis: batch 5 spares round trips within its documented bound" batch
run_case "rate_limit redis: Redis killed and restarted, fail open" down_open
run_case "rate_limit redis: Redis killed under load and restarted: no request fails (fail open)" midrun
run_case "rate_limit redis: Redis killed and restarted, fail closed (503)" down_closed
run_case "rate_limit redis: Redis killed and restarted, on_error local" down_local
run_case "rate_limit redis: slow Redis, timeout_ms, fail open" slow_open
run_case "rate_limit redis: slow Redis, timeout_ms, fail closed" slow_closed
run_case "rate_limit redis: NOSCRIPT after SCRIPT FLUSH, the script loaded again" noscript
run_case "rate_limit redis: keyed by the consumer and a claim after jwt" after_jwt
run_case "rate_limit redis: AUTH with a password; a wrong one fails open" auth
run_case "rate_limit redis: configuration errors at their pointers" config_errors
finish
