-- wrk workload: POST /v1/set/set:{k}/add {"members":["m{j}"]}, k uniform in
-- [0, keys), j uniform in [0, members). Members are zero-padded to a fixed
-- width so every request has the same size. Every add is a durable write
-- (a new dot), member present or not. Compare with redis-benchmark -t sadd,
-- which adds element:{j} to the single key "myset" and writes to the AOF
-- only when the member is new (so with -r 1000000000, not -r 10000).
--   wrk -t 2 -c 64 -d 10s -s bench/http/set_add.lua http://HOST:PORT \
--       [-- keys=10000 members=10000]
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local heads = {}
local bodies = {}
local n_keys, n_members = 0, 0

setup = common.setup

function init(args)
  local opts = common.parse_args(args, {keys = 10000, members = 10000})
  common.seed()
  n_keys, n_members = opts.keys, opts.members
  local width = #tostring(n_members - 1)
  for j = 0, n_members - 1 do
    bodies[j + 1] =
        string.format('{"members":["m%0' .. width .. 'd"]}', j)
  end
  local body_len = #bodies[1]
  for k = 0, n_keys - 1 do
    heads[k + 1] = common.head("POST", "/v1/set/set:" .. k .. "/add", body_len)
  end
end

function request()
  return heads[math.random(n_keys)] .. bodies[math.random(n_members)]
end

function done(summary, latency, _)
  common.report("set_add", summary, latency)
end
