#!/usr/bin/env bash
# Benchmark vkgw as a reverse proxy against HAProxy and nginx, all three in
# front of the same upstream (nginx answering `return 200` with a 1 KiB
# body), plus the same load sent to the upstream directly for reference,
# and the "floor": bench/floor_proxy.c, which copies bytes between each
# client connection and an upstream connection of its own, with no HTTP, the
# least any proxy can do per request.
# vkgw runs five ways: as shipped (isolation "filters") and with
# --no-isolation ("vkgw-noiso"), both on a route without filters and on one
# with the request_id and headers filters ("vkgw-filt", "vkgw-filt-noiso"),
# and with --isolation always ("vkgw-always"); the summary gives
# isolation's cost as requests per CPU-second of the proxy's core, on
# against off in the same round, and vkgw's mprotect calls per request
# (from its admin /stats).
#
# The proxy's cost is read from CPU 0: its busy share in /proc/stat over the
# run (system calls, softirq work and all), and "req per CPU-s" is req/s
# divided by that share. On two cores CPU 1 (wrk and the upstream) tends to
# saturate first, so req/s alone cannot separate the proxies. The summary's
# first table gives vkgw (as shipped, with filters, with isolation "always")
# against the floor, HAProxy and nginx in req per CPU-s, with p99s, and the
# goal.
#
# BENCH_SUITE=auth runs the authentication filters instead (issue 11),
# on the 50-connection scenario: the plain route ("vkgw") side by side with
# api_key ("vkgw-apikey"), jwt with one ES256 or RS256 token repeated
# ("vkgw-jwt-es256", "vkgw-jwt-rs256": verified once, then from the
# kernel's cache), jwt with a fresh ES256 token per request and no cache
# ("vkgw-jwt-es256-fresh", 20000 tokens in turn), and HAProxy 2.6's
# jwt_verify on the repeated ES256 token ("haproxy-jwt-es256": it has no
# cache, so it verifies every request). The summary gives each filter's
# cost against the plain route in requests per CPU-second, and the
# verifications per CPU-second an uncached ES256 request costs against
# `openssl speed ecdsap256` on the same core. Keys and tokens are made
# with python3-cryptography for each run.
#
# BENCH_SUITE=ratelimit runs rate limiting (issue 12), on the same
# scenario: vkgw plain and with a rate_limit per client address never
# reached and no RateLimit headers, as the anchors send none
# ("vkgw-ratelimit"), HAProxy plain and with a stick table
# tracking http_req_rate per source ("haproxy-stick"), nginx plain and with
# limit_req per address ("nginx-limitreq"); each limiter's cost is its
# ratio to the same proxy without it. vkgw's Redis mode runs too, against a
# redis-server on the client's core (CPU 1, beside wrk and the upstream):
# every request a call to Redis ("vkgw-ratelimit-redis", batch 1: exact),
# and tokens taken 100 at a time ("vkgw-ratelimit-redis-batch").
#
# BENCH_SUITE=geo runs geo lookups (MaxMind databases), on the same
# scenario: vkgw plain and with the geo filter on its route ("vkgw-geo":
# the top-level "geo" with a country and an ASN database, the client
# address from X-Forwarded-For trusted from 127.0.0.0/8, X-Geo-Country and
# X-Geo-ASN sent upstream), nginx plain and with the geoip2 module
# ("nginx-geo": libnginx-mod-http-geoip2, the same two databases, the
# client from realip's X-Forwarded-For trusted from 127.0.0.0/8, the same
# two headers). Every request of every target carries
# "X-Forwarded-For: 89.160.20.128", an address both databases place (SE,
# AS29518); before measuring, each proxy's upstream must receive SE and
# 29518 (or nothing, from the plain ones). The databases are MaxMind's
# test files, from ../shared/corpora/maxmind/test-data beside the
# repository (BENCH_GEO_DATA overrides); without them the suite says so
# and exits 0. Each lookup's cost is its ratio to the same proxy without
# it, and the CPU time it adds per request.
#
# BENCH_SUITE=retry runs retries with deadlines (issue 14), in two parts.
# 1. What retries cost when nothing fails, on the same scenario (wrk, 50
#    connections, the upstream always answering 200): vkgw's plain route
#    ("vkgw"; every proxy route has a deadline, 15 s by default, and sends
#    what is left of it upstream in x-request-timeout) beside a route with
#    the retry filter (attempts 3, per_try_timeout_ms 1000, retry_on
#    connect-failure, reset and timeout, on_statuses 502, 503 and 504) and
#    timeout_ms 5000 ("vkgw-retry"); HAProxy plain beside HAProxy with
#    "retries 3", "option redispatch 1" and "retry-on 503"
#    ("haproxy-retry": a status in retry-on makes HAProxy copy every
#    request into a buffer). Goal: vkgw-retry at least 0.97x the plain
#    route in requests per CPU-second of CPU 0.
# 2. Overload with a failing endpoint: three endpoints, each its own nginx
#    (one worker, on CPU 1, the 1 KiB body, counted by its own stub_status),
#    the third answering /bench-flaky with a quick 503 to half its requests
#    (split_clients on $request_id) and the other two 200 to everything.
#    A fixed request rate goes to each proxy in front of the three
#    (round robin): vkgw with the retry filter (attempts 3, on_statuses
#    [503]) and its upstream's retry budget (percent 20, min_per_second
#    10: "vkgw-budget"), the same with "retry_budget": {"enabled": false}
#    ("vkgw-nobudget"), and HAProxy with "retries 3", "option redispatch
#    1" (each retry to another server than the last) and "retry-on 503"
#    ("haproxy-redispatch", a fixed retry-3-times policy). Each takes the
#    rate twice a round, on / (nothing fails) and on /bench-flaky; the
#    requests the two healthy endpoints served in each run are read from
#    their stub_status ("requests", less the readings themselves), and the
#    summary gives their load with the failure over their load without it,
#    per round, and the median. Goal: vkgw-budget at most 1.2x. The
#    summary also gives the 5xx the clients got (what the budget lets
#    through), attempts per request, vkgw's retries and budget refusals
#    (its /stats) and the connections the failing endpoint accepted.
#    The rate: `h2load --h1 --rps` (BENCH_RETRY_RPS, default 8000 req/s,
#    over 50 connections), open loop: each connection sends on its own
#    schedule, whatever the answers' latency (wrk has no pacing; h2load's
#    --rps works over HTTP/1.1). Its limits: HTTP/1.1 carries one request
#    at a time, so a connection whose request takes longer than its
#    interval (6.25 ms at the default; a vkgw retry's backoff draws up to
#    25 ms) sends the requests that came due meanwhile back to back once
#    it can; the rate holds over a run while the proxy keeps up. A run
#    more than 2% under the offered rate (the machine's other load, say)
#    runs once more; one that falls short again is flagged, and its
#    round left out of that proxy's ratio. Latencies count
#    from when h2load sent a request, not from when it was due, so the
#    p99 leaves out that queueing. The rate leaves every core headroom
#    (the per-run table gives CPU 0 and CPU 1 busy): on a quiet machine
#    CPU 1 (h2load and the three endpoints) is about half busy in the
#    failing runs, so the healthy endpoints could take about twice their
#    load. An offered load beyond what a core can do cannot be held
#    fixed here (h2load shares CPU 1 with the endpoints), and the
#    endpoints' counts would then measure that core's capacity, not the
#    retry policy. The runs of a round pair the same proxy process, one
#    on each path; the rounds alternate the proxies' order and which
#    path goes first. With one endpoint of three failing
#    half its requests and each retry sent elsewhere, a retry policy can
#    add at most a quarter to the healthy endpoints (rate/6 failures over
#    2 x rate/3): the fixed policy's 1.25x is that bound, not a
#    multiplication; that needs the healthy endpoints to fail as well.
#
# Usage: bench/bench-proxy.sh PATH/TO/vkgw [PATH/TO/floor_proxy]
#   (floor_proxy defaults to bench/floor_proxy beside vkgw, as make builds it)
#   env BENCH_SUITE    proxy (default), auth, ratelimit, geo or retry
#   env BENCH_RETRY_RPS  the retry suite's offered rate, req/s (default 8000;
#                      a multiple of 50, its connections)
#   env BENCH_SECONDS  seconds per wrk run        (default 5)
#   env BENCH_ROUNDS   rounds of alternating runs  (default 3)
#   env BENCH_WARMUP   seconds of unmeasured load before each run (default 1)
#   env BENCH_KEEP=1   keep the temp dir with configs, raw wrk output and logs
#
# Each proxy runs pinned to CPU 0 with one worker (vkgw: one kernel; HAProxy:
# nbthread 1; nginx: worker_processes 1). The upstream (nginx, one worker)
# and wrk (one thread) share CPU 1, as the issue asks: the proxy is measured
# on one core, and the per-run CPU 1 column says whether the other core ran
# out. Keep-alive on both sides of every proxy. Everything listens on
# 127.0.0.1 only.
#
# Each measured run follows an unmeasured warm-up at the same connection
# count (BENCH_WARMUP seconds, every target alike): the tables give the
# steady state of keep-alive proxying. Without it a run's first requests
# also open the proxy's upstream connections and fault its memory in, and
# those 500 first requests of 80,000 weigh on the p99 (docs/benchmarks.md).
#
# The machine may be shared: before each run the script waits (up to 3 s)
# for both CPUs to be idle, measures how much of each CPU went to processes
# other than the proxy, the upstream and wrk, runs a disturbed run once more
# (at most a quarter of the runs), and lists the runs still disturbed.
# Exit status: 0 when every run completed (goals met or not; this is a
# benchmark, not a test), 1 when a server failed to start, did not proxy, or
# died, 2 on bad usage or missing tools.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

readonly PROXY_CPU=0
readonly CLIENT_CPU=1  # wrk and the upstream
readonly GOAL_VS_HAPROXY=1.25 # vkgw req/s must be >= this times HAProxy's
readonly GOAL_VS_NGINX=1.5    # vkgw req/s must be >= this times nginx's
readonly GOAL_ISOLATION=0.8   # req per CPU-s with isolation >= this times without
readonly GOAL_VS_FLOOR=0.9    # vkgw req per CPU-s >= this times the floor proxy's
readonly GOAL_AUTH_CACHED=0.9 # a cached credential: req per CPU-s >= this times the plain route's
readonly GOAL_RATELIMIT_LOCAL=0.95 # a local limit never reached: req per CPU-s >= this times the plain route's
readonly GOAL_RATELIMIT_REDIS=0.85 # Redis mode, the same
readonly GOAL_GEO=0.95 # the geo filter: req per CPU-s >= this times the plain route's
# The geo suite's client, sent in X-Forwarded-For: in both test databases.
readonly GEO_CLIENT=89.160.20.128 GEO_WANT_COUNTRY=SE GEO_WANT_ASN=29518
readonly GEO_ECHO_PATH=/bench-geo-echo # the upstream answers the X-Geo-* it got
readonly GOAL_RETRY_COST=0.97    # the retry filter, nothing failing: req per CPU-s >= this times the plain route's
readonly GOAL_RETRY_HEALTHY=1.2  # with the budget: healthy endpoints' load <= this times their no-failure load
readonly RETRY_FLAKY_PATH=/bench-flaky # the failing endpoint's 503 half the time; 200 from the others
readonly RETRY_CONNS=50          # h2load's connections for the fixed rate
readonly RETRY_RATE_SLACK=0.98   # a run under this share of the offered rate did not keep it
readonly NGINX_GEOIP2_MODULE=/usr/lib/nginx/modules/ngx_http_geoip2_module.so
GEO_COUNTRY_DB=""
GEO_ASN_DB=""
readonly GOAL_VS_HAPROXY_JWT=1.5 # uncached ES256: req per CPU-s >= this times HAProxy jwt_verify's
readonly GOAL_VS_OPENSSL=0.8  # uncached verifications per CPU-s >= this times openssl speed's
readonly FRESH_TOKENS=20000
readonly API_KEY=bench-api-key-0123456789
AUTH_DIR=""
readonly NGINX_BIN=/usr/sbin/nginx
readonly HAPROXY_BIN=/usr/sbin/haproxy
readonly NGINX_PROXY_KEEPALIVE=64 # nginx `upstream { keepalive N; }`
readonly STATUS_PATH=/bench-upstream-status
readonly OTHER_LOAD_MAX=10 # % of a CPU used by others before a run is flagged
readonly QUIET_MAX=5       # % busy of each CPU, between runs, that counts as quiet
readonly QUIET_WAIT_MAX=3  # seconds to wait for quiet before a run

DURATION=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-3}
RETRIES_USED=0

# The upstream's body: 16 lines of 63 characters and a newline, 1024 bytes.
# BODY_NGINX is the same text as an nginx string literal.
BODY=""
BODY_NGINX=""
for ((i = 0; i < 16; i++)); do
  line=$(printf 'vkgw-bench-%02d-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO' "$i")
  BODY+="${line:0:63}"$'\n'
  BODY_NGINX+="${line:0:63}\\n"
done
unset i line
readonly BODY BODY_NGINX BODY_BYTES=1024

# Scenario name -> wrk connection count.
declare -A SCENARIO_CONNS=([c50]=50 [c500]=500)
declare -A SCENARIO_LABEL=([c50]="keep-alive, 50 conns" [c500]="keep-alive, 500 conns")
SUITE=${BENCH_SUITE:-proxy}
case $SUITE in
  proxy) SCENARIOS=(c50 c500) PROXIES=(vkgw haproxy nginx floor) ;;
  auth) SCENARIOS=(c50) PROXIES=(vkgw) ;;
  ratelimit) SCENARIOS=(c50) PROXIES=(vkgw haproxy nginx) ;;
  geo) SCENARIOS=(c50) PROXIES=(vkgw vkgw-many vkgw-geo vkgw-geo-many nginx nginx-many nginx-geo nginx-geo-many) ;;
  retry) SCENARIOS=(c50) PROXIES=(vkgw vkgw-retry haproxy haproxy-retry vkgw-budget vkgw-nobudget haproxy-redispatch) ;;
  *) echo "BENCH_SUITE is proxy, auth, ratelimit, geo or retry, not $SUITE" >&2 && exit 2 ;;
