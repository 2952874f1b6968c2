-- The wrk script of every HTTP case in bench/run.py.
--
-- Arguments after `--` (optional): <path prefix> <max id>. With them, each request asks for
-- prefix .. random(1, max id) — the "one feature by id" case, the same for the twin and tipg.
-- Without them wrk sends its fixed request (no Lua call per request).
--
-- done() prints one line, `BENCH_JSON {...}`, with wrk's exact totals: bytes read and error counts
-- are only printed rounded (or not per kind) in wrk's normal summary.

local counter = 0

-- Runs in the main Lua state, once per thread: give each thread its own, reproducible seed.
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
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
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,'
      .. '"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
