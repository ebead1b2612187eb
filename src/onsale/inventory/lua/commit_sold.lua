-- commit_sold: checkout step 4. Marks what a paid order bought as sold, ends
-- its hold and frees the buyer's shopper slot. Idempotent, keyed by order id:
-- the reconciler replays it for any paid order Redis does not show as sold.
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: 1 order_id, 2 hold_id ("" when none), 3 sale JSON
--       {"sec": section, "seats": [...], "q": places, "e": queue entry or ""}
--       taken from the order in Postgres, which is the truth.
-- Returns {"ok", "sold"} or {"ok", "already"}.

local order_id, hold_id = ARGV[1], ARGV[2]
if redis.call('HEXISTS', K_SOLD_ORDERS, order_id) == 1
   or redis.call('SISMEMBER', K_REFUNDED, order_id) == 1 then
  return {'ok', 'already'}
end
local sale = cjson.decode(ARGV[3])
reclaim(now_ms())
if hold_id ~= '' then free_hold(hold_id) end
mark_sold(order_id, sale)
if sale.e ~= '' then
  redis.call('ZREM', K_ACTIVE, sale.e)
  redis.call('ZREM', K_PRESENT, sale.e)
  redis.call('ZREM', K_AWAY, sale.e)
end
return {'ok', 'sold'}
