#!/usr/bin/env bash
# vkgw end to end: geo lookups in MaxMind databases (the top-level "geo",
# route "match": {"geo": ...}, the geo filter), the client address
# (X-Forwarded-For, Forwarded, PROXY protocol), and databases swapped
# live, in front of tests/services/gw_test_upstream, whose /echo shows the
# X-Geo-* headers the gateway sent. The databases and the expected rows
# are ../shared/corpora/maxmind (MaxMind's own test files).
#
#   rows        every row of expectations.json through vkgw (IPv4, IPv6,
#               IPv4-mapped), each database alone in its role; the access
#               log and /metrics
#   broken      the broken databases: refused by --check and at start with
#               file, line, column and pointer; an IPv4-only database asked
#               for an IPv6 client answers unknown
#   swap        files renamed over the one in use under load: broken ones
#               refused (logged, counted, the old one kept), good ones taken
#               by both kernels; one truncated in place changes nothing the
#               kernels map; a reload reads no file; the loader killed is
#               started again; no request fails; /metrics passes promtool
#   forwarded   X-Forwarded-For and Forwarded past trusted hops and trusted
#               prefixes; a spoofed header from an untrusted peer ignored
#   proxy       PROXY protocol v1 and v2 (IPv4, IPv6, LOCAL, TLVs), on a
#               plain and a TLS listener; a missing or malformed header
#               closes the connection, counted
#   routes      routes matching country, continent, ASN, CIDR and unknown
#   allow_deny  the filter's deny and allow lists: 403 with a JSON body
#   config      configuration errors at their pointers; a reload may not
#               change the database files
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
GEO="$(dirname "$0")/gw_geo.py"
need_bin "$VKGW"
need_bin "$UPSTREAM"
command -v promtool >/dev/null || fail "promtool is not installed (deploy/install-deps.sh: prometheus)"

CORPUS=$(cd "$(dirname "$0")/../.." && pwd)/../shared/corpora/maxmind
[ -f "$CORPUS/expectations.json" ] || CORPUS=${MAXMIND_CORPUS:-$CORPUS}
[ -f "$CORPUS/expectations.json" ] || fail "no MaxMind corpus at $CORPUS (../shared/corpora/maxmind)"
DB="$CORPUS/test-data"

# write_config FILE UPSTREAM_PORT GEO_JSON [ROUTES_JSON] [LISTENER_EXTRA]:
# one listener (kernels from $KERNELS, 1 by default), an admin listener,
# an access log, and by default one route: the geo filter with every
# header, proxying to the upstream.
write_config() {
	local routes=${4:-'{ "name": "geo", "match": { "path": { "prefix": "/" } },
      "filters": [ { "type": "geo", "headers": true } ],
      "action": { "proxy": { "upstream": "app" } } }'}
	cat >"$1" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": ${KERNELS:-1}${5:-} } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "access_log": { "path": "$1.log" },
  "timeouts": ${TIMEOUTS:-{\}},
  "upstreams": { "app": { "endpoints": [ "127.0.0.1:$2" ] } },
  "geo": $3,
  "routes": [ $routes ]
}
JSON
}

xff_geo() {
	printf '{ "databases": %s, "client_address": { "from": "x-forwarded-for", "trusted_cidrs": [ "127.0.0.0/8" ] } }' "$1"
}

# start_pair NAME GEO_JSON [ROUTES] [LISTENER_EXTRA]: an upstream and a
# gateway in front of it.
start_pair() {
	start_server "$1_up" "$UPSTREAM" -p 0 -k 1
	write_config "$E2E_TMP/$1.json" "${E2E_PORT[$1_up]}" "$2" "${3:-}" "${4:-}"
	start_server "$1" "$VKGW" -c "$E2E_TMP/$1.json" ${VKGW_ARGS:-}
	wait_until 5 "$1's admin listener" admin_listening "$1"
	PORT=${E2E_PORT[$1]}
}

metric() {
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$(admin_port "$1")/metrics" | grep -F -- "$2" | awk '{ print $NF }'
}

metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }

