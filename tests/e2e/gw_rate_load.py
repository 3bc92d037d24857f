#!/usr/bin/env python3
"""Load for the rate limit cases (tests/e2e/gw_rate_limit.sh).

Usage: gw_rate_load.py PORT PATH SECONDS CONNECTIONS [HEADER:VALUE...]

CONNECTIONS threads, each on a keep-alive connection of its own (a new one
when the gateway closes it), send GET PATH to 127.0.0.1:PORT without a
pause for SECONDS, and count the answers by status. The window is the
client's: a request counts when its answer came before the end. Prints
one line of JSON: {"200": n, "429": m, ..., "errors": e, "seconds": s}.
"""
import http.client
import json
import sys
import threading
import time


def worker(port, path, headers, deadline, counts, lock):
    conn = None
    local = {}
    while time.monotonic() < deadline:
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if time.monotonic() < deadline:
                key = str(resp.status)
                local[key] = local.get(key, 0) + 1
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
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


def main():
    port, path, seconds, connections = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    headers = dict(h.split(":", 1) for h in sys.argv[5:])
    counts, lock = {"errors": 0}, threading.Lock()
    start = time.monotonic()
    deadline = start + seconds
    threads = [threading.Thread(target=worker, args=(port, path, headers, deadline, counts, lock))
               for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts["seconds"] = round(time.monotonic() - start, 3)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
