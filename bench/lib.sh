# bench/lib.sh: helpers the benchmark scripts share (sourced, not run).

log() { printf 'bench: %s\n' "$*" >&2; }

die() { # die EXIT_CODE MESSAGE...
  local code=$1
  shift
  log "error: $*"
  exit "$code"
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }

# A loopback port nobody is bound to right now. Small race with other
# programs, which start_nginx covers by retrying.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

fmt_rps() { awk -v v="$1" 'BEGIN { if (v == "NA") print "n/a"; else printf "%.0f\n", v }'; }

median() { # numbers on stdin, NA lines ignored; prints NA if none
  grep -v '^NA$' | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) print "NA"
      else if (NR % 2) print v[(NR + 1) / 2]
      else print (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

# Median over rounds of A/B req/s, pairing runs from the same round so slow
# drift of the machine cancels out.
median_ratio() { # median_ratio LABEL_A LABEL_B SCENARIO
  awk -v a="$1" -v b="$2" -v s="$3" '
    $3 == s && $2 == a { ra[$1] = $4 }
    $3 == s && $2 == b { rb[$1] = $4 }
    END { for (r in ra) if (ra[r] != "NA" && (r in rb) && rb[r] != "NA" && rb[r] > 0) print ra[r] / rb[r] }
  ' "$RESULTS" | median
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

# remove_work: the run's temp dir ($WORK) goes, unless BENCH_KEEP=1.
remove_work() {
  [ -n "${WORK:-}" ] || return 0
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "raw output kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}

# wait_listening N: waits up to 10 s for the Nth "listening on
# 127.0.0.1:PORT" line in $SERVER_LOG (servers here announce the ports the
# kernel picked), and sets LISTEN_PORT to its port. The caller defines
# server_alive and server_failed.
wait_listening() {
  local nth=$1 i line=""
  for ((i = 0; i < 100; i++)); do
    line=$(grep -E '^listening on 127\.0\.0\.1:[0-9]+$' "$SERVER_LOG" | sed -n "${nth}p" || true)
    [ -n "$line" ] && break
    server_alive || server_failed "exited before it was listening"
    sleep 0.1
  done
  [ -n "$line" ] || server_failed "did not print 'listening on 127.0.0.1:PORT' (line $nth) within 10 s"
  LISTEN_PORT=${line##*:}
}
