-- create(rid, code, max, ttl) -> {'ok', code, max} | {'exists'}
local rid, code, max, ttl = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local now = now_ms()
if alive(rid, now) then return {'exists'} end
new_room(rid, code, max, now, ttl)
return {'ok', code, max}
