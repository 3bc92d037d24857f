#!/usr/bin/env bash
# vkgw end to end: TLS termination on a listener (BoringSSL), against curl
# and openssl s_client. The certificates are made here by openssl, for
# this run only.
#
#   serves_https          a request through TLS reaches the upstream, which
#                         sees X-Forwarded-Proto: https; keep-alive works;
#                         the access log gives version, cipher and SNI
#   sni_chooses           the certificate for the name asked: exact, then
#                         "*.suffix" (one label), then the default; ECDSA
#                         when the client can verify it, RSA otherwise
#   no_default_alerts     without a default, a name nothing serves gets an
#                         alert, and a served name still works
#   alpn_and_versions     ALPN: http/1.1 chosen from a list; only h2 gets
#                         no_application_protocol; TLS 1.1 refused; a
#                         "min_version": "1.3" listener refuses TLS 1.2
#   bad_input             garbage instead of a ClientHello, a ClientHello
#                         cut short and a client that stalls mid-handshake
#                         end their connections (the stall after
#                         handshake_ms) while another client is served by
#                         the same single kernel
#   resumption_across_kernels  a session from one connection resumes on 16
#                         more, spread by SO_REUSEPORT over two kernels,
#                         in TLS 1.3 and 1.2; the access log says resumed;
#                         /stats counts handshakes completed and failed
#   mtls_required         client certificates required: one of the CA goes
#                         upstream as x-forwarded-client-cert (hash,
#                         subject, names); none gets certificate_required,
#                         another CA's unknown_ca; a made-up header is
#                         replaced
#   routes_on_client_certificate  routes by the certificate's URI name,
#                         SHA-256 (given in upper case), subject, or none
#   mtls_optional         optional: no certificate is served, without the
#                         header even when the client sends one
#   cert_reload_under_load  new certificate files and SIGHUP: new handshakes
#                         get them while kept connections (wrk) and new
#                         ones (curl) all succeed; a broken file is named
#                         in the log and the certificate in use stays
#   files_change_*        no signal: the files change (Kubernetes' ..data
#                         symlink swap, then files rewritten in place) and
#                         new handshakes get them, with one kernel and
#                         with two; a broken file is named, and kept out
#   failures_counted_by_reason  plain HTTP, TLS 1.1, ALPN h2 only, no
#                         client certificate, another CA's, a client that
#                         distrusts ours, a silent client and one gone
#                         mid-handshake: each counted once under its
#                         reason in /stats and /metrics
#   bulk_both_ways        1 GiB down and 1 GiB up through TLS, their
#                         checksums equal to the plain path's
#   config_errors         a missing file, a key that is not the
#                         certificate's, a bad server name: --check names
#                         file, line, column and JSON pointer
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"
command -v openssl >/dev/null || fail "openssl is not installed"
command -v curl >/dev/null || fail "curl is not installed"

CERTS="$E2E_TMP/certs"
BULK_BYTES=$((1024 * 1024 * 1024))

# make_cert NAME CN KEYTYPE [SAN]: NAME.pem and NAME.key, self-signed.
make_cert() {
	local name=$1 cn=$2 keytype=$3 san=${4:-}
	local args=(-x509 -nodes -days 2 -subj "/CN=$cn" -keyout "$CERTS/$name.key" -out "$CERTS/$name.pem")
	if [ "$keytype" = rsa ]; then
		args+=(-newkey rsa:2048)
	else
		args+=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
	fi
	[ -z "$san" ] || args+=(-addext "subjectAltName=$san")
	openssl req "${args[@]}" 2>/dev/null || fail "openssl could not make the $name certificate"
}

mkdir -p "$CERTS"
make_cert rsa api.test rsa "DNS:api.test,DNS:*.wild.test"
make_cert ec api.test ec "DNS:api.test"
make_cert def default.test ec
make_cert other other.test rsa

# sign NAME CA SUBJECT SAN: a client certificate NAME.pem signed by CA.
sign() { tls_sign "$CERTS" "$@"; }
make_cert ca "Test CA" ec
make_cert rogue_ca "Rogue CA" ec
sign client ca "/O=Example/CN=client one" "DNS:client.test,URI:spiffe://test/client"
sign rogue rogue_ca "/CN=rogue" "DNS:rogue.test"

# write_config FILE UPSTREAM_PORT TLS_JSON [TIMEOUTS_JSON]
write_config() {
	local timeouts=${4:-}
	[ -n "$timeouts" ] || timeouts='{ "handshake_ms": 2000 }'
	cat >"$1" <<JSON
{
  "listeners": [ { "name": "tls", "address": "127.0.0.1", "port": 0, "kernels": 1, "tls": $3 } ],
  "timeouts": $timeouts,
  "access_log": { "path": "${1%.json}.log" },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:$2" ] } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
}

FULL_TLS='{ "certificates": [
    { "cert": "certs/rsa.pem", "key": "certs/rsa.key", "server_names": ["api.test", "*.wild.test"] },
    { "cert": "certs/ec.pem", "key": "certs/ec.key", "server_names": ["API.test"] },
    { "cert": "certs/def.pem", "key": "certs/def.key" } ] }'

