#!/usr/bin/env python3
"""Redis cost of ticketq's reserve script per user, by batch size, and of
variants of it: an experiment behind BENCHMARKS.md (bar 4 and 5), not part of
the server. Starts its own redis-server (free loopback port, temp dir, no
persistence), runs the script text of src/core/scripts.cpp with EVALSHA for N fresh
users in batches of B (32 calls pipelined), and prints EVALSHA usec per user
(INFO commandstats), Redis CPU per user (/proc) and used_memory per user.

    bench/lua_cost.py                       # 200,000 users, batches 1,14,64
    bench/lua_cost.py -n 100000 --batches 1,16

The Lua locals every script starts with (key names, result codes) are built
here the way src/core/scripts.cpp builds them, from src/scripts.h.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def scripts():
    header = open(os.path.join(HERE, "..", "include", "ticketq", "scripts.h")).read()
    src = open(os.path.join(HERE, "..", "src", "scripts.cpp")).read()

    def lit(name):
        m = re.search(r'constexpr const char\* %s = R"lua\((.*?)\)lua";' % name, src, re.S)
        if not m:
            raise SystemExit("lua_cost.py: %s not found in src/core/scripts.cpp" % name)
        return m.group(1)

    keys = re.findall(r'"(\w+)"', re.search(r"kEventKeys = \{(.*?)\};", header, re.S).group(1))
    codes = dict(re.findall(r"constexpr int (k\w+) = (-?\d+);", header))
    names = "\nlocal %s = %s\n" % (", ".join("K_" + k.upper() for k in keys),
                                   ", ".join("KEYS[%d]" % (i + 1) for i in range(len(keys))))
    for lua, cpp in re.findall(r'define\("(\w+)", code::(k\w+)\)', src):
        names += "local %s = %s\n" % (lua, codes[cpp])
    return [("current", names + lit("kPrologue") + lit("kReserve"))], keys


class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    @staticmethod
    def enc(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def read(self):
        line = self.f.readline()
        t = line[:1]
        if t in b"+:":
            return line[1:-2]
        if t == b"-":
            raise RuntimeError(line[1:-2].decode())
        if t == b"$":
            n = int(line[1:])
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            return [self.read() for _ in range(int(line[1:]))]
        raise RuntimeError("bad reply %r" % line)

    def cmd(self, *args):
        self.s.sendall(self.enc(*args))
        return self.read()

    def info(self, section, key):
        for line in self.cmd("INFO", section).decode().splitlines():
            if line.startswith(key + ":"):
                return line.split(":", 1)[1]
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--users", type=int, default=200000)
    ap.add_argument("--batches", default="1,14,64")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="ticketq-luacost.")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                r = Redis(port)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("lua_cost.py: redis-server did not start")
        hz = os.sysconf("SC_CLK_TCK")

        def cpu():
            st = open("/proc/%d/stat" % proc.pid).read().rsplit(")", 1)[1].split()
            return int(st[11]) + int(st[12])

        variants, names = scripts()
        keys = ["ticketq:{x}:%s" % k for k in names]
        print("capacity 1000, queue_limit 10M, %d fresh 16-char users per run; load average %s"
              % (a.users, " ".join(open("/proc/loadavg").read().split()[:3])))
        for b in [int(x) for x in a.batches.split(",")]:
            for name, body in variants:
                r.cmd("FLUSHALL")
                sha = r.cmd("SCRIPT", "LOAD", body).decode()
                mem0 = int(r.info("memory", "used_memory"))
                r.cmd("CONFIG", "RESETSTAT")
                c0, u, buf = cpu(), 0, []

                def flush():
                    r.s.sendall(b"".join(buf))
                    for _ in buf:
                        rep = r.read()
                        assert rep[0] == b"0", rep
                    buf.clear()

                while u < a.users:
                    users = ["e%015d" % (u + k) for k in range(b)]
                    u += b
                    buf.append(Redis.enc("EVALSHA", sha, len(keys), *keys, "1000", "10000000", *users))
                    if len(buf) == 32:
                        flush()
                if buf:
                    flush()
                c1 = cpu()
                stat = r.info("commandstats", "cmdstat_evalsha")
                usec = int(re.search(r"usec=(\d+)", stat).group(1))
                mem1 = int(r.info("memory", "used_memory"))
                print("batch %3d  %-17s EVALSHA %5.2f us/user  Redis CPU %5.2f us/user  used_memory %5.1f B/user"
                      % (b, name, usec / u, (c1 - c0) * 1e6 / hz / u, (mem1 - mem0) / u), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