esac
readonly SUITE SCENARIOS PROXIES
# The retry suite's second part: the proxies in front of three endpoints,
# each run on / and on RETRY_FLAKY_PATH; RETRY_RPS is the offered rate.
RETRY_TARGETS=(vkgw-budget vkgw-nobudget haproxy-redispatch)
RETRY_RPS=${BENCH_RETRY_RPS:-8000}
readonly RETRY_TARGETS RETRY_RPS
# vkgw-always: --isolation always; vkgw-filt(-noiso): the route runs the
# request_id and headers filters, isolated as shipped (or not).
# floor: bench/floor_proxy. direct: wrk -> upstream.
# Each ratio to the floor divides two runs of one round, and this machine's
# cost per request drifts by tens of percent within minutes (a virtual
# machine's neighbours): the floor runs in the middle, next to vkgw, with
# vkgw-filt, HAProxy and nginx one or two runs away, so the ratios the goal
# reads compare runs made close together.
if [ "$SUITE" = auth ]; then
  TARGETS=(vkgw vkgw-apikey vkgw-jwt-es256 vkgw-jwt-rs256 vkgw-jwt-es256-fresh haproxy-jwt-es256)
elif [ "$SUITE" = ratelimit ]; then
  # Each limiter beside the same proxy without it, one run apart.
  TARGETS=(vkgw vkgw-ratelimit vkgw-ratelimit-redis vkgw-ratelimit-redis-batch haproxy haproxy-stick nginx
    nginx-limitreq)
elif [ "$SUITE" = geo ]; then
  # Each lookup beside the same proxy without it, and the two lookups side
  # by side.
  TARGETS=(vkgw vkgw-geo vkgw-many vkgw-geo-many nginx-geo-many nginx-many nginx-geo nginx)
elif [ "$SUITE" = retry ]; then
  # The first part: each retry policy beside the same proxy without it.
  TARGETS=(vkgw vkgw-retry haproxy-retry haproxy)
else
  TARGETS=(vkgw-always vkgw-filt-noiso vkgw-filt vkgw floor haproxy nginx vkgw-noiso direct)
fi
readonly TARGETS
# What a target's requests carry (wrk and the checks): set by
# target_credentials before the target starts.
AUTH_CURL=()
AUTH_WRK=()

# The port of the one proxy that is running at any time (lib.sh holds its
# pid, name and log).
PORT=""
ADMIN_PORT="" # vkgw's admin listener, for its counters
# The upstream, which runs for the whole benchmark.
UP_PID=""
UP_PORT=""
UP_LOG=""
WRK_PID="" # the wrk run in progress, if any
declare -A HEADER_BYTES=()
# $RESULTS columns (see measure_wrk): 4=rps 5=p50 6=p99 7=errors 8=proxy cpu%
# 9=upstream cpu% 10=cpu0% 11=cpu1% 12=upstream conns 13=wrk cpu%
# 14=mprotect calls per request (vkgw); lib.sh's sum_errors and
# median_efficiency_ratio read the two named here.
readonly ERRORS_FIELD=7 CPU_FIELD=10

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------- setup

check_setup() {
  [ $# -eq 1 ] || [ $# -eq 2 ] || die 2 "usage: $0 PATH/TO/vkgw [PATH/TO/floor_proxy]"
  [ -x "$1" ] || die 2 "vkgw binary '$1' is missing or not executable (build it first)"
  FLOOR_BIN=${2:-$(dirname "$1")/bench/floor_proxy}
  [ -x "$FLOOR_BIN" ] || die 2 "floor proxy '$FLOOR_BIN' is missing or not executable (make builds it)"
  check_rounds
  require_server nginx "$NGINX_BIN"
  require_server haproxy "$HAPROXY_BIN"
  require_tools wrk curl taskset timeout setsid pgrep python3 redis-server redis-cli
  [ "${#BODY}" -eq "$BODY_BYTES" ] || die 2 "internal: body is ${#BODY} bytes, not $BODY_BYTES"
  require_cpus "$PROXY_CPU" "$CLIENT_CPU"
  [ "$SUITE" != geo ] || check_geo_setup
  [ "$SUITE" != retry ] || check_retry_setup
  # 500 connections take ~1000 fds in a proxy (client and upstream sides).
  raise_fd_limit "500 proxied connections"
}

# The geo suite's databases (without them it skips: exit 0) and nginx's
# geoip2 module (without it, exit 2 like any missing tool).
check_geo_setup() {
  local dir=${BENCH_GEO_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/corpora/maxmind/test-data}
  GEO_COUNTRY_DB=$dir/GeoIP2-Country-Test.mmdb
  GEO_ASN_DB=$dir/GeoLite2-ASN-Test.mmdb
  if [ ! -r "$GEO_COUNTRY_DB" ] || [ ! -r "$GEO_ASN_DB" ]; then
    log "geo suite skipped: MaxMind's test databases GeoIP2-Country-Test.mmdb and GeoLite2-ASN-Test.mmdb" \
      "are not in $dir (set BENCH_GEO_DATA to their directory)"
    exit 0
  fi
  dir=$(cd "$dir" && pwd)
  GEO_COUNTRY_DB=$dir/GeoIP2-Country-Test.mmdb
  GEO_ASN_DB=$dir/GeoLite2-ASN-Test.mmdb
  [ -r "$NGINX_GEOIP2_MODULE" ] || die 2 "nginx's geoip2 module not found at $NGINX_GEOIP2_MODULE" \
    "(libnginx-mod-http-geoip2: run deploy/install-deps.sh)"
}

# The retry suite's load generator, and its offered rate: a whole number
# of requests a second on each of RETRY_CONNS connections.
check_retry_setup() {
  require_tools h2load
  if ! is_uint "$RETRY_RPS" || [ $((RETRY_RPS % RETRY_CONNS)) -ne 0 ]; then
    die 2 "BENCH_RETRY_RPS must be a positive multiple of $RETRY_CONNS (its connections), got '$RETRY_RPS'"
  fi
  h2load --help 2>&1 | grep -q -- '--rps' || die 2 "this h2load has no --rps (nghttp2 1.40 or later has)"
}

cleanup() {
  [ -z "$WRK_PID" ] || kill -TERM "$WRK_PID" 2>/dev/null || true
  stop_server || true
  stop_upstream || true
  stop_endpoints || true
  stop_redis || true
  remove_work
}

# ---------------------------------------------------------------- processes

# Upper bounds on a process's life, so nothing outlives a killed script by
# long. A proxy serves one round's runs; the upstream serves everything.
# (The retry suite's second part runs each proxy twice, and each round
# runs its three proxies after the first part's.)
proxy_time_cap() {
  local runs=${#SCENARIOS[@]}
  [ "$SUITE" != retry ] || runs=2
  echo $((runs * (WARMUP + DURATION + 30) + 60))
}
upstream_time_cap() {
  local per_round=$((${#TARGETS[@]} * ${#SCENARIOS[@]} * (WARMUP + DURATION + 30) + ${#PROXIES[@]} * 60))
  [ "$SUITE" != retry ] || per_round=$((per_round + ${#RETRY_TARGETS[@]} * (2 * (WARMUP + DURATION + 30) + 60)))
  echo $((ROUNDS * per_round + 60))
}

upstream_failed() { failed upstream "$UP_LOG" "$1"; }

# The ratelimit suite's Redis, on the client's core like the upstream (the
# proxy's core pays only for talking to it), no persistence.
REDIS_PID=""
REDIS_PORT=""
start_redis() {
  local attempt port log=$WORK/redis.log
  for attempt in 1 2 3; do
    port=$(free_port)
    launch "$CLIENT_CPU" "$(upstream_time_cap)" "$log" \
      redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$WORK"
    REDIS_PID=$LAUNCHED_PID
    # Redis says when it accepts connections: wait for that line (at
    # most 5 s; it never comes from a Redis that could not bind).
    if grep -q -m1 'Ready to accept connections' < <(timeout 5 tail -n +1 -F "$log" 2>/dev/null) &&
      [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
      REDIS_PORT=$port
      return 0
    fi
    stop_redis
    log "redis-server did not come up on port $port (attempt $attempt)"
  done
  failed redis "$log" "failed to start"
}

stop_redis() {
  [ -n "$REDIS_PID" ] || return 0
  local pid=$REDIS_PID
  REDIS_PID=""
  stop_pid "$pid" redis
}

stop_upstream() {
  [ -n "$UP_PID" ] || return 0
  local pid=$UP_PID
  UP_PID=""
  stop_pid "$pid" upstream
}

write_upstream_conf() { # write_upstream_conf DIR PORT
  write_nginx_conf "$1" "the upstream every proxy talks to." <<EOF
    server {
        listen 127.0.0.1:$2;
        default_type text/plain;
        location / { return 200 "$BODY_NGINX"; }
        # Connections accepted so far: tells whether a proxy reuses them.
        location = $STATUS_PATH { stub_status; }
        # The geo suite's check: the X-Geo-* headers a proxy sent.
        location = $GEO_ECHO_PATH { return 200 "country=\$http_x_geo_country asn=\$http_x_geo_asn"; }
    }
EOF
}

# The upstream announces nothing; poll it until it answers.
start_upstream() {
  local dir=$WORK/upstream attempt port
  mkdir -p "$dir/tmp"
  UP_LOG=$WORK/upstream.log
  for attempt in 1 2 3; do
    port=$(free_port)
    write_upstream_conf "$dir" "$port"
    launch "$CLIENT_CPU" "$(upstream_time_cap)" "$UP_LOG" \
      "$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;'
    UP_PID=$LAUNCHED_PID
    if wait_answering "$UP_PID" "$port"; then
      UP_PORT=$port
      check_body upstream "$UP_PORT" "$UP_LOG" || upstream_failed "does not serve the 1 KiB body"
      return 0
    fi
    cat "$dir/error.log" >>"$UP_LOG" 2>/dev/null || true
    stop_upstream
    log "upstream nginx did not come up on port $port (attempt $attempt)"
  done
  upstream_failed "failed to start"
}

# Connections the upstream has accepted so far (nginx stub_status).
upstream_accepts() {
  curl -s --max-time 2 "http://127.0.0.1:$UP_PORT$STATUS_PATH" |
    awk 'prev { print $1; exit } /accepts/ { prev = 1 }'
}

# ---------------------------------------------------------------- the retry suite's endpoints

# The retry suite's second part: three endpoints, each an nginx of its
# own (one worker, on the client's core, the 1 KiB body), so that each
# one's stub_status counts exactly what it served (the requests that
# reached it, less its own readings; a request in flight as a run
# starts or ends counts in the run it reached the endpoint in, a few out
# of tens of thousands). The last one answers
# RETRY_FLAKY_PATH with a quick 503 to half its requests, picked by
# split_clients on the request's random $request_id; the others answer
# everything with 200.
EP_PIDS=()
EP_PORTS=()
readonly EP_COUNT=3 EP_FAILING=2 # endpoint EP_FAILING (from 0) fails

is_retry_target() { # is_retry_target NAME: a proxy of the second part
  case $1 in vkgw-budget | vkgw-nobudget | haproxy-redispatch) return 0 ;; esac
  return 1
}

endpoint_list() { # the endpoints as the items of a JSON array
  local port out=""
  for port in "${EP_PORTS[@]}"; do out+="${out:+, }\"127.0.0.1:$port\""; done
  echo "$out"
}

write_endpoint_conf() { # write_endpoint_conf DIR PORT FAILING(0|1)
  local split="" flaky=""
  if [ "$3" = 1 ]; then
    split="    split_clients \"\${request_id}\" \$bench_fail { 50% 1; * \"\"; }"
    flaky="        location = $RETRY_FLAKY_PATH {
            if (\$bench_fail) { return 503 \"unavailable\\n\"; }
            return 200 \"$BODY_NGINX\";
        }"
  fi
  write_nginx_conf "$1" "an endpoint of the retry suite$([ "$3" = 0 ] || echo ", failing half of $RETRY_FLAKY_PATH")." <<EOF
$split
    server {
        listen 127.0.0.1:$2;
        default_type text/plain;
        location / { return 200 "$BODY_NGINX"; }
        # Requests and connections so far: what this endpoint served.
        location = $STATUS_PATH { stub_status; }
$flaky
    }
EOF
}

start_endpoints() {
  local i n dir attempt port log codes urls
  for ((i = 0; i < EP_COUNT; i++)); do
    dir=$WORK/endpoint$i
    log=$WORK/endpoint$i.log
    mkdir -p "$dir/tmp"
    for attempt in 1 2 3; do
      port=$(free_port)
      write_endpoint_conf "$dir" "$port" "$([ "$i" = "$EP_FAILING" ] && echo 1 || echo 0)"
      launch "$CLIENT_CPU" "$(upstream_time_cap)" "$log" \
        "$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;'
      if wait_answering "$LAUNCHED_PID" "$port"; then
        EP_PIDS+=("$LAUNCHED_PID")
        EP_PORTS+=("$port")
        break
      fi
      cat "$dir/error.log" >>"$log" 2>/dev/null || true
      stop_pid "$LAUNCHED_PID" endpoint
      log "endpoint $((i + 1)) did not come up on port $port (attempt $attempt)"
      [ "$attempt" -lt 3 ] || failed "endpoint $((i + 1))" "$log" "failed to start"
    done
    check_body "endpoint$i" "$port" "$log" || failed "endpoint $((i + 1))" "$log" "does not serve the 1 KiB body"
    # What it answers on the failing path: 64 requests, both statuses
    # from the failing one (a miss has odds of 2^-63), 200 only from the others.
    urls=()
    for ((n = 0; n < 64; n++)); do urls+=(-o /dev/null "http://127.0.0.1:$port$RETRY_FLAKY_PATH"); done
    codes=$(curl -s --max-time 10 -w '%{http_code}\n' "${urls[@]}" | sort -u | tr '\n' ' ')
    if [ "$i" = "$EP_FAILING" ]; then
      [ "$codes" = "200 503 " ] || failed "endpoint $((i + 1))" "$log" "answered $RETRY_FLAKY_PATH with '$codes', want both 200 and 503"
    else
      [ "$codes" = "200 " ] || failed "endpoint $((i + 1))" "$log" "answered $RETRY_FLAKY_PATH with '$codes', want 200 only"
    fi
  done
  log "endpoints 1 to $EP_COUNT on ports ${EP_PORTS[*]} (endpoint $((EP_FAILING + 1)) fails half of $RETRY_FLAKY_PATH)"
}

stop_endpoints() {
  local pid
  for pid in "${EP_PIDS[@]}"; do stop_pid "$pid" endpoint; done
  EP_PIDS=()
}

# "ACCEPTS REQUESTS" of each endpoint in turn, from its stub_status (each
# reading counts itself: one connection and one request).
endpoint_counts() {
  local port line
  for port in "${EP_PORTS[@]}"; do
    line=$(curl -s --max-time 2 "http://127.0.0.1:$port$STATUS_PATH" | awk 'NR == 3 { print $1, $3 }')
    echo "${line:-NA NA}"
  done | tr '\n' ' '
}

# CPU ticks of the three endpoints (masters and workers).
endpoints_cpu_ticks() {
  local pid total=0
  for pid in "${EP_PIDS[@]}"; do total=$((total + $(group_cpu_ticks "$pid"))); done
  echo "$total"
}

# A proxy in front of the endpoints must use all three: 30 requests on one
# client connection reach each of them (round robin: 10 each).
check_endpoints_used() {
  local before after i urls=()
  for ((i = 0; i < 30; i++)); do urls+=(-o /dev/null "http://127.0.0.1:$PORT/"); done
  read -r -a before <<<"$(endpoint_counts)"
  curl -s --max-time 10 "${urls[@]}" || server_failed "30 requests on one connection failed"
  read -r -a after <<<"$(endpoint_counts)"
  for ((i = 0; i < EP_COUNT; i++)); do
    if [ "${after[2 * i + 1]}" = NA ] || [ "${before[2 * i + 1]}" = NA ]; then
      server_failed "endpoint $((i + 1))'s stub_status did not answer"
    fi
    if [ $((after[2 * i + 1] - before[2 * i + 1] - 1)) -lt 5 ]; then
      server_failed "sent $((after[2 * i + 1] - before[2 * i + 1] - 1)) of 30 requests to endpoint $((i + 1)), want about 10"
    fi
  done
}

start_vkgw() { # start_vkgw [NAME [VKGW_ARGS...]]
  local conf=$WORK/vkgw.json name=${1:-vkgw} filters="" geo=""
  local endpoints="\"127.0.0.1:$UP_PORT\"" upstream_extra="" proxy_extra=""
  shift || true
  case $name in
    # The retry suite: the filter as a route would have it, with a
    # deadline of its own, nothing failing.
    vkgw-retry)
      filters='"filters": [ { "type": "retry", "attempts": 3, "per_try_timeout_ms": 1000, "retry_on": [ "connect-failure", "reset", "timeout" ], "on_statuses": [ 502, 503, 504 ] } ],'
      proxy_extra=', "timeout_ms": 5000' ;;
    # In front of the three endpoints, one of them failing: retry on
    # its 503, within the upstream's retry budget or without one.
    vkgw-budget | vkgw-nobudget)
      endpoints=$(endpoint_list)
      filters='"filters": [ { "type": "retry", "attempts": 3, "on_statuses": [ 503 ] } ],'
      if [ "$name" = vkgw-budget ]; then
        upstream_extra=', "retry_budget": { "percent": 20, "min_per_second": 10 }'
      else
        upstream_extra=', "retry_budget": { "enabled": false }'
      fi ;;
    vkgw-filt*)
      filters='"filters": [ { "type": "request_id" }, { "type": "headers", "response": { "add": { "x-served-by": "vkgw" } } } ],' ;;
    vkgw-apikey) filters='"filters": [ { "type": "api_key", "keys": [ { "consumer": "bench", "key": "'$API_KEY'" } ] } ],' ;;
    vkgw-jwt-es256) filters='"filters": [ { "type": "jwt", "providers": [ { "name": "es", "keys_file": "'$AUTH_DIR'/es256.pem" } ] } ],' ;;
    vkgw-jwt-rs256) filters='"filters": [ { "type": "jwt", "providers": [ { "name": "rs", "keys_file": "'$AUTH_DIR'/rs256.pem" } ] } ],' ;;
    vkgw-jwt-es256-fresh)
      filters='"filters": [ { "type": "jwt", "cache_seconds": 0, "providers": [ { "name": "es", "keys_file": "'$AUTH_DIR'/es256.pem" } ] } ],' ;;
    # A limit per client address high enough never to refuse: the cost
    # of counting. No RateLimit headers, as the anchors send none.
    vkgw-ratelimit)
      filters='"filters": [ { "type": "rate_limit", "headers": "none", "rules": [ { "name": "per-client", "key": [ "client_address" ], "rate": 1000000000, "period_seconds": 1 } ] } ],' ;;
    # The same in Redis (its clock counts microseconds: a million a
    # second is its highest rate), every request a call, or 100 tokens
    # a call.
    vkgw-ratelimit-redis | vkgw-ratelimit-redis-batch)
      local batch=1
      [ "$name" = vkgw-ratelimit-redis ] || batch=100
      filters='"filters": [ { "type": "rate_limit", "headers": "none", "mode": "redis", "redis": { "address": "127.0.0.1:'$REDIS_PORT'", "batch": '$batch' }, "rules": [ { "name": "per-client", "key": [ "client_address" ], "rate": 1000000, "period_seconds": 1 } ] } ],' ;;
    # A lookup per request in both databases, the client from
    # X-Forwarded-For when the peer is loopback, two headers upstream.
    vkgw-geo | vkgw-geo-many)
      geo=$'\n  ''"geo": { "databases": { "country": "'$GEO_COUNTRY_DB'", "asn": "'$GEO_ASN_DB'" }, "client_address": { "from": "x-forwarded-for", "trusted_cidrs": [ "127.0.0.0/8" ] } },'
      filters='"filters": [ { "type": "geo", "headers": { "country": "X-Geo-Country", "asn": "X-Geo-ASN" } } ],' ;;
  esac
  # Port 0: the kernel picks a free port and vkgw prints it, so no race.
  cat >"$conf" <<EOF
{
  "listeners": [ { "name": "bench", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "upstreams": { "upstream": { "endpoints": [$endpoints]$upstream_extra } },$geo
  "routes": [ { "name": "all", $filters "action": { "proxy": { "upstream": "upstream"$proxy_extra } } } ]
}
EOF
  SERVER_NAME=$name
  SERVER_LOG=$WORK/$name.log
  launch "$PROXY_CPU" "$(proxy_time_cap)" "$SERVER_LOG" "$VKGW_BIN" -c "$conf" -k 1 "$@"
  SERVER_PID=$LAUNCHED_PID
  # The admin listener is announced second.
  wait_listening 2
  ADMIN_PORT=$LISTEN_PORT
  wait_listening 1
  PORT=$LISTEN_PORT
  check_proxy
  [ "$SUITE" != geo ] || check_geo "$name"
  ! is_retry_target "$name" || check_endpoints_used
}

# The floor proxy announces its port like vkgw.
start_floor() {
  SERVER_NAME=floor
  SERVER_LOG=$WORK/floor.log
  launch "$PROXY_CPU" "$(proxy_time_cap)" "$SERVER_LOG" "$FLOOR_BIN" -u "127.0.0.1:$UP_PORT" -l 127.0.0.1:0
  SERVER_PID=$LAUNCHED_PID
  wait_listening 1
  PORT=$LISTEN_PORT
  check_proxy
}

# HAProxy 2.6's jwt_verify (no cache: every request is verified) on the
# Bearer token, 401 unless it verifies; nothing for plain HAProxy.
haproxy_jwt_lines() { # haproxy_jwt_lines NAME
  [ "$1" = haproxy-jwt-es256 ] || return 0
  echo "    http-request set-var(txn.bearer) http_auth_bearer"
  echo "    http-request return status 401 unless { var(txn.bearer),jwt_verify(\"ES256\",\"$AUTH_DIR/es256.pem\") -m int 1 }"
}

# HAProxy's stick table: the request rate per source address, tracked for
# every request and tested against a limit never reached.
haproxy_stick_lines() { # haproxy_stick_lines NAME
  [ "$1" = haproxy-stick ] || return 0
  echo "    stick-table type ip size 100k expire 30s store http_req_rate(1s)"
  echo "    http-request track-sc0 src"
  echo "    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 1000000000 }"
}

# The backend's servers: the upstream, or the retry suite's three
# endpoints; and for the retry targets, a fixed policy: up to 3 retries,
# each to another server than the last (redispatch on every retry), on a
# 503 from the server.
haproxy_backend_lines() { # haproxy_backend_lines NAME
  local port
  case $1 in
    haproxy-retry | haproxy-redispatch)
      echo "    retries 3"
      echo "    option redispatch 1"
      echo "    retry-on 503"
      ;;
  esac
  if [ "$1" = haproxy-redispatch ]; then
    echo "    balance roundrobin"
    for port in "${EP_PORTS[@]}"; do echo "    server ep$port 127.0.0.1:$port"; done
  else
    echo "    server up 127.0.0.1:$UP_PORT"
  fi
}

