-- alert_intake.lua - wrk script: Alertmanager API v2 postable alerts.
--
--   wrk -t2 -c32 -d15s --latency -s bench/alert_intake.lua URL -- BATCH UNIQUE_PCT POOL [KEY]
--
-- Every request is a JSON array of BATCH alerts. UNIQUE_PCT percent of them
-- carry a label set never sent before (a "key" label made of a per-run id, the
-- thread number and a counter); the others are drawn from a pool of POOL
-- repeated label sets, which the receiver deduplicates. KEY, when given, is
-- sent as "Authorization: Bearer KEY" (Tocsin's alertmanager integration key;
-- Alertmanager ignores it).
--
-- done() prints one machine-readable line:
--   WRK requests=.. non2xx=.. sock_err=.. timeouts=.. secs=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
-- (wrk counts a status >= 400 as a "status" error: non2xx here).

local batch, unique_pct, pool = 1, 50, 1000
local counter = 0
local run_id = "0"
local starts = ""
local thread_no = 0
local threads = {}
local alertnames = {"HighCPU", "DiskFull", "HostDown", "HighLatency", "OOMKilled",
                    "CertExpiry", "ServiceDown", "HighErrorRate", "SwapUsage", "NTPDrift"}
local severities = {"critical", "warning", "info"}

function setup(thread)
  thread_no = thread_no + 1
  thread:set("tno", thread_no)
  table.insert(threads, thread)
end

function init(args)
  batch = tonumber(args[1]) or 1
  unique_pct = tonumber(args[2]) or 50
  pool = tonumber(args[3]) or 1000
  local key = args[4]
  -- A run id keeps "never seen" label sets unique across runs against one server.
  run_id = string.format("%x%x", os.time() % 0x100000, math.floor(os.clock() * 1e6) % 0x1000)
  math.randomseed(os.time() + (tno or 0) * 7919)
  starts = os.date("!%Y-%m-%dT%H:%M:%SZ")
  wrk.headers["Content-Type"] = "application/json"
  if key and key ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. key
  end
end

local function alert(key, n)
  local name = alertnames[(n % #alertnames) + 1]
  local host = n % 5000
  return '{"labels":{"alertname":"' .. name .. '","severity":"' .. severities[(n % 3) + 1] ..
    '","instance":"host-' .. host .. '.example:9100","job":"node","cluster":"c' .. (n % 4) ..
    '","key":"' .. key .. '"},"annotations":{"summary":"' .. name .. ' on host-' .. host ..
    '","description":"synthetic load-test alert ' .. key .. '"},"startsAt":"' .. starts ..
    '","generatorURL":"http://127.0.0.1:9090/graph?g0.expr=up%3D%3D0"}'
end

function request()
  local parts = {}
  for i = 1, batch do
    if math.random(100) <= unique_pct then
      counter = counter + 1
      parts[i] = alert("u" .. run_id .. "-" .. (tno or 0) .. "-" .. counter, counter)
    else
      local n = math.random(0, pool - 1)
      parts[i] = alert("r" .. n, n)
    end
  end
  return wrk.format("POST", nil, nil, "[" .. table.concat(parts, ",") .. "]")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d non2xx=%d sock_err=%d timeouts=%d secs=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    summary.requests, e.status, e.connect + e.read + e.write, e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
