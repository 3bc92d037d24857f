#!/usr/bin/env bash
# TLS termination: vkgw (BoringSSL) against HAProxy and nginx (OpenSSL 3),
# each alone on CPU 0 in front of the same upstream (nginx, 1 KiB body) on
# CPU 1, with the same certificate, in requests (or handshakes) per
# CPU-second of CPU 0, as bench-proxy.sh measures:
#
#   full       full TLS 1.3 handshakes: BENCH_TLS_CLIENTS `openssl s_time
#              -new` clients at once (no request, no resumption)
#   resumed    wrk with "Connection: close": a new connection per request,
#              each resuming a session (wrk keeps its ticket), one request
#   keepalive  wrk, 50 kept-alive connections, requests over TLS
#
# each with an ECDSA P-256 and an RSA 2048 certificate, over BENCH_ROUNDS
# rounds in which the three proxies alternate. Then `openssl speed
# ecdsap256 rsa2048` on CPU 0, the reference for what one core signs.
#
# Usage: bench/bench-tls.sh PATH/TO/vkgw
#   env BENCH_SECONDS      seconds per run (default 5)
#   env BENCH_ROUNDS       rounds (default 3)
#   env BENCH_TLS_CLIENTS  s_time clients at once (default 4)
#   env BENCH_KEEP=1       keep the temp dir
# Everything listens on 127.0.0.1. Exit 0 when every run completed, 1 when
# a server failed, 2 on bad usage or missing tools.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

readonly PROXY_CPU=0
readonly CLIENT_CPU=1
readonly PROXIES=(vkgw haproxy nginx)
readonly KEYS=(ecdsa rsa)
readonly SCENARIOS=(full resumed keepalive)
readonly GOAL_FULL=1.5      # vkgw full handshakes per CPU-s >= this times each peer's
readonly GOAL_KEEPALIVE=1.1 # vkgw keep-alive requests per CPU-s >= this times each peer's
DURATION=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_TLS_CLIENTS:-4}
BODY=$(printf '%1024s' '' | tr ' ' x)

RESULTS="" # lines: KEY SCENARIO PROXY PER_CPU_SECOND COUNT_PER_SECOND
UP_PID=""
UP_PORT=""
PORT=""

cleanup() {
  stop_server
  [ -z "$UP_PID" ] || stop_pid "$UP_PID" upstream
  remove_work
}

