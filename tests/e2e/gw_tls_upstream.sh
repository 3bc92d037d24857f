#!/usr/bin/env bash
# vkgw end to end: TLS to upstreams, against a real nginx (Debian's
# nginx-light, OpenSSL) terminating TLS on loopback ports of its own. The
# certificates are made here by openssl, for this run only: a test CA signs
# nginx's certificate (up.test and 127.0.0.1) and the gateway's client
# certificate; another CA signs a certificate nobody trusts.
#
#   verified_and_pooled   the name and the CA verify; SNI and ALPN go to
#                         nginx, which sees the gateway's client
#                         certificate (mTLS); 30 requests share the kept
#                         TLS connections; with nothing kept, new
#                         connections resume the last session; a kept
#                         connection nginx closed (close_notify) is not
#                         used again
#   verified_by_address   an endpoint given by address is verified
#                         against the certificate's IP name, without SNI
#   verification_failures a wrong name, an untrusted CA, the system store
#                         (which does not hold the test CA) and plain HTTP
#                         where TLS was expected each give a 502 whose
#                         JSON body says why; "verify": false passes
#   health_checks_over_tls probes speak TLS: the endpoint whose
#                         certificate verifies stays healthy and takes
#                         every request, the other is marked unhealthy
#   bulk_both_ways        256 MiB down and 256 MiB up through a gateway
#                         whose upstream is another vkgw terminating TLS:
#                         checksums equal to the plain path's
#   config_errors         a CA file that is missing, a client certificate
#                         without its key, a bad server_name: --check
#                         names file, line, column and JSON pointer
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"
command -v openssl >/dev/null || fail "openssl is not installed"
command -v curl >/dev/null || fail "curl is not installed"
command -v nginx >/dev/null || fail "nginx is not installed (deploy/install-deps.sh installs nginx-light)"

CERTS="$E2E_TMP/certs"
mkdir -p "$CERTS"

make_ca() { tls_make_ca "$CERTS" "$@"; }
sign() { tls_sign "$CERTS" "$@"; }

make_ca ca "Test CA"
make_ca rogue_ca "Rogue CA"
sign up ca "/CN=up.test" "DNS:up.test,IP:127.0.0.1" serverAuth
sign rogue_up rogue_ca "/CN=up.test" "DNS:up.test,IP:127.0.0.1" serverAuth
sign gateway ca "/O=Example/CN=gateway" "DNS:gateway.test" clientAuth

# start_nginx: nginx with three loopback ports (nginx takes no port 0, so
# taken ones are retried): GOOD serves the CA's certificate and asks for a
# client certificate, ROGUE serves the rogue CA's, PLAIN speaks plain HTTP.
# Each answer says what nginx saw of the TLS connection.
start_nginx() {
	local dir="$E2E_TMP/nginx" good rogue plain attempt
	mkdir -p "$dir"
	for attempt in 1 2 3 4 5; do
		good=$(free_port)
		rogue=$(free_port)
		plain=$(free_port)
		{
			nginx_prologue "$dir"
			cat <<CONF
  access_log off;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:$good ssl;
    ssl_certificate $CERTS/up.pem;
    ssl_certificate_key $CERTS/up.key;
    ssl_client_certificate $CERTS/ca.pem;
    ssl_verify_client optional;
    keepalive_timeout 1s;
    location / {
      return 200 "good conn=\$connection sni=\$ssl_server_name alpn=\$ssl_alpn_protocol reused=\$ssl_session_reused verify=\$ssl_client_verify client=\$ssl_client_s_dn\n";
    }
  }
  server {
    listen 127.0.0.1:$rogue ssl;
    ssl_certificate $CERTS/rogue_up.pem;
    ssl_certificate_key $CERTS/rogue_up.key;
    location / { return 200 "rogue conn=\$connection\n"; }
  }
  server {
    listen 127.0.0.1:$plain;
    location / { return 200 "plain conn=\$connection\n"; }
  }
}
CONF
		} >"$dir/nginx.conf"
		if nginx_launch nginx "$dir" "http://127.0.0.1:$plain/" "https://127.0.0.1:$good/" \
			"https://127.0.0.1:$rogue/"; then
			E2E_PORT[good]=$good
			E2E_PORT[rogue]=$rogue
			E2E_PORT[plain]=$plain
			return 0
		fi
	done
	fail "nginx did not start:$(server_stderr nginx)"
}

