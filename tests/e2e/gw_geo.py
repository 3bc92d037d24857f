#!/usr/bin/env python3
"""Clients for the geo cases (tests/e2e/gw_geo.sh). The gateway's routes
proxy to gw_test_upstream's /echo, which answers with the request head it
received: the X-Geo-* headers the geo filter set are read from there.

  gw_geo.py rows PORT EXPECTATIONS DBNAME ROLE
      Every row of expectations.json's list DBNAME, sent with its address in
      X-Forwarded-For: the headers must say what the row says (ROLE: country,
      city or asn: the only database the gateway has). Prints "N rows".
  gw_geo.py proxy PORT KIND
      One request after a PROXY protocol header of KIND (v1, v1-tcp6, v2,
      v2-tcp6, v2-local, v1-bad, v2-bad, none; "+tls" after one: the
      request over TLS after the header): prints the status and the
      X-Geo-Country the upstream saw, or "closed". Also "pieces" (a v1
      header in three writes) and "partial" (a header's start, then
      nothing: "closed after N ms").
  gw_geo.py load PORT IP STOPFILE MAXSECONDS
      Four keep-alive clients send /echo with "X-Forwarded-For: IP" until
      STOPFILE exists (at most MAXSECONDS), counting answers by status and
      the countries seen; prints them as JSON. Any answer but 200, or a
      failed request, is counted as such.
"""
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

GEO = ("X-Geo-Country", "X-Geo-Continent", "X-Geo-City", "X-Geo-ASN", "X-Geo-ASN-Org")


def echoed_headers(body):
    """The X-Geo-* headers of the echoed request head, by lower-case name."""
    head = body.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    out = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower().startswith("x-geo-"):
            out[name.lower()] = value.strip()
    return out


