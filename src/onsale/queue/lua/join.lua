-- join: give a fan a place. Before the opening the fan goes into the
-- pre-queue (numbered by the draw); after it, the next number (first come,
-- first served). The same entry joining again keeps its place (I6).
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry id (the fan's existing entry, or a new one)
-- Returns {"ok", number, "same"|"new"} (number 0: in the pre-queue) or
-- {"err", code}: not_configured, sale_not_open, sold_out, draw_pending (the
-- sale is open but the pre-queue is not drawn yet: draw, then join again).

local entry = ARGV[1]
local known = redis.call('HGET', K_ENTRIES, entry)
if known then return {'ok', tonumber(known), 'same'} end
if redis.call('EXISTS', K_QUEUE) == 0 then return {'err', 'not_configured'} end

local now = now_ms()
if now < qget('prequeue_ms') or now >= qget('closes_ms') then return {'err', 'sale_not_open'} end
if sold_out() then return {'err', 'sold_out'} end
if now < qget('opens_ms') then
  redis.call('SADD', K_PREQUEUE, entry)
  redis.call('HSET', K_ENTRIES, entry, 0)
  return {'ok', 0, 'new'}
end
if redis.call('HGET', K_QUEUE, 'drawn') ~= '1' then return {'err', 'draw_pending'} end
local n = redis.call('HINCRBY', K_QUEUE, 'next', 1)
redis.call('HSET', K_ENTRIES, entry, n)
redis.call('HSET', K_NUMBERS, n, entry)
return {'ok', n, 'new'}