# start_tls NAME TLS_JSON [TIMEOUTS_JSON]: an upstream NAME_up and the
# gateway NAME in front of it.
start_tls() {
	local name=$1
	start_server "${name}_up" "$UPSTREAM" -p 0 -k 1
	write_config "$E2E_TMP/$name.json" "${E2E_PORT[${name}_up]}" "$2" "${3:-}"
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -k 1
}

# https NAME SNI PATH [CURL_ARGS...]: curl through the gateway NAME with
# SNI, trusting the given certificate (--cacert in CURL_ARGS).
https() {
	local port=${E2E_PORT[$1]} sni=$2 path=$3
	shift 3
	curl -s --noproxy '*' --max-time 10 --resolve "$sni:$port:127.0.0.1" "$@" "https://$sni:$port$path"
}

# s_client NAME ARGS...: what openssl s_client says of one handshake.
s_client() {
	local port=${E2E_PORT[$1]}
	shift
	timeout 10 openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null 2>&1 || true
}

# s_client_request NAME ARGS...: one handshake and a request, reading
# until the server closes (an alert after the client's handshake ended
# is seen then).
s_client_request() {
	local port=${E2E_PORT[$1]}
	shift
	printf 'GET /whoami HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n' |
		timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername api.test -ign_eof "$@" 2>&1 || true
}

# served NAME ARGS...: "CN bits" of the certificate the handshake got.
served() {
	local out
	out=$(s_client "$@")
	printf '%s %s\n' "$(sed -n 's/^subject=CN *= *//p' <<<"$out" | head -1)" \
		"$(sed -n 's/^Server public key is \([0-9]*\) bit$/\1/p' <<<"$out" | head -1)"
}

serves_https() {
	local body out
	start_tls sh "$FULL_TLS"
	body=$(https sh api.test /echo --cacert "$CERTS/ec.pem") || fail "curl over TLS failed"
	grep -q '^GET /echo HTTP/1.1' <<<"$body" || fail "the request did not reach the upstream: $body"
	grep -qi '^X-Forwarded-Proto: https' <<<"$body" || fail "no X-Forwarded-Proto: https: $body"
	# Two requests on one TLS connection.
	out=$(https sh api.test /whoami --cacert "$CERTS/ec.pem" -o /dev/null -w '%{num_connects} %{http_code}\n' \
		--next --resolve "api.test:${E2E_PORT[sh]}:127.0.0.1" --cacert "$CERTS/ec.pem" -o /dev/null \
		-w '%{num_connects} %{http_code}\n' "https://api.test:${E2E_PORT[sh]}/whoami" | tr '\n' ' ')
	[ "$out" = "1 200 0 200 " ] || fail "the second request did not reuse the TLS connection: $out"
	https sh x.wild.test /whoami --cacert "$CERTS/rsa.pem" -o /dev/null --tls-max 1.2 || fail "TLS 1.2 request failed"
	stop_server sh
	# The access log: what each request's connection negotiated.
	python3 - "$E2E_TMP/sh.log" <<'PY' || fail "access log: $(cat "$E2E_TMP/sh.log")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 4, lines
for l in lines[:3]:
    assert l["tls"]["version"] == "TLSv1.3" and l["tls"]["sni"] == "api.test", l
    assert l["tls"]["cipher"].startswith("TLS_") and l["tls"]["resumed"] is False, l
last = lines[3]["tls"]
assert last["version"] == "TLSv1.2" and last["sni"] == "x.wild.test", last
assert last["cipher"] == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", last
PY
}

sni_chooses() {
	local got
	start_tls sc "$FULL_TLS"
	got=$(served sc -servername api.test)
	[ "$got" = "api.test 256" ] || fail "api.test, a client that verifies ECDSA: got '$got'"
	got=$(served sc -servername API.Test -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)
	[ "$got" = "api.test 2048" ] || fail "api.test, a TLS 1.2 client with RSA suites only: got '$got'"
	got=$(served sc -servername api.test -sigalgs RSA-PSS+SHA256)
	[ "$got" = "api.test 2048" ] || fail "api.test, a TLS 1.3 client verifying RSA only: got '$got'"
	got=$(served sc -servername x.wild.test)
	[ "$got" = "api.test 2048" ] || fail "x.wild.test (wildcard): got '$got'"
	got=$(served sc -servername y.x.wild.test)
	[ "$got" = "default.test 256" ] || fail "y.x.wild.test (two labels: not the wildcard): got '$got'"
	got=$(served sc -servername unknown.test)
	[ "$got" = "default.test 256" ] || fail "unknown.test: got '$got'"
	got=$(served sc -noservername)
	[ "$got" = "default.test 256" ] || fail "no SNI: got '$got'"
	stop_server sc
}