# upstream NAME PORT TLS_JSON [EXTRA_JSON]: one upstream entry.
upstream() {
	printf '"%s": { "endpoints": [ "127.0.0.1:%s" ], "tls": %s %s }' "$1" "$2" "$3" "${4:-}"
}

# route NAME: requests under /NAME/ go to upstream NAME.
route() {
	printf '{ "name": "%s", "match": { "path": { "prefix": "/%s/" } }, "action": { "proxy": { "upstream": "%s" } } }' \
		"$1" "$1" "$1"
}

# gateway NAME UPSTREAMS_JSON ROUTES_JSON: vkgw NAME with one kernel.
gateway() {
	cat >"$E2E_TMP/$1.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "access_log": { "path": "$E2E_TMP/$1.log" },
  "upstreams": { $2 },
  "routes": [ $3 ]
}
JSON
	start_server "$1" "$VKGW" -c "$E2E_TMP/$1.json"
}

no_established() { [ "$(established "$1")" -eq 0 ]; }

get() {
	curl -s --noproxy '*' --max-time 10 "http://127.0.0.1:${E2E_PORT[$1]}$2"
}

GOOD_TLS="{ \"server_name\": \"up.test\", \"ca\": \"certs/ca.pem\", \"cert\": \"certs/gateway.pem\", \"key\": \"certs/gateway.key\" }"

verified_and_pooled() {
	local body conns
	start_nginx
	gateway vp "$(upstream good "${E2E_PORT[good]}" "$GOOD_TLS"),
	  $(upstream fresh "${E2E_PORT[good]}" "$GOOD_TLS" ', "limits": { "max_idle_per_kernel": 0 }'),
	  $(upstream capped "${E2E_PORT[good]}" "$GOOD_TLS" ', "limits": { "max_idle_per_kernel": 0, "max_connections": 2 }'),
	  \"plainup\": { \"endpoints\": [ \"127.0.0.1:${E2E_PORT[plain]}\" ] }" \
		"$(route good), $(route fresh), $(route capped), $(route plainup)"
	body=$(get vp /good/a)
	[[ $body == "good conn="*" sni=up.test alpn=http/1.1 reused=. verify=SUCCESS client=CN=gateway,O=Example" ]] ||
		fail "nginx saw: $body"
	# Thirty requests, one after another: the kept TLS connection serves
	# them all.
	for i in $(seq 1 30); do
		get vp /good/b
	done >"$E2E_TMP/pooled"
	grep -c '^good ' "$E2E_TMP/pooled" | grep -qx 30 || fail "not every pooled request passed: $(sort "$E2E_TMP/pooled" | uniq -c)"
	conns=$(sed 's/.*conn=\([0-9]*\).*/\1/' "$E2E_TMP/pooled" | sort -u | wc -l)
	[ "$conns" -eq 1 ] || fail "30 sequential requests used $conns TLS connections to nginx"
	# One client connection, a TLS upstream then a plain one: the plain
	# upstream's connection is kept between its requests all the same.
	body=$(curl -s --noproxy '*' --max-time 10 "http://127.0.0.1:${E2E_PORT[vp]}/good/e" \
		"http://127.0.0.1:${E2E_PORT[vp]}/plainup/a" "http://127.0.0.1:${E2E_PORT[vp]}/plainup/b")
	[ "$(grep -c '^plain conn=' <<<"$body")" = 2 ] || fail "plain upstream after a TLS one: $body"
	[ "$(grep '^plain conn=' <<<"$body" | sort -u | wc -l)" = 1 ] ||
		fail "the plain upstream's connection was not kept after a TLS upstream's request: $body"
	# Nothing kept: every request a new connection, each after the first
	# resuming the session the one before got.
	for i in $(seq 1 5); do
		get vp /fresh/c
	done >"$E2E_TMP/fresh"
	conns=$(sed 's/.*conn=\([0-9]*\).*/\1/' "$E2E_TMP/fresh" | sort -u | wc -l)
	[ "$conns" -eq 5 ] || fail "max_idle_per_kernel 0 still reused connections: $(cat "$E2E_TMP/fresh")"
	[ "$(grep -c 'reused=r' "$E2E_TMP/fresh")" -ge 4 ] || fail "new connections did not resume: $(cat "$E2E_TMP/fresh")"
	# Each closed TLS connection is counted out of max_connections (the
	# TLS session's close hook beside the pool's, not instead of it):
	# six in a row through a limit of two.
	for i in $(seq 1 6); do
		get vp /capped/c
	done >"$E2E_TMP/capped"
	[ "$(grep -c '^good ' "$E2E_TMP/capped")" = 6 ] ||
		fail "closed TLS connections still counted against max_connections: $(cat "$E2E_TMP/capped")"
	# nginx closes the kept connection after its keepalive_timeout (1 s,
	# with a close_notify): the pool finds it closed and the next request
	# gets a new one, sent once (a closed one taken would have failed and
	# been sent again on a fresh connection: two attempts).
	wait_until 10 "nginx did not close the idle kept connection" no_established "${E2E_PORT[good]}"
	body=$(get vp /good/d)
	[[ $body == "good conn="* ]] || fail "after nginx closed the kept connection: $body"
	wait_until 5 "the request's access log line" grep -q '"target":"/good/d"' "$E2E_TMP/vp.log"
	grep '"target":"/good/d"' "$E2E_TMP/vp.log" | grep -q '"attempts":1,' ||
		fail "the closed kept connection was taken: $(grep '"target":"/good/d"' "$E2E_TMP/vp.log")"
	stop_server vp
}

