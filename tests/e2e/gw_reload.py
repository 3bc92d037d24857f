#!/usr/bin/env python3
"""Clients for the live reload cases (tests/e2e/gw_reload.sh).

Usage: gw_reload.py load GATEWAY_PORT ADMIN_PORT PORT_A PORT_B
       gw_reload.py streams GATEWAY_PORT ADMIN_PORT COUNT X_CONFIG

Both take their orders on stdin, a line at a time, and answer on stdout
(flushed), so the shell drives them lock-step; stdin closing ends them.
Both take "await G" (after the shell sent SIGHUP): they poll the admin
listener's /stats until config.generation is G and every kernel's
config_generation is G, and answer "applied G", or "FAIL: ..." after
AWAIT_S. (The shell would pay for a Python start at every poll.)

The configurations gw_reload.sh writes: generation G is configuration A
when G is odd, B when it is even, and every route's `headers` filter sets
the response header "X-Config: L G" (L the letter). In A the routes /x/...
go to the test upstream on PORT_A, in B to the one on PORT_B (each
response of the test upstream carries "X-Upstream-Port: <its port>"); /r
is answered by the gateway itself with the body "L G\\n"; /s/... goes to
the stream upstream in both.

load: worker threads send requests without a pause, some on keep-alive
connections, some each on a new connection, to /x/whoami, /r and
/x/slow/20 (in flight for 20 ms, across a reload now and then). Every
response is checked: status 200; X-Config present, its letter that of its
generation; the body and the upstream the ones of that letter's
configuration (a request served by one configuration whole); the
generation at least the last one every kernel applied (an "await G"
answered) before the request was sent; on a keep-alive connection, never
older than the one before. Any socket error (refused,
reset, closed, timed out) counts as one.
  out: "running" once every worker has had an answer; "saw G" the first
       time an answer of generation G comes; at the end one line of
       counts (JSON), then up to 20 problems. Exit 1 on any problem, or
       if A or B was never seen.
  in:  "await G": once every kernel applies generation G, requests sent
       from then on must be answered by G or later.

streams: COUNT streams through /s/..., half of them downloads (the test
upstream's /lockstep-chunked: the upstream sends a piece when told), half
uploads (/lockstep-upload, chunked: the upstream reports every piece it
receives). Each stream has its own control socket (tests/e2e/
gw_streaming.py explains the lock-step routes).
  out: "ready" once every stream is open (every download has its response
       head, whose X-Config must be X_CONFIG), "stepped N" after each step,
       then "ok ..." (exit 0) or "FAIL: ..." (exit 1).
  in:  "step": one more piece on every stream, each seen arriving at the
       other end before "stepped"; "end": every stream finishes (the
       downloads' last chunk; the uploads' last chunk, then the response,
       whose X-Config must still be X_CONFIG: the configuration the request
       started with) and must have carried exactly the bytes sent.
"""
import http.client
import json
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
IO_S = 10.0  # bound on one request's exchange (load)
STEP_S = 20.0  # bound on any one step (streams)
AWAIT_S = 10.0  # bound on a reload's application
LOAD_PATHS = ["/x/whoami", "/r", "/x/slow/20", "/r", "/x/whoami"]
KEEPALIVE_WORKERS = 3
NEW_CONNECTION_WORKERS = 2
PROBLEMS_SHOWN = 20


class Fail(Exception):
    pass


SAY_LOCK = threading.Lock()


def say(line):
    with SAY_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def generations(admin_port):
    """(config.generation, [config_generation of each kernel]) in /stats."""
    conn = http.client.HTTPConnection(HOST, admin_port, timeout=5)
    try:
        conn.request("GET", "/stats")
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise Fail("/stats answered %d" % resp.status)
    d = json.loads(body)
    return d["config"]["generation"], [k["config_generation"] for k in d["per_kernel"]]


def await_generation(admin_port, gen):
    """Polls /stats until generation gen is the newest and every kernel
    applies it; True, or False after saying why."""
    deadline = time.monotonic() + AWAIT_S
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = generations(admin_port)
        except (OSError, ValueError, KeyError, TypeError, Fail) as e:
            seen = "/stats: %r" % e
        # Each poll is a /stats round trip: the next one starts when it
        # has answered.
        if isinstance(seen, tuple) and seen[0] == gen and seen[1] and all(g == gen for g in seen[1]):
            say("applied %d" % gen)
            return True
    say("FAIL: generation %d not applied by every kernel within %.0f s: (generation, per kernel) %s"
        % (gen, AWAIT_S, seen))
    return False


def await_order(line):
    """G of an "await G" line, else None."""
    words = line.split()
    if len(words) == 2 and words[0] == "await" and words[1].isdigit():
        return int(words[1])
    return None


