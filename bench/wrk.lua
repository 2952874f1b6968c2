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

-- Or `bbox <path prefix> <west> <south> <east> <north> <width> <height>`: each request a box of that size
-- with its south-west corner anywhere in west..east, south..north (panning a map); or
-- `tile <path prefix> <xy|yx> {<z> <first col> <last col> <first row> <last row>}...`: a zoom at random,
-- then a tile at random in its range (browsing tiles), written z/x/y or z/y/x.
function init(args)
  if args[1] == "bbox" then
    local prefix = args[2]
    local w, s, e, n = tonumber(args[3]), tonumber(args[4]), tonumber(args[5]), tonumber(args[6])
    local dw, dh = tonumber(args[7]), tonumber(args[8])
    math.randomseed(20261127 + seed)
    request = function()
      local x0, y0 = w + math.random() * (e - w), s + math.random() * (n - s)
      return wrk.format("GET", string.format("%s%.6f,%.6f,%.6f,%.6f", prefix, x0, y0, x0 + dw, y0 + dh))
    end
    return
  end
  if args[1] == "tile" then
    local prefix, order, zooms = args[2], args[3], {}
    for i = 4, #args, 5 do
      table.insert(zooms, {
        z = tonumber(args[i]), c0 = tonumber(args[i + 1]), c1 = tonumber(args[i + 2]),
        r0 = tonumber(args[i + 3]), r1 = tonumber(args[i + 4]),
      })
    end
    math.randomseed(20261127 + seed)
    request = function()
      local t = zooms[math.random(1, #zooms)]
      local col, row = math.random(t.c0, t.c1), math.random(t.r0, t.r1)
      local a, b = col, row
      if order == "yx" then a, b = row, col end
      return wrk.format("GET", string.format("%s%d/%d/%d", prefix, t.z, a, b))
    end
    return
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
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,'
      .. '"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
