# lib.sh -- helpers sourced by the end-to-end suites (tests/e2e/vkern_*.sh).
#
#   . "$(dirname "$0")/lib.sh"
#
# Servers run in the background on 127.0.0.1 (or another loopback address
# of 127/8) with ephemeral ports (-p 0);
# their stdout/stderr go to files in one mktemp -d directory per suite.
# Every wait is bounded. On exit (any exit) every server this shell started
# is killed and the directory removed.
#
#   start_server NAME BIN ARGS...  start, wait <= 5 s for "listening on";
#                                  sets E2E_PID[NAME], E2E_PORT[NAME] and
#                                  exports <NAME>_PID, <NAME>_PORT (NAME
#                                  uppercased, non-alphanumerics as _)
#   stop_server NAME               SIGTERM, wait <= 5 s, require status 0
#   signal_server NAME SIG         send SIG and start the stop clock
#   await_server NAME SECS         wait for exit: E2E_STATUS, E2E_ELAPSED_MS
#   stat_of NAME KEY               sum of KEY= over the "vk: kernel" lines
#   wait_until SECS WHAT CMD...    poll CMD until it succeeds, or fail
#   start_redis NAME [PORT [ARGS]] redis-server on a free loopback port
#   admin_port NAME                port of NAME's last "listening on" line
#   admin_stat PORT EXPR           a value of /stats on an admin listener
#   admin_stat_is PORT EXPR VALUE  the same, compared (for wait_until)
#   post_begin VAR PORT PATH       a POST held in flight (half its body
#   post_end FD                    sent) until post_end sends the rest
#   skip REASON                    this suite (or, in run_case, this case)
#                                  cannot run here: exit 77 with the reason
#   run_case DESC FUNC ARGS...     run FUNC in a subshell, record
#                                  pass/fail/skip
#   finish                         summary; exit 1 if any case failed, 77
#                                  if any was skipped (tests/run-tests.sh
#                                  counts the suite as skipped)
#
# Never sleep to let something happen: wait_until it has happened. A nap
# that is the test itself (a silence a timeout must notice, a window in
# which nothing may happen) says so in a comment.

# tests/run-tests.sh runs every tests/e2e/*.sh, this file too: run rather
# than sourced, it is no suite and does nothing.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	exit 0
fi

set -euo pipefail

BUILD=${BUILD:-build}
E2E_SUITE=$(basename "$0" .sh)
E2E_MAIN_PID=$BASHPID
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vkgw-$E2E_SUITE.XXXXXX")
E2E_START_TIMEOUT_S=5
E2E_STOP_TIMEOUT_S=5
E2E_LOOPBACK=127.0.0.1

declare -A E2E_PID=() E2E_PORT=() E2E_T0=()
# "owner:pid:target" per running server: owner is the shell that started
# it (a run_case subshell kills only its own), target the process that
# gets the signals (differs from pid for a server run under strace).
E2E_OWNED=()
E2E_FAILED=()
E2E_SKIPPED=()
E2E_PASSED=0
E2E_STATUS=
E2E_ELAPSED_MS=

# A pipe nobody writes to: `read -t` on it sleeps without a fork, so the
# polling loops stay cheap and their timing precise.
mkfifo "$E2E_TMP/.nap"
exec {E2E_NAP_FD}<>"$E2E_TMP/.nap"

note() { printf '%s: %s\n' "$E2E_SUITE" "$*"; }

fail() {
	printf '%s: FAIL: %s\n' "$E2E_SUITE" "$*" >&2
	exit 1
}

nap() { read -r -t "$1" -u "$E2E_NAP_FD" _ || true; }

now_ns() { date +%s%N; }

now_ms() { date +%s%3N; }

# A loopback port nothing listens on now (for a server that takes no port
# 0, or an endpoint that refuses connections).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# established PORT: TCP connections established to PORT on loopback.
established() {
	ss -Htn state established "( dport = :$1 )" | wc -l
}

# Microseconds into variable $1, without a fork (for polling loops).
_e2e_us() { printf -v "$1" '%s' "${EPOCHREALTIME//[!0-9]/}"; }

