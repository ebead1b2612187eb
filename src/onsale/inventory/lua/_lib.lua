-- Shared prelude of every inventory script (prepended when the script is loaded).
--
-- KEYS (the same for every inventory script, see onsale.keys.EventKeys.inventory):
--   1 meta       hash   ready, capacity, held, sold, per_order, per_entry, hold_ms
--   2 seats      hash   seat_id -> "F" | "H:<hold_id>" | "S:<order_id>"
--   3 layout     hash   section -> JSON [{"row": "A", "seats": 20}, ...] (seated only)
--   4 ga         hash   "<SECTION>:cap" | ":held" | ":sold" -> places
--   5 holds      hash   hold_id -> JSON {id, e, sec, seats, q, x, hx, st}
--   6 expiries   zset   hold_id -> expiry in ms (Redis clock)
--   7 by_entry   hash   queue entry -> its live hold_id
--   8 bought     hash   queue entry -> tickets bought
--   9 sold_orders hash  order_id -> JSON of what it sold (commit-sold ran)
--  10 refunded   set    order ids whose refund ran
--  11 active     zset   queue entry -> shopping session expiry in ms
--  12 present    zset   queue entry -> when the shopper was last seen (ms)
--  13 away       zset   queue entry -> session expiry (ms) of a shopper parked
--                       as gone (see onsale/queue/lua/admit.lua)
--  14 ended      zset   hold_id -> when it ended in ms (kept ENDED_KEEP_MS), so
--                       that checkout tells a hold that ended from one that never was
-- Hold record fields: e entry ("" at the box office), sec section, seats list
-- (empty for GA), q places, x effective expiry ms, hx expiry of the hold itself
-- (x moves to now + grace during checkout), st "held" | "checkout"; during a
-- checkout ck is the attempt that claimed it and cx when that claim lapses;
-- d counts the payments declined on this hold.

local K_META, K_SEATS, K_LAYOUT, K_GA = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_HOLDS, K_EXPIRIES, K_BY_ENTRY, K_BOUGHT = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_SOLD_ORDERS, K_REFUNDED, K_ACTIVE = KEYS[9], KEYS[10], KEYS[11]
local K_PRESENT, K_AWAY, K_ENDED = KEYS[12], KEYS[13], KEYS[14]
-- A day: longer than any hold and its checkout, short enough to stay small.
local ENDED_KEEP_MS = 86400000

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function err(code, detail)
  return {'err', code, detail or ''}
end

-- cjson turns an empty JSON array into an empty object on the way back; this
-- keeps "seats": [] an array in the records we store and return.
local function encode_hold(h)
  local seats = h.seats
  if #seats == 0 then h.seats = cjson.decode('[]') end
  local out = cjson.encode(h)
  if #seats == 0 then out = string.gsub(out, '"seats":{}', '"seats":[]') end
  h.seats = seats
  return out
end

-- Puts the places of hold ``h`` (its record, decoded) back on sale and
-- forgets the hold. Seats that are no longer "H:<hold_id>" (sold over after a
-- crash) stay as they are.
local function free_record(hold_id, h)
  redis.call('ZREM', K_EXPIRIES, hold_id)
  local n = 0
  if #h.seats > 0 then
    local mark = 'H:' .. hold_id
    for _, s in ipairs(h.seats) do
      if redis.call('HGET', K_SEATS, s) == mark then
        redis.call('HSET', K_SEATS, s, 'F')
        n = n + 1
      end
    end
  else
    n = tonumber(h.q)
    redis.call('HINCRBY', K_GA, h.sec .. ':held', -n)
  end
  -- (never HINCRBY by -n with n = 0: Lua prints it as "-0", not an integer)
  if n > 0 then redis.call('HINCRBY', K_META, 'held', -n) end
  redis.call('HDEL', K_HOLDS, hold_id)
  local now = now_ms()
  redis.call('ZADD', K_ENDED, now, hold_id)
  redis.call('ZREMRANGEBYSCORE', K_ENDED, '-inf', now - ENDED_KEEP_MS)
  if h.e ~= '' and redis.call('HGET', K_BY_ENTRY, h.e) == hold_id then
    redis.call('HDEL', K_BY_ENTRY, h.e)
  end
  return n
end

local function free_hold(hold_id)
  local raw = redis.call('HGET', K_HOLDS, hold_id)
  if not raw then
    redis.call('ZREM', K_EXPIRIES, hold_id)
    return 0
  end
  return free_record(hold_id, cjson.decode(raw))
end

-- Lazy reclaim: every script first frees the holds whose time is up, so that
-- no background job is needed for a hold to come back on sale (I4).
local function reclaim(now)
  local expired = redis.call('ZRANGEBYSCORE', K_EXPIRIES, '-inf', now, 'LIMIT', 0, 200)
  for _, id in ipairs(expired) do free_hold(id) end
  return #expired
end

local function load_hold(hold_id)
  local raw = redis.call('HGET', K_HOLDS, hold_id)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function save_hold(h)
  redis.call('HSET', K_HOLDS, h.id, encode_hold(h))
  redis.call('ZADD', K_EXPIRIES, h.x, h.id)
end

-- Marks what an order bought as sold. Safe on any state: a seat held by
-- another hold (possible only after a crash) is taken from it, since Postgres,
-- which refused any second live ticket, says this order owns it.
local function mark_sold(order_id, sale)
  local mark = 'S:' .. order_id
  local n = 0
  for _, s in ipairs(sale.seats) do
    local cur = redis.call('HGET', K_SEATS, s)
    if cur ~= mark then
      if cur and string.sub(cur, 1, 2) == 'H:' then
        redis.call('HINCRBY', K_META, 'held', -1)
      end
      if not (cur and string.sub(cur, 1, 2) == 'S:') then n = n + 1 end
      redis.call('HSET', K_SEATS, s, mark)
    end
  end
  if #sale.seats == 0 and tonumber(sale.q) > 0 then
    redis.call('HINCRBY', K_GA, sale.sec .. ':sold', sale.q)
    n = tonumber(sale.q)
  end
  redis.call('HINCRBY', K_META, 'sold', n)
  if sale.e and sale.e ~= '' then
    redis.call('HINCRBY', K_BOUGHT, sale.e, sale.q)
  end
  redis.call('HSET', K_SOLD_ORDERS, order_id, cjson.encode({sec = sale.sec, q = sale.q}))
end
