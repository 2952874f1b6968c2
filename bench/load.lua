-- The load case of bench/load.py: each request, at random, one of what a municipal front-end mixes.
--
-- Arguments after `--`: <stops file> <items prefix> <west> <south> <east> <north> <width> <height>
--   <tile prefix> {<z> <first col> <last col> <first row> <last row>}...
-- <stops file>: one stop-metrics path per line. Shares: 40 % stop-metric polls, 30 % items pages with a
-- random bounding box (mostly new to the response cache), 30 % tiles at a random zoom and place.
-- done() prints `BENCH_JSON {...}` with wrk's totals and the count of each status class.
-- Environment LOAD_FROM / LOAD_SPAN (0..1) narrow the mix to a part of it (e.g. 0 / 0.4: only the stop
-- polls), to find which kind of request a tail comes from.

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
  table.insert(threads, thread)
end

function init(args)
  stops = {}
  for line in io.lines(args[1]) do table.insert(stops, line) end
  local prefix = args[2]
  local w, s, e, n = tonumber(args[3]), tonumber(args[4]), tonumber(args[5]), tonumber(args[6])
  local dw, dh = tonumber(args[7]), tonumber(args[8])
  local tile_prefix, zooms = args[9], {}
  for i = 10, #args, 5 do
    table.insert(zooms, {
      z = tonumber(args[i]), c0 = tonumber(args[i + 1]), c1 = tonumber(args[i + 2]),
      r0 = tonumber(args[i + 3]), r1 = tonumber(args[i + 4]),
    })
  end
  from, span = tonumber(os.getenv("LOAD_FROM")) or 0, tonumber(os.getenv("LOAD_SPAN")) or 1
  math.randomseed(20261205 + seed)
  ok, shed, other = 0, 0, 0
  request = function()
    local pick = from + math.random() * span
    if pick < 0.4 then
      return wrk.format("GET", stops[math.random(1, #stops)])
    elseif pick < 0.7 then
      local x0, y0 = w + math.random() * (e - w), s + math.random() * (n - s)
      return wrk.format("GET", string.format("%s%.6f,%.6f,%.6f,%.6f", prefix, x0, y0, x0 + dw, y0 + dh))
    end
    local t = zooms[math.random(1, #zooms)]
    return wrk.format("GET", string.format("%s%d/%d/%d", tile_prefix, t.z,
      math.random(t.r0, t.r1), math.random(t.c0, t.c1)))
  end
end

function response(status, headers, body)
  if status < 400 then
    ok = ok + 1
  elseif status == 503 then
    shed = shed + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local n_ok, n_shed, n_other = 0, 0, 0
  for _, thread in ipairs(threads) do
    n_ok = n_ok + (thread:get("ok") or 0)
    n_shed = n_shed + (thread:get("shed") or 0)
    n_other = n_other + (thread:get("other") or 0)
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"ok":%d,"shed":%d,'
      .. '"other":%d}\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    n_ok, n_shed, n_other
  ))
end
