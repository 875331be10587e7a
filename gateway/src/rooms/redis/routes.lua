-- routes(rid, ...) -> {rid, n, pid, route, info, ... (n members)} for each
-- room asked about, in join order (a route is '' for a member joined through
-- a node of an older version): a node's view is made Redis's again from it.
local out = {}
for i = 2, #ARGV do
  local rid = ARGV[i]
  local pids = redis.call('ZRANGE', members_key(rid), 0, -1)
  table.insert(out, rid)
  table.insert(out, tostring(#pids))
  for _, pid in ipairs(pids) do
    table.insert(out, pid)
    table.insert(out, redis.call('HGET', route_key(rid), pid) or '')
    table.insert(out, redis.call('HGET', info_key(rid), pid) or '{}')
  end
end
return out
