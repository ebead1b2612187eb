-- status: everything needed to tell one fan where they stand, in one round
-- trip. Asking marks the fan present (the status poll is the heartbeat of a
-- fan without a websocket); an admitted shopper parked as gone who asks gets
-- their session back while it lasts. An entry Redis forgot gets back the
-- number its id carries (see reinsert in _lib.lua).
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry
-- Returns {"lost"} (restore the counters first) or {number or -1 (unknown
--          entry), serving, next, session expiry ms or 0, now ms, sold out
--          0|1, drawn 0|1, rate per minute, skipped 0|1, restored after a
--          loss at (ms, 0 never),
--          capacity, sold, held, paid orders, abandoned, lost serving,
--          band from (the last two: 0 without a loss), when the earliest
--          hold runs out (ms, 0 when nothing is held)}

if lost() then return {'lost'} end
local entry = ARGV[1]
local now = now_ms()
local number = tonumber(redis.call('HGET', K_ENTRIES, entry) or reinsert(entry, now) or '-1')
if number >= 0 then redis.call('ZADD', K_SEEN, now, entry) end
local session = tonumber(redis.call('ZSCORE', K_ACTIVE, entry) or '0')
if number > 0 and number <= qget('serving') then
  if session <= now then session = come_back(entry, now) end
  if session > now then redis.call('ZADD', K_PRESENT, now, entry) end
end
return {number, qget('serving'), qget('next'), session, now, sold_out() and 1 or 0,
        redis.call('HGET', K_QUEUE, 'drawn') == '1' and 1 or 0, qget('rate'),
        redis.call('SISMEMBER', K_SKIPPED, entry),
        redis.call('HGET', K_QUEUE, 'after_loss') == '1' and qget('restored_ms') or 0,
        mget(K_META, 'capacity'), mget(K_META, 'sold'), mget(K_META, 'held'),
        redis.call('HLEN', K_SOLD_ORDERS), qget('abandoned'), qget('lost_serving'),
        qget('band_from'), next_release()}
