-- abort_checkout: the payment failed; the hold goes back to "held" with its
-- own expiry (it stays until it expires, and may be paid again until then),
-- and the attempt's claim ends. A declined payment counts towards the limit
-- of declines on one hold (begin_checkout).
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: 1 hold_id, 2 "1" when the payment was declined (else "0" or absent)
-- Returns {"ok", hold JSON} or {"err", "hold_expired"}.

local now = now_ms()
local h = load_hold(ARGV[1])
if not h then return err('hold_expired') end
h.st = 'held'
h.x = h.hx
h.ck = ''
h.cx = 0
if ARGV[2] == '1' then h.d = tonumber(h.d or 0) + 1 end
save_hold(h)
reclaim(now)
if not load_hold(ARGV[1]) then return err('hold_expired') end
return {'ok', encode_hold(h)}
