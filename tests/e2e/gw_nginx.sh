#!/usr/bin/env bash
# vkgw end to end in front of a real nginx (Debian's nginx-light) as the
# upstream, on a loopback port of its own:
#
#   static       a 3 MiB file downloads whole (checksum), HEAD has its
#                length and no body, a conditional GET is a bodiless 304
#   chunked      nginx's gzip answers chunked; vkgw re-frames it and the
#                decompressed bytes are the file's
#   upload       a 5 MiB PUT (WebDAV) goes through, then reads back equal
#   keep-alive   200 requests on 200 client connections reach nginx over
#                at most 2 upstream connections (nginx logs $connection)
#   errors       nginx's own 404 and 405 pass through as they are
#   HTTP/1.0     a request without Host still reaches nginx with one
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
need_bin "$VKGW"
command -v nginx >/dev/null || fail "nginx is not installed (deploy/install-deps.sh installs nginx-light)"

# start_nginx NAME: nginx serving $E2E_TMP/NAME/www on a free loopback port
# (sets E2E_PORT[NAME]); nginx takes no port 0, so a taken port is retried.
start_nginx() {
	local name=$1 dir="$E2E_TMP/$1" port attempt
	mkdir -p "$dir/www"
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		{
			nginx_prologue "$dir"
			cat <<CONF
  log_format conn '\$connection \$request';
  access_log $dir/logs/access.log conn;
  server {
    listen 127.0.0.1:$port;
    root $dir/www;
    location /gz/ { gzip on; gzip_proxied any; gzip_types application/octet-stream text/plain; gzip_min_length 1; }
    location /up/ { dav_methods PUT; create_full_put_path on; client_max_body_size 100m; }
  }
}
CONF
		} >"$dir/nginx.conf"
		if nginx_launch "$name" "$dir" "http://127.0.0.1:$port/"; then
			E2E_PORT[$name]=$port
			return 0
		fi
	done
	fail "nginx did not start:$(server_stderr "$name")"
}

gateway() {
	local name=$1 up=$2
	cat >"$E2E_TMP/$name.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "upstreams": { "nginx": { "endpoints": [ "127.0.0.1:${E2E_PORT[$up]}" ] } },
  "routes": [ { "name": "all", "action": { "proxy": { "upstream": "nginx" } } } ]
}
JSON
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json"
}

# setup NAME: nginx NAME (its files in $E2E_TMP/NAME: WWW, LOGS) and a
# gateway in front (GW). Each case names its own servers: a server's
# output file is where its port is read from.
setup() {
	start_nginx "$1"
	WWW="$E2E_TMP/$1/www"
	LOGS="$E2E_TMP/$1/logs"
	head -c 3145728 /dev/urandom >"$WWW/file.bin"
	mkdir -p "$WWW/gz"
	seq 1 200000 >"$WWW/gz/numbers.txt"
	gateway "$1_gw" "$1"
	GW="http://127.0.0.1:${E2E_PORT[$1_gw]}"
}

c() { curl -s --noproxy '*' --max-time 20 "$@"; }

static_files() {
	local etag code
	setup ng_st
	[ "$(c "$GW/file.bin" | cksum)" = "$(cksum <"$WWW/file.bin")" ] || fail "the 3 MiB file differs"
	c -I "$GW/file.bin" | tr -d '\r' | grep -qix 'content-length: 3145728' || fail "HEAD: no length: $(c -I "$GW/file.bin")"
	etag=$(c -I "$GW/file.bin" | tr -d '\r' | sed -n 's/^etag: //Ip')
	[ -n "$etag" ] || fail "no ETag from nginx"
	code=$(c -o "$E2E_TMP/ngx.304" -w '%{http_code}' -H "If-None-Match: $etag" "$GW/file.bin")
	[ "$code" = 304 ] && [ ! -s "$E2E_TMP/ngx.304" ] || fail "conditional GET: $code, $(wc -c <"$E2E_TMP/ngx.304") body bytes"
	# the connection is still usable after the 304
	code=$(c -o /dev/null -w '%{http_code}\n' -H "If-None-Match: $etag" "$GW/file.bin" --next -s -o /dev/null \
		-w '%{http_code} %{num_connects}\n' "$GW/file.bin" | tail -n 1)
	[ "$code" = "200 0" ] || fail "a request after a 304 on the same connection: $code (status, new connections)"
}