verified_by_address() {
	local body
	start_nginx
	gateway va "$(upstream good "${E2E_PORT[good]}" '{ "ca": "certs/ca.pem" }')" "$(route good)"
	body=$(get va /good/a)
	[[ $body == "good conn="*" sni= alpn=http/1.1 reused=. verify=NONE client=" ]] || fail "nginx saw: $body"
	stop_server va
}

# expect_502 NAME PATH REASON: a 502 whose JSON body's error says REASON.
expect_502() {
	local out
	out=$(curl -s --noproxy '*' --max-time 10 -w '\n%{http_code}' "http://127.0.0.1:${E2E_PORT[$1]}$2")
	[ "$(tail -n 1 <<<"$out")" = 502 ] || fail "$2: expected 502, got: $out"
	python3 -c 'import json, sys; body = json.loads(sys.argv[1]); assert sys.argv[2] in json.dumps(body), body' \
		"$(head -n -1 <<<"$out")" "$3" || fail "$2: the body does not say '$3': $out"
}

verification_failures() {
	start_nginx
	gateway vf "$(upstream wrongname "${E2E_PORT[good]}" '{ "server_name": "other.test", "ca": "certs/ca.pem" }'),
	  $(upstream untrusted "${E2E_PORT[rogue]}" '{ "server_name": "up.test", "ca": "certs/ca.pem" }'),
	  $(upstream system "${E2E_PORT[good]}" '{ "server_name": "up.test" }'),
	  $(upstream plain "${E2E_PORT[plain]}" '{ "ca": "certs/ca.pem" }'),
	  $(upstream noverify "${E2E_PORT[rogue]}" '{ "verify": false }')" \
		"$(route wrongname), $(route untrusted), $(route system), $(route plain), $(route noverify)"
	expect_502 vf /wrongname/ "its certificate does not name it"
	expect_502 vf /untrusted/ "its certificate is not signed by a trusted CA"
	expect_502 vf /system/ "its certificate is not signed by a trusted CA"
	expect_502 vf /plain/ "TLS to the upstream: the handshake failed"
	[[ $(get vf /noverify/) == "rogue conn="* ]] || fail "verify false did not reach the rogue server"
	# The gateway still serves, and the failures left nothing behind.
	expect_502 vf /wrongname/ "its certificate does not name it"
	stop_server vf
}

healthy_line() { grep -q "upstream checked endpoint 127.0.0.1:${E2E_PORT[rogue]} is now unhealthy" "$E2E_TMP/hc.err"; }

health_checks_over_tls() {
	local body
	start_nginx
	cat >"$E2E_TMP/hc.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "upstreams": { "checked": {
    "endpoints": [ "127.0.0.1:${E2E_PORT[good]}", "127.0.0.1:${E2E_PORT[rogue]}" ],
    "tls": $GOOD_TLS,
    "health_check": { "path": "/health", "interval_ms": 50, "timeout_ms": 1000, "unhealthy_threshold": 2 } } },
  "routes": [ $(route checked) ]
}
JSON
	start_server hc "$VKGW" -c "$E2E_TMP/hc.json"
	wait_until 10 "the endpoint with the untrusted certificate was not marked unhealthy" healthy_line
	for i in $(seq 1 10); do
		get hc /checked/x
	done >"$E2E_TMP/checked"
	[ "$(grep -c '^good ' "$E2E_TMP/checked")" -eq 10 ] || fail "requests did not all go to the healthy endpoint: $(cat "$E2E_TMP/checked")"
	! grep -q "endpoint 127.0.0.1:${E2E_PORT[good]} is now unhealthy" "$E2E_TMP/hc.err" ||
		fail "the endpoint that verifies was marked unhealthy: probes do not speak TLS"
	stop_server hc
}

