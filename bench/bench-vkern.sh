#!/usr/bin/env bash
# Benchmark the vkern hello service against nginx, and vkern with memory
# isolation (-i) against vkern without it.
#
# Usage: bench/bench-vkern.sh PATH/TO/vk_hello
#   env BENCH_SECONDS  seconds per wrk run        (default 5)
#   env BENCH_ROUNDS   rounds of alternating runs  (default 3)
#   env BENCH_KEEP=1   keep the temp dir with raw wrk output and server logs
#
# Each server runs pinned to CPU 0 and wrk (one thread) to CPU 1, so the
# numbers compare one core of server work. Servers listen on 127.0.0.1 only.
# Exit status: 0 when every run completed (goals met or not; this is a
# benchmark, not a test), 1 when a server failed to start or died, 2 on bad
# usage or missing tools.
set -euo pipefail

readonly SERVER_CPU=0
readonly CLIENT_CPU=1
readonly PIPELINE_DEPTH=16
readonly GOAL_SPEEDUP=1.3   # vkern req/s must be >= this times nginx's
readonly GOAL_ISOLATION=0.6 # isolated req/s must be >= this times plain
readonly HELLO_BODY=$'Hello, world\n'
readonly NGINX_BIN=/usr/sbin/nginx

DURATION=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
PIPELINE_LUA=$BENCH_DIR/pipeline.lua

# Scenario name -> wrk connection count. Pipelined runs reuse the 50-conn
# setting; what changes there is the Lua script.
declare -A SCENARIO_CONNS=([ka50]=50 [ka1000]=1000 [pipe16]=50)
declare -A SCENARIO_LABEL=(
  [ka50]="keep-alive, 50 conns"
  [ka1000]="keep-alive, 1000 conns"
  [pipe16]="pipelined x${PIPELINE_DEPTH}, 50 conns (p99 per batch)"
)
readonly CMP_SCENARIOS=(ka50 ka1000 pipe16) # vkern vs nginx
readonly ISO_SCENARIOS=(ka50)               # isolated vs plain vkern

# The port of the one server that is running at any time (lib.sh holds
# its pid, name and log).
PORT=""
WRK_PID=""  # the wrk run in progress, if any
declare -A HEADER_BYTES=()
# $RESULTS columns (see run_wrk): 4=rps 5=p99 6=errors 7=server cpu%;
# lib.sh's sum_errors and median_efficiency_ratio read the two named here.
readonly ERRORS_FIELD=6 CPU_FIELD=7

# ---------------------------------------------------------------- setup

