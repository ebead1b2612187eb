-- refund: an order's places go back on sale. Idempotent, keyed by order id.
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: 1 order_id, 2 sale JSON {"sec", "seats", "q", "e"} of the refunded tickets
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
local committed = redis.call('HEXISTS', K_SOLD_ORDERS, order_id) == 1
if #sale.seats == 0 and committed and tonumber(sale.q) > 0 then
  n = tonumber(sale.q)
  redis.call('HINCRBY', K_GA, sale.sec .. ':sold', -n)
end
if n > 0 then redis.call('HINCRBY', K_META, 'sold', -n) end
-- Its tickets no longer count toward the buyer's limit (Postgres counts live
-- tickets only); commit-sold (or the rebuild) counted them only if it ran.
if committed and sale.e and sale.e ~= '' and tonumber(sale.q) > 0 then
  redis.call('HINCRBY', K_BOUGHT, sale.e, -tonumber(sale.q))
end
redis.call('SADD', K_REFUNDED, order_id)
redis.call('HDEL', K_SOLD_ORDERS, order_id)
return {'ok', 'refunded'}
