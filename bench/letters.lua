-- Redis script: queues letters as subscriptions do (the subscribe script
-- of src/ngx_http_trigger_api.c), many at once: per contact an email
-- record and a job at the start of the chain "offer", due at once.
--
--   redis-cli --eval bench/letters.lua , PREFIX COUNT TAG DUE [VID ...]
--
-- TAG makes the addresses of one batch (c<i>-<TAG>@bench.example) new;
-- DUE is when the jobs are due (unix time); the visitor ids, if any, are
-- given to the contacts round robin, as a subscription links its visitor.

local pre, n, tag = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local due = tonumber(ARGV[4])
local nvids = #ARGV - 4

for i = 1, n do
    local email = 'c' .. i .. '-' .. tag .. '@bench.example'
    local sha = redis.sha1hex(email)
    local code = string.upper(string.sub(sha, 1, 4) .. '-'
                              .. string.sub(sha, 5, 8) .. '-'
                              .. string.sub(sha, 9, 12))
    local ek = pre .. 'email:' .. sha

    redis.call('HSET', ek, 'email', email, 'code', code,
               'code_expires', due + 7 * 86400, 'tz', 'Europe/Berlin',
               'lang', 'en', 'discount', '10%', 'created', due,
               'state', 'queued')
    if nvids > 0 then
        redis.call('HSET', ek, 'vid', ARGV[4 + (i - 1) % nvids + 1])
    end

    local id = sha .. ':offer'
    redis.call('HSET', pre .. 'job:' .. id, 'chain', 'offer', 'pc', 0,
               'variant', -1, 'started', due, 'attempts', 0, 'p0', 0)
    redis.call('ZADD', pre .. 'queue', due, id)
end

return n
