#!/usr/bin/env bash
# vkgw under systemd (deploy/systemd/vkgw.service):
#   the unit file passes systemd-analyze verify without a word, and has the
#   hardening the deployment promises
#   vkgw speaks sd_notify (Type=notify) to $NOTIFY_SOCKET, with one kernel
#   and with a supervisor: READY once listening; RELOADING then READY on a
#   SIGHUP whose configuration passes its check, nothing on one that does
#   not; STOPPING when SIGTERM starts the drain
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
need_bin "$VKGW"
command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
UNIT="$(dirname "$0")/../../deploy/systemd/vkgw.service"

unit_verifies() {
	local unit=$E2E_TMP/vkgw.service out directive
	# Its paths made this tree's: verify checks that ExecStart exists.
	sed "s|/usr/local/bin/vkgw|$(realpath "$VKGW")|g; s|/etc/vkgw/vkgw.json|$E2E_TMP/vkgw.json|g" "$UNIT" >"$unit"
	out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify failed: $out"
	[ -z "$out" ] || fail "systemd-analyze verify warned: $out"
	for directive in Type=notify 'ExecReload=/bin/kill -HUP $MAINPID' NoNewPrivileges=yes ProtectSystem=strict \
		CapabilityBoundingSet=CAP_NET_BIND_SERVICE LimitNOFILE=; do
		grep -q "^$directive" "$unit" || fail "the unit has no $directive"
	done
	# The check sees what systemd would say of a mistake.
	sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$unit" >"$E2E_TMP/typo.service"
	out=$(systemd-analyze verify "$E2E_TMP/typo.service" 2>&1) || true
	grep -q "Unknown key" <<<"$out" || fail "a misspelt key went unnoticed: $out"
}

# A stand-in for systemd's notification socket: each datagram a line of
# the log (its newlines as spaces).
write_listener() {
	cat >"$E2E_TMP/notify.py" <<'PY'
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening on 127.0.0.1:1", flush=True)
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
}

said() { grep -c "$2" "$E2E_TMP/$1.notify" 2>/dev/null || true; }
# said_times NAME PATTERN N: NAME's log has N lines matching PATTERN (a
# condition wait_until runs again each time: the count is read then).
said_times() { [ "$(said "$1" "$2")" = "$3" ]; }

notifies() {
	local k=$1 name=sd$1 config good
	write_listener
	start_server "${name}_sock" python3 "$E2E_TMP/notify.py" "$E2E_TMP/$name.sock" "$E2E_TMP/$name.notify"
	config=$E2E_TMP/$name.json
	cat >"$config" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0 } ],
  "routes": [ { "name": "r", "action": { "respond": { "status": 200, "body": "ok\n" } } } ]
}
JSON
	good=$(cat "$config")
	NOTIFY_SOCKET=$E2E_TMP/$name.sock start_server "$name" "$VKGW" -c "$config" -k "$k"
	wait_until 5 "READY=1 once listening" said_times "$name" '^READY=1' 1
	signal_server "$name" HUP
	wait_until 5 "RELOADING=1, then READY=1 again" said_times "$name" '^READY=1' 2
	grep -q '^RELOADING=1 STATUS=reloading MONOTONIC_USEC=[0-9]*$' "$E2E_TMP/$name.notify" ||
		fail "no RELOADING=1: $(cat "$E2E_TMP/$name.notify")"
	# A configuration with problems: nothing reloads, nothing is said.
	sed 's/"routes":/"routez":/' <<<"$good" >"$config"
	signal_server "$name" HUP
	wait_until 5 "the refused reload logged" grep -q 'has problems, nothing reloads' "$(server_err_file "$name")"
	printf '%s\n' "$good" >"$config"
	signal_server "$name" HUP
	wait_until 5 "the next reload said" said_times "$name" '^READY=1' 3
	stop_server "$name"
	wait_until 5 "STOPPING=1" said_times "$name" '^STOPPING=1' 1
	stop_server "${name}_sock"
	[ "$(cut -d' ' -f1 "$E2E_TMP/$name.notify" | tr '\n' ' ')" = \
		"READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1 " ] ||
		fail "what systemd heard: $(cat "$E2E_TMP/$name.notify")"
}

run_case "the unit file verifies with systemd-analyze, hardened as promised" unit_verifies
for k in 1 2; do
	run_case "-k $k: READY, RELOADING and STOPPING go to \$NOTIFY_SOCKET; a refused reload says nothing" notifies "$k"
done
finish
