-- release: the holder gives its hold back; the places are on sale at once.
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: 1 hold_id, 2 entry (the holder; "" skips the owner check: box office)
-- Returns {"ok", places freed} or {"err", code}: not_found, forbidden,
-- checkout_in_progress. Releasing twice answers not_found the second time.

local hold_id, entry = ARGV[1], ARGV[2]
reclaim(now_ms())
local h = load_hold(hold_id)
if not h then return err('not_found') end
if entry ~= '' and h.e ~= entry then return err('forbidden') end
if h.st == 'checkout' then return err('checkout_in_progress') end
return {'ok', free_hold(hold_id)}
