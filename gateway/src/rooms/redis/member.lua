-- member(rid, pid, nid) -> the route of the member's node (the channel its
-- relays go to), 0 when pid is not a member, 1 for a member whose node
-- recorded no route (joined through a node of an older version), or -1 when
-- this node is no longer live (a node that was evicted must not relay for
-- members it no longer has).
local rid, pid, nid = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', node_key(nid)) == 0 then return -1 end
if not redis.call('ZSCORE', members_key(rid), pid) then return 0 end
return redis.call('HGET', route_key(rid), pid) or 1