write_haproxy_conf() { # write_haproxy_conf FILE PORT [NAME]
  cat >"$1" <<EOF
# Generated by bench/bench-proxy.sh: HAProxy, one thread, keep-alive both sides.
global
    nbthread 1
    maxconn 8192
    pidfile $WORK/haproxy.pid

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 60s

frontend bench
    bind 127.0.0.1:$2
    maxconn 8192
$(haproxy_jwt_lines "${3:-haproxy}")
$(haproxy_stick_lines "${3:-haproxy}")
    default_backend upstream

backend upstream
$(haproxy_backend_lines "${3:-haproxy}")
EOF
}

# nginx's limit_req per client address, at a rate never reached.
nginx_limit_zone() { # nginx_limit_zone NAME
  [ "$1" = nginx-limitreq ] || return 0
  echo "    limit_req_zone \$binary_remote_addr zone=perclient:10m rate=1000000000r/s;"
}
nginx_limit_req() { # nginx_limit_req NAME
  [ "$1" = nginx-limitreq ] || return 0
  echo "            limit_req zone=perclient burst=1000000 nodelay;"
}

# nginx's geoip2 module: a lookup in each database, the client address
# from X-Forwarded-For when the peer is loopback (realip, built into
# nginx-light), the answers in two headers upstream.
nginx_geo_main() { # nginx_geo_main NAME
  [[ $1 == nginx-geo* ]] || return 0
  echo "load_module $NGINX_GEOIP2_MODULE;"
}
nginx_geo_http() { # nginx_geo_http NAME
  [[ $1 == nginx-geo* ]] || return 0
  echo "    geoip2 $GEO_COUNTRY_DB { \$geo_country country iso_code; }"
  echo "    geoip2 $GEO_ASN_DB { \$geo_asn autonomous_system_number; }"
  echo "    set_real_ip_from 127.0.0.0/8;"
  echo "    real_ip_header X-Forwarded-For;"
}
nginx_geo_location() { # nginx_geo_location NAME
  [[ $1 == nginx-geo* ]] || return 0
  echo "            proxy_set_header X-Geo-Country \$geo_country;"
  echo "            proxy_set_header X-Geo-ASN \$geo_asn;"
}

write_nginx_proxy_conf() { # write_nginx_proxy_conf DIR PORT [NAME]
  write_nginx_conf "$1" "nginx as a reverse proxy, keep-alive both sides." "$(nginx_geo_main "${3:-nginx}")" <<EOF
$(nginx_limit_zone "${3:-nginx}")
$(nginx_geo_http "${3:-nginx}")
    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive $NGINX_PROXY_KEEPALIVE;
        keepalive_requests 10000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$2;
        location / {
$(nginx_limit_req "${3:-nginx}")
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
$(nginx_geo_location "${3:-nginx}")
        }
    }
EOF
}

# HAProxy and nginx announce nothing: pick a port, poll it, retry on a lost
# port race.
start_polled() { # start_polled haproxy|nginx
  local name=$1 dir=$WORK/$1 attempt port cmd
  mkdir -p "$dir/tmp"
  SERVER_NAME=$name
  SERVER_LOG=$WORK/$name.log
  for attempt in 1 2 3; do
    port=$(free_port)
    if [[ $name == haproxy* ]]; then
      write_haproxy_conf "$dir/haproxy.cfg" "$port" "$name"
      cmd=("$HAPROXY_BIN" -db -f "$dir/haproxy.cfg")
    else
      write_nginx_proxy_conf "$dir" "$port" "$name"
      cmd=("$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;')
    fi
    launch "$PROXY_CPU" "$(proxy_time_cap)" "$SERVER_LOG" "${cmd[@]}"
    SERVER_PID=$LAUNCHED_PID
    if wait_answering "$SERVER_PID" "$port"; then
      PORT=$port
      check_proxy
      [ "$SUITE" != geo ] || check_geo "$name"
      ! is_retry_target "$name" || check_endpoints_used
      return 0
    fi
    cat "$dir/error.log" >>"$SERVER_LOG" 2>/dev/null || true
    stop_server
    log "$name did not come up on port $port (attempt $attempt)"
  done
  server_failed "failed to start"
}

# GET / on PORT must answer 200 with exactly the upstream's 1 KiB body.
# Records the response's header bytes under NAME.
check_body() { # check_body NAME PORT LOGFILE
  local name=$1 url="http://127.0.0.1:$2/" body=$WORK/body.$1 meta code hdr
  if ! meta=$(curl -sS --max-time 5 "${AUTH_CURL[@]}" -o "$body" -w '%{http_code} %{size_header}' "$url"); then
    log "$name: no answer to a plain GET on port $2"
    return 1
  fi
  read -r code hdr <<<"$meta"
  if [ "$code" != 200 ]; then
    log "$name: GET / returned HTTP $code, want 200"
    return 1
  fi
  if [ "$(cat "$body"; echo x)" != "${BODY}x" ]; then
    log "$name: body is not the upstream's $BODY_BYTES-byte body ($(wc -c <"$body") bytes)"
    return 1
  fi
  HEADER_BYTES[$name]=$hdr
}

# A proxy must pass the upstream's body through, keep the client connection
# open, and not open a new upstream connection per request.
check_proxy() {
  local url="http://127.0.0.1:$PORT/" a0 a1
  check_body "$SERVER_NAME" "$PORT" "$SERVER_LOG" || server_failed "does not proxy to the upstream"
  keeps_alive "$url" || log "warning: $SERVER_NAME closed the client connection after one request (no keep-alive)"
  # Ten requests on one client connection: a proxy that keeps its upstream
  # connection alive opens at most one (the status request itself is one
  # more).
  local urls=() i
  for ((i = 0; i < 10; i++)); do urls+=(-o /dev/null "$url"); done
  a0=$(upstream_accepts)
  curl -s --max-time 10 "${AUTH_CURL[@]}" "${urls[@]}" || server_failed "10 requests on one connection failed"
  a1=$(upstream_accepts)
  if [ -n "$a0" ] && [ -n "$a1" ] && [ $((a1 - a0 - 1)) -gt 1 ]; then
    log "warning: $SERVER_NAME opened $((a1 - a0 - 1)) upstream connections for 10 requests on one client connection (no upstream keep-alive)"
  fi
}

# The geo suite: with the client's X-Forwarded-For, the upstream must get
# X-Geo-Country and X-Geo-ASN with the databases' answer from a geo
# target, and neither from a plain one.
check_geo() { # check_geo NAME
  local got want="country= asn="
  [[ $1 != *-geo && $1 != *-geo-many ]] || want="country=$GEO_WANT_COUNTRY asn=$GEO_WANT_ASN"
  got=$(curl -s --max-time 5 "${AUTH_CURL[@]}" "http://127.0.0.1:$PORT$GEO_ECHO_PATH") ||
    server_failed "no answer on $GEO_ECHO_PATH"
  [ "$got" = "$want" ] || server_failed "the upstream got '$got' for X-Forwarded-For $GEO_CLIENT, want '$want'"
  log "$1: the upstream got $want"
}

# ---------------------------------------------------------------- wrk

# "BUSY TOTAL" ticks of CPU N so far, from /proc/stat (idle and iowait are
# not busy; softirq work done for anyone on that CPU is; steal, time the
# hypervisor gave to another guest, is not, though it counts in the total).
cpu_ticks() { # cpu_ticks N
  awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 - $9, t }' /proc/stat
}

