-- The polling case of bench/transport.py: each request asks for a random stop's metrics.
--
-- Arguments after `--`: <file> [etag]. <file> has one line per stop: "<path>\t<etag>". With `etag`,
-- each request sends If-None-Match with that stop's ETag (a client polling an unchanged answer).
-- done() prints `BENCH_JSON {...}` like wrk.lua, plus the count of 304 answers.

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
  table.insert(threads, thread)
end

function init(args)
  paths, tags = {}, {}
  for line in io.lines(args[1]) do
    local path, tag = line:match("^(.-)\t(.*)$")
    table.insert(paths, path)
    table.insert(tags, tag)
  end
  with_etag = args[2] == "etag"
  not_modified = 0
  math.randomseed(20261127 + seed)
  request = function()
    local i = math.random(1, #paths)
    if with_etag then
      return wrk.format("GET", paths[i], { ["If-None-Match"] = tags[i] })
    end
    return wrk.format("GET", paths[i])
  end
end

function response(status, headers, body)
  if status == 304 then
    not_modified = not_modified + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local n304 = 0
  for _, thread in ipairs(threads) do
    n304 = n304 + (thread:get("not_modified") or 0)
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,'
      .. '"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"not_modified":%d}\n',
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, n304
  ))
end
