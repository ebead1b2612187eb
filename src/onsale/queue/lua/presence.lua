-- presence: an admitted shopper's page says they are still there (its
-- heartbeat, every few seconds while the page is open, hidden or not). One
-- parked as gone (unseen past the shopper grace, holding nothing) gets their
-- session back while it lasts, and counts as a shopper again.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry
-- Returns {"ok", session expiry ms, or 0 when the entry has no session} or
-- {"lost"} (restore the counters first).

if lost() then return {'lost'} end
local entry = ARGV[1]
local now = now_ms()
local session = tonumber(redis.call('ZSCORE', K_ACTIVE, entry) or '0')
if session <= now then session = come_back(entry, now) end
if session <= now then return {'ok', 0} end
redis.call('ZADD', K_PRESENT, now, entry)
return {'ok', session}
