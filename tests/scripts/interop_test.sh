#!/usr/bin/env bash
# Other HTTP clients against a real ticketq-server (with a private
# redis-server, both on loopback, in a temporary directory):
#   curl: keep-alive over two requests, HTTP/1.0, HEAD, Expect: 100-continue,
#     a chunked upload, an absolute-form target (through --proxy);
#   Python's http.client (Debian's /usr/bin/python3): keep-alive, pipelined
#     requests written at once and read back in order;
#   wrk with the seed project's load script (bench/wrk/reserve.lua): every
#     answer a 2xx/409 (no socket errors, no other status);
#   h2load in HTTP/1.1 mode with pipelining (-m 4): every request succeeds.
# Usage: interop_test.sh PATH/TO/ticketq-server. Every wait is bounded;
# nothing started is left running.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SERVER_BIN="${1:?usage: interop_test.sh PATH/TO/ticketq-server}"
PY=/usr/bin/python3
for tool in curl wrk h2load redis-server "$PY"; do
  command -v "$tool" >/dev/null || { echo "interop_test: needs $tool (scripts/setup.sh installs it)" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ticketq-interop-XXXXXX")"
redis_pid="" server_pid="" failures=0
cleanup() {
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null || true
  [ -n "$redis_pid" ] && kill -KILL "$redis_pid" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
  >"$WORK/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

TOKEN=interop-admin-token-0123456789abcdef
"$SERVER_BIN" --port 0 --bind 127.0.0.1 --threads 2 --redis "redis://127.0.0.1:$RPORT" \
  --admin-token "$TOKEN" --capacity 100 --queue-limit 1000000 >"$WORK/server.log" 2>&1 &
server_pid=$!
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$WORK/server.log")
  [ -n "$PORT" ] && curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/server.log" >&2; echo "interop_test: server did not start" >&2; exit 1; }
URL="http://127.0.0.1:$PORT"

# ---- curl
out=$(curl -sv "$URL/health" "$URL/health" 2>&1 || true)
grep -q "Re-using existing connection" <<<"$out" && ok "curl keep-alive" || fail "curl did not reuse the connection: $out"
code=$(curl -s --http1.0 -o "$WORK/b" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -d '{"user_id":"curl10"}' "$URL/reserve")
[ "$code" = 200 ] && grep -q '"reserved"' "$WORK/b" && ok "curl HTTP/1.0" || fail "curl HTTP/1.0: $code $(cat "$WORK/b")"
head=$(curl -sI "$URL/health")
grep -qi '^content-length: [1-9]' <<<"$head" && grep -q '^HTTP/1.1 200' <<<"$head" && ok "curl HEAD" ||
  fail "curl HEAD: $head"
out=$(curl -sv -H 'Expect: 100-continue' -H 'Content-Type: application/json' \
  -d '{"user_id":"curlexpect"}' "$URL/reserve" 2>&1 || true)
grep -q "HTTP/1.1 100 Continue" <<<"$out" && grep -q '"user_id":"curlexpect"' <<<"$out" && ok "curl Expect: 100-continue" ||
  fail "curl 100-continue: $out"
code=$(curl -s -o "$WORK/b" -w '%{http_code}' -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' \
  --data-binary '{"user_id":"curlchunked"}' "$URL/reserve")
[ "$code" = 200 ] && grep -q '"curlchunked"' "$WORK/b" && ok "curl chunked upload" || fail "curl chunked: $code $(cat "$WORK/b")"
# An absolute-form target, as a client sends it to a proxy.
code=$(curl -s -o "$WORK/b" -w '%{http_code}' --proxy "$URL" "http://ticketq.example/status/curl10")
[ "$code" = 200 ] && grep -q '"reserved"' "$WORK/b" && ok "curl absolute-form target" ||
  fail "curl absolute-form: $code $(cat "$WORK/b")"

# ---- Python http.client, and raw pipelining
if "$PY" - "$PORT" <<'EOF'; then ok "python http.client keep-alive and pipelining"; else fail "python"; fi
import http.client, json, socket, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for i in range(5):
    c.request("POST", "/reserve", body=json.dumps({"user_id": "py%d" % i}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = json.loads(r.read())
    assert r.status == 200 and body["user_id"] == "py%d" % i, (r.status, body)
c.close()
# Ten requests in one write; answers must come back whole and in order.
s = socket.create_connection(("127.0.0.1", port), timeout=10)
reqs = b"".join(b"GET /status/py%d HTTP/1.1\r\nHost: x\r\n\r\n" % (i % 5) for i in range(10))
s.sendall(reqs + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
parts = []
while data:
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    parts.append((head.split(b" ")[1], json.loads(rest[:length])))
    data = rest[length:]
assert len(parts) == 11, len(parts)
for i, (status, body) in enumerate(parts[:10]):
    assert status == b"200" and body["user_id"] == "py%d" % (i % 5), (i, status, body)
assert parts[10][0] == b"200" and parts[10][1]["status"] == "healthy", parts[10]
EOF

# ---- wrk with the seed project's script
wrk -t1 -c16 -d2s -s "$ROOT/bench/wrk/reserve.lua" "$URL" >"$WORK/wrk.txt" 2>&1 || true
reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
if [ -n "$reqs" ] && [ "$reqs" -gt 100 ] && ! grep -q "Socket errors" "$WORK/wrk.txt" &&
  ! grep -q "Non-2xx" "$WORK/wrk.txt"; then
  ok "wrk reserve.lua: $reqs requests, all 2xx"
else
  fail "wrk: $(cat "$WORK/wrk.txt")"
fi

# ---- h2load, HTTP/1.1, four requests pipelined per connection
h2load --h1 -n 4000 -c 8 -m 4 "$URL/health" >"$WORK/h2load.txt" 2>&1 || true
if grep -q "4000 succeeded, 0 failed, 0 errored" "$WORK/h2load.txt" &&
  grep -q "status codes: 4000 2xx" "$WORK/h2load.txt"; then
  ok "h2load --h1 -m 4: 4000 succeeded"
else
  fail "h2load: $(cat "$WORK/h2load.txt")"
fi

kill -TERM "$server_pid"
for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$server_pid" 2>/dev/null && fail "the server did not stop on SIGTERM"
wait "$server_pid" 2>/dev/null || fail "the server exited non-zero: $(tail -5 "$WORK/server.log")"
server_pid=""
redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
wait "$redis_pid" 2>/dev/null || true
redis_pid=""
[ "$failures" -eq 0 ] || { echo "--- server log"; tail -30 "$WORK/server.log"; exit 1; }
echo "interop_test: all passed"
