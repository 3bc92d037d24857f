# bench/lib.sh: helpers the benchmark scripts share (sourced, not run).
# shellcheck shell=bash
#
# Some read state by name, as noted at each: the one server that runs at a
# time and the run's temp dir (declared below), and what the sourcing
# script defines: DURATION and ROUNDS, its cleanup function, and its results
# (RESULTS: one line per wrk run, ROUND LABEL SCENARIO RPS ..., where the
# columns ERRORS_FIELD and CPU_FIELD hold wrk's error count and the CPU
# percent that divides req/s into req per CPU-s).

# The one server that runs at a time, and the run's temp dir.
SERVER_PID=""
SERVER_NAME=""
SERVER_LOG=""
WORK=""

# ---------------------------------------------------------------- setup

log() { printf 'bench: %s\n' "$*" >&2; }

die() { # die EXIT_CODE MESSAGE...
  local code=$1
  shift
  log "error: $*"
  exit "$code"
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }

# check_rounds: DURATION and ROUNDS (from BENCH_SECONDS and BENCH_ROUNDS)
# are positive integers, else exit 2.
check_rounds() {
  is_uint "$DURATION" || die 2 "BENCH_SECONDS must be a positive integer, got '$DURATION'"
  is_uint "$ROUNDS" || die 2 "BENCH_ROUNDS must be a positive integer, got '$ROUNDS'"
}

# require_tools TOOL...: each is on PATH, else exit 2.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die 2 "'$tool' not found (run deploy/install-deps.sh)"
  done
}

# require_server NAME PATH: the installed server we compare against is
# there, else exit 2.
require_server() {
  [ -x "$2" ] || die 2 "$1 not found at $2 (run deploy/install-deps.sh)"
}

# require_cpus A B: pinning to both works. Pinning apart is the point of
# the setups; refuse to produce numbers that silently share a core.
require_cpus() {
  taskset -c "$1,$2" true 2>/dev/null || die 2 "need CPUs $1 and $2 available for pinning"
}

# raise_fd_limit WHAT: the open-file limit up to the hard limit, and at
# least 4096 (WHAT says what needs them), else exit 2.
raise_fd_limit() {
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 4096 ] ||
    die 2 "open-file limit $(ulimit -n) is too low for $1"
}