# country_of PORT IP: the X-Geo-Country the upstream saw.
country_of() {
	curl -s --noproxy '*' --max-time 5 -H "X-Forwarded-For: $2" "http://127.0.0.1:$1/echo" | tr -d '\r' |
		sed -n 's/^X-Geo-Country: //Ip' | head -n 1
}

# countries_are PORT IP WANT N: N requests in a row all see WANT (with two
# kernels, both have taken the change).
countries_are() {
	local i
	for ((i = 0; i < $4; i++)); do
		[ "$(country_of "$1" "$2")" = "$3" ] || return 1
	done
}

rows() {
	local role file out
	for pair in country:GeoIP2-Country-Test city:GeoIP2-City-Test asn:GeoLite2-ASN-Test; do
		role=${pair%%:*} file=${pair#*:}
		start_pair "rows_$role" "$(xff_geo "{ \"$role\": \"$DB/$file.mmdb\" }")"
		out=$(python3 "$GEO" rows "$PORT" "$CORPUS/expectations.json" "$file.mmdb" "$role") ||
			fail "$file.mmdb through vkgw:$(printf '\n%s' "$out")"
		note "$file.mmdb: $out checked"
	done
	# The access log records what routes and filters saw.
	grep -q '"geo":{"address":"89.160.20.128","country":null,"continent":null,"subdivision":null,"city":null,"asn":29518,"asn_org":"Bredband2 AB"}' \
		"$E2E_TMP/rows_asn.json.log" || fail "no geo record in the access log: $(tail -n 2 "$E2E_TMP/rows_asn.json.log")"
	curl -s --noproxy '*' "http://127.0.0.1:$(admin_port rows_city)/metrics" >"$E2E_TMP/metrics"
	grep -q '^vkgw_geo_database_build_epoch_seconds{database="city",type="GeoIP2-City"} [1-9]' "$E2E_TMP/metrics" ||
		fail "no build epoch in /metrics: $(grep geo "$E2E_TMP/metrics")"
	grep -q '^vkgw_geo_database_age_seconds{database="city"} [0-9]' "$E2E_TMP/metrics" || fail "no database age in /metrics"
	grep -q '^vkgw_geo_lookups_total{result="found"} [1-9]' "$E2E_TMP/metrics" || fail "no lookups counted"
	grep -q '^vkgw_geo_lookups_total{result="error"} 0$' "$E2E_TMP/metrics" || fail "lookup errors counted"
	# The text is UTF-8 as the database has it.
	grep -q '"city":"Linköping"' "$E2E_TMP/rows_city.json.log" || fail "the city is not UTF-8 in the access log"
}

broken() {
	local f out rc
	for f in GeoIP2-City-Test-Invalid-Node-Count MaxMind-DB-test-broken-pointers-24 \
		MaxMind-DB-test-broken-search-tree-24 GeoIP2-City-Test-Broken-Double-Format; do
		write_config "$E2E_TMP/broken.json" 1 "$(xff_geo "{ \"city\": \"$DB/$f.mmdb\" }")"
		out=$("$VKGW" --check -c "$E2E_TMP/broken.json" 2>&1) && fail "--check passed $f.mmdb: $out"
		grep -q "^$E2E_TMP/broken.json:[0-9]*:[0-9]*: /geo/databases/city: $DB/$f.mmdb: " <<<"$out" ||
			fail "--check did not name the file's place: $out"
		rc=0
		timeout 10 "$VKGW" -c "$E2E_TMP/broken.json" >"$E2E_TMP/broken.out" 2>&1 || rc=$?
		[ "$rc" = 1 ] || fail "vkgw started on $f.mmdb (status $rc): $(cat "$E2E_TMP/broken.out")"
		grep -q "/geo/databases/city: $DB/$f.mmdb" "$E2E_TMP/broken.out" ||
			fail "the refusal does not name the file: $(cat "$E2E_TMP/broken.out")"
	done
	# An IPv4-only database: IPv6 clients are unknown, IPv4 ones found.
	start_pair v4only "$(xff_geo "{ \"country\": \"$DB/MaxMind-DB-test-ipv4-24.mmdb\" }")"
	out=$(curl -s --noproxy '*' -w '%{http_code}' -H 'X-Forwarded-For: 2001:218::1' "http://127.0.0.1:$PORT/echo")
	[ "${out: -3}" = 200 ] || fail "an IPv6 client of an IPv4 database was not served: $out"
	grep -qi '^X-Geo-Country: unknown' <<<"$(tr -d '\r' <<<"$out")" || fail "an IPv6 client was placed: $out"
	metric_is v4only 'vkgw_geo_lookups_total{result="error"}' 0 || fail "an IPv6 lookup counted as an error"
	metric_is v4only 'vkgw_geo_lookups_total{result="not_found"}' 1 || fail "the IPv6 lookup was not counted"
}

# rename_over SRC: SRC copied beside the database in use, then renamed
# over it (as geoipupdate does).
rename_over() {
	cp "$DB/$1.mmdb" "$E2E_TMP/db/.new.mmdb"
	mv -f "$E2E_TMP/db/.new.mmdb" "$E2E_TMP/db/country.mmdb"
}

swap() {
	local out
	mkdir -p "$E2E_TMP/db"
	cp "$DB/GeoIP2-Country-Test.mmdb" "$E2E_TMP/db/country.mmdb"
	KERNELS=2 start_pair sw "$(xff_geo "{ \"country\": \"$E2E_TMP/db/country.mmdb\" }")"
	[ "$(country_of "$PORT" 81.2.69.142)" = GB ] || fail "81.2.69.142 is not GB at start"
	# at start: the supervisor's copy, then the loader's own
	metric_is sw 'loads_total{database="country",outcome="accepted"}' 2 || fail "loads at start: $(metric sw 'loads_total{')"
	python3 "$GEO" load "$PORT" 81.2.69.142 "$E2E_TMP/stop" 60 >"$E2E_TMP/load.json" &
	local load=$!
	# broken files are refused, the one in use stays
	rename_over GeoIP2-City-Test-Invalid-Node-Count
	wait_until 10 "the broken file refused" metric_is sw 'loads_total{database="country",outcome="refused"}' 1
	grep -q 'geo database country: refused, keeping the one before: .*invalid metadata' "$E2E_TMP/sw.err" ||
		fail "no log line for the refusal: $(server_stderr sw)"
	rename_over MaxMind-DB-test-broken-pointers-24
	wait_until 10 "the second broken file refused" metric_is sw 'loads_total{database="country",outcome="refused"}' 2
	countries_are "$PORT" 81.2.69.142 GB 20 || fail "a refused file changed the answers"
	# a good one is taken by both kernels
	rename_over MaxMind-DB-test-ipv4-24
	wait_until 10 "the new database in use" countries_are "$PORT" 81.2.69.142 unknown 20
	rename_over GeoIP2-Country-Test
	wait_until 10 "the first database in use again" countries_are "$PORT" 81.2.69.142 GB 20
	metric_is sw 'loads_total{database="country",outcome="accepted"}' 4 || fail "accepted loads not counted"
	# rewritten in place, cut short: the kernels map a sealed copy of what
	# was validated, so nothing changes for them; the loader refuses it
	truncate -s 1000 "$E2E_TMP/db/country.mmdb"
	wait_until 10 "the truncated file refused" metric_is sw 'loads_total{database="country",outcome="refused"}' 3
	countries_are "$PORT" 81.2.69.142 GB 20 || fail "a file truncated in place changed the answers"
	# a reload does not read the files (one at the path is broken now)
	signal_server sw HUP
	wait_until 10 "the reload applied" grep -q 'configuration 2 applied' "$E2E_TMP/sw.err"
	# the loader killed: started again, and it takes changes again
	local loader
	loader=$(pgrep -P "${E2E_PID[sw]}" -x vkgw-geo)
	[ -n "$loader" ] || fail "no loader process under vkgw"
	kill -KILL "$loader"
	wait_until 10 "the loader started again" grep -q 'geo database loader (pid [0-9]*) ended (signal 9); started again' "$E2E_TMP/sw.err"
	rename_over MaxMind-DB-test-ipv4-24
	wait_until 10 "a change taken by the new loader" countries_are "$PORT" 81.2.69.142 unknown 20
	# /metrics is valid exposition text
	curl -s --noproxy '*' "http://127.0.0.1:$(admin_port sw)/metrics" >"$E2E_TMP/sw.metrics"
	promtool check metrics <"$E2E_TMP/sw.metrics" >"$E2E_TMP/promtool.out" 2>&1 ||
		fail "promtool: $(cat "$E2E_TMP/promtool.out")"
	touch "$E2E_TMP/stop"
	wait "$load" || fail "the load failed"
	out=$(cat "$E2E_TMP/load.json")
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["stopped"], "the load ran out of time"
assert d["errors"] == 0, "failed requests"
assert set(d) - {"errors", "stopped"} == {"country GB", "country unknown"}, "answers other than 200 GB / unknown"
assert d["country GB"] > 50 and d["country unknown"] > 0, "too few requests"' "$out" || fail "under load: $out"
	note "under load: $out"
}

forwarded() {
	local c i
	# one trusted hop: the rightmost entry
	start_pair hop1 "{ \"databases\": { \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" },
	  \"client_address\": { \"from\": \"x-forwarded-for\", \"trusted_hops\": 1 } }"
	[ "$(country_of "$PORT" '1.1.1.1, 81.2.69.142')" = GB ] || fail "hop 1: not the rightmost entry"
	[ "$(country_of "$PORT" '81.2.69.142, 1.1.1.1')" = unknown ] || fail "hop 1: a spoofed left entry believed"
	c=$(curl -s --noproxy '*' -H 'X-Forwarded-For: 89.160.20.128' -H 'X-Forwarded-For: 2001:218::1' \
		"http://127.0.0.1:$PORT/echo" | tr -d '\r' | sed -n 's/^X-Geo-Country: //p')
	[ "$c" = JP ] || fail "hop 1 over two header lines: $c, not JP"
	# more lines than the gateway reads: unknown, never a client's line
	local -a many=()
	for ((i = 0; i < 16; i++)); do many+=(-H 'X-Forwarded-For: 81.2.69.142'); done
	c=$(curl -s --noproxy '*' "${many[@]}" -H 'X-Forwarded-For: 89.160.20.128' "http://127.0.0.1:$PORT/echo" |
		tr -d '\r' | sed -n 's/^X-Geo-Country: //p')
	[ "$c" = unknown ] || fail "17 X-Forwarded-For lines: $c, not unknown"
	c=$(curl -s --noproxy '*' "${many[@]:2}" -H 'X-Forwarded-For: 89.160.20.128' "http://127.0.0.1:$PORT/echo" |
		tr -d '\r' | sed -n 's/^X-Geo-Country: //p')
	[ "$c" = SE ] || fail "16 X-Forwarded-For lines: $c, not SE"
	# two hops
	start_pair hop2 "{ \"databases\": { \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" },
	  \"client_address\": { \"from\": \"x-forwarded-for\", \"trusted_hops\": 2 } }"
	[ "$(country_of "$PORT" '81.2.69.142, 89.160.20.128, 1.1.1.1')" = SE ] || fail "hop 2: not the second from the right"
	# the peer (127.0.0.1) is not a trusted proxy: the header is ignored
	start_pair spoof "{ \"databases\": { \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" },
	  \"client_address\": { \"from\": \"x-forwarded-for\", \"trusted_cidrs\": [ \"10.0.0.0/8\" ] } }"
	[ "$(country_of "$PORT" 81.2.69.142)" = unknown ] || fail "a spoofed X-Forwarded-For from an untrusted peer was believed"
	grep -q '"geo":{"address":"127.0.0.1"' "$E2E_TMP/spoof.json.log" || fail "the peer was not the address looked up"
	# trusted prefixes, walked from the right
	start_pair walk "{ \"databases\": { \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" },
	  \"client_address\": { \"from\": \"x-forwarded-for\", \"trusted_cidrs\": [ \"127.0.0.0/8\", \"10.0.0.0/8\" ] } }"
	[ "$(country_of "$PORT" '216.160.83.56, 81.2.69.142, 10.1.2.3, 10.9.9.9')" = GB ] || fail "the walk did not stop at the first untrusted entry"
	[ "$(country_of "$PORT" 'garbage, 10.1.2.3')" = unknown ] || fail "a non-address entry was not unknown"
	# Forwarded (RFC 7239)
	start_pair fwd "{ \"databases\": { \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" },
	  \"client_address\": { \"from\": \"forwarded\", \"trusted_cidrs\": [ \"127.0.0.0/8\", \"10.0.0.0/8\" ] } }"
	c=$(curl -s --noproxy '*' -H 'Forwarded: for="[2001:218::1]:4711";proto=https, For=10.0.0.1' \
		"http://127.0.0.1:$PORT/echo" | tr -d '\r' | sed -n 's/^X-Geo-Country: //p')
	[ "$c" = JP ] || fail "Forwarded: $c, not JP"
	c=$(curl -s --noproxy '*' -H 'Forwarded: for=unknown, for=10.0.0.1' -H 'X-Forwarded-For: 81.2.69.142' \
		"http://127.0.0.1:$PORT/echo" | tr -d '\r' | sed -n 's/^X-Geo-Country: //p')
	[ "$c" = unknown ] || fail "Forwarded for=unknown: $c (X-Forwarded-For must not count)"
	metric_is fwd 'vkgw_geo_lookups_total{result="no_address"}' 1 || fail "the unusable entry was not counted"
}

