#!/usr/bin/env python3
"""Every route's replies against docs/openapi.yaml, on a real server.

Starts a private redis-server and a ticketq-server, then calls every path
and method the spec lists: the success and the documented errors that can
be reached (400, 401, 403, 404, 409, 413, and 503 with Redis stopped). Each
reply's status must be one the spec documents for that operation, its
Content-Type the documented one, and a JSON body must validate against the
documented schema (OpenAPI 3.0 schemas as JSON Schema: $ref into the spec,
nullable). Each call also says which status the scenario expects, so a
reply that drifts to another documented status fails too. The test fails
when the spec lists a path or method it does not call, so a new route
must come with its calls here.

    /usr/bin/python3 tests/scripts/openapi_test.py --server build/ticketq-server

Debian's python3-yaml and python3-jsonschema (scripts/setup.sh).
Exit status: 0 passed, 1 failed.
"""

import argparse
import copy
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_TOKEN = "openapi-test-admin-token"
ADMIN = {"X-Token": ADMIN_TOKEN}
WAIT_S = 10  # the bound of every wait
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


class Failure(Exception):
    pass


def log(message):
    print(message, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise Failure(f"timed out after {timeout} s waiting for {what}")


# --- the spec as JSON Schema ---------------------------------------------------


def as_json_schema(node):
    """OpenAPI 3.0 schema objects to JSON Schema (draft 4): nullable becomes a null type."""
    if isinstance(node, list):
        return [as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: as_json_schema(v) for k, v in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.raw = yaml.safe_load(f)
        self.doc = as_json_schema(copy.deepcopy(self.raw))
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self.operations = {(p, m) for p, item in self.raw["paths"].items() for m in item if m in METHODS}
        # A template as a regular expression, for the calls that name a path.
        self.patterns = {p: re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$")
                         for p in self.raw["paths"]}

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            _, node = self.resolver.resolve(node["$ref"])
        return node

    def operation(self, template, method):
        return self.doc["paths"][template][method]


# --- the server ------------------------------------------------------------------


class Processes:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def spawn(self, name, argv):
        out = open(os.path.join(self.tmp, f"{name}.log"), "wb")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        out.close()
        self.procs.append((name, proc))
        return proc

    def stop(self):
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.procs = []

    def print_logs(self):
        for name, _ in self.procs:
            with open(os.path.join(self.tmp, f"{name}.log"), "rb") as f:
                tail = f.read().decode(errors="replace").splitlines()[-30:]
            log(f"--- last lines of {name}'s log ---")
            for line in tail:
                log(f"  {line}")


def start(processes, server):
    redis_port = free_port()
    redis = processes.spawn("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", processes.tmp])

    def pong():
        try:
            with socket.create_connection(("127.0.0.1", redis_port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_for("redis-server to answer PING", pong)
    key = os.path.join(processes.tmp, "key.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True,
                   capture_output=True, timeout=10)
    port = free_port()
    server_proc = processes.spawn("ticketq", [
        server, "--port", str(port), "--bind", "127.0.0.1", "--redis", f"redis://127.0.0.1:{redis_port}",
        "--admin-token", ADMIN_TOKEN, "--token-keys", key, "--threads", "1",
        "--capacity", "1", "--queue-limit", "1", "--admission-tick-ms", "100",
        "--request-timeout-ms", "5000"])

    def ready():
        if server_proc.poll() is not None:
            raise Failure(f"ticketq-server exited with {server_proc.returncode} at start")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/ready")
            ok = c.getresponse().status == 200
            c.close()
            return ok
        except OSError:
            return False

    wait_for("ticketq-server to be ready", ready)
    return port, redis


# --- calls, checked against the spec ----------------------------------------------


class Client:
    def __init__(self, spec, port):
        self.spec = spec
        self.port = port
        self.called = set()  # (template, method)
        self.failures = []

    def call(self, method, path, expect, body=None, headers=None, raw=None, stream=False):
        """One request to `path` (a concrete path; its template is found in the spec).

        `expect`: the status this scenario must get. Returns (status, headers, JSON body or None).
        """
        bare = path.split("?", 1)[0]
        templates = [t for t, rx in self.spec.patterns.items() if rx.match(bare)]
        # The most literal template wins (/v1/events/{event}/history over a capture).
        templates.sort(key=lambda t: t.count("{"))
        if not templates:
            raise Failure(f"{method} {path}: no path of the spec matches")
        template = templates[0]
        m = method.lower()
        if m not in self.spec.raw["paths"][template]:
            raise Failure(f"{method} {path}: the spec has no {m} for {template}")
        self.called.add((template, m))

        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT_S)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            status = resp.status
            got_headers = {k.lower(): v for k, v in resp.getheaders()}
            got_headers["set-cookie"] = resp.msg.get_all("Set-Cookie") or []
            # A stream never ends: its first bytes are enough.
            payload = resp.read1(4096) if stream and status == 200 else resp.read()
        finally:
            conn.close()

        where = f"{method} {path} ({template}) -> {status}"
        parsed = self.check(template, m, status, got_headers, payload, where)
        if status != expect:
            self.fail(f"{where}: expected {expect}; body {payload[:300]!r}")
        return status, got_headers, parsed

    def fail(self, message):
        log(f"FAIL: {message}")
        self.failures.append(message)

    def check(self, template, method, status, headers, payload, where):
        responses = self.spec.operation(template, method)["responses"]
        documented = responses.get(str(status), responses.get("default"))
        if documented is None:
            self.fail(f"{where}: status {status} is not documented (documented: {sorted(responses)})")
            return None
        documented = self.spec.resolve(documented)
        content = documented.get("content") or {}
        media = headers.get("content-type", "").split(";")[0].strip()
        parsed = None
        if media == "application/json":
            try:
                parsed = json.loads(payload)
            except ValueError:
                self.fail(f"{where}: the body is not JSON: {payload[:200]!r}")
                return None
        if not content:
            return parsed
        if media not in content:
            self.fail(f"{where}: Content-Type {media!r}, documented {sorted(content)}")
            return parsed
        schema = content[media].get("schema")
        if media == "application/json" and schema is not None:
            try:
                jsonschema.Draft4Validator(schema, resolver=self.spec.resolver).validate(parsed)
            except jsonschema.ValidationError as e:
                path = "/".join(str(p) for p in e.absolute_path)
                self.fail(f"{where}: the body does not match the schema at '{path}': {e.message}\n"
                          f"  body: {json.dumps(parsed)[:400]}")
        elif not payload:
            self.fail(f"{where}: an empty {media} body")
        return parsed


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def cookie_of(headers, event):
    for c in headers.get("set-cookie", []):
        name, _, rest = c.partition("=")
        if name == f"tq_{event}":
            return f"tq_{event}={rest.split(';', 1)[0]}"
    return None


# --- the scenarios ---------------------------------------------------------------


def run(spec, c, redis):
    big = {"user_id": "x" * 5000}  # over max_body_bytes (4 KiB)

    log("== the service routes")
    c.call("GET", "/health", 200)
    c.call("GET", "/ready", 200)
    _, _, ready = c.call("GET", "/ready", 200, headers=ADMIN)
    if not (ready and ready.get("redis")):
        c.fail(f"/ready with the admin token lists no Redis server: {ready}")
    c.call("GET", "/metrics", 200)
    c.call("GET", "/openapi.yaml", 200)
    c.call("GET", "/.well-known/jwks.json", 200)
    c.call("GET", "/admin/", 200)
    c.call("GET", "/assets/admin.js", 200)
    c.call("GET", "/assets/no-such-file.js", 404)

    log("== events: create, read, list")
    c.call("PUT", "/v1/events/api", 201, {"capacity": 1, "queue_limit": 1, "hold_s": 600}, ADMIN)
    c.call("PUT", "/v1/events/api", 200, {"admit_rate": "manual"}, ADMIN)
    c.call("PUT", "/v1/events/api", 401, {"capacity": 1})
    c.call("PUT", "/v1/events/api", 400, {"capacity": -1}, ADMIN)
    c.call("PUT", "/v1/events/shut", 201, {"capacity": 0, "queue_limit": 0, "state": "closed"}, ADMIN)
    c.call("GET", "/v1/events/api", 200, headers=ADMIN)
    c.call("GET", "/v1/events/api", 401)
    c.call("GET", "/v1/events/nowhere", 404, headers=ADMIN)
    c.call("GET", "/v1/events", 200, headers=ADMIN)
    c.call("GET", "/v1/events", 401)

    log("== users: reserve and status")
    _, _, a = c.call("POST", "/v1/events/api/reserve", 200, {"user_id": "a"})
    _, _, b = c.call("POST", "/v1/events/api/reserve", 200, {"user_id": "b"})
    c.call("POST", "/v1/events/api/reserve", 200, {"user_id": "b"})
    c.call("POST", "/v1/events/api/reserve", 409, {"user_id": "z"})
    c.call("POST", "/v1/events/api/reserve", 400, {"user_id": "bad id"})
    c.call("POST", "/v1/events/api/reserve", 413, big)
    c.call("POST", "/v1/events/nowhere/reserve", 404, {"user_id": "a"})
    c.call("POST", "/v1/events/shut/reserve", 403, {"user_id": "a"})
    ta, tb = a["token"], b["token"]
    c.call("PUT", "/v1/events/api", 409, {"capacity": 0}, ADMIN)
    c.call("GET", "/v1/events/api/status/b", 200)
    _, _, sa = c.call("GET", "/v1/events/api/status/a", 200, headers=bearer(ta))
    adm = (sa or {}).get("admission_token", "")
    if not adm:
        c.fail(f"the seat holder's status with their token carries no admission_token: {sa}")
    c.call("GET", "/v1/events/api/status/a", 403, headers=bearer(tb))
    c.call("GET", "/v1/events/api/status/a", 401, headers=bearer("junk"))
    c.call("GET", "/v1/events/api/status/nobody", 404)
    c.call("GET", "/v1/events/api/status/bad%20id", 400)
    c.call("GET", "/v1/events/nowhere/status/a", 404)

    log("== the seed routes (the default event: 1 seat, 1 place)")
    _, _, sd = c.call("POST", "/reserve", 200, {"user_id": "d"})
    c.call("POST", "/reserve", 200, {"user_id": "e"})
    c.call("POST", "/reserve", 409, {"user_id": "f"})
    c.call("POST", "/reserve", 400, raw=b"{")
    c.call("POST", "/reserve", 413, big)
    c.call("GET", "/status/d", 200)
    c.call("GET", "/status/e", 200)
    c.call("GET", "/status/nobody", 200)
    c.call("GET", "/status/bad%20id", 400)
    c.call("GET", "/status/d", 401, headers=bearer("junk"))
    c.call("GET", "/status/e", 403, headers=bearer(sd["token"]))
    c.call("POST", "/process_queue", 401)
    c.call("POST", "/process_queue?limit=0", 400, headers=ADMIN)
    c.call("PUT", "/v1/events/default", 200, {"state": "paused"}, ADMIN)
    c.call("POST", "/process_queue", 409, headers=ADMIN)
    c.call("PUT", "/v1/events/default", 200, {"state": "open", "capacity": 2}, ADMIN)
    c.call("POST", "/process_queue?limit=5", 200, headers=ADMIN)
    c.call("POST", "/admin/reset", 401)
    c.call("POST", "/admin/reset", 200, headers=ADMIN)

    log("== operators: process_queue and the history")
    c.call("POST", "/v1/events/api/process_queue", 200, headers=ADMIN)  # no free seat: nobody
    c.call("POST", "/v1/events/api/process_queue", 401)
    c.call("POST", "/v1/events/api/process_queue?limit=x", 400, headers=ADMIN)
    c.call("POST", "/v1/events/nowhere/process_queue", 404, headers=ADMIN)
    c.call("PUT", "/v1/events/shut", 200, {"state": "paused"}, ADMIN)
    c.call("POST", "/v1/events/shut/process_queue", 409, headers=ADMIN)
    c.call("PUT", "/v1/events/shut", 200, {"state": "closed"}, ADMIN)
    _, _, h = c.call("GET", "/v1/events/api/history", 200, headers=ADMIN)
    if not (h and h.get("points")):
        c.fail(f"the history of an event with joins is empty: {h}")
    c.call("GET", "/v1/events/api/history", 401)
    c.call("GET", "/v1/events/nowhere/history", 404, headers=ADMIN)

    log("== streams")
    c.call("GET", "/v1/events/api/stream", 200, headers=bearer(tb), stream=True)
    c.call("GET", "/v1/events/api/stream", 401)
    c.call("GET", "/v1/events/api/stream?token=a&token=b", 400)

    log("== booking services: verify and confirm")
    _, _, v = c.call("POST", "/v1/events/api/verify", 200, {"token": adm})
    if v and v.get("used") is not False:
        c.fail(f"a verify without consume of an unused admission: used {v.get('used')!r}, expected false")
    _, _, v = c.call("POST", "/v1/events/api/verify?consume=1", 200, {"token": adm})
    if v and (v.get("used") is not True or v.get("consumed") is not True):
        c.fail(f"the consuming verify: {v}")
    _, _, v = c.call("POST", "/v1/events/api/verify", 200, {"token": adm})
    if v and v.get("used") is not True:
        c.fail(f"a check of a consumed admission: used {v.get('used')!r}, expected true")
    c.call("POST", "/v1/events/api/verify?consume=1", 409, {"token": adm})
    c.call("POST", "/v1/events/api/verify", 401, {"token": "junk"})
    c.call("POST", "/v1/events/api/verify", 400, {"token": 1})
    c.call("POST", "/v1/events/api/verify?consume=2", 400, {"token": adm})
    c.call("POST", "/v1/events/api/verify", 413, raw=json.dumps({"token": "x" * 5000}).encode())
    c.call("POST", "/v1/events/api/confirm", 401)
    c.call("POST", "/v1/events/api/confirm", 400, headers=ADMIN)
    c.call("POST", "/v1/events/api/confirm", 409, {"user_id": "b"}, ADMIN)
    c.call("POST", "/v1/events/nowhere/confirm", 404, {"user_id": "b"}, ADMIN)
    c.call("POST", "/v1/events/api/confirm", 200, headers=bearer(adm))
    c.call("POST", "/v1/events/api/confirm", 200, headers=bearer(adm))

    log("== users: leave and cancel")
    c.call("POST", "/v1/events/api/leave", 409, headers=bearer(ta))
    c.call("POST", "/v1/events/api/leave", 401)
    c.call("POST", "/v1/events/api/leave", 400, headers=ADMIN)
    c.call("POST", "/v1/events/api/leave", 200, headers=bearer(tb))
    c.call("POST", "/v1/events/api/leave", 404, headers=bearer(tb))
    c.call("POST", "/v1/events/nowhere/leave", 404, {"user_id": "b"}, ADMIN)
    c.call("POST", "/v1/events/api/cancel", 409, headers=bearer(ta))  # a sold seat
    c.call("POST", "/v1/events/api/cancel", 401)
    c.call("POST", "/v1/events/api/cancel", 400, headers=ADMIN)
    c.call("POST", "/v1/events/api/cancel", 404, {"user_id": "b"}, ADMIN)
    c.call("POST", "/v1/events/api/cancel", 200, {"user_id": "a"}, ADMIN)
    c.call("POST", "/v1/events/api/verify", 409, {"token": adm})

    log("== the waiting room (the event has its one seat free and an empty line)")
    c.call("GET", "/wait/api", 200)
    c.call("GET", "/wait/nowhere", 404)  # the page that says there is no such event
    c.call("GET", "/wait/api/status", 200)
    c.call("GET", "/wait/nowhere/status", 404)  # a newcomer is told the event's state
    _, jh, _ = c.call("POST", "/wait/api/join", 200)  # the free seat, at once
    first = cookie_of(jh, "api") or c.fail(f"join set no tq_api cookie: {jh.get('set-cookie')}") or ""
    c.call("GET", "/wait/api/status", 200, headers={"Cookie": first})
    c.call("POST", "/wait/api/join", 200, headers={"Cookie": first})  # keeps the seat
    c.call("GET", "/wait/api/stream", 200, headers={"Cookie": first}, stream=True)
    c.call("GET", "/wait/api/stream", 401)
    c.call("POST", "/wait/api/join", 403, headers={"Sec-Fetch-Site": "cross-site"})
    c.call("POST", "/wait/api/leave", 403, headers={"Sec-Fetch-Site": "cross-site"})
    c.call("POST", "/wait/shut/join", 403)
    c.call("POST", "/wait/nowhere/join", 404)
    _, jh, _ = c.call("POST", "/wait/api/join", 200)  # the one place in line
    second = cookie_of(jh, "api") or ""
    c.call("POST", "/wait/api/join", 409)  # no seat, no place
    c.call("POST", "/wait/api/leave", 200, headers={"Cookie": first})  # gives the seat back
    c.call("POST", "/wait/api/leave", 200)  # no cookie: state none
    c.call("POST", "/v1/events/api/process_queue", 200, headers=ADMIN)  # the second gets the seat
    _, _, s = c.call("GET", "/wait/api/status", 200, headers={"Cookie": second})
    c.call("POST", "/v1/events/api/confirm", 200, {"user_id": (s or {}).get("user_id", "?")}, ADMIN)
    c.call("POST", "/wait/api/leave", 409, headers={"Cookie": second})  # a sold seat

    log("== reset")
    c.call("POST", "/v1/events/api/reset", 401)
    c.call("POST", "/v1/events/nowhere/reset", 404, headers=ADMIN)
    c.call("POST", "/v1/events/api/reset", 200, headers=ADMIN)

    log("== Redis stopped: 503")
    redis.send_signal(signal.SIGSTOP)
    try:
        c.call("GET", "/health", 503)
        c.call("GET", "/ready", 503)
        c.call("POST", "/v1/events/api/reserve", 503, {"user_id": "late"})
        c.call("GET", "/v1/events/api", 503, headers=ADMIN)
        c.call("GET", "/v1/events/api/history", 503, headers=ADMIN)
    finally:
        redis.send_signal(signal.SIGCONT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="path to ticketq-server")
    parser.add_argument("--spec", default=os.path.join(ROOT, "docs", "openapi.yaml"))
    args = parser.parse_args()
    for tool in ("redis-server", "openssl"):
        if not shutil.which(tool):
            log(f"FAIL: {tool} is not installed (scripts/setup.sh)")
            return 1
    spec = Spec(args.spec)
    tmp = tempfile.mkdtemp(prefix="ticketq-openapi-")
    processes = Processes(tmp)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    try:
        port, redis = start(processes, os.path.abspath(args.server))
        c = Client(spec, port)
        run(spec, c, redis)
        for template, method in sorted(spec.operations - c.called):
            c.fail(f"{method.upper()} {template} is in the spec but this test never calls it")
        if c.failures:
            processes.print_logs()
            log(f"\nFAIL: {len(c.failures)} problem(s)")
            return 1
        log(f"\nPASS: {len(spec.operations)} operations, every reply as documented")
        return 0
    except Failure as e:
        log(f"\nFAIL: {e}")
        processes.print_logs()
        return 1
    finally:
        processes.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
