-- restore: put back the counters of a queue whose Redis data was lost, from
-- Postgres (onsale.queue.repo.Places), or mark a new queue ready. Runs once:
-- a second call, from this or another process, changes nothing, unless
-- forced (Redis came back older than Postgres: a failover to a replica that
-- lagged, a restart from an old snapshot). Numbers are only ever raised.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 serving number saved, 2 numbers reserved (no number above it was
--       given out; the drawn pre-queue's size at least), 3 drawn 0|1,
--       4 durable places 0|1, 5 how long admission waits for a forgotten
--       number (ms), 6 after a loss 0|1 (Postgres had counters), 7 force 0|1
-- Returns {"ok", "restored"|"already"} or {"err", "not_configured"}.

local force = ARGV[7] == '1'
if not force and redis.call('HGET', K_QUEUE, 'restored') == '1' then return {'ok', 'already'} end
if redis.call('HEXISTS', K_QUEUE, 'opens_ms') == 0 then return {'err', 'not_configured'} end
local now = now_ms()
local serving = math.max(qget('serving'), tonumber(ARGV[1]))
local reserved = tonumber(ARGV[2])
-- Fans admitted in the last two seconds may not have been told yet.
local band = math.ceil(qget('rate') / 30)
redis.call('HSET', K_QUEUE, 'serving', serving, 'next', math.max(qget('next'), reserved, serving),
           'durable', math.max(qget('durable'), reserved), 'lost_serving', serving,
           'band_from', math.max(serving - band, 0), 'restored_ms', now, 'places', ARGV[4],
           'return_ms', ARGV[5], 'after_loss', (force and '1' or ARGV[6]))
if ARGV[3] == '1' and redis.call('HGET', K_QUEUE, 'drawn') ~= '1' then
  redis.call('HSET', K_QUEUE, 'drawn', '1', 'last_ms', now, 'carry', 0)
  redis.call('DEL', K_PREQUEUE)
end
redis.call('HSET', K_QUEUE, 'restored', '1')
return {'ok', 'restored'}