# CPU ticks of this shell's reaped children so far (cutime + cstime): read
# around `wait` for wrk, it is wrk's CPU time (plus a few ms of helpers).
children_cpu_ticks() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }

# Percent busy of CPU 0 and of CPU 1 over HALF a second: "BUSY0 BUSY1".
sample_busy() {
  local a0 t0 a1 t1 b0 u0 b1 u1
  read -r a0 t0 < <(cpu_ticks "$PROXY_CPU")
  read -r a1 t1 < <(cpu_ticks "$CLIENT_CPU")
  sleep 0.5
  read -r b0 u0 < <(cpu_ticks "$PROXY_CPU")
  read -r b1 u1 < <(cpu_ticks "$CLIENT_CPU")
  awk -v a="$((b0 - a0))" -v t="$((u0 - t0))" -v c="$((b1 - a1))" -v u="$((u1 - t1))" \
    'BEGIN { printf "%d %d\n", (t > 0 ? 100 * a / t : 0), (u > 0 ? 100 * c / u : 0) }'
}

# Between runs our servers are idle, so busy CPUs mean other people's work
# (a compile, say). Give it up to QUIET_WAIT_MAX seconds to pass.
wait_quiet() {
  local i b0 b1
  for ((i = 0; i < 2 * QUIET_WAIT_MAX; i++)); do
    read -r b0 b1 <<<"$(sample_busy)"
    [ "$b0" -gt "$QUIET_MAX" ] || [ "$b1" -gt "$QUIET_MAX" ] || return 0
  done
  log "machine still busy before the run (CPU 0 ${b0}%, CPU 1 ${b1}%); running anyway"
}

