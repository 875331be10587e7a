-- reconcile(nid, timeout, ttl, route, [rid, code, max, creator, pid, info]...) -> 'ok' | 'evicted'
-- Makes Redis's view of this node's members exactly the node's own list: run
-- at start-up, whenever the connection came back (Redis may have restarted
-- empty, or from an older snapshot) and after a write failed.
local nid, timeout, ttl, route = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if redis.call('EXISTS', dead_key(nid)) == 1 then return 'evicted' end
local now = now_ms()
redis.call('SET', node_key(nid), '1', 'PX', timeout)
redis.call('SET', alive_key(route), '1', 'PX', timeout)
redis.call('SADD', NODES, nid)
local want = {}
for i = 6, #ARGV, 6 do want[ARGV[i] .. ' ' .. ARGV[i + 4]] = true end
for _, entry in ipairs(redis.call('SMEMBERS', peers_key(nid))) do
  if not want[entry] then
    local rid, pid = string.match(entry, '^(%S+) (%S+)$')
    if rid then remove(rid, pid, nid, now, ttl) end
  end
end
for i = 6, #ARGV, 6 do
  local rid, code, max, creator = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local pid, info = ARGV[i + 4], ARGV[i + 5]
  if not alive(rid, now) then new_room(rid, code, max, creator, now, ttl) end
  if redis.call('ZSCORE', members_key(rid), pid) then
    redis.call('HSET', route_key(rid), pid, route)
  else
    add(rid, pid, info, nid, route)
  end
end
return 'ok'