def get(port, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/echo", headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, echoed_headers(body)


def expected_headers(row, role):
    unknown = "unknown"
    found = row.get("found", True)
    exp = {}
    if role in ("country", "city"):
        exp["x-geo-country"] = row.get("country") or unknown if found else unknown
        if "continent" in row or not found:
            exp["x-geo-continent"] = row.get("continent") or unknown if found else unknown
        if role == "city" and ("city" in row or not found):
            exp["x-geo-city"] = row.get("city") or unknown if found else unknown
    else:
        exp["x-geo-asn"] = str(row["autonomous_system_number"]) if found else unknown
        if "autonomous_system_organization" in row or not found:
            exp["x-geo-asn-org"] = row.get("autonomous_system_organization", unknown) if found else unknown
    return exp


def rows(port, path, dbname, role):
    with open(path) as f:
        table = json.load(f)[dbname]
    bad = []
    for row in table:
        status, seen = get(port, {"X-Forwarded-For": row["ip"]})
        exp = expected_headers(row, role)
        got = {k: seen.get(k) for k in exp}
        if status != 200 or got != exp:
            bad.append("%s: status %d, expected %s, got %s" % (row["ip"], status, exp, got))
        registered = row.get("registered_country")
        if registered and registered != row.get("country") and seen.get("x-geo-country") == registered:
            bad.append("%s: routed on registered_country %s" % (row["ip"], registered))
    if bad:
        print("\n".join(bad))
        return 1
    print("%d rows" % len(table))
    return 0


def v2(command, family, addresses):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    return sig + bytes([0x20 | command, family]) + struct.pack("!H", len(addresses)) + addresses


PROXY_HEADERS = {
    "v1": b"PROXY TCP4 81.2.69.142 127.0.0.1 40000 80\r\n",
    "v1-tcp6": b"PROXY TCP6 2001:218::1 ::1 40000 80\r\n",
    "v2": v2(1, 0x11, socket.inet_pton(socket.AF_INET, "89.160.20.128") + socket.inet_pton(socket.AF_INET, "127.0.0.1")
             + struct.pack("!HH", 40000, 80)),
    "v2-tcp6": v2(1, 0x21, socket.inet_pton(socket.AF_INET6, "2a02:d180::1") + socket.inet_pton(socket.AF_INET6, "::1")
                  + struct.pack("!HH", 40000, 80) + b"\x04\x00\x02ab"),
    "v2-local": v2(0, 0x00, b""),
    "v1-bad": b"PROXY TCP4 81.2.69.142 127.0.0.1 40000\r\n",
    "v2-bad": v2(1, 0x11, b"\x01\x02\x03"),
    "none": b"",
}


def taken(port, client_port):
    """Lock-step: returns once the gateway has read everything this client
    sent (its socket's Recv-Q, as ss shows it, is empty), so the next piece
    comes in a read of its own; fails after 5 s."""
    deadline = time.monotonic() + 5
    spec = "( sport = :%d and dport = :%d )" % (port, client_port)
    while time.monotonic() < deadline:
        out = subprocess.run(["ss", "-Htn", "state", "established", spec], capture_output=True, text=True).stdout
        fields = out.split()
        if fields and fields[0] == "0":
            return
    raise SystemExit("the gateway did not read a piece of the header within 5 s")


REQUEST = b"GET /echo HTTP/1.1\r\nHost: geo\r\nConnection: close\r\n\r\n"


def read_to_close(s):
    """Everything the gateway sends until it closes (or resets)."""
    out = b""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            out += data
    except OSError:
        pass
    s.close()
    return out


def report(out, closed):
    """The answer's status and the X-Geo-Country the upstream saw, or `closed`."""
    if not out.startswith(b"HTTP/1.1 "):
        print(closed)
        return 0
    body = out.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in out else b""
    print(out.split(b" ", 2)[1].decode(), echoed_headers(body).get("x-geo-country", "-"))
    return 0


def proxy_slow(port, kind):
    """"pieces": a v1 header in three writes, then the request; "partial":
    the start of a header, then nothing: prints the status and country,
    or "closed after N ms" (the gateway's header_ms)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    start = time.monotonic()
    if kind == "pieces":
        header = PROXY_HEADERS["v1"]
        for piece in (header[:7], header[7:20], header[20:]):
            s.sendall(piece)
            taken(port, s.getsockname()[1])
        s.sendall(REQUEST)
    else:
        s.sendall(b"PROXY TCP4 ")
    out = read_to_close(s)
    return report(out, "closed after %d ms" % ((time.monotonic() - start) * 1000))


def proxy(port, kind):
    if kind in ("pieces", "partial"):
        return proxy_slow(port, kind)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if kind.endswith("+tls"):
        # the header in clear, then TLS on the same connection
        import ssl
        s.sendall(PROXY_HEADERS[kind[:-4]])
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        s = context.wrap_socket(s, server_hostname="geo.test")
        s.sendall(REQUEST)
    else:
        try:
            s.sendall(PROXY_HEADERS[kind] + REQUEST)
        except OSError:
            pass
    return report(read_to_close(s), "closed")


def load_worker(port, ip, stopfile, deadline, counts, lock):
    conn, local = None, {}
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/echo", headers={"X-Forwarded-For": ip})
            resp = conn.getresponse()
            seen = echoed_headers(resp.read())
            key = str(resp.status) if resp.status != 200 else "country " + seen.get("x-geo-country", "none")
            local[key] = local.get(key, 0) + 1
        except (OSError, http.client.HTTPException):
            local["errors"] = local.get("errors", 0) + 1
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()
    with lock:
        for key, value in local.items():
            counts[key] = counts.get(key, 0) + value


def load(port, ip, stopfile, seconds):
    counts, lock = {"errors": 0}, threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=load_worker, args=(port, ip, stopfile, deadline, counts, lock))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts["stopped"] = os.path.exists(stopfile)
    print(json.dumps(counts), flush=True)
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "rows":
        return rows(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    if cmd == "proxy":
        return proxy(int(sys.argv[2]), sys.argv[3])
    if cmd == "load":
        return load(int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