# One measured run, repeated once (while the retry allowance lasts: a
# quarter of the runs) if other processes took more than OTHER_LOAD_MAX% of
# a CPU during it. Appends the last attempt's line to $RESULTS.
# Unmeasured load at the scenario's connection count; its connections
# close before the measured run opens its own.
warm_up() { # warm_up SCENARIO PORT
  [ "$WARMUP" -gt 0 ] || return 0
  timeout -k 2 $((WARMUP + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 "-c${SCENARIO_CONNS[$1]}" "-d${WARMUP}s" "${AUTH_WRK[@]}" "http://127.0.0.1:$2/" >/dev/null 2>&1 </dev/null || true
}

run_wrk() { # run_wrk ROUND LABEL SCENARIO PORT
  local attempt o0 o1
  local max_retries=$(((ROUNDS * ${#TARGETS[@]} * ${#SCENARIOS[@]} + 3) / 4))
  for attempt in 1 2; do
    warm_up "$3" "$4"
    wait_quiet
    measure_wrk "$@"
    read -r o0 o1 <<<"$LAST_OTHER"
    if [ "$o0" -le "$OTHER_LOAD_MAX" ] && [ "$o1" -le "$OTHER_LOAD_MAX" ]; then break; fi
    if [ "$attempt" -eq 1 ] && [ "$RETRIES_USED" -lt "$max_retries" ]; then
      RETRIES_USED=$((RETRIES_USED + 1))
      log "others took CPU 0 ${o0}% / CPU 1 ${o1}% during that run; running it again"
    else
      break
    fi
  done
  echo "$LAST_LINE" >>"$RESULTS"
}

# "MPROTECTS REQUESTS" of the running vkgw, from its admin /stats.
vkgw_counters() {
  curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/stats" |
    python3 -c 'import json, sys; d = json.load(sys.stdin)["total"]; print(d["vkern"]["mprotects"], d["requests"])' 2>/dev/null ||
    true
}

# One wrk run against PORT; sets LAST_LINE to the line for $RESULTS:
# ROUND LABEL SCENARIO RPS P50 P99 ERRORS PROXY_CPU% UPSTREAM_CPU% CPU0_BUSY% CPU1_BUSY% UPSTREAM_CONNS WRK_CPU%
# MPROTECTS_PER_REQUEST (vkgw's, from its /stats; NA for the others)
# (PROXY_CPU is NA for the direct run: there is no proxy) and LAST_OTHER to
# "OTHER0 OTHER1" (see other_load).
measure_wrk() { # measure_wrk ROUND LABEL SCENARIO PORT
  local round=$1 label=$2 scenario=$3 port=$4 out stats t0 t1 ns v0="" v1="" mpr=NA
  local p0 p1 u0 u1 w0 w1 a0 a1 c0b c0t c0b1 c0t1 c1b c1t c1b1 c1t1 proxy_cpu up_cpu wrk_cpu cpu0 cpu1 up_conns
  local args=(-t1 "-c${SCENARIO_CONNS[$scenario]}" "-d${DURATION}s" --latency "${AUTH_WRK[@]}")
  out="$WORK/wrk.r$round.$label.$scenario.txt"
  a0=$(upstream_accepts)
  [[ $label != vkgw* ]] || v0=$(vkgw_counters)
  w0=$(children_cpu_ticks)
  # In the background so that `wait` lets an INT/TERM trap run at once.
  timeout -k 2 $((DURATION + 30)) \
    taskset -c "$CLIENT_CPU" wrk "${args[@]}" "http://127.0.0.1:$port/" >"$out" 2>&1 </dev/null &
  WRK_PID=$!
  p0=$(group_cpu_ticks "$SERVER_PID")
  u0=$(group_cpu_ticks "$UP_PID")
  read -r c0b c0t < <(cpu_ticks "$PROXY_CPU")
  read -r c1b c1t < <(cpu_ticks "$CLIENT_CPU")
  t0=$(date +%s%N)
  wait "$WRK_PID" || true
  w1=$(children_cpu_ticks)
  p1=$(group_cpu_ticks "$SERVER_PID")
  u1=$(group_cpu_ticks "$UP_PID")
  read -r c0b1 c0t1 < <(cpu_ticks "$PROXY_CPU")
  read -r c1b1 c1t1 < <(cpu_ticks "$CLIENT_CPU")
  t1=$(date +%s%N)
  WRK_PID=
  a1=$(upstream_accepts)
  [[ $label != vkgw* ]] || v1=$(vkgw_counters)
  [ -z "$v0" ] || [ -z "$v1" ] || mpr=$(awk -v a="$v0" -v b="$v1" 'BEGIN {
    split(a, x); split(b, y); printf "%.2f\n", (y[2] > x[2] ? (y[1] - x[1]) / (y[2] - x[2]) : 0) }')
  ns=$((t1 - t0))
  # Proxy CPU near 100% means the proxy is the limit; CPU 1 near 100% means
  # wrk and the upstream together are.
  if [ "$label" = direct ]; then proxy_cpu=NA; else proxy_cpu=$(ticks_pct $((p1 - p0)) "$ns"); fi
  up_cpu=$(ticks_pct $((u1 - u0)) "$ns")
  wrk_cpu=$(ticks_pct $((w1 - w0)) "$ns")
  # One decimal: it divides req/s into req per CPU-s.
  cpu0=$(awk -v b=$((c0b1 - c0b)) -v t=$((c0t1 - c0t)) 'BEGIN { printf "%.1f\n", (t > 0 ? 100 * b / t : 0) }')
  cpu1=$(awk -v b=$((c1b1 - c1b)) -v t=$((c1t1 - c1t)) 'BEGIN { printf "%.0f\n", (t > 0 ? 100 * b / t : 0) }')
  # Upstream connections opened during the run (minus the status request).
  up_conns=NA
  [ -z "$a0" ] || [ -z "$a1" ] || up_conns=$((a1 - a0 - 1))
  [ "$label" = direct ] || server_alive || server_failed "died during wrk run ($scenario)"
  alive "$UP_PID" || upstream_failed "died during wrk run ($label, $scenario)"
  LAST_OTHER=$(other_load "$proxy_cpu" "$cpu0" "$up_cpu" "$wrk_cpu" "$cpu1")
  if stats=$(parse_wrk "$out"); then
    LAST_LINE="$round $label $scenario $stats $proxy_cpu $up_cpu $cpu0 $cpu1 $up_conns $wrk_cpu $mpr"
    log "round $round: $label, ${SCENARIO_LABEL[$scenario]}: $(fmt_stats "$stats"), proxy CPU $(fmt_pct "$proxy_cpu"), CPU 0 ${cpu0}%$([ "$label" = direct ] || echo " ($(fmt_rps "$(efficiency "${stats%% *}" "$cpu0")") req per CPU-s)"), CPU 1 ${cpu1}% (upstream ${up_cpu}%, wrk ${wrk_cpu}%)$([ "$mpr" = NA ] || echo ", $mpr mprotect calls per request")"
  else
    LAST_LINE="$round $label $scenario NA NA NA NA $proxy_cpu $up_cpu $cpu0 $cpu1 $up_conns $wrk_cpu $mpr"
    log "round $round: $label, ${SCENARIO_LABEL[$scenario]}: wrk produced no numbers; its output:"
    cat "$out" >&2
  fi
}

# Requests per CPU-second of the proxy's core: req/s over CPU 0's busy
# fraction (everything CPU 0 did during the run: the proxy's user and system
# time, the softirq work of its sends; others' share is reported as
# disturbance).
efficiency() { # efficiency RPS CPU0_BUSY_PCT
  awk -v r="$1" -v c="$2" 'BEGIN { if (r == "NA" || c == "NA" || c + 0 <= 0) print "NA"; else printf "%.2f\n", r / (c / 100) }'
}

# Median over rounds of LABEL's req per CPU-s.
median_efficiency() { # median_efficiency LABEL SCENARIO
  awk -v l="$1" -v s="$2" -v c="$CPU_FIELD" '$2 == l && $3 == s {
    if ($4 == "NA" || $c == "NA" || $c + 0 <= 0) print "NA"; else print $4 / ($c / 100) }' "$RESULTS" | median
}

# ---------------------------------------------------------------- report

# "OTHER0 OTHER1": percent of CPU 0 and CPU 1 that went to processes other
# than the proxy, the upstream and wrk during a run (never below 0).
other_load() { # other_load PROXY_CPU CPU0 UPSTREAM_CPU WRK_CPU CPU1
  awk -v p="$1" -v c0="$2" -v u="$3" -v w="$4" -v c1="$5" 'BEGIN {
    o0 = c0 - (p == "NA" ? 0 : p); o1 = c1 - u - w
    printf "%d %d\n", (o0 > 0 ? o0 : 0), (o1 > 0 ? o1 : 0) }'
}

# Runs in which others took more than OTHER_LOAD_MAX% of CPU 0 or CPU 1.
disturbed_runs() {
  local round label scenario rps p50 p99 errors pcpu ucpu cpu0 cpu1 conns wcpu mpr o0 o1
  while read -r round label scenario rps p50 p99 errors pcpu ucpu cpu0 cpu1 conns wcpu mpr; do
    read -r o0 o1 <<<"$(other_load "$pcpu" "$cpu0" "$ucpu" "$wcpu" "$cpu1")"
    [ "$o0" -le "$OTHER_LOAD_MAX" ] && [ "$o1" -le "$OTHER_LOAD_MAX" ] ||
      echo "round $round $label ${SCENARIO_LABEL[$scenario]} (others: CPU 0 ${o0}%, CPU 1 ${o1}%)"
  done <"$RESULTS"
}

print_runs() {
  echo
  echo "### Per-run results (${DURATION}s each; proxy on CPU $PROXY_CPU; wrk -t1 and upstream on CPU $CLIENT_CPU)"
  echo
  echo "| round | target | scenario | req/s | p50 | p99 | errors | proxy CPU | CPU 0 busy | req per CPU-s | upstream CPU | wrk CPU | CPU 1 busy | others (CPU 0 / 1) | upstream conns opened | mprotect calls per request |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local round label scenario rps p50 p99 errors pcpu ucpu cpu0 cpu1 conns wcpu mpr o0 o1
  while read -r round label scenario rps p50 p99 errors pcpu ucpu cpu0 cpu1 conns wcpu mpr; do
    read -r o0 o1 <<<"$(other_load "$pcpu" "$cpu0" "$ucpu" "$wcpu" "$cpu1")"
    echo "| $round | $label | ${SCENARIO_LABEL[$scenario]} | $(fmt_rps "$rps") | $(fmt_us "$p50") |" \
      "$(fmt_us "$p99") | $errors | $(fmt_pct "$pcpu") | ${cpu0}% |" \
      "$(if [ "$label" = direct ]; then echo n/a; else fmt_rps "$(efficiency "$rps" "$cpu0")"; fi) |" \
      "${ucpu}% | ${wcpu}% | ${cpu1}% |" \
      "${o0}% / ${o1}% | $conns | $mpr |"
  done <"$RESULTS"
}

# One summary row: medians of vkgw and B, the ratio, and the goal verdict
# (req/s ratio >= GOAL and vkgw's p99 strictly lower).
summary_row() { # summary_row B SCENARIO GOAL_RATIO
  local a=vkgw b=$1 scenario=$2 goal=$3
  local rps_a rps_b p99_a p99_b ratio verdict errors
  rps_a=$(col_median "$a" "$scenario" 4)
  rps_b=$(col_median "$b" "$scenario" 4)
  p99_a=$(col_median "$a" "$scenario" 6)
  p99_b=$(col_median "$b" "$scenario" 6)
  ratio=$(median_ratio "$a" "$b" "$scenario")
  verdict=$(awk -v r="$ratio" -v g="$goal" -v pa="$p99_a" -v pb="$p99_b" 'BEGIN {
    if (r == "NA" || pa == "NA" || pb == "NA") { print "NOT MET (no data)"; exit }
    why = ""
    if (r + 0 < g + 0) why = "req/s"
    if (pa + 0 >= pb + 0) why = why (why == "" ? "" : " and ") "p99"
    print (why == "" ? "MET" : "NOT MET (" why ")") }')
  errors=$(($(sum_errors "$a" "$scenario") + $(sum_errors "$b" "$scenario")))
  [ "$errors" -eq 0 ] || verdict="$verdict ($errors wrk errors)"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "vkgw vs $b, ${SCENARIO_LABEL[$scenario]}" \
    "$(fmt_rps "$rps_a") / $(fmt_rps "$rps_b")" \
    "$(fmt_ratio "$ratio")" \
    "$(fmt_us "$(col_median "$a" "$scenario" 5)") / $(fmt_us "$(col_median "$b" "$scenario" 5)")" \
    "$(fmt_us "$p99_a") / $(fmt_us "$p99_b")" \
    "$(fmt_pct "$(col_median "$a" "$scenario" 10)") / $(fmt_pct "$(col_median "$b" "$scenario" 10)")" \
    "$(fmt_ratio "$(median_efficiency_ratio "$a" "$b" "$scenario")")" \
    "$(fmt_pct "$(col_median "$a" "$scenario" 11)") / $(fmt_pct "$(col_median "$b" "$scenario" 11)")" \
    "$(fmt_ratio "$(median_ratio direct "$b" "$scenario")")" \
    ">= ${goal}x, p99 lower" \
    "$verdict"
}

# Isolation's cost: vkgw isolated (label A) against the same without
# isolation (label B).
isolation_row() { # isolation_row A B WHAT SCENARIO
  local a=$1 b=$2 what=$3 scenario=$4 eff verdict errors
  eff=$(median_efficiency_ratio "$a" "$b" "$scenario")
  verdict=$(awk -v r="$eff" -v g="$GOAL_ISOLATION" 'BEGIN {
    if (r == "NA") print "NOT MET (no data)"; else print (r + 0 >= g + 0 ? "MET" : "NOT MET") }')
  errors=$(($(sum_errors "$a" "$scenario") + $(sum_errors "$b" "$scenario")))
  [ "$errors" -eq 0 ] || verdict="$verdict ($errors wrk errors)"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$what" "${SCENARIO_LABEL[$scenario]}" \
    "$(fmt_rps "$(col_median "$a" "$scenario" 4)") / $(fmt_rps "$(col_median "$b" "$scenario" 4)")" \
    "$(fmt_pct "$(col_median "$a" "$scenario" 10)") / $(fmt_pct "$(col_median "$b" "$scenario" 10)")" \
    "$(fmt_ratio "$eff")" \
    "$(col_median "$a" "$scenario" 14) / $(col_median "$b" "$scenario" 14)" \
    ">= ${GOAL_ISOLATION}x" "$verdict"
}

# vkgw as LABEL against the floor, HAProxy and nginx in requests per
# CPU-second of CPU 0 (medians of per-round ratios), with the p99s. Goal:
# >= GOAL_VS_FLOOR of the floor, and a p99 strictly below HAProxy's and
# nginx's. Sets FLOOR_VERDICT.
floor_row() { # floor_row LABEL SCENARIO
  local a=$1 scenario=$2 r_floor p99_a p99_f p99_h p99_n errors t
  r_floor=$(median_efficiency_ratio "$a" floor "$scenario")
  p99_a=$(col_median "$a" "$scenario" 6)
  p99_f=$(col_median floor "$scenario" 6)
  p99_h=$(col_median haproxy "$scenario" 6)
  p99_n=$(col_median nginx "$scenario" 6)
  FLOOR_VERDICT=$(awk -v r="$r_floor" -v g="$GOAL_VS_FLOOR" -v pa="$p99_a" -v ph="$p99_h" -v pn="$p99_n" 'BEGIN {
    if (r == "NA" || pa == "NA" || ph == "NA" || pn == "NA") { print "NOT MET (no data)"; exit }
    why = ""
    if (r + 0 < g + 0) why = "req per CPU-s"
    if (pa + 0 >= ph + 0 || pa + 0 >= pn + 0) why = why (why == "" ? "" : " and ") "p99"
    print (why == "" ? "MET" : "NOT MET (" why ")") }')
  errors=0
  for t in "$a" floor haproxy nginx; do errors=$((errors + $(sum_errors "$t" "$scenario"))); done
  [ "$errors" -eq 0 ] || FLOOR_VERDICT="$FLOOR_VERDICT ($errors wrk errors)"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    "$a" "${SCENARIO_LABEL[$scenario]}" \
    "$(fmt_rps "$(col_median "$a" "$scenario" 4)")" \
    "$(fmt_rps "$(median_efficiency "$a" "$scenario")")" \
    "$(fmt_ratio "$r_floor")" \
    "$(fmt_ratio "$(median_efficiency_ratio "$a" haproxy "$scenario")")" \
    "$(fmt_ratio "$(median_efficiency_ratio "$a" nginx "$scenario")")" \
    "$(fmt_us "$p99_a") / $(fmt_us "$p99_f") / $(fmt_us "$p99_h") / $(fmt_us "$p99_n")" \
    ">= ${GOAL_VS_FLOOR}x floor, p99 lowest of the three" \
    "$FLOOR_VERDICT"
}

print_floor_table() {
  local s t goal=MET
  echo
  echo "### vkgw against the floor, HAProxy and nginx in requests per CPU-second of CPU $PROXY_CPU (medians of $ROUNDS rounds; ratio = median of per-round ratios)"
  echo
  echo "| vkgw | scenario | req/s | req per CPU-s | vkgw/floor | vkgw/HAProxy | vkgw/nginx | p99 (vkgw / floor / HAProxy / nginx) | goal | result |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|---|"
  for t in vkgw vkgw-filt vkgw-always; do
    for s in "${SCENARIOS[@]}"; do
      floor_row "$t" "$s"
      [ "$t" != vkgw ] || [ "$FLOOR_VERDICT" = MET ] || goal="NOT MET"
    done
  done
  echo
  echo "vkgw: as shipped (isolation \"filters\", no filter on the route); vkgw-filt: the route runs the"
  echo "request_id and headers filters; vkgw-always: --isolation always. The floor copies bytes between"
  echo "each client connection and its own upstream connection, with no HTTP."
  echo
  echo "**Goal (vkgw as shipped, 50 and 500 connections): >= ${GOAL_VS_FLOOR}x the floor in requests per CPU-second," \
    "and the lowest p99 of vkgw, HAProxy and nginx: $goal**"
}

print_summary() {
  local s t
  print_floor_table
  echo
  echo "### Isolation on vs --no-isolation (medians of $ROUNDS rounds)"
  echo
  echo "| isolation, route | scenario | req/s (on / off) | CPU 0 busy (on / off) | req per CPU-s ratio on/off | mprotect calls per request (on / off) | goal | result |"
  echo "|---|---|---:|---:|---:|---:|---|---|"
  for s in "${SCENARIOS[@]}"; do
    isolation_row vkgw vkgw-noiso "filters (default), no filter" "$s"
    isolation_row vkgw-filt vkgw-filt-noiso "filters (default), request_id + headers (built-in)" "$s"
    isolation_row vkgw-always vkgw-noiso "always, no filter" "$s"
  done
  echo
  echo "### Summary (medians of $ROUNDS rounds; ratio = median of per-round ratios)"
  echo
  echo "| comparison A vs B | req/s (A / B) | ratio A/B | p50 (A / B) | p99 (A / B) | CPU 0 busy (A / B) | req per CPU-s ratio | CPU 1 busy (A / B) | direct/B | goal | result |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
  for s in "${SCENARIOS[@]}"; do
    summary_row haproxy "$s" "$GOAL_VS_HAPROXY"
    summary_row nginx "$s" "$GOAL_VS_NGINX"
  done
  echo
  echo "Reference: the same load straight to the upstream (no proxy), and what each proxy costs"
  echo
  echo "| target | scenario | req/s | p50 | p99 | proxy CPU | CPU 0 busy | req per CPU-s | ratio to the floor | upstream CPU | wrk CPU | CPU 1 busy | upstream conns opened per run |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for s in "${SCENARIOS[@]}"; do
    for t in direct "${PROXIES[@]}" vkgw-noiso vkgw-always vkgw-filt vkgw-filt-noiso; do
      local eff="n/a" to_floor="n/a"
      if [ "$t" != direct ]; then
        eff=$(fmt_rps "$(median_efficiency "$t" "$s")")
        to_floor=$(fmt_ratio "$(median_efficiency_ratio "$t" floor "$s")")
      fi
      echo "| $t | ${SCENARIO_LABEL[$s]} | $(fmt_rps "$(col_median "$t" "$s" 4)") |" \
        "$(fmt_us "$(col_median "$t" "$s" 5)") | $(fmt_us "$(col_median "$t" "$s" 6)") |" \
        "$(fmt_pct "$(col_median "$t" "$s" 8)") | $(fmt_pct "$(col_median "$t" "$s" 10)") | $eff | $to_floor |" \
        "$(fmt_pct "$(col_median "$t" "$s" 9)") |" \
        "$(fmt_pct "$(col_median "$t" "$s" 13)") | $(fmt_pct "$(col_median "$t" "$s" 11)") |" \
        "$(col_median "$t" "$s" 12) |"
    done
  done
  echo
  echo "Req per CPU-s is req/s divided by CPU $PROXY_CPU's busy share over the run (/proc/stat: the proxy's"
  echo "user and system time and the softirq work done on that core), and ratios of it pair runs of"
  echo "the same round."
  echo "Proxy CPU below ~95% means the proxy was not the limit: with CPU 1 busy near 100%,"
  echo "wrk and the upstream (sharing CPU $CLIENT_CPU) set the rate, and the req per CPU-s ratio"
  echo "then compares the proxies' work per request. CPU $CLIENT_CPU does the same wrk and upstream"
  echo "work per request with or without a proxy, so when the direct run saturates it, no proxy"
  echo "can go faster than direct: direct/B is the largest vkgw/B ratio this setup can show."
  local disturbed
  disturbed=$(disturbed_runs)
  echo
  [ "$RETRIES_USED" -eq 0 ] ||
    echo "$RETRIES_USED run(s) were measured a second time because other processes used CPU 0 or 1 during them."
  if [ -z "$disturbed" ]; then
    echo "No kept run lost more than ${OTHER_LOAD_MAX}% of CPU 0 or CPU 1 to other processes."
  else
    echo
    echo "**Disturbed:** in $(wc -l <<<"$disturbed") of $(wc -l <"$RESULTS") runs other processes took more" \
      "than ${OTHER_LOAD_MAX}% of CPU 0 or CPU 1 (busy minus proxy, upstream and wrk); those"
    echo "numbers measure the machine's other load as much as the proxies:"
    echo
    local line
    while IFS= read -r line; do echo "- $line"; done <<<"$disturbed"
    echo
  fi
  echo "Response header bytes: vkgw ${HEADER_BYTES[vkgw]:-?}, haproxy ${HEADER_BYTES[haproxy]:-?}," \
    "nginx ${HEADER_BYTES[nginx]:-?}, floor ${HEADER_BYTES[floor]:-?}, upstream ${HEADER_BYTES[upstream]:-?}" \
    "(body $BODY_BYTES bytes each)."
  echo "Load average (1/5/15 min): $LOAD_BEFORE before, $(loadavg) after."
}

# ---------------------------------------------------------------- main

# ---------------------------------------------------------------- auth suite

# Keys and tokens for the auth suite, into AUTH_DIR: ES256 (P-256) and
# RS256 (2048-bit) public keys as PEM, one token of each (exp far ahead),
# FRESH_TOKENS distinct ES256 tokens (each its own jti), and wrk's script
# that sends them in turn.
make_auth_material() {
  AUTH_DIR=$WORK/auth
  mkdir -p "$AUTH_DIR"
  python3 - "$AUTH_DIR" "$FRESH_TOKENS" <<'PY' || die 1 "making the auth suite's keys and tokens failed (python3-cryptography)"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

out, fresh = sys.argv[1], int(sys.argv[2])
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def pem(key, name):
    open(f"{out}/{name}.pem", "wb").write(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
def token(alg, key, claims):
    signing = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64(sig)
es, rs = ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem(es, "es256")
pem(rs, "rs256")
claims = {"iss": "bench", "sub": "bench", "exp": 4102444800}
open(f"{out}/es256.token", "w").write(token("ES256", es, claims))
open(f"{out}/rs256.token", "w").write(token("RS256", rs, claims))
with open(f"{out}/fresh.tokens", "w") as f:
    for i in range(fresh):
        f.write(token("ES256", es, dict(claims, jti=str(i))) + "\n")
PY
  cat >"$AUTH_DIR/fresh.lua" <<LUA
-- A fresh token each request, in turn from $AUTH_DIR/fresh.tokens.
local tokens, n = {}, 0
for line in io.lines("$AUTH_DIR/fresh.tokens") do n = n + 1; tokens[n] = line end
local i = 0
request = function()
  i = i % n + 1
  return wrk.format("GET", "/", { ["Authorization"] = "Bearer " .. tokens[i] })
end
LUA
}

# What LABEL's requests carry.
target_credentials() { # target_credentials LABEL
  AUTH_CURL=()
  AUTH_WRK=()
  case $1 in
    vkgw-apikey) AUTH_CURL=(-H "x-api-key: $API_KEY") ;;
    vkgw-jwt-es256 | haproxy-jwt-es256) AUTH_CURL=(-H "Authorization: Bearer $(cat "$AUTH_DIR/es256.token")") ;;
    vkgw-jwt-rs256) AUTH_CURL=(-H "Authorization: Bearer $(cat "$AUTH_DIR/rs256.token")") ;;
    vkgw-jwt-es256-fresh)
      AUTH_CURL=(-H "Authorization: Bearer $(head -n 1 "$AUTH_DIR/fresh.tokens")")
      AUTH_WRK=(-s "$AUTH_DIR/fresh.lua")
      ;;
  esac
  # The geo suite: every target's client is behind a trusted proxy; the
  # -many targets' requests name four clients in turn, so that no two
  # requests in a row on a connection are from the same one (vkgw keeps a
  # connection's last answer for its next request from the same address).
  [ "$SUITE" != geo ] || AUTH_CURL=(-H "X-Forwarded-For: $GEO_CLIENT")
  if [[ $1 == *-many ]]; then
    geo_many_script >"$WORK/geo-many.lua"
    AUTH_WRK=(-s "$WORK/geo-many.lua")
  fi
  [ "${#AUTH_WRK[@]}" -gt 0 ] || [ "${#AUTH_CURL[@]}" -eq 0 ] || AUTH_WRK=("${AUTH_CURL[@]}")
}

# wrk's requests for the -many targets: X-Forwarded-For cycles through
# four addresses of the same networks (each found in both databases).
geo_many_script() {
  cat <<'LUA'
local clients = { "89.160.20.128", "89.160.20.129", "89.160.20.130", "89.160.20.131" }
local i = 0
request = function()
  i = i % #clients + 1
  return wrk.format(nil, nil, { ["X-Forwarded-For"] = clients[i] })
end
LUA
}

# BoringSSL's ECDSA P-256 verifications per second (bench/ecdsa_speed,
# beside floor_proxy), on the proxies' core.
boringssl_verify_rate() {
  local bin
  bin=$(dirname "$FLOOR_BIN")/ecdsa_speed
  [ -x "$bin" ] || return 0
  timeout 60 taskset -c "$PROXY_CPU" "$bin" 3 2>/dev/null || true
}

# ECDSA P-256 verifications per second of one core, from openssl speed
# pinned where the proxies run.
openssl_verify_rate() {
  timeout 60 taskset -c "$PROXY_CPU" openssl speed -seconds 3 ecdsap256 2>/dev/null |
    awk '/ecdsa \(nistp256\)/ { print $NF; exit }'
}

# One row of the auth table: LABEL against the plain route.
auth_row() { # auth_row LABEL WHAT GOAL_TEXT VERDICT
  local s=c50
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$1" \
    "$(fmt_rps "$(col_median "$1" "$s" 4)")" "$(fmt_rps "$(median_efficiency "$1" "$s")")" \
    "$(fmt_ratio "$(median_efficiency_ratio "$1" vkgw "$s")")" \
    "$(fmt_us "$(col_median "$1" "$s" 6)")" "$3" "$4"
}

at_least() { # at_least VALUE GOAL: MET or NOT MET
  awk -v v="$1" -v g="$2" 'BEGIN { if (v == "NA" || v == "") print "NOT MET (no data)"; else print (v + 0 >= g + 0 ? "MET" : "NOT MET") }'
}

print_auth_summary() {
  local s=c50 t ratio plain fresh per_verify openssl_rate ratio_openssl boring_rate ratio_boring errors=0
  for t in "${TARGETS[@]}"; do errors=$((errors + $(sum_errors "$t" "$s"))); done
  echo
  echo "### Authentication filters against the plain route (${SCENARIO_LABEL[$s]}; medians of $ROUNDS rounds; ratio = median of per-round ratios of req per CPU-s)"
  echo
  echo "| route | target | req/s | req per CPU-s | ratio to plain | p99 | goal | result |"
  echo "|---|---|---:|---:|---:|---:|---|---|"
  auth_row vkgw "no filter" "" ""
  for t in vkgw-apikey vkgw-jwt-es256 vkgw-jwt-rs256; do
    ratio=$(median_efficiency_ratio "$t" vkgw "$s")
    auth_row "$t" "${t#vkgw-}, cached" ">= ${GOAL_AUTH_CACHED}x plain" "$(at_least "$ratio" "$GOAL_AUTH_CACHED")"
  done
  ratio=$(median_efficiency_ratio vkgw-jwt-es256-fresh haproxy-jwt-es256 "$s")
  auth_row vkgw-jwt-es256-fresh "jwt-es256, a fresh token per request, no cache" \
    ">= ${GOAL_VS_HAPROXY_JWT}x HAProxy jwt_verify (ratio $(fmt_ratio "$ratio"))" "$(at_least "$ratio" "$GOAL_VS_HAPROXY_JWT")"
  auth_row haproxy-jwt-es256 "HAProxy 2.6 jwt_verify ES256 (verifies every request)" "" ""
  # What one uncached verification costs: the fresh route's CPU time per
  # request less the plain route's, as verifications per CPU-second.
  plain=$(median_efficiency vkgw "$s")
  fresh=$(median_efficiency vkgw-jwt-es256-fresh "$s")
  per_verify=$(awk -v p="$plain" -v f="$fresh" 'BEGIN {
    if (p == "NA" || f == "NA" || f + 0 <= 0 || p + 0 <= 0 || 1 / f <= 1 / p) print "NA"; else printf "%.0f\n", 1 / (1 / f - 1 / p) }')
  openssl_rate=$(openssl_verify_rate)
  ratio_openssl=$(awk -v v="$per_verify" -v o="$openssl_rate" 'BEGIN { if (v == "NA" || o == "" || o + 0 <= 0) print "NA"; else printf "%.2f\n", v / o }')
  boring_rate=$(boringssl_verify_rate)
  ratio_boring=$(awk -v v="$per_verify" -v o="$boring_rate" 'BEGIN { if (v == "NA" || o == "" || o + 0 <= 0) print "NA"; else printf "%.2f\n", v / o }')
  echo
  echo "Uncached ES256: $(fmt_rps "$per_verify") verifications per CPU-second of CPU $PROXY_CPU (the fresh route's" \
    "CPU per request less the plain route's); \`openssl speed ecdsap256\` on the same core: $(fmt_rps "$openssl_rate") verify/s;" \
    "ratio $(fmt_ratio "$ratio_openssl") (goal >= ${GOAL_VS_OPENSSL}x: $(at_least "$ratio_openssl" "$GOAL_VS_OPENSSL"))."
  echo "BoringSSL, the library vkgw must verify with (Debian's android-libboringssl), alone on the same core" \
    "(bench/ecdsa_speed: SHA-256 and ECDSA_do_verify as the filter calls them): $(fmt_rps "$boring_rate") verify/s;" \
    "vkgw's uncached verifications to it: $(fmt_ratio "$ratio_boring")."
  [ "$errors" -eq 0 ] || echo "**$errors wrk errors** in the runs above."
  echo "Load average (1/5/15 min): $LOAD_BEFORE before, $(loadavg) after."
}

# One row of the rate limit table: LABEL against BASE, the same proxy
# without its limiter.
ratelimit_row() { # ratelimit_row LABEL BASE WHAT GOAL_TEXT VERDICT
  local s=c50
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$3" "$1" \
    "$(fmt_rps "$(col_median "$1" "$s" 4)")" "$(fmt_rps "$(median_efficiency "$1" "$s")")" \
    "$(fmt_ratio "$(median_efficiency_ratio "$1" "$2" "$s")")" \
    "$(fmt_us "$(col_median "$1" "$s" 6)")" "$4" "$5"
}

print_ratelimit_summary() {
  local s=c50 t ratio ours haproxy_ratio nginx_ratio errors=0
  for t in "${TARGETS[@]}"; do errors=$((errors + $(sum_errors "$t" "$s"))); done
  echo
  echo "### Rate limiting against the same proxy without it (${SCENARIO_LABEL[$s]}; a limit per client address never reached; medians of $ROUNDS rounds; ratio = median of per-round ratios of req per CPU-s)"
  echo
  echo "| limiter | target | req/s | req per CPU-s | ratio to the same proxy without | p99 | goal | result |"
  echo "|---|---|---:|---:|---:|---:|---|---|"
  ours=$(median_efficiency_ratio vkgw-ratelimit vkgw "$s")
  haproxy_ratio=$(median_efficiency_ratio haproxy-stick haproxy "$s")
  nginx_ratio=$(median_efficiency_ratio nginx-limitreq nginx "$s")
  ratelimit_row vkgw vkgw "vkgw, no filter" "" ""
  ratelimit_row vkgw-ratelimit vkgw "vkgw rate_limit (local: shared GCRA cells)" ">= ${GOAL_RATELIMIT_LOCAL}x plain" \
    "$(at_least "$ours" "$GOAL_RATELIMIT_LOCAL")"
  ratelimit_row vkgw-ratelimit-redis vkgw "vkgw rate_limit (Redis, batch 1: a call per request)" \
    ">= ${GOAL_RATELIMIT_REDIS}x plain" "$(at_least "$(median_efficiency_ratio vkgw-ratelimit-redis vkgw "$s")" "$GOAL_RATELIMIT_REDIS")"
  ratelimit_row vkgw-ratelimit-redis-batch vkgw "vkgw rate_limit (Redis, batch 100)" \
    ">= ${GOAL_RATELIMIT_REDIS}x plain" \
    "$(at_least "$(median_efficiency_ratio vkgw-ratelimit-redis-batch vkgw "$s")" "$GOAL_RATELIMIT_REDIS")"
  ratelimit_row haproxy haproxy "HAProxy 2.6, no limiter" "" ""
  ratelimit_row haproxy-stick haproxy "HAProxy stick table (track-sc0 src, http_req_rate)" \
    "vkgw with its limiter at least as cheap" "$(at_least "$(median_efficiency_ratio vkgw-ratelimit haproxy-stick "$s")" 1)"
  ratelimit_row nginx nginx "nginx, no limiter" "" ""
  ratelimit_row nginx-limitreq nginx "nginx limit_req per address" "vkgw with its limiter at least as cheap" \
    "$(at_least "$(median_efficiency_ratio vkgw-ratelimit nginx-limitreq "$s")" 1)"
  echo
  echo "Req per CPU-s with the limiter: vkgw $(fmt_rps "$(median_efficiency vkgw-ratelimit "$s")")," \
    "HAProxy $(fmt_rps "$(median_efficiency haproxy-stick "$s")"), nginx $(fmt_rps "$(median_efficiency nginx-limitreq "$s")");" \
    "vkgw's to HAProxy's $(fmt_ratio "$(median_efficiency_ratio vkgw-ratelimit haproxy-stick "$s")")," \
    "to nginx's $(fmt_ratio "$(median_efficiency_ratio vkgw-ratelimit nginx-limitreq "$s")") (\"at least as cheap\": >= 1.00x)." \
    "Each limiter's ratio to its own proxy: vkgw $(fmt_ratio "$ours"), HAProxy $(fmt_ratio "$haproxy_ratio"), nginx $(fmt_ratio "$nginx_ratio")."
  [ "$errors" -eq 0 ] || echo "**$errors wrk errors** in the runs above."
  echo "Load average (1/5/15 min): $LOAD_BEFORE before, $(loadavg) after."
}

# Median over rounds of the CPU time of CPU 0 that LABEL spends per request
# beyond BASE's, in microseconds (from req per CPU-s, runs of one round
# paired).
median_added_us() { # median_added_us LABEL BASE SCENARIO
  awk -v a="$1" -v b="$2" -v s="$3" -v c="$CPU_FIELD" '
    function us(rps, cpu) { return (rps == "NA" || cpu == "NA" || rps + 0 <= 0) ? "NA" : 1e6 * (cpu / 100) / rps }
    $3 == s && $2 == a { ua[$1] = us($4, $c) }
    $3 == s && $2 == b { ub[$1] = us($4, $c) }
    END { for (r in ua) if (ua[r] != "NA" && (r in ub) && ub[r] != "NA") print ua[r] - ub[r] }
  ' "$RESULTS" | median
}

fmt_us_delta() { awk -v v="$1" 'BEGIN { if (v == "NA") print "n/a"; else printf "%.2fus\n", v }'; }

# One row of the geo table: LABEL against BASE, the same proxy without
# its lookup.
geo_row() { # geo_row LABEL BASE WHAT GOAL_TEXT VERDICT
  local s=c50 added=""
  [ "$1" = "$2" ] || added=$(fmt_us_delta "$(median_added_us "$1" "$2" "$s")")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$3" "$1" \
    "$(fmt_rps "$(col_median "$1" "$s" 4)")" "$(fmt_rps "$(median_efficiency "$1" "$s")")" \
    "$(fmt_ratio "$(median_efficiency_ratio "$1" "$2" "$s")")" "$added" \
    "$(fmt_us "$(col_median "$1" "$s" 6)")" "$4" "$5"
}

print_geo_summary() {
  local s=c50 t ours nginx_ratio ours_us nginx_us cheaper vs_nginx errors=0 disturbed
  for t in "${TARGETS[@]}"; do errors=$((errors + $(sum_errors "$t" "$s"))); done
  ours=$(median_efficiency_ratio vkgw-geo vkgw "$s")
  nginx_ratio=$(median_efficiency_ratio nginx-geo nginx "$s")
  ours_us=$(median_added_us vkgw-geo vkgw "$s")
  nginx_us=$(median_added_us nginx-geo nginx "$s")
  vs_nginx=$(median_efficiency_ratio vkgw-geo nginx-geo "$s")
  cheaper=$(awk -v a="$ours_us" -v b="$nginx_us" 'BEGIN {
    if (a == "NA" || b == "NA") print "NOT MET (no data)"; else print (a + 0 <= b + 0 ? "MET" : "NOT MET") }')
  echo
  echo "### Geo lookups against the same proxy without them (${SCENARIO_LABEL[$s]}; country and ASN databases, client $GEO_CLIENT from X-Forwarded-For; medians of $ROUNDS rounds; ratio = median of per-round ratios of req per CPU-s)"
  echo
  echo "| lookup | target | req/s | req per CPU-s | ratio to the same proxy without | CPU 0 per request added | p99 | goal | result |"
  echo "|---|---|---:|---:|---:|---:|---:|---|---|"
  geo_row vkgw vkgw "vkgw, no filter" "" ""
  geo_row vkgw-geo vkgw "vkgw geo filter (2 headers upstream)" ">= ${GOAL_GEO}x plain" "$(at_least "$ours" "$GOAL_GEO")"
  geo_row vkgw-many vkgw-many "vkgw, no filter, wrk's Lua script" "" ""
  geo_row vkgw-geo-many vkgw-many "vkgw geo filter, a new client each request" ">= ${GOAL_GEO}x plain" \
    "$(at_least "$(median_efficiency_ratio vkgw-geo-many vkgw-many "$s")" "$GOAL_GEO")"
  geo_row nginx nginx "nginx, no geoip2" "" ""
  geo_row nginx-geo nginx "nginx geoip2 + realip (2 headers upstream)" \
    "vkgw's added CPU per request at most nginx's" "$cheaper"
  geo_row nginx-many nginx-many "nginx, no geoip2, wrk's Lua script" "" ""
  geo_row nginx-geo-many nginx-many "nginx geoip2, a new client each request" \
    "vkgw's at most nginx's" "$(awk -v a="$(median_added_us vkgw-geo-many vkgw-many "$s")" -v b="$(median_added_us nginx-geo-many nginx-many "$s")" 'BEGIN {
    if (a == "NA" || b == "NA") print "NOT MET (no data)"; else print (a + 0 <= b + 0 ? "MET" : "NOT MET") }')"
  echo
  echo "Req per CPU-s with the lookup: vkgw $(fmt_rps "$(median_efficiency vkgw-geo "$s")")," \
    "nginx $(fmt_rps "$(median_efficiency nginx-geo "$s")"); vkgw's to nginx's $(fmt_ratio "$vs_nginx")." \
    "CPU time of CPU $PROXY_CPU a lookup adds per request (the geo target's per request less the plain one's," \
    "runs of one round paired): vkgw $(fmt_us_delta "$ours_us"), nginx $(fmt_us_delta "$nginx_us")." \
    "Each lookup's ratio to its own proxy: vkgw $(fmt_ratio "$ours"), nginx $(fmt_ratio "$nginx_ratio")."
  [ "$errors" -eq 0 ] || echo "**$errors wrk errors** in the runs above."
  disturbed=$(disturbed_runs)
  if [ -n "$disturbed" ]; then
    echo
    echo "**Disturbed:** in $(wc -l <<<"$disturbed") of $(wc -l <"$RESULTS") runs others took more than" \
      "${OTHER_LOAD_MAX}% of CPU 0 or CPU 1:"
    echo
    local line
    while IFS= read -r line; do echo "- $line"; done <<<"$disturbed"
    echo
  fi
  echo "Load average (1/5/15 min): $LOAD_BEFORE before, $(loadavg) after."
}

