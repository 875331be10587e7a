-- member(rid, pid, nid) -> 1 | 0, or -1 when this node is no longer live (a
-- node that was evicted must not relay for members it no longer has).
local rid, pid, nid = ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', node_key(nid)) == 0 then return -1 end
if redis.call('ZSCORE', members_key(rid), pid) then return 1 end
return 0