no_default_alerts() {
	local out
	start_tls nd '{ "certificates": [ { "cert": "certs/other.pem", "key": "certs/other.key", "server_names": ["other.test"] } ] }'
	out=$(s_client nd -servername unknown.test)
	grep -q 'alert' <<<"$out" || fail "no alert for a name nothing serves: $out"
	! grep -q '^subject=' <<<"$out" || fail "a certificate was served for a name nothing serves: $out"
	out=$(https nd other.test /whoami --cacert "$CERTS/other.pem") || fail "other.test not served"
	[ "$out" = "${E2E_PORT[nd_up]}" ] || fail "other.test: unexpected answer $out"
	stop_server nd
}

alpn_and_versions() {
	local out
	start_tls av "$FULL_TLS"
	out=$(s_client av -servername api.test -alpn h2,http/1.1)
	grep -q '^ALPN protocol: http/1.1' <<<"$out" || fail "http/1.1 not chosen from h2,http/1.1: $out"
	out=$(s_client av -servername api.test -alpn h2)
	grep -q 'alert no application protocol' <<<"$out" || fail "no no_application_protocol alert for h2 alone: $out"
	out=$(s_client av -servername api.test -tls1_1)
	grep -q 'alert protocol version' <<<"$out" || fail "TLS 1.1 not refused: $out"
	stop_server av
	start_tls v13 '{ "min_version": "1.3", "certificates": [ { "cert": "certs/def.pem", "key": "certs/def.key" } ] }'
	out=$(s_client v13 -tls1_2)
	grep -q 'alert protocol version' <<<"$out" || fail "TLS 1.2 not refused by a 1.3 listener: $out"
	out=$(s_client v13 -tls1_3)
	grep -q 'TLSv1.3' <<<"$out" || fail "TLS 1.3 not served: $out"
	stop_server v13
}

# The first bytes of a TLS 1.2 ClientHello record, cut short.
HALF_HELLO='\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03'

bad_input() {
	local port fd_garbage fd_half fd_stall t0 elapsed
	start_tls bi "$FULL_TLS" '{ "handshake_ms": 800 }'
	port=${E2E_PORT[bi]}
	# Garbage: closed at once (with or without an alert).
	tcp_open fd_garbage "$port"
	printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd_garbage"
	tcp_read_to_close "$fd_garbage" 5 >/dev/null || fail "a plain-HTTP request on the TLS port was not closed within 5 s"
	tcp_close "$fd_garbage"
	# A ClientHello cut short, and a client that sends nothing: both wait
	# for bytes that never come, until handshake_ms.
	tcp_open fd_half "$port"
	printf "$HALF_HELLO" >&"$fd_half"
	tcp_open fd_stall "$port"
	t0=$(now_ms)
	# Meanwhile the same kernel serves another client.
	https bi api.test /whoami --cacert "$CERTS/ec.pem" >/dev/null || fail "a client was not served while two stalled"
	tcp_read_to_close "$fd_half" 5 >/dev/null || fail "a cut-short ClientHello held its connection past 5 s"
	tcp_read_to_close "$fd_stall" 5 >/dev/null || fail "a silent client held its connection past 5 s"
	elapsed=$(($(now_ms) - t0))
	[ "$elapsed" -ge 700 ] || fail "stalled handshakes closed after $elapsed ms, before handshake_ms (800)"
	tcp_close "$fd_half"
	tcp_close "$fd_stall"
	# A client gone mid-handshake, after its ClientHello: no harm done.
	timeout 5 bash -c "printf '$HALF_HELLO' > /dev/tcp/127.0.0.1/$port" || true
	https bi api.test /whoami --cacert "$CERTS/ec.pem" >/dev/null || fail "not served after the bad input"
	stop_server bi
}

bulk_both_ways() {
	local plain tls up_port
	start_tls bw "$FULL_TLS"
	up_port=${E2E_PORT[bw_up]}
	plain=$(curl -s --noproxy '*' --max-time 60 "http://127.0.0.1:$up_port/bytes/$BULK_BYTES" | cksum)
	tls=$(https bw api.test "/bytes/$BULK_BYTES" --cacert "$CERTS/ec.pem" --max-time 60 | cksum)
	[ "$tls" = "$plain" ] || fail "download through TLS: cksum $tls, plain $plain"
	head -c "$BULK_BYTES" /dev/urandom >"$E2E_TMP/upload"
	plain=$(cksum <"$E2E_TMP/upload")
	tls=$(https bw api.test /cksum --cacert "$CERTS/ec.pem" --max-time 60 -T "$E2E_TMP/upload")
	rm -f "$E2E_TMP/upload"
	[ "$tls" = "$plain" ] || fail "upload through TLS: the upstream's cksum '$tls', the file's '$plain'"
	stop_server bw
}

