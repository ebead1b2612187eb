-- abort_checkout: the payment failed; the hold goes back to "held" with its
-- own expiry (it stays until it expires, and may be paid again until then).
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: 1 hold_id
-- Returns {"ok", hold JSON} or {"err", "hold_expired"}.

local now = now_ms()
local h = load_hold(ARGV[1])
if not h then return err('hold_expired') end
h.st = 'held'
h.x = h.hx
save_hold(h)
reclaim(now)
if not load_hold(ARGV[1]) then return err('hold_expired') end
return {'ok', encode_hold(h)}
