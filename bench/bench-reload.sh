#!/usr/bin/env bash
# Reload under load: vkgw against HAProxy (master-worker) and nginx, each
# alone on CPU 0 in front of the same upstream (nginx, 1 KiB body) on CPU 1,
# reloaded BENCH_RELOADS times (default 20) while two wrk run on CPU 1:
#
#   keep-alive  wrk -t1 -c50 --latency (the p99 the goal reads)
#   close       wrk -t1 -c10 --latency -H "Connection: close" (a new
#               connection per request: catches a listener that is closed,
#               or not yet open, during a reload)
#
# Each proxy gets a run of the same length with the reloads spread evenly
# over it and a baseline run without them, each on a freshly started proxy.
# The reload run goes first; the baseline then does, at the same moments,
# everything the reload run's harness did except the signal: it rewrites
# the configuration file (unchanged) and polls the proxy as many times,
# with the same pauses, as each reload's wait did (poll_like_a_reload), so
# that the two runs differ only in the reloads. The polling starts no
# process (a request over bash's /dev/tcp, parsed with bash's own regular
# expressions): a curl, sed and awk per poll, competing with wrk for CPU 1,
# made the harness itself a good part of what was measured.
# Every reload alternates between two configurations that differ in their
# route (and, with BENCH_RENAME_UPSTREAM=1, their upstream's name) and in
# a response header, x-bench-gen, set to "a" or "b". The next reload waits
# until the previous one is applied:
#
#   vkgw          -k 1, SIGHUP to the vkgw process; applied when /stats on
#                 the admin listener has config.generation equal to every
#                 per_kernel[].config_generation, one more than before
#   haproxy       haproxy -W -f cfg (master-worker), SIGUSR2 to the master,
#                 which re-executes itself with -sf OLD_WORKERS and, since
#                 HAProxy 2.6, "-x sockpair@FD": the new worker takes the
#                 listening sockets over from the old one through the
#                 master's internal socketpair, no stats socket needed
#                 (management.txt, "-x"; configuration.txt, "expose-fd")
#   haproxy-xfd   the same, with "stats socket ... expose-fd listeners" in
#                 the configuration, the way seamless reloads were set up
#                 before 2.6 (in 2.6 the master still hands over through the
#                 socketpair: the socket is not used). Both keep the
#                 listening socket's inode across reloads (checked and
#                 reported); so did "haproxy -W -x /dev/null" when tried,
#                 so 2.6.12 offers no reload without the handover here.
#   nginx         SIGHUP to the master: it re-reads the file, keeps its
#                 listening sockets, starts new workers and tells the old
#                 ones to finish (QUIT)
#
# For haproxy and nginx "applied" means a request with "Connection: close"
# got the new x-bench-gen value. The script checks vkgw's value too.
#
# Reported per proxy and run: requests of both wrk, their socket errors
# (connect/read/write/timeout, as wrk prints them) and non-2xx-or-3xx
# responses, the p99 of each wrk, the keep-alive p99 with reloads over the
# one without, the time each reload took to apply, and, right after the
# reload run's wrk ended, the processes of the proxy (old workers still
# draining included) and the sum of their VmRSS.
#
# Goal (issue): vkgw with 0 errors and a keep-alive p99 within 10% of its
# no-reload p99 under reloads, and fewer errors than each of its peers
# (haproxy, haproxy-xfd, nginx).
#
# Usage: bench/bench-reload.sh PATH/TO/vkgw
#   env BENCH_SECONDS      seconds per wrk run (default 20)
#   env BENCH_RELOADS      reloads per reload run (default 20)
#   env BENCH_ROUNDS       rounds, alternating the proxies' order (default 1)
#   env BENCH_WARMUP       seconds of keep-alive load before each run (default 1)
#   env BENCH_RENAME_UPSTREAM=1  name the upstream after the configuration
#                          too (default: the same name in both)
#   env BENCH_KEEP=1       keep the temp dir (configs, wrk output, logs)
#   env BENCH_PROXIES      which of "vkgw haproxy haproxy-xfd nginx" to run
#                          (default: all; the goal is judged only with all)
# Everything listens on 127.0.0.1 (ports the kernel picks, or free ones).
# Each step is bounded (wrk, reload waits, server lifetimes), so the run
# ends within about BENCH_ROUNDS x 4 x 2 x (BENCH_SECONDS + 40) s.
# Exit 0 when every run completed (goal met or not), 1 when a server failed
# or a reload was not applied, 2 on bad usage or missing tools.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

