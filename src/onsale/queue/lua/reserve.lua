-- reserve: numbers up to ARGV[1] are reserved in Postgres; joins may give
-- them out. Only ever raises the mark.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 highest reserved number
-- Returns {"ok", the mark now}.

if lost() then return {'ok', 0} end  -- the restore reads the reservation
local upto = math.max(qget('durable'), tonumber(ARGV[1]))
redis.call('HSET', K_QUEUE, 'durable', upto)
return {'ok', upto}
