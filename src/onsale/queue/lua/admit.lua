-- admit: advance the serving number. Any process may call it at any time: the
-- budget is rate per minute times the time since the last advance (Redis'
-- own clock), capped by the free shopper slots and by the stock not already
-- in someone's hands, so calling it twice admits nobody extra. The same maths
-- is onsale.queue.policy.advance.
--
-- Fans away longer than the grace period (not seen by a websocket tick, a
-- status poll or a join) are skipped: they take no slot and no budget, so
-- admission never stalls on people who left. At most 1000 are skipped a call.
--
-- After Redis lost its data, a number whose fan has not come back yet (their
-- token re-inserts them) is waited for during return_ms from the restore,
-- then passed like an absent fan's (at most 5000 a call): admission never
-- hands a place to nobody, and never stalls for long.
--
-- The budget counts at most MAX_GAP_MS since the last advance.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: none (the rate and limits are in the queue hash)
-- Returns {admitted now, serving, next, active shoppers, skipped now}, or
-- {"lost"} (restore the counters first).

local MAX_GAP_MS = 5000

if lost() then return {'lost'} end
if redis.call('HGET', K_QUEUE, 'drawn') ~= '1' then return {0, 0, qget('next'), 0, 0} end
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', K_ACTIVE, '-inf', now)

local rate, max_active = qget('rate'), qget('max_active')
local serving, next_no = qget('serving'), qget('next')
local last = tonumber(redis.call('HGET', K_QUEUE, 'last_ms') or now)
-- At most MAX_GAP_MS of budget after a pause (no process ran the step: a
-- restart, Redis stalled, Postgres away): the rate stays a rate, not a burst.
local elapsed = math.min(math.max(now - last, 0), MAX_GAP_MS)
local carry = tonumber(redis.call('HGET', K_QUEUE, 'carry') or '0')

local budget = carry + rate * elapsed / 60000
local active = redis.call('ZCARD', K_ACTIVE)
local limit = math.min(math.floor(budget), math.max(max_active - active, 0))
-- Inventory-aware: admit no more fans than there are places not already held
-- or in the hands of a shopper who has not held yet.
local capacity = mget(K_META, 'capacity')
if capacity > 0 then
  local stock = capacity - mget(K_META, 'sold') - mget(K_META, 'held')
  local idle = math.max(active - redis.call('HLEN', K_BY_ENTRY), 0)
  limit = math.min(limit, math.max(stock - idle, 0))
end

local grace = qget('grace_ms')
local cutoff = now - grace
local expires = now + qget('session_ms')
local admitted, skipped, passed = 0, 0, 0
local places = redis.call('HGET', K_QUEUE, 'places') == '1'
local returning = now < qget('restored_ms') + qget('return_ms')
while serving < next_no and skipped < 1000 and passed < 5000 do
  local entry = redis.call('HGET', K_NUMBERS, serving + 1)
  local seen = entry and tonumber(redis.call('ZSCORE', K_SEEN, entry) or now) or now
  if places and not entry and returning then
    break
  elseif places and not entry then
    -- Not counted as abandoned: most such numbers were reserved, never given.
    passed = passed + 1
  elseif entry and grace > 0 and seen < cutoff then
    redis.call('SADD', K_SKIPPED, entry)
    skipped = skipped + 1
  elseif admitted < limit then
    if entry then redis.call('ZADD', K_ACTIVE, expires, entry) end
    admitted = admitted + 1
  else
    break
  end
  serving = serving + 1
end

-- Unused budget is kept for at most one second's worth of admissions, so an
-- idle queue does not bank a burst.
carry = math.min(budget - admitted, math.max(1, rate / 60))
redis.call('HSET', K_QUEUE, 'serving', serving, 'last_ms', now, 'carry', tostring(carry))
if skipped > 0 then redis.call('HINCRBY', K_QUEUE, 'abandoned', skipped) end
return {admitted, serving, next_no, redis.call('ZCARD', K_ACTIVE), skipped}
