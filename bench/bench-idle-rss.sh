#!/usr/bin/env bash
# RSS per idle connection: vkgw with one kernel on loopback, in front of the
# vkern hello service, holding BENCH_IDLE_CONNS (default 10,000) idle client
# connections of two kinds, each measured against the RSS before it:
#
#   silent      connections that never sent a byte
#   keep-alive  connections that sent one proxied request, got the answer,
#               and wait for the next (measured once vkgw has released
#               their buffers, which it does after a second of idleness:
#               its RSS below the just-served reading and steady)
#
# Prints the RSS difference (VmRSS of the vkgw process) divided by the
# connection count, for each kind, and the RSS left once every connection
# closed, at once and once the free heaps have decayed (10 s unused).
#
# Usage: bench/bench-idle-rss.sh PATH/TO/vkgw [PATH/TO/vk_hello]
#   env BENCH_IDLE_CONNS       connections per kind (default 10000)
#   env BENCH_KEEP=1           keep the temp dir (config, logs)
# Runs at most 180 s. Exit status: 0 when it measured, 1 when a server
# failed or a step timed out, 2 on bad usage or missing tools.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# The client imports tests/e2e/procfs.py.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

VKGW=${1:-}
HELLO=${2:-$(dirname "${1:-.}")/vk_hello}
CONNS=${BENCH_IDLE_CONNS:-10000}
readonly TIME_LIMIT_S=180

[ -x "$VKGW" ] || die 2 "usage: $0 PATH/TO/vkgw [PATH/TO/vk_hello]"
[ -x "$HELLO" ] || die 2 "vk_hello not found at $HELLO"
is_uint "$CONNS" || die 2 "BENCH_IDLE_CONNS must be a positive integer"
command -v python3 >/dev/null || die 2 "python3 is not installed"
raise_fd_limit "$CONNS idle connections"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((CONNS + 256)) ] ||
  die 2 "open-file limit $(ulimit -n) is too low for $CONNS connections"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  remove_work
}
begin_work vkgw-bench-idle

# port_of FILE: the port of the first "listening on" line, waited for.
port_of() {
  local i line
  for ((i = 0; i < 500; i++)); do
    if { IFS= read -r line <"$1"; } 2>/dev/null && [[ $line =~ :([0-9]+)$ ]]; then
      printf '%s' "${BASH_REMATCH[1]}"
      return 0
    fi
    sleep 0.01
  done
  return 1
}

"$HELLO" -a 127.0.0.1 -p 0 -k 1 >"$WORK/hello.out" 2>"$WORK/hello.err" &
PIDS+=($!)
HELLO_PORT=$(port_of "$WORK/hello.out") || die 1 "vk_hello did not start: $(cat "$WORK/hello.err")"

