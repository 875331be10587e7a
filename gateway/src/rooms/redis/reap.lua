-- reap(self_nid, ttl, dead_ttl) -> {rid, pid, ...}: the members of every node
-- whose liveness key expired, removed here and returned once (the caller
-- tells their rooms). The node is tombstoned so it can never come back.
-- Also drops expired rooms from the index (their keys expire by themselves).
local self_nid, ttl, dead_ttl = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local now = now_ms()
local out = {}
for _, nid in ipairs(redis.call('SMEMBERS', NODES)) do
  if nid ~= self_nid and redis.call('EXISTS', node_key(nid)) == 0 then
    for _, entry in ipairs(redis.call('SMEMBERS', peers_key(nid))) do
      local rid, pid = string.match(entry, '^(%S+) (%S+)$')
      if rid and remove(rid, pid, nid, now, ttl) then
        table.insert(out, rid)
        table.insert(out, pid)
      end
    end
    redis.call('DEL', peers_key(nid))
    redis.call('SREM', NODES, nid)
    redis.call('SET', dead_key(nid), '1', 'PX', dead_ttl)
  end
end
redis.call('ZREMRANGEBYSCORE', ROOMS, '-inf', now)
return out
