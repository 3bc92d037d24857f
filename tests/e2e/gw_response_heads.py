"""A raw HTTP/1.1 upstream for gw_response_heads.sh: it answers each
request by its path with a response written byte for byte as the test
needs, on a kept-alive connection, and prints "listening on
127.0.0.1:PORT" first. Paths:
  /split/N      the head in N pieces, each sent once the gateway has read
                the one before (lock-step, via /proc/net/tcp), then a
                5000-byte body
  /together     the head and a 5000-byte body in one send
  /interim      "100 Continue", then the final head and body, in one send
  /big/N        a head of N bytes or more (X-Pad lines) and a 1000-byte body
The body is bytes(i % 251 for i in range(n)), so the client can check it."""
import signal
import socket
import sys
import threading
import time


def body(n):
    return bytes(i % 251 for i in range(n))


def head(extra=b"", length=5000):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" + extra +
            b"Content-Length: " + str(length).encode() + b"\r\n\r\n")


def tcp_queues(local_port, remote_port):
    """(tx_queue, rx_queue) of the loopback IPv4 socket local_port ->
    remote_port, from /proc/net/tcp, or None when there is none."""
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16) == local_port and
                    int(fields[2].split(":")[1], 16) == remote_port):
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def gateway_read_all(conn):
    """Until what was sent on conn has reached the gateway's socket (none
    unacknowledged here) and the gateway has read it (none queued there)."""
    own, peer = conn.getsockname()[1], conn.getpeername()[1]
    deadline = time.monotonic() + 5
    while tcp_queues(own, peer) != (0, 0) or tcp_queues(peer, own)[1] != 0:
        if time.monotonic() > deadline:
            raise SystemExit("the gateway read nothing of a piece in 5 s")
        time.sleep(0.001)  # polling the condition, not a fixed wait


def answer(conn, path):
    if path.startswith("/split/"):
        pieces = int(path.split("/")[2])
        whole = head()
        step = max(1, len(whole) // pieces)
        for at in range(0, len(whole), step):
            conn.sendall(whole[at:at + step])
            # Lock-step: the next piece goes once the gateway has read this
            # one, so it parses each piece on its own.
            gateway_read_all(conn)
        conn.sendall(body(5000))
    elif path == "/together":
        conn.sendall(head() + body(5000))
    elif path == "/interim":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" + head() + body(5000))
    elif path.startswith("/big/"):
        want = int(path.split("/")[2])
        pad = b""
        i = 0
        while len(pad) < want:
            pad += b"X-Pad-%04d: " % i + b"p" * 1000 + b"\r\n"
            i += 1
        conn.sendall(head(pad, 1000) + body(1000))
    else:
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                conn.close()
                return
            buf += data
        request, buf = buf.split(b"\r\n\r\n", 1)
        answer(conn, request.split(b" ")[1].decode())


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
