-- restore_draw: put back one chunk of the drawn pre-queue (numbers offset+1...)
-- from the order Postgres keeps, before the counters are restored. Safe to
-- run twice and from two processes at once: a chunk is written only where
-- the drawn list ends, and nothing once the queue is restored (unless forced:
-- Redis came back older than Postgres).
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 offset (entries before this chunk), 2 JSON list of entries, 3 force 0|1
-- Returns {"ok", entries written}.

if ARGV[3] ~= '1' and redis.call('HGET', K_QUEUE, 'restored') == '1' then return {'ok', 0} end
local offset = tonumber(ARGV[1])
if redis.call('LLEN', K_DRAW_ORDER) ~= offset then return {'ok', 0} end
local now = now_ms()
local chunk = cjson.decode(ARGV[2])
for i, entry in ipairs(chunk) do
  redis.call('HSET', K_ENTRIES, entry, offset + i)
  redis.call('HSET', K_NUMBERS, offset + i, entry)
  redis.call('RPUSH', K_DRAW_ORDER, entry)
  -- Counted present from now: one who does not come back is skipped after
  -- the grace, like any absent fan.
  redis.call('ZADD', K_SEEN, 'NX', now, entry)
end
return {'ok', #chunk}
