-- leave: an admitted fan is done shopping; the slot frees for the next fan.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry
-- Returns {"ok", 1 if a slot was freed else 0}.

return {'ok', redis.call('ZREM', K_ACTIVE, ARGV[1])}