chunked_gzip() {
	local head
	setup ng_gz
	head=$(c -D - -o "$E2E_TMP/ngx.gz" -H 'Accept-Encoding: gzip' "$GW/gz/numbers.txt" | tr -d '\r')
	grep -qix 'content-encoding: gzip' <<<"$head" || fail "not gzipped: $head"
	grep -qix 'transfer-encoding: chunked' <<<"$head" || fail "not chunked: $head"
	[ "$(gzip -dc <"$E2E_TMP/ngx.gz" | cksum)" = "$(cksum <"$WWW/gz/numbers.txt")" ] ||
		fail "the decompressed body differs"
}

upload_and_read_back() {
	local code
	setup ng_up
	head -c 5242880 /dev/urandom >"$E2E_TMP/up.bin"
	code=$(c -o /dev/null -w '%{http_code}' -T "$E2E_TMP/up.bin" "$GW/up/a/b.bin")
	[ "$code" = 201 ] || fail "PUT: $code"
	cmp -s "$E2E_TMP/up.bin" "$WWW/up/a/b.bin" || fail "nginx stored other bytes"
	[ "$(c "$GW/up/a/b.bin" | cksum)" = "$(cksum <"$E2E_TMP/up.bin")" ] || fail "read back differs"
}

logged_requests_are() { [ "$(grep -c 'file.bin?' "$LOGS/access.log")" = "$1" ]; }

keep_alive_to_nginx() {
	local args=() i conns
	setup ng_ka
	for i in $(seq 1 200); do args+=(-o /dev/null "$GW/file.bin?$i"); done
	c -H 'Connection: close' "${args[@]}" || fail "200 requests failed"
	# nginx logs a request once it has finished it, which may come just
	# after curl has read the answer.
	wait_until 5 "nginx to log exactly 200 requests" logged_requests_are 200
	conns=$(awk '/file.bin\?/ { print $1 }' "$LOGS/access.log" | sort -u | wc -l)
	[ "$conns" -le 2 ] || fail "nginx saw $conns upstream connections for 200 requests (expected them kept)"
}

errors_pass_through() {
	local code
	setup ng_er
	code=$(c -o /dev/null -w '%{http_code}' "$GW/nope")
	[ "$code" = 404 ] || fail "a missing file: $code"
	code=$(c -o /dev/null -w '%{http_code}' -X DELETE "$GW/file.bin")
	[ "$code" = 405 ] || fail "DELETE without dav_methods: $code"
}

# An HTTP/1.0 request may come without Host; it goes upstream as HTTP/1.1,
# which nginx refuses (400) without one: vkgw names the endpoint instead.
http10_without_host() {
	local reply
	setup ng_10
	printf 'hello\n' >"$WWW/hello.txt"
	exec 3<>"/dev/tcp/127.0.0.1/${E2E_PORT[ng_10_gw]}"
	printf 'GET /hello.txt HTTP/1.0\r\n\r\n' >&3
	reply=$(timeout 5 cat <&3 | tr -d '\r') || fail "no close after the HTTP/1.0 answer: $reply"
	exec 3>&-
	head -n 1 <<<"$reply" | grep -q '^HTTP/1.1 200 ' || fail "HTTP/1.0 without Host: $reply"
	[ "$(tail -n 1 <<<"$reply")" = hello ] || fail "not the file: $reply"
}

run_case "static: 3 MiB file, HEAD, conditional GET (304) and keep-alive after it" static_files
run_case "gzip answers chunked: re-framed, bytes equal" chunked_gzip
run_case "a 5 MiB PUT through the gateway, read back equal" upload_and_read_back
run_case "200 client connections, at most 2 upstream connections to nginx" keep_alive_to_nginx
run_case "nginx's 404 and 405 pass through" errors_pass_through
run_case "HTTP/1.0 without Host reaches nginx with one" http10_without_host
finish
