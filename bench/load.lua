-- wrk script for every usergraph scenario. Request bodies come from the file
-- named by BODIES (one JSON body per line); each request picks one at random.
-- `{{N}}` in a body becomes a number unique to this run, thread and request
-- (for writes). A response whose body holds "errors" counts as an error, so an
-- error page can never pass for a success. TOKEN, when set, is sent as a
-- bearer token.

local bodies = {}
local counter = 0
-- Global, not local: `done` reads each thread's count with `thread:get`,
-- which sees only globals (a local here made every count read as zero).
errors = 0
local threads = {}
local prefix = os.getenv("RUN_ID") or "0"

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    if #line > 0 then table.insert(bodies, line) end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  local token = os.getenv("TOKEN")
  if token and #token > 0 then wrk.headers["Authorization"] = "Bearer " .. token end
  math.randomseed(os.time() + id)
end

function request()
  counter = counter + 1
  local body = bodies[math.random(#bodies)]
  body = body:gsub("{{N}}", prefix .. "t" .. id .. "n" .. counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + (thread:get("errors") or 0) end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
