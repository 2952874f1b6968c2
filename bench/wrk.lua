-- The wrk script of every HTTP case in bench/run.py.
--
-- Arguments after `--` (optional): <path prefix> <max id>. With them, each request asks for
-- prefix .. random(1, max id) — the "one feature by id" case, the same for the twin and tipg.
-- Without them wrk sends its fixed request (no Lua call per request).
--
-- done() prints one line, `BENCH_JSON {...}`, with wrk's exact totals: bytes read and error counts
-- are only printed rounded (or not per kind) in wrk's normal summary.

-- A last argument `count-cache-hits` counts the answers the twin's response cache gave (the
-- `x-twin-cache: hit` header), so that a "cached" figure says how much of it the cache answered. It
-- costs a Lua call per response, so only the cached cases ask for it.

local counter = 0
local threads = {}

-- Runs in the main Lua state, once per thread: give each thread its own, reproducible seed.
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
  thread:set("hits", 0)
  table.insert(threads, thread)
end

function init(args)
  if #args >= 1 and args[#args] == "count-cache-hits" then
    args[#args] = nil
    hits = 0
    response = function(status, headers, body)
      if headers["x-twin-cache"] == "hit" or headers["X-Twin-Cache"] == "hit" then
        hits = hits + 1
      end
    end
  end
  if #args >= 2 then
    local prefix, max_id = args[1], tonumber(args[2])
    math.randomseed(20261127 + seed)
    -- Defined here, not at the top level, so that the fixed-URL cases stay static in wrk.
    request = function()
      return wrk.format("GET", prefix .. math.random(1, max_id))
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local cache_hits = 0
  for _, thread in ipairs(threads) do
    cache_hits = cache_hits + (thread:get("hits") or 0)
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,'
      .. '"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"cache_hits":%d}\n',
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, cache_hits
  ))
end
