-- refund: an order's places go back on sale. Idempotent, keyed by order id.
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: 1 order_id, 2 sale JSON {"sec", "seats", "q"} of the refunded tickets
-- Returns {"ok", "refunded"} or {"ok", "already"}. The order leaves sold_orders
-- and enters refunded, so a late commit-sold of it changes nothing.

local order_id = ARGV[1]
if redis.call('SISMEMBER', K_REFUNDED, order_id) == 1 then return {'ok', 'already'} end
local sale = cjson.decode(ARGV[2])
local mark = 'S:' .. order_id
local n = 0
for _, s in ipairs(sale.seats) do
  if redis.call('HGET', K_SEATS, s) == mark then
    redis.call('HSET', K_SEATS, s, 'F')
    n = n + 1
  end
end
if #sale.seats == 0 and redis.call('HEXISTS', K_SOLD_ORDERS, order_id) == 1 then
  redis.call('HINCRBY', K_GA, sale.sec .. ':sold', -sale.q)
  n = tonumber(sale.q)
end
if n > 0 then redis.call('HINCRBY', K_META, 'sold', -n) end
redis.call('SADD', K_REFUNDED, order_id)
redis.call('HDEL', K_SOLD_ORDERS, order_id)
return {'ok', 'refunded'}
