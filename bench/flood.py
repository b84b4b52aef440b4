#!/usr/bin/env python3
"""A connection flood from one address, and whether another client still
gets an answer: opens N TCP connections to a server on loopback from
--source (in --procs processes, as one process may hold only so many
descriptors), sends nothing on them, then --probes times connects from
--probe-source, sends `GET /health` and times the first answer.

    bench/flood.py --port 8000 -n 20400

Prints one JSON line: {"wanted", "open", "answered": {status: count} (what
the flood's connections were told: 429 past max_connections_per_client, 503
past max_connections), "probe_ms": [...] (-1: no answer within --timeout),
"probe_status": [...], "open_seconds"}. Loopback only.
"""
import argparse
import json
import multiprocessing as mp
import os
import resource
import selectors
import socket
import time


def loopback(addr):
    return addr.startswith("127.") or addr == "::1"


def hold(a, n, ready, done):
    """A child: opens n connections from a.source, reports, waits, reports
    what they were answered."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((a.source, 0))
            s.settimeout(a.timeout)
            s.connect((a.host, a.port))
        except OSError:
            s.close()
            break
        socks.append(s)
    ready.put(len(socks))
    done.wait()
    answered = {}
    for s in socks:
        try:
            s.setblocking(False)
            head = s.recv(32, socket.MSG_PEEK)
        except OSError:
            head = b""
        status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/1.1 ") else "none"
        answered[status] = answered.get(status, 0) + 1
        s.close()
    ready.put(answered)


def probe(a):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    try:
        s.bind((a.probe_source, 0))
        s.connect((a.host, a.port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head = s.recv(64)
    except OSError:
        head = b""
    finally:
        s.close()
    if not head.startswith(b"HTTP/1.1 "):
        return -1, "none"
    return round((time.monotonic() - t0) * 1000, 1), head.split(b"\r\n")[0].decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-n", "--connections", type=int, default=20400)
    ap.add_argument("--procs", type=int, default=3, help="processes holding the connections")
    ap.add_argument("--source", default="127.0.0.1")
    ap.add_argument("--probe-source", default="127.0.0.2")
    ap.add_argument("--probes", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per connect and per probe")
    a = ap.parse_args()
    if not all(loopback(x) for x in (a.host, a.source, a.probe_source)):
        raise SystemExit("flood.py: loopback only")
    ready, done = mp.Queue(), mp.Event()
    share = [a.connections // a.procs + (i < a.connections % a.procs) for i in range(a.procs)]
    t0 = time.monotonic()
    kids = [mp.Process(target=hold, args=(a, n, ready, done)) for n in share]
    for k in kids:
        k.start()
    opened = sum(ready.get() for _ in kids)
    open_s = round(time.monotonic() - t0, 2)
    time.sleep(1)  # the server takes (or refuses) what the kernel queued
    probes = [probe(a) for _ in range(a.probes)]
    done.set()
    answered = {}
    for _ in kids:
        for k, v in ready.get().items():
            answered[k] = answered.get(k, 0) + v
    for k in kids:
        k.join()
    print(json.dumps({"wanted": a.connections, "open": opened, "answered": answered,
                      "probe_ms": [p[0] for p in probes], "probe_status": [p[1] for p in probes],
                      "open_seconds": open_s}))


if __name__ == "__main__":
    main()
