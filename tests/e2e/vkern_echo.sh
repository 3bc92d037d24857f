#!/usr/bin/env bash
# vk_echo end to end, on every poll driver:
#  - load: 2 kernels, 1,000 concurrent connections x 100 lines (echo_load
#    checks every reply byte); SIGTERM exits 0; the counters show all 1,000
#    connections accepted and ended on their own (failed=0 killed=0).
#  - long line: a line over the 4096-byte limit is answered with
#    "ERR line N longer than 4096 bytes" (never a truncated echo) and that
#    connection closes, while the kernel goes on serving the others.
. "$(dirname "$0")/lib.sh"

DRIVERS=(epoll epoll-oneshot poll aio uring)
CONNS=1000
LINES=100
LINE_MAX=4096

need_bin "$BUILD/vk_echo"
need_bin "$BUILD/tests/e2e/echo_load"

expect_stat() {
	local name=$1 key=$2 want=$3 got
	got=$(stat_of "$name" "$key")
	[ "$got" = "$want" ] ||
		fail "$name: $key=$got summed over the kernels, expected $want; stderr:$(server_stderr "$name")"
}

load() {
	local drv=$1 name="echo-$1"
	start_server "$name" "$BUILD/vk_echo" -p 0 -k 2 -P "$drv" -s
	"$BUILD/tests/e2e/echo_load" -p "${E2E_PORT[$name]}" -c "$CONNS" -n "$LINES" -t 60 ||
		fail "echo_load on $drv failed; server stderr:$(server_stderr "$name")"
	stop_server "$name"
	# Both kernels must have reported, or a sum could hide a lost one.
	[ "$(stat_lines "$name")" = 2 ] || fail "$name: expected counters from 2 kernels; stderr:$(server_stderr "$name")"
	expect_stat "$name" accepted "$CONNS"
	# ended: each connection finished by itself, none cut at the grace
	# deadline (those are counted nowhere else).
	expect_stat "$name" ended "$CONNS"
	expect_stat "$name" failed 0
	expect_stat "$name" killed 0
	note "$drv: $(grep -h '^vk: kernel' "$(server_err_file "$name")" | tr '\n' ' ')"
}

# Sends LINE on fd and requires the reply line WANT.
echo_line() {
	local fd=$1 line=$2 want=$3 got
	printf '%s\n' "$line" >&"$fd"
	IFS= read -r -t 5 -u "$fd" got || fail "no reply to '$line' within 5 s (got '${got:-}')"
	[ "$got" = "$want" ] || fail "reply to '$line': got '$got', expected '$want'"
}

# Sends the bytes of FILE in one write (cat); everything the server then
# sends until it closes must be exactly WANT (compared byte for byte).
send_until_close() {
	local port=$1 file=$2 want=$3 what=$4 fd
	tcp_open fd "$port"
	cat "$file" >&"$fd"
	tcp_read_to_close "$fd" 5 >"$file.reply" ||
		fail "$what: connection still open 5 s after the reply"
	tcp_close "$fd"
	printf '%s' "$want" | cmp -s - "$file.reply" ||
		fail "$what: got $(head -c 200 "$file.reply" | od -An -c | tr -s ' \n' ' ') ($(wc -c <"$file.reply") bytes), expected $(printf '%q' "$want")"
}

long_line() {
	local drv=$1 name="echoerr-$1" port a c long ok
	# One kernel: the bystander connections share it with the bad ones.
	start_server "$name" "$BUILD/vk_echo" -p 0 -k 1 -P "$drv"
	port=${E2E_PORT[$name]}

	tcp_open a "$port"
	echo_line "$a" hello "1 hello"

	long=$(head -c 5000 /dev/zero | tr '\0' x)
	printf '%s\n' "$long" >"$E2E_TMP/long-$drv"
	send_until_close "$port" "$E2E_TMP/long-$drv" $'ERR line 1 longer than '"$LINE_MAX bytes"$'\n' \
		"$drv: 5000-byte first line"
	printf 'short\n%s\n' "$long" >"$E2E_TMP/second-$drv"
	send_until_close "$port" "$E2E_TMP/second-$drv" $'1 short\nERR line 2 longer than '"$LINE_MAX bytes"$'\n' \
		"$drv: short line, then a 5000-byte line"

	# Just under the limit (4000 bytes + newline) is still echoed whole.
	ok=$(head -c 4000 /dev/zero | tr '\0' y)
	tcp_open c "$port"
	echo_line "$c" "$ok" "1 $ok"
	tcp_close "$c"

	# The connection opened before the bad ones still works, and so do
	# new ones.
	echo_line "$a" again "2 again"
	tcp_close "$a"
	tcp_open c "$port"
	echo_line "$c" world "1 world"
	tcp_close "$c"
	stop_server "$name"
}

for drv in "${DRIVERS[@]}"; do
	run_case "$drv: $CONNS connections x $LINES lines on 2 kernels, SIGTERM, counters" load "$drv"
	run_case "$drv: line over $LINE_MAX bytes -> ERR and close, others unaffected" long_line "$drv"
done
finish