# Runs CMD ARGS every 10 ms until it succeeds; fails with WHAT once SECS
# have passed (a clock deadline: each try may take a while).
wait_until() {
	local secs=$1 what=$2 now deadline
	shift 2
	_e2e_us now
	deadline=$((now + secs * 1000000))
	until "$@"; do
		_e2e_us now
		[ "$now" -lt "$deadline" ] || fail "$what (waited $secs s)"
		nap 0.01
	done
}

# ---- nginx as a peer ----

# nginx_prologue DIR: the head of an nginx.conf for an nginx in the
# foreground whose files (pid, logs, temporary files) are under DIR; the
# caller writes the rest of the http block and closes it.
nginx_prologue() {
	cat <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/logs/error.log;
events { worker_connections 1024; }
http {
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
  keepalive_requests 100000;
CONF
}

# nginx_answers_or_ended PID URL...: nginx PID has ended, or every URL
# answers (curl -k): what nginx_launch waits for.
nginx_answers_or_ended() {
	local pid=$1 url
	shift
	_e2e_running "$pid" || return 0
	for url in "$@"; do
		curl -sk --noproxy '*' --max-time 1 -o /dev/null "$url" || return 1
	done
}

# nginx_launch NAME DIR URL...: starts nginx on DIR/nginx.conf as server
# NAME and waits (at most 10 s) until every URL answers. 1 if nginx ended
# first (a port was taken: the caller picks others and tries again).
nginx_launch() {
	local name=$1 dir=$2 pid
	shift 2
	mkdir -p "$dir/logs" "$dir/tmp"
	nginx -p "$dir" -c "$dir/nginx.conf" </dev/null >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" &
	pid=$!
	E2E_OWNED+=("$BASHPID:$pid:$pid")
	E2E_PID[$name]=$pid
	wait_until 10 "nginx $name did not answer:$(server_stderr "$name")" nginx_answers_or_ended "$pid" "$@"
	_e2e_running "$pid" && return 0
	_e2e_kill_owned "$pid"
	return 1
}

# ---- Redis as a peer ----

# start_redis NAME [PORT [ARGS...]]: redis-server on 127.0.0.1, PORT or a
# free one (another if a free one was taken meanwhile), no persistence,
# DEBUG allowed from loopback; waits <= 5 s until it answers. Sets
# E2E_PID[NAME] and E2E_PORT[NAME]; PORT again restarts it where it was.
start_redis() {
	local name=$1 port=${2:-} fixed=${2:-} pid tries
	shift
	[ $# -eq 0 ] || shift
	command -v redis-server >/dev/null || fail "redis-server is not installed"
	for tries in 1 2 3; do
		[ -n "$port" ] || port=$(free_port)
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$E2E_TMP" \
			--enable-debug-command local "$@" </dev/null >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" &
		pid=$!
		E2E_OWNED+=("$BASHPID:$pid:$pid")
		E2E_PID[$name]=$pid
		E2E_PORT[$name]=$port
		wait_until 5 "redis $name answering on $port" _e2e_redis_up "$port" "$pid"
		_e2e_running "$pid" && return 0
		wait "$pid" 2>/dev/null || true
		_e2e_disown "$pid"
		[ -z "$fixed" ] || break
		port=
	done
	fail "redis $name did not start: $(cat "$E2E_TMP/$name.out")"
}

# Redis on PORT answers anything (NOAUTH too), or PID has ended.
_e2e_redis_up() {
	_e2e_running "$2" || return 0
	[ -n "$(redis-cli -p "$1" ping 2>/dev/null)" ]
}

# ---- test certificates ----

# tls_make_ca DIR NAME CN: a self-signed CA, DIR/NAME.pem and DIR/NAME.key.
tls_make_ca() {
	openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=$3" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
		-keyout "$1/$2.key" -out "$1/$2.pem" 2>/dev/null || fail "openssl could not make the $2 CA"
}

# tls_sign DIR NAME CA SUBJECT SAN [USAGE]: DIR/NAME.pem and DIR/NAME.key,
# an ECDSA P-256 certificate signed by DIR/CA (USAGE: its
# extendedKeyUsage, clientAuth unless given).
tls_sign() {
	local dir=$1 name=$2
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$4" \
		-keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null || fail "openssl: $name request"
	printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$5" "${6:-clientAuth}" >"$dir/$name.ext"
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$3.pem" -CAkey "$dir/$3.key" -CAcreateserial -days 2 \
		-extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null || fail "openssl: signing $name"
}

# Exits 77, which tests/run-tests.sh counts as a skip, with REASON as the
# last line on stderr. In a run_case function it skips that case only.
skip() {
	printf '%s\n' "$*" >"$E2E_TMP/.skip.$BASHPID"
	printf '%s: SKIP: %s\n' "$E2E_SUITE" "$*" >&2
	exit 77
}

need_bin() {
	[ -x "$1" ] || fail "$1 is not built (run: make BUILD=$BUILD all)"
}

# ---- processes ----

# True while PID exists, is not a zombie and is a child of PARENT (default
# this shell): the parent check guards against a pid reused after reaping.
_e2e_running() {
	local stat
	# read, not $(<file): a failed $(<file) exits a set -e shell.
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	# shellcheck disable=SC2086 # split the fields after "(comm) "
	set -- "${2:-$BASHPID}" ${stat##*) }
	[ "$2" != Z ] && [ "$3" = "$1" ]
}

# Sets E2E_TARGET_PID to the signal target of our server PID.
_e2e_target() {
	local e
	for e in "${E2E_OWNED[@]}"; do
		case $e in "$BASHPID:$1:"*) E2E_TARGET_PID=${e##*:} && return 0 ;; esac
	done
	return 1
}

_e2e_disown() {
	local keep=() e
	for e in "${E2E_OWNED[@]}"; do
		case $e in "$BASHPID:$1:"*) ;; *) keep+=("$e") ;; esac
	done
	E2E_OWNED=("${keep[@]}")
}

# Kills and reaps the servers this shell started and still owns (only PID
# if given).
_e2e_kill_owned() {
	local e pid target keep=()
	for e in "${E2E_OWNED[@]}"; do
		pid=${e#*:} target=${pid#*:} pid=${pid%%:*}
		if [ "${e%%:*}" != "$BASHPID" ] || [ "${1:-$pid}" != "$pid" ]; then
			keep+=("$e")
			continue
		fi
		# A tracee outlives its killed tracer: kill it first, while it is
		# still the tracer's child (so the pid cannot have been reused).
		if [ "$target" != "$pid" ] && _e2e_running "$target" "$pid"; then
			kill -KILL "$target" 2>/dev/null || true
		fi
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	E2E_OWNED=("${keep[@]}")
}

_e2e_var() {
	local v=${1^^}
	printf '%s' "${v//[^A-Z0-9]/_}"
}

server_err_file() { printf '%s' "$E2E_TMP/$1.err"; }

# Last lines of a server's stderr, indented, for failure messages.
server_stderr() {
	local f="$E2E_TMP/$1.err"
	[ -s "$f" ] || { printf ' (empty)'; return 0; }
	printf '\n'
	tail -n "${2:-20}" "$f" | sed 's/^/    | /'
}

start_server() {
	local name=$1 pid port line var deadline now rc=0
	shift
	# A built binary, or a tool on PATH (strace wrapping one).
	[[ $1 == */* ]] && need_bin "$1"
	command -v "$1" >/dev/null || fail "$1 is not installed"
	"$@" </dev/null >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" &
	pid=$!
	E2E_OWNED+=("$BASHPID:$pid:$pid")
	E2E_PID[$name]=$pid
	_e2e_us now
	deadline=$((now + E2E_START_TIMEOUT_S * 1000000))
	while :; do
		# read fails on a line without its newline: never take a port
		# from a half-written line.
		if { IFS= read -r line <"$E2E_TMP/$name.out"; } 2>/dev/null &&
			[[ $line =~ ^listening\ on\ 127\.[0-9]+\.[0-9]+\.[0-9]+:([0-9]+)$ ]]; then
			port=${BASH_REMATCH[1]}
			break
		fi
		if ! _e2e_running "$pid"; then
			wait "$pid" || rc=$?
			_e2e_disown "$pid"
			fail "$name ($*) exited with status $rc before listening; stderr:$(server_stderr "$name")"
		fi
		_e2e_us now
		[ "$now" -lt "$deadline" ] ||
			fail "$name ($*) printed no 'listening on' line within ${E2E_START_TIMEOUT_S} s; stderr:$(server_stderr "$name")"
		nap 0.005
	done
	E2E_PORT[$name]=$port
	var=$(_e2e_var "$name")
	export "${var}_PID=$pid" "${var}_PORT=$port"
}

# Signals for NAME go to PID from now on, while its exit status is still
# that of the started process (strace exits with its tracee's status).
set_signal_target() {
	local pid=${E2E_PID[$1]}
	_e2e_disown "$pid"
	E2E_OWNED+=("$BASHPID:$pid:$2")
}

signal_server() {
	_e2e_target "${E2E_PID[$1]}" || fail "signal_server: $1 is not running"
	E2E_T0[$1]=$(now_ns)
	kill -s "$2" "$E2E_TARGET_PID"
}

# Waits up to SECS for NAME to exit. E2E_STATUS: its exit status, or
# "timeout" (it is then SIGKILLed). E2E_ELAPSED_MS: from the last
# signal_server to the end of the wait.
await_server() {
	local name=$1 secs=$2 pid=${E2E_PID[$1]} deadline now t1
	_e2e_us now
	deadline=$((now + secs * 1000000))
	while _e2e_running "$pid"; do
		_e2e_us now
		if [ "$now" -ge "$deadline" ]; then
			_e2e_kill_owned "$pid"
			E2E_STATUS=timeout
			E2E_ELAPSED_MS=$((secs * 1000))
			return 0
		fi
		nap 0.002
	done
	E2E_STATUS=0
	wait "$pid" || E2E_STATUS=$?
	t1=$(now_ns)
	_e2e_disown "$pid"
	E2E_ELAPSED_MS=$(((t1 - ${E2E_T0[$name]:-$t1}) / 1000000))
}

stop_server() {
	local name=$1
	signal_server "$name" TERM
	await_server "$name" "$E2E_STOP_TIMEOUT_S"
	[ "$E2E_STATUS" != timeout ] ||
		fail "$name did not exit within ${E2E_STOP_TIMEOUT_S} s of SIGTERM (SIGKILLed); stderr:$(server_stderr "$name")"
	[ "$E2E_STATUS" = 0 ] ||
		fail "$name exited with status $E2E_STATUS after SIGTERM (expected 0); stderr:$(server_stderr "$name")"
}

# ---- kernel counters (-s or VK_STATS=1, printed at exit) ----

# Sum of KEY= across the server's "vk: kernel N (driver): ..." lines.
stat_of() {
	awk -v key="$2" '
		/^vk: kernel [0-9]+ \([^)]*\): / {
			for (i = 1; i <= NF; i++)
				if (index($i, key "=") == 1)
					sum += substr($i, length(key) + 2)
		}
		END { print sum + 0 }' "$E2E_TMP/$1.err"
}

# How many kernels printed their counters.
stat_lines() {
	grep -c '^vk: kernel [0-9]* ([^)]*): ' "$E2E_TMP/$1.err" || true
}

# ---- clients ----

# Connects to the loopback PORT; the new fd number goes into variable VAR.
tcp_open() {
	local -n e2e_fd_ref=$1
	exec {e2e_fd_ref}<>"/dev/tcp/$E2E_LOOPBACK/$2" || fail "cannot connect to $E2E_LOOPBACK:$2"
}

tcp_close() {
	local fd=$1
	exec {fd}>&-
}

# Prints what the peer sends until it closes (EOF or reset); status 124 if
# it has not closed within SECS.
tcp_read_to_close() {
	local rc=0
	timeout "$2" cat <&"$1" 2>/dev/null || rc=$?
	[ "$rc" -ne 124 ] || return 124
	return 0
}

# A request in flight for as long as the test needs, lock-step (no slow
# upstream racing the clock): post_begin sends a POST head and half of its
# 10-byte body to the loopback PORT (the fd goes into variable VAR);
# post_end FD sends the rest and prints the whole response.
post_begin() {
	local -n e2e_post_ref=$1
	tcp_open e2e_post_ref "$2"
	printf 'POST %s HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\nConnection: close\r\n\r\n12345' "$3" >&"$e2e_post_ref"
}

post_end() {
	printf '67890' >&"$1"
	tcp_read_to_close "$1" 5 || fail "no end to the held POST's response within 5 s"
	tcp_close "$1"
}

# curl to the loopback server, never through a proxy, bounded in time.
http_get() {
	curl -s --noproxy '*' --max-time 5 "http://$E2E_LOOPBACK:$1${2:-/}"
}

# ---- the admin listener (vkgw's "admin" config object) ----

# admin_listening NAME: NAME announced a listener and its admin listener
# (for wait_until).
admin_listening() { [ "$(grep -c '^listening on' "$E2E_TMP/$1.out")" -ge 2 ]; }

# admin_port NAME: the port of the last "listening on" line NAME printed
# (vkgw announces the admin listener after the listeners).
admin_port() {
	local line port=
	while IFS= read -r line; do
		[[ $line =~ ^listening\ on\ 127\.[0-9]+\.[0-9]+\.[0-9]+:([0-9]+)$ ]] && port=${BASH_REMATCH[1]}
	done <"$E2E_TMP/$1.out"
	[ -n "$port" ] || fail "$1 printed no 'listening on' line"
	printf '%s' "$port"
}

# admin_stat PORT EXPR: EXPR, a Python expression over the /stats JSON `d`
# of the admin listener on PORT; status 1 when /stats does not answer 200.
admin_stat() {
	local body
	body=$(curl -s --noproxy '*' --max-time 5 -w '\n%{http_code}' "http://$E2E_LOOPBACK:$1/stats") || return 1
	[ "${body##*$'\n'}" = 200 ] || return 1
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "${body%$'\n'*}" "$2"
}

# admin_stat_is PORT EXPR VALUE: for wait_until.
admin_stat_is() {
	local v
	v=$(admin_stat "$1" "$2") && [ "$v" = "$3" ]
}

# Median of integers.
median() {
	printf '%s\n' "$@" | sort -n |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# ---- cases ----

_e2e_cleanup() {
	local rc=$?
	_e2e_kill_owned
	[ "$BASHPID" != "$E2E_MAIN_PID" ] || rm -rf "$E2E_TMP"
	exit "$rc"
}
trap _e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs FUNC ARGS in a subshell, so a failing case (fail exits) does not
# hide the others; prints one ok/FAIL/skip line with its duration.
run_case() {
	local desc=$1 rc=0 t0 reason
	shift
	t0=$(now_ms)
	set +e
	(
		set -e
		trap _e2e_cleanup EXIT
		"$@"
	)
	rc=$?
	set -e
	if [ "$rc" -eq 0 ]; then
		E2E_PASSED=$((E2E_PASSED + 1))
		note "ok   $desc ($(($(now_ms) - t0)) ms)"
	elif [ "$rc" -eq 77 ] && reason=$(cat "$E2E_TMP"/.skip.* 2>/dev/null) && [ -n "$reason" ]; then
		rm -f "$E2E_TMP"/.skip.*
		E2E_SKIPPED+=("$desc: $reason")
		note "skip $desc: $reason"
	else
		E2E_FAILED+=("$desc")
		note "FAIL $desc ($(($(now_ms) - t0)) ms)"
	fi
}

# The last line is the reason tests/run-tests.sh shows for a skip.
finish() {
	local skips
	if [ "${#E2E_FAILED[@]}" -gt 0 ]; then
		note "${#E2E_FAILED[@]} failed, $E2E_PASSED passed, ${#E2E_SKIPPED[@]} skipped:"
		printf '  %s\n' "${E2E_FAILED[@]}"
		exit 1
	fi
	if [ "${#E2E_SKIPPED[@]}" -gt 0 ]; then
		skips=$(printf '; %s' "${E2E_SKIPPED[@]}")
		note "$E2E_PASSED cases passed, ${#E2E_SKIPPED[@]} skipped: ${skips#; }" >&2
		exit 77
	fi
	note "all $E2E_PASSED cases passed"
}
