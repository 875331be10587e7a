-- snapshot(rid) -> {code, max, creator, pid, info, ...} | {}
local rid = ARGV[2]
if not alive(rid, now_ms()) then return {} end
local room = redis.call('HMGET', room_key(rid), 'code', 'max', 'creator')
return members(rid, nil, {room[1], room[2], room[3] or ''})
