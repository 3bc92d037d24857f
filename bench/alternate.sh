#!/usr/bin/env bash
# Two proxies already running on CPU 0, loaded in turn from CPU 1: the ratio
# of their requests per CPU-second of CPU 0, round by round, with the order
# alternating each round. A 5-round `make bench-proxy` median moves by
# about 0.1 between runs on a noisy machine (docs/benchmarks.md); many short
# alternated rounds give a steadier ratio of two builds or two proxies.
#
# Usage: bench/alternate.sh ROUNDS SECONDS CONNECTIONS PORT_A PORT_B
#   Both ports on 127.0.0.1 must answer GET / (start the proxies, pinned
#   with `taskset -c 0`, and their upstream on CPU 1, first). Prints each
#   round's B/A and the median and mean; exit 2 on bad usage.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[ $# -eq 5 ] || die 2 "usage: $0 ROUNDS SECONDS CONNECTIONS PORT_A PORT_B"
for arg in ROUNDS:"$1" SECONDS:"$2" CONNECTIONS:"$3" PORT_A:"$4" PORT_B:"$5"; do
  is_uint "${arg#*:}" || die 2 "${arg%%:*} must be a positive integer, got '${arg#*:}'"
done
readonly ROUNDS=$1 DURATION=$2 CONNS=$3 PORT_A=$4 PORT_B=$5
require_tools wrk taskset curl awk
for port in "$PORT_A" "$PORT_B"; do
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" || die 2 "nothing answers on 127.0.0.1:$port"
done

cpu0_busy_ticks() { awk '/^cpu0 / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# One run against PORT: its requests per CPU-second of CPU 0.
per_cpu_second() {
  local before after requests
  before=$(cpu0_busy_ticks)
  requests=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$1/" |
    awk '/requests in/ { print $1 }')
  after=$(cpu0_busy_ticks)
  awk -v r="$requests" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (t > 0) printf "%.0f\n", r / (t / hz); else print "NA" }'
}

# Unmeasured: both proxies open their upstream connections first.
for port in "$PORT_A" "$PORT_B"; do
  taskset -c 1 wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null
done
ratios=()
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2)); then
    a=$(per_cpu_second "$PORT_A")
    b=$(per_cpu_second "$PORT_B")
  else
    b=$(per_cpu_second "$PORT_B")
    a=$(per_cpu_second "$PORT_A")
  fi
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a == "NA" || b == "NA" || a == 0) print "NA"; else printf "%.3f\n", b / a }')
  printf 'round %d: A %s, B %s req per CPU-s, B/A %s\n' "$round" "$a" "$b" "$ratio"
  ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | awk '$1 != "NA" { v[n++] = $1; s += $1 }
  END {
    if (!n) { print "no ratio"; exit }
    for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    m = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
    printf "B/A over %d rounds: median %.3f, mean %.3f\n", n, m, s / n
  }'
