-- status: everything needed to tell one fan where they stand, in one round trip.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry
-- Returns {number or -1 (unknown entry), serving, next, session expiry ms or
--          0, now ms, sold out 0|1, drawn 0|1, rate per minute}

local entry = ARGV[1]
local number = tonumber(redis.call('HGET', K_ENTRIES, entry) or '-1')
local session = tonumber(redis.call('ZSCORE', K_ACTIVE, entry) or '0')
return {number, qget('serving'), qget('next'), session, now_ms(), sold_out() and 1 or 0,
        redis.call('HGET', K_QUEUE, 'drawn') == '1' and 1 or 0, qget('rate')}