[ $# -eq 1 ] || die 2 "usage: $0 PATH/TO/vkgw"
[ -x "$1" ] || die 2 "vkgw binary '$1' is missing or not executable (build it first)"
VKGW_BIN=$(realpath "$1")
check_rounds
is_uint "$CLIENTS" || die 2 "BENCH_TLS_CLIENTS must be a positive integer, got '$CLIENTS'"
require_tools wrk openssl haproxy nginx taskset curl python3 setsid timeout
raise_fd_limit "bench-tls"
begin_work bench-tls
mkdir -p "$WORK/certs" "$WORK/upstream/tmp" "$WORK/nginx/tmp"

make_certs() {
  openssl req -x509 -nodes -days 2 -subj "/CN=bench.test" -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$WORK/certs/ecdsa.key" -out "$WORK/certs/ecdsa.pem" 2>/dev/null
  openssl req -x509 -nodes -days 2 -subj "/CN=bench.test" -newkey rsa:2048 \
    -keyout "$WORK/certs/rsa.key" -out "$WORK/certs/rsa.pem" 2>/dev/null
  local key
  for key in "${KEYS[@]}"; do
    cat "$WORK/certs/$key.pem" "$WORK/certs/$key.key" >"$WORK/certs/$key.combined.pem"
  done
}

start_upstream() {
  UP_PORT=$(free_port)
  write_nginx_conf "$WORK/upstream" "the upstream every proxy talks to." <<EOF
    server {
        listen 127.0.0.1:$UP_PORT;
        default_type text/plain;
        location / { return 200 "$BODY"; }
    }
EOF
  launch "$CLIENT_CPU" 36000 "$WORK/upstream.log" nginx -p "$WORK/upstream/" -c "$WORK/upstream/nginx.conf" \
    -e "$WORK/upstream/error.log" -g 'daemon off;'
  UP_PID=$LAUNCHED_PID
  wait_answering "$UP_PID" "$UP_PORT" || failed upstream "$WORK/upstream.log" "did not start"
}

start_vkgw() { # start_vkgw KEY
  cat >"$WORK/vkgw.json" <<EOF
{
  "listeners": [ { "name": "bench", "address": "127.0.0.1", "port": 0, "kernels": 1,
    "tls": { "certificates": [ { "cert": "certs/$1.pem", "key": "certs/$1.key" } ] } } ],
  "upstreams": { "upstream": { "endpoints": ["127.0.0.1:$UP_PORT"] } },
  "routes": [ { "name": "all", "action": { "proxy": { "upstream": "upstream" } } } ]
}
EOF
  SERVER_NAME=vkgw
  SERVER_LOG=$WORK/vkgw.log
  launch "$PROXY_CPU" 36000 "$SERVER_LOG" "$VKGW_BIN" -c "$WORK/vkgw.json" -k 1
  SERVER_PID=$LAUNCHED_PID
  wait_listening 1
  PORT=$LISTEN_PORT
}

start_haproxy() { # start_haproxy KEY
  PORT=$(free_port)
  cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8192
    tune.ssl.default-dh-param 2048
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:$PORT ssl crt $WORK/certs/$1.combined.pem alpn http/1.1
    default_backend upstream
backend upstream
    server up 127.0.0.1:$UP_PORT
EOF
  SERVER_NAME=haproxy
  SERVER_LOG=$WORK/haproxy.log
  launch "$PROXY_CPU" 36000 "$SERVER_LOG" haproxy -db -f "$WORK/haproxy.cfg"
  SERVER_PID=$LAUNCHED_PID
  wait_tls
}

start_nginx() { # start_nginx KEY
  PORT=$(free_port)
  write_nginx_conf "$WORK/nginx" "nginx terminating TLS." <<EOF
    upstream up { server 127.0.0.1:$UP_PORT; keepalive 512; }
    server {
        listen 127.0.0.1:$PORT ssl;
        ssl_certificate $WORK/certs/$1.pem;
        ssl_certificate_key $WORK/certs/$1.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
EOF
  SERVER_NAME=nginx
  SERVER_LOG=$WORK/nginx.log
  launch "$PROXY_CPU" 36000 "$SERVER_LOG" nginx -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" \
    -e "$WORK/nginx/error.log" -g 'daemon off;'
  SERVER_PID=$LAUNCHED_PID
  wait_tls
}

wait_tls() {
  wait_answering "$SERVER_PID" "$PORT" https || server_failed "did not answer HTTPS within 10 s"
}

cpu0_busy_ticks() { awk '/^cpu0 / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# One run of SCENARIO against PORT: prints "PER_CPU_SECOND PER_SECOND".
measure() {
  local scenario=$1 before after count=0 i n
  before=$(cpu0_busy_ticks)
  case $scenario in
  full)
    for ((i = 0; i < CLIENTS; i++)); do
      taskset -c "$CLIENT_CPU" openssl s_time -connect "127.0.0.1:$PORT" -new -time "$DURATION" \
        >"$WORK/s_time.$i" 2>&1 &
    done
    wait
    for ((i = 0; i < CLIENTS; i++)); do
      n=$(awk '/connections in .* real seconds/ { print $1 }' "$WORK/s_time.$i")
      count=$((count + ${n:-0}))
    done
    ;;
  resumed | keepalive)
    local extra=()
    [ "$scenario" = keepalive ] || extra=(-H "Connection: close")
    count=$(taskset -c "$CLIENT_CPU" wrk -t1 -c50 -d"${DURATION}s" "${extra[@]}" "https://127.0.0.1:$PORT/" |
      tee "$WORK/wrk.out" | awk '/requests in/ { print $1 }')
    grep -q 'Non-2xx\|Socket errors: connect [1-9]' "$WORK/wrk.out" && log "$SERVER_NAME $scenario: $(grep -E 'Non-2xx|Socket' "$WORK/wrk.out")"
    ;;
  esac
  after=$(cpu0_busy_ticks)
  awk -v c="${count:-0}" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v d="$DURATION" \
    'BEGIN { if (t > 0) printf "%.0f %.0f\n", c / (t / hz), c / d; else print "NA NA" }'
}

median_of() { # median_of KEY SCENARIO PROXY FIELD(4|5)
  printf '%s\n' "$RESULTS" | awk -v k="$1" -v s="$2" -v p="$3" -v f="$4" '$1 == k && $2 == s && $3 == p { print $f }' |
    median
}

make_certs
start_upstream
log "$ROUNDS rounds x ${#KEYS[@]} keys x ${#PROXIES[@]} proxies x ${#SCENARIOS[@]} runs of ${DURATION}s; upstream on port $UP_PORT"
for ((round = 1; round <= ROUNDS; round++)); do
  for key in "${KEYS[@]}"; do
    for proxy in "${PROXIES[@]}"; do
      "start_$proxy" "$key"
      for scenario in "${SCENARIOS[@]}"; do
        # keep-alive requests do not depend on the key: ECDSA only.
        [ "$scenario" != keepalive ] || [ "$key" = ecdsa ] || continue
        read -r per_cpu per_s < <(measure "$scenario")
        log "round $round: $key $proxy $scenario: $per_s per s, $per_cpu per CPU-s of CPU $PROXY_CPU"
        RESULTS+="$key $scenario $proxy $per_cpu $per_s"$'\n'
      done
      stop_server
    done
  done
done

echo
echo "### TLS termination, per CPU-second of CPU $PROXY_CPU (medians of $ROUNDS rounds)"
echo
echo "| key | scenario | vkgw | HAProxy | nginx | vkgw/HAProxy | vkgw/nginx | goal |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
for key in "${KEYS[@]}"; do
  for scenario in "${SCENARIOS[@]}"; do
    [ "$scenario" != keepalive ] || [ "$key" = ecdsa ] || continue
    v=$(median_of "$key" "$scenario" vkgw 4)
    h=$(median_of "$key" "$scenario" haproxy 4)
    n=$(median_of "$key" "$scenario" nginx 4)
    goal=""
    [ "$scenario" != full ] || goal=$GOAL_FULL
    [ "$scenario" != keepalive ] || goal=$GOAL_KEEPALIVE
    awk -v key="$key" -v s="$scenario" -v v="$v" -v h="$h" -v n="$n" -v g="$goal" 'BEGIN {
      rh = (h > 0) ? v / h : 0; rn = (n > 0) ? v / n : 0
      verdict = (g == "") ? "-" : ((rh >= g && rn >= g) ? "MET (>= " g "x)" : "NOT MET (>= " g "x)")
      printf "| %s | %s | %.0f | %.0f | %.0f | %.2fx | %.2fx | %s |\n", key, s, v, h, n, rh, rn, verdict
    }'
  done
done
echo
echo "### What one core signs (CPU $PROXY_CPU): OpenSSL 3, as HAProxy and nginx use it, and BoringSSL, as vkgw does"
echo
echo '```'
taskset -c "$PROXY_CPU" openssl speed -seconds 2 ecdsap256 rsa2048 2>/dev/null | grep -E 'rsa 2048 bits|256 bits ecdsa' || true
# Debian's android-boringssl package has the tool; it is not a dependency.
if command -v bssl-tool >/dev/null; then
  taskset -c "$PROXY_CPU" bssl-tool speed -filter 'RSA 2048 signing' 2>/dev/null | grep 'RSA 2048 signing' || true
  taskset -c "$PROXY_CPU" bssl-tool speed -filter 'ECDSA P-256' 2>/dev/null | grep 'ECDSA P-256 signing' || true
else
  echo "(bssl-tool not installed: apt-get install android-boringssl for BoringSSL's own figures)"
fi
echo '```'
