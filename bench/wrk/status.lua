-- wrk -t2 -c64 -d30s -s bench/wrk/status.lua http://127.0.0.1:8000
-- GET /status/{id} over WRK_USERS ids (default 1000) that a reserve run
-- with bench/wrk/reserve.lua (or ticketq-bench) put in place first:
-- ids are "w00" followed by a 13-digit counter, as reserve.lua makes them.
local users = tonumber(os.getenv("WRK_USERS") or "1000")
local event = os.getenv("WRK_EVENT")
local base = event and ("/v1/events/" .. event .. "/status/") or "/status/"

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
  local n = math.random(1, users)
  return wrk.format("GET", base .. string.format("w00%013d", n))
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
