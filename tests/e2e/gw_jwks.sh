#!/usr/bin/env bash
# vkgw end to end: jwt providers whose keys come from a remote JWKS
# ("jwks": an upstream and a path), served by tests/e2e/gw_auth_service.py
# from a file the cases rewrite; ES256 tokens signed here (python3
# cryptography), in front of tests/services/gw_test_upstream's /echo.
#
#   fetch          the set is fetched at start: a token of its key through,
#                  its claims to headers; the key server saw GET on the
#                  path with an Accept for JWK Sets
#   rotation       a new kid in the served set: the first token of it
#                  waits for a fetch and passes (no restart, one fetch);
#                  a made-up kid right after is 401 without another fetch
#                  (min_refresh_seconds)
#   down at start  the key server answering 503 from the start: 503 for a
#                  token; once it serves the set, tokens pass
#   down later     after a good load the server fails: fetches go on
#                  (logged), the last good keys keep serving
#   max-age        Cache-Control max-age=1 refreshes every second though
#                  refresh_seconds is 300
#   reload         a reload that changes the filter while the server is
#                  down keeps the fetched keys (hand-over)
#   over TLS       the key server speaks TLS (a test CA's certificate):
#                  the set comes verified; against a CA that did not sign
#                  it, the fetch fails (logged with the reason) and
#                  tokens are 503
#   config         jwks with an unknown upstream, jwks beside keys_file:
#                  --check names each at its pointer
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
SERVICE="$(dirname "$0")/gw_auth_service.py"
need_bin "$VKGW"
need_bin "$UPSTREAM"
python3 -c 'import cryptography' 2>/dev/null || fail "python3-cryptography is missing (deploy/install-deps.sh installs it)"

