-- heartbeat(nid, timeout, route) -> 'ok' | 'lost' (the key is gone: Redis lost its
-- data, or the node was away; reconcile next) | 'evicted' (reaped: never back)
local nid, timeout, route = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', dead_key(nid)) == 1 then return 'evicted' end
if redis.call('SET', node_key(nid), '1', 'PX', timeout, 'XX') then
  redis.call('SET', alive_key(route), '1', 'PX', timeout)
  return 'ok'
end
return 'lost'
