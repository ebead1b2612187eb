-- leave: an admitted fan is done shopping; the slot frees for the next fan.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry
-- Returns {"ok", 1 if a slot was freed else 0}.

local entry = ARGV[1]
redis.call('ZREM', K_PRESENT, entry)
redis.call('ZREM', K_AWAY, entry)
return {'ok', redis.call('ZREM', K_ACTIVE, entry)}
