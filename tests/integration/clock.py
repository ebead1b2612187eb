"""Time passing for one event without waiting for it: every time its scripts
compare with Redis' clock (session and hold expiries, when fans and shoppers
were last seen, the last admission step) moves back by the same amount, as
if that much time had passed. Redis' own clock cannot be faked; the stored
times can, the way the queue script tests move ``last_ms``.
"""

from __future__ import annotations

import redis.asyncio as aredis

from onsale.keys import EventKeys

_SHIFT = """
local ms = tonumber(ARGV[1])
for i = 1, #KEYS - 1 do
  local all = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
  for j = 1, #all, 2 do
    redis.call('ZADD', KEYS[i], string.format('%d', tonumber(all[j + 1]) - ms), all[j])
  end
end
local q = KEYS[#KEYS]
for _, field in ipairs({'last_ms', 'restored_ms'}) do
  local v = redis.call('HGET', q, field)
  if v then redis.call('HSET', q, field, string.format('%d', tonumber(v) - ms)) end
end
return 1
"""


async def pass_time(client: aredis.Redis, keys: EventKeys, ms: int) -> None:
    """As if ``ms`` milliseconds passed for the event of ``keys``."""
    zsets = [keys.active, keys.present, keys.away, keys.seen, keys.expiries]
    await client.eval(_SHIFT, len(zsets) + 1, *zsets, keys.queue, ms)  # type: ignore[misc]
