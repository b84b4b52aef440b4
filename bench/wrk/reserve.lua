-- wrk -t2 -c64 -d30s -s bench/wrk/reserve.lua http://127.0.0.1:8000
-- POST /reserve with a fresh 16-character user id per request.
-- Set WRK_EVENT=concert to use /v1/events/concert/reserve instead.
local threads = {}
local event = os.getenv("WRK_EVENT")
local path = event and ("/v1/events/" .. event .. "/reserve") or "/reserve"

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  prefix = string.format("w%02d", id % 100)
end

function request()
  counter = counter + 1
  local body = string.format('{"user_id":"%s%013d"}', prefix, counter)
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
