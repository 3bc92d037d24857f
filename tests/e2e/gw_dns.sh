#!/usr/bin/env bash
# vkgw end to end: DNS endpoints, resolved by real getaddrinfo lookups.
#
#   localhost        "localhost:PORT" serves (IPv4 first: a test upstream
#                    listening on 127.0.0.1 only gets every request); the
#                    resolver is a child of vkgw with no descriptor but 0-2,
#                    and goes when vkgw stops or is killed
#   unresolvable     a name that fails at start-up is reported, not fatal:
#                    the upstream's other endpoint serves; a name alone
#                    answers 503; --check resolves nothing
#   health checks    probes reach a DNS endpoint at its resolved address
#   reload           a reload adds a name vkgw did not start with (the
#                    resolver starts then); past the table's room, refused
#   re-resolution    a private /etc/hosts (a bind mount in a user and mount
#                    namespace of vkgw's own: the system file is untouched)
#                    is rewritten while vkgw runs with two kernels: the name
#                    moves between upstreams on 127.0.0.2 and 127.0.0.3, a
#                    failed lookup keeps the last addresses, two addresses
#                    share the requests. Skipped (exit 77) where unshare -rm
#                    is not allowed (glibc's HOSTALIASES is no help: it only
#                    rewrites names sent to DNS servers, never /etc/hosts
#                    lookups).
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"
NAME=vkgw-dns-test

