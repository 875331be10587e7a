-- create(rid, code, max, creator, ttl) -> {'ok', code, max, creator} | {'exists'}
local rid, code, max, creator, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local now = now_ms()
if alive(rid, now) then return {'exists'} end
new_room(rid, code, max, creator, now, ttl)
return {'ok', code, max, creator}