config_errors() {
	local out rc=0
	write_config "$E2E_TMP/bad.json" 1 '{ "certificates": [
    { "cert": "certs/missing.pem", "key": "certs/rsa.key" },
    { "cert": "certs/rsa.pem", "key": "certs/ec.key", "server_names": ["bad name"] } ] }'
	out=$("$VKGW" --check -c "$E2E_TMP/bad.json" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "--check accepted a bad TLS config"
	grep -q "^$E2E_TMP/bad.json:4:72: /listeners/0/tls/certificates/1/server_names/0: must be a DNS name" <<<"$out" ||
		fail "no positioned server-name error in: $out"
	write_config "$E2E_TMP/bad.json" 1 '{ "certificates": [
    { "cert": "certs/missing.pem", "key": "certs/rsa.key" },
    { "cert": "certs/rsa.pem", "key": "certs/ec.key" } ] }'
	rc=0
	out=$("$VKGW" --check -c "$E2E_TMP/bad.json" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "--check accepted a missing certificate file"
	grep -q "^$E2E_TMP/bad.json:3:15: /listeners/0/tls/certificates/0/cert: cannot load a PEM certificate chain from $E2E_TMP/certs/missing.pem: No such file or directory$" <<<"$out" ||
		fail "no positioned missing-file error in: $out"
	grep -q "^$E2E_TMP/bad.json:4:39: /listeners/0/tls/certificates/1/key: cannot load a PEM private key from $E2E_TMP/certs/ec.key: the key is not the certificate's$" <<<"$out" ||
		fail "no positioned key-mismatch error in: $out"
}

# resumes NAME VERSION SESSION_FILE COUNT: COUNT connections resuming the
# session in SESSION_FILE, each asking for /whoami; prints how many the
# server resumed.
resumes() {
	local name=$1 version=$2 session=$3 count=$4 resumed=0 out
	shift 4
	for ((i = 0; i < count; i++)); do
		out=$(printf 'GET /whoami HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n' |
			timeout 10 openssl s_client -connect "127.0.0.1:${E2E_PORT[$name]}" -servername api.test \
				"$version" -sess_in "$session" -ign_eof "$@" 2>&1) || true
		if grep -q '^Reused, ' <<<"$out"; then
			resumed=$((resumed + 1))
		fi
	done
	echo "$resumed"
}

resumption_across_kernels() {
	local session=$E2E_TMP/session.pem out n admin
	start_server rk_up "$UPSTREAM" -p 0 -k 1
	cat >"$E2E_TMP/rk.json" <<JSON
{
  "listeners": [ { "name": "tls", "address": "127.0.0.1", "port": 0, "kernels": 2, "tls": $FULL_TLS } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "access_log": { "path": "$E2E_TMP/rk.log" },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[rk_up]}" ] } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app" } } } ]
}
JSON
	start_server rk "$VKGW" -c "$E2E_TMP/rk.json"
	wait_until 5 "rk: admin 'listening on' line" admin_listening rk
	admin=$(admin_port rk)
	for version in -tls1_3 -tls1_2; do
		rm -f "$session"
		# The first connection gets a ticket (TLS 1.3: after the
		# handshake, so it reads the response before it stops).
		printf 'GET /whoami HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n' |
			timeout 10 openssl s_client -connect "127.0.0.1:${E2E_PORT[rk]}" -servername api.test "$version" \
				-sess_out "$session" -ign_eof >/dev/null 2>&1 || true
		[ -s "$session" ] || fail "$version: no session was saved"
		n=$(resumes rk "$version" "$session" 16)
		[ "$n" = 16 ] || fail "$version: $n of 16 connections resumed a session from the other kernel or this one"
	done
	# Both kernels served resumed connections.
	out=$(admin_stat "$admin" '" ".join(str(k["requests"]) for k in d["per_kernel"])')
	read -r k0 k1 <<<"$out"
	[ "$k0" -gt 0 ] && [ "$k1" -gt 0 ] || fail "one kernel served every connection ($out): kernels not both tried"
	# The handshakes are counted: 34 completed so far, none failed; then
	# one refused (plain HTTP on the TLS port).
	out=$(admin_stat "$admin" '(d["total"]["tls"]["handshakes"], d["total"]["tls"]["failures"])')
	[ "$out" = "(34, 0)" ] || fail "TLS handshake counters: $out"
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/${E2E_PORT[rk]}; printf 'GET / HTTP/1.1\r\n\r\n' >&3; cat <&3 >/dev/null" || true
	wait_until 5 "a refused handshake counted" admin_stat_is "$admin" 'd["total"]["tls"]["failures"]' 1
	stop_server rk
	python3 - "$E2E_TMP/rk.log" <<'PY' || fail "access log: $(cat "$E2E_TMP/rk.log")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 34, len(lines)
assert sum(1 for l in lines if l["tls"]["resumed"]) == 32, lines
PY
}

# start_mtls NAME MODE: the full TLS config with client certificates in
# MODE, the route forwarding the certificate as x-forwarded-client-cert.
start_mtls() {
	local name=$1 tls
	tls="${FULL_TLS%\}} , \"client_certificates\": { \"mode\": \"$2\", \"ca\": \"certs/ca.pem\" } }"
	start_server "${name}_up" "$UPSTREAM" -p 0 -k 1
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "tls", "address": "127.0.0.1", "port": 0, "kernels": 1, "tls": $tls } ],${3:-}
  "access_log": { "path": "$E2E_TMP/$name.log" },
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:${E2E_PORT[${name}_up]}" ] } },
  "routes": [ { "name": "app", "action": { "proxy": { "upstream": "app", "forward_client_cert": "X-Forwarded-Client-Cert" } } } ]
}
JSON
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -k 1
}

