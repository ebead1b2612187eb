-- snapshot: the queue state of one event, read once per tick by each process
-- to push every fan connected to it their standing; also marks those fans
-- present. One round trip per event per process per tick, whatever the fans.
--
-- After Redis lost its data, the touched entries it forgot get back the
-- number their ids carry (or the pre-queue): fans whose socket stayed open
-- keep their place.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 JSON list of entries to mark present now (may be empty)
-- Returns {"lost"} (restore the counters first) or {serving, next, drawn 0|1,
--          active shoppers, capacity, sold, held, abandoned (skipped so far),
--          now ms, rate per minute, paid orders, pre-queue size, when the
--          earliest hold runs out (ms, 0 when nothing is held)}

if lost() then return {'lost'} end
local now = now_ms()
local touch = cjson.decode(ARGV[1])
-- Only in the minute after a restore (a socket's presence comes every 5 s):
-- the lookups cost nothing the rest of the time.
if #touch > 0 and now - qget('restored_ms') < 60000 then
  for _, entry in ipairs(touch) do
    if redis.call('HEXISTS', K_ENTRIES, entry) == 0 then reinsert(entry, now) end
  end
end
for i = 1, #touch, 500 do
  local args = {}
  for j = i, math.min(i + 499, #touch) do
    args[#args + 1] = now
    args[#args + 1] = touch[j]
  end
  redis.call('ZADD', K_SEEN, unpack(args))
end
return {qget('serving'), qget('next'), redis.call('HGET', K_QUEUE, 'drawn') == '1' and 1 or 0,
        redis.call('ZCOUNT', K_ACTIVE, now, '+inf'), mget(K_META, 'capacity'),
        mget(K_META, 'sold'), mget(K_META, 'held'), qget('abandoned'), now, qget('rate'),
        redis.call('HLEN', K_SOLD_ORDERS), redis.call('SCARD', K_PREQUEUE), next_release()}
