#!/usr/bin/env python3
"""A scripted HTTP/1.1 upstream for the retry and deadline cases
(tests/e2e/gw_deadline.sh): each instance behaves one way, and writes
what happens to it, a JSON line per event, so the test counts attempts at
the upstream and reads the order of events instead of timing them.

  gw_deadline_upstream.py MODE LOG

MODE, for every request:
  ok          200 "ok <port>\\n"
  echo        200, the body the request's headers whose names hold
              "timeout", as JSON ({"x-request-timeout": ..., "grpc-timeout":
              ...}), and "lines": how many field lines they came in
  status:N    status N, body "status N\\n"
  fail:N      503 to the first N requests, then 200 "ok <port>\\n"
  retry-after:S[:N]
              503 with "Retry-After: S" (to the first N requests, then 200;
              every request without N)
  hang        reads the request, never answers; logs "closed" when the
              gateway closes the connection
  reset       reads the request head, then resets the connection (RST)
  reset-mid   200 with Content-Length 1000, 10 bytes of it, then RST
  slow:MS     answers 200 "slow <port>\\n" after MS milliseconds (and logs
              "closed" if the gateway gives up first)

LOG lines: {"event": "request", "t": monotonic seconds, "port": P,
"method": M, "path": P, "headers": {lower-case name: value}, "body": N bytes}
and {"event": "closed", "t": ..., "port": P} for a connection the gateway
closed while this upstream held a request unanswered. The first stdout line
is "listening on 127.0.0.1:PORT" (tests/e2e/lib.sh reads it).
"""
import json
import signal
import socket
import struct
import sys
import threading
import time

LOCK = threading.Lock()


class Upstream:
    def __init__(self, mode, log_path):
        self.mode, _, arg = mode.partition(":")
        self.arg = arg
        self.log_path = log_path
        self.count = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]

    def log(self, record):
        record["t"] = time.monotonic()
        record["port"] = self.port
        with LOCK:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def serve(self):
        print("listening on 127.0.0.1:%d" % self.port, flush=True)
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.connection, args=(conn,), daemon=True).start()

    def read_request(self, conn, buf):
        """(method, path, headers, body, rest) or None at the end."""
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return None
            buf += data
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        timeout_lines = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
            timeout_lines += "timeout" in name.lower()
        # not a field name (it has a space): the count of deadline lines
        headers[" timeout lines"] = timeout_lines
        length = int(headers.get("content-length", "0"))
        while len(buf) < length:
            data = conn.recv(65536)
            if not data:
                return None
            buf += data
        return method, path, headers, buf[:length], buf[length:]

    def answer(self, conn, status, body, extra=""):
        reason = {200: "OK", 503: "Service Unavailable"}.get(status, "Status")
        conn.sendall(("HTTP/1.1 %d %s\r\nContent-Length: %d\r\n%s\r\n" % (status, reason, len(body), extra)).encode()
                     + body)

    def wait_for_close(self, conn):
        """Held a request: log when the gateway closes the connection."""
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        self.log({"event": "closed"})

    def reset(self, conn):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def connection(self, conn):
        buf = b""
        try:
            while True:
                got = self.read_request(conn, buf)
                if got is None:
                    return
                method, path, headers, body, buf = got
                with LOCK:
                    self.count += 1
                    n = self.count
                self.log({"event": "request", "method": method, "path": path, "headers": headers, "body": len(body)})
                if not self.respond(conn, n, headers):
                    return
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def respond(self, conn, n, headers):
        """Answers request number n; False when the connection is done."""
        ok = ("ok %d\n" % self.port).encode()
        if self.mode == "ok":
            self.answer(conn, 200, ok)
        elif self.mode == "echo":
            seen = {k: v for k, v in headers.items() if "timeout" in k and k != " timeout lines"}
            seen["lines"] = headers[" timeout lines"]
            self.answer(conn, 200, json.dumps(seen).encode())
        elif self.mode == "status":
            self.answer(conn, int(self.arg), ("status %s\n" % self.arg).encode())
        elif self.mode == "fail":
            if n <= int(self.arg):
                self.answer(conn, 503, b"failing\n")
            else:
                self.answer(conn, 200, ok)
        elif self.mode == "retry-after":
            seconds, _, first = self.arg.partition(":")
            if not first or n <= int(first):
                self.answer(conn, 503, b"later\n", "Retry-After: %s\r\n" % seconds)
            else:
                self.answer(conn, 200, ok)
        elif self.mode == "hang":
            self.wait_for_close(conn)
            return False
        elif self.mode == "reset":
            self.reset(conn)
            return False
        elif self.mode == "reset-mid":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
            self.reset(conn)
            return False
        elif self.mode == "slow":
            conn.settimeout(int(self.arg) / 1000.0)
            try:
                if conn.recv(1) == b"":
                    self.log({"event": "closed"})
                    return False
            except socket.timeout:
                pass
            conn.settimeout(None)
            self.answer(conn, 200, ("slow %d\n" % self.port).encode())
        return True


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda signo, frame: sys.exit(0))
    Upstream(sys.argv[1], sys.argv[2]).serve()