CLIENT=(--cert "$CERTS/client.pem" --key "$CERTS/client.key")
SPOOF=(-H 'X-Forwarded-Client-Cert: Hash=spoofed;Subject="CN=admin"')

mtls_required() {
	local body sha out rc
	start_mtls mr required
	sha=$(openssl x509 -in "$CERTS/client.pem" -outform DER | sha256sum | cut -d' ' -f1)
	body=$(https mr api.test /echo --cacert "$CERTS/ec.pem" "${CLIENT[@]}" "${SPOOF[@]}") ||
		fail "a client with a certificate of the CA was refused"
	grep -qix "x-forwarded-client-cert: Hash=$sha;Subject=\"CN=client one,O=Example\";DNS=client.test;URI=spiffe://test/client"$'\r' <<<"$body" ||
		fail "the upstream did not get the verified certificate (sha256 $sha): $body"
	[ "$(grep -ci '^x-forwarded-client-cert:' <<<"$body")" = 1 ] || fail "the client's own header passed too: $body"
	rc=0
	https mr api.test /echo --cacert "$CERTS/ec.pem" >/dev/null || rc=$?
	[ "$rc" != 0 ] || fail "a client without a certificate was served"
	# TLS 1.3: the client's handshake is over before the server reads its
	# certificate, and its request is on the way when the alert goes (the
	# server drains it before closing: a close with input unread is a
	# reset, which may overtake the alert). Five tries each, all alerted;
	# the race this guards against did not show in tries without the
	# drain either, so the tries check the alerts, not the drain.
	for ((i = 0; i < 5; i++)); do
		for version in -tls1_3 -tls1_2; do
			out=$(s_client_request mr "$version")
			grep -q 'alert certificate required\|alert handshake failure' <<<"$out" ||
				fail "$version: no alert for no certificate: $out"
			out=$(s_client_request mr "$version" -cert "$CERTS/rogue.pem" -key "$CERTS/rogue.key")
			grep -q 'alert unknown ca' <<<"$out" || fail "$version: no unknown_ca alert for another CA's certificate: $out"
			! grep -q '^HTTP/1.1' <<<"$out" || fail "$version: answered a stranger's certificate: $out"
		done
	done
	stop_server mr
	[ "$(wc -l <"$E2E_TMP/mr.log")" = 1 ] || fail "requests logged: $(cat "$E2E_TMP/mr.log")"
}

# What BoringSSL allocates for a listener connection is in the
# connection's own memory (gateway/gw_tls_stream.c, "Memory"), and all of
# it comes back when the SSL is freed: /stats counts a connection whose
# memory still held blocks then (BoringSSL keeping something of it in a
# shared object: a session in its own cache, a value computed on first
# use) and allocations refused for want of room. Full and resumed
# handshakes, TLS 1.2 session IDs (the kernel's cache) and tickets,
# client certificates verified and refused, RSA (past the point where its
# key's shared state changes) and ECDSA.
memory_comes_back() {
	local admin session=$E2E_TMP/mm.session n
	start_mtls mm optional '
  "admin": { "address": "127.0.0.1", "port": 0 },'
	wait_until 5 "mm: admin 'listening on' line" admin_listening mm
	admin=$(admin_port mm)
	s_client_request mm -tls1_2 -no_ticket -sess_out "$session" >/dev/null
	[ -s "$session" ] || fail "TLS 1.2 without a ticket: no session was saved"
	n=$(resumes mm -tls1_2 "$session" 8 -no_ticket)
	[ "$n" = 8 ] || fail "TLS 1.2 session IDs: $n of 8 connections resumed from the kernel's cache"
	for version in 1.2 1.3; do
		https mm api.test /whoami --cacert "$CERTS/ec.pem" "${CLIENT[@]}" --tls-max "$version" -o /dev/null ||
			fail "TLS $version: the request with a client certificate failed"
		https mm api.test /whoami --cacert "$CERTS/ec.pem" --tls-max "$version" -o /dev/null ||
			fail "TLS $version: the request without a client certificate failed"
	done
	grep -q '^HTTP/1.1 200' <<<"$(s_client_request mm -tls1_3 -sigalgs RSA-PSS+SHA256 -cert "$CERTS/client.pem" \
		-key "$CERTS/client.key")" || fail "an RSA handshake with a client certificate was not answered"
	# An RSA key's blinding values are made anew every 32 signatures.
	for ((i = 0; i < 40; i++)); do
		s_client mm -servername api.test -sigalgs RSA-PSS+SHA256 >/dev/null
	done
	s_client_request mm -tls1_3 -cert "$CERTS/rogue.pem" -key "$CERTS/rogue.key" >/dev/null
	wait_until 5 "54 handshakes counted" admin_stat_is "$admin" 'd["total"]["tls"]["handshakes"]' 54
	wait_until 5 "the TLS connections closed" admin_stat_is "$admin" 'd["total"]["tls"]["connections"]' 0
	admin_stat_is "$admin" 'd["total"]["tls"]["memory"]' "{'refused': 0, 'leftover': 0}" ||
		fail "TLS memory: $(admin_stat "$admin" 'd["total"]["tls"]["memory"]')"
	stop_server mm
}

