#!/usr/bin/env bash
# vkgw end to end: the authentication filters in front of
# tests/services/gw_test_upstream, whose /echo answers with the request
# head it received.
#
#   api_key, header   no key: 401; an unknown key: the configured 403; both
#                     with the JSON error body and nothing about the keys.
#                     A key listed in the config (as the key, or as its
#                     SHA-256) or in the keys file: through, the key gone
#                     from what the upstream sees, x-consumer set (one the
#                     client sent replaced), "consumer" in the access log
#   api_key, query    the key's parameter taken out of the target sent
#                     upstream and logged, the others kept; a malformed
#                     escape is no key; with forward_key the key stays
#   keys file reload  SIGHUP re-reads the keys file with the config: a key
#                     added works, a key removed no longer does; a broken
#                     file is refused at its pointer with FILE:LINE, and the
#                     keys before go on working; with --watch, a keys file
#                     renamed over reloads without a signal
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# write_config FILE UPSTREAM_PORT: /k/ takes the key from x-api-key, /q/
# from the query, /f/ from the query and forwards it.
write_config() {
	cat >"$1" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "access_log": { "path": "$E2E_TMP/access.log", "buffer_bytes": 4096 },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:$2" ] } },
  "routes": [
    { "name": "k", "match": { "path": { "prefix": "/k/" } },
      "filters": [ { "type": "api_key", "unknown_key_status": 403, "consumer_header": "x-consumer",
                     "keys": [ { "consumer": "alice", "key": "alice-key" },
                               { "consumer": "bob", "sha256": "$(sha256 bob-key)" } ],
                     "keys_file": "keys.txt" } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "q", "match": { "path": { "prefix": "/q/" } },
      "filters": [ { "type": "api_key", "query": "api_key", "keys": [ { "consumer": "alice", "key": "alice key/1" } ] } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "f", "match": { "path": { "prefix": "/f/" } },
      "filters": [ { "type": "api_key", "query": "api_key", "forward_key": true,
                     "keys": [ { "consumer": "alice", "key": "alice-key" } ] } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } }
  ]
}
JSON
}

start_pair() {
	start_server "$1_up" "$UPSTREAM" -p 0 -k 1
	printf '# consumer sha256\ncarol %s\n' "$(sha256 carol-key)" >"$E2E_TMP/keys.txt"
	write_config "$E2E_TMP/$1.json" "${E2E_PORT[$1_up]}"
	start_server "$1_gw" "$VKGW" -c "$E2E_TMP/$1.json"
	GW="http://127.0.0.1:${E2E_PORT[$1_gw]}"
}

get() { curl -s -i --noproxy '*' --max-time 5 "$@" | tr -d '\r'; }

# status_and_body OUT: "STATUS BODY" of a response get printed.
status_and_body() { printf '%s %s' "$(head -n 1 <<<"$1" | cut -d' ' -f2)" "${1##*$'\n'}"; }

log_has() { grep -qF -- "$1" "$E2E_TMP/access.log"; }

header_keys() {
	local out
	start_pair hk
	out=$(get "$GW/k/x")
	[ "$(status_and_body "$out")" = '401 {"error":"missing API key","status":401}' ] || fail "no key: $out"
	out=$(get -H 'x-api-key: mallory-key' "$GW/k/x")
	[ "$(status_and_body "$out")" = '403 {"error":"invalid API key","status":403}' ] || fail "an unknown key: $out"
	out=$(get -H 'x-api-key: ' "$GW/k/x")
	[[ $out == "HTTP/1.1 401 "* ]] || fail "an empty key: $(head -n 1 <<<"$out")"
	for who in alice bob carol; do
		out=$(get -H "x-api-key: $who-key" -H 'x-consumer: forged' "$GW/k/x")
		[[ $out == "HTTP/1.1 200 "* ]] || fail "$who's key: $(head -n 1 <<<"$out")"
		grep -qx "x-consumer: $who" <<<"$out" || fail "$who: no x-consumer upstream: $out"
		! grep -q 'forged' <<<"$out" || fail "$who: the client's x-consumer reached the upstream: $out"
		! grep -qi "x-api-key" <<<"$out" || fail "$who: the key reached the upstream: $out"
	done
	wait_until 5 "the access log written" log_has '"consumer":"carol"'
	log_has '"route":"k","filters":{"passed":0,"answered_by":"api_key"},"consumer":null' ||
		fail "a refused request's log line: $(cat "$E2E_TMP/access.log")"
	log_has '"consumer":"alice"' && log_has '"consumer":"bob"' || fail "the access log: $(cat "$E2E_TMP/access.log")"
}

query_keys() {
	local out
	start_pair qk
	out=$(get "$GW/q/x?a=1&api_key=alice%20key%2F1&b=2")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "the query key: $(head -n 1 <<<"$out")"
	grep -qx 'GET /echo/x?a=1&b=2 HTTP/1.1' <<<"$out" || fail "the target upstream: $(grep '^GET' <<<"$out")"
	out=$(get "$GW/q/x?api_key=alice%20key%2F1")
	grep -qx 'GET /echo/x HTTP/1.1' <<<"$out" || fail "the key alone: $(grep '^GET' <<<"$out")"
	out=$(get "$GW/q/x?api_key=alice%20key%2F1&z=1")
	grep -qx 'GET /echo/x?z=1 HTTP/1.1' <<<"$out" || fail "the key first: $(grep '^GET' <<<"$out")"
	out=$(get "$GW/q/x?api_key=alice%2")
	[[ $out == "HTTP/1.1 401 "* ]] || fail "a malformed escape: $(head -n 1 <<<"$out")"
	out=$(get "$GW/q/x?xapi_key=alice%20key%2F1")
	[[ $out == "HTTP/1.1 401 "* ]] || fail "another parameter's name ending in the key's: $(head -n 1 <<<"$out")"
	out=$(get "$GW/f/x?api_key=alice-key")
	grep -qx 'GET /echo/x?api_key=alice-key HTTP/1.1' <<<"$out" || fail "forward_key: $(grep '^GET' <<<"$out")"
	wait_until 5 "the access log written" log_has '"target":"/f/x?api_key=alice-key"'
	log_has '"target":"/q/x?a=1&b=2","status":200' || fail "the logged target: $(cat "$E2E_TMP/access.log")"
	# The requests the key let through are logged without it.
	! grep '"status":200' "$E2E_TMP/access.log" | grep '"route":"q"' | grep -q 'api_key=' ||
		fail "a removed key was logged: $(cat "$E2E_TMP/access.log")"
}

applied() { [ "$(grep -c "configuration $2 applied" "$(server_err_file "$1")")" = 1 ]; }
refused() { grep -q 'has problems, nothing reloads' "$(server_err_file "$1")"; }

keys_file_reloads() {
	local out
	start_pair kr
	[[ $(get -H 'x-api-key: carol-key' "$GW/k/x") == "HTTP/1.1 200 "* ]] || fail "carol before the reload"
	printf 'dave %s\n' "$(sha256 dave-key)" >"$E2E_TMP/keys.txt"
	signal_server kr_gw HUP
	wait_until 5 "configuration 2 applied" applied kr_gw 2
	[[ $(get -H 'x-api-key: dave-key' "$GW/k/x") == "HTTP/1.1 200 "* ]] || fail "dave's key after the reload"
	[[ $(get -H 'x-api-key: carol-key' "$GW/k/x") == "HTTP/1.1 403 "* ]] || fail "carol's key after it left the file"
	printf 'dave %s\nerin 1234\n' "$(sha256 dave-key)" >"$E2E_TMP/keys.txt"
	signal_server kr_gw HUP
	wait_until 5 "the broken keys file refused" refused kr_gw
	grep -qE "kr.json:[0-9]+:[0-9]+: /routes/0/filters/0/keys_file: $E2E_TMP/keys.txt:2: expected \"CONSUMER SHA256HEX\"" \
		"$(server_err_file kr_gw)" || fail "the problem:$(server_stderr kr_gw)"
	[[ $(get -H 'x-api-key: dave-key' "$GW/k/x") == "HTTP/1.1 200 "* ]] || fail "dave's key after a refused reload"
	out=$("$VKGW" --check -c "$E2E_TMP/kr.json" 2>&1) && fail "--check passed a broken keys file: $out"
	grep -q "/keys_file: $E2E_TMP/keys.txt:2:" <<<"$out" || fail "--check: $out"
}

applied_any() { grep -q "configuration $2 applied" "$(server_err_file "$1")"; }

# With --watch, a keys file written over reloads as the configuration
# does (the watcher watches the files the filters read).
keys_file_watched() {
	start_server kw_up "$UPSTREAM" -p 0 -k 1
	printf 'carol %s\n' "$(sha256 carol-key)" >"$E2E_TMP/keys.txt"
	write_config "$E2E_TMP/kw.json" "${E2E_PORT[kw_up]}"
	start_server kw_gw "$VKGW" -c "$E2E_TMP/kw.json" --watch
	GW="http://127.0.0.1:${E2E_PORT[kw_gw]}"
	[[ $(get -H 'x-api-key: erin-key' "$GW/k/x") == "HTTP/1.1 403 "* ]] || fail "erin before the file changed"
	printf 'erin %s\n' "$(sha256 erin-key)" >"$E2E_TMP/keys.txt.new"
	mv "$E2E_TMP/keys.txt.new" "$E2E_TMP/keys.txt"
	wait_until 10 "the keys file's change reloaded" applied_any kw_gw 2
	[[ $(get -H 'x-api-key: erin-key' "$GW/k/x") == "HTTP/1.1 200 "* ]] || fail "erin after the file changed"
	[[ $(get -H 'x-api-key: carol-key' "$GW/k/x") == "HTTP/1.1 403 "* ]] || fail "carol after she left the file"
}

run_case "api_key in a header: 401, 403, consumers from the config and the keys file, the key kept from upstream" \
	header_keys
run_case "api_key in the query: taken out of the target sent upstream and logged; forward_key" query_keys
run_case "api_key: the keys file reloads with SIGHUP; a broken one is refused at its pointer" keys_file_reloads
run_case "api_key: with --watch, a keys file written over reloads" keys_file_watched
finish
