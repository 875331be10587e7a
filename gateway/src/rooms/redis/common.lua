-- Prepended to every script. All keys share the hash tag in ARGV[1] (e.g.
-- "{gw}"), so one Redis Cluster slot holds them; KEYS[1] is the room index,
-- named so the script is routed to that slot. Time is Redis's clock, the same
-- for every node.
local P = ARGV[1]
local ROOMS = KEYS[1]
local NODES = P .. ':nodes'

local function room_key(rid) return P .. ':room:' .. rid end
local function members_key(rid) return P .. ':members:' .. rid end
local function info_key(rid) return P .. ':info:' .. rid end
-- pid -> the route of the node the member is connected to: the channel that
-- node reads relays for its sockets on.
local function route_key(rid) return P .. ':route:' .. rid end
local function node_key(nid) return P .. ':node:' .. nid end
local function dead_key(nid) return P .. ':dead:' .. nid end
local function peers_key(nid) return P .. ':nodepeers:' .. nid end
-- Set with the node's key, by route: other nodes stop relaying to a route
-- whose key expired (`cluster::link`).
local function alive_key(route) return P .. ':alive:' .. route end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A room lives while occupied (index score +inf) or until its expiry time.
local function alive(rid, now)
  local s = redis.call('ZSCORE', ROOMS, rid)
  if not s then return false end
  if s ~= 'inf' and tonumber(s) <= now then return false end
  return redis.call('EXISTS', room_key(rid)) == 1
end

-- The room is empty from now on: it lives `ttl` more milliseconds.
local function start_ttl(rid, now, ttl)
  redis.call('ZADD', ROOMS, now + ttl, rid)
  redis.call('PEXPIRE', room_key(rid), ttl)
end

local function new_room(rid, code, max, creator, now, ttl)
  redis.call('DEL', room_key(rid), members_key(rid), info_key(rid), route_key(rid))
  redis.call('HSET', room_key(rid), 'code', code, 'max', max, 'creator', creator, 'seq', 0)
  start_ttl(rid, now, ttl)
end

local function add(rid, pid, info, nid, route)
  local seq = redis.call('HINCRBY', room_key(rid), 'seq', 1)
  redis.call('ZADD', members_key(rid), seq, pid)
  redis.call('HSET', info_key(rid), pid, info)
  redis.call('HSET', route_key(rid), pid, route)
  redis.call('SADD', peers_key(nid), rid .. ' ' .. pid)
  redis.call('PERSIST', room_key(rid))
  redis.call('ZADD', ROOMS, '+inf', rid)
end

-- Removes one member; true when it was one.
local function remove(rid, pid, nid, now, ttl)
  redis.call('SREM', peers_key(nid), rid .. ' ' .. pid)
  if redis.call('ZREM', members_key(rid), pid) == 0 then return false end
  redis.call('HDEL', info_key(rid), pid)
  redis.call('HDEL', route_key(rid), pid)
  if redis.call('ZCARD', members_key(rid)) == 0 then start_ttl(rid, now, ttl) end
  return true
end

-- The members after `except`, in join order, as pid, info, pid, info, ...
local function members(rid, except, out)
  for _, pid in ipairs(redis.call('ZRANGE', members_key(rid), 0, -1)) do
    if pid ~= except then
      table.insert(out, pid)
      table.insert(out, redis.call('HGET', info_key(rid), pid) or '{}')
    end
  end
  return out
end