mtls_optional() {
	local body
	start_mtls mo optional
	body=$(https mo api.test /echo --cacert "$CERTS/ec.pem" "${SPOOF[@]}") || fail "a client without a certificate was refused"
	! grep -qi '^x-forwarded-client-cert:' <<<"$body" || fail "a header the client made up passed: $body"
	body=$(https mo api.test /echo --cacert "$CERTS/ec.pem" "${CLIENT[@]}") || fail "a client with a certificate was refused"
	grep -qi '^x-forwarded-client-cert: Hash=[0-9a-f]\{64\};Subject="CN=client one,O=Example"' <<<"$body" ||
		fail "no certificate forwarded: $body"
	rc=0
	https mo api.test /echo --cacert "$CERTS/ec.pem" --cert "$CERTS/rogue.pem" --key "$CERTS/rogue.key" >/dev/null || rc=$?
	[ "$rc" != 0 ] || fail "optional: a certificate of another CA was accepted"
	stop_server mo
}

# Routes chosen by the client's certificate: its URI name, its digest,
# its subject, none; a certificate without the first route's name falls
# through it to the ones it matches.
routes_on_client_certificate() {
	local tls sha
	sign client2 ca "/CN=client two" "URI:spiffe://test/other"
	sha=$(openssl x509 -in "$CERTS/client2.pem" -outform DER | sha256sum | cut -d' ' -f1 | tr a-f A-F)
	tls="${FULL_TLS%\}} , \"client_certificates\": { \"mode\": \"optional\", \"ca\": \"certs/ca.pem\" } }"
	cat >"$E2E_TMP/rc.json" <<JSON
{
  "listeners": [ { "name": "tls", "address": "127.0.0.1", "port": 0, "kernels": 1, "tls": $tls } ],
  "routes": [
    { "name": "spiffe", "match": { "client_certificate": { "name": "URI:spiffe://test/client" } },
      "action": { "respond": { "status": 200, "body": "spiffe" } } },
    { "name": "digest", "match": { "path": { "prefix": "/d" }, "client_certificate": { "sha256": "$sha" } },
      "action": { "respond": { "status": 200, "body": "digest" } } },
    { "name": "subject", "match": { "client_certificate": { "subject": "CN=client two" } },
      "action": { "respond": { "status": 200, "body": "subject" } } },
    { "name": "none", "match": { "client_certificate": { "present": false } },
      "action": { "respond": { "status": 200, "body": "none" } } }
  ]
}
JSON
	start_server rc "$VKGW" -c "$E2E_TMP/rc.json" -k 1
	[ "$(https rc api.test /a --cacert "$CERTS/ec.pem" "${CLIENT[@]}")" = spiffe ] || fail "the URI name did not route"
	[ "$(https rc api.test /d --cacert "$CERTS/ec.pem" --cert "$CERTS/client2.pem" --key "$CERTS/client2.key")" = digest ] ||
		fail "the digest did not route"
	[ "$(https rc api.test /a --cacert "$CERTS/ec.pem" --cert "$CERTS/client2.pem" --key "$CERTS/client2.key")" = subject ] ||
		fail "the subject did not route"
	[ "$(https rc api.test /a --cacert "$CERTS/ec.pem" "${SPOOF[@]}")" = none ] || fail "no certificate did not route to none"
	stop_server rc
}

# failures_are PORT REASON N: /stats counts N failed handshakes for REASON.
failures_are() {
	admin_stat_is "$1" "d['total']['tls']['failures_by_reason']['$2']" "$3"
}

