#!/usr/bin/env python3
"""Lock-step streaming cases through the gateway (tests/e2e/gw_streaming.sh).

Usage: gw_streaming.py CASE GATEWAY_PORT

The test upstream's /lockstep-* routes connect back to a control socket
this script listens on, and do one step per command (gw_test_upstream.c).
Each step is released only once the previous one was seen arriving through
the gateway, so a gateway that holds bytes back deadlocks, and the bounded
wait for the step fails the case. No timing is measured: a step either
arrives or the bound (STEP_S) runs out.

Prints what went wrong and exits 1 on failure.
"""
import json
import socket
import sys
import time

STEP_S = 20.0  # bound on any one step; only a deadlock (or a machine stalled that long) reaches it
HOST = "127.0.0.1"

PIECES = [b"first piece\n", b"x", b"third, a little longer piece\n", b"4" * 3000, b"last\n"]
EVENTS = [b"data: event %d\n\n" % i for i in range(1, 5)]


class Fail(Exception):
    pass


class Control:
    """The socket the upstream connects back to, and its commands."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind((HOST, 0))
        self.listener.listen(1)
        self.listener.settimeout(STEP_S)
        self.port = self.listener.getsockname()[1]
        self.conn = None
        self.acked = b""

    def accept(self, what):
        try:
            self.conn, _ = self.listener.accept()
        except socket.timeout:
            raise Fail("the upstream never connected back: %s" % what)
        self.conn.settimeout(STEP_S)

    def send(self, line, data=b""):
        self.conn.sendall(line.encode() + b"\n" + data)

    def wait_ack(self, piece):
        """Waits until the upstream reported `piece` received (got N + bytes)."""
        want = self.acked + piece
        buf = b""
        deadline = time.monotonic() + STEP_S
        while len(self.acked) < len(want):
            while b"\n" not in buf:
                buf += recv_some(self.conn, deadline, "the upstream to receive %r" % piece[:40])
            line, _, buf = buf.partition(b"\n")
            if not line.startswith(b"got "):
                raise Fail("unexpected control line %r" % line)
            n = int(line[4:])
            while len(buf) < n:
                buf += recv_some(self.conn, deadline, "the upstream to receive %r" % piece[:40])
            self.acked += buf[:n]
            buf = buf[n:]
        if self.acked != want:
            raise Fail("the upstream received %r, expected %r" % (self.acked[-80:], want[-80:]))

    def close(self):
        if self.conn:
            self.conn.close()
        self.listener.close()


def recv_some(sock, deadline, what):
    left = deadline - time.monotonic()
    if left <= 0:
        raise Fail("waited %.0f s for %s" % (STEP_S, what))
    sock.settimeout(left)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        raise Fail("waited %.0f s for %s" % (STEP_S, what))
    if not data:
        raise Fail("connection closed while waiting for %s" % what)
    return data


class Response:
    """A response read incrementally from the gateway."""

    def __init__(self, sock):
        self.sock = sock
        self.raw = b""
        self.status = None
        self.headers = {}
        self.body_start = None
        self.closed = False

    def _more(self, deadline, what):
        self.raw += recv_some(self.sock, deadline, what)

    def wait_head(self, what="the response head"):
        deadline = time.monotonic() + STEP_S
        while b"\r\n\r\n" not in self.raw:
            self._more(deadline, what)
        end = self.raw.index(b"\r\n\r\n")
        lines = self.raw[:end].decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.body_start = end + 4

    def body_bytes(self):
        return self.raw[self.body_start:]

    def decoded(self):
        """(data, complete) of the chunked body received so far."""
        data, rest = b"", self.body_bytes()
        while True:
            line_end = rest.find(b"\r\n")
            if line_end < 0:
                return data, False
            size = int(rest[:line_end].split(b";")[0], 16)
            if size == 0:
                return data, rest[line_end + 2:].startswith(b"\r\n")
            if len(rest) < line_end + 2 + size + 2:
                return data, False
            data += rest[line_end + 2:line_end + 2 + size]
            rest = rest[line_end + 2 + size + 2:]

    def wait_body(self, want, chunked, what):
        deadline = time.monotonic() + STEP_S
        while True:
            got = self.decoded()[0] if chunked else self.body_bytes()
            if len(got) >= len(want):
                break
            self._more(deadline, what)
        if got != want:
            raise Fail("body %r, expected %r" % (got[-80:], want[-80:]))

    def wait_chunked_end(self):
        deadline = time.monotonic() + STEP_S
        while not self.decoded()[1]:
            self._more(deadline, "the last chunk")

    def read_to_close(self):
        deadline = time.monotonic() + STEP_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("the gateway did not close within %.0f s; got %r" % (STEP_S, self.raw[-200:]))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                return
            self.raw += data


def request(gw_port, head):
    sock = socket.create_connection((HOST, gw_port), timeout=STEP_S)
    sock.sendall(head)
    return sock, Response(sock)


def get(gw_port, path):
    return request(gw_port, b"GET %s HTTP/1.1\r\nHost: stream.test\r\n\r\n" % path.encode())


def expect(cond, message):
    if not cond:
        raise Fail(message)


# ---- responses ----

def send_pieces(ctl, resp, chunked, what):
    """The upstream sends each of PIECES only once the client has all before
    it (WHAT names a piece in the failure); returns the bytes sent."""
    sent = b""
    for piece in PIECES:
        ctl.send("data %d" % len(piece), piece)
        sent += piece
        resp.wait_body(sent, chunked, "%s %r (is it held back?)" % (what, piece[:40]))
    return sent


def down_chunked(gw_port):
    """The head, then each chunk, reaches the client before the next is sent."""
    ctl = Control()
    sock, resp = get(gw_port, "/lockstep-chunked/%d" % ctl.port)
    ctl.accept("the request head")
    ctl.send("head")
    resp.wait_head("the response head, sent alone (is it held until the body comes?)")
    expect(resp.status == 200, "status %s" % resp.status)
    expect(resp.headers.get("transfer-encoding") == "chunked", "not chunked: %r" % resp.headers)
    sent = send_pieces(ctl, resp, True, "chunk")
    ctl.send("end")
    resp.wait_chunked_end()
    ctl.close()
    sock.close()


def down_http10(gw_port):
    """An HTTP/1.0 client gets a chunked upstream's data raw, each piece
    before the next is sent, and a close at the end."""
    ctl = Control()
    sock, resp = request(gw_port, b"GET /lockstep-chunked/%d HTTP/1.0\r\nHost: stream.test\r\n\r\n" % ctl.port)
    ctl.accept("the request head")
    ctl.send("head")
    resp.wait_head("the response head, sent alone (is it held until the body comes?)")
    expect("transfer-encoding" not in resp.headers, "chunked to an HTTP/1.0 client: %r" % resp.headers)
    sent = send_pieces(ctl, resp, False, "piece")
    ctl.send("end")
    resp.read_to_close()
    expect(resp.body_bytes() == sent, "body %r after the close" % resp.body_bytes()[-80:])
    ctl.close()
    sock.close()


def down_length(gw_port):
    """The same with a Content-Length body."""
    ctl = Control()
    total = sum(len(p) for p in PIECES)
    sock, resp = get(gw_port, "/lockstep-length/%d/%d" % (ctl.port, total))
    ctl.accept("the request head")
    ctl.send("head")
    resp.wait_head("the response head, sent alone (is it held until the body comes?)")
    expect(resp.headers.get("content-length") == str(total), "length: %r" % resp.headers)
    sent = send_pieces(ctl, resp, False, "piece")
    ctl.close()
    sock.close()


def sse(gw_port):
    """Server-Sent Events: the status line and the first event arrive
    before the second event is released, then each event on its own."""
    ctl = Control()
    sock, resp = request(gw_port, b"GET /lockstep-sse/%d HTTP/1.1\r\nHost: stream.test\r\n"
                         b"Accept: text/event-stream\r\n\r\n" % ctl.port)
    ctl.accept("the request head")
    ctl.send("data %d" % len(EVENTS[0]), EVENTS[0])
    resp.wait_head("the status line before the second event")
    expect(resp.status == 200, "status %s" % resp.status)
    expect(resp.headers.get("content-type") == "text/event-stream", "type: %r" % resp.headers)
    sent = EVENTS[0]
    resp.wait_body(sent, True, "the first event")
    for event in EVENTS[1:]:
        ctl.send("data %d" % len(event), event)
        sent += event
        resp.wait_body(sent, True, "event %r" % event)
    ctl.send("end")
    resp.wait_chunked_end()
    ctl.close()
    sock.close()


def pipelined(gw_port):
    """A pipelined request's answer goes out while the next one waits for
    its upstream; when that upstream then fails before its body, the first
    answer stays whole and the 502 follows it."""
    ctl = Control()
    sock, resp = request(gw_port, b"GET /status/201 HTTP/1.1\r\nHost: stream.test\r\n\r\n"
                         b"GET /lockstep-chunked/%d HTTP/1.1\r\nHost: stream.test\r\n\r\n" % ctl.port)
    ctl.accept("the second request")
    resp.wait_head("the first answer while the second waits for its upstream")
    expect(resp.status == 201, "status %s" % resp.status)
    resp.wait_body(b"status 201\n", False, "the first answer's body")
    ctl.send("fail 0")
    resp.read_to_close()
    second = resp.raw[resp.body_start + len(b"status 201\n"):]
    expect(second.startswith(b"HTTP/1.1 502 "), "after the first answer: %r" % second[:200])
    ctl.close()
    sock.close()


# ---- uploads ----

def upload(gw_port, chunked):
    ctl = Control()
    total = sum(len(p) for p in PIECES)
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % total
    sock, resp = request(gw_port, b"POST /lockstep-upload/%d HTTP/1.1\r\nHost: stream.test\r\n%s\r\n\r\n"
                         % (ctl.port, framing))
    ctl.accept("the request head before any body (is it held until the body comes?)")
    for piece in PIECES:
        sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        ctl.wait_ack(piece)
    if chunked:
        sock.sendall(b"0\r\n\r\n")
    resp.wait_head()
    expect(resp.status == 200, "status %s: %r" % (resp.status, resp.raw[-200:]))
    resp.wait_body(b"received %d\n" % total, resp.headers.get("transfer-encoding") == "chunked", "the answer")
    ctl.close()
    sock.close()


def up_chunked(gw_port):
    """Each piece of a chunked upload reaches the upstream before the next is sent."""
    upload(gw_port, True)


def up_length(gw_port):
    """The same with a Content-Length upload."""
    upload(gw_port, False)


# ---- an upstream that fails mid-response ----

def fail_before_body(gw_port):
    """Head and a malformed chunk at once: nothing reached the client, so it gets a 502 and a close."""
    ctl = Control()
    sock, resp = get(gw_port, "/lockstep-chunked/%d" % ctl.port)
    ctl.accept("the request head")
    ctl.send("fail 0")
    resp.read_to_close()
    expect(resp.raw, "an empty reply")
    resp.wait_head()
    expect(resp.status == 502, "status %s, expected 502: %r" % (resp.status, resp.raw[:300]))
    expect(resp.headers.get("content-type", "").startswith("application/json"), "not JSON: %r" % resp.raw)
    expect(resp.headers.get("connection", "").lower() == "close", "no Connection: close: %r" % resp.raw)
    body = json.loads(resp.body_bytes())
    expect(body.get("status") == 502 and body.get("error"), "body %r" % body)
    expect(resp.raw.count(b"HTTP/1.1") == 1, "more than one response: %r" % resp.raw)
    ctl.close()
    sock.close()


def fail_after_body(gw_port):
    """Part of the body went out: the rest that came before the failure
    follows, then a close without the last chunk."""
    ctl = Control()
    sock, resp = get(gw_port, "/lockstep-chunked/%d" % ctl.port)
    ctl.accept("the request head")
    ctl.send("data 6", b"hello ")
    resp.wait_head()
    expect(resp.status == 200, "status %s" % resp.status)
    resp.wait_body(b"hello ", True, "the first chunk")
    ctl.send("fail 5", b"world")
    resp.read_to_close()
    data, complete = resp.decoded()
    expect(data == b"hello world", "client got %r, expected the partial body b'hello world'" % data)
    expect(not complete, "the body ended as if complete")
    ctl.close()
    sock.close()


def fail_reset_after_body(gw_port):
    """An upstream reset after part of the body: the client gets it and a close."""
    ctl = Control()
    sock, resp = get(gw_port, "/lockstep-chunked/%d" % ctl.port)
    ctl.accept("the request head")
    ctl.send("data 6", b"hello ")
    resp.wait_head()
    resp.wait_body(b"hello ", True, "the first chunk")
    ctl.send("reset")
    resp.read_to_close()
    data, complete = resp.decoded()
    expect(data == b"hello ", "client got %r" % data)
    expect(not complete, "the body ended as if complete")
    ctl.close()
    sock.close()


CASES = {f.__name__: f for f in (down_chunked, down_http10, down_length, sse, pipelined, up_chunked, up_length,
                                  fail_before_body, fail_after_body, fail_reset_after_body)}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        sys.exit("usage: gw_streaming.py {%s} GATEWAY_PORT" % ",".join(CASES))
    try:
        CASES[sys.argv[1]](int(sys.argv[2]))
    except Fail as e:
        print("%s: %s" % (sys.argv[1], e))
        sys.exit(1)


if __name__ == "__main__":
    main()
