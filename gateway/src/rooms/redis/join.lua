-- join(rid, code, pid, info, nid, auto_create, default_max, ttl, user_id, route)
--   -> {'ok', code, max, creator, rejoined, pid, info, ..., '', route of each member in order, me, my route} | {'not_found'} | {'full'} | {'node_gone'}
-- The size check and the insert are one step, whichever node asks. An
-- auto-created room's creator is its first joiner's user.
local rid, code, pid, info, nid = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local auto, default_max, ttl, user_id = ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10]
local route = ARGV[11]
local now = now_ms()
-- An evicted node may not admit anyone (its members were reported gone).
if redis.call('EXISTS', node_key(nid)) == 0 then return {'node_gone'} end
if not alive(rid, now) then
  if auto ~= '1' then return {'not_found'} end
  new_room(rid, code, default_max, user_id, now, ttl)
end
local room = redis.call('HMGET', room_key(rid), 'code', 'max', 'creator')
local rejoined = '0'
if redis.call('ZSCORE', members_key(rid), pid) then
  rejoined = '1'
  redis.call('HSET', route_key(rid), pid, route)
else
  if redis.call('ZCARD', members_key(rid)) >= tonumber(room[2]) then return {'full'} end
  add(rid, pid, info, nid, route)
end
local out = members(rid, pid, {'ok', room[1], room[2], room[3] or '', rejoined})
-- The routes, for the joining node's view (an empty one: a member joined
-- through a node of an older version), after an empty separator.
table.insert(out, '')
for _, p in ipairs(redis.call('ZRANGE', members_key(rid), 0, -1)) do
  table.insert(out, p)
  table.insert(out, redis.call('HGET', route_key(rid), p) or '')
end
return out
