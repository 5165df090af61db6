-- Shared by the wrk scripts in bench/http: thread numbering, per-thread
-- random seeds, workload arguments and the result line printed by done().
--
-- Each wrk thread runs its own Lua state; setup() and done() run in the
-- main state. Load with:
--   local common = dofile(<folder of this script> .. "common.lua")
--
-- Result line (one line, key=value, times in milliseconds):
--   wrk-result workload=counter_incr requests=123456 duration_s=10.00
--   rps=12345.6 p50_ms=1.234 p99_ms=5.678 max_ms=12.345 non2xx=0
--   socket_errors=0

local common = {}

local next_thread_id = 0

-- Numbers the threads 0, 1, ... so each can seed its own generator.
function common.setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
end

-- Parses "name=value" arguments given after "--" on the wrk command line
-- into a table of numbers, starting from `defaults`.
function common.parse_args(args, defaults)
  local opts = {}
  for k, v in pairs(defaults) do opts[k] = v end
  for _, a in ipairs(args or {}) do
    local k, v = a:match("^([%w_]+)=(%d+)$")
    if not k or opts[k] == nil then
      error("bench/http: unknown or malformed argument '" .. a ..
            "' (expected one of name=number: " .. common.names(defaults) .. ")")
    end
    opts[k] = tonumber(v)
  end
  return opts
end

function common.names(t)
  local n = {}
  for k in pairs(t) do n[#n + 1] = k end
  table.sort(n)
  return table.concat(n, ", ")
end

-- Seeds this thread's generator; distinct per thread and per run.
function common.seed()
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
  for _ = 1, 10 do math.random() end
end

-- The header block of a request with a body of `body_len` bytes: append
-- the body to it. Lets a script pre-build requests whose body varies.
function common.head(method, path, body_len)
  local placeholder = string.rep("x", body_len)
  local req = wrk.format(method, path,
                         {["Content-Type"] = "application/json"},
                         placeholder)
  return req:sub(1, #req - body_len)
end

function common.report(workload, summary, latency)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
      "wrk-result workload=%s requests=%d duration_s=%.2f rps=%.1f " ..
      "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d socket_errors=%d\n",
      workload, summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, e.status,
      e.connect + e.read + e.write + e.timeout))
end

return common
