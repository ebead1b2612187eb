-- draw: number the pre-queue in the order drawn by the caller (a
-- cryptographically random shuffle made in Python with `secrets`; Lua's
-- math.random is seeded deterministically). Runs once: a second call, from
-- this or another process, changes nothing. Until it has run, nobody who
-- arrives after the opening gets a number, so every pre-queue fan is ahead of
-- every later one (I5).
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 JSON list of every pre-queue entry, in drawn order
-- Returns {"ok", "drawn"|"already"}, {"lost"} (restore the counters first) or
-- {"err", "early"|"stale"}: stale means the list is not exactly the pre-queue
-- (someone joined meanwhile): draw again.

if lost() then return {'lost'} end
if redis.call('HGET', K_QUEUE, 'drawn') == '1' then return {'ok', 'already'} end
local now = now_ms()
if now < qget('opens_ms') then return {'err', 'early'} end
local order = cjson.decode(ARGV[1])
if #order ~= redis.call('SCARD', K_PREQUEUE) then return {'err', 'stale'} end
local seen = {}
for _, entry in ipairs(order) do
  -- A repeated entry would take two numbers and leave another one unnumbered.
  if seen[entry] or redis.call('SISMEMBER', K_PREQUEUE, entry) == 0 then
    return {'err', 'stale'}
  end
  seen[entry] = true
end
for _, entry in ipairs(order) do
  local n = redis.call('HINCRBY', K_QUEUE, 'next', 1)
  redis.call('HSET', K_ENTRIES, entry, n)
  redis.call('HSET', K_NUMBERS, n, entry)
  redis.call('RPUSH', K_DRAW_ORDER, entry)
end
redis.call('DEL', K_PREQUEUE)
redis.call('HSET', K_QUEUE, 'drawn', '1', 'last_ms', now, 'carry', 0)
return {'ok', 'drawn'}