cat >"$WORK/vkgw.json" <<JSON
{
  "listeners": [ { "name": "bench", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "timeouts": { "header_ms": 600000, "body_idle_ms": 600000, "keepalive_idle_ms": 600000 },
  "upstreams": { "hello": { "endpoints": [ "127.0.0.1:$HELLO_PORT" ] } },
  "routes": [ { "name": "hello", "action": { "proxy": { "upstream": "hello" } } } ]
}
JSON
"$VKGW" -c "$WORK/vkgw.json" -k 1 >"$WORK/vkgw.out" 2>"$WORK/vkgw.err" &
VKGW_PID=$!
PIDS+=("$VKGW_PID")
VKGW_PORT=$(port_of "$WORK/vkgw.out") || die 1 "vkgw did not start: $(cat "$WORK/vkgw.err")"

# The client: opens the connections, waits until vkgw holds them (its fd
# count), reads vkgw's VmRSS at each step, and prints "KEY VALUE" lines.
cat >"$WORK/idle.py" <<'PY'
import resource, socket, sys, time
from procfs import established_fds, rss_kib, wait_until

port, pid, n, limit_s = (int(a) for a in sys.argv[1:5])
deadline = time.monotonic() + limit_s
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def held():
    # vkgw's fds that are client connections on its port
    return established_fds(pid, port)

def wait(what, cond):
    wait_until(what, cond, deadline, 0.02)

def out(key, value):
    print(key, value, flush=True)

def settled_rss(below=None):
    # vkgw's VmRSS once it stops moving: the same in 5 reads 50 ms apart
    # (and under `below`, when given)
    last, same = None, 0
    while same < 5:
        rss = rss_kib(pid)
        same = same + 1 if rss == last and (below is None or rss < below) else 0
        last = rss
        if time.monotonic() > deadline:
            sys.exit("vkgw's RSS did not settle (last %d KiB)" % rss)
        time.sleep(0.05)  # polling the condition, not a fixed wait
    return last

def report(kind, rss):
    # vkgw's VmRSS, and what it grew by per connection since rss0
    out("rss_%s_kib" % kind, rss)
    out("%s_bytes_per_conn" % kind, (rss - rss0) * 1024 // n)

def one_request(s):
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n")
    got = b""
    while not (b"\r\n\r\n" in got and got.endswith(b"Hello, world\n")):
        b = s.recv(4096)
        if not b:
            sys.exit("vkgw closed a connection during its request")
        got += b

# Warm: one request through, so the upstream connection and the code are
# in place before the baseline.
w = socket.create_connection(("127.0.0.1", port))
one_request(w)
w.close()
wait("vkgw closing the warm-up connection", lambda: held() == 0)
rss0 = settled_rss()
out("rss_start_kib", rss0)

conns = []
for i in range(n):
    conns.append(socket.create_connection(("127.0.0.1", port)))
wait("vkgw holding %d connections" % n, lambda: held() >= n)
report("silent", settled_rss())

for s in conns:
    one_request(s)
served = rss_kib(pid)
report("just_served", served)
# Idle now: vkgw releases what an idle connection does not use after a
# second; read once that has happened.
report("keepalive", settled_rss(below=served))

for s in conns:
    s.close()
wait("vkgw closing the connections", lambda: held() == 0)
closed = settled_rss()
report("after_close", closed)
# Free heaps keep their pages until 10 s unused (VK_POOL_DECAY_MS): wait
# for at least half of what is left to go.
left = closed - rss0
report("after_decay", settled_rss(below=closed - left // 2) if left > 1024 else closed)
PY

log "vkgw pid $VKGW_PID on port $VKGW_PORT, vk_hello on $HELLO_PORT, $CONNS connections per kind"
timeout "$TIME_LIMIT_S" env PYTHONPATH="$ROOT/tests/e2e" python3 "$WORK/idle.py" "$VKGW_PORT" "$VKGW_PID" "$CONNS" \
  "$((TIME_LIMIT_S - 10))" >"$WORK/result" || die 1 "the idle client failed: $(tail -n 3 "$WORK/result")"
kill -0 "$VKGW_PID" 2>/dev/null || die 1 "vkgw died: $(tail -n 5 "$WORK/vkgw.err")"

val() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/result"; }
printf 'vkgw RSS with %d idle connections (one kernel), VmRSS of the vkgw process:\n' "$CONNS"
printf '  before:                       %8d KiB\n' "$(val rss_start_kib)"
printf '  silent (never sent a byte):   %8d KiB  -> %6d bytes per connection\n' \
  "$(val rss_silent_kib)" "$(val silent_bytes_per_conn)"
printf '  keep-alive, just served:      %8d KiB  -> %6d bytes per connection\n' \
  "$(val rss_just_served_kib)" "$(val just_served_bytes_per_conn)"
printf '  keep-alive, buffers released: %8d KiB  -> %6d bytes per connection\n' \
  "$(val rss_keepalive_kib)" "$(val keepalive_bytes_per_conn)"
printf '  every connection closed:      %8d KiB  -> %6d bytes per connection left\n' \
  "$(val rss_after_close_kib)" "$(val after_close_bytes_per_conn)"
printf '  ... and 10 s later (decayed):  %8d KiB  -> %6d bytes per connection left\n' \
  "$(val rss_after_decay_kib)" "$(val after_decay_bytes_per_conn)"