# ---- HTTP/1.1 responses, read from a socket ----

class Conn:
    """A client connection and what it has received but not consumed."""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _more(self, what):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Fail("timed out waiting for %s" % what)
        if not data:
            raise Fail("connection closed while waiting for %s" % what)
        self.buf += data

    def _line(self, what):
        while b"\r\n" not in self.buf:
            self._more(what)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n, what):
        while len(self.buf) < n:
            self._more(what)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def head(self):
        """(status, headers with lowercase names)."""
        while b"\r\n\r\n" not in self.buf:
            self._more("the response head")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise Fail("not a status line: %r" % lines[0])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def body(self, headers):
        """The whole body of a response with this head (not for HEAD, 1xx, 204, 304)."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            data = b""
            while True:
                size = int(self._line("a chunk size").split(b";")[0], 16)
                if size == 0:
                    while self._line("the trailers"):
                        pass
                    return data
                data += self._exact(size, "a chunk")
                if self._exact(2, "a chunk's CRLF") != b"\r\n":
                    raise Fail("no CRLF after a chunk")
        if "content-length" in headers:
            return self._exact(int(headers["content-length"]), "the body")
        while True:  # the close ends it
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise Fail("timed out waiting for the close that ends the body")
            if not data:
                body, self.buf = self.buf, b""
                return body
            self.buf += data


# ---- load ----

class Load:
    def __init__(self, gw_port, admin_port, port_a, port_b):
        self.gw_port = gw_port
        self.admin_port = admin_port
        self.ports = {"A": str(port_a), "B": str(port_b)}
        self.announced = 1  # every kernel applies at least this generation
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {"requests": 0, "ok": 0, "socket_errors": 0, "bad_status": 0, "inconsistent": 0,
                       "A": 0, "B": 0, "keepalive": 0, "new_connection": 0}
        self.problems = []
        self.seen = set()
        self.answered = set()  # workers that have had an answer
        self.first_answers = threading.Event()

    def problem(self, kind, message):
        with self.lock:
            self.counts[kind] += 1
            if len(self.problems) < PROBLEMS_SHOWN:
                self.problems.append("%s: %s" % (kind, message))

    def check(self, path, status, headers, body, floor, previous):
        """The generation of a good answer, else None (the problem counted)."""
        if status != 200:
            self.problem("bad_status", "%s: status %d: %r" % (path, status, body[:200]))
            return None
        tag = headers.get("x-config", "")
        letter, _, gen = tag.partition(" ")
        if letter not in ("A", "B") or not gen.isdigit() or letter != "AB"[(int(gen) + 1) % 2]:
            self.problem("inconsistent", "%s: X-Config %r" % (path, tag))
            return None
        gen = int(gen)
        port = self.ports[letter]
        if path == "/r":
            want = b"%s %d\n" % (letter.encode(), gen)
            if body != want:
                self.problem("inconsistent", "/r: X-Config %r, body %r" % (tag, body))
                return None
        elif headers.get("x-upstream-port") != port:
            self.problem("inconsistent", "%s: X-Config %r, answered by the upstream on %s (expected %s)"
                         % (path, tag, headers.get("x-upstream-port"), port))
            return None
        elif body != (b"%s\n" % port.encode() if path == "/x/whoami" else b"slow\n"):
            self.problem("inconsistent", "%s: X-Config %r, body %r" % (path, tag, body))
            return None
        if gen < floor:
            self.problem("inconsistent", "%s: X-Config %r, sent after generation %d was applied everywhere"
                         % (path, tag, floor))
            return None
        if gen < previous:
            self.problem("inconsistent", "%s: X-Config %r after generation %d on the same keep-alive connection"
                         % (path, tag, previous))
            return None
        with self.lock:
            self.counts["ok"] += 1
            self.counts[letter] += 1
            if gen not in self.seen:
                self.seen.add(gen)
                say("saw %d" % gen)
        return gen

    def worker(self, number, keepalive):
        kind = "keepalive" if keepalive else "new_connection"
        conn = None
        previous = 0
        i = number
        while not self.stop.is_set():
            path = LOAD_PATHS[i % len(LOAD_PATHS)]
            i += 1
            floor = self.announced
            with self.lock:
                self.counts["requests"] += 1
                self.counts[kind] += 1
            try:
                if conn is None:
                    conn = Conn(self.gw_port, IO_S)
                    previous = 0
                conn.sock.sendall(b"GET %s HTTP/1.1\r\nHost: reload.test\r\n%s\r\n"
                                  % (path.encode(), b"" if keepalive else b"Connection: close\r\n"))
                status, headers = conn.head()
                body = conn.body(headers)
            except (OSError, Fail) as e:
                self.problem("socket_errors", "%s (%s): %s" % (path, kind, e))
                if conn:
                    conn.close()
                conn = None
                continue
            gen = self.check(path, status, headers, body, floor, previous)
            if keepalive and headers.get("connection", "").lower() == "close":
                self.problem("socket_errors", "%s: Connection: close on a keep-alive connection" % path)
                gen = None
            if not keepalive or gen is None:
                conn.close()
                conn = None
            else:
                previous = gen
            with self.lock:
                self.answered.add(number)
                if len(self.answered) == KEEPALIVE_WORKERS + NEW_CONNECTION_WORKERS:
                    self.first_answers.set()
        if conn:
            conn.close()

    def run(self):
        workers = [threading.Thread(target=self.worker, args=(n, n < KEEPALIVE_WORKERS), daemon=True)
                   for n in range(KEEPALIVE_WORKERS + NEW_CONNECTION_WORKERS)]
        for w in workers:
            w.start()
        if self.first_answers.wait(IO_S):
            say("running")
            for line in sys.stdin:
                gen = await_order(line)
                if gen is None:
                    self.problem("inconsistent", "unknown order %r" % line)
                elif await_generation(self.admin_port, gen):
                    self.announced = gen
        self.stop.set()
        for w in workers:
            w.join(IO_S + 5)
        with self.lock:
            counts = dict(self.counts, generations=len(self.seen), last_announced=self.announced)
            problems = list(self.problems)
        say(json.dumps(counts, sort_keys=True))
        for p in problems:
            say(p)
        if not self.first_answers.is_set():
            say("not every worker had an answer within %.0f s" % IO_S)
            return 1
        if any(counts[k] for k in ("socket_errors", "bad_status", "inconsistent")):
            return 1
        if not counts["A"] or not counts["B"]:
            say("answers of only one configuration: A %d, B %d" % (counts["A"], counts["B"]))
            return 1
        return 0


# ---- streams ----

PIECE_SIZES = [1, 17, 700, 3000, 40, 1200, 5]


def piece(stream, step):
    size = PIECE_SIZES[(stream + step) % len(PIECE_SIZES)]
    text = b"<stream %d step %d>" % (stream, step)
    return (text * (size // len(text) + 1))[:size]


def decode_chunked(raw):
    """(data, complete) of a chunked body received so far."""
    data = b""
    while True:
        line_end = raw.find(b"\r\n")
        if line_end < 0:
            return data, False
        size = int(raw[:line_end].split(b";")[0], 16)
        if size == 0:
            return data, raw[line_end + 2:].startswith(b"\r\n")
        if len(raw) < line_end + 2 + size + 2:
            return data, False
        data += raw[line_end + 2:line_end + 2 + size]
        raw = raw[line_end + 2 + size + 2:]


class Stream:
    def __init__(self, number, gw_port, x_config):
        self.number = number
        self.download = number % 2 == 0
        self.name = "stream %d (%s)" % (number, "download" if self.download else "upload")
        self.x_config = x_config
        self.listener = socket.socket()
        self.listener.bind((HOST, 0))
        self.listener.listen(1)
        self.listener.settimeout(STEP_S)
        self.ctl = None
        self.ctl_buf = b""
        self.acked = b""
        self.sent = b""
        self.conn = Conn(gw_port, STEP_S)
        ctl_port = self.listener.getsockname()[1]
        if self.download:
            head = b"GET /s/lockstep-chunked/%d HTTP/1.1\r\nHost: reload.test\r\n\r\n" % ctl_port
        else:
            head = (b"POST /s/lockstep-upload/%d HTTP/1.1\r\nHost: reload.test\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n" % ctl_port)
        self.conn.sock.sendall(head)

    def fail(self, message):
        raise Fail("%s: %s" % (self.name, message))

    def accept(self):
        try:
            self.ctl, _ = self.listener.accept()
        except socket.timeout:
            self.fail("the upstream never connected back (did the request head reach it?)")
        self.ctl.settimeout(STEP_S)
        self.listener.close()

    def check_head(self, status, headers):
        if status != 200:
            self.fail("status %d" % status)
        if headers.get("x-config") != self.x_config:
            self.fail("X-Config %r, expected %r (the configuration the request started with)"
                      % (headers.get("x-config"), self.x_config))

    def open(self):
        if self.download:
            self.ctl.sendall(b"head\n")
            try:
                status, headers = self.conn.head()
            except (OSError, Fail) as e:
                self.fail(str(e))
            self.check_head(status, headers)
            if "chunked" not in headers.get("transfer-encoding", ""):
                self.fail("not chunked: %r" % headers)

    def send(self, step):
        data = piece(self.number, step)
        self.sent += data
        try:
            if self.download:
                self.ctl.sendall(b"data %d\n" % len(data) + data)
            else:
                self.conn.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
        except OSError as e:
            self.fail("sending step %d: %s" % (step, e))

    def _recv(self, sock, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            self.fail("waited %.0f s for %s" % (STEP_S, what))
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            self.fail("waited %.0f s for %s" % (STEP_S, what))
        except OSError as e:
            self.fail("%s while waiting for %s" % (e, what))
        if not data:
            self.fail("connection closed while waiting for %s (cut?)" % what)
        return data

    def arrived(self, step):
        """Waits until everything sent so far is at the other end."""
        deadline = time.monotonic() + STEP_S
        what = "the bytes of step %d" % step
        if self.download:
            while len(decode_chunked(self.conn.buf)[0]) < len(self.sent):
                self.conn.buf += self._recv(self.conn.sock, deadline, what)
            got = decode_chunked(self.conn.buf)[0]
        else:
            while len(self.acked) < len(self.sent):
                while b"\n" not in self.ctl_buf:
                    self.ctl_buf += self._recv(self.ctl, deadline, what)
                line, _, self.ctl_buf = self.ctl_buf.partition(b"\n")
                if not line.startswith(b"got "):
                    self.fail("unexpected control line %r" % line)
                n = int(line[4:])
                while len(self.ctl_buf) < n:
                    self.ctl_buf += self._recv(self.ctl, deadline, what)
                self.acked += self.ctl_buf[:n]
                self.ctl_buf = self.ctl_buf[n:]
            got = self.acked
        if got != self.sent:
            self.fail("after step %d the other end has %r, expected %r" % (step, got[-80:], self.sent[-80:]))

    def finish(self):
        deadline = time.monotonic() + STEP_S
        try:
            if self.download:
                self.ctl.sendall(b"end\n")
                while not decode_chunked(self.conn.buf)[1]:
                    self.conn.buf += self._recv(self.conn.sock, deadline, "the last chunk")
                data = decode_chunked(self.conn.buf)[0]
                if data != self.sent:
                    self.fail("body of %d bytes, expected the %d sent" % (len(data), len(self.sent)))
            else:
                self.conn.sock.sendall(b"0\r\n\r\n")
                status, headers = self.conn.head()
                self.check_head(status, headers)
                body = self.conn.body(headers)
                if body != b"received %d\n" % len(self.sent):
                    self.fail("the upstream answered %r, expected it to have received %d bytes"
                              % (body, len(self.sent)))
                if self.acked != self.sent:
                    self.fail("the upstream received %d bytes, expected %d" % (len(self.acked), len(self.sent)))
        except (OSError, Fail) as e:
            if isinstance(e, Fail) and str(e).startswith(self.name):
                raise
            self.fail(str(e))

    def close(self):
        self.conn.close()
        if self.ctl:
            self.ctl.close()
        self.listener.close()


def streams(gw_port, admin_port, count, x_config):
    opened = []
    steps = 0
    try:
        for n in range(count):
            opened.append(Stream(n, gw_port, x_config))
        for s in opened:
            s.accept()
        for s in opened:
            s.open()
        for s in opened:
            s.send(steps)
        for s in opened:
            s.arrived(steps)
        say("ready")
        for line in sys.stdin:
            line = line.strip()
            if line == "step":
                steps += 1
                for s in opened:
                    s.send(steps)
                for s in opened:
                    s.arrived(steps)
                say("stepped %d" % steps)
            elif await_order(line) is not None:
                if not await_generation(admin_port, await_order(line)):
                    return 1
            elif line == "end":
                for s in opened:
                    s.finish()
                total = sum(len(s.sent) for s in opened)
                say("ok %d streams, %d steps after the first piece, %d bytes" % (count, steps, total))
                return 0
            else:
                raise Fail("unknown order %r" % line)
        raise Fail("stdin closed before \"end\"")
    except (OSError, Fail) as e:
        say("FAIL: %s" % e)
        return 1
    finally:
        for s in opened:
            s.close()


def main():
    args = sys.argv[1:]
    if len(args) == 5 and args[0] == "load":
        sys.exit(Load(*map(int, args[1:])).run())
    if len(args) == 5 and args[0] == "streams":
        sys.exit(streams(int(args[1]), int(args[2]), int(args[3]), args[4]))
    sys.exit("usage: gw_reload.py load GATEWAY_PORT ADMIN_PORT PORT_A PORT_B\n"
             "       gw_reload.py streams GATEWAY_PORT ADMIN_PORT COUNT X_CONFIG")


if __name__ == "__main__":
    main()
