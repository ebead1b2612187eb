-- admit: advance the serving number. Any process may call it at any time: the
-- budget is rate per minute times the time since the last advance (Redis'
-- own clock), capped by the free shopper slots, so calling it twice admits
-- nobody extra. The same maths is onsale.queue.policy.advance.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: none (the rate and limits are in the queue hash)
-- Returns {admitted now, serving, next, active shoppers}.

if redis.call('HGET', K_QUEUE, 'drawn') ~= '1' then return {0, 0, qget('next'), 0} end
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', K_ACTIVE, '-inf', now)

local rate, max_active = qget('rate'), qget('max_active')
local serving, next_no = qget('serving'), qget('next')
local last = tonumber(redis.call('HGET', K_QUEUE, 'last_ms') or now)
local elapsed = math.max(now - last, 0)
local carry = tonumber(redis.call('HGET', K_QUEUE, 'carry') or '0')

local budget = carry + rate * elapsed / 60000
local free = math.max(max_active - redis.call('ZCARD', K_ACTIVE), 0)
local n = math.min(math.floor(budget), free, next_no - serving)
-- Unused budget is kept for at most one second's worth of admissions, so an
-- idle queue does not bank a burst.
local cap = math.max(1, rate / 60)
carry = math.min(budget - n, cap)

local expires = now + qget('session_ms')
for no = serving + 1, serving + n do
  local entry = redis.call('HGET', K_NUMBERS, no)
  if entry then redis.call('ZADD', K_ACTIVE, expires, entry) end
end
serving = serving + n
redis.call('HSET', K_QUEUE, 'serving', serving, 'last_ms', now, 'carry', tostring(carry))
return {n, serving, next_no, redis.call('ZCARD', K_ACTIVE)}
