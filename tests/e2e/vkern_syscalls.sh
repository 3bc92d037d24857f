#!/usr/bin/env bash
# Syscalls of vk_hello (-k 1 -P epoll) under strace, per connection:
#  (a) a connection whose request (Connection: close, one write) is already
#      there when it is accepted never blocks, so it must cost no epoll_ctl
#      at all: its fd is read, answered with one write and closed, and
#      until then no fd but the listening socket, the signalfd or an
#      eventfd was ever registered;
#  (b) http_pipeline -n 16 (16 requests in one write, so one segment) is
#      answered with exactly one write on that connection's fd, carrying
#      all 16 responses, and nothing else writes to that fd.
# A "write" is whichever call the ring makes (docs/vkern.md): send (sendto)
# for one segment, sendmsg for two, writev or write for an fd that is no
# socket. A "read" likewise: recv (recvfrom), recvmsg, readv or read.
# Connections are told apart by the fd accept4 returned, from the accept4
# to the close of that fd, so a reused fd number cannot mix them up.
. "$(dirname "$0")/lib.sh"

REQ_CLOSE=$'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
REQ_KEEPALIVE=$'GET / HTTP/1.1\r\nHost: x\r\n\r\n' # what http_pipeline sends
PIPELINE=16
TRACED=accept4,listen,signalfd4,eventfd2,epoll_ctl,readv,read,recvfrom,recvmsg,writev,write,sendto,sendmsg,close

need_bin "$BUILD/vk_hello"
need_bin "$BUILD/tests/e2e/http_pipeline"
command -v strace >/dev/null || fail "strace is not installed"
command -v pgrep >/dev/null || fail "pgrep (procps) is not installed"

# True when the server side of the one established connection to PORT
# holds exactly BYTES in its receive queue (/proc/net/tcp, in hex).
queued() {
	awk -v p="$(printf '0100007F:%04X' "$1")" -v want="$(printf '%08X' "$2")" '
		$4 == "01" && $2 == p { n++; split($5, q, ":"); ok = (q[2] == want) }
		END { exit !(n == 1 && ok) }' /proc/net/tcp
}