readonly PROXY_CPU=0
readonly CLIENT_CPU=1 # wrk, the upstream, and this script's polling
readonly NGINX_BIN=/usr/sbin/nginx
readonly HAPROXY_BIN=/usr/sbin/haproxy
# shellcheck disable=SC2206 # words of BENCH_PROXIES, checked below
readonly PROXIES=(${BENCH_PROXIES:-vkgw haproxy haproxy-xfd nginx})
readonly PEERS=(haproxy haproxy-xfd nginx) # what the goal compares vkgw with
readonly KA_CONNS=50
readonly CLOSE_CONNS=10
readonly GOAL_P99_RATIO=1.10
readonly APPLY_WAIT_S=10 # a reload not applied within this is a failure

DURATION=${BENCH_SECONDS:-20}
RELOADS=${BENCH_RELOADS:-20}
ROUNDS=${BENCH_ROUNDS:-1}
RENAME_UPSTREAM=${BENCH_RENAME_UPSTREAM:-0}
WARMUP=${BENCH_WARMUP:-1}
COMMAND="$0 $*"
for p in "${PROXIES[@]}"; do
  [[ " vkgw haproxy haproxy-xfd nginx " == *" $p "* ]] || die 2 "BENCH_PROXIES: unknown proxy '$p'"
done
for v in BENCH_SECONDS BENCH_RELOADS BENCH_ROUNDS BENCH_WARMUP BENCH_RENAME_UPSTREAM BENCH_KEEP BENCH_PROXIES; do
  [ -z "${!v:-}" ] || COMMAND="$v=${!v} $COMMAND"
done
unset v p

# The upstream's body: 1 KiB, as bench-proxy.sh and bench-tls.sh use.
BODY=$(printf '%1024s' '' | tr ' ' x)

UP_PID=""
UP_PORT=""
PORT=""       # the running proxy's port
ADMIN_PORT="" # vkgw's admin listener
MASTER_PID="" # the process signalled to reload (vkgw, HAProxy's or nginx's master)
GEN=a         # the configuration the running proxy has: a or b
WRK_PIDS=()
# $RESULTS lines: ROUND PROXY MODE KA_REQS KA_RPS KA_P99 CL_REQS CL_P99 \
#   CONNECT READ WRITE TIMEOUT NON2XX RELOADS APPLY_MED_MS APPLY_MAX_MS PROCS RSS_KB \
#   LISTENING_SOCKET (after the reloads: kept, new, unknown; "-" without)
RESULTS=""

cleanup() {
  local p
  for p in "${WRK_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  stop_proxy || true
  [ -z "$UP_PID" ] || stop_pid "$UP_PID" upstream || true
  UP_PID=""
  remove_work
}

# ---------------------------------------------------------------- setup