# keys KID...: P-256 keys (made once per kid, kept in $E2E_TMP/KID.pem);
# the JWK Set of those kids goes to $E2E_TMP/jwks.json, replaced whole.
keys() {
	python3 - "$E2E_TMP" "$@" <<'PY'
import base64, json, os, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
def b64(n): return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
tmp, kids, jwks = sys.argv[1], sys.argv[2:], []
for kid in kids:
    path = os.path.join(tmp, kid + ".pem")
    if not os.path.exists(path):
        key = ec.generate_private_key(ec.SECP256R1())
        with open(path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    pub = key.public_key().public_numbers()
    jwks.append({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig", "x": b64(pub.x), "y": b64(pub.y)})
with open(os.path.join(tmp, "jwks.json.new"), "w") as f:
    json.dump({"keys": jwks}, f)
os.replace(os.path.join(tmp, "jwks.json.new"), os.path.join(tmp, "jwks.json"))
PY
}

# token KID SUB: an ES256 token of KID's key (made by keys, or made here
# and never served), for sub SUB, audience api, an hour to live.
token() {
	python3 - "$E2E_TMP" "$1" "$2" <<'PY'
import base64, json, os, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
def b64(data): return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
tmp, kid, sub = sys.argv[1:4]
path = os.path.join(tmp, kid + ".pem")
if os.path.exists(path):
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
else:
    key = ec.generate_private_key(ec.SECP256R1())
head = b64(json.dumps({"alg": "ES256", "kid": kid, "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": sub, "aud": "api", "exp": int(time.time()) + 3600}).encode())
r, s = decode_dss_signature(key.sign((head + "." + body).encode(), ec.ECDSA(hashes.SHA256())))
print(head + "." + body + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
PY
}

# write_config FILE UPSTREAM_PORT KEYSERVER_PORT [REFRESH_S] [EXTRA] [IDP_TLS]:
# EXTRA goes into the filter entry (a reload that changes it), IDP_TLS is
# the key server upstream's "tls" (none: plain).
write_config() {
	local tls=""
	[ -z "${6:-}" ] || tls=", \"tls\": $6"
	cat >"$1" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "upstreams": {
    "app": { "endpoints": [ "127.0.0.1:$2" ] },
    "idp": { "endpoints": [ "127.0.0.1:$3" ]$tls }
  },
  "routes": [
    { "name": "j", "match": { "path": { "prefix": "/j/" } },
      "filters": [ { "type": "jwt", ${5:-}
                     "providers": [ { "name": "idp", "audiences": [ "api" ],
                                      "jwks": { "upstream": "idp", "path": "/jwks",
                                                "refresh_seconds": ${4:-300}, "min_refresh_seconds": 1,
                                                "timeout_ms": 1000 },
                                      "claims_to_headers": { "sub": "x-user" } } ] } ],
      "action": { "proxy": { "upstream": "app", "prefix_rewrite": "/echo/" } } }
  ]
}
JSON
}

start_all() {
	start_server "$1_up" "$UPSTREAM" -p 0 -k 1
	start_server "$1_svc" python3 "$SERVICE" 0 "$E2E_TMP/jwks.json"
	write_config "$E2E_TMP/$1.json" "${E2E_PORT[$1_up]}" "${E2E_PORT[$1_svc]}" "${2:-300}"
	start_server "$1_gw" "$VKGW" -c "$E2E_TMP/$1.json"
	GW="http://127.0.0.1:${E2E_PORT[$1_gw]}"
	SVC="http://127.0.0.1:${E2E_PORT[$1_svc]}"
}

get() { curl -s -i --noproxy '*' --max-time 5 "$@" | tr -d '\r'; }
svc() { curl -s --noproxy '*' --max-time 5 "$SVC/$1"; }
status_of() { head -n 1 <<<"$1" | cut -d' ' -f2; }
code() { curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 5 -H "Authorization: Bearer $1" "$GW/j/x"; }
fetches_at_least() { [ "$(svc _jwks_count)" -ge "$1" ]; }
code_is() { [ "$(code "$2")" = "$1" ]; }

fetch() {
	local out last
	rm -f "$E2E_TMP"/*.pem "$E2E_TMP"/jwks.json.*
	keys k1
	start_all fe
	wait_until 5 "the first fetch" fetches_at_least 1
	out=$(get -H "Authorization: Bearer $(token k1 alice)" -H 'X-User: mallory' "$GW/j/x")
	[ "$(status_of "$out")" = 200 ] || fail "a token of the fetched key: $out"
	grep -qix 'x-user: alice' <<<"$out" || fail "the claim header: $out"
	last=$(svc _jwks_last | tr -d '\r')
	grep -q '^GET /jwks HTTP/1.1$' <<<"$last" || fail "the key server's request line: $last"
	grep -qix 'accept: application/jwk-set+json, application/json' <<<"$last" || fail "no Accept: $last"
	grep -qix "host: 127.0.0.1:${E2E_PORT[fe_svc]}" <<<"$last" || fail "no Host: $last"
	[ "$(svc _count)" = 0 ] || fail "the key server was asked for decisions: $(svc _count)"
	[ "$(code "$(token k1 bob)x")" = 401 ] || fail "a bad signature passed"
}

# passes_after_one_fetch TOKEN: 0 when the token passed and exactly one
# fetch came during its request; 1 when it was refused with no fetch (too
# soon after the last); anything else fails the case.
passes_after_one_fetch() {
	local before after status
	before=$(svc _jwks_count)
	status=$(code "$1")
	after=$(svc _jwks_count)
	if [ "$status" = 200 ]; then
		[ "$after" = $((before + 1)) ] || fail "the passing token did not wait for one fetch: $before -> $after"
		return 0
	fi
	[ "$status" = 401 ] && [ "$after" = "$before" ] || fail "a token before min_refresh: $status, fetches $before -> $after"
	return 1
}

rotation() {
	local before k2
	rm -f "$E2E_TMP"/*.pem "$E2E_TMP"/jwks.json.*
	keys k1
	start_all ro
	wait_until 5 "the first fetch" fetches_at_least 1
	code_is 200 "$(token k1 alice)" || fail "k1 before the rotation"
	keys k1 k2
	k2=$(token k2 carol)
	# Within min_refresh_seconds (1 s) of the last fetch a k2 token is
	# 401 at once; the first one after waits for the fetch it caused
	# and passes: exactly one fetch during that request.
	wait_until 5 "a k2 token through" passes_after_one_fetch "$k2"
	before=$(svc _jwks_count)
	[ "$(code "$(token k9 mallory)")" = 401 ] || fail "a made-up kid passed"
	[ "$(svc _jwks_count)" = "$before" ] || fail "a made-up kid within min_refresh_seconds fetched again"
	code_is 200 "$(token k1 alice)" || fail "k1 after the rotation"
}

down_at_start() {
	rm -f "$E2E_TMP"/*.pem "$E2E_TMP"/jwks.json.*
	keys k1
	touch "$E2E_TMP/jwks.json.down"
	start_all ds
	wait_until 5 "a failed fetch" fetches_at_least 1
	[ "$(code "$(token k1 alice)")" = 503 ] || fail "no keys ever fetched is not 503"
	grep -q 'jwt: provider idp: JWKS from upstream idp/jwks: status 503; no keys yet (503)' "$(server_err_file ds_gw)" ||
		fail "the failure was not logged:$(server_stderr ds_gw)"
	rm -f "$E2E_TMP/jwks.json.down"
	wait_until 10 "tokens pass once the set is served" code_is 200 "$(token k1 alice)"
}

down_later() {
	local before
	rm -f "$E2E_TMP"/*.pem "$E2E_TMP"/jwks.json.*
	keys k1
	start_all dl 1
	wait_until 5 "the first fetch" fetches_at_least 1
	code_is 200 "$(token k1 alice)" || fail "k1 before the server failed"
	touch "$E2E_TMP/jwks.json.down"
	before=$(svc _jwks_count)
	wait_until 10 "two failed refreshes" fetches_at_least $((before + 2))
	code_is 200 "$(token k1 alice)" || fail "the last good keys were dropped"
	grep -q 'status 503; the last good keys stay' "$(server_err_file dl_gw)" ||
		fail "the failure was not logged:$(server_stderr dl_gw)"
	# The key server itself gone: the same.
	stop_server dl_svc
	code_is 200 "$(token k1 bob)" || fail "the key server gone"
}

max_age() {
	local before
	rm -f "$E2E_TMP"/*.pem "$E2E_TMP"/jwks.json.*
	keys k1
	echo 'public, max-age=1' >"$E2E_TMP/jwks.json.cache-control"
	start_all ma 300
	wait_until 5 "the first fetch" fetches_at_least 1
	before=$(svc _jwks_count)
	wait_until 10 "refreshes by max-age" fetches_at_least $((before + 2))
	rm -f "$E2E_TMP/jwks.json.cache-control"
}

reload_hand_over() {
	rm -f "$E2E_TMP"/*.pem "$E2E_TMP"/jwks.json.*
	keys k1
	start_all rh
	wait_until 5 "the first fetch" fetches_at_least 1
	code_is 200 "$(token k1 alice)" || fail "k1 before the reload"
	touch "$E2E_TMP/jwks.json.down"
	write_config "$E2E_TMP/rh.json" "${E2E_PORT[rh_up]}" "${E2E_PORT[rh_svc]}" 300 '"cache_seconds": 0,'
	signal_server rh_gw HUP
	wait_until 5 "configuration 2 applied" grep -q "configuration 2 applied" "$(server_err_file rh_gw)"
	code_is 200 "$(token k1 carol)" || fail "the keys were not handed over:$(server_stderr rh_gw)"
}

over_tls() {
	local certs="$E2E_TMP/certs"
	rm -f "$E2E_TMP"/*.pem "$E2E_TMP"/jwks.json.*
	mkdir -p "$certs"
	tls_make_ca "$certs" ca "Test CA"
	tls_make_ca "$certs" other_ca "Other CA"
	tls_sign "$certs" idp ca "/CN=idp.test" "DNS:idp.test,IP:127.0.0.1" serverAuth
	keys k1
	start_server ot_up "$UPSTREAM" -p 0 -k 1
	AUTH_SERVICE_CERT="$certs/idp.pem" AUTH_SERVICE_KEY="$certs/idp.key" \
		start_server ot_svc python3 "$SERVICE" 0 "$E2E_TMP/jwks.json"
	write_config "$E2E_TMP/ot.json" "${E2E_PORT[ot_up]}" "${E2E_PORT[ot_svc]}" 300 "" \
		"{ \"server_name\": \"idp.test\", \"ca\": \"$certs/ca.pem\" }"
	start_server ot_gw "$VKGW" -c "$E2E_TMP/ot.json"
	GW="http://127.0.0.1:${E2E_PORT[ot_gw]}"
	SVC="https://127.0.0.1:${E2E_PORT[ot_svc]}"
	wait_until 5 "the first fetch over TLS" code_is 200 "$(token k1 alice)"
	# The same server, a CA that did not sign its certificate.
	write_config "$E2E_TMP/ou.json" "${E2E_PORT[ot_up]}" "${E2E_PORT[ot_svc]}" 300 "" \
		"{ \"server_name\": \"idp.test\", \"ca\": \"$certs/other_ca.pem\" }"
	start_server ou_gw "$VKGW" -c "$E2E_TMP/ou.json"
	GW="http://127.0.0.1:${E2E_PORT[ou_gw]}"
	wait_until 5 "the failed fetch logged" grep -q 'jwt: provider idp: JWKS from upstream idp/jwks: .*certificate' \
		"$(server_err_file ou_gw)"
	[ "$(code "$(token k1 alice)")" = 503 ] || fail "an unverified key server's keys were used"
}

config_errors() {
	local out
	cat >"$E2E_TMP/bad.json" <<'JSON'
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0 } ],
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:1" ] } },
  "routes": [
    { "name": "a", "match": { "path": { "prefix": "/" } },
      "filters": [ { "type": "jwt", "providers": [
        { "name": "p1", "jwks": { "upstream": "nowhere", "min_refresh_seconds": 600, "refresh_seconds": 60 } },
        { "name": "p2", "keys_file": "x.jwks", "jwks": { "upstream": "app" } } ] } ],
      "action": { "proxy": { "upstream": "app" } } }
  ]
}
JSON
	out=$("$VKGW" --check -c "$E2E_TMP/bad.json" 2>&1) && fail "--check passed: $out"
	grep -q 'bad.json:7:[0-9]*: /routes/0/filters/0/providers/0/jwks/upstream: unknown upstream "nowhere"; defined upstreams: app' <<<"$out" ||
		fail "unknown upstream: $out"
	grep -q '/routes/0/filters/0/providers/0/jwks/min_refresh_seconds: at most refresh_seconds' <<<"$out" ||
		fail "min_refresh_seconds: $out"
	grep -q '/routes/0/filters/0/providers/1: give the keys one way' <<<"$out" || fail "two ways: $out"
}

run_case "jwks: the set is fetched at start; its tokens pass with their claims" fetch
run_case "jwks: a new kid is fetched for its first token; a made-up one does not fetch again" rotation
run_case "jwks: the key server down at start: 503, then tokens pass once it serves" down_at_start
run_case "jwks: the key server failing after a good load: the last good keys stay" down_later
run_case "jwks: Cache-Control max-age decides when the set is fetched again" max_age
run_case "jwks: a reload that changes the filter keeps the fetched keys" reload_hand_over
run_case "jwks: fetched over TLS, verified; a certificate that does not verify fails the fetch" over_tls
run_case "jwks: configuration errors at their pointers" config_errors
finish