BULK_BYTES=$((256 * 1024 * 1024))

bulk_both_ways() {
	local plain tls
	start_server bulk_up "$UPSTREAM" -p 0 -k 1
	cat >"$E2E_TMP/back.json" <<JSON
{
  "listeners": [ { "name": "back", "address": "127.0.0.1", "port": 0, "kernels": 1,
    "tls": { "certificates": [ { "cert": "certs/up.pem", "key": "certs/up.key" } ] } } ],
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[bulk_up]}" ] } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
	start_server back "$VKGW" -c "$E2E_TMP/back.json"
	cat >"$E2E_TMP/front.json" <<JSON
{
  "listeners": [ { "name": "front", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[back]}" ],
    "tls": { "server_name": "up.test", "ca": "certs/ca.pem" } } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
	start_server front "$VKGW" -c "$E2E_TMP/front.json"
	plain=$(curl -s --noproxy '*' --max-time 60 "http://127.0.0.1:${E2E_PORT[bulk_up]}/bytes/$BULK_BYTES" | cksum)
	tls=$(curl -s --noproxy '*' --max-time 60 "http://127.0.0.1:${E2E_PORT[front]}/bytes/$BULK_BYTES" | cksum)
	[ "$tls" = "$plain" ] || fail "download through upstream TLS: cksum $tls, plain $plain"
	head -c "$BULK_BYTES" /dev/urandom >"$E2E_TMP/upload"
	plain=$(cksum <"$E2E_TMP/upload")
	tls=$(curl -s --noproxy '*' --max-time 60 -T "$E2E_TMP/upload" "http://127.0.0.1:${E2E_PORT[front]}/cksum")
	rm -f "$E2E_TMP/upload"
	[ "$tls" = "$plain" ] || fail "upload through upstream TLS: the upstream's cksum '$tls', the file's '$plain'"
	stop_server front
	stop_server back
}

config_errors() {
	local out rc=0
	cat >"$E2E_TMP/bad.json" <<'JSON'
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0 } ],
  "upstreams": {
    "a": { "endpoints": [ "127.0.0.1:1" ], "tls": { "ca": "certs/missing.pem" } },
    "b": { "endpoints": [ "127.0.0.1:1" ], "tls": { "cert": "certs/gateway.pem" } },
    "c": { "endpoints": [ "127.0.0.1:1" ], "tls": { "server_name": "*.up.test" } }
  },
  "routes": [ { "name": "r", "action": { "proxy": { "upstream": "a" } } } ]
}
JSON
	out=$("$VKGW" --check -c "$E2E_TMP/bad.json" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "--check accepted a bad upstream TLS config"
	grep -q "^$E2E_TMP/bad.json:4:59: /upstreams/a/tls/ca: cannot load PEM CA certificates from $E2E_TMP/certs/missing.pem: No such file or directory$" <<<"$out" ||
		fail "no positioned missing-CA error in: $out"
	grep -q "^$E2E_TMP/bad.json:5:.*: /upstreams/b/tls/key: a client certificate needs both \"cert\" and \"key\"$" <<<"$out" ||
		fail "no positioned missing-key error in: $out"
	grep -q "^$E2E_TMP/bad.json:6:.*: /upstreams/c/tls/server_name: must be a DNS name" <<<"$out" ||
		fail "no positioned server_name error in: $out"
}

run_case "the name and CA verify; SNI, ALPN and the client certificate reach nginx; kept and resumed" verified_and_pooled
run_case "an endpoint given by address is verified against the certificate's IP name" verified_by_address
run_case "wrong name, untrusted CA, system store and plain HTTP give a 502 that says why" verification_failures
run_case "health checks speak TLS and verify" health_checks_over_tls
run_case "256 MiB each way through TLS to the upstream, checksums equal" bulk_both_ways
run_case "--check names the file, line, column and pointer of upstream TLS problems" config_errors
finish
