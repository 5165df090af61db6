-- wrk workload: POST /v1/counter/ctr:{k}/incr {"by":1}, k uniform in
-- [0, keys). Compare with redis-benchmark -t incr -r 10000.
--   wrk -t 2 -c 64 -d 10s -s bench/http/counter_incr.lua http://HOST:PORT \
--       [-- keys=10000 w=W]
-- w=W (1-64) adds ?w=W (replicas acknowledging in a region cluster); 0: none.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local requests = {}
local n = 0

setup = common.setup

function init(args)
  local opts = common.parse_args(args, {keys = 10000, w = 0})
  common.seed()
  n = opts.keys
  local q = opts.w > 0 and ("?w=" .. opts.w) or ""
  local body = '{"by":1}'
  for k = 0, n - 1 do
    requests[k + 1] =
        common.head("POST", "/v1/counter/ctr:" .. k .. "/incr" .. q, #body) ..
        body
  end
end

function request()
  return requests[math.random(n)]
end

function done(summary, latency, _)
  common.report("counter_incr", summary, latency)
end
