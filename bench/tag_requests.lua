-- wrk script for bench/serve_batching.py: POST /v1/tag, one sentence per request.
--
--   wrk -c 64 -d 30s -s bench/tag_requests.lua http://127.0.0.1:8000 -- BODIES
--
-- BODIES holds one JSON request body per line. Each wrk thread walks the whole list from
-- its own starting point, so that concurrent connections send different sentences. done()
-- prints one JSON line, prefixed with "RESULT ", that the Python driver reads.

local bodies = {}
local next_body = 1
local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   if path == nil then
      error("usage: wrk ... -s tag_requests.lua URL -- BODIES")
   end
   for line in io.lines(path) do
      if #line > 0 then
         table.insert(bodies, line)
      end
   end
   if #bodies == 0 then
      error(path .. " has no request bodies")
   end
   -- Threads start a stride apart: id * 7919 (a prime) spreads them over the list.
   next_body = (id * 7919) % #bodies + 1
   wrk.method = "POST"
   wrk.path = "/v1/tag"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local body = bodies[next_body]
   next_body = next_body % #bodies + 1
   return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.max, latency.mean
   ))
end