# gateway NAME ENDPOINTS_JSON [EXTRA_UPSTREAM_MEMBERS [VKGW_ARGS...]]: one
# kernel unless VKGW_ARGS say otherwise; every request goes to "app".
gateway_config() {
	local name=$1 endpoints=$2 extra=${3:-}
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "timeouts": { "header_ms": 5000, "body_idle_ms": 5000, "keepalive_idle_ms": 5000 },
  "upstreams": { "app": { "endpoints": $endpoints, "resolve_interval_ms": 1000 ${extra:+, $extra} } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
}

gateway() {
	local name=$1
	gateway_config "$@"
	shift $(($# < 3 ? $# : 3))
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" "$@"
}

# bodies PORT PATH N: N requests on new connections, one body per line.
bodies() {
	local port=$1 path=$2 n=$3 i args=()
	for i in $(seq 1 "$n"); do
		args+=("http://127.0.0.1:$port$path")
	done
	curl -s --noproxy '*' --max-time 20 -H 'Connection: close' "${args[@]}"
}

# count WORD: lines of stdin that are WORD.
count() { awk -v w="$1" '$0 == w { n++ } END { print n + 0 }'; }

# The resolver process of gateway NAME (a child named vkgw-resolver).
resolver_pid() {
	ps -o pid=,comm= --ppid "${E2E_PID[$1]}" | awk '$2 == "vkgw-resolver" { print $1 }'
}

# Gone, or a zombie waiting for whoever inherited it.
process_gone() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
	set -- ${stat##*) }
	[ "$1" = Z ]
}

logged() { grep -qF -- "$2" "$(server_err_file "$1")"; }

# ---- cases ----

localhost_serves_and_the_resolver_is_tidy() {
	local port out rpid fds
	start_server lh_up "$UPSTREAM" -p 0 -k 1
	gateway lh_gw "[ \"localhost:${E2E_PORT[lh_up]}\" ]"
	port=${E2E_PORT[lh_gw]}
	out=$(bodies "$port" /whoami 20)
	[ "$(count "${E2E_PORT[lh_up]}" <<<"$out")" = 20 ] ||
		fail "20 requests to localhost:${E2E_PORT[lh_up]}: $(tr '\n' ' ' <<<"$out")"
	logged lh_gw "vkgw: upstream app endpoint localhost:${E2E_PORT[lh_up]} now resolves to 127.0.0.1:${E2E_PORT[lh_up]}" ||
		fail "no 'now resolves to' line:$(server_stderr lh_gw)"
	rpid=$(resolver_pid lh_gw)
	[ -n "$rpid" ] || fail "vkgw has no vkgw-resolver child: $(ps -o pid=,comm= --ppid "${E2E_PID[lh_gw]}" | tr '\n' ' ')"
	# Not a listening socket, not anything else of vkgw's.
	fds=$(ls "/proc/$rpid/fd" | sort -n | tr '\n' ' ')
	[ "$fds" = "0 1 2 " ] || fail "the resolver holds descriptors $fds (expected 0 1 2): $(ls -l "/proc/$rpid/fd")"
	stop_server lh_gw
	process_gone "$rpid" || fail "the resolver $rpid outlived vkgw's normal exit"

	# Killed outright, vkgw cannot stop it: the parent-death signal does.
	gateway lh_gw2 "[ \"localhost:${E2E_PORT[lh_up]}\" ]"
	rpid=$(resolver_pid lh_gw2)
	[ -n "$rpid" ] || fail "vkgw has no vkgw-resolver child"
	signal_server lh_gw2 KILL
	await_server lh_gw2 5
	wait_until 5 "the resolver $rpid to end after vkgw was SIGKILLed" process_gone "$rpid"
	stop_server lh_up
}

new_resolver() {
	local p
	p=$(resolver_pid "$1")
	[ -n "$p" ] && [ "$p" != "$2" ]
}

# A resolver that dies is started again by whoever reaps it: the lone
# kernel's process, or the supervisor of two kernels.
resolver_started_again() {
	local k rpid new port fds
	start_server rs_up "$UPSTREAM" -p 0 -k 1
	for k in 1 2; do
		gateway "rs_gw$k" "[ \"localhost:${E2E_PORT[rs_up]}\" ]" "" -k "$k"
		rpid=$(resolver_pid "rs_gw$k")
		[ -n "$rpid" ] || fail "$k kernels: vkgw has no vkgw-resolver child"
		kill -KILL "$rpid"
		wait_until 5 "$k kernels: a resolver started again after $rpid was killed" new_resolver "rs_gw$k" "$rpid"
		new=$(resolver_pid "rs_gw$k")
		logged "rs_gw$k" "the resolver process (pid $rpid) ended (signal 9); started again (pid $new)" ||
			fail "$k kernels: no restart line:$(server_stderr "rs_gw$k")"
		fds=$(ls "/proc/$new/fd" | sort -n | tr '\n' ' ')
		[ "$fds" = "0 1 2 " ] || fail "$k kernels: the new resolver holds descriptors $fds"
		port=${E2E_PORT[rs_gw$k]}
		[ "$(bodies "$port" /whoami 5 | count "${E2E_PORT[rs_up]}")" = 5 ] || fail "$k kernels: requests failed after the restart"
		stop_server "rs_gw$k"
		wait_until 5 "$k kernels: the restarted resolver $new to end with vkgw" process_gone "$new"
	done
	stop_server rs_up
}

unresolvable_name_is_not_fatal() {
	local port out up
	start_server un_up "$UPSTREAM" -p 0 -k 1
	up=${E2E_PORT[un_up]}
	gateway un_gw "[ \"vkgw-no-such-host.invalid:$up\", \"localhost:$up\" ]"
	port=${E2E_PORT[un_gw]}
	logged un_gw "vkgw: upstream app endpoint vkgw-no-such-host.invalid:$up: cannot resolve vkgw-no-such-host.invalid:" ||
		fail "no start-up error for the unresolvable name:$(server_stderr un_gw)"
	logged un_gw "unavailable until it resolves" || fail "the error does not say the endpoint is unavailable:$(server_stderr un_gw)"
	out=$(bodies "$port" /whoami 10)
	[ "$(count "$up" <<<"$out")" = 10 ] || fail "10 requests, round robin with an unresolved endpoint: $(tr '\n' ' ' <<<"$out")"
	# Said once, not at every resolve_interval_ms (1 s). Not
	# synchronisation: two intervals in which it must not be said again.
	nap 2.2
	[ "$(grep -c 'cannot resolve' "$(server_err_file un_gw)")" = 1 ] ||
		fail "the failure was logged more than once:$(server_stderr un_gw)"
	stop_server un_gw

	gateway un_gw2 "[ \"vkgw-no-such-host.invalid:$up\" ]"
	out=$(curl -s --noproxy '*' --max-time 5 -w ' %{http_code}' "http://127.0.0.1:${E2E_PORT[un_gw2]}/whoami")
	[[ $out == *"no healthy endpoint"*" 503" ]] || fail "a name alone, unresolved: expected 503 no healthy endpoint, got: $out"
	stop_server un_gw2

	# --check stays offline: it resolves nothing, so says nothing of it.
	gateway_config un_check "[ \"vkgw-no-such-host.invalid:$up\" ]"
	out=$("$VKGW" --check -c "$E2E_TMP/un_check.json" 2>&1) || fail "--check failed: $out"
	[ "$out" = "$E2E_TMP/un_check.json: ok" ] || fail "--check printed more than its ok line: $out"
	stop_server un_up
}

health_checks_probe_the_resolved_address() {
	local port out
	TEST_UPSTREAM_UNHEALTHY=1 start_server hc_up "$UPSTREAM" -p 0 -k 1
	gateway hc_gw "[ \"localhost:${E2E_PORT[hc_up]}\" ]" \
		"\"health_check\": { \"path\": \"/health\", \"interval_ms\": 100, \"timeout_ms\": 500, \"unhealthy_threshold\": 2 }"
	port=${E2E_PORT[hc_gw]}
	wait_until 5 "the health check to mark localhost:${E2E_PORT[hc_up]} unhealthy" \
		logged hc_gw "endpoint localhost:${E2E_PORT[hc_up]} is now unhealthy"
	out=$(curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/whoami")
	[ "$out" = 503 ] || fail "an unhealthy DNS endpoint still answered: $out"
	stop_server hc_gw
	stop_server hc_up
}

# rehost LINES...: rewrites the private hosts file in place (the bind
# mount follows the inode, so no rename).
rehost() {
	printf '%s\n' '127.0.0.1 localhost' "$@" >"$E2E_TMP/hosts.new"
	cat "$E2E_TMP/hosts.new" >"$E2E_TMP/hosts"
}

namespaces_work() {
	printf '127.0.0.1 localhost\n127.0.0.2 %s\n' "$NAME" >"$E2E_TMP/probe-hosts"
	unshare -rm sh -c 'mount --bind "$1" /etc/hosts && getent hosts "$2"' sh "$E2E_TMP/probe-hosts" "$NAME" \
		>/dev/null 2>&1
}

re_resolution_follows_the_hosts_file() {
	local port out p lines
	namespaces_work || skip "unshare -rm (user and mount namespaces) is not allowed here"
	start_server rr_a "$UPSTREAM" -a 127.0.0.2 -p 0 -k 1
	p=${E2E_PORT[rr_a]}
	TEST_UPSTREAM_UNHEALTHY=1 start_server rr_b "$UPSTREAM" -a 127.0.0.3 -p "$p" -k 1
	rehost "127.0.0.2 $NAME"
	gateway_config rr_gw "[ \"$NAME:$p\" ]"
	start_server rr_gw unshare -rm sh -c 'mount --bind "$1" /etc/hosts && exec "$2" -c "$3" -k 2' \
		sh "$E2E_TMP/hosts" "$VKGW" "$E2E_TMP/rr_gw.json"
	port=${E2E_PORT[rr_gw]}
	# rr_a answers /health "ok", rr_b "down": who served is in the body.
	out=$(bodies "$port" /health 20)
	[ "$(count ok <<<"$out")" = 20 ] || fail "at 127.0.0.2, 20 requests: $(tr '\n' ' ' <<<"$out")"

	rehost "127.0.0.3 $NAME"
	wait_until 5 "the move to 127.0.0.3 to be logged" logged rr_gw "endpoint $NAME:$p now resolves to 127.0.0.3:$p"
	out=$(bodies "$port" /health 20)
	[ "$(count down <<<"$out")" = 20 ] || fail "moved to 127.0.0.3, 20 requests over 2 kernels: $(tr '\n' ' ' <<<"$out")"

	# Gone from the file: the lookup fails, the last addresses stay.
	lines=$(grep -c 'now resolves to' "$(server_err_file rr_gw)")
	rehost
	wait_until 5 "the failed lookup to be logged" logged rr_gw "cannot resolve $NAME: "
	logged rr_gw "; keeping 127.0.0.3:$p" || fail "the failure does not keep 127.0.0.3:$(server_stderr rr_gw)"
	out=$(bodies "$port" /health 10)
	[ "$(count down <<<"$out")" = 10 ] || fail "after a failed lookup, 10 requests: $(tr '\n' ' ' <<<"$out")"
	[ "$(grep -c 'now resolves to' "$(server_err_file rr_gw)")" = "$lines" ] ||
		fail "a failed lookup changed the addresses:$(server_stderr rr_gw)"

	# Two addresses (and an IPv6 one nobody listens on): requests rotate
	# over the IPv4 ones only.
	rehost "::1 $NAME" "127.0.0.2 $NAME" "127.0.0.3 $NAME"
	wait_until 5 "the two addresses to be logged" \
		logged rr_gw "endpoint $NAME:$p now resolves to 127.0.0.2:$p, 127.0.0.3:$p, [::1]:$p"
	out=$(bodies "$port" /health 40)
	[ "$(count ok <<<"$out")" -ge 10 ] && [ "$(count down <<<"$out")" -ge 10 ] &&
		[ "$(($(count ok <<<"$out") + $(count down <<<"$out")))" = 40 ] ||
		fail "two IPv4 addresses, 40 requests: $(sort <<<"$out" | uniq -c | tr '\n' ' ')"
	stop_server rr_gw
	stop_server rr_a
	stop_server rr_b
}

applied_by_kernels() { # applied_by_kernels NAME GENERATION KERNELS
	[ "$(grep -c "configuration $2 applied" "$(server_err_file "$1")")" = "$3" ]
}

# line_of NAME TEXT: the number of the first line of NAME's stderr with TEXT.
line_of() { grep -nF -m 1 -- "$2" "$(server_err_file "$1")" | cut -d: -f1; }

whoami_is() { [ "$(http_get "$1" /whoami)" = "$2" ]; }

# A reload adds a DNS name vkgw did not start with (it had none: no
# resolver process yet). With two kernels the supervisor waits for the
# first answer before the kernels take the generation, so the first
# request after "applied" finds the address; a lone kernel does not wait
# (its connections would wait with it), so the name serves once the
# resolver answers. More new names than the table has room for: refused,
# at the first new endpoint, and nothing changes.
reload_adds_a_dns_name() {
	local k name port up out many i
	start_server ra_up "$UPSTREAM" -p 0 -k 1
	up=${E2E_PORT[ra_up]}
	for k in 2 1; do
		name=ra_gw$k
		gateway "$name" "[ \"127.0.0.1:$up\" ]" "" -k "$k"
		port=${E2E_PORT[$name]}
		[ -z "$(resolver_pid "$name")" ] || fail "$k kernels: a resolver process without a DNS name"
		gateway_config "$name" "[ \"localhost:$up\" ]"
		signal_server "$name" HUP
		wait_until 10 "$k kernels: configuration 2 applied" applied_by_kernels "$name" 2 "$k"
		logged "$name" "vkgw: reload: 1 DNS name to resolve" || fail "$k kernels: no 'to resolve' line:$(server_stderr "$name")"
		if [ "$k" = 2 ]; then
			# The supervisor posted the generation after the answer.
			[ "$(line_of "$name" "now resolves to")" -lt "$(line_of "$name" "configuration 2 goes to the kernels")" ] ||
				fail "2 kernels: the reload went to the kernels before the name resolved:$(server_stderr "$name")"
			out=$(bodies "$port" /whoami 6)
			[ "$(count "$up" <<<"$out")" = 6 ] || fail "2 kernels: requests right after the reload: $(tr '\n' ' ' <<<"$out")"
		else
			wait_until 5 "1 kernel: localhost:$up to serve" whoami_is "$port" "$up"
		fi
		[ -n "$(resolver_pid "$name")" ] || fail "$k kernels: no resolver process after the reload"
		logged "$name" "vkgw: upstream app endpoint localhost:$up now resolves to 127.0.0.1:$up" ||
			fail "$k kernels: no 'now resolves to' line:$(server_stderr "$name")"
		stop_server "$name"
	done
	# GW_RESOLVER_SPARE (64) + 1 names a reload may not add.
	gateway ra_many "[ \"127.0.0.1:$up\" ]"
	many="\"n0.invalid:80\""
	for i in $(seq 1 64); do many+=", \"n$i.invalid:80\""; done
	gateway_config ra_many "[ $many ]"
	signal_server ra_many HUP
	wait_until 5 "the reload refused" logged ra_many "has problems, nothing reloads"
	logged ra_many "/upstreams/app/endpoints/0: n0.invalid:80: this file adds 65 DNS names vkgw did not start with, and the resolver has room for 64 more" ||
		fail "no room problem:$(server_stderr ra_many)"
	[ "$(http_get "${E2E_PORT[ra_many]}" /whoami)" = "$up" ] || fail "the refused reload changed what serves"
	stop_server ra_many
	stop_server ra_up
}

run_case "localhost:PORT serves; the resolver holds fds 0-2 only and ends with vkgw (stop and SIGKILL)" \
	localhost_serves_and_the_resolver_is_tidy
run_case "a killed resolver is started again (1 and 2 kernels) and ends with vkgw" resolver_started_again
run_case "an unresolvable name is reported once, not fatal; alone it is a 503; --check resolves nothing" \
	unresolvable_name_is_not_fatal
run_case "health checks probe a DNS endpoint at its resolved address" health_checks_probe_the_resolved_address
run_case "re-resolution (2 kernels, private /etc/hosts): moves, keeps the last good, rotates over IPv4" \
	re_resolution_follows_the_hosts_file
run_case "a reload adds a DNS name (1 and 2 kernels; the resolver starts then); past the table's room it is refused" \
	reload_adds_a_dns_name
finish