# begin_work NAME: makes the run's temp dir, $WORK, and arms the traps: on
# exit the script's cleanup runs (it ends with remove_work); INT and TERM
# just turn into an exit.
begin_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# remove_work: the run's temp dir ($WORK) goes, unless BENCH_KEEP=1.
remove_work() {
  [ -n "${WORK:-}" ] || return 0
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "raw output kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}

# ---------------------------------------------------------------- processes

# A loopback port nobody is bound to right now. Small race with other
# programs, which the servers started on it cover by retrying.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# launch CPU TIME_CAP LOGFILE CMD...: runs CMD in the background pinned to
# CPU, and sets LAUNCHED_PID. setsid gives it a process group of its own
# (id = its pid) that is summed for CPU time and killed as a last resort
# (nginx's and HAProxy's workers). `timeout --foreground` passes our one
# SIGTERM on to the server (without --foreground it would send it twice: to
# the child and to the group) and SIGKILLs it 5 s after TIME_CAP if it
# hangs, so nothing outlives a killed script by long.
launch() {
  local cpu=$1 cap=$2 logfile=$3
  shift 3
  setsid timeout --foreground -k 5 "$cap" taskset -c "$cpu" "$@" >"$logfile" 2>&1 </dev/null &
  LAUNCHED_PID=$!
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

server_alive() { alive "$SERVER_PID"; }

failed() { # failed NAME LOGFILE MESSAGE: show the log, then exit 1
  log "$1: $3; last lines of its output:"
  tail -n 20 "$2" >&2 || true
  exit 1
}

server_failed() { failed "$SERVER_NAME" "$SERVER_LOG" "$1"; }

# stop_pid PID NAME: stops PID (and its process group); warns if SIGTERM
# did not make it exit with the expected status (0; HAProxy in -db mode,
# NAME "haproxy" or "haproxy-VARIANT", exits 143 = 128 + SIGTERM).
stop_pid() {
  local pid=$1 name=$2 rc=0 i want=0
  [[ $name == haproxy || $name == haproxy-* ]] && want=143
  if ! kill -TERM "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true # already gone; whoever noticed reported it
    return 0
  fi
  for ((i = 0; i < 150; i++)); do # timeout(1) escalates to KILL after 5 s
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1 # polling the condition, not a fixed wait
  done
  kill -KILL -- "-$pid" 2>/dev/null || true # its process group, if still there
  wait "$pid" 2>/dev/null || rc=$?
  [ "$rc" -eq "$want" ] || log "warning: $name exited with status $rc after SIGTERM (expected $want)"
}

# stop_server: stops the running server, if any.
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  local pid=$SERVER_PID
  SERVER_PID=""
  stop_pid "$pid" "$SERVER_NAME"
}

# wait_listening N: waits up to 10 s for the Nth "listening on
# 127.0.0.1:PORT" line in $SERVER_LOG (servers here announce the ports the
# kernel picked), and sets LISTEN_PORT to its port. The log may not exist
# yet on the first look: launch's background job creates it.
wait_listening() {
  local nth=$1 i line=""
  for ((i = 0; i < 100; i++)); do
    line=$(grep -E '^listening on 127\.0\.0\.1:[0-9]+$' "$SERVER_LOG" 2>/dev/null | sed -n "${nth}p" || true)
    [ -n "$line" ] && break
    server_alive || server_failed "exited before it was listening"
    sleep 0.1 # polling the condition, not a fixed wait
  done
  [ -n "$line" ] || server_failed "did not print 'listening on 127.0.0.1:PORT' (line $nth) within 10 s"
  LISTEN_PORT=${line##*:}
}

# wait_answering PID PORT [SCHEME]: for servers that announce nothing
# (nginx, HAProxy). Polls GET / on PORT (http, or https with any
# certificate) for up to 10 s while PID lives; fails if it never answered
# (most likely the port race free_port leaves open).
wait_answering() {
  local pid=$1 port=$2 scheme=${3:-http} i
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || return 1
    curl -sk -o /dev/null --max-time 1 "$scheme://127.0.0.1:$port/" && return 0
    sleep 0.1 # polling the condition, not a fixed wait
  done
  return 1
}

# keeps_alive URL: two URLs in one curl call reuse the connection if the
# server allows it; num_connects is then 0 for the second request.
keeps_alive() {
  [ "$(curl -s --max-time 5 -o /dev/null -o /dev/null -w '%{num_connects}\n' "$1" "$1" | tail -n 1)" = 0 ]
}

# CPU ticks (user + system) used so far by every process in process group
# PGID (nginx and HAProxy: master and worker). 0 if PGID is empty.
group_cpu_ticks() { # group_cpu_ticks PGID
  local pid total=0
  [ -n "$1" ] || { echo 0; return; }
  for pid in $(pgrep -g "$1" || true); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# Percent of one CPU used between two tick counts over NS nanoseconds.
ticks_pct() { # ticks_pct TICKS NS
  awk -v d="$1" -v hz="$(getconf CLK_TCK)" -v ns="$2" \
    'BEGIN { printf "%.0f\n", (ns > 0 ? 100 * d / hz / (ns / 1e9) : 0) }'
}

# ---------------------------------------------------------------- nginx

# As root nginx would run its worker as 'nobody', who cannot enter our 0700
# temp dir; stay root (the worker only ever talks to loopback).
nginx_user_line() { [ "$(id -u)" -ne 0 ] || echo "user root;"; }

# write_nginx_conf DIR PURPOSE [MAIN_LINES]: DIR/nginx.conf with what every
# nginx here shares (one worker, no access log, keep-alive that never ends
# mid-run, temp paths inside DIR) and, inside http { }, the blocks read from
# stdin. MAIN_LINES go in the main context before events { } (load_module
# must come before it).
write_nginx_conf() {
  local dir=$1
  {
    cat <<EOF_NGINX
# Generated by bench/$(basename "$0"): $2
$(nginx_user_line)
${3:-}
worker_processes 1;
worker_rlimit_nofile 8192;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;           # "Server: nginx", keeps headers close to the others'
    keepalive_requests 10000000; # default 1000 would force reconnects mid-run
    keepalive_timeout 75s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
EOF_NGINX
    cat
    echo "}"
  } >"$dir/nginx.conf"
}

# ---------------------------------------------------------------- wrk

# parse_wrk FILE [plain|pipelined]: prints "REQS_PER_SEC P50_US P99_US
# ERRORS" from wrk --latency output; fails if the run produced no numbers.
# wrk prints latencies as e.g. 812.00us, 1.25ms or 2.00s (and m/h for
# absurd cases). Pipelined runs take p99 from the line pipeline.lua prints
# instead, as wrk's own is wrong there (see pipeline.lua); it is the
# latency of a whole batch, and there is no p50 (NA).
parse_wrk() {
  awk -v pipelined="$([ "${2:-plain}" = pipelined ] && echo 1 || echo 0)" '
    function to_us(v,   n, unit) {
      n = v + 0; unit = v; sub(/^[0-9.]+/, "", unit)
      if (unit == "us") return n
      if (unit == "ms") return n * 1e3
      if (unit == "s")  return n * 1e6
      if (unit == "m")  return n * 60e6
      if (unit == "h")  return n * 3600e6
      return -1
    }
    $1 == "50%" && !pipelined { p50 = to_us($2) }
    $1 == "99%" && !pipelined { p99 = to_us($2) }
    $1 == "pipeline-batch-latency" && pipelined {
      for (i = 2; i <= NF; i++) if ($i ~ /^p99_us=/) p99 = substr($i, 8) + 0
    }
    $1 == "Requests/sec:" { rps = $2 + 0 }
    /Socket errors:/      { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx/      { errors += $NF }
    END {
      if (rps <= 0) exit 1
      p50 = (p50 == "" || p50 < 0) ? "NA" : sprintf("%.2f", p50)
      p99 = (p99 == "" || p99 < 0) ? "NA" : sprintf("%.2f", p99)
      printf "%.2f %s %s %d\n", rps, p50, p99, errors
    }' "$1"
}

# ---------------------------------------------------------------- numbers

fmt_rps() { awk -v v="$1" 'BEGIN { if (v == "NA") print "n/a"; else printf "%.0f\n", v }'; }

fmt_us() { # microseconds -> 812us / 1.25ms / 2.00s
  awk -v v="$1" 'BEGIN {
    if (v == "NA") print "n/a"
    else if (v < 1e3) printf "%.0fus\n", v
    else if (v < 1e6) printf "%.2fms\n", v / 1e3
    else printf "%.2fs\n", v / 1e6 }'
}

fmt_pct() { [ "$1" = NA ] && echo "n/a" || echo "$1%"; }

fmt_ratio() { awk -v r="$1" 'BEGIN { if (r == "NA") print "n/a"; else printf "%.2fx\n", r }'; }

# fmt_stats "RPS [P50] P99 ERRORS": one readable line (bench-vkern keeps
# no p50).
fmt_stats() {
  local f line
  read -r -a f <<<"$1"
  line="$(fmt_rps "${f[0]}") req/s,"
  [ "${#f[@]}" -lt 4 ] || line="$line p50 $(fmt_us "${f[-3]}"),"
  line="$line p99 $(fmt_us "${f[-2]}")"
  [ "${f[-1]}" = 0 ] || line="$line, ${f[-1]} errors"
  echo "$line"
}

median() { # numbers on stdin, NA lines ignored; prints NA if none
  grep -v '^NA$' | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) print "NA"
      else if (NR % 2) print v[(NR + 1) / 2]
      else print (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

# ---------------------------------------------------------------- results

column_of() { # column_of LABEL SCENARIO FIELD: one value per round
  awk -v l="$1" -v s="$2" -v f="$3" '$2 == l && $3 == s { print $f }' "$RESULTS"
}

col_median() { column_of "$@" | median; } # col_median LABEL SCENARIO FIELD

# Median over rounds of A/B req/s, pairing runs from the same round so slow
# drift of the machine cancels out.
median_ratio() { # median_ratio LABEL_A LABEL_B SCENARIO
  awk -v a="$1" -v b="$2" -v s="$3" '
    $3 == s && $2 == a { ra[$1] = $4 }
    $3 == s && $2 == b { rb[$1] = $4 }
    END { for (r in ra) if (ra[r] != "NA" && (r in rb) && rb[r] != "NA" && rb[r] > 0) print ra[r] / rb[r] }
  ' "$RESULTS" | median
}

# Median over rounds of A/B requests per CPU-second (req/s over the
# CPU_FIELD percent): what each server does with the CPU it used, whoever
# limited the rate.
median_efficiency_ratio() { # median_efficiency_ratio LABEL_A LABEL_B SCENARIO
  awk -v a="$1" -v b="$2" -v s="$3" -v c="$CPU_FIELD" '
    function eff(rps, cpu) { return (rps == "NA" || cpu == "NA" || cpu + 0 <= 0) ? "NA" : rps / (cpu / 100) }
    $3 == s && $2 == a { ea[$1] = eff($4, $c) }
    $3 == s && $2 == b { eb[$1] = eff($4, $c) }
    END { for (r in ea) if (ea[r] != "NA" && (r in eb) && eb[r] != "NA") print ea[r] / eb[r] }
  ' "$RESULTS" | median
}

# wrk's errors over every round of LABEL in SCENARIO.
sum_errors() { # sum_errors LABEL SCENARIO
  column_of "$1" "$2" "$ERRORS_FIELD" | awk '$1 != "NA" { n += $1 } END { print n + 0 }'
}
