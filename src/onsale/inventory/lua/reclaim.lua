-- reclaim: free every hold whose time is up (up to 200 a call). Scripts do it
-- lazily anyway; the admission tick calls this once a second per event so
-- that the counts the queue reads (stock not held) are fresh, and admission
-- resumes as soon as holds expire.
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV: none
-- Returns {"ok", holds freed}.

return {'ok', reclaim(now_ms())}