# ---------------------------------------------------------------- retry suite

# "RETRIES REFUSED ACTIVE" of the running vkgw's upstream, from its admin
# /stats: retries started, retries its budget refused, and retries it
# counts in flight now.
vkgw_retry_counters() {
  curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/stats" |
    python3 -c 'import json, sys; u = json.load(sys.stdin)["upstreams"]["upstream"]; print(u["retries"], u["retry_budget_refused"], u["retries_active"])' 2>/dev/null ||
    echo "NA NA NA"
}

# h2load at the fixed rate: RETRY_CONNS connections, each sending
# RETRY_RPS / RETRY_CONNS requests a second on its own schedule,
# HTTP/1.1, one request at a time.
h2load_paced() { # h2load_paced SECONDS URL [H2LOAD_ARGS...]
  local seconds=$1 url=$2
  shift 2
  timeout -k 2 $((seconds + 30)) taskset -c "$CLIENT_CPU" \
    h2load --h1 -c "$RETRY_CONNS" --rps $((RETRY_RPS / RETRY_CONNS)) -D "$seconds" "$@" "$url"
}

# "SECONDS RPS DONE 2XX 5XX ERRORS" from h2load's summary (ERRORS: requests
# that errored or timed out, and answers other than 2xx and 5xx); fails
# if it has none.
parse_h2load() { # parse_h2load FILE
  awk '
    /^finished in / {
      t = $3; sub(/,$/, "", t)
      secs = (t ~ /ms$/) ? (t + 0) / 1000 : t + 0
      rps = $4 + 0
    }
    /^requests: / { done = $6 + 0; errs = $12 + $14 }
    /^status codes: / { s2 = $3 + 0; s3 = $5 + 0; s4 = $7 + 0; s5 = $9 + 0 }
    END {
      if (secs <= 0 || done <= 0) exit 1
      printf "%.3f %.2f %d %d %d %d\n", secs, rps, done, s2, s5, errs + s3 + s4
    }' "$1"
}

