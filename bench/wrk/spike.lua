-- wrk -t2 -c1000 -d20s -s bench/wrk/spike.lua http://127.0.0.1:8000
-- A rush: many connections, each user reserves once and then polls its
-- status, the way a browser tab does after pressing "book".
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  prefix = string.format("s%02d", id % 100)
end

function request()
  counter = counter + 1
  local user = string.format("%s%013d", prefix, math.floor((counter + 1) / 2))
  if counter % 2 == 1 then
    return wrk.format("POST", "/reserve", {["Content-Type"] = "application/json"},
      '{"user_id":"' .. user .. '"}')
  end
  return wrk.format("GET", "/status/" .. user)
end

function done(summary, latency, requests)
  io.write(string.format("p50 %.2f ms  p99 %.2f ms  max %.2f ms  non-2xx %d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.status))
end
