#!/usr/bin/env python3
"""Opens N keep-alive connections to an HTTP server on loopback, sends one
`GET /health` (HTTP/1.1, keep-alive) on each, reads the reply, and then keeps
every connection open and idle until it is terminated (SIGTERM/SIGINT) or
--hold seconds pass. Used by bench/run.sh to measure the server's RSS with
many idle connections.

    bench/idle_conns.py --port 8000 -n 10000 --ready-file /tmp/x.json --hold 60

Once every connection is open and answered, one JSON line goes to
--ready-file (or stdout): {"wanted", "open", "ok", "failed", "statuses",
"errors", "seconds"}. Needs `ulimit -n` above N.
"""
import argparse
import json
import os
import resource
import selectors
import signal
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-n", "--connections", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=200, help="connections opened at a time")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per batch to connect and be answered")
    ap.add_argument("--hold", type=float, default=60.0, help="seconds to keep the connections open")
    ap.add_argument("--ready-file", help="write the JSON line here (atomically) instead of stdout")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("idle_conns.py: loopback only")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.connections + 64 and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    stop = False

    def on_signal(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    request = ("GET /health HTTP/1.1\r\nHost: %s:%d\r\nConnection: keep-alive\r\n\r\n" % (a.host, a.port)).encode()
    kept, statuses, errors = [], {}, {}
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()

    def err(kind):
        errors[kind] = errors.get(kind, 0) + 1

    left = a.connections
    while left > 0 and not stop:
        batch = []
        for _ in range(min(a.batch, left)):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                err("socket: " + e.strerror)
                continue
            s.setblocking(False)
            try:
                s.connect((a.host, a.port))
            except BlockingIOError:
                pass
            except OSError as e:
                err("connect: " + (e.strerror or str(e)))
                s.close()
                continue
            batch.append(s)
            sel.register(s, selectors.EVENT_WRITE, [b"", False])  # reply so far, request sent
        left -= min(a.batch, left)
        pending = len(batch)
        deadline = time.monotonic() + a.timeout
        while pending > 0 and time.monotonic() < deadline and not stop:
            for key, ev in sel.select(timeout=0.2):
                s, st = key.fileobj, key.data
                try:
                    if not st[1]:
                        e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if e != 0:
                            raise OSError(e, "connect failed")
                        s.send(request)
                        st[1] = True
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    chunk = s.recv(4096)
                    if not chunk:
                        raise OSError(0, "closed before the reply")
                    st[0] += chunk
                    head_end = st[0].find(b"\r\n\r\n")
                    if head_end < 0:
                        continue
                    head = st[0][:head_end].decode("latin-1").split("\r\n")
                    length = 0
                    for h in head[1:]:
                        k, _, v = h.partition(":")
                        if k.strip().lower() == "content-length":
                            length = int(v.strip())
                        if k.strip().lower() == "connection" and v.strip().lower() == "close":
                            err("server said Connection: close")
                    if len(st[0]) < head_end + 4 + length:
                        continue
                    code = head[0].split(" ")[1] if " " in head[0] else "?"
                    statuses[code] = statuses.get(code, 0) + 1
                    sel.unregister(s)
                    kept.append(s)
                    pending -= 1
                except OSError as e:
                    err(e.strerror or str(e))
                    sel.unregister(s)
                    s.close()
                    pending -= 1
        for key in list(sel.get_map().values()):  # not answered in time
            err("timeout")
            sel.unregister(key.fileobj)
            key.fileobj.close()

    ok = statuses.get("200", 0)
    line = json.dumps({"wanted": a.connections, "open": len(kept), "ok": ok,
                       "failed": a.connections - ok, "statuses": statuses, "errors": errors,
                       "seconds": round(time.monotonic() - t0, 3)})
    if a.ready_file:
        with open(a.ready_file + ".tmp", "w") as f:
            f.write(line + "\n")
        os.replace(a.ready_file + ".tmp", a.ready_file)
    else:
        print(line, flush=True)

    end = time.monotonic() + a.hold
    while not stop and time.monotonic() < end:
        time.sleep(0.1)
    for s in kept:
        s.close()


if __name__ == "__main__":
    main()
