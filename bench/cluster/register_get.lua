-- wrk workload: GET /v1/register/reg:{k}?r=R, k uniform in [0, keys) (the
-- keys prefilled); r=0 leaves ?r= out.
--   wrk -t 2 -c 64 -d 10s -s bench/cluster/register_get.lua URL -- r=2
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "../http/common.lua")

local requests = {}
local n = 0

setup = common.setup

function init(args)
  local opts = common.parse_args(args, {keys = 10000, r = 0})
  common.seed()
  n = opts.keys
  local q = opts.r > 0 and ("?r=" .. opts.r) or ""
  for k = 0, n - 1 do
    requests[k + 1] = wrk.format("GET", "/v1/register/reg:" .. k .. q)
  end
end

function request()
  return requests[math.random(n)]
end

function done(summary, latency, _)
  common.report("register_get", summary, latency)
end