[ $# -eq 1 ] || die 2 "usage: $0 PATH/TO/vkgw"
[ -x "$1" ] || die 2 "vkgw binary '$1' is missing or not executable (build it first)"
VKGW_BIN=$(realpath "$1")
check_rounds
is_uint "$RELOADS" || die 2 "BENCH_RELOADS must be a positive integer, got '$RELOADS'"
[[ $WARMUP =~ ^[0-9]+$ ]] || die 2 "BENCH_WARMUP must be a non-negative integer, got '$WARMUP'"
[ $((DURATION * 1000 / RELOADS)) -ge 200 ] ||
  die 2 "$RELOADS reloads in ${DURATION}s leave less than 200 ms each: raise BENCH_SECONDS"
require_server nginx "$NGINX_BIN"
require_server haproxy "$HAPROXY_BIN"
require_tools wrk curl taskset timeout setsid pgrep python3 realpath
require_cpus "$PROXY_CPU" "$CLIENT_CPU"
raise_fd_limit "bench-reload"
# This shell polls /stats and the proxies during the runs: keep it (and
# every helper it starts) off the proxy's CPU. launch pins the servers.
taskset -pc "$CLIENT_CPU" $$ >/dev/null
begin_work bench-reload
RESULTS=$WORK/results.txt
: >"$RESULTS"
mkdir -p "$WORK/upstream/tmp" "$WORK/nginx/tmp" "$WORK/haproxy" "$WORK/haproxy-xfd"

# NOW_MS: the clock in milliseconds, without a process.
clock_ms() { NOW_MS=$((${EPOCHREALTIME/./} / 1000)); }

# A pipe nobody writes to: `read -t` on it waits without a process.
mkfifo "$WORK/.nap"
exec {NAP_FD}<>"$WORK/.nap"
nap() { read -r -t "$1" -u "$NAP_FD" _ || true; }

# fetch PORT PATH: REPLY_HEAD and REPLY_BODY of a GET of PATH on a new
# connection (Connection: close), read until the server closes (at most
# 1 s); status 1 without a whole head. Starts no process.
fetch() {
  local fd reply=""
  REPLY_HEAD="" REPLY_BODY=""
  { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' "$2" >&"$fd" 2>/dev/null || true
  IFS= read -r -d '' -t 1 -u "$fd" reply || true
  exec {fd}>&-
  [[ $reply == *$'\r\n\r\n'* ]] || return 1
  REPLY_HEAD=${reply%%$'\r\n\r\n'*}
  REPLY_BODY=${reply#*$'\r\n\r\n'}
}

# A cap on each process's life: a proxy serves two runs at most.
proxy_time_cap() { echo $((2 * (WARMUP + DURATION + 60) + 60)); }
upstream_time_cap() { echo $((ROUNDS * ${#PROXIES[@]} * (2 * (WARMUP + DURATION + 60) + 60) + 120)); }

# ---------------------------------------------------------------- upstream

start_upstream() {
  local attempt
  for attempt in 1 2 3; do
    UP_PORT=$(free_port)
    write_nginx_conf "$WORK/upstream" "the upstream every proxy talks to." <<EOF
    server {
        listen 127.0.0.1:$UP_PORT;
        default_type text/plain;
        location / { return 200 "$BODY"; }
    }
EOF
    launch "$CLIENT_CPU" "$(upstream_time_cap)" "$WORK/upstream.log" "$NGINX_BIN" -p "$WORK/upstream/" \
      -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log" -g 'daemon off;'
    UP_PID=$LAUNCHED_PID
    wait_answering "$UP_PID" "$UP_PORT" && return 0
    stop_pid "$UP_PID" upstream
    UP_PID=""
    log "upstream did not come up on port $UP_PORT (attempt $attempt)"
  done
  failed upstream "$WORK/upstream.log" "did not start"
}

# ---------------------------------------------------------------- configurations

# Configuration GEN (a or b) of each proxy: route named after GEN, and
# x-bench-gen: GEN. The upstream (backend, upstream block) keeps its name,
# so a proxy that keeps upstream state across a reload (vkgw: its pool of
# kept connections) may; with BENCH_RENAME_UPSTREAM=1 it is named after GEN
# too, and every reload starts the upstream afresh.
up_name() { # up_name GEN
  if [ "$RENAME_UPSTREAM" = 1 ]; then printf 'up-%s' "$1"; else printf 'up'; fi
}

write_vkgw_conf() { # write_vkgw_conf GEN
  cat >"$WORK/vkgw.json.tmp" <<EOF
{
  "listeners": [ { "name": "bench", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "upstreams": { "$(up_name "$1")": { "endpoints": ["127.0.0.1:$UP_PORT"] } },
  "routes": [ { "name": "route-$1",
    "filters": [ { "type": "headers", "response": { "set": { "x-bench-gen": "$1" } } } ],
    "action": { "proxy": { "upstream": "$(up_name "$1")" } } } ]
}
EOF
  mv "$WORK/vkgw.json.tmp" "$WORK/vkgw.json"
}

write_haproxy_conf() { # write_haproxy_conf VARIANT GEN PORT
  local dir=$WORK/$1 stats=""
  [ "$1" != haproxy-xfd ] || stats="stats socket $dir/admin.sock mode 600 level admin expose-fd listeners"
  cat >"$dir/haproxy.cfg.tmp" <<EOF
# Generated by bench/bench-reload.sh: $1, configuration $2.
global
    nbthread 1
    maxconn 8192
    $stats

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
    bind 127.0.0.1:$3
    maxconn 8192
    default_backend $(up_name "$2")

backend $(up_name "$2")
    http-response set-header x-bench-gen $2
    server $(up_name "$2") 127.0.0.1:$UP_PORT
EOF
  mv "$dir/haproxy.cfg.tmp" "$dir/haproxy.cfg"
}

write_nginx_proxy_conf() { # write_nginx_proxy_conf GEN PORT
  write_nginx_conf "$WORK/nginx" "nginx as a reverse proxy, configuration $1." <<EOF
    upstream $(up_name "$1" | tr - _) {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$2;
        location / {
            proxy_pass http://$(up_name "$1" | tr - _);
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            add_header x-bench-gen $1 always;
        }
    }
EOF
}

write_conf() { # write_conf PROXY GEN
  case $1 in
    vkgw) write_vkgw_conf "$2" ;;
    haproxy*) write_haproxy_conf "$1" "$2" "$PORT" ;;
    nginx) write_nginx_proxy_conf "$2" "$PORT" ;;
  esac
}

# ---------------------------------------------------------------- proxies

# The process under `timeout` and `taskset` (which execs): vkgw itself, or
# HAProxy's and nginx's master.
find_master() {
  local i
  for ((i = 0; i < 50; i++)); do
    MASTER_PID=$(pgrep -P "$SERVER_PID" | head -n 1 || true)
    [ -z "$MASTER_PID" ] || return 0
    sleep 0.1 # polling the condition, not a fixed wait
  done
  server_failed "no process under the launcher"
}

# SERVED_GEN: x-bench-gen of a fresh request (a new connection), or "".
served_gen() {
  local head
  SERVED_GEN=""
  fetch "$PORT" / || return 0
  head=$'\n'${REPLY_HEAD,,}
  if [[ $head =~ $'\n'x-bench-gen:\ *([a-z]+) ]]; then SERVED_GEN=${BASH_REMATCH[1]}; fi
  return 0
}

start_vkgw() {
  write_vkgw_conf a
  SERVER_NAME=vkgw
  SERVER_LOG=$WORK/vkgw.log
  launch "$PROXY_CPU" "$(proxy_time_cap)" "$SERVER_LOG" "$VKGW_BIN" -c "$WORK/vkgw.json" -k 1
  SERVER_PID=$LAUNCHED_PID
  wait_listening 2 # the admin listener is announced last
  ADMIN_PORT=$LISTEN_PORT
  wait_listening 1
  PORT=$LISTEN_PORT
}

start_polled() { # start_polled haproxy|haproxy-xfd|nginx
  local name=$1 attempt cmd
  SERVER_NAME=$name
  SERVER_LOG=$WORK/$name.log
  for attempt in 1 2 3; do
    PORT=$(free_port)
    write_conf "$name" a
    case $name in
      nginx) cmd=("$NGINX_BIN" -p "$WORK/nginx/" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" -g 'daemon off;') ;;
      *) cmd=("$HAPROXY_BIN" -W -f "$WORK/$name/haproxy.cfg") ;;
    esac
    launch "$PROXY_CPU" "$(proxy_time_cap)" "$SERVER_LOG" "${cmd[@]}"
    SERVER_PID=$LAUNCHED_PID
    wait_answering "$SERVER_PID" "$PORT" && return 0
    stop_proxy
    log "$name did not come up on port $PORT (attempt $attempt)"
  done
  server_failed "failed to start"
}

start_proxy() { # start_proxy NAME
  if [ "$1" = vkgw ]; then start_vkgw; else start_polled "$1"; fi
  find_master
  GEN=a
  local got
  served_gen
  got=$SERVED_GEN
  [ "$got" = a ] || server_failed "GET / did not come back with x-bench-gen: a (got '${got:-none}')"
  curl -s --max-time 5 -o "$WORK/body" "http://127.0.0.1:$PORT/" || server_failed "GET / failed"
  [ "$(wc -c <"$WORK/body")" -eq 1024 ] || server_failed "does not pass the upstream's 1 KiB body"
}

# HAProxy's master (-W) exits 0 after SIGTERM, unlike -db (143, which
# stop_pid expects of the name "haproxy").
stop_proxy() {
  [ -n "$SERVER_PID" ] || return 0
  local pid=$SERVER_PID name=$SERVER_NAME
  SERVER_PID=""
  MASTER_PID=""
  [[ $name != haproxy* ]] || name="haproxy -W"
  stop_pid "$pid" "$name"
}

# The inodes of the sockets listening on 127.0.0.1:PORT, sorted, one line:
# a listening socket handed over (or kept) across reloads keeps its inode,
# one bound anew gets another.
listen_inodes() {
  awk -v want="$(printf '0100007F:%04X' "$PORT")" '$2 == want && $4 == "0A" { print $10 }' /proc/net/tcp |
    sort -n | tr '\n' ' ' | sed 's/ $//'
}

# vkgw's configuration generations from /stats: VK_GEN (config.generation),
# VK_KMIN and VK_KMAX (of per_kernel[].config_generation), VK_LAST
# (config.last_reload); all "" when /stats does not answer.
vkgw_generations() {
  local body k
  VK_GEN="" VK_KMIN="" VK_KMAX="" VK_LAST=""
  fetch "$ADMIN_PORT" /stats || return 0
  body=$REPLY_BODY
  if [[ $body =~ \"config\":\{\"generation\":([0-9]+) ]]; then VK_GEN=${BASH_REMATCH[1]}; fi
  if [[ $body =~ \"last_reload\":\"([a-z]+)\" ]]; then VK_LAST=${BASH_REMATCH[1]}; fi
  while [[ $body =~ \"config_generation\":([0-9]+) ]]; do
    k=${BASH_REMATCH[1]}
    if [ -z "$VK_KMIN" ] || [ "$k" -lt "$VK_KMIN" ]; then VK_KMIN=$k; fi
    if [ -z "$VK_KMAX" ] || [ "$k" -gt "$VK_KMAX" ]; then VK_KMAX=$k; fi
    body=${body#*\"config_generation\":}
  done
  return 0
}

# One poll of whether the reload to GEN is applied: vkgw's /stats (every
# kernel on a generation past BEFORE), or, for the others, a new
# connection's x-bench-gen. Status 0 once it is.
reload_applied() { # reload_applied GEN BEFORE
  if [ "$SERVER_NAME" = vkgw ]; then
    vkgw_generations
    [ "$VK_LAST" != refused ] || server_failed "refused the reload (see /stats config.problems)"
    [ -n "$VK_GEN" ] && [ "$VK_GEN" -gt "$2" ] && [ "$VK_KMIN" = "$VK_GEN" ] && [ "$VK_KMAX" = "$VK_GEN" ]
  else
    served_gen
    [ "$SERVED_GEN" = "$1" ]
  fi
}

# reload: switches the configuration file to the other one, signals the
# proxy and waits until the new configuration is applied. Sets RELOAD_MS
# to the milliseconds it took, RELOAD_POLLS to the polls it made (and
# GEN); fails the run after APPLY_WAIT_S.
RELOAD_MS=""
RELOAD_POLLS=0
reload() {
  local want t0 deadline before=0
  if [ "$GEN" = a ]; then want=b; else want=a; fi
  if [ "$SERVER_NAME" = vkgw ]; then
    vkgw_generations
    before=$VK_GEN
    [ -n "$before" ] || server_failed "admin /stats did not answer"
  fi
  write_conf "$SERVER_NAME" "$want"
  clock_ms
  t0=$NOW_MS
  deadline=$((t0 + APPLY_WAIT_S * 1000))
  case $SERVER_NAME in
    vkgw | nginx) kill -HUP "$MASTER_PID" ;;
    haproxy*) kill -USR2 "$MASTER_PID" ;;
  esac
  RELOAD_POLLS=0
  while :; do
    server_alive || server_failed "exited during a reload"
    RELOAD_POLLS=$((RELOAD_POLLS + 1))
    reload_applied "$want" "$before" && break
    clock_ms
    [ "$NOW_MS" -lt "$deadline" ] || server_failed "reload to configuration $want not applied within ${APPLY_WAIT_S}s"
    nap 0.02 # polling the condition, not a fixed wait
  done
  clock_ms
  RELOAD_MS=$((NOW_MS - t0))
  GEN=$want
}

# The baseline's stand-in for reload number I of the reload run: the same
# harness work without the signal: the /stats read before it (vkgw), the
# configuration file written again (unchanged), and as many polls, with
# the same pauses, as that reload's wait made.
poll_like_a_reload() { # poll_like_a_reload POLLS
  local n
  if [ "$SERVER_NAME" = vkgw ]; then vkgw_generations; fi
  write_conf "$SERVER_NAME" "$GEN"
  for ((n = 1; n <= $1; n++)); do
    server_alive || server_failed "exited during the baseline"
    reload_applied "$GEN" 0 || true
    [ "$n" -eq "$1" ] || nap 0.02 # the reload wait's poll interval
  done
}

# "PROCESSES RSS_KB" of the proxy: every process in its process group (the
# master and all workers, old ones still draining included), but not the
# `timeout` that launched them. Warns about any not pinned to PROXY_CPU.
proxy_rss() {
  local pid n=0 kb total=0 cpus
  for pid in $(pgrep -g "$SERVER_PID" || true); do
    [ "$pid" != "$SERVER_PID" ] || continue
    kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$kb" ] || continue
    cpus=$(taskset -pc "$pid" 2>/dev/null | awk '{ print $NF }' || true)
    [ -z "$cpus" ] || [ "$cpus" = "$PROXY_CPU" ] || log "warning: $SERVER_NAME pid $pid runs on CPUs $cpus"
    n=$((n + 1))
    total=$((total + kb))
  done
  echo "$n $total"
}

# ---------------------------------------------------------------- runs

# "REQS RPS P99_US CONNECT READ WRITE TIMEOUT NON2XX" from wrk --latency
# output (NA where it printed nothing).
wrk_numbers() {
  awk '
    function to_us(v,   n, unit) {
      n = v + 0; unit = v; sub(/^[0-9.]+/, "", unit)
      if (unit == "us") return n
      if (unit == "ms") return n * 1e3
      if (unit == "s")  return n * 1e6
      if (unit == "m")  return n * 60e6
      return -1
    }
    $1 == "99%" { p99 = to_us($2) }
    / requests in / { reqs = $1 }
    $1 == "Requests/sec:" { rps = $2 }
    /Socket errors:/ { gsub(/,/, ""); c = $4; r = $6; w = $8; t = $10 }
    /Non-2xx or 3xx/ { n = $NF }
    END {
      if (reqs == "") { print "NA NA NA NA NA NA NA NA"; exit }
      printf "%s %s %s %d %d %d %d %d\n", reqs, rps, (p99 == "" || p99 < 0 ? "NA" : sprintf("%.0f", p99)),
        c, r, w, t, n }' "$1"
}

warm_up() {
  [ "$WARMUP" -gt 0 ] || return 0
  timeout -k 2 $((WARMUP + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 "-c$KA_CONNS" "-d${WARMUP}s" "http://127.0.0.1:$PORT/" >/dev/null 2>&1 </dev/null || true
}

# measure ROUND MODE: both wrk for DURATION seconds against the running
# proxy, with RELOADS reloads spread over them when MODE is "reload" (the
# i-th at (i + 1/2) x DURATION / RELOADS). Appends a line to $RESULTS.
measure() {
  local round=$1 mode=$2 label=$SERVER_NAME ka cl i t0 at ms secs applied=0 times=() procs rss
  local inodes0 inodes1 sockets=-
  inodes0=$(listen_inodes)
  ka=$WORK/wrk.r$round.$label.$mode.keepalive.txt
  cl=$WORK/wrk.r$round.$label.$mode.close.txt
  warm_up
  WRK_PIDS=()
  timeout -k 2 $((DURATION + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 "-c$KA_CONNS" "-d${DURATION}s" --latency "http://127.0.0.1:$PORT/" >"$ka" 2>&1 </dev/null &
  WRK_PIDS+=($!)
  timeout -k 2 $((DURATION + 30)) taskset -c "$CLIENT_CPU" \
    wrk -t1 "-c$CLOSE_CONNS" "-d${DURATION}s" --latency -H "Connection: close" "http://127.0.0.1:$PORT/" >"$cl" 2>&1 </dev/null &
  WRK_PIDS+=($!)
  clock_ms
  t0=$NOW_MS
  for ((i = 0; i < RELOADS; i++)); do
    at=$((t0 + (2 * i + 1) * DURATION * 1000 / (2 * RELOADS)))
    clock_ms
    ms=$((at - NOW_MS))
    if [ "$ms" -gt 0 ]; then
      printf -v secs '%d.%03d' $((ms / 1000)) $((ms % 1000))
      nap "$secs" # the schedule, not a wait for anything
    fi
    if [ "$mode" = reload ]; then
      reload
      times+=("$RELOAD_MS")
      RELOAD_POLL_COUNTS[i]=$RELOAD_POLLS
      applied=$((applied + 1))
    else
      poll_like_a_reload "${RELOAD_POLL_COUNTS[i]:-1}"
    fi
  done
  for i in "${WRK_PIDS[@]}"; do wait "$i" || true; done
  WRK_PIDS=()
  # Right after the load: old workers that still drain count.
  read -r procs rss <<<"$(proxy_rss)"
  inodes1=$(listen_inodes)
  if [ "$mode" = reload ]; then
    if [ -z "$inodes0" ] || [ -z "$inodes1" ]; then
      sockets=unknown
    elif [ "$inodes0" = "$inodes1" ]; then
      sockets=kept
    else
      sockets=new
    fi
    log "$label: listening socket inodes before the reloads: $inodes0; after: $inodes1 ($sockets)"
  fi
  server_alive || server_failed "died during the $mode run"
  alive "$UP_PID" || failed upstream "$WORK/upstream.log" "died during the $mode run ($label)"
  if [ "$mode" = reload ]; then served_gen; fi
  [ "$mode" != reload ] || [ "$SERVED_GEN" = "$GEN" ] ||
    log "warning: $label does not serve x-bench-gen: $GEN after the last reload"
  local med=NA max=NA
  if [ "${#times[@]}" -gt 0 ]; then
    med=$(printf '%s\n' "${times[@]}" | median)
    max=$(printf '%s\n' "${times[@]}" | sort -n | tail -n 1)
  fi
  local kreq krps kp99 kc kr kw kt kn creq cp99 cc cr cw ct cn
  read -r kreq krps kp99 kc kr kw kt kn <<<"$(wrk_numbers "$ka")"
  read -r creq _ cp99 cc cr cw ct cn <<<"$(wrk_numbers "$cl")"
  if [ "$kreq" = NA ] || [ "$creq" = NA ]; then
    log "$label $mode: wrk produced no numbers; its output:"
    cat "$ka" "$cl" >&2
    exit 1
  fi
  echo "$round $label $mode $kreq $krps $kp99 $creq $cp99 $((kc + cc)) $((kr + cr)) $((kw + cw)) $((kt + ct))" \
    "$((kn + cn)) $applied $med $max $procs $rss $sockets" >>"$RESULTS"
  log "round $round: $label $mode: keep-alive $kreq requests (p99 $(fmt_us "$kp99")," \
    "errors c/r/w/t $kc/$kr/$kw/$kt, non-2xx $kn), close $creq requests (p99 $(fmt_us "$cp99")," \
    "errors c/r/w/t $cc/$cr/$cw/$ct, non-2xx $cn); $applied reloads (median $med ms, max $max ms);" \
    "$procs processes, $((rss / 1024)) MiB RSS"
}

bench_proxy() { # bench_proxy ROUND NAME
  local mode
  # The reload run first: the baseline repeats its harness work.
  RELOAD_POLL_COUNTS=()
  for mode in reload baseline; do
    start_proxy "$2"
    measure "$1" "$mode"
    stop_proxy
  done
}

# ---------------------------------------------------------------- report

field() { # field PROXY MODE N: column N, the median over rounds
  awk -v p="$1" -v m="$2" -v f="$3" '$2 == p && $3 == m { print $f }' "$RESULTS" | median
}

sum_field() { # sum_field PROXY MODE N
  awk -v p="$1" -v m="$2" -v f="$3" '$2 == p && $3 == m && $f != "NA" { n += $f } END { print n + 0 }' "$RESULTS"
}

errors_of() { # errors_of PROXY MODE: socket errors + non-2xx over every round
  echo $(($(sum_field "$1" "$2" 9) + $(sum_field "$1" "$2" 10) + $(sum_field "$1" "$2" 11) +
    $(sum_field "$1" "$2" 12) + $(sum_field "$1" "$2" 13)))
}

errors_text() { # errors_text PROXY MODE: "c/r/w/t + n"
  echo "$(sum_field "$1" "$2" 9)/$(sum_field "$1" "$2" 10)/$(sum_field "$1" "$2" 11)/$(sum_field "$1" "$2" 12)" \
    "+ $(sum_field "$1" "$2" 13)"
}

p99_ratio() { # p99_ratio PROXY: median over rounds of reload p99 / baseline p99 (same round)
  awk -v p="$1" '
    $2 == p && $3 == "baseline" { b[$1] = $6 }
    $2 == p && $3 == "reload" { r[$1] = $6 }
    END { for (k in r) if ((k in b) && b[k] != "NA" && r[k] != "NA" && b[k] > 0) print r[k] / b[k] }
  ' "$RESULTS" | median
}

print_report() {
  local p mode
  echo
  echo "### Runs (${DURATION}s each; proxy on CPU $PROXY_CPU; both wrk -t1 and the upstream on CPU $CLIENT_CPU)"
  echo
  echo "| round | proxy | run | keep-alive requests | keep-alive p99 | close requests | close p99 | errors c/r/w/t + non-2xx | reloads | apply median / max | listening socket | processes | RSS |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"
  local round label m kreq krps kp99 creq cp99 c r w t n applied med max procs rss sockets
  while read -r round label m kreq krps kp99 creq cp99 c r w t n applied med max procs rss sockets; do
    echo "| $round | $label | $m | $kreq | $(fmt_us "$kp99") | $creq | $(fmt_us "$cp99") | $c/$r/$w/$t + $n |" \
      "$applied | $([ "$med" = NA ] && echo - || echo "$med ms / $max ms") | $sockets | $procs | $((rss / 1024)) MiB |"
  done <"$RESULTS"

  echo
  echo "### Reload under load: $RELOADS reloads in ${DURATION}s against none ($([ "$ROUNDS" -eq 1 ] && echo "1 round" || echo "medians of $ROUNDS rounds, errors summed"))"
  echo
  echo "| proxy | reloaded by | requests, no reload / reloads (keep-alive + close) | errors no reload: c/r/w/t + non-2xx | errors with reloads: c/r/w/t + non-2xx | keep-alive p99 no reload | keep-alive p99 with reloads | ratio | reload applied in (median / max) | listening socket | processes, RSS after the reloads |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
  for p in "${PROXIES[@]}"; do
    local how
    case $p in
      vkgw) how="SIGHUP, /stats generations" ;;
      haproxy) how="SIGUSR2 to master (-x sockpair@)" ;;
      haproxy-xfd) how="SIGUSR2 to master, stats socket expose-fd listeners" ;;
      nginx) how="SIGHUP to master" ;;
    esac
    local rb rr
    rb=$(($(field "$p" baseline 4 | cut -d. -f1) + $(field "$p" baseline 7 | cut -d. -f1)))
    rr=$(($(field "$p" reload 4 | cut -d. -f1) + $(field "$p" reload 7 | cut -d. -f1)))
    echo "| $p | $how | $rb / $rr | $(errors_text "$p" baseline) | $(errors_text "$p" reload) |" \
      "$(fmt_us "$(field "$p" baseline 6)") | $(fmt_us "$(field "$p" reload 6)") |" \
      "$(fmt_ratio "$(p99_ratio "$p")") | $(field "$p" reload 15) ms / $(field "$p" reload 16) ms |" \
      "$(awk -v p="$p" '$2 == p && $3 == "reload" { print $19 }' "$RESULTS" | sort -u | paste -sd/) |" \
      "$(field "$p" reload 17 | cut -d. -f1), $(($(field "$p" reload 18 | cut -d. -f1) / 1024)) MiB |"
  done

  # The goal.
  local ve ratio why="" peer pe
  ve=$(errors_of vkgw reload)
  ratio=$(p99_ratio vkgw)
  [ "$ve" -eq 0 ] || why="$ve errors"
  awk -v r="$ratio" -v g="$GOAL_P99_RATIO" 'BEGIN { exit !(r != "NA" && r + 0 <= g + 0) }' ||
    why="${why:+$why, }p99 ratio $(fmt_ratio "$ratio") > ${GOAL_P99_RATIO}x"
  for peer in "${PEERS[@]}"; do
    if [[ " ${PROXIES[*]} " != *" $peer "* ]]; then
      why="${why:+$why, }$peer not run"
      continue
    fi
    pe=$(errors_of "$peer" reload)
    [ "$ve" -lt "$pe" ] || why="${why:+$why, }not fewer errors than $peer ($ve vs $pe)"
  done
  echo
  echo "Errors: wrk's socket errors (connect/read/write/timeout) and non-2xx-or-3xx responses, of both wrk"
  echo "(keep-alive: -c$KA_CONNS; close: -c$CLOSE_CONNS with \"Connection: close\"). p99 is the keep-alive wrk's."
  echo "RSS: VmRSS summed over the proxy's processes right after the reload run's load (old workers"
  echo "still draining included)."
  echo "Listening socket: whether the socket listening on the proxy's port after the reloads is the"
  echo "one from before them (same inode in /proc/net/tcp: kept or handed over) or a new one."
  echo
  echo "**Goal (vkgw under reloads: 0 errors, keep-alive p99 within 10% of no reload, fewer errors than" \
    "${PEERS[*]}): $([ -z "$why" ] && echo MET || echo "NOT MET ($why)")**"
  echo
  echo "Command: \`$COMMAND\`"
}

# ---------------------------------------------------------------- main

start_upstream
log "$ROUNDS round(s) x ${#PROXIES[@]} proxies x 2 runs of ${DURATION}s ($RELOADS reloads in each reload run);" \
  "upstream on port $UP_PORT"
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then
    for p in "${PROXIES[@]}"; do bench_proxy "$round" "$p"; done
  else
    for ((k = ${#PROXIES[@]} - 1; k >= 0; k--)); do bench_proxy "$round" "${PROXIES[k]}"; done
  fi
done
stop_pid "$UP_PID" upstream
UP_PID=""
print_report
