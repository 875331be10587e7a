-- snapshot(rid) -> {code, max, pid, info, ...} | {}
local rid = ARGV[2]
if not alive(rid, now_ms()) then return {} end
local room = redis.call('HMGET', room_key(rid), 'code', 'max')
return members(rid, nil, {room[1], room[2]})
