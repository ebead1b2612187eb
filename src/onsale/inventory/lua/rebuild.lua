-- rebuild: (re)creates an event's inventory from Postgres, the durable truth,
-- and only then marks it ready: holds are refused until it has run (I7).
-- Merges with what is there: a seat already sold stays sold, counts are
-- recomputed from the seats themselves. Also applies changed limits.
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: 1 config JSON {"per_order", "per_entry", "hold_ms",
--         "sections": [{"code", "kind", "capacity", "rows": [{"row", "seats"}]}]}
--       2 sold JSON [{"id": order_id, "sec", "seats", "q", "e"}] of live orders
-- Returns {"ok", "built"|"configured"}: "configured" when it was ready already
-- (then only limits and capacities change).

local config = cjson.decode(ARGV[1])
local was_ready = redis.call('HGET', K_META, 'ready') == '1'
redis.call('HSET', K_META, 'per_order', config.per_order, 'per_entry', config.per_entry,
           'hold_ms', config.hold_ms)

local capacity = 0
for _, sec in ipairs(config.sections) do
  capacity = capacity + sec.capacity
  if sec.kind == 'seated' then
    redis.call('HSET', K_LAYOUT, sec.code, cjson.encode(sec.rows))
    for _, r in ipairs(sec.rows) do
      for n = 1, r.seats do
        redis.call('HSETNX', K_SEATS, sec.code .. '-' .. r.row .. '-' .. n, 'F')
      end
    end
  else
    redis.call('HSET', K_GA, sec.code .. ':cap', sec.capacity)
    redis.call('HSETNX', K_GA, sec.code .. ':held', 0)
    redis.call('HSETNX', K_GA, sec.code .. ':sold', 0)
  end
end
redis.call('HSET', K_META, 'capacity', capacity)
if was_ready then return {'ok', 'configured'} end

local sold_orders = cjson.decode(ARGV[2])
-- Built again mid-sale (Redis lost its data): the holds of before are gone
-- unrecorded; begin_checkout answers hold_expired, not not_found, for a day.
if #sold_orders > 0 then redis.call('HSET', K_META, 'rebuilt_ms', now_ms()) end
for _, sale in ipairs(sold_orders) do
  if redis.call('HEXISTS', K_SOLD_ORDERS, sale.id) == 0 then mark_sold(sale.id, sale) end
end

-- Recount from the seats and GA counters so that the totals are exact.
local held, sold = 0, 0
local all = redis.call('HVALS', K_SEATS)
for _, v in ipairs(all) do
  local tag = string.sub(v, 1, 2)
  if tag == 'H:' then held = held + 1 elseif tag == 'S:' then sold = sold + 1 end
end
for _, sec in ipairs(config.sections) do
  if sec.kind ~= 'seated' then
    held = held + tonumber(redis.call('HGET', K_GA, sec.code .. ':held'))
    sold = sold + tonumber(redis.call('HGET', K_GA, sec.code .. ':sold'))
  end
end
redis.call('HSET', K_META, 'held', held, 'sold', sold, 'ready', '1')
return {'ok', 'built'}