# "P50 P99" in microseconds from h2load's per-request log (start time,
# status, microseconds to the end of the response), nearest rank.
h2load_percentiles() { # h2load_percentiles LOG
  awk '{ print $3 }' "$1" | sort -n | awk '
    { v[NR] = $1 }
    function rank(p,   i) { i = int(p * NR); if (i < p * NR) i++; return v[i < 1 ? 1 : i] }
    END { if (NR == 0) print "NA NA"; else printf "%.2f %.2f\n", rank(0.50), rank(0.99) }'
}

# One run at the fixed rate against the proxy on PORT, on / ("none":
# nothing fails) or on RETRY_FLAKY_PATH ("failing"); sets LAST_RETRY_LINE,
# a line for RETRY_RESULTS (columns below).
measure_paced() { # measure_paced ROUND LABEL none|failing PORT
  local round=$1 label=$2 load=$3 port=$4 path=/ out log stats pct e0 e1 v0 v1 i vk
  local p0 p1 u0 u1 w0 w1 c0b c0t c0b1 c0t1 c1b c1t c1b1 c1t1 t0 t1 ns proxy_cpu ep_cpu h2_cpu cpu0 cpu1
  local served=() accepts=()
  [ "$load" = none ] || path=$RETRY_FLAKY_PATH
  out=$WORK/h2load.r$round.$label.$load.txt
  log=$WORK/h2load.r$round.$label.$load.log
  v0="NA NA NA"
  [[ $label != vkgw* ]] || v0=$(vkgw_retry_counters)
  read -r -a e0 <<<"$(endpoint_counts)"
  w0=$(children_cpu_ticks)
  h2load_paced "$DURATION" "http://127.0.0.1:$port$path" --log-file="$log" >"$out" 2>&1 </dev/null &
  WRK_PID=$!
  p0=$(group_cpu_ticks "$SERVER_PID")
  u0=$(endpoints_cpu_ticks)
  read -r c0b c0t < <(cpu_ticks "$PROXY_CPU")
  read -r c1b c1t < <(cpu_ticks "$CLIENT_CPU")
  t0=$(date +%s%N)
  wait "$WRK_PID" || true
  w1=$(children_cpu_ticks)
  p1=$(group_cpu_ticks "$SERVER_PID")
  u1=$(endpoints_cpu_ticks)
  read -r c0b1 c0t1 < <(cpu_ticks "$PROXY_CPU")
  read -r c1b1 c1t1 < <(cpu_ticks "$CLIENT_CPU")
  t1=$(date +%s%N)
  WRK_PID=
  read -r -a e1 <<<"$(endpoint_counts)"
  v1="NA NA NA"
  [[ $label != vkgw* ]] || v1=$(vkgw_retry_counters)
  server_alive || server_failed "died during the h2load run ($load)"
  for ((i = 0; i < EP_COUNT; i++)); do
    alive "${EP_PIDS[i]}" || failed "endpoint $((i + 1))" "$WORK/endpoint$i.log" "died during the h2load run ($label, $load)"
  done
  # What each endpoint served and accepted, less the second reading's own
  # request and connection.
  for ((i = 0; i < EP_COUNT; i++)); do
    if [ "${e0[2 * i]}" = NA ] || [ "${e1[2 * i]}" = NA ]; then
      served+=(NA) accepts+=(NA)
    else
      served+=($((e1[2 * i + 1] - e0[2 * i + 1] - 1)))
      accepts+=($((e1[2 * i] - e0[2 * i] - 1)))
    fi
  done
  ns=$((t1 - t0))
  proxy_cpu=$(ticks_pct $((p1 - p0)) "$ns")
  ep_cpu=$(ticks_pct $((u1 - u0)) "$ns")
  h2_cpu=$(ticks_pct $((w1 - w0)) "$ns")
  cpu0=$(awk -v b=$((c0b1 - c0b)) -v t=$((c0t1 - c0t)) 'BEGIN { printf "%.1f\n", (t > 0 ? 100 * b / t : 0) }')
  cpu1=$(awk -v b=$((c1b1 - c1b)) -v t=$((c1t1 - c1t)) 'BEGIN { printf "%.0f\n", (t > 0 ? 100 * b / t : 0) }')
  if ! stats=$(parse_h2load "$out"); then
    log "round $round: $label, $load: h2load produced no numbers; its output:"
    cat "$out" >&2
    stats="NA NA NA NA NA NA"
  fi
  pct=$(h2load_percentiles "$log")
  # the retries' counters over the run, and those still counted in flight after it
  vk=$(awk -v a="$v0" -v b="$v1" 'BEGIN { split(a, x); split(b, y)
    if (x[1] == "NA" || y[1] == "NA") print "NA NA NA"; else print y[1] - x[1], y[2] - x[2], y[3] }')
  LAST_RETRY_LINE="$round $label $load $RETRY_RPS $stats $pct ${served[*]} ${accepts[*]} $cpu0 $cpu1 $proxy_cpu $ep_cpu $h2_cpu $vk"
  log "round $round: $label, $(retry_load_label "$load"): $(retry_run_brief <<<"$LAST_RETRY_LINE")"
}

# Whether a RETRY_RESULTS line's run kept the offered rate.
retry_rate_kept() { # retry_rate_kept LINE
  awk -v k="$RETRY_RATE_SLACK" '{ exit !($6 != "NA" && $6 + 0 >= k * $4) }' <<<"$1"
}

retry_load_label() { # retry_load_label none|failing
  if [ "$1" = none ]; then echo "nothing failing"; else echo "endpoint 3 failing half"; fi
}

# RETRY_RESULTS columns: 1 round, 2 label, 3 load, 4 offered req/s,
# 5 seconds, 6 req/s, 7 requests done, 8 2xx, 9 5xx, 10 other errors,
# 11 p50 us, 12 p99 us, 13-15 requests each endpoint served (the third
# fails), 16-18 connections each accepted, 19 CPU 0 busy %, 20 CPU 1 busy %,
# 21 proxy CPU %, 22 endpoints' CPU %, 23 h2load CPU %, 24 vkgw's retries,
# 25 of them refused by its budget, 26 retries it counted in flight after
# the run.
retry_run_brief() {
  awk '{
    printf "%.0f req/s (%d offered), %d 5xx, %d other errors, p99 %.2fms; endpoints served %.0f / %.0f / %.0f req/s;",
      $6, $4, $9, $10, $12 / 1000, $13 / $5, $14 / $5, $15 / $5
    printf " CPU 0 %s%%, CPU 1 %s%%", $19, $20
    if ($24 != "NA") printf "; vkgw: %d retries, %d refused by the budget, %d in flight after", $24, $25, $26
    printf "\n" }'
}

# Medians over rounds of field F of LABEL's runs under LOAD; EXPR may use
# $N fields (awk), e.g. "($13 + $14) / $5".
retry_median() { # retry_median LABEL LOAD AWK_EXPR
  awk -v l="$1" -v d="$2" '$2 == l && $3 == d && $5 != "NA" && $13 != "NA" { print '"$3"' }' "$RETRY_RESULTS" | median
}

# "OTHER0 OTHER1" of a RETRY_RESULTS line: percent of CPU 0 and CPU 1 that
# went to others than the proxy, the endpoints and h2load.
retry_other_load() { # retry_other_load LINE
  awk '{ o0 = $19 - $21; o1 = $20 - $22 - $23; printf "%d %d\n", (o0 > 0 ? o0 : 0), (o1 > 0 ? o1 : 0) }' <<<"$1"
}

# The healthy endpoints' req/s with the failure over the same without
# it, per round, runs of one round paired, in round order ("ROUND RATIO"
# lines); a round where either run fell short of the offered rate gives
# none (at another rate the counts do not compare).
retry_healthy_ratio_rounds() { # retry_healthy_ratio_rounds LABEL
  awk -v l="$1" -v k="$RETRY_RATE_SLACK" '
    function kept() { return $5 != "NA" && $13 != "NA" && $6 + 0 >= k * $4 }
    $2 == l && $3 == "none" && kept() { n[$1] = ($13 + $14) / $5 }
    $2 == l && $3 == "failing" && kept() { f[$1] = ($13 + $14) / $5 }
    END { for (r = 1; r <= 1000; r++) if ((r in f) && (r in n) && n[r] > 0) print r, f[r] / n[r] }' "$RETRY_RESULTS"
}

# Their median.
retry_healthy_ratio() { # retry_healthy_ratio LABEL
  retry_healthy_ratio_rounds "$1" | awk '{ print $2 }' | median
}

# The same per round: "1.23, 1.25, 1.24".
retry_healthy_ratios() { # retry_healthy_ratios LABEL
  retry_healthy_ratio_rounds "$1" | awk '{ printf "%s%.2f", sep, $2; sep = ", " } END { print "" }'
}

at_most() { # at_most VALUE GOAL: MET or NOT MET
  awk -v v="$1" -v g="$2" 'BEGIN { if (v == "NA" || v == "") print "NOT MET (no data)"; else print (v + 0 <= g + 0 ? "MET" : "NOT MET") }'
}

fmt_num() { # fmt_num VALUE DECIMALS
  awk -v v="$1" -v d="$2" 'BEGIN { if (v == "NA" || v == "") print "n/a"; else printf "%." d "f\n", v }'
}

print_retry_runs() {
  echo
  echo "### Per-run results, fixed rate (${DURATION}s each; h2load --h1 -c $RETRY_CONNS --rps $((RETRY_RPS / RETRY_CONNS)) on CPU $CLIENT_CPU with the endpoints; proxy on CPU $PROXY_CPU)"
  echo
  echo "| round | target | load | req/s (offered) | 2xx | 5xx | other errors | p50 | p99 | served req/s (endpoint 1 / 2 / 3, failing) | connections accepted (1 / 2 / 3) | CPU 0 busy | CPU 1 busy | proxy CPU | endpoints CPU | h2load CPU | others (CPU 0 / 1) | vkgw retries / refused by the budget / in flight after |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local f o0 o1
  while read -r -a f; do
    read -r o0 o1 <<<"$(retry_other_load "${f[*]}")"
    echo "| ${f[0]} | ${f[1]} | $(retry_load_label "${f[2]}") | $(fmt_rps "${f[5]}") ($(fmt_rps "${f[3]}")) |" \
      "${f[7]} | ${f[8]} | ${f[9]} | $(fmt_us "${f[10]}") | $(fmt_us "${f[11]}") |" \
      "$(awk -v s="${f[4]}" -v a="${f[12]}" -v b="${f[13]}" -v c="${f[14]}" 'BEGIN {
        if (s == "NA" || a == "NA") print "n/a"; else printf "%.0f / %.0f / %.0f\n", a / s, b / s, c / s }') |" \
      "${f[15]} / ${f[16]} / ${f[17]} | ${f[18]}% | ${f[19]}% | ${f[20]}% | ${f[21]}% | ${f[22]}% | ${o0}% / ${o1}% |" \
      "$([ "${f[23]}" = NA ] && echo n/a || echo "${f[23]} / ${f[24]} / ${f[25]}") |"
  done <"$RETRY_RESULTS"
}

