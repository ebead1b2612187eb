-- Shared prelude of every queue script (prepended when the script is loaded).
--
-- KEYS (the same for every queue script, see onsale.keys.EventKeys.queue_keys):
--   1 queue     hash  next (last number given), serving (numbers <= it are
--                     admitted), drawn ("1" once the pre-queue is drawn),
--                     prequeue_ms, opens_ms, closes_ms, rate (per minute),
--                     max_active, session_ms, last_ms, carry
--   2 entries   hash  entry -> queue number ("0" while in the pre-queue)
--   3 numbers   hash  queue number -> entry
--   4 prequeue  set   entries waiting for the draw
--   5 active    zset  entry -> shopping session expiry (ms): active shoppers
--   6 meta      hash  the inventory's meta (capacity, held, sold)
--   7 seen      zset  entry -> when last seen (ms): join, status, websocket
--   8 skipped   set   entries skipped at admission because they were away
--   9 draw_order list the pre-queue in drawn order
--  10 sold_orders hash (inventory) order_id -> sale: counts orders
--  11 by_entry  hash  (inventory) entry -> live hold: counts shoppers holding
--  12 regranted set   entries given their session again after a loss (once)
--  13 present   zset  entry -> when an admitted shopper was last seen (ms)
--  14 away      zset  entry -> session expiry (ms) of a shopper parked as gone:
--                     unseen past shopper_grace_ms, holding nothing
--  15 expiries  zset  (inventory) hold_id -> expiry (ms): when held places return
-- Queue hash fields also: grace_ms (absence allowed), abandoned (skipped count),
-- shopper_grace_ms (an admitted shopper's absence allowed), parked (shoppers
-- parked as gone so far), stall_ms (total time stalled: places free, fans
-- waiting, nobody admittable), stall_run_ms (the stall under way, 0 if none),
-- stall_longest_ms (the longest stall so far),
-- and for surviving a Redis that lost its data (onsale.queue.service.restore):
--   restored      "1" once the counters are restored from Postgres (or the
--                 queue is new); until then every script answers {"lost"}
--   places        "1": numbers are durable: a fan numbered at join gets an
--                 entry id carrying its number ("q_<hex>-<n>", signed in
--                 its token) and gets that number back after a loss
--   durable       numbers up to it are reserved in Postgres; a join past it
--                 waits for a reservation (so no number is given twice)
--   lost_serving  the serving number restored: numbers up to it were
--                 admitted before the loss
--   band_from     numbers above it (up to lost_serving) were admitted in the
--                 last two seconds before the loss: maybe never told so
--   restored_ms   when it was restored (Redis clock)
--   after_loss    "1" when Postgres had counters (Redis really lost them)
--   return_ms     how long admission waits for a number Redis forgot

local K_QUEUE, K_ENTRIES, K_NUMBERS, K_PREQUEUE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_ACTIVE, K_META, K_SEEN, K_SKIPPED = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_DRAW_ORDER, K_SOLD_ORDERS, K_BY_ENTRY = KEYS[9], KEYS[10], KEYS[11]
local K_REGRANTED, K_PRESENT, K_AWAY, K_EXPIRIES = KEYS[12], KEYS[13], KEYS[14], KEYS[15]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function qget(field)
  return tonumber(redis.call('HGET', K_QUEUE, field) or '0')
end

local function sold_out()
  local capacity = tonumber(redis.call('HGET', K_META, 'capacity') or '0')
  local sold = tonumber(redis.call('HGET', K_META, 'sold') or '0')
  return capacity > 0 and sold >= capacity
end

local function mget(key, field)
  return tonumber(redis.call('HGET', key, field) or '0')
end

-- The queue lost its data and the counters are not restored yet.
local function lost()
  return redis.call('HGET', K_QUEUE, 'restored') ~= '1'
end

-- An entry Redis forgot comes back with the number its id carries: it gets
-- that number again; one without a number (it joined the pre-queue) goes
-- back into the pre-queue if the draw is still to come (a drawn one was put
-- back by the restore). Returns the number (0: pre-queue), or nil when places
-- are not durable, the id carries no number after the draw, or another entry
-- holds the number.
local function reinsert(entry, now)
  if redis.call('HGET', K_QUEUE, 'places') ~= '1' then return nil end
  local n = tonumber(string.match(entry, '%-(%d+)$') or '')
  if not n and now < qget('opens_ms') and redis.call('HGET', K_QUEUE, 'drawn') ~= '1' then
    redis.call('SADD', K_PREQUEUE, entry)
    redis.call('HSET', K_ENTRIES, entry, 0)
    redis.call('ZADD', K_SEEN, now, entry)
    return 0
  end
  if not n or n <= 0 then return nil end
  local holder = redis.call('HGET', K_NUMBERS, n)
  if holder and holder ~= entry then return nil end
  if n > qget('next') then redis.call('HSET', K_QUEUE, 'next', n) end
  redis.call('HSET', K_ENTRIES, entry, n)
  redis.call('HSET', K_NUMBERS, n, entry)
  redis.call('ZADD', K_SEEN, now, entry)
  -- Admission passed this number while Redis did not know it and its fan did
  -- not come back in time: like a fan away past the grace, they line up again.
  if n <= qget('serving') and n > qget('lost_serving') then
    redis.call('SADD', K_SKIPPED, entry)
  end
  return n
end

-- A shopper parked as gone (see admit.lua) who shows up again while their
-- session lasts gets it back and counts as a shopper again. Returns the
-- session's expiry (ms), or 0 when there is no session to come back to.
local function come_back(entry, now)
  local expires = tonumber(redis.call('ZSCORE', K_AWAY, entry) or '0')
  if expires <= now then return 0 end
  redis.call('ZREM', K_AWAY, entry)
  redis.call('ZADD', K_ACTIVE, expires, entry)
  return expires
end

-- When the earliest hold runs out (ms), 0 when nothing is held: held places
-- come back then unless bought.
local function next_release()
  local first = redis.call('ZRANGE', K_EXPIRIES, 0, 0, 'WITHSCORES')
  return tonumber(first[2] or '0')
end
