-- tools/bench/status.lua: a wrk script that counts the responses per HTTP status code and
-- prints one "status CODE COUNT" line per code after wrk's own summary (run.sh's overload
-- step: wrk itself only says "Non-2xx or 3xx responses", not whether they were 503s).

-- Global, so that done() can read it from each thread with thread:get("status_counts").
status_counts = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  status_counts[status] = (status_counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("status_counts")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    io.write(string.format("status %d %d\n", status, count))
  end
end
