-- wrk script for the HTTP benchmarks (bench/loadgen.py): POST one JSON body per request.
--
--   wrk -c 64 -d 30s -s bench/tag_requests.lua http://127.0.0.1:8000 -- BODIES [PATH]
--
-- BODIES holds one JSON request body per line, optionally after a word count and a tab
-- ("14\t{...}"); PATH is where they go (default /v1/tag). Each wrk thread walks the whole list from
-- its own starting point, so that concurrent connections send different sentences. done()
-- prints one JSON line, prefixed with "RESULT ", that the Python driver reads.

local bodies = {}
local counts = {}
local next_body = 1
-- Per thread: requests sent and the words in them (read by done() through thread:get).
sent = 0
words = 0
local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   if path == nil then
      error("usage: wrk ... -s tag_requests.lua URL -- BODIES [PATH]")
   end
   for line in io.lines(path) do
      local count, body = line:match("^(%d+)\t(.*)$")
      if count == nil then
         count, body = 0, line
      end
      if #body > 0 then
         table.insert(bodies, body)
         table.insert(counts, tonumber(count))
      end
   end
   if #bodies == 0 then
      error(path .. " has no request bodies")
   end
   -- Threads start a stride apart: id * 7919 (a prime) spreads them over the list.
   next_body = (id * 7919) % #bodies + 1
   wrk.method = "POST"
   wrk.path = args[2] or "/v1/tag"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local body = bodies[next_body]
   sent = sent + 1
   words = words + counts[next_body]
   next_body = next_body % #bodies + 1
   return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
   local e = summary.errors
   local total_sent, total_words = 0, 0
   for _, thread in ipairs(threads) do
      total_sent = total_sent + thread:get("sent")
      total_words = total_words + thread:get("words")
   end
   io.write(string.format(
      'RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "sent": %d, "words": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
      summary.requests, summary.duration, summary.bytes, total_sent, total_words,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.max, latency.mean
   ))
end
