-- join: give a fan a place. Before the opening the fan goes into the
-- pre-queue (numbered by the draw); after it, the next number (first come,
-- first served). The same entry joining again keeps its place (I6), unless it
-- was skipped at admission for being away longer than the grace period: then
-- it lines up again at the back. Joining marks the fan present.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry id (the fan's existing entry, or a new one)
-- Returns {"ok", number, "same"|"new"} (number 0: in the pre-queue) or
-- {"err", code}: not_configured, sale_not_open, sold_out, draw_pending (the
-- sale is open but the pre-queue is not drawn yet: draw, then join again).

local entry = ARGV[1]
local now = now_ms()
local known = redis.call('HGET', K_ENTRIES, entry)
-- A fan skipped while away lines up again at the back (a new number, "new").
if known and redis.call('SISMEMBER', K_SKIPPED, entry) == 0 then
  redis.call('ZADD', K_SEEN, now, entry)
  return {'ok', tonumber(known), 'same'}
end
if redis.call('EXISTS', K_QUEUE) == 0 then return {'err', 'not_configured'} end

if now < qget('prequeue_ms') or now >= qget('closes_ms') then return {'err', 'sale_not_open'} end
if sold_out() then return {'err', 'sold_out'} end
redis.call('ZADD', K_SEEN, now, entry)
redis.call('SREM', K_SKIPPED, entry)
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
