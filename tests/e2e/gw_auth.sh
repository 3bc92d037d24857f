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
#   basic             no, malformed or wrong credentials, an unknown user:
#                     401 with WWW-Authenticate and the JSON body; bcrypt
#                     (written by Apache's htpasswd), sha512-crypt and
#                     sha256-crypt (openssl passwd) users through, as the
#                     consumer, Authorization not forwarded
#   basic, off-kernel a slow bcrypt check (cost 13) runs in the password
#                     worker: while it runs, the same kernel answers other
#                     requests; a cached credential costs the worker no CPU;
#                     a check slower than check_timeout_ms is 503
#   basic, worker     the worker killed: 503, then another worker answers
#   basic, reload     a password changed in the file takes effect on SIGHUP
#                     (the cached one no longer passes); a hash vkgw does
#                     not take is refused with FILE:LINE
#   jwt, corpus       every token of ../shared/corpora/jwt/nginx-auth-jwt
#                     through the gateway with its JWKS: the expected
#                     verdict (iat -1 refused: vkgw checks iat)
#   jwt, identity     claims to headers (the client's own removed), the
#                     payload header, the consumer in the access log, the
#                     token kept from upstream; from the query and a cookie
#                     (taken out of the Cookie field, the others kept)
#   jwt, rules        scopes (403 insufficient_scope), iss/aud/required
#                     claims, allow_missing, any of two providers
#   jwt, reload       a key removed from the keys file on SIGHUP: its
#                     tokens refused; a broken keys file refused
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# The jwt routes' providers: nginx-auth-jwt's keys and tokens (its
# jwks.json mixes HMAC secrets, 12 bytes long, with public keys, which
# vkgw refuses in one set: split into two providers, short keys allowed
# for the secrets), and tokens minted here with a 32-byte secret.
# Read in place (an absolute path: the configuration is elsewhere).
JWT_CORPUS=$(cd "${GW_JWT_CORPUS:-../shared/corpora/jwt}/nginx-auth-jwt" && pwd) ||
	fail "no ../shared/corpora/jwt/nginx-auth-jwt (GW_JWT_CORPUS names another jwt corpus)"
NGINX_CLAIMS='"claims_to_headers": { "sub": "x-user", "email": "x-email" }, "payload_header": "x-jwt-payload"'
NGINX_PROVIDER='{ "name": "nginx-hs", "keys_file": "nginx-secrets.jwks", "allow_short_hmac_keys": true, '$NGINX_CLAIMS' },
  { "name": "nginx-pk", "keys_file": "nginx-public.jwks", '$NGINX_CLAIMS' }'
MINT_SECRET=vkgw-e2e-secret-0123456789abcdef
MINT_PROVIDER='{ "name": "mint", "keys_file": "mint.jwks", "issuer": "https://idp.test", "audiences": [ "api" ],
  "required_claims": [ "sub" ], "claims_to_headers": { "sub": "x-user", "tier": "x-tier" },
  "from": [ { "header": "authorization" }, { "query": "access_token" }, { "cookie": "jwt" } ] }'

# mint PAYLOAD [KID]: an HS256 token under MINT_SECRET.
mint() {
	python3 - "$1" "${2:-m1}" "$MINT_SECRET" <<'PY'
import base64, hashlib, hmac, json, sys
def b64(data): return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "kid": sys.argv[2]}).encode())
body = b64(sys.argv[1].encode())
sig = hmac.new(sys.argv[3].encode(), (head + "." + body).encode(), hashlib.sha256).digest()
print(head + "." + body + "." + b64(sig))
PY
}

split_nginx_keys() {
	python3 - "$JWT_CORPUS/data/jwks.json" "$E2E_TMP" <<'PY'
import json, sys
keys = json.load(open(sys.argv[1]))["keys"]
for name, pick in (("nginx-secrets", lambda k: k["kty"] == "oct"), ("nginx-public", lambda k: k["kty"] != "oct")):
    json.dump({"keys": [k for k in keys if pick(k)]}, open(sys.argv[2] + "/" + name + ".jwks", "w"))
PY
}

