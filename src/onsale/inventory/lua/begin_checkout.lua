-- begin_checkout: checkout step 1. The hold moves to "checkout" and lives
-- until now + grace, so it cannot expire while the payment runs. Safe to run
-- again (a retried checkout extends the grace again).
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: 1 hold_id, 2 entry ("" skips the owner check), 3 grace in ms
-- Returns {"ok", hold JSON} or {"err", code}: not_ready, hold_expired, forbidden.

local hold_id, entry, grace = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HGET', K_META, 'ready') ~= '1' then return err('not_ready') end
local now = now_ms()
reclaim(now)
local h = load_hold(hold_id)
if not h then return err('hold_expired') end
if entry ~= '' and h.e ~= entry then return err('forbidden') end
h.st = 'checkout'
-- Extend, never shorten: the hold keeps at least its own expiry (shown to the fan).
h.x = math.max(tonumber(h.hx), now + grace)
save_hold(h)
return {'ok', encode_hold(h)}
