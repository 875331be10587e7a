-- heartbeat(nid, timeout) -> 'ok' | 'lost' (the key is gone: Redis lost its
-- data, or the node was away; reconcile next) | 'evicted' (reaped: never back)
local nid, timeout = ARGV[2], ARGV[3]
if redis.call('EXISTS', dead_key(nid)) == 1 then return 'evicted' end
if redis.call('SET', node_key(nid), '1', 'PX', timeout, 'XX') then return 'ok' end
return 'lost'
