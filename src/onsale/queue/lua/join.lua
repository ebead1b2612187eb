-- join: give a fan a place. Before the opening the fan goes into the
-- pre-queue (numbered by the draw); after it, the next number (first come,
-- first served). The same entry joining again keeps its place (I6), unless it
-- was skipped at admission for being away longer than the grace period: then
-- it lines up again at the back. Joining marks the fan present.
--
-- With durable places, a new numbered entry's id gets its number appended
-- ("<entry>-<n>"), so that its signed token brings the number back after Redis
-- lost its data; and no number past the Postgres reservation is given out.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry id (the fan's existing entry, or a new one), 2 "1" when it
--       comes from the fan's token (Redis may have lost it: put it back)
-- Returns {"ok", number, "same"|"new", entry id[, numbers still reserved after
-- it (durable places): reserve more ahead when few are left]} (number 0: in
-- the pre-queue),
-- {"lost"} (restore the counters first), {"err", "reserve", number} (reserve
-- numbers up to at least it in Postgres, then join again) or {"err", code}:
-- not_configured, sale_not_open, sold_out, draw_pending (the sale is open but
-- the pre-queue is not drawn yet: draw, then join again).

if lost() then return {'lost'} end
local entry = ARGV[1]
local now = now_ms()
local known = redis.call('HGET', K_ENTRIES, entry)
if not known and ARGV[2] == '1' then known = reinsert(entry, now) end
-- A fan skipped while away lines up again at the back (a new number, "new").
if known and redis.call('SISMEMBER', K_SKIPPED, entry) == 0 then
  redis.call('ZADD', K_SEEN, now, entry)
  return {'ok', tonumber(known), 'same', entry}
end
if redis.call('EXISTS', K_QUEUE) == 0 then return {'err', 'not_configured'} end

if now < qget('prequeue_ms') or now >= qget('closes_ms') then return {'err', 'sale_not_open'} end
if sold_out() then return {'err', 'sold_out'} end
if now < qget('opens_ms') then
  redis.call('ZADD', K_SEEN, now, entry)
  redis.call('SREM', K_SKIPPED, entry)
  redis.call('SADD', K_PREQUEUE, entry)
  redis.call('HSET', K_ENTRIES, entry, 0)
  return {'ok', 0, 'new', entry}
end
if redis.call('HGET', K_QUEUE, 'drawn') ~= '1' then return {'err', 'draw_pending'} end
local n = qget('next') + 1
local durable = redis.call('HGET', K_QUEUE, 'places') == '1'
if durable then
  if n > qget('durable') then return {'err', 'reserve', n} end
  -- A skipped fan lining up again keeps its id (and the number it carries,
  -- which a restore then finds passed: it lines up again).
  if not known then entry = entry .. '-' .. n end
end
redis.call('HSET', K_QUEUE, 'next', n)
redis.call('ZADD', K_SEEN, now, entry)
redis.call('SREM', K_SKIPPED, entry)
redis.call('HSET', K_ENTRIES, entry, n)
redis.call('HSET', K_NUMBERS, n, entry)
if durable then return {'ok', n, 'new', entry, qget('durable') - n} end
return {'ok', n, 'new', entry}
