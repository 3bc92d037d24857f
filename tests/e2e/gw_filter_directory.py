#!/usr/bin/env python3
"""The directory service the "lookup" example filter asks (docs/examples/
gw_filter_lookup.c), for gw_filter_examples.sh.

  gw_filter_directory.py DIR

Listens on 127.0.0.1, an ephemeral port, and prints "listening on
127.0.0.1:PORT". Each line it reads is a key; it answers "alice" for k1,
"bob" for slow, "-" for any other, and appends the key to DIR/lookups.
For "slow" it first creates DIR/slow.asked, then holds its answer until
DIR/slow.release exists (at most 10 s): the test's lock-step. Exits after
60 s in any case.
"""
import os
import signal
import socket
import sys
import threading
import time

RUN_S = 60
HOLD_S = 10
ANSWERS = {b"k1": b"alice", b"slow": b"bob"}


def serve(conn, directory):
    with conn:
        buf = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                key, buf = buf.split(b"\n", 1)
                with open(os.path.join(directory, "lookups"), "ab") as log:
                    log.write(key + b"\n")
                if key == b"slow":
                    open(os.path.join(directory, "slow.asked"), "w").close()
                    deadline = time.monotonic() + HOLD_S
                    while not os.path.exists(os.path.join(directory, "slow.release")):
                        if time.monotonic() > deadline:
                            return
                        time.sleep(0.01)
                conn.sendall(ANSWERS.get(key, b"-") + b"\n")


def main():
    directory = sys.argv[1]
    # Stopped by the test with SIGTERM: a normal end.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    print("listening on 127.0.0.1:%d" % server.getsockname()[1], flush=True)
    threading.Timer(RUN_S, lambda: os._exit(0)).start()
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn, directory), daemon=True).start()


if __name__ == "__main__":
    main()
