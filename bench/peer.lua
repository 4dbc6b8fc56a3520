-- The OpenResty peer (access_by_lua_file): per-page tracking as a shop
-- could script it with lua-resty-redis (Debian's lua-nginx-redis), one
-- EVALSHA of bench/peer-track.lua per page view on a kept-alive
-- connection, failing open.  The visitor's id is the trg_vid cookie's
-- value as it comes (no signature checked), or a new random one.
local redis = require "nginx.redis"

local vid = ngx.var.cookie_trg_vid
if not vid or #vid < 16 or #vid > 64 then
    vid = string.format("%08x%08x%08x%08x", math.random(0, 0x7fffffff),
                        math.random(0, 0x7fffffff), math.random(0, 0x7fffffff),
                        math.random(0, 0x7fffffff))
    ngx.header["Set-Cookie"] = "trg_vid=" .. vid
                               .. "; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"
end

local red = redis:new()
red:set_timeouts(200, 200, 200)

local ok = red:connect("127.0.0.1", tonumber(ngx.var.peer_redis_port))
if not ok then
    ngx.var.peer_status = "unavailable"
    return
end

local res = red:evalsha(ngx.var.peer_sha, 1, "peer:{" .. vid .. "}",
                        ngx.time(), 1800, 2592000)
if res then
    ngx.var.peer_status = "tracked"
    red:set_keepalive(10000, 64)
else
    ngx.var.peer_status = "error"
    red:close()
end