proxy() {
	local kind want out
	start_pair pp "{ \"databases\": { \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" } }" '' ', "proxy_protocol": true'
	for kind in v1:GB v1-tcp6:JP v2:SE v2-tcp6:DE v2-local:unknown v1-bad:closed v2-bad:closed none:closed; do
		want=${kind#*:} kind=${kind%%:*}
		out=$(python3 "$GEO" proxy "$PORT" "$kind")
		case $want in
		closed) [ "$out" = closed ] || fail "PROXY $kind: not closed: $out" ;;
		*) [ "$out" = "200 $want" ] || fail "PROXY $kind: $out, not 200 $want" ;;
		esac
	done
	metric_is pp 'vkgw_proxy_headers_total{kernel="0"}' 5 || fail "PROXY headers taken: $(metric pp proxy_headers_total)"
	metric_is pp 'vkgw_proxy_headers_refused_total{kernel="0"}' 3 || fail "PROXY headers refused: $(metric pp proxy_headers_refused)"
	grep -q '"client":"81.2.69.142"' "$E2E_TMP/pp.json.log" || fail "the access log's client is not the PROXY source"
	grep -q 'PROXY protocol header: ' "$E2E_TMP/pp.err" || fail "no log line for a refused header: $(server_stderr pp)"
	# a header in pieces, and one that stops: closed at header_ms, on
	# every poll driver (nothing peeked twice: no driver wakes on bytes
	# already seen)
	local driver ms
	for driver in epoll epoll-oneshot poll aio uring; do
		TIMEOUTS='{ "header_ms": 300 }' VKGW_ARGS="-P $driver" start_pair "pp_$driver" \
			"{ \"databases\": { \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" } }" '' ', "proxy_protocol": true'
		out=$(python3 "$GEO" proxy "$PORT" pieces)
		[ "$out" = "200 GB" ] || fail "$driver: a header in pieces: $out"
		out=$(python3 "$GEO" proxy "$PORT" partial)
		[[ $out =~ ^closed\ after\ ([0-9]+)\ ms$ ]] || fail "$driver: a header that stops: $out"
		ms=${BASH_REMATCH[1]}
		[ "$ms" -ge 250 ] && [ "$ms" -lt 3000 ] || fail "$driver: a header that stops closed after $ms ms, not 300"
	done
	# before TLS: the header in clear, the handshake after it
	mkdir -p "$E2E_TMP/certs"
	tls_make_ca "$E2E_TMP/certs" ca "geo test CA"
	tls_sign "$E2E_TMP/certs" srv ca "/CN=geo.test" "DNS:geo.test" serverAuth
	start_pair ppt "{ \"databases\": { \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" } }" '' \
		", \"proxy_protocol\": true, \"tls\": { \"certificates\": [ { \"cert\": \"$E2E_TMP/certs/srv.pem\", \"key\": \"$E2E_TMP/certs/srv.key\" } ] }"
	for kind in v1+tls:GB v2-tcp6+tls:DE v2-local+tls:unknown; do
		want=${kind#*:} kind=${kind%%:*}
		out=$(python3 "$GEO" proxy "$PORT" "$kind")
		[ "$out" = "200 $want" ] || fail "PROXY $kind on TLS: $out, not 200 $want"
	done
}