write_mint_keys() {
	printf '{"keys":[{"kty":"oct","kid":"%s","k":"%s"}]}\n' "${1:-m1}" \
		"$(printf '%s' "$MINT_SECRET" | base64 -w0 | tr '+/' '-_' | tr -d '=')" >"$E2E_TMP/mint.jwks.new"
	mv "$E2E_TMP/mint.jwks.new" "$E2E_TMP/mint.jwks"
}

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
    { "name": "b", "match": { "path": { "prefix": "/b/" } },
      "filters": [ { "type": "basic", "htpasswd_file": "users.htpasswd", "realm": "test", "consumer_header": "x-consumer" } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "bn", "match": { "path": { "prefix": "/bn/" } },
      "filters": [ { "type": "basic", "htpasswd_file": "users.htpasswd", "cache_seconds": 0 } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "bt", "match": { "path": { "prefix": "/bt/" } },
      "filters": [ { "type": "basic", "htpasswd_file": "users.htpasswd", "cache_seconds": 0, "check_timeout_ms": 50 } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "j", "match": { "path": { "prefix": "/j/" } },
      "filters": [ { "type": "jwt", "providers": [ $NGINX_PROVIDER ] } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "js", "match": { "path": { "prefix": "/js/" } },
      "filters": [ { "type": "jwt", "scopes": [ "read", "write" ], "providers": [ $MINT_PROVIDER ] } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "ja", "match": { "path": { "prefix": "/ja/" } },
      "filters": [ { "type": "jwt", "allow_missing": true, "providers": [ $MINT_PROVIDER ] } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "jm", "match": { "path": { "prefix": "/jm/" } },
      "filters": [ { "type": "jwt", "providers": [ $NGINX_PROVIDER, $MINT_PROVIDER ] } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "jf", "match": { "path": { "prefix": "/jf/" } },
      "filters": [ { "type": "jwt", "providers": [ { "name": "plain", "keys_file": "mint.jwks", "audiences": [ "api" ] } ] } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "f", "match": { "path": { "prefix": "/f/" } },
      "filters": [ { "type": "api_key", "query": "api_key", "forward_key": true,
                     "keys": [ { "consumer": "alice", "key": "alice-key" } ] } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } },
    { "name": "gate", "match": { "path": { "prefix": "/g/" } },
      "filters": [ { "type": "jwt", "allow_missing": true,
                     "providers": [ { "name": "mint-g", "keys_file": "mint.jwks", "audiences": [ "api" ],
                                      "claims_to_values": [ "role" ] } ] } ],
      "action": { "continue": {} } },
    { "name": "g-admin", "match": { "path": { "prefix": "/g/" }, "values": { "jwt.role": "admin" } },
      "action": { "respond": { "status": 200, "body": "admin" } } },
    { "name": "g-bob", "match": { "path": { "prefix": "/g/" }, "values": { "consumer": "bob" } },
      "filters": [ { "type": "request_id" } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/bob/" } } },
    { "name": "g-anonymous", "match": { "path": { "prefix": "/g/" }, "values": { "consumer": { "present": false } } },
      "action": { "respond": { "status": 200, "body": "anonymous" } } },
    { "name": "g-other", "match": { "path": { "prefix": "/g/" } },
      "action": { "respond": { "status": 403, "body": "other" } } }
  ]
}
JSON
}

# The users of the basic routes: bcrypt from Apache's htpasswd (alice at
# the cheapest cost, slow at cost 13: ~0.5 s a check), sha512-crypt and
# sha256-crypt from openssl. Made once: a cost-13 hash takes as long to make.
SLOW_HASH=
write_users() {
	[ -n "$SLOW_HASH" ] || SLOW_HASH=$(htpasswd -nbB -C 13 slow slow-pw | tr -d '\n')
	{
		htpasswd -nbB -C 4 alice "${1:-alice-pw}" | tr -d '\n'
		printf '\nbob:%s\n' "$(openssl passwd -6 bob-pw)"
		printf '# sha256-crypt\ncarol:%s\n%s\n' "$(openssl passwd -5 carol-pw)" "$SLOW_HASH"
	} >"$E2E_TMP/users.htpasswd.new"
	mv "$E2E_TMP/users.htpasswd.new" "$E2E_TMP/users.htpasswd"
}

start_pair() {
	start_server "$1_up" "$UPSTREAM" -p 0 -k 1
	printf '# consumer sha256\ncarol %s\n' "$(sha256 carol-key)" >"$E2E_TMP/keys.txt"
	write_users
	write_mint_keys
	split_nginx_keys
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

# ---- basic ----

basic() { printf 'Authorization: Basic %s' "$(printf '%s' "$1" | base64 -w0)"; }

basic_users() {
	local out who
	start_pair bu
	out=$(get "$GW/b/x")
	[ "$(status_and_body "$out")" = '401 {"error":"missing credentials","status":401}' ] || fail "none: $out"
	grep -qx 'WWW-Authenticate: Basic realm="test", charset="UTF-8"' <<<"$out" || fail "the challenge: $out"
	for bad in "alice:wrong" "alice:" "mallory:alice-pw" "alice" "alice:alice-pwx"; do
		out=$(get -H "$(basic "$bad")" "$GW/b/x")
		[ "$(status_and_body "$out")" = '401 {"error":"invalid credentials","status":401}' ] || fail "$bad: $out"
		grep -q '^WWW-Authenticate: Basic' <<<"$out" || fail "$bad: no challenge: $out"
	done
	for header in 'Authorization: Basic !!!' 'Authorization: Bearer abc' 'Authorization: Basic YWxpY2U6YWxpY2UtcHc'; do
		[[ $(get -H "$header" "$GW/b/x") == "HTTP/1.1 401 "* ]] || fail "$header: not 401"
	done
	for who in alice bob carol; do
		out=$(get -H "$(basic "$who:$who-pw")" -H 'x-consumer: forged' "$GW/b/x")
		[[ $out == "HTTP/1.1 200 "* ]] || fail "$who: $(head -n 1 <<<"$out")"
		grep -qx "x-consumer: $who" <<<"$out" || fail "$who: no x-consumer upstream: $out"
		! grep -qi '^authorization:' <<<"$out" || fail "$who: Authorization reached the upstream: $out"
		! grep -q 'forged' <<<"$out" || fail "$who: the client's x-consumer reached the upstream: $out"
	done
	# curl's own -u, and the scheme in another case.
	[[ $(get -u bob:bob-pw "$GW/bn/x") == "HTTP/1.1 200 "* ]] || fail "curl -u"
	out=$(get -H "Authorization: bAsIc $(printf 'carol:carol-pw' | base64 -w0)" "$GW/b/x")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "the scheme's case: $(head -n 1 <<<"$out")"
	wait_until 5 "the access log written" log_has '"consumer":"carol"'
	log_has '"route":"b","filters":{"passed":1,"answered_by":null},"consumer":"alice"' ||
		fail "the access log: $(cat "$E2E_TMP/access.log")"
}

# The lone kernel's password worker, and its CPU time in clock ticks.
worker_pid() { pgrep -P "${E2E_PID[$1]}" -x vkgw-crypt; }
worker_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
worker_busy() { [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = R ]; }
running() { kill -0 "$1" 2>/dev/null; }
not() { ! "$@"; }

basic_off_kernel() {
	local slow worker before after out one pids=() p
	start_pair bk
	worker=$(worker_pid bk_gw) || fail "no password worker beside the kernel"
	[[ $(get -H "$(basic alice:alice-pw)" "$GW/b/x") == "HTTP/1.1 200 "* ]] || fail "alice, to be cached"
	# A cost-13 check in the worker: while it runs, the kernel answers
	# (the worker checks one at a time: alice's credentials are cached).
	curl -s -o "$E2E_TMP/slow.out" -w '%{http_code}' --noproxy '*' --max-time 20 \
		-H "$(basic slow:slow-pw)" "$GW/bn/x" >"$E2E_TMP/slow.status" &
	slow=$!
	wait_until 10 "the worker checking" worker_busy "$worker"
	out=$(get -H 'x-api-key: alice-key' "$GW/k/x")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "another route during the check: $(head -n 1 <<<"$out")"
	out=$(get -H "$(basic alice:alice-pw)" "$GW/b/x")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "basic on another route during the check: $(head -n 1 <<<"$out")"
	running "$slow" || fail "(slow: $(cat "$E2E_TMP/slow.status")) the slow check ended before the other requests were answered: nothing shows they overlapped"
	wait "$slow" || fail "curl of the slow check failed"
	[ "$(cat "$E2E_TMP/slow.status")" = 200 ] || fail "the slow check: $(cat "$E2E_TMP/slow.status")"
	# Cached: the second time costs the worker nothing.
	before=$(worker_ticks "$worker")
	[[ $(get -H "$(basic slow:slow-pw)" "$GW/b/x") == "HTTP/1.1 200 "* ]] || fail "slow, first on the cached route"
	after=$(worker_ticks "$worker")
	one=$((after - before))
	[ "$one" -ge 10 ] || fail "a cost-13 check took $one ticks of the worker"
	before=$after
	for _ in 1 2 3; do
		[[ $(get -H "$(basic slow:slow-pw)" "$GW/b/x") == "HTTP/1.1 200 "* ]] || fail "slow, cached"
	done
	after=$(worker_ticks "$worker")
	[ $((after - before)) -le 2 ] || fail "cached checks took $((after - before)) ticks of the worker"
	# A wrong password is never cached as right.
	[[ $(get -H "$(basic slow:wrong)" "$GW/b/x") == "HTTP/1.1 401 "* ]] || fail "slow, wrong password"
	# Slower than check_timeout_ms (50): 503.
	out=$(get -H "$(basic slow:slow-pw)" "$GW/bt/x")
	[ "$(status_and_body "$out")" = '503 {"error":"password check unavailable","status":503}' ] ||
		fail "a check past its timeout: $out"
	# Five at once past their timeout: the worker skips the checks whose
	# kernel stopped waiting, and works on the first alone.
	wait_until 10 "the worker idle" not worker_busy "$worker"
	before=$(worker_ticks "$worker")
	for i in 1 2 3 4 5; do
		curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 10 -H "$(basic slow:slow-pw)" \
			"$GW/bt/x" >"$E2E_TMP/bt.$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "curl failed"; done
	for i in 1 2 3 4 5; do [ "$(cat "$E2E_TMP/bt.$i")" = 503 ] || fail "check $i: $(cat "$E2E_TMP/bt.$i")"; done
	wait_until 10 "the worker idle" not worker_busy "$worker"
	after=$(worker_ticks "$worker")
	[ $((after - before)) -lt $((one * 3 / 2)) ] ||
		fail "five abandoned checks took $((after - before)) ticks of the worker (one takes $one)"
}

answers() { [[ $(get -H "$(basic bob:bob-pw)" "$GW/bn/x") == "HTTP/1.1 $1 "* ]]; }

basic_worker_restart() {
	local worker out
	start_pair bw
	worker=$(worker_pid bw_gw) || fail "no password worker"
	kill -9 "$worker"
	out=$(get -H "$(basic bob:bob-pw)" "$GW/bn/x")
	[ "$(status_and_body "$out")" = '503 {"error":"password check unavailable","status":503}' ] ||
		fail "the worker killed: $out"
	# Started again by a refusal at least a second after the last start.
	wait_until 5 "another worker answering" answers 200
	[ "$(worker_pid bw_gw)" != "$worker" ] || fail "the same worker pid"
	grep -q "the password worker (pid $worker) is gone: starting another" "$(server_err_file bw_gw)" ||
		fail "not logged:$(server_stderr bw_gw)"
	# Cached credentials never needed it.
	[[ $(get -H "$(basic alice:alice-pw)" "$GW/b/x") == "HTTP/1.1 200 "* ]] || fail "alice"
}

basic_file_reloads() {
	local out
	start_pair br
	[[ $(get -H "$(basic alice:alice-pw)" "$GW/b/x") == "HTTP/1.1 200 "* ]] || fail "alice before"
	write_users alice-new
	signal_server br_gw HUP
	wait_until 5 "configuration 2 applied" applied br_gw 2
	# Her old password is cached, under the hash it was checked against.
	[[ $(get -H "$(basic alice:alice-pw)" "$GW/b/x") == "HTTP/1.1 401 "* ]] || fail "alice's old password"
	[[ $(get -H "$(basic alice:alice-new)" "$GW/b/x") == "HTTP/1.1 200 "* ]] || fail "alice's new password"
	printf 'mallory:%s\n' "$(htpasswd -nbm mallory x | cut -d: -f2)" >>"$E2E_TMP/users.htpasswd"
	signal_server br_gw HUP
	wait_until 5 "the broken file refused" refused br_gw
	grep -qE "br.json:[0-9]+:[0-9]+: /routes/3/filters/0/htpasswd_file: $E2E_TMP/users.htpasswd:6: user \"mallory\": an Apache MD5 \(\\\$apr1\\\$\) hash" \
		"$(server_err_file br_gw)" || fail "the problem:$(server_stderr br_gw)"
	[[ $(get -H "$(basic alice:alice-new)" "$GW/b/x") == "HTTP/1.1 200 "* ]] || fail "alice after a refused reload"
}

# ---- jwt ----

bearer() { printf 'Authorization: Bearer %s' "$1"; }

jwt_corpus() {
	local name expected token status want n=0
	start_pair jc
	while read -r name expected token; do
		status=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 5 -H "$(bearer "$token")" "$GW/j/x")
		want=401
		[ "$expected" = accept ] && want=200
		[ "$name" = test1_invalid_iat_jwt ] && want=401 # iat -1: vkgw checks iat
		[ "$status" = "$want" ] || fail "$name: $status, expected $want ($expected)"
		n=$((n + 1))
	done < <(python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["tokens"]:
    print(t["name"], t["expected"].split()[0], t["token"])' "$JWT_CORPUS/tokens_expected.json")
	[ "$n" = 28 ] || fail "$n tokens run, not 28"
}

jwt_identity() {
	local out token payload
	start_pair ji
	token=$(python3 -c 'import json,sys; print([t["token"] for t in json.load(open(sys.argv[1]))["tokens"] if t["name"]=="test1_jwt"][0])' \
		"$JWT_CORPUS/tokens_expected.json")
	out=$(get -H "$(bearer "$token")" -H 'x-user: forged' -H 'x-jwt-payload: forged' "$GW/j/x")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "test1: $out"
	grep -qx 'x-user: test1.identifier' <<<"$out" || fail "x-user: $out"
	grep -qx 'x-email: test1@example.com' <<<"$out" || fail "x-email: $out"
	payload=$(cut -d. -f2 <<<"$token")
	grep -qx "x-jwt-payload: $payload" <<<"$out" || fail "the payload header: $out"
	! grep -q forged <<<"$out" || fail "a client's header reached the upstream: $out"
	! grep -qi '^authorization:' <<<"$out" || fail "the token reached the upstream: $out"
	wait_until 5 "the access log written" log_has '"consumer":"test1.identifier"'
	# The minted provider: from the query (taken out of the target), a cookie.
	token=$(mint '{"iss":"https://idp.test","aud":"api","sub":"dana","scope":"read write","tier":3}')
	out=$(get "$GW/js/x?a=1&access_token=$token")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "from the query: $out"
	grep -qx 'GET /echo/x?a=1 HTTP/1.1' <<<"$out" || fail "the query token upstream: $(grep '^GET' <<<"$out")"
	grep -qx 'x-tier: 3' <<<"$out" || fail "a number claim: $out"
	out=$(get -H "Cookie: a=b; jwt=$token; c=d" "$GW/js/x")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "from a cookie: $out"
	grep -qix 'cookie: a=b; c=d' <<<"$out" || fail "the token's cookie went upstream: $(grep -i '^cookie' <<<"$out")"
	out=$(get -H "Cookie: jwt=$token" "$GW/js/x")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "from a lone cookie: $out"
	grep -qi '^cookie:' <<<"$out" && fail "an empty Cookie went upstream: $(grep -i '^cookie' <<<"$out")"
	# A provider without claims to headers: the second time the token is
	# taken from the kernel's cache without being decoded, and the request
	# gets the same identity, the token still kept from upstream.
	token=$(mint '{"aud":"api","sub":"remembered-consumer"}')
	for i in 1 2 3; do
		out=$(get -H "$(bearer "$token")" "$GW/jf/x")
		[[ $out == "HTTP/1.1 200 "* ]] || fail "a remembered token, request $i: $out"
		! grep -qi '^authorization:' <<<"$out" || fail "a remembered token reached the upstream: $out"
	done
	wait_until 5 "three requests logged" log_count '"consumer":"remembered-consumer"' 3
	# Up to max_token_bytes (8192) in a header; past it, refused.
	token=$(mint "{\"aud\":\"api\",\"sub\":\"big\",\"pad\":\"$(printf '%05000d' 0)\"}")
	[ "${#token}" -gt 4096 ] && [ "${#token}" -lt 8192 ] || fail "the big token is ${#token} bytes"
	[[ $(get -H "$(bearer "$token")" "$GW/jf/x") == "HTTP/1.1 200 "* ]] || fail "a ${#token}-byte token"
	token=$(mint "{\"aud\":\"api\",\"sub\":\"big\",\"pad\":\"$(printf '%07000d' 0)\"}")
	out=$(get -H "$(bearer "$token")" "$GW/jf/x")
	grep -q 'error_description="not a token, or longer than max_token_bytes"' <<<"$out" || fail "a ${#token}-byte token: $out"
	token=$(mint '{"aud":"web","sub":"x"}')
	[[ $(get -H "$(bearer "$token")" "$GW/jf/x") == "HTTP/1.1 401 "* ]] || fail "another audience"
	[[ $(get -H "$(bearer "$token")" "$GW/jf/x") == "HTTP/1.1 401 "* ]] || fail "another audience, again"
}

log_count() { [ "$(grep -cF -- "$1" "$E2E_TMP/access.log")" -ge "$2" ]; }

jwt_rules() {
	local out
	start_pair jr
	out=$(get "$GW/js/x")
	[ "$(status_and_body "$out")" = '401 {"error":"missing token","status":401}' ] || fail "none: $out"
	grep -qx 'WWW-Authenticate: Bearer realm="vkgw"' <<<"$out" || fail "the challenge: $out"
	out=$(get -H "$(bearer "$(mint '{"iss":"https://idp.test","aud":"api","sub":"dana","scope":"read"}')")" "$GW/js/x")
	[ "$(status_and_body "$out")" = '403 {"error":"insufficient scope","status":403}' ] || fail "one scope: $out"
	grep -q '^WWW-Authenticate: Bearer realm="vkgw", error="insufficient_scope", .*scope="read write"' <<<"$out" ||
		fail "the scope challenge: $out"
	out=$(get -H "$(bearer "$(mint '{"iss":"https://idp.test","aud":"api","sub":"dana","scp":["write","read"]}')")" "$GW/js/x")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "scp: $out"
	for claims in '{"iss":"https://evil","aud":"api","sub":"d","scope":"read write"}' \
		'{"iss":"https://idp.test","aud":"web","sub":"d","scope":"read write"}' \
		'{"iss":"https://idp.test","aud":"api","scope":"read write"}' \
		'{"iss":"https://idp.test","aud":"api","sub":"d","scope":"read write","exp":1000}'; do
		out=$(get -H "$(bearer "$(mint "$claims")")" "$GW/js/x")
		[[ $out == "HTTP/1.1 401 "* ]] || fail "$claims: $(head -n 1 <<<"$out")"
		grep -q '^WWW-Authenticate: Bearer realm="vkgw", error="invalid_token", error_description="' <<<"$out" ||
			fail "$claims: the challenge: $out"
	done
	out=$(get -H "$(bearer "$(mint '{"sub":"d"}' m2)")" "$GW/js/x")
	grep -q 'error_description="no key of the issuer has the token.s kid"' <<<"$out" || fail "an unknown kid: $out"
	# allow_missing: no token goes through (a forged x-user removed); a bad one does not.
	out=$(get -H 'x-user: forged' "$GW/ja/x")
	[[ $out == "HTTP/1.1 200 "* ]] && ! grep -q forged <<<"$out" || fail "allow_missing, no token: $out"
	[[ $(get -H "$(bearer a.b.c)" "$GW/ja/x") == "HTTP/1.1 401 "* ]] || fail "allow_missing, a bad token"
	out=$(get -H "$(bearer "$(mint '{"iss":"https://idp.test","aud":"api","sub":"erin"}')")" "$GW/ja/x")
	grep -qx 'x-user: erin' <<<"$out" || fail "allow_missing, a good token: $out"
	# Any of two providers.
	[[ $(get -H "$(bearer "$(mint '{"iss":"https://idp.test","aud":"api","sub":"f"}')")" "$GW/jm/x") == "HTTP/1.1 200 "* ]] ||
		fail "the second provider"
	token=$(python3 -c 'import json,sys; print([t["token"] for t in json.load(open(sys.argv[1]))["tokens"] if t["name"]=="test4_jwt"][0])' \
		"$JWT_CORPUS/tokens_expected.json")
	[[ $(get -H "$(bearer "$token")" "$GW/jm/x") == "HTTP/1.1 200 "* ]] || fail "an nginx provider (RS256)"
}

# A continue route authenticates; the routes after it match on what it
# learnt: a claim's value, the consumer, or no consumer at all.
jwt_route_on_claims() {
	local out
	start_pair jg
	out=$(get -H "$(bearer "$(mint '{"aud":"api","sub":"alice","role":"admin"}')")" "$GW/g/x")
	[ "$(status_and_body "$out")" = "200 admin" ] || fail "role admin: $out"
	out=$(get -H "$(bearer "$(mint '{"aud":"api","sub":"bob","role":"user"}')")" "$GW/g/x")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "bob: $out"
	grep -qx 'GET /echo/bob/x HTTP/1.1' <<<"$out" || fail "bob's route: $(grep '^GET' <<<"$out")"
	! grep -qi '^authorization:' <<<"$out" || fail "the token reached bob's upstream: $out"
	grep -qi '^x-request-id:' <<<"$out" || fail "bob's route's own filter did not run: $out"
	[ "$(status_and_body "$(get "$GW/g/x")")" = "200 anonymous" ] || fail "no token"
	out=$(get -H "$(bearer "$(mint '{"aud":"api","sub":"carol","role":"user"}')")" "$GW/g/x")
	[ "$(status_and_body "$out")" = "403 other" ] || fail "carol: $out"
	# A bad token is answered by the continue route's filter.
	[[ $(get -H "$(bearer "$(mint '{"aud":"web","sub":"bob"}')")" "$GW/g/x") == "HTTP/1.1 401 "* ]] ||
		fail "another audience went on"
	wait_until 5 "the access log written" log_has '"route":"g-other"'
	log_has '"route":"g-admin"' && log_has '"route":"g-bob"' && log_has '"route":"g-anonymous"' &&
		log_has '"route":"gate"' || fail "the access log's routes: $(cat "$E2E_TMP/access.log")"
}

jwt_keys_reload() {
	local token
	start_pair jk
	token=$(mint '{"iss":"https://idp.test","aud":"api","sub":"g"}')
	[[ $(get -H "$(bearer "$token")" "$GW/ja/x") == "HTTP/1.1 200 "* ]] || fail "before"
	write_mint_keys m2
	signal_server jk_gw HUP
	wait_until 5 "configuration 2 applied" applied jk_gw 2
	[[ $(get -H "$(bearer "$token")" "$GW/ja/x") == "HTTP/1.1 401 "* ]] || fail "a token of a removed key"
	[[ $(get -H "$(bearer "$(mint '{"iss":"https://idp.test","aud":"api","sub":"g"}' m2)")" "$GW/ja/x") == "HTTP/1.1 200 "* ]] ||
		fail "a token of the new key"
	printf '{"keys":[{"kty":"oct","kid":"short","k":"c2hvcnQ"}]}\n' >"$E2E_TMP/mint.jwks"
	signal_server jk_gw HUP
	wait_until 5 "the broken keys refused" refused jk_gw
	grep -qE "jk.json:[0-9]+:[0-9]+: /routes/[0-9]+/filters/0/providers/0/keys_file: $E2E_TMP/mint.jwks: key 0: an HMAC key of 5 bytes" \
		"$(server_err_file jk_gw)" || fail "the problem:$(server_stderr jk_gw)"
}

run_case "api_key in a header: 401, 403, consumers from the config and the keys file, the key kept from upstream" \
	header_keys
run_case "api_key in the query: taken out of the target sent upstream and logged; forward_key" query_keys
run_case "api_key: the keys file reloads with SIGHUP; a broken one is refused at its pointer" keys_file_reloads
run_case "api_key: with --watch, a keys file written over reloads" keys_file_watched
run_case "basic: 401 with a challenge, bcrypt/sha512/sha256 users through as the consumer" basic_users
run_case "basic: checks run in the password worker while the kernel serves; cached ones cost it nothing" \
	basic_off_kernel
run_case "basic: a killed password worker is started again" basic_worker_restart
run_case "basic: the htpasswd file reloads; a hash vkgw does not take is refused at its line" basic_file_reloads
run_case "jwt: nginx-auth-jwt's 28 tokens through the gateway, each with its expected verdict" jwt_corpus
run_case "jwt: claims to headers, the payload header, the consumer; tokens from the query and a cookie" jwt_identity
run_case "jwt: scopes, issuer, audience, required claims, unknown kid, allow_missing, any of two providers" jwt_rules
run_case "jwt: the keys file reloads; a key refused there refuses the reload" jwt_keys_reload
run_case "jwt: a continue route authenticates; the routes after it match on a claim, the consumer, or none" \
	jwt_route_on_claims
finish