# One row of the cost table: LABEL against BASE, the same proxy without
# its retry policy.
retry_cost_row() { # retry_cost_row LABEL BASE WHAT GOAL_TEXT VERDICT
  local s=c50
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$3" "$1" \
    "$(fmt_rps "$(col_median "$1" "$s" 4)")" "$(fmt_rps "$(median_efficiency "$1" "$s")")" \
    "$(fmt_ratio "$(median_efficiency_ratio "$1" "$2" "$s")")" \
    "$(fmt_us "$(col_median "$1" "$s" 6)")" "$4" "$5"
}

# One row of the overload table: LABEL under LOAD (medians of its rounds).
# (The '$N' arguments here and in print_retry_summary are awk's fields.)
# shellcheck disable=SC2016
retry_load_row() { # retry_load_row LABEL WHAT LOAD GOAL_TEXT VERDICT
  local l=$1 d=$3 ratio=""
  [ "$d" = none ] || ratio="$(fmt_ratio "$(retry_healthy_ratio "$l")") ($(retry_healthy_ratios "$l"))"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$l" "$(retry_load_label "$d")" \
    "$(fmt_rps "$(retry_median "$l" "$d" '$6')")" \
    "$(fmt_num "$(retry_median "$l" "$d" '100 * $9 / $7')" 1)%" \
    "$(fmt_num "$(retry_median "$l" "$d" '($13 + $14 + $15) / $7')" 3)" \
    "$(fmt_rps "$(retry_median "$l" "$d" '$13 / $5')") / $(fmt_rps "$(retry_median "$l" "$d" '$14 / $5')")" \
    "$(fmt_rps "$(retry_median "$l" "$d" '$15 / $5')")" \
    "$(fmt_us "$(retry_median "$l" "$d" '$12')")" \
    "$ratio" "$4" "$5"
}

# shellcheck disable=SC2016
print_retry_summary() {
  local s=c50 t ours errors=0 budget leak disturbed slow
  for t in "${TARGETS[@]}"; do errors=$((errors + $(sum_errors "$t" "$s"))); done
  ours=$(median_efficiency_ratio vkgw-retry vkgw "$s")
  echo
  echo "### Retries configured, nothing failing, against the same proxy without them (${SCENARIO_LABEL[$s]}; medians of $ROUNDS rounds; ratio = median of per-round ratios of req per CPU-s)"
  echo
  echo "| retry policy | target | req/s | req per CPU-s | ratio to the same proxy without | p99 | goal | result |"
  echo "|---|---|---:|---:|---:|---:|---|---|"
  retry_cost_row vkgw vkgw "vkgw, no filter (a 15 s deadline, x-request-timeout upstream)" "" ""
  retry_cost_row vkgw-retry vkgw "vkgw retry filter (attempts 3, per-try 1 s, 5 s deadline)" \
    ">= ${GOAL_RETRY_COST}x plain" "$(at_least "$ours" "$GOAL_RETRY_COST")"
  retry_cost_row haproxy haproxy "HAProxy 2.6, no retry-on" "" ""
  retry_cost_row haproxy-retry haproxy "HAProxy retries 3, option redispatch 1, retry-on 503" "" ""
  echo
  echo "Req per CPU-s with retries configured: vkgw $(fmt_rps "$(median_efficiency vkgw-retry "$s")")," \
    "HAProxy $(fmt_rps "$(median_efficiency haproxy-retry "$s")"); vkgw's to HAProxy's" \
    "$(fmt_ratio "$(median_efficiency_ratio vkgw-retry haproxy-retry "$s")"). Each policy's ratio to its own proxy:" \
    "vkgw $(fmt_ratio "$ours"), HAProxy $(fmt_ratio "$(median_efficiency_ratio haproxy-retry haproxy "$s")")."
  [ "$errors" -eq 0 ] || echo "**$errors wrk errors** in the runs above."
  disturbed=$(disturbed_runs)
  if [ -n "$disturbed" ]; then
    echo
    echo "**Disturbed:** in $(wc -l <<<"$disturbed") of $(wc -l <"$RESULTS") wrk runs others took more than" \
      "${OTHER_LOAD_MAX}% of CPU 0 or CPU 1:"
    echo
    local line
    while IFS= read -r line; do echo "- $line"; done <<<"$disturbed"
  fi

  budget=$(retry_healthy_ratio vkgw-budget)
  echo
  echo "### Overload with a failing endpoint: the healthy endpoints' load (fixed rate $RETRY_RPS req/s, h2load --h1 over $RETRY_CONNS connections; three endpoints, the third answering a quick 503 to half of $RETRY_FLAKY_PATH; medians of $ROUNDS rounds)"
  echo
  echo "| proxy, retry policy | target | load | client req/s | 5xx to clients | attempts per request | healthy endpoints, req/s each | failing endpoint, req/s | p99 | healthy load, failing / none (per round) | goal | result |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
  retry_load_row vkgw-budget "vkgw retry (attempts 3, on 503) + retry budget (20%, 10/s)" none "" ""
  retry_load_row vkgw-budget "vkgw retry (attempts 3, on 503) + retry budget (20%, 10/s)" failing \
    "<= ${GOAL_RETRY_HEALTHY}x" "$(at_most "$budget" "$GOAL_RETRY_HEALTHY")"
  retry_load_row vkgw-nobudget "vkgw retry (attempts 3, on 503), budget off" none "" ""
  retry_load_row vkgw-nobudget "vkgw retry (attempts 3, on 503), budget off" failing "" ""
  retry_load_row haproxy-redispatch "HAProxy retries 3, option redispatch 1, retry-on 503" none "" ""
  retry_load_row haproxy-redispatch "HAProxy retries 3, option redispatch 1, retry-on 503" failing "" ""
  echo
  echo "The healthy endpoints' load with endpoint 3 failing over their load without, runs of one round paired:" \
    "vkgw with its budget $(fmt_ratio "$budget") (goal <= ${GOAL_RETRY_HEALTHY}x: $(at_most "$budget" "$GOAL_RETRY_HEALTHY"))," \
    "without it $(fmt_ratio "$(retry_healthy_ratio vkgw-nobudget)"), HAProxy's fixed policy" \
    "$(fmt_ratio "$(retry_healthy_ratio haproxy-redispatch)"). With a third of the requests on an endpoint that fails" \
    "half of them and each retry sent to another endpoint, no policy can add more than a quarter (1.25x)."
  echo "vkgw's /stats over the failing runs (medians): with the budget $(fmt_rps "$(retry_median vkgw-budget failing '$24 / $5')")" \
    "retries a second and $(fmt_rps "$(retry_median vkgw-budget failing '$25 / $5')") refused by the budget;" \
    "without it $(fmt_rps "$(retry_median vkgw-nobudget failing '$24 / $5')") retries a second." \
    "New connections the failing endpoint accepted a second: vkgw $(fmt_rps "$(retry_median vkgw-budget failing '$18 / $5')")" \
    "(budget) and $(fmt_rps "$(retry_median vkgw-nobudget failing '$18 / $5')") (no budget), HAProxy" \
    "$(fmt_rps "$(retry_median haproxy-redispatch failing '$18 / $5')")."
  leak=$(awk '$24 != "NA" && $26 + 0 > 0 { printf "%s round %s %s (%s)\n", $2, $1, $3, $26 }' "$RETRY_RESULTS")
  [ -z "$leak" ] || echo "**vkgw still counted retries in flight after a run ended:** $(tr '\n' ';' <<<"$leak")"
  slow=$(awk -v k="$RETRY_RATE_SLACK" '$6 == "NA" || $6 + 0 < k * $4 { printf "round %s %s %s (%s req/s); ", $1, $2, $3, $6 }' "$RETRY_RESULTS")
  if [ -n "$slow" ]; then
    echo "**Runs that did not keep the offered rate** (under $(awk -v k="$RETRY_RATE_SLACK" 'BEGIN { print 100 * k }')% of $RETRY_RPS req/s, after one re-run; their rounds are left out of the ratios): $slow"
  else
    echo "Every run kept the offered rate (at least $(awk -v k="$RETRY_RATE_SLACK" 'BEGIN { print 100 * k }')% of $RETRY_RPS req/s)."
  fi
  echo "Backoff: vkgw waits before each retry (full jitter under 25 ms, doubling to 250 ms: the filter's defaults);" \
    "HAProxy retries at once. Latencies count from when h2load sent each request (not when it was due)."
  echo "Load average (1/5/15 min): $LOAD_BEFORE before, $(loadavg) after."
}

# The second part's round: each proxy in front of the three endpoints,
# warmed at the fixed rate, then the rate on / and on the failing path
# (in turn first).
bench_retry_target() { # bench_retry_target ROUND LABEL
  local round=$1 label=$2 load loads=(none failing) attempt
  local max_retries=$(((ROUNDS * (${#TARGETS[@]} * ${#SCENARIOS[@]} + 2 * ${#RETRY_TARGETS[@]}) + 3) / 4))
  ((round % 2)) || loads=(failing none)
  target_credentials "$label"
  case $label in
    vkgw*) start_vkgw "$label" ;;
    *) start_polled "$label" ;;
  esac
  [ "$WARMUP" -eq 0 ] || h2load_paced "$WARMUP" "http://127.0.0.1:$PORT/" >/dev/null 2>&1 </dev/null || true
  for load in "${loads[@]}"; do
    # A run that did not keep the rate (the machine's other load took
    # the cores) runs once more, while the allowance for re-runs lasts.
    for attempt in 1 2; do
      wait_quiet
      measure_paced "$round" "$label" "$load" "$PORT"
      retry_rate_kept "$LAST_RETRY_LINE" && break
      if [ "$attempt" -eq 1 ] && [ "$RETRIES_USED" -lt "$max_retries" ]; then
        RETRIES_USED=$((RETRIES_USED + 1))
        log "that run did not keep the offered rate; running it again"
      else
        break
      fi
    done
    echo "$LAST_RETRY_LINE" >>"$RETRY_RESULTS"
  done
  stop_server
}

# Run every scenario against one target: a freshly started proxy, or the
# upstream itself.
bench_target() { # bench_target ROUND LABEL
  local round=$1 label=$2 s port
  target_credentials "$label"
  case $label in
    vkgw | vkgw-many) start_vkgw ;;
    vkgw-apikey | vkgw-jwt-* | vkgw-ratelimit* | vkgw-geo* | vkgw-retry) start_vkgw "$label" ;;
    haproxy-jwt-es256) start_polled "$label" ;;
    vkgw-noiso) start_vkgw vkgw-noiso --no-isolation ;;
    vkgw-always) start_vkgw vkgw-always --isolation always ;;
    vkgw-filt) start_vkgw vkgw-filt ;;
    vkgw-filt-noiso) start_vkgw vkgw-filt-noiso --no-isolation ;;
    nginx-many) start_polled nginx ;;
    haproxy | nginx | haproxy-stick | haproxy-retry | nginx-limitreq | nginx-geo*) start_polled "$label" ;;
    floor) start_floor ;;
  esac
  if [ "$label" = direct ]; then port=$UP_PORT; else port=$PORT; fi
  for s in "${SCENARIOS[@]}"; do run_wrk "$round" "$label" "$s" "$port"; done
  stop_server
}

main() {
  check_setup "$@"
  VKGW_BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  FLOOR_BIN=$(cd "$(dirname "$FLOOR_BIN")" && pwd)/$(basename "$FLOOR_BIN")
  begin_work bench-proxy
  RESULTS=$WORK/results.txt
  : >"$RESULTS"
  RETRY_RESULTS=$WORK/retry-results.txt
  : >"$RETRY_RESULTS"
  LOAD_BEFORE=$(loadavg)

  local runs_per_round=$((${#TARGETS[@]} * ${#SCENARIOS[@]}))
  [ "$SUITE" != retry ] || runs_per_round=$((runs_per_round + 2 * ${#RETRY_TARGETS[@]}))
  log "$ROUNDS rounds x $runs_per_round runs x ${DURATION}s" \
    "(~$((ROUNDS * runs_per_round * DURATION))s of load); load average $LOAD_BEFORE"

  start_upstream
  [ "$SUITE" != retry ] || start_endpoints
  [ "$SUITE" != auth ] || make_auth_material
  [ "$SUITE" != ratelimit ] || start_redis
  # Every proxy is started and checked once before anything is measured, so
  # a proxy that does not proxy fails the run before minutes of load.
  local t
  for t in "${PROXIES[@]}"; do
    target_credentials "$t"
    case $t in
      vkgw*) start_vkgw "$t" ;;
      floor) start_floor ;;
      *) start_polled "$t" ;;
    esac
    stop_server
  done
  log "upstream on port $UP_PORT; ${PROXIES[*]} each proxy the 1 KiB body"
  [ "$SUITE" != geo ] || log "geo databases: $GEO_COUNTRY_DB, $GEO_ASN_DB; client $GEO_CLIENT in X-Forwarded-For"

  # Alternate the order each round so no target always runs first (warm
  # caches, thermal state, background noise).
  local round
  for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then
      for t in "${TARGETS[@]}"; do bench_target "$round" "$t"; done
    else
      for ((t = ${#TARGETS[@]} - 1; t >= 0; t--)); do bench_target "$round" "${TARGETS[t]}"; done
    fi
  done
  # The retry suite's second part, its rounds alternating the same way.
  if [ "$SUITE" = retry ]; then
    log "overload with a failing endpoint: $RETRY_RPS req/s offered to ${RETRY_TARGETS[*]}"
    for ((round = 1; round <= ROUNDS; round++)); do
      if ((round % 2)); then
        for t in "${RETRY_TARGETS[@]}"; do bench_retry_target "$round" "$t"; done
      else
        for ((t = ${#RETRY_TARGETS[@]} - 1; t >= 0; t--)); do bench_retry_target "$round" "${RETRY_TARGETS[t]}"; done
      fi
    done
  fi
  stop_upstream
  stop_endpoints
  stop_redis

  print_runs
  [ "$SUITE" != retry ] || print_retry_runs
  case $SUITE in
    auth) print_auth_summary ;;
    ratelimit) print_ratelimit_summary ;;
    geo) print_geo_summary ;;
    retry) print_retry_summary ;;
    *) print_summary ;;
  esac
}

main "$@"
