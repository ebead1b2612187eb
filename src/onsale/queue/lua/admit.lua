-- admit: advance the serving number. Any process may call it at any time: the
-- budget is rate per minute times the time since the last advance (Redis'
-- own clock), capped by the free shopper slots and by the stock not already
-- in someone's hands, so calling it twice admits nobody extra. This script is
-- the one place the admission rate is computed.
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
-- Shopper presence (ARGV[1] = "1"): an admitted shopper unseen for longer
-- than shopper_grace_ms (their page's heartbeat, a status poll, a hold) who
-- holds nothing is parked as gone: their slot frees and they stop counting
-- against the stock at once. Their session is kept aside (the away set): one
-- who comes back while it lasts gets it again (come_back in _lib.lua). A
-- holder counts whatever their presence; their presence clock restarts, so
-- that once their hold ends (expired, released) they too are parked after a
-- grace unseen. At most 500 shoppers are looked at a call. ARGV[1] = "0"
-- keeps every admitted fan a shopper until their session ends (the negative
-- control of the stall tests).
--
-- Stall accounting: a step where places are free, fans wait at the head of
-- the queue and the caps (slots, stock) let nobody in adds the time since
-- the last step to stall_ms and to the stall under way (stall_run_ms);
-- pacing by the rate is not a stall. Running twice adds nothing more.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 "1" shopper presence on, "0" off (the rate and limits are in the
--       queue hash)
-- Returns {admitted now, serving, next, active shoppers, skipped now, parked
-- now, the stall under way (ms)}, or {"lost"} (restore the counters first).

local MAX_GAP_MS = 5000

if lost() then return {'lost'} end
if redis.call('HGET', K_QUEUE, 'drawn') ~= '1' then return {0, 0, qget('next'), 0, 0} end
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', K_ACTIVE, '-inf', now)
redis.call('ZREMRANGEBYSCORE', K_AWAY, '-inf', now)
local presence = ARGV[1] == '1'

local parked = 0
local shopper_grace = qget('shopper_grace_ms')
if presence and shopper_grace > 0 then
  local unseen = redis.call('ZRANGEBYSCORE', K_PRESENT, '-inf', now - shopper_grace, 'LIMIT', 0, 500)
  for _, entry in ipairs(unseen) do
    local session = redis.call('ZSCORE', K_ACTIVE, entry)
    if not session then
      redis.call('ZREM', K_PRESENT, entry)  -- bought, left, or the session ended
    elseif redis.call('HEXISTS', K_BY_ENTRY, entry) == 1 then
      redis.call('ZADD', K_PRESENT, now, entry)
    else
      redis.call('ZREM', K_ACTIVE, entry)
      redis.call('ZREM', K_PRESENT, entry)
      redis.call('ZADD', K_AWAY, session, entry)
      parked = parked + 1
    end
  end
end

local rate, max_active = qget('rate'), qget('max_active')
local serving, next_no = qget('serving'), qget('next')
local last = tonumber(redis.call('HGET', K_QUEUE, 'last_ms') or now)
-- At most MAX_GAP_MS of budget after a pause (no process ran the step: a
-- restart, Redis stalled, Postgres away): the rate stays a rate, not a burst.
local elapsed = math.min(math.max(now - last, 0), MAX_GAP_MS)
local carry = tonumber(redis.call('HGET', K_QUEUE, 'carry') or '0')

local budget = carry + rate * elapsed / 60000
local active = redis.call('ZCARD', K_ACTIVE)
local cap = math.max(max_active - active, 0)
-- Inventory-aware: admit no more fans than there are places not already held
-- or in the hands of a shopper who has not held yet (with presence on, only
-- shoppers seen within the grace are still shoppers).
local capacity = mget(K_META, 'capacity')
local free = 0
if capacity > 0 then
  free = capacity - mget(K_META, 'sold') - mget(K_META, 'held')
  local idle = math.max(active - redis.call('HLEN', K_BY_ENTRY), 0)
  cap = math.min(cap, math.max(free - idle, 0))
end
local limit = math.min(math.floor(budget), cap)

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
    if entry then
      redis.call('ZADD', K_ACTIVE, expires, entry)
      -- The grace of a new shopper starts at admission.
      if presence then redis.call('ZADD', K_PRESENT, now, entry) end
    end
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
if parked > 0 then redis.call('HINCRBY', K_QUEUE, 'parked', parked) end

local run = 0
if free > 0 and serving < next_no and admitted == 0 and cap == 0 then
  run = qget('stall_run_ms') + elapsed
  redis.call('HINCRBY', K_QUEUE, 'stall_ms', elapsed)
  if run > qget('stall_longest_ms') then redis.call('HSET', K_QUEUE, 'stall_longest_ms', run) end
end
redis.call('HSET', K_QUEUE, 'stall_run_ms', run)
return {admitted, serving, next_no, redis.call('ZCARD', K_ACTIVE), skipped, parked, run}