# One line per accepted connection, in accept order:
#   fd epoll_ctls writes write_bytes read_bytes sequence
# and a last line "other_ctls N" counting epoll_ctl calls on fds other
# than listening sockets, signalfds and eventfds made before the first
# accepted connection was closed.
parse_trace() {
	awk '
		function ret(s) { return match(s, / = -?[0-9]+/) ? substr(s, RSTART + 3, RLENGTH - 3) + 0 : -1 }
		function arg(s, n, a) { split(substr(s, index(s, "(") + 1), a, ", "); return a[n] + 0 }
		{
			pid = $1
			line = substr($0, length(pid) + 2)
			sub(/^ +/, "", line)
			# -f may split a call around another process'"'"'s: rejoin.
			if (line ~ /<unfinished \.\.\.>$/) {
				pending[pid] = substr(line, 1, length(line) - 16)
				next
			}
			if (line ~ /^<\.\.\. [a-z0-9_]+ resumed>/) {
				sub(/^<\.\.\. [a-z0-9_]+ resumed>/, "", line)
				line = pending[pid] line
			}
			if (line !~ /^[a-z0-9_]+\(/)
				next # signals, exits
			name = substr(line, 1, index(line, "(") - 1)
			r = ret(line)
			fd = arg(line, 1)
			c = (fd in live) ? live[fd] : 0
			if (name == "listen" && r == 0)
				control[fd] = 1
			else if ((name == "signalfd4" || name == "eventfd2") && r >= 0)
				control[r] = 1
			else if (name == "accept4" && r >= 0) {
				n++
				cfd[n] = r
				live[r] = n
				seq[n] = "accept4=" r
			} else if (name == "epoll_ctl") {
				fd = arg(line, 3)
				if (fd in live) {
					ctl[live[fd]]++
					seq[live[fd]] = seq[live[fd]] " epoll_ctl"
				}
				if (!(fd in control) && !first_closed)
					other++
			} else if (c && (name == "writev" || name == "write" || name == "sendto" || name == "sendmsg")) {
				nw[c]++
				wb[c] += r > 0 ? r : 0
				seq[c] = seq[c] " " name "=" r
			} else if (c && (name == "readv" || name == "read" || name == "recvfrom" || name == "recvmsg")) {
				rb[c] += r > 0 ? r : 0
				seq[c] = seq[c] " " name "=" r
			} else if (c && name == "close") {
				seq[c] = seq[c] " close"
				delete live[fd]
				if (c == 1)
					first_closed = 1
			}
		}
		END {
			for (i = 1; i <= n; i++)
				printf "%d %d %d %d %d %s\n", cfd[i], ctl[i], nw[i], wb[i], rb[i], seq[i]
			printf "other_ctls %d\n", other
		}' "$1"
}

syscalls() {
	local name=traced log="$E2E_TMP/strace.log" vk port fd resp_len conns
	local fd_a ctl_a nw_a wb_a rb_a seq_a fd_b nw_b wb_b rb_b seq_b other
	# LeakSanitizer cannot run under ptrace: an ASan build must skip it here.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		start_server "$name" strace -f -qq -s 0 -o "$log" -e trace="$TRACED" \
		"$BUILD/vk_hello" -p 0 -k 1 -P epoll
	port=${E2E_PORT[$name]}
	vk=$(pgrep -P "${E2E_PID[$name]}") || fail "no vk_hello under strace"
	[ "$(wc -w <<<"$vk")" = 1 ] || fail "expected one vk_hello process under strace, got: $vk"
	set_signal_target "$name" "$vk"

	# (a) Stopped, the server cannot accept before the request is there:
	# the kernel completes the handshake and queues the bytes meanwhile.
	kill -STOP "$vk"
	tcp_open fd "$port"
	printf '%s' "$REQ_CLOSE" >&"$fd"
	wait_until 5 "(a) the request did not arrive at the stopped server" queued "$port" "${#REQ_CLOSE}"
	kill -CONT "$vk"
	tcp_read_to_close "$fd" 5 >"$E2E_TMP/a.resp" || fail "(a) connection not closed after the response"
	tcp_close "$fd"
	resp_len=$(wc -c <"$E2E_TMP/a.resp")
	head -n 1 "$E2E_TMP/a.resp" | grep -q '^HTTP/1.1 200 ' && [ "$(tail -c 13 "$E2E_TMP/a.resp")" = "Hello, world" ] ||
		fail "(a) bad response: $(head -c 300 "$E2E_TMP/a.resp" | od -An -c | tr -s ' \n' ' ')"

	# (b)
	"$BUILD/tests/e2e/http_pipeline" -p "$port" -n "$PIPELINE" -t 30 || fail "(b) http_pipeline failed"
	stop_server "$name"

	parse_trace "$log" >"$E2E_TMP/conns"
	conns=$(grep -vc '^other_ctls ' "$E2E_TMP/conns" || true)
	[ "$conns" = 2 ] || fail "expected 2 accepted connections in the trace, got $conns:$(sed 's/^/\n    /' "$E2E_TMP/conns")"
	{
		read -r fd_a ctl_a nw_a wb_a rb_a seq_a
		# (b) may register its fd: it waits for more requests afterwards.
		read -r fd_b _ nw_b wb_b rb_b seq_b
		read -r _ other
	} <"$E2E_TMP/conns"
	note "(a) fd $fd_a: $seq_a"
	note "(b) fd $fd_b: $seq_b"

	# (a): the trace must be of this exchange: the whole request read,
	# the whole response written once.
	[ "$rb_a" = "${#REQ_CLOSE}" ] || fail "(a) read $rb_a bytes, expected ${#REQ_CLOSE}: $seq_a"
	[ "$nw_a" = 1 ] && [ "$wb_a" = "$resp_len" ] ||
		fail "(a) expected one write of $resp_len bytes: $seq_a"
	[ "$ctl_a" = 0 ] || fail "(a) $ctl_a epoll_ctl call(s) on the connection fd $fd_a, expected none: $seq_a"
	[ "$other" = 0 ] ||
		fail "(a) $other epoll_ctl call(s) on fds other than the listening socket, signalfd, eventfd; trace:$(grep -n epoll_ctl "$log" | sed 's/^/\n    /')"

	# (b): one write carrying all the responses (each as long as (a)'s).
	[ "$rb_b" = $((PIPELINE * ${#REQ_KEEPALIVE})) ] ||
		fail "(b) read $rb_b bytes, expected $((PIPELINE * ${#REQ_KEEPALIVE})): $seq_b"
	[ "$nw_b" = 1 ] || fail "(b) $nw_b write calls for $PIPELINE pipelined requests, expected 1: $seq_b"
	[ "$wb_b" = $((PIPELINE * resp_len)) ] ||
		fail "(b) the write carried $wb_b bytes, expected $PIPELINE x $resp_len = $((PIPELINE * resp_len)): $seq_b"
}

run_case "epoll: no epoll_ctl for a connection that never blocks; $PIPELINE pipelined requests -> one write" syscalls
finish
