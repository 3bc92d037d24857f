#!/usr/bin/env python3
"""Client for gw_isolation.sh, against tests/services/gw_fault_gateway
(vkgw with the test-only "fault" filter, run with -k 1 so that every
connection shares one kernel).

  gw_isolation.py isolated PORT ROUNDS CONNS
      A victim connection publishes a canary in its heap. CONNS keep-alive
      connections stay open; in each of ROUNDS rounds each sends a request,
      one new connection faults (x-fault: null, then poke: a write into the
      victim's heap, alternately) and must get a 500 and a close, and then
      every load connection must get its 200 "ok". Lock-step, so the faults
      happen while the load connections wait for their answers. At the end
      the victim's canary must be intact.

  gw_isolation.py unprotected PORT
      The same poke must land: 200 "poked" on a connection that stays open,
      and the victim then sees its canary corrupted. A NULL dereference is
      still caught (500 and a close): the fault handler needs no isolation.

Exit status 0, or 1 with one line on what went wrong. Every read is bounded.
"""
import socket
import sys

TIMEOUT_S = 10


class Failure(Exception):
    pass


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.buf = b""

    def send(self, fault=None):
        extra = "x-fault: %s\r\n" % fault if fault else ""
        self.sock.sendall(("GET / HTTP/1.1\r\nHost: test\r\n%s\r\n" % extra).encode())

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def response(self):
        """(status, body) of the next response; (None, None) on a close."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                if self.buf:
                    raise Failure("connection closed inside a response head: %r" % self.buf)
                return None, None
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            if not self._fill():
                raise Failure("connection closed inside a body")
            rest = self.buf.split(b"\r\n\r\n", 1)[1]
        self.buf = rest[length:]
        return status, rest[:length].decode()

    def closed(self):
        """True when the server closed the connection with nothing more."""
        if self.buf:
            return False
        return not self._fill()

    def close(self):
        self.sock.close()


def expect(conn, what, status, body=None):
    got_status, got_body = conn.response()
    if got_status != status or (body is not None and got_body != body):
        raise Failure("%s: got %s %r, expected %s %r" % (what, got_status, got_body, status, body))
    return got_body


def expect_fault_answer(port, fault):
    conn = Conn(port)
    conn.send(fault)
    body = expect(conn, "x-fault: " + fault, 500)
    if '"internal fault"' not in body:
        raise Failure("x-fault: %s: 500 without the fault's JSON error: %r" % (fault, body))
    if not conn.closed():
        raise Failure("x-fault: %s: the connection stayed open after the 500" % fault)
    conn.close()


def isolated(port, rounds, conns):
    victim = Conn(port)
    victim.send("publish")
    expect(victim, "publish", 200, "published")
    load = [Conn(port) for _ in range(conns)]
    for r in range(rounds):
        for conn in load:
            conn.send()
        expect_fault_answer(port, "null" if r % 2 == 0 else "poke")
        for i, conn in enumerate(load):
            expect(conn, "round %d, load connection %d" % (r, i), 200, "ok")
    victim.send("check")
    expect(victim, "the victim's canary after %d pokes" % (rounds // 2), 200, "intact")
    for conn in load + [victim]:
        conn.close()
    print("%d faults each ended only their own connection; %d load requests on %d connections all answered 200"
          % (rounds, rounds * conns, conns))


def unprotected(port):
    victim = Conn(port)
    victim.send("publish")
    expect(victim, "publish", 200, "published")
    poker = Conn(port)
    poker.send("poke")
    expect(poker, "poke without isolation", 200, "poked")
    poker.send()
    expect(poker, "the poker's next request", 200, "ok")
    victim.send("check")
    expect(victim, "the victim's canary after the poke", 200, "corrupted")
    expect_fault_answer(port, "null")
    victim.send()
    expect(victim, "the victim after another connection's NULL fault", 200, "ok")
    poker.close()
    victim.close()
    print("without isolation the cross-heap write went through unnoticed and corrupted the victim")


def main():
    try:
        if sys.argv[1] == "isolated":
            isolated(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        elif sys.argv[1] == "unprotected":
            unprotected(int(sys.argv[2]))
        else:
            raise Failure("unknown mode %s" % sys.argv[1])
    except (Failure, OSError, ValueError, IndexError) as e:
        print("gw_isolation.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
