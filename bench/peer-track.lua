-- The OpenResty peer's Redis script: the visit, its depth and its last
-- activity, as a shop would script the core of per-page tracking.
-- KEYS[1]: the visitor's hash.  ARGV: now, visit timeout, ttl.
local key, now = KEYS[1], tonumber(ARGV[1])
local h = redis.call('HMGET', key, 'n', 'd', 's', 'l')
local visits, depth = tonumber(h[1]) or 0, tonumber(h[2]) or 0
local start, last = tonumber(h[3]) or now, tonumber(h[4])
if not last or now - last > tonumber(ARGV[2]) then
  visits, depth, start = visits + 1, 0, now
end
depth = depth + 1
redis.call('HSET', key, 'n', visits, 'd', depth, 's', start, 'l', now)
redis.call('EXPIRE', key, tonumber(ARGV[3]))
return {visits, depth, now - start}
