-- wrk workload: GET /v1/register/reg:{k}, k uniform in [0, keys). Every key
-- must exist first, or the 404s show up as non2xx in the result line:
-- scripts/bench-http prefills them with PUT {"value":"xxx"} (3 bytes, like
-- redis-benchmark's default SET payload). Compare with redis-benchmark
-- -t get -r 10000 on prefilled keys.
--   wrk -t 2 -c 64 -d 10s -s bench/http/register_get.lua http://HOST:PORT \
--       [-- keys=10000 r=R]
-- r=R (1-64) adds ?r=R (replicas read in a region cluster); 0: none.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local requests = {}
local n = 0

setup = common.setup

function init(args)
  local opts = common.parse_args(args, {keys = 10000, r = 0})
  common.seed()
  n = opts.keys
  local q = opts.r > 0 and ("?r=" .. opts.r) or ""
  for k = 0, n - 1 do
    requests[k + 1] = wrk.format("GET", "/v1/register/reg:" .. k .. q,
                                 {["Accept"] = "application/json"})
  end
end

function request()
  return requests[math.random(n)]
end

function done(summary, latency, _)
  common.report("register_get", summary, latency)
end