check_setup() {
  [ $# -eq 1 ] || die 2 "usage: $0 PATH/TO/vk_hello"
  [ -x "$1" ] || die 2 "server binary '$1' is missing or not executable (build it first)"
  check_rounds
  [ -r "$PIPELINE_LUA" ] || die 2 "missing $PIPELINE_LUA"
  require_server nginx "$NGINX_BIN"
  require_tools wrk curl taskset timeout python3
  require_cpus "$SERVER_CPU" "$CLIENT_CPU"
  # 1000 connections need ~1000 fds in wrk and in each server.
  raise_fd_limit "1000 connections"
}

cleanup() {
  [ -z "$WRK_PID" ] || kill -TERM "$WRK_PID" 2>/dev/null || true
  stop_server || true
  remove_work
}

# ---------------------------------------------------------------- servers

# Upper bound on a server's life, so nothing outlives a killed script by
# long: every run it serves, plus slack for start-up and checks.
server_time_cap() { echo $((${#CMP_SCENARIOS[@]} * (DURATION + 30) + 60)); }

# Launch CMD on the server CPU as the running server (see launch).
launch_server() { # launch_server NAME LOGFILE CMD...
  SERVER_NAME=$1
  SERVER_LOG=$2
  shift 2
  launch "$SERVER_CPU" "$(server_time_cap)" "$SERVER_LOG" "$@"
  SERVER_PID=$LAUNCHED_PID
}

# vk_hello announces its ephemeral port with one line on stdout.
start_vkern() { # start_vkern plain|iso
  local mode=$1 args=(-a 127.0.0.1 -p 0 -k 1)
  [ "$mode" = iso ] && args+=(-i)
  launch_server "vkern-$mode" "$WORK/vkern-$mode.log" "$VK_BIN" "${args[@]}"
  wait_listening 1
  PORT=$LISTEN_PORT
  check_server
}

write_baseline_conf() { # write_baseline_conf DIR PORT
  write_nginx_conf "$1" "nginx as the one-core baseline." <<EOF
    server {
        listen 127.0.0.1:$2;
        default_type text/plain;
        location / { return 200 "Hello, world\n"; }
    }
EOF
}

start_nginx() {
  local dir=$WORK/nginx attempt port
  mkdir -p "$dir/tmp"
  for attempt in 1 2 3; do
    port=$(free_port)
    write_baseline_conf "$dir" "$port"
    launch_server nginx "$WORK/nginx.log" "$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf" \
      -e "$dir/error.log" -g 'daemon off;'
    if wait_answering "$SERVER_PID" "$port"; then
      PORT=$port
      check_server
      return 0
    fi
    # Most likely lost the port race; the error log says for sure.
    cat "$dir/error.log" >>"$WORK/nginx.log" 2>/dev/null || true
    stop_server
    log "nginx did not come up on port $port (attempt $attempt)"
  done
  server_failed "failed to start"
}

# Both servers must send the same 13-byte body, with similar header sizes,
# and keep the connection open, or the comparison means nothing.
check_server() {
  local url="http://127.0.0.1:$PORT/" body=$WORK/body meta code hdr ctype
  meta=$(curl -sS --max-time 5 -o "$body" -w '%{http_code} %{size_header} %{content_type}' "$url") ||
    server_failed "no answer to a plain GET on port $PORT"
  read -r code hdr ctype <<<"$meta"
  [ "$code" = 200 ] || server_failed "GET / returned HTTP $code, want 200"
  [ "$(cat "$body"; echo x)" = "${HELLO_BODY}x" ] ||
    server_failed "body is not 'Hello, world\\n' ($(wc -c <"$body") bytes)"
  [[ $ctype == text/plain* ]] || log "warning: $SERVER_NAME Content-Type is '$ctype', want text/plain"
  HEADER_BYTES[${SERVER_NAME%-*}]=$hdr
  keeps_alive "$url" || log "warning: $SERVER_NAME closed the connection after one request (no keep-alive)"
}

# ---------------------------------------------------------------- wrk

# One wrk run against the running server; appends a line to $RESULTS:
# ROUND LABEL SCENARIO RPS P99 ERRORS SERVER_CPU_PERCENT.
run_wrk() { # run_wrk ROUND LABEL SCENARIO
  local round=$1 label=$2 scenario=$3 out stats cpu0 cpu1 t0 t1 cpu_pct rps p99 errors
  local args=(-t1 "-c${SCENARIO_CONNS[$scenario]}" "-d${DURATION}s" --latency)
  [ "$scenario" = pipe16 ] && args+=(-s "$PIPELINE_LUA")
  out="$WORK/wrk.r$round.$label.$scenario.txt"
  # In the background so that `wait` lets an INT/TERM trap run at once.
  env PIPELINE_DEPTH="$PIPELINE_DEPTH" BENCH_CONNECTIONS="${SCENARIO_CONNS[$scenario]}" \
    timeout -k 2 $((DURATION + 30)) \
    taskset -c "$CLIENT_CPU" wrk "${args[@]}" "http://127.0.0.1:$PORT/" >"$out" 2>&1 </dev/null &
  WRK_PID=$!
  cpu0=$(group_cpu_ticks "$SERVER_PID")
  t0=$(date +%s%N)
  wait "$WRK_PID" || true
  cpu1=$(group_cpu_ticks "$SERVER_PID")
  t1=$(date +%s%N)
  WRK_PID=
  # Server CPU over the run: near 100% means the server is the limit;
  # well below it means the client (wrk, one thread) is.
  cpu_pct=$(ticks_pct $((cpu1 - cpu0)) $((t1 - t0)))
  server_alive || server_failed "died during wrk run ($scenario)"
  if stats=$(parse_wrk "$out" "$([ "$scenario" = pipe16 ] && echo pipelined || echo plain)"); then
    read -r rps _ p99 errors <<<"$stats"
    stats="$rps $p99 $errors" # the tables here have no p50
    log "round $round: $(printf '%-12s %-7s' "$label" "$scenario") $(fmt_stats "$stats")"
  else
    stats="NA NA NA"
    cpu_pct=NA
    log "round $round: $label $scenario: wrk produced no result (see below)"
    tail -n 5 "$out" >&2 || true
  fi
  echo "$round $label $scenario $stats $cpu_pct" >>"$RESULTS"
}

# ---------------------------------------------------------------- report

print_runs() {
  echo
  echo "### Per-run results (${DURATION}s each, wrk -t1 on CPU $CLIENT_CPU, server on CPU $SERVER_CPU)"
  echo
  echo "| round | server | scenario | req/s | p99 | errors | server CPU |"
  echo "|---|---|---|---:|---:|---:|---:|"
  local round label scenario rps p99 errors cpu
  while read -r round label scenario rps p99 errors cpu; do
    echo "| $round | $label | ${SCENARIO_LABEL[$scenario]} | $(fmt_rps "$rps") | $(fmt_us "$p99") | $errors | ${cpu}% |"
  done <"$RESULTS"
}

# One summary row: medians of A and B, the A/B ratio, and the goal verdict.
summary_row() { # summary_row LABEL_A LABEL_B SCENARIO GOAL_RATIO CHECK_P99(yes|no) ROW_NAME
  local a=$1 b=$2 scenario=$3 goal=$4 check_p99=$5 name=$6
  local rps_a rps_b p99_a p99_b ratio verdict errors
  rps_a=$(col_median "$a" "$scenario" 4)
  rps_b=$(col_median "$b" "$scenario" 4)
  p99_a=$(col_median "$a" "$scenario" 5)
  p99_b=$(col_median "$b" "$scenario" 5)
  ratio=$(median_ratio "$a" "$b" "$scenario")
  verdict=$(awk -v r="$ratio" -v g="$goal" -v c="$check_p99" -v pa="$p99_a" -v pb="$p99_b" 'BEGIN {
    if (r == "NA" || (c == "yes" && (pa == "NA" || pb == "NA"))) { print "NOT MET (no data)"; exit }
    ok = (r + 0 >= g + 0)
    if (c == "yes" && pa + 0 > pb + 0) { ok = 0; why = ", p99 higher" }
    print (ok ? "MET" : "NOT MET" why) }')
  errors=$(($(sum_errors "$a" "$scenario") + $(sum_errors "$b" "$scenario")))
  [ "$errors" -eq 0 ] || verdict="$verdict ($errors wrk errors)"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
    "$(fmt_rps "$rps_a") / $(fmt_rps "$rps_b")" \
    "$(fmt_ratio "$ratio")" \
    "$(fmt_us "$p99_a") / $(fmt_us "$p99_b")" \
    "$(col_median "$a" "$scenario" 7)% / $(col_median "$b" "$scenario" 7)%" \
    "$(fmt_ratio "$(median_efficiency_ratio "$a" "$b" "$scenario")")" \
    "$( [ "$check_p99" = yes ] && echo ">= ${goal}x, p99 <=" || echo ">= ${goal}x")" \
    "$verdict"
}

print_summary() {
  echo
  echo "### Summary (medians of $ROUNDS rounds; ratio = median of per-round ratios)"
  echo
  echo "| comparison A vs B | req/s (A / B) | ratio A/B | p99 (A / B) | server CPU (A / B) | req per CPU-s ratio | goal | result |"
  echo "|---|---:|---:|---:|---:|---:|---|---|"
  local s
  for s in "${CMP_SCENARIOS[@]}"; do
    summary_row vkern nginx "$s" "$GOAL_SPEEDUP" yes "vkern vs nginx, ${SCENARIO_LABEL[$s]}"
  done
  for s in "${ISO_SCENARIOS[@]}"; do
    summary_row vkern-iso vkern "$s" "$GOAL_ISOLATION" no "vkern -i vs vkern, ${SCENARIO_LABEL[$s]}"
  done
  echo
  echo "Server CPU below ~95% means wrk (one thread on CPU $CLIENT_CPU) set the rate, not the server;"
  echo "the req per CPU-s ratio then compares the servers' work per request."
  echo "Response header bytes: vkern ${HEADER_BYTES[vkern]:-?}, nginx ${HEADER_BYTES[nginx]:-?}" \
    "(body 13 bytes each)."
}

warn_header_gap() {
  local v=${HEADER_BYTES[vkern]:-} n=${HEADER_BYTES[nginx]:-}
  [ -n "$v" ] && [ -n "$n" ] || return 0
  local gap=$((v > n ? v - n : n - v))
  [ "$gap" -le 32 ] || log "warning: header sizes differ by $gap bytes (vkern $v, nginx $n); req/s is not like for like"
}

# ---------------------------------------------------------------- main

# Run every scenario in LIST against one freshly started server.
bench_server() { # bench_server ROUND LABEL SCENARIO...
  local round=$1 label=$2 s
  shift 2
  case $label in
    vkern) start_vkern plain ;;
    vkern-iso) start_vkern iso ;;
    nginx) start_nginx ;;
  esac
  for s in "$@"; do run_wrk "$round" "$label" "$s"; done
  stop_server
}

main() {
  check_setup "$@"
  VK_BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  begin_work bench-vkern
  RESULTS=$WORK/results.txt
  : >"$RESULTS"

  local runs_per_round=$((2 * ${#CMP_SCENARIOS[@]} + ${#ISO_SCENARIOS[@]}))
  log "$ROUNDS rounds x $runs_per_round runs x ${DURATION}s" \
    "(~$((ROUNDS * runs_per_round * DURATION))s of load)"

  # Alternate the order each round so neither side always runs first
  # (warm caches, thermal state, background noise).
  local round
  for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then
      bench_server "$round" vkern "${CMP_SCENARIOS[@]}"
      bench_server "$round" nginx "${CMP_SCENARIOS[@]}"
      bench_server "$round" vkern-iso "${ISO_SCENARIOS[@]}"
    else
      bench_server "$round" vkern-iso "${ISO_SCENARIOS[@]}"
      bench_server "$round" nginx "${CMP_SCENARIOS[@]}"
      bench_server "$round" vkern "${CMP_SCENARIOS[@]}"
    fi
  done

  warn_header_gap
  print_runs
  print_summary
}

main "$@"
