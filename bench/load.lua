-- wrk script for bench/load.sh: rotates through the API's read paths the
-- way dashboards and pollers hit them: the stats, and each stream's latest
-- prediction and recent history.
--
--   wrk -s bench/load.lua http://127.0.0.1:PORT   (env LOAD_STREAMS="a,b",
--                                                  LOAD_TOKEN=... optional)

local paths = { "/api/v1/stats" }
local streams = os.getenv("LOAD_STREAMS") or "cam-1,cam-2,cam-3,cam-4"
for id in string.gmatch(streams, "[^,]+") do
  table.insert(paths, "/api/v1/streams/" .. id .. "/predictions/latest")
  table.insert(paths, "/api/v1/streams/" .. id .. "/predictions?limit=10")
end
-- With n streams: 1/(2n+1) of the requests are /stats.

local token = os.getenv("LOAD_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local counter = 0
function init(args)
  -- Threads start at different places in the rotation.
  counter = math.random(#paths)
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read +
                 summary.errors.write + summary.errors.status +
                 summary.errors.timeout
  io.write(string.format(
    "LOAD requests=%d duration_us=%d errors=%d status_errors=%d " ..
    "p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
