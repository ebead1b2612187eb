-- status: everything needed to tell one fan where they stand, in one round
-- trip. Asking marks the fan present (the status poll is the heartbeat of a
-- fan without a websocket).
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry
-- Returns {number or -1 (unknown entry), serving, next, session expiry ms or
--          0, now ms, sold out 0|1, drawn 0|1, rate per minute, skipped 0|1}

local entry = ARGV[1]
local now = now_ms()
local number = tonumber(redis.call('HGET', K_ENTRIES, entry) or '-1')
if number >= 0 then redis.call('ZADD', K_SEEN, now, entry) end
local session = tonumber(redis.call('ZSCORE', K_ACTIVE, entry) or '0')
return {number, qget('serving'), qget('next'), session, now, sold_out() and 1 or 0,
        redis.call('HGET', K_QUEUE, 'drawn') == '1' and 1 or 0, qget('rate'),
        redis.call('SISMEMBER', K_SKIPPED, entry)}