# Each kind of failed handshake, once, counted under its reason in /stats
# and /metrics; nothing else is counted.
failures_counted_by_reason() {
	local admin tls fd
	tls="${FULL_TLS%\}} , \"client_certificates\": { \"mode\": \"required\", \"ca\": \"certs/ca.pem\" } }"
	cat >"$E2E_TMP/fr.json" <<JSON
{
  "listeners": [ { "name": "tls", "address": "127.0.0.1", "port": 0, "kernels": 1, "tls": $tls } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "timeouts": { "handshake_ms": 500 },
  "routes": [ { "name": "r", "action": { "respond": { "status": 200 } } } ]
}
JSON
	start_server fr "$VKGW" -c "$E2E_TMP/fr.json" -k 1
	wait_until 5 "the admin listener" admin_listening fr
	admin=$(admin_port fr)
	tcp_open fd "${E2E_PORT[fr]}"
	printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd"
	tcp_read_to_close "$fd" 5 >/dev/null || true
	tcp_close "$fd"
	wait_until 5 "plain HTTP counted as not_tls" failures_are "$admin" not_tls 1
	s_client fr -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' >/dev/null
	wait_until 5 "TLS 1.1 counted as version" failures_are "$admin" version 1
	s_client fr -alpn h2 >/dev/null
	wait_until 5 "ALPN h2 counted as alpn" failures_are "$admin" alpn 1
	s_client_request fr -tls1_3 >/dev/null
	wait_until 5 "no client certificate counted" failures_are "$admin" no_client_certificate 1
	s_client_request fr -tls1_3 -cert "$CERTS/rogue.pem" -key "$CERTS/rogue.key" >/dev/null
	wait_until 5 "another CA's certificate counted" failures_are "$admin" bad_client_certificate 1
	# A client that does not trust the gateway's certificate says so. In
	# TLS 1.2 its alert comes in the clear; in TLS 1.3 BoringSSL reports
	# OpenSSL's encrypted alert as DECRYPTION_FAILED_OR_BAD_RECORD_MAC
	# (seen here), which counts as a protocol error.
	s_client fr -tls1_2 -servername api.test -verify_return_error -CAfile "$CERTS/other.pem" >/dev/null
	wait_until 5 "the client's alert counted" failures_are "$admin" client_alert 1
	tcp_open fd "${E2E_PORT[fr]}"
	tcp_read_to_close "$fd" 5 >/dev/null || true
	tcp_close "$fd"
	wait_until 5 "a silent client counted as timeout" failures_are "$admin" timeout 1
	timeout 5 bash -c "printf '$HALF_HELLO' > /dev/tcp/127.0.0.1/${E2E_PORT[fr]}" || true
	wait_until 5 "a client gone mid-handshake counted as closed" failures_are "$admin" closed 1
	admin_stat_is "$admin" "d['total']['tls']['failures']" 8 ||
		fail "other failures were counted: $(admin_stat "$admin" "d['total']['tls']")"
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$admin/metrics" >"$E2E_TMP/fr.metrics"
	grep -qx 'vkgw_tls_handshake_failures_total{kernel="0",reason="not_tls"} 1' "$E2E_TMP/fr.metrics" ||
		fail "no not_tls series in /metrics: $(grep tls_handshake "$E2E_TMP/fr.metrics")"
	grep -qx 'vkgw_tls_handshake_failures_total{kernel="0",reason="protocol"} 0' "$E2E_TMP/fr.metrics" ||
		fail "no protocol series at 0 in /metrics: $(grep tls_handshake "$E2E_TMP/fr.metrics")"
	stop_server fr
}

# A client that opens a new TLS connection for each request until the
# file STOP exists (at most 2000 requests), writing each status code to
# CODES: new handshakes all through a reload.
handshake_loop() {
	local port=$1 codes=$2 stop=$3
	for ((i = 0; i < 2000; i++)); do
		[ ! -e "$stop" ] || break
		curl -sk --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}\n' "https://127.0.0.1:$port/whoami" \
			>>"$codes" || echo "curl-failed" >>"$codes"
	done
}

cn_served() { [ "$(served "$1" | cut -d' ' -f1)" = "$2" ]; }

cert_reload_under_load() {
	local port codes=$E2E_TMP/codes stop=$E2E_TMP/stop loop_pid wrk_out=$E2E_TMP/wrk.out wrk_pid
	make_cert old old.test ec
	make_cert new new.test ec
	cp "$CERTS/old.pem" "$CERTS/live.pem"
	cp "$CERTS/old.key" "$CERTS/live.key"
	start_server cr_up "$UPSTREAM" -p 0 -k 1
	write_config "$E2E_TMP/cr.json" "${E2E_PORT[cr_up]}" '{ "certificates": [ { "cert": "certs/live.pem", "key": "certs/live.key" } ] }'
	start_server cr "$VKGW" -c "$E2E_TMP/cr.json" -k 2
	port=${E2E_PORT[cr]}
	cn_served cr old.test || fail "not serving the first certificate: $(served cr)"
	# Kept-alive connections (wrk) and new ones (the loop) all along.
	timeout 30 wrk -t1 -c8 -d6s "https://127.0.0.1:$port/whoami" >"$wrk_out" 2>&1 &
	wrk_pid=$!
	handshake_loop "$port" "$codes" "$stop" &
	loop_pid=$!
	wait_until 5 "the loop's first requests" test -s "$codes"
	# New files, in place: new handshakes get them once the signal is seen.
	cp "$CERTS/new.key" "$CERTS/live.key.tmp" && mv "$CERTS/live.key.tmp" "$CERTS/live.key"
	cp "$CERTS/new.pem" "$CERTS/live.pem.tmp" && mv "$CERTS/live.pem.tmp" "$CERTS/live.pem"
	signal_server cr HUP
	wait_until 5 "the new certificate served after SIGHUP" cn_served cr new.test
	# A broken file: the configuration's check names it in the log (at
	# its place in the file), nothing reloads, the certificate in use stays.
	echo "not a certificate" >"$CERTS/live.pem"
	signal_server cr HUP
	wait_until 5 "the broken file named in the log" \
		grep -q "/tls/certificates/[0-9]*/cert: .*certs/live.pem: no PEM data" "$(server_err_file cr)"
	cn_served cr new.test || fail "the broken file replaced the certificate: $(served cr)"
	wait "$wrk_pid" || fail "wrk failed: $(cat "$wrk_out")"
	touch "$stop"
	wait "$loop_pid"
	grep -q 'requests in' "$wrk_out" || fail "wrk made no requests: $(cat "$wrk_out")"
	! grep -q 'Socket errors\|Non-2xx' "$wrk_out" || fail "kept connections failed during the reload: $(cat "$wrk_out")"
	[ "$(grep -vc '^200$' "$codes")" = 0 ] || fail "new connections failed during the reload: $(sort "$codes" | uniq -c)"
	[ "$(wc -l <"$codes")" -ge 5 ] || fail "too few requests during the reload: $(wc -l <"$codes")"
	stop_server cr
}

