#!/usr/bin/env bash
# vkgw end to end: upstream balancing and protection, with two or three
# tests/services/gw_test_upstream instances on loopback behind one gateway
# kernel (upstream state is per kernel).
#
#   least_request   300 sequential requests on new connections: each of 3
#                   endpoints gets 100 +- 20%; a busy endpoint (a request
#                   held in flight) is avoided
#   hash (header)   a value always lands on one endpoint; 600 values spread
#                   over all 3 within +-30% (maglev); ring is sticky too
#   hash (cookie)   the same on a cookie
#   hash (client)   every request from 127.0.0.1 lands on one endpoint;
#                   other loopback sources are sticky as well
#   outliers        2 refused connects eject an endpoint for
#                   base_ejection_ms, then it is back (and a second
#                   ejection lasts twice as long); 3 consecutive 5xx eject
#                   one of two endpoints, max_ejection_percent 50 keeps the
#                   other
#   breaker         max_requests 2 and 2 requests held in flight: a third
#                   gets a 503 naming max_requests, the two a 200;
#                   counters released after errors
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"

# upstreams NAME...: starts a test upstream under each name.
upstreams() {
	local name
	for name in "$@"; do
		start_server "$name" "$UPSTREAM" -p 0 -k 1
	done
}

# endpoints NAME...: the JSON endpoint list of those servers.
endpoints() {
	local name eps=""
	for name in "$@"; do
		eps="$eps${eps:+, }\"127.0.0.1:${E2E_PORT[$name]}\""
	done
	printf '[ %s ]' "$eps"
}

