-- begin_checkout: checkout step 1. The hold moves to "checkout" and lives
-- until now + grace, so it cannot expire while the payment runs. One attempt
-- at a time: the claim names the attempt (its idempotency key), and another
-- attempt is refused until the first ends (abort, order) or its claim lapses
-- (now + grace), so two parallel checkouts of one hold never both reach the
-- payment provider. The same attempt may run it again (a retry extends the
-- grace again).
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: 1 hold_id, 2 entry ("" skips the owner check), 3 grace in ms,
--       4 claim (the attempt's name; "" claims nothing: the box office),
--       5 most declined payments allowed on one hold (0: no limit)
-- Returns {"ok", hold JSON} or {"err", code, detail}: not_ready, not_found
-- (no such hold ever, as far as the last day goes), hold_expired (it ended),
-- forbidden, checkout_in_progress, rate_limited ({"retry_after": s}).

local hold_id, entry, grace = ARGV[1], ARGV[2], tonumber(ARGV[3])
local claim, max_declines = ARGV[4] or '', tonumber(ARGV[5] or '0')
if redis.call('HGET', K_META, 'ready') ~= '1' then return err('not_ready') end
local now = now_ms()
reclaim(now)
local h = load_hold(hold_id)
if not h then
  if redis.call('ZSCORE', K_ENDED, hold_id) then return err('hold_expired') end
  -- Rebuilt after Redis lost its data mid-sale: the holds of before are
  -- forgotten, and any of them may be the one asked for.
  local rebuilt = tonumber(redis.call('HGET', K_META, 'rebuilt_ms') or '0')
  if now - rebuilt < ENDED_KEEP_MS then return err('hold_expired') end
  return err('not_found')
end
if entry ~= '' and h.e ~= entry then return err('forbidden') end
if claim ~= '' and h.st == 'checkout' and h.ck and h.ck ~= '' and h.ck ~= claim
   and tonumber(h.cx or 0) > now then
  return err('checkout_in_progress')
end
if max_declines > 0 and tonumber(h.d or 0) >= max_declines then
  local wait = math.max(1, math.ceil((tonumber(h.hx) - now) / 1000))
  return err('rate_limited', cjson.encode({retry_after = wait, reason = 'too_many_declines',
    message = 'Too many declined payments for this hold'}))
end
h.st = 'checkout'
h.ck = claim
h.cx = now + grace
-- Extend, never shorten: the hold keeps at least its own expiry (shown to the fan).
h.x = math.max(tonumber(h.hx), now + grace)
save_hold(h)
return {'ok', encode_hold(h)}
