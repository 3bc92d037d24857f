#!/usr/bin/env python3
"""The authorization service and key server the forward_auth and remote
JWKS cases talk to (tests/e2e/gw_forward_auth.sh). An HTTP/1.1 keep-alive
server on 127.0.0.1, port 0 unless given; it prints "listening on
127.0.0.1:PORT" once it accepts, as the test upstream does.

Usage: gw_auth_service.py [PORT] [JWKS_FILE]

With $AUTH_SERVICE_CERT and $AUTH_SERVICE_KEY (PEM files) it speaks TLS.

Decisions (any path but those below), by the Authorization header:
  "Bearer good-NAME"   200, X-User: NAME, X-Tier: gold (and nothing else)
  "Bearer bare"        200 without X-User or X-Tier
  "Bearer deny"        403, Content-Type: application/json,
                       body {"denied":"by policy"}, X-Internal: secret
  "Bearer stall"       no answer until the gateway closes the connection
                       (a gateway time out)
  "Bearer broken"      an answer the gateway's codec refuses
  "Bearer drop-next"   200 as good-NAME does, then the next request on that
                       connection is read and the connection closed without
                       an answer (a kept connection the service gave up on)
  anything else, or none: 401, WWW-Authenticate: Bearer realm="svc",
                       Content-Type: text/plain, body "who are you?\\n"
Every decision request is counted and its head kept.

Control (not counted):
  /_count              the number of decisions asked so far
  /_last               the last decision request's head, as received
  /_connections        the number of connections that carried decisions
  /jwks                the JWKS file's content (Content-Type
                       application/json, Cache-Control from the file
                       JWKS_FILE.cache-control if it exists), or 503
                       while JWKS_FILE.down exists; counted in /_jwks_count
  /_jwks_count         how many /jwks requests came
  /_jwks_last          the last /jwks request's head
"""
import os
import signal
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"count": 0, "last": "", "connections": 0, "jwks": 0, "jwks_last": ""}
JWKS_FILE = sys.argv[2] if len(sys.argv) > 2 else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def control(self):
        with LOCK:
            if self.path == "/_count":
                return self.reply(200, b"%d" % STATE["count"])
            if self.path == "/_last":
                return self.reply(200, STATE["last"].encode())
            if self.path == "/_connections":
                return self.reply(200, b"%d" % STATE["connections"])
            if self.path == "/_jwks_count":
                return self.reply(200, b"%d" % STATE["jwks"])
            if self.path == "/_jwks_last":
                return self.reply(200, STATE["jwks_last"].encode())
            STATE["jwks"] += 1
            STATE["jwks_last"] = self.requestline + "\r\n" + str(self.headers)
        if not JWKS_FILE or os.path.exists(JWKS_FILE + ".down"):
            return self.reply(503, b"down\n")
        with open(JWKS_FILE, "rb") as f:
            body = f.read()
        headers = [("Content-Type", "application/json")]
        if os.path.exists(JWKS_FILE + ".cache-control"):
            with open(JWKS_FILE + ".cache-control") as f:
                headers.append(("Cache-Control", f.read().strip()))
        return self.reply(200, body, headers)

    def decide(self):
        if getattr(self, "drop_next", False):
            self.close_connection = True
            return None
        with LOCK:
            if not getattr(self, "decided", False):
                self.decided = True
                STATE["connections"] += 1
            STATE["count"] += 1
            STATE["last"] = self.requestline + "\r\n" + str(self.headers)
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer good-"):
            return self.reply(200, b"", [("X-User", auth[len("Bearer good-"):]), ("X-Tier", "gold")])
        if auth == "Bearer drop-next":
            self.drop_next = True
            return self.reply(200, b"", [("X-User", "dropper")])
        if auth == "Bearer bare":
            return self.reply(200)
        if auth == "Bearer deny":
            return self.reply(403, b'{"denied":"by policy"}',
                              [("Content-Type", "application/json"), ("X-Internal", "secret")])
        if auth == "Bearer stall":
            # No answer until the gateway gives up and closes.
            self.rfile.read(1)
            self.close_connection = True
            return None
        if auth == "Bearer broken":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx")
            self.close_connection = True
            return None
        return self.reply(401, b"who are you?\n", [("WWW-Authenticate", 'Bearer realm="svc"'),
                                                   ("Content-Type", "text/plain")])

    def handle_any(self):
        length = int(self.headers.get("Content-Length", "0") or "0")
        if length:
            self.rfile.read(length)
        if self.path.startswith("/_") or self.path == "/jwks":
            return self.control()
        return self.decide()

    do_GET = do_POST = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = Server(("127.0.0.1", port), Handler)
    if os.environ.get("AUTH_SERVICE_CERT"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.environ["AUTH_SERVICE_CERT"], os.environ["AUTH_SERVICE_KEY"])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    socketserver.TCPServer.allow_reuse_address = True
    main()
