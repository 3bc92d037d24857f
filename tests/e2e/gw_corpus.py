#!/usr/bin/env python3
"""Runs every case of ../shared/corpora/http1 through the gateway.

Usage: gw_corpus.py PROXY_PORT UPSTREAM_LOG CORPUS_DIR

Each case's bytes are written to a fresh connection to the proxy on
127.0.0.1, and the responses are read until the proxy closes or goes quiet.
A response carrying X-Upstream-Port came from the upstream (the request was
forwarded); any other response is the proxy's own. The outcome is checked
against the manifest's "expect". Afterwards the upstream's request log must
not name /smuggled: nothing a proxy rejects, or hides in a body, may reach
it as a request. Prints one line per case; exits 1 on any mismatch.
"""
import json
import re
import socket
import sys
import time

QUIET_S = 0.5       # no byte for this long: the proxy is waiting for more
CASE_LIMIT_S = 5.0  # a case never takes longer than this


def read_responses(sock):
    """Returns (responses, closed): each response (status, headers, body)."""
    data = b""
    closed = False
    deadline = time.monotonic() + CASE_LIMIT_S
    sock.settimeout(QUIET_S)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return parse_responses(data), closed


def parse_responses(data):
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            out.append((None, {}, data))
            break
        head = data[:end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", head[0])
        status = int(m.group(1)) if m else None
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        rest = data[end + 4:]
        if status is not None and 100 <= status < 200 and status != 101:
            data = rest
            continue
        length = int(headers.get("content-length", "0") or 0)
        out.append((status, headers, rest[:length]))
        data = rest[length:]
    return out


def forwarded(resp):
    return resp[0] is not None and "x-upstream-port" in resp[1]


def statuses_in(expect):
    return {int(s) for s in re.findall(r"\b([1-5]\d\d)\b", expect)}


def judge(expect, responses, closed):
    """Returns None if the outcome meets `expect`, else why not."""
    first = responses[0] if responses else None
    if expect.startswith("forward x3"):
        if len(responses) == 3 and all(forwarded(r) for r in responses):
            return None
        return "expected 3 forwarded responses, got %r" % [r[0] for r in responses]
    if expect.startswith("forward then reject"):
        if len(responses) >= 2 and forwarded(responses[0]) and responses[1][0] in statuses_in(expect) and closed:
            return None
        if len(responses) == 1 and responses[0][0] in statuses_in(expect) and not forwarded(responses[0]):
            return None  # answering only 400 is allowed too
        return "expected forward then %s, got %r" % (statuses_in(expect), [r[0] for r in responses])
    if expect.startswith("forward"):
        if first and forwarded(first):
            return None
        return "expected forwarded, got %r" % (first and first[0])
    if expect == "incomplete":
        if not responses:
            return None
        return "expected no response, got %r" % [r[0] for r in responses]
    if expect.startswith("reject"):
        allowed = statuses_in(expect)
        if first and forwarded(first):
            if "or forward" in expect or "chunked-wins" in expect or "or normalize" in expect:
                return None
            return "forwarded a request that must be rejected"
        if not first:
            return None if expect == "reject" and closed else "no response"
        if allowed and first[0] not in allowed:
            return "status %r, expected one of %s" % (first[0], sorted(allowed))
        if not closed:
            return "connection left open after a rejection"
        if first[1].get("content-type", "").startswith("application/json") is False and first[0] >= 400:
            return "error response without a JSON body"
        return None
    return "unknown expectation %r" % expect


def main():
    port, upstream_log, corpus = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    with open(corpus + "/manifest.json") as f:
        cases = json.load(f)
    failures = 0
    for case in cases:
        with open(corpus + "/cases/" + case["file"], "rb") as f:
            raw = f.read()
        sock = socket.create_connection(("127.0.0.1", port), timeout=CASE_LIMIT_S)
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        responses, closed = read_responses(sock)
        sock.close()
        why = judge(case["expect"], responses, closed)
        outcome = ",".join(str(r[0]) + ("^" if forwarded(r) else "") for r in responses) or "-"
        print("%-5s %-45s expect=%-40s got=%s%s" % ("ok" if why is None else "FAIL", case["file"],
              case["expect"], outcome, "" if why is None else "  (" + why + ")"))
        failures += why is not None
    with open(upstream_log) as f:
        seen = f.read()
    if "/smuggled" in seen:
        print("FAIL the upstream received /smuggled")
        failures += 1
    print("%d passed, %d failed" % (len(cases) - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