# files_change_reload NAME KERNELS: NAME serves certs/NAME/tls.crt, laid
# out as Kubernetes mounts a Secret (tls.crt -> ..data/tls.crt, ..data ->
# a timestamped directory); the files change and no signal is sent.
files_change_reload() {
	local name=$1 kernels=$2 dir="$CERTS/$1"
	make_cert "${name}_a" first.test ec
	make_cert "${name}_b" second.test ec
	make_cert "${name}_c" third.test rsa
	mkdir -p "$dir/..2026_a"
	cp "$CERTS/${name}_a.pem" "$dir/..2026_a/tls.crt"
	cp "$CERTS/${name}_a.key" "$dir/..2026_a/tls.key"
	ln -s ..2026_a "$dir/..data"
	ln -s ..data/tls.crt "$dir/tls.crt"
	ln -s ..data/tls.key "$dir/tls.key"
	start_server "${name}_up" "$UPSTREAM" -p 0 -k 1
	write_config "$E2E_TMP/$name.json" "${E2E_PORT[${name}_up]}" \
		"{ \"certificates\": [ { \"cert\": \"certs/$name/tls.crt\", \"key\": \"certs/$name/tls.key\" } ] }"
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -k "$kernels"
	cn_served "$name" first.test || fail "not serving the first certificate: $(served "$name")"
	# The Secret changes: a new directory, and ..data swapped to it by a
	# rename.
	mkdir "$dir/..2026_b"
	cp "$CERTS/${name}_b.pem" "$dir/..2026_b/tls.crt"
	cp "$CERTS/${name}_b.key" "$dir/..2026_b/tls.key"
	ln -s ..2026_b "$dir/..data_tmp"
	mv -T "$dir/..data_tmp" "$dir/..data"
	wait_until 10 "the certificate of the swapped ..data served" cn_served "$name" second.test
	# Plain files written in place, the key first, then the certificate
	# (changes close together make one reload; a reload between the two
	# would refuse the mismatched pair and keep the old one, and the next
	# would take both).
	rm "$dir/tls.crt" "$dir/tls.key"
	cp "$CERTS/${name}_c.key" "$dir/tls.key"
	cp "$CERTS/${name}_c.pem" "$dir/tls.crt"
	wait_until 10 "the rewritten certificate served" cn_served "$name" third.test
	# A broken file: the configuration's check names it, nothing reloads,
	# the certificate in use stays.
	echo "not a certificate" >"$dir/tls.crt"
	wait_until 10 "the broken file named in the log" \
		grep -q "/tls/certificates/[0-9]*/cert: .*certs/$name/tls.crt: no PEM data" "$(server_err_file "$name")"
	cn_served "$name" third.test || fail "the broken file replaced the certificate: $(served "$name")"
	grep -q "vkgw: certificates: tls.crt changed: reloading" "$(server_err_file "$name")" ||
		fail "no log line for the change:$(server_stderr "$name")"
	stop_server "$name"
}

files_change_one_kernel() { files_change_reload fw1 1; }
files_change_two_kernels() { files_change_reload fw2 2; }

run_case "a request through TLS reaches the upstream, which sees https" serves_https
run_case "a session resumes on either kernel (shared ticket keys), TLS 1.2 and 1.3" resumption_across_kernels
run_case "mTLS required: the verified certificate goes upstream; none or a stranger's gets an alert" mtls_required
run_case "mTLS optional: no certificate passes without the header, a made-up header never passes" mtls_optional
run_case "routes chosen by the client certificate's name, digest and subject, or by its absence" routes_on_client_certificate
run_case "a listener connection's TLS memory is its own, and all of it comes back" memory_comes_back
run_case "SNI and the client's key types choose the certificate" sni_chooses
run_case "without a default certificate, an unknown name gets an alert" no_default_alerts
run_case "SIGHUP reloads certificates under load without a failed request; a broken file is refused" cert_reload_under_load
run_case "changed certificate files reload without a signal (one kernel)" files_change_one_kernel
run_case "changed certificate files reload without a signal, Kubernetes' ..data swap too (two kernels)" files_change_two_kernels
run_case "ALPN http/1.1 only, TLS 1.2 and 1.3 only" alpn_and_versions
run_case "bad input and stalled handshakes end, and never stall the kernel" bad_input
run_case "1 GiB each way through TLS, checksums equal" bulk_both_ways
run_case "failed handshakes counted by reason in /stats and /metrics" failures_counted_by_reason
run_case "--check names the file, line, column and pointer of TLS problems" config_errors
finish
