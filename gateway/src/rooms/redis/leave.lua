-- leave(rid, pid, nid, ttl) -> 1 when pid was a member, else 0
local rid, pid, nid, ttl = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if remove(rid, pid, nid, now_ms(), ttl) then return 1 end
return 0
