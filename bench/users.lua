-- wrk script: optional think time between a user's requests, exact percentiles at the end.
-- WRK_THINK_MS=1000 makes each connection a user who waits 0.5-1.5 s between requests.
local think = tonumber(os.getenv("WRK_THINK_MS") or "0")

function delay()
  if think > 0 then
    return math.random(math.floor(think / 2), math.floor(think * 3 / 2))
  end
  return 0
end

function done(summary, latency, requests)
  for _, p in ipairs({50, 95, 99}) do
    io.write(string.format("percentile %d %d\n", p, latency:percentile(p)))
  end
end
