-- regrant: a fan admitted in the last two seconds before Redis lost its data
-- may never have been told (the push or poll that would have told them came
-- after the loss, which took their session): they get a session now, once.
-- A fan who was told brings their session back with their access token.
--
-- KEYS: the queue keys (see _lib.lua).
-- ARGV: 1 entry
-- Returns {"ok", session expiry ms, or 0 when not granted}.

if lost() then return {'lost'} end
local entry = ARGV[1]
local now = now_ms()
local number = tonumber(redis.call('HGET', K_ENTRIES, entry) or '-1')
if redis.call('HGET', K_QUEUE, 'after_loss') ~= '1' or number <= qget('band_from')
    or number > qget('lost_serving') then
  return {'ok', 0}
end
if tonumber(redis.call('ZSCORE', K_ACTIVE, entry) or '0') > now
    or redis.call('SISMEMBER', K_SKIPPED, entry) == 1
    or redis.call('SADD', K_REGRANTED, entry) == 0 then
  return {'ok', 0}
end
local expires = now + qget('session_ms')
redis.call('ZADD', K_ACTIVE, expires, entry)
redis.call('ZADD', K_PRESENT, now, entry)
return {'ok', expires}
