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
