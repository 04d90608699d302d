-- wrk script of every HTTP benchmark (bench/loadgen.py): POST one JSON body per request.
--
--   wrk -c 64 -d 30s -s bench/tag_requests.lua http://127.0.0.1:8000 -- BODIES [PATH]
--
-- BODIES holds one JSON request body per line, optionally after a word count and a tab
-- ("14\t{...}"); PATH is where they go (default /v1/tag). Each wrk thread walks the whole list from
-- its own starting point, so that concurrent connections send different sentences. done()
-- prints one JSON line, prefixed with "RESULT ", that the Python driver reads.
--
-- With TAG_RATE in the environment (requests a second, per wrk thread) the load is paced, as
-- wrk2 paces it: each request has its slot on a fixed schedule and a connection waits for the
-- next free slot, so the rate holds whatever the answers say; a slot more than a second late
-- is skipped (counted). Paced runs also count the answers by status, and the refusals (429,
-- 503) that came without Retry-After. Closed-loop runs define neither callback, so wrk parses
-- no headers for them.

local bodies = {}
local counts = {}
local next_body = 1
-- Per thread, read by done() through thread:get: requests sent, the words in them, and in
-- paced runs the answers by status and the slots skipped.
sent = 0
words = 0
ok, refused_429, refused_503, other, bare, skipped = 0, 0, 0, 0, 0, 0
local threads = {}
local rate = tonumber(os.getenv("TAG_RATE") or "")

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

if rate then
   local ffi = require("ffi")
   ffi.cdef([[
      typedef struct { long sec; long nsec; } tag_timespec;
      int clock_gettime(int clock, tag_timespec *now);
   ]])
   local clock = ffi.new("tag_timespec")
   local interval = 1000 / rate
   local slot = nil

   local function now_ms()
      ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
      return tonumber(clock.sec) * 1000 + tonumber(clock.nsec) / 1e6
   end

   -- Milliseconds until this connection's next request: the next slot of the schedule.
   function delay()
      local now = now_ms()
      slot = (slot or now) + interval
      if slot < now - 1000 then
         local late = math.floor((now - 1000 - slot) / interval)
         skipped = skipped + late
         slot = slot + late * interval
      end
      return math.max(0, slot - now)
   end

   function response(status, headers, body)
      if status == 200 then
         ok = ok + 1
      elseif status == 429 or status == 503 then
         if status == 429 then
            refused_429 = refused_429 + 1
         else
            refused_503 = refused_503 + 1
         end
         if headers["retry-after"] == nil and headers["Retry-After"] == nil then
            bare = bare + 1
         end
      else
         other = other + 1
      end
   end
end

local function total(name)
   local sum = 0
   for _, thread in ipairs(threads) do
      sum = sum + thread:get(name)
   end
   return sum
end

function done(summary, latency, requests)
   local e = summary.errors
   local paced = ""
   if rate then
      paced = string.format(
         ', "statuses": {"200": %d, "429": %d, "503": %d, "other": %d}, '
            .. '"refused_without_retry_after": %d, "skipped": %d',
         total("ok"), total("refused_429"), total("refused_503"), total("other"),
         total("bare"), total("skipped")
      )
   end
   io.write(string.format(
      'RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "sent": %d, "words": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"latency_us": {"p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}%s}\n',
      summary.requests, summary.duration, summary.bytes, total("sent"), total("words"),
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99),
      latency.max, latency.mean, paced
   ))
end