# gateway NAME UPSTREAM_JSON: one kernel; upstream "app" is UPSTREAM_JSON
# (the members of its object); every request is proxied to it. ADMIN[NAME]:
# the port of its admin listener (for /stats).
declare -A ADMIN=()
gateway() {
	local name=$1 upstream=$2
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "timeouts": { "header_ms": 5000, "body_idle_ms": 5000, "keepalive_idle_ms": 5000 },
  "upstreams": { "app": { $upstream } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -s
	ADMIN[$name]=$(admin_port "$name")
}

WRITE_OUT='%{http_code} %header{x-upstream-port} %{num_connects}\n'

# hits PORT PATH N [CURL_ARGS...]: N sequential requests in one curl, each
# on a new connection (Connection: close); one line per request:
# "STATUS UPSTREAM_PORT CONNECTS" (UPSTREAM_PORT "-" for the gateway's
# own answers).
hits() {
	local port=$1 path=$2 n=$3 i args=()
	shift 3
	for i in $(seq 1 "$n"); do
		args+=(-o /dev/null "http://127.0.0.1:$port$path")
	done
	curl -s --noproxy '*' --max-time 20 -H 'Connection: close' "$@" -w "$WRITE_OUT" "${args[@]}" |
		awk 'NF == 2 { print $1, "-", $2; next } { print }'
}

# hits_with_header PORT PATH HEADER_NAME VALUE...: one request per value,
# with that header; lines "VALUE STATUS UPSTREAM_PORT".
hits_with_header() {
	local port=$1 path=$2 header=$3 v args=() first=1
	shift 3
	for v in "$@"; do
		[ "$first" = 1 ] || args+=(--next)
		first=0
		args+=(-s --noproxy '*' --max-time 20 -o /dev/null -H "$header: $v"
			-w "$v %{http_code} %header{x-upstream-port}\n" "http://127.0.0.1:$port$path")
	done
	curl "${args[@]}"
}

# count_port FILE PORT: lines of FILE answered 200 by PORT.
count_port() {
	awk -v p="$2" '$1 == 200 && $2 == p { n++ } END { print n + 0 }' "$1"
}

# ---- balancing ----

least_request_spreads_evenly() {
	local port f="$E2E_TMP/lr" name n bad
	upstreams lr_a lr_b lr_c
	gateway lr_gw "\"endpoints\": $(endpoints lr_a lr_b lr_c), \"balance\": { \"policy\": \"least_request\" }"
	port=${E2E_PORT[lr_gw]}
	hits "$port" /whoami 300 >"$f"
	[ "$(wc -l <"$f")" = 300 ] || fail "expected 300 answers, got $(wc -l <"$f")"
	bad=$(awk '$1 != 200 || $3 != 1' "$f" | head -n 3)
	[ -z "$bad" ] || fail "not every request was a 200 on a new connection: $bad"
	for name in lr_a lr_b lr_c; do
		n=$(count_port "$f" "${E2E_PORT[$name]}")
		[ "$n" -ge 80 ] && [ "$n" -le 120 ] ||
			fail "least_request: $name got $n of 300, expected 100 +- 20 (a $(count_port "$f" "${E2E_PORT[lr_a]}"), b $(count_port "$f" "${E2E_PORT[lr_b]}"), c $(count_port "$f" "${E2E_PORT[lr_c]}"))"
	done
	note "  least_request over 300: $(count_port "$f" "${E2E_PORT[lr_a]}") / $(count_port "$f" "${E2E_PORT[lr_b]}") / $(count_port "$f" "${E2E_PORT[lr_c]}")"
	stop_server lr_gw
	stop_server lr_a
	stop_server lr_b
	stop_server lr_c
}

# With two endpoints the two random choices are always both of them, so
# the one holding a request in flight (a POST whose body is held back
# until the others are done) gets none of the others.
least_request_avoids_the_busy_endpoint() {
	local port f="$E2E_TMP/lrb" held busy_port other
	upstreams lb_a lb_b
	gateway lb_gw "\"endpoints\": $(endpoints lb_a lb_b), \"balance\": { \"policy\": \"least_request\" }"
	port=${E2E_PORT[lb_gw]}
	post_begin held "$port" /cksum
	wait_until 5 "the held POST to be in flight" \
		admin_stat_is "${ADMIN[lb_gw]}" "d['upstreams']['app']['active']" 1
	hits "$port" /whoami 20 >"$f"
	busy_port=$(post_end "$held" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-upstream-port" { print $2 }')
	[ -n "$busy_port" ] || fail "the held POST got no upstream answer"
	other=$(awk -v p="$busy_port" '$1 == 200 && $2 != p { n++ } END { print n + 0 }' "$f")
	[ "$other" = 20 ] ||
		fail "with $busy_port busy (1 in flight), only $other of 20 went to the idle endpoint: $(tr '\n' ' ' <"$f")"
	stop_server lb_gw
	stop_server lb_a
	stop_server lb_b
}

# hash_header_case ALGORITHM: sticky per value and (maglev) even.
hash_on_header() {
	local algo=$1 p=hh_$1 port f="$E2E_TMP/hh" f2="$E2E_TMP/hh2" values=() i name n ports
	upstreams "${p}_a" "${p}_b" "${p}_c"
	gateway "${p}_gw" "\"endpoints\": $(endpoints "${p}_a" "${p}_b" "${p}_c"),
		\"balance\": { \"policy\": \"hash\", \"hash_on\": { \"header\": \"X-User\" }, \"hash_algorithm\": \"$algo\" }"
	port=${E2E_PORT[${p}_gw]}
	# One value, 50 requests on new connections: one endpoint.
	hits "$port" /whoami 50 -H 'x-user: alice' >"$f"
	[ "$(awk '$1 == 200' "$f" | wc -l)" = 50 ] || fail "not 50 answers 200: $(sort "$f" | uniq -c)"
	ports=$(awk '{ print $2 }' "$f" | sort -u | wc -l)
	[ "$ports" = 1 ] || fail "$algo: x-user: alice went to $ports endpoints: $(awk '{ print $2 }' "$f" | sort | uniq -c | tr '\n' ' ')"
	# 600 values, twice: each value lands where it landed the first time.
	# (600 keeps a +-30% share check about 5 standard deviations wide.)
	for i in $(seq 1 600); do values+=("user-$i"); done
	hits_with_header "$port" /whoami X-User "${values[@]}" >"$f"
	hits_with_header "$port" /whoami X-User "${values[@]}" >"$f2"
	[ "$(awk '$2 == 200' "$f" | wc -l)" = 600 ] || fail "not 600 answers 200: $(awk '{ print $2 }' "$f" | sort | uniq -c)"
	cmp -s "$f" "$f2" || fail "$algo: values moved between two rounds: $(diff "$f" "$f2" | head -n 6 | tr '\n' ' ')"
	for name in "${p}_a" "${p}_b" "${p}_c"; do
		n=$(awk -v p="${E2E_PORT[$name]}" '$2 == 200 && $3 == p { n++ } END { print n + 0 }' "$f")
		if [ "$algo" = maglev ]; then
			# 600/3 +- 30%
			[ "$n" -ge 140 ] && [ "$n" -le 260 ] ||
				fail "maglev: $name got $n of 600 values, expected 200 +- 30% ($(awk '{ print $3 }' "$f" | sort | uniq -c | tr '\n' ' '))"
		else
			# a ring of 40 points per endpoint is not that even: all 3 used
			[ "$n" -ge 1 ] || fail "ring: $name got none of 600 values"
		fi
	done
	note "  hash ($algo) on a header, 600 values: $(awk '{ print $3 }' "$f" | sort | uniq -c | awk '{ printf "%s ", $1 }')"
	stop_server "${p}_gw"
	stop_server "${p}_a"
	stop_server "${p}_b"
	stop_server "${p}_c"
}

hash_on_cookie() {
	local port f="$E2E_TMP/hc" f2="$E2E_TMP/hc2" values=() i used
	upstreams hc_a hc_b hc_c
	gateway hc_gw "\"endpoints\": $(endpoints hc_a hc_b hc_c),
		\"balance\": { \"policy\": \"hash\", \"hash_on\": { \"cookie\": \"sid\" } }"
	port=${E2E_PORT[hc_gw]}
	hits "$port" /whoami 30 -H 'Cookie: theme=dark; sid=abc123; x=1' >"$f"
	[ "$(awk '$1 == 200 { print $2 }' "$f" | sort -u | wc -l)" = 1 ] &&
		[ "$(awk '$1 == 200' "$f" | wc -l)" = 30 ] ||
		fail "cookie sid=abc123 went to several endpoints: $(awk '{ print $1, $2 }' "$f" | sort | uniq -c | tr '\n' ' ')"
	for i in $(seq 1 60); do values+=("a=1; sid=s$i"); done
	hits_with_header "$port" /whoami Cookie "${values[@]}" | sed 's/^a=1; //' >"$f"
	hits_with_header "$port" /whoami Cookie "${values[@]}" | sed 's/^a=1; //' >"$f2"
	cmp -s "$f" "$f2" || fail "cookie values moved between two rounds: $(diff "$f" "$f2" | head -n 6 | tr '\n' ' ')"
	used=$(awk '$2 == 200 { print $3 }' "$f" | sort -u | wc -l)
	[ "$used" = 3 ] || fail "60 sid values used $used of 3 endpoints: the cookie is not the key"
	stop_server hc_gw
	stop_server hc_a
	stop_server hc_b
	stop_server hc_c
}

hash_on_client_address() {
	local port f="$E2E_TMP/ca" i src who used=() first
	upstreams ca_a ca_b ca_c
	gateway ca_gw "\"endpoints\": $(endpoints ca_a ca_b ca_c),
		\"balance\": { \"policy\": \"hash\", \"hash_on\": { \"client_address\": true } }"
	port=${E2E_PORT[ca_gw]}
	hits "$port" /whoami 50 >"$f"
	[ "$(awk '$1 == 200 && $3 == 1' "$f" | wc -l)" = 50 ] || fail "not 50 answers 200 on new connections: $(sort "$f" | uniq -c)"
	[ "$(awk '{ print $2 }' "$f" | sort -u | wc -l)" = 1 ] ||
		fail "requests from 127.0.0.1 went to several endpoints: $(awk '{ print $2 }' "$f" | sort | uniq -c | tr '\n' ' ')"
	# Other loopback sources: each sticky, and together not all on one
	# endpoint (the address is the key, not a constant).
	for i in $(seq 2 31); do
		src=127.0.0.$i
		who=$(hits "$port" /whoami 3 --interface "$src" | awk '$1 == 200 { print $2 }' | sort -u)
		[ "$(wc -w <<<"$who")" = 1 ] || fail "from $src: answered by '$who', expected one endpoint"
		used+=("$who")
	done
	first=$(printf '%s\n' "${used[@]}" | sort -u | wc -l)
	[ "$first" -ge 2 ] || fail "30 client addresses all landed on one endpoint: the address is not the key"
	stop_server ca_gw
	stop_server ca_a
	stop_server ca_b
	stop_server ca_c
}

# ---- outlier detection ----

# statuses FILE: "200 200 502 ..." of the lines in FILE.
statuses() { awk '{ printf "%s%s", (NR > 1 ? " " : ""), $1 }' "$1"; }

# nap_until_ms T: sleeps until now_ms reaches T.
nap_until_ms() {
	local left=$(($1 - $(now_ms)))
	[ "$left" -le 0 ] || nap "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
}

# expect_pair FILE GOOD_PORT WHAT: the two lines of FILE are one 502 and
# one 200 from GOOD_PORT, in either order (round robin over two).
expect_pair() {
	local f=$1 good=$2 what=$3
	[ "$(awk '$1 == 502 && $2 == "-"' "$f" | wc -l)" = 1 ] &&
		[ "$(awk -v p="$good" '$1 == 200 && $2 == p' "$f" | wc -l)" = 1 ] ||
		fail "$what: expected one 502 and one 200 from $good, got: $(tr '\n' '|' <"$f")"
}

connect_failures_eject_then_readmit() {
	local port f="$E2E_TMP/oc" good t_eject
	upstreams oc_a oc_b
	good=${E2E_PORT[oc_a]}
	gateway oc_gw "\"endpoints\": $(endpoints oc_a oc_b),
		\"outlier_detection\": { \"consecutive_5xx\": 3, \"consecutive_connect_failures\": 2,
		                         \"base_ejection_ms\": 1000, \"max_ejection_percent\": 50 }"
	stop_server oc_b # its port now refuses connections
	port=${E2E_PORT[oc_gw]}

	# Round robin: 200 / 502 alternate; the second refused connect ejects b.
	hits "$port" /whoami 4 >"$f"
	t_eject=$(now_ms)
	[ "$(awk '$1 == 502' "$f" | wc -l)" = 2 ] && [ "$(count_port "$f" "$good")" = 2 ] &&
		[ "$(sed -n '1p;3p' "$f" | awk '{ print $1 }' | sort -u | wc -l)" = 1 ] ||
		fail "first 4 requests: expected 200 and 502 alternating, got: $(statuses "$f")"
	# Ejected: the next 20 all succeed on a.
	hits "$port" /whoami 20 >"$f"
	[ $(($(now_ms) - t_eject)) -lt 900 ] || fail "20 requests took too long to test a 1000 ms ejection"
	[ "$(count_port "$f" "$good")" = 20 ] ||
		fail "after 2 refused connects (consecutive_connect_failures 2), expected 20 x 200 from a, got: $(statuses "$f")"
	# base_ejection_ms later it is back in rotation: one more 502. (Not
	# synchronisation: the ejection runs out on the clock.)
	nap 1.1
	hits "$port" /whoami 2 >"$f"
	expect_pair "$f" "$good" "after base_ejection_ms 1000 the endpoint is back"
	# One refused connect more (two in a row since it came back): ejected
	# again, now for 2 x base_ejection_ms.
	hits "$port" /whoami 2 >"$f"
	t_eject=$(now_ms)
	expect_pair "$f" "$good" "the endpoint back, one more try"
	# Past the first ejection's length, within the second's: the time is
	# the test.
	nap 1.2
	hits "$port" /whoami 10 >"$f"
	[ "$(count_port "$f" "$good")" = 10 ] ||
		fail "second ejection: 1.2 s after it (2 x 1000 ms expected), got: $(statuses "$f")"
	nap_until_ms $((t_eject + 2150))
	hits "$port" /whoami 2 >"$f"
	expect_pair "$f" "$good" "back after the second ejection (2000 ms)"
	stop_server oc_gw
	stop_server oc_a
}

# Both endpoints answer /status/503; the first to reach 3 in a row is
# ejected; the other reaches 3 as well, but max_ejection_percent 50 of 2
# endpoints allows one ejection only, so it keeps serving.
consecutive_5xx_eject_within_the_cap() {
	local port f="$E2E_TMP/o5" a b last
	upstreams o5_a o5_b
	a=${E2E_PORT[o5_a]}
	b=${E2E_PORT[o5_b]}
	gateway o5_gw "\"endpoints\": $(endpoints o5_a o5_b),
		\"outlier_detection\": { \"consecutive_5xx\": 3, \"consecutive_connect_failures\": 2,
		                         \"base_ejection_ms\": 1000, \"max_ejection_percent\": 50 }"
	port=${E2E_PORT[o5_gw]}
	hits "$port" /status/503 16 >"$f"
	[ "$(awk '$1 == 503' "$f" | wc -l)" = 16 ] || fail "expected 16 x 503 relayed, got: $(statuses "$f")"
	# 1-6 alternate (3 each); then all on the one that answered the 6th.
	[ "$(head -n 6 "$f" | awk -v p="$a" '$2 == p' | wc -l)" = 3 ] ||
		fail "first 6 not alternating: $(awk '{ print $2 }' "$f" | tr '\n' ' ')"
	last=$(sed -n '6p' "$f" | awk '{ print $2 }')
	[ "$(tail -n 10 "$f" | awk -v p="$last" '$2 == p' | wc -l)" = 10 ] ||
		fail "after 3 x 503 each, expected requests 7-16 all on $last (the other ejected, the cap keeping this one), got ports: $(awk '{ print $2 }' "$f" | tr '\n' ' ')"
	# After base_ejection_ms both serve again (the time is the test).
	nap 1.1
	hits "$port" /whoami 2 >"$f"
	[ "$(count_port "$f" "$a")" = 1 ] && [ "$(count_port "$f" "$b")" = 1 ] ||
		fail "after base_ejection_ms both should serve: $(tr '\n' '|' <"$f")"
	stop_server o5_gw
	stop_server o5_a
	stop_server o5_b
}

# ---- circuit breaker ----

# hold_two PORT ADMIN_PORT: two POSTs held in flight (bodies half sent),
# their fds in HELD1 and HELD2; both must have reached the upstream.
hold_two() {
	post_begin HELD1 "$1" /cksum
	post_begin HELD2 "$1" /cksum
	wait_until 5 "2 held POSTs to be in flight upstream (one refused?)" \
		admin_stat_is "$2" "d['upstreams']['app']['active']" 2
}

# end_held FD: completes a held POST; it must be a 200 with the checksum of
# its 10-byte body.
end_held() {
	local out want
	want=$(printf 1234567890 | cksum)
	out=$(post_end "$1")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "a held POST got: $(head -n 1 <<<"$out")"
	[ "${out#*$'\r\n\r\n'}" = "$want" ] || fail "a held POST's body: ${out#*$'\r\n\r\n'} (expected $want)"
}

# Lock-step: two requests held in flight fill max_requests 2; a third
# meanwhile gets the 503; the two then complete.
breaker_max_requests() {
	local port code f=$E2E_TMP/cb.3
	upstreams cb_up
	gateway cb_gw "\"endpoints\": $(endpoints cb_up), \"limits\": { \"max_requests\": 2 }"
	port=${E2E_PORT[cb_gw]}
	hold_two "$port" "${ADMIN[cb_gw]}"
	code=$(curl -s --noproxy '*' --max-time 5 -o "$f" -w '%{http_code}' "http://127.0.0.1:$port/whoami")
	[ "$code" = 503 ] || fail "max_requests 2, a third request while 2 are in flight: $code $(cat "$f")"
	grep -qE '^\{"error":"[^"]*max_requests[^"]*","status":503\}$' "$f" ||
		fail "503 body is not JSON naming max_requests: $(cat "$f")"
	end_held "$HELD1"
	end_held "$HELD2"
	# The counter is back to 0: two at once pass again.
	hold_two "$port" "${ADMIN[cb_gw]}"
	end_held "$HELD1"
	end_held "$HELD2"
	stop_server cb_gw
	stop_server cb_up
}

# Requests that end in errors give their max_requests slot back: after a
# 504, a 502 (reset), a client gone mid-wait and a refused connect, two
# concurrent requests still both pass with max_requests 2.
breaker_released_after_errors() {
	local port i pids=() out path fd
	upstreams br_up
	gateway br_gw "\"endpoints\": $(endpoints br_up), \"limits\": { \"max_requests\": 2 },
		\"timeouts\": { \"connect_ms\": 1000, \"response_ms\": 300 }"
	port=${E2E_PORT[br_gw]}
	out=$(curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/stall")
	[ "$out" = 504 ] || fail "/stall: $out"
	out=$(curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/reset")
	[ "$out" = 502 ] || fail "/reset: $out"
	# The client gives up while its request is in flight upstream (the
	# upstream answers at 250 ms, or never).
	for path in /slow/250 /stall; do
		tcp_open fd "$port"
		printf 'GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n' "$path" >&"$fd"
		wait_until 5 "GET $path to be in flight" admin_stat_is "${ADMIN[br_gw]}" "d['upstreams']['app']['active']" 1
		tcp_close "$fd"
		wait_until 5 "GET $path, its client gone, to end (a slot leaked?)" \
			admin_stat_is "${ADMIN[br_gw]}" "d['upstreams']['app']['active']" 0
	done
	# Those 4 connections accepted and ended, and nothing in flight upstream
	# (a leaked request would keep "active" up, and this wait fails).
	wait_until 5 "the abandoned requests to end (connections accepted, active; upstream active)" \
		admin_stat_is "${ADMIN[br_gw]}" \
		"(d['total']['connections']['accepted'], d['total']['connections']['active'], d['upstreams']['app']['active'])" \
		"(4, 0, 0)"
	for i in 1 2; do
		curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}\n' \
			"http://127.0.0.1:$port/slow/200" >"$E2E_TMP/br.$i" &
		pids+=($!)
	done
	wait "${pids[0]}" && wait "${pids[1]}" || fail "curl failed"
	[ "$(cat "$E2E_TMP"/br.[12] | tr '\n' ' ')" = "200 200 " ] ||
		fail "after errors, max_requests 2 and 2 concurrent requests: $(cat "$E2E_TMP"/br.[12] | tr '\n' ' ') (a slot leaked)"
	stop_server br_gw
	stop_server br_up
}

run_case "least_request: 300 requests on new connections, 3 endpoints get 100 +- 20% each" \
	least_request_spreads_evenly
run_case "least_request: an endpoint with a request in flight gets none of 20 others" \
	least_request_avoids_the_busy_endpoint
run_case "hash (maglev) on a header: sticky per value; 200 values over 3 within +-30%" hash_on_header maglev
run_case "hash (ring) on a header: sticky per value; 200 values use all 3" hash_on_header ring
run_case "hash on a cookie: sticky per value; 60 values use all 3" hash_on_cookie
run_case "hash on client_address: 127.0.0.1 always on one endpoint; 30 sources sticky, spread" \
	hash_on_client_address
run_case "outliers: 2 refused connects eject for 1 s, back after; a second ejection lasts 2 s" \
	connect_failures_eject_then_readmit
run_case "outliers: 3 x 503 ejects one of two; max_ejection_percent 50 keeps the other" \
	consecutive_5xx_eject_within_the_cap
run_case "breaker: max_requests 2, 2 held in flight -> a third gets 503 naming max_requests, the 2 get 200" \
	breaker_max_requests
run_case "breaker: errors (504, 502, client gone) release their max_requests slot" \
	breaker_released_after_errors
finish
