#!/usr/bin/env bash
# vkgw end to end: the upstream's response head is parsed where it lies in
# the connection's ring (gateway/gw_conn_next.c), and whatever way it
# arrives the client gets the same head and every body byte:
#  - in pieces, one send each;
#  - with its body in the same send;
#  - after an interim 100 in the same send;
#  - longer than the 16 KiB ring (max_head_bytes 65536): taken out of the
#    ring as it comes;
#  - longer than max_head_bytes: 502;
# all on kept-alive connections, one after another on one client
# connection, so what a head leaves in the ring is the next body's start.
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
need_bin "$VKGW"
command -v python3 >/dev/null || fail "python3 is not installed"

gateway() {
	cat >"$E2E_TMP/gw.json" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0, "kernels": 1 } ],
  "http": { "max_head_bytes": 65536 },
  "upstreams": { "raw": { "endpoints": [ "127.0.0.1:$1" ] } },
  "routes": [ { "name": "raw", "action": { "proxy": { "upstream": "raw" } } } ]
}
JSON
	start_server rh_gw "$VKGW" -c "$E2E_TMP/gw.json"
}

every_way_a_head_arrives() {
	start_server rh_up python3 "$(dirname "$0")/gw_response_heads.py"
	gateway "${E2E_PORT[rh_up]}"
	python3 - "${E2E_PORT[rh_gw]}" <<'PY' || fail "a response head was not relayed whole"
import socket, sys

def body(n):
    return bytes(i % 251 for i in range(n))

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
buf = b""

def response():
    global buf
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        assert data, "the gateway closed before a head"
        buf += data
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    fields = [l.split(b":", 1) for l in lines[1:]]
    length = int([v for k, v in fields if k.lower() == b"content-length"][0])
    while len(buf) < length:
        data = s.recv(65536)
        assert data, "the gateway closed mid-body"
        buf += data
    got, buf = buf[:length], buf[length:]
    return lines[0], fields, got

for path, pads, length in [("/split/2", 0, 5000), ("/split/7", 0, 5000), ("/together", 0, 5000),
                           ("/interim", 0, 5000), ("/big/40000", 40000, 1000), ("/together", 0, 5000),
                           ("/big/20000", 20000, 1000), ("/split/30", 0, 5000)]:
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a.test\r\n\r\n")
    status, fields, got = response()
    assert status == b"HTTP/1.1 200 OK", (path, status, got[:200])
    assert got == body(length), (path, len(got))
    padded = sum(len(k) + len(v) + 3 for k, v in fields if k.startswith(b"X-Pad-"))
    assert padded >= pads, (path, padded)
    print("%s: 200, %d body bytes, %d bytes of X-Pad" % (path, len(got), padded), file=sys.stderr)

s.sendall(b"GET /big/70000 HTTP/1.1\r\nHost: a.test\r\n\r\n")
status, fields, got = response()
assert status.startswith(b"HTTP/1.1 502 "), status
PY
	stop_server rh_gw
	stop_server rh_up
}

run_case "a response head in pieces, with its body, after a 100, or longer than the ring" every_way_a_head_arrives
finish