routes() {
	local ip want got
	start_pair rt "$(xff_geo "{ \"country\": \"$DB/GeoIP2-Country-Test.mmdb\", \"asn\": \"$DB/GeoLite2-ASN-Test.mmdb\" }")" '
	{ "name": "gb", "match": { "geo": { "country": [ "gb" ] } }, "action": { "respond": { "status": 200, "body": "gb" } } },
	{ "name": "as", "match": { "geo": { "asn": [ 29518, 7018 ] } }, "action": { "respond": { "status": 200, "body": "as" } } },
	{ "name": "net", "match": { "geo": { "cidr": [ "175.16.199.0/24", "2001:220::/32" ] } }, "action": { "respond": { "status": 200, "body": "net" } } },
	{ "name": "eu", "match": { "geo": { "continent": [ "EU" ], "country": [ "DE", "FR" ] } }, "action": { "respond": { "status": 200, "body": "eu" } } },
	{ "name": "unk", "match": { "geo": { "country": [ "unknown" ] }, "path": { "prefix": "/u" } }, "action": { "respond": { "status": 200, "body": "unknown" } } },
	{ "name": "rest", "match": { "path": { "prefix": "/" } }, "action": { "respond": { "status": 200, "body": "rest" } } }'
	for ip in 81.2.69.142:gb ::ffff:81.2.69.142:gb 89.160.20.128:as 12.81.92.1:as 175.16.199.1:net 2001:220::1:net \
		2a02:d180::1:eu 216.160.83.56:rest 8.8.8.8:rest; do
		want=${ip##*:} ip=${ip%:*}
		got=$(curl -s --noproxy '*' -H "X-Forwarded-For: $ip" "http://127.0.0.1:$PORT/")
		[ "$got" = "$want" ] || fail "$ip went to $got, not $want"
	done
	got=$(curl -s --noproxy '*' -H "X-Forwarded-For: 8.8.8.8" "http://127.0.0.1:$PORT/u")
	[ "$got" = unknown ] || fail "an unknown client went to $got"
	# 81.2.69.160 is in GB but registered in the US: routed on country
	got=$(curl -s --noproxy '*' -H "X-Forwarded-For: 81.2.69.160" "http://127.0.0.1:$PORT/")
	[ "$got" = gb ] || fail "81.2.69.160 (GB, registered US) went to $got"
	# one lookup per request, however many routes ask
	metric_is rt 'vkgw_geo_lookups_total{result="found"}' 9 && metric_is rt 'vkgw_geo_lookups_total{result="not_found"}' 2 ||
		fail "lookups: $(metric rt 'lookups_total{')"
}

allow_deny() {
	local ip want out
	start_pair ad "$(xff_geo "{ \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" }")" '
	{ "name": "ad", "match": { "path": { "prefix": "/" } },
	  "filters": [ { "type": "geo", "deny": { "country": [ "SE" ], "cidr": [ "81.2.69.160/27" ] }, "allow": { "continent": [ "EU" ] } } ],
	  "action": { "respond": { "status": 200, "body": "in" } } }'
	for ip in 81.2.69.142:200 2a02:d180::1:200 89.160.20.128:403 81.2.69.160:403 175.16.199.1:403 8.8.8.8:403; do
		want=${ip##*:} ip=${ip%:*}
		out=$(curl -s --noproxy '*' -w ' %{http_code} %{content_type}' -H "X-Forwarded-For: $ip" "http://127.0.0.1:$PORT/")
		case $want in
		200) [ "$out" = "in 200 " ] || fail "$ip: $out" ;;
		403) [ "$out" = '{"error":"access from this location is not allowed","status":403}
 403 application/json' ] || fail "$ip: $out" ;;
		esac
	done
	grep -q '"answered_by":"geo"' "$E2E_TMP/ad.json.log" || fail "the access log does not name the filter"
}

config() {
	local out
	cat >"$E2E_TMP/bad.json" <<JSON
{
  "listeners": [ { "port": 0, "proxy_protocol": "yes" } ],
  "routes": [
    { "name": "a", "match": { "geo": { "country": [ "GBR" ] } }, "action": { "respond": { "status": 200 } } },
    { "name": "b", "filters": [ { "type": "geo", "deny": { "asn": [ 0 ], "cidr": [ "10.0.0.1/8" ] }, "headers": { "zip": "X-Zip" } } ],
      "action": { "respond": { "status": 200 } } }
  ]
}
JSON
	out=$("$VKGW" --check -c "$E2E_TMP/bad.json" 2>&1) && fail "--check passed: $out"
	for want in \
		'bad.json:2:[0-9]*: /listeners/0/proxy_protocol: ' \
		'/routes/0/match/geo/country/0: "GBR" is not an ISO 3166-1 alpha-2 country code' \
		'/routes/0/match/geo: matching on geo needs the databases' \
		'/routes/1/filters/0/type: a geo filter needs the databases' \
		'/routes/1/filters/0/deny/asn/0: an autonomous system number' \
		'/routes/1/filters/0/deny/cidr/0: "10.0.0.1/8" is not an address prefix' \
		'/routes/1/filters/0/headers/zip: '; do
		grep -q -- "$want" <<<"$out" || fail "no \"$want\" in: $out"
	done
	cat >"$E2E_TMP/bad2.json" <<JSON
{
  "listeners": [ { "port": 0 } ],
  "geo": { "databases": { "country": "$E2E_TMP/none.mmdb" }, "client_address": { "from": "x-forwarded-for" } },
  "routes": [ { "name": "a", "action": { "respond": { "status": 200 } } } ]
}
JSON
	out=$("$VKGW" --check -c "$E2E_TMP/bad2.json" 2>&1) && fail "--check passed: $out"
	for want in \
		"bad2.json:3:[0-9]*: /geo/databases/country: $E2E_TMP/none.mmdb: No such file or directory" \
		'/geo/client_address/from: x-forwarded-for with nothing trusted would believe any client'; do
		grep -q -- "$want" <<<"$out" || fail "no \"$want\" in: $out"
	done
	# A reload may not move the databases (their table is made at start).
	start_pair rl "$(xff_geo "{ \"country\": \"$DB/GeoIP2-Country-Test.mmdb\" }")"
	write_config "$E2E_TMP/rl.json" "${E2E_PORT[rl_up]}" "$(xff_geo "{ \"country\": \"$DB/GeoLite2-Country-Test.mmdb\" }")"
	signal_server rl HUP
	wait_until 10 "the reload refused" grep -q '/geo/databases: the geo database files are fixed at start' "$E2E_TMP/rl.err"
	[ "$(country_of "$PORT" 81.2.69.142)" = GB ] || fail "not served after the refused reload"
}

run_case "geo: every row of expectations.json through vkgw; access log and /metrics" rows
run_case "geo: broken databases refused by --check and at start; IPv6 in an IPv4 database is unknown" broken
run_case "geo: files renamed over under load: broken ones refused and logged, good ones taken; no failed request" swap
run_case "geo: X-Forwarded-For and Forwarded past trusted hops and prefixes; spoofed headers ignored" forwarded
run_case "geo: PROXY protocol v1 and v2, before TLS too; a missing or malformed header closes the connection" proxy
run_case "geo: routes on country, continent, ASN, CIDR and unknown; one lookup per request" routes
run_case "geo: deny and allow lists answer 403 with a JSON body" allow_deny
run_case "geo: configuration errors at their pointers; a reload may not move the databases" config
finish
