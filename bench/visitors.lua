-- wrk script: returning visitors.  Each request carries one visitor
-- cookie from a pool (a file with one "trg_vid=<vid>.<mac>" a line, made
-- by bench/run from real Set-Cookie headers), round robin.
--
--   wrk -s bench/visitors.lua -H 'User-Agent: ...' URL -- cookies.txt
--
-- The requests are formatted once, in init(), so that wrk spends no more
-- time per request than with a fixed request.

local requests = {}
local next_one = 0

local thread_no = 0

function setup(thread)
    thread:set("thread_no", thread_no)
    thread_no = thread_no + 1
end

function init(args)
    local path = args[1] or error("usage: wrk -s visitors.lua URL -- COOKIE_FILE")

    for line in io.lines(path) do
        if line ~= "" then
            wrk.headers["Cookie"] = line
            requests[#requests + 1] = wrk.format()
        end
    end

    if #requests == 0 then
        error("no cookies in " .. path)
    end

    -- threads start at different places in the pool
    next_one = (thread_no or 0) * 7919 % #requests
end

function request()
    next_one = next_one % #requests + 1
    return requests[next_one]
end
