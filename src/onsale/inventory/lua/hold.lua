-- hold: take chosen seats, a GA quantity, or the best available block, all or
-- nothing, for one queue entry (or the box office).
--
-- KEYS: the inventory keys (see _lib.lua).
-- ARGV:
--   1 hold_id      id of the new hold
--   2 entry        queue entry holding it; "" for the box office
--   3 mode         "seats" | "ga" | "best"
--   4 section      section code
--   5 quantity     places asked for
--   6 boxoffice    "1": no shopper session, no per-order or per-entry limit
--   7...           the seat ids (mode "seats")
-- Returns {"ok", expiry ms, seat ids...} (the caller knows the rest of the
-- hold) or {"err", code, detail JSON}:
--   not_ready (inventory not built), forbidden (no live shopping session,
--   neither active nor parked as gone),
--   checkout_in_progress, limit_exceeded, seats_unavailable (detail: the seats).
-- The entry's previous hold, if any, is replaced only when the new one succeeds;
-- its own places count as available to it. A GA hold replaced by one of the
-- same section is replaced in place: only the difference in places moves.
-- Every hold on a hot sale runs this, so it reads each hash once (HMGET).

local hold_id, entry, mode, section = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local quantity = tonumber(ARGV[5])
local boxoffice = ARGV[6] == '1'

local meta = redis.call('HMGET', K_META, 'ready', 'per_order', 'per_entry', 'hold_ms')
if meta[1] ~= '1' then return err('not_ready') end
local now = now_ms()
reclaim(now)

if not boxoffice then
  local session = tonumber(redis.call('ZSCORE', K_ACTIVE, entry) or '0')
  if session <= now then
    -- Parked as gone (unseen, holding nothing) but back while the session
    -- lasts: a shopper again, who may hold while places remain.
    session = tonumber(redis.call('ZSCORE', K_AWAY, entry) or '0')
    if session <= now then return err('forbidden', 'no live shopping session') end
    redis.call('ZREM', K_AWAY, entry)
    redis.call('ZADD', K_ACTIVE, session, entry)
  end
  redis.call('ZADD', K_PRESENT, now, entry)
end

local old_id = false
local old = nil
if entry ~= '' then
  old_id = redis.call('HGET', K_BY_ENTRY, entry)
  if old_id then
    old = load_hold(old_id)
    if old and old.st == 'checkout' then return err('checkout_in_progress') end
  end
end

if not boxoffice then
  local per_order = tonumber(meta[2] or '0')
  local per_entry = tonumber(meta[3] or '0')
  local bought = tonumber(redis.call('HGET', K_BOUGHT, entry) or '0')
  if quantity > per_order then return err('limit_exceeded', cjson.encode({per_order = per_order})) end
  if bought + quantity > per_entry then
    return err('limit_exceeded', cjson.encode({per_entry = per_entry, bought = bought}))
  end
end

local mine = 'H:' .. tostring(old_id)
local function usable(state)
  return state == 'F' or (old_id and state == mine)
end

-- Best available: rows front to back; in a row, blocks of adjacent usable
-- seats; prefer a placement that leaves no lone empty seat, then the one
-- nearest the row's middle. The reference model is
-- onsale.inventory.policy.best_available; a test checks both agree.
local function best_block(rows)
  local fallback = nil
  for _, r in ipairs(rows) do
    local ids = {}
    for n = 1, r.seats do ids[n] = section .. '-' .. r.row .. '-' .. n end
    local states = redis.call('HMGET', K_SEATS, unpack(ids))
    local best, best_dist, row_fallback, fb_dist = nil, nil, nil, nil
    local n = 1
    while n <= r.seats do
      if usable(states[n]) then
        local run_start = n
        while n <= r.seats and usable(states[n]) do n = n + 1 end
        local run_len = n - run_start
        for off = 0, run_len - quantity do
          local left, right = off, run_len - quantity - off
          local start = run_start + off
          local dist = math.abs(2 * start + quantity - 1 - (r.seats + 1))
          if left ~= 1 and right ~= 1 then
            if best == nil or dist < best_dist then best, best_dist = start, dist end
          elseif row_fallback == nil or dist < fb_dist then
            row_fallback, fb_dist = start, dist
          end
        end
      else
        n = n + 1
      end
    end
    if best then
      local out = {}
      for i = 0, quantity - 1 do out[#out + 1] = ids[best + i] end
      return out
    end
    if row_fallback and not fallback then
      fallback = {}
      for i = 0, quantity - 1 do fallback[#fallback + 1] = ids[row_fallback + i] end
    end
  end
  return fallback
end

local seats = {}
-- the old hold is a GA hold of this very section: replace it in place
local same_ga = mode == 'ga' and old and #old.seats == 0 and old.sec == section
if mode == 'seats' then
  for i = 7, #ARGV do seats[#seats + 1] = ARGV[i] end
  local unavailable = {}
  local states = redis.call('HMGET', K_SEATS, unpack(seats))
  for i, s in ipairs(seats) do
    if not usable(states[i]) then unavailable[#unavailable + 1] = s end
  end
  if #unavailable > 0 then return err('seats_unavailable', cjson.encode(unavailable)) end
elseif mode == 'best' then
  local layout = redis.call('HGET', K_LAYOUT, section)
  if not layout then return err('seats_unavailable', '[]') end
  seats = best_block(cjson.decode(layout))
  if not seats then return err('seats_unavailable', '[]') end
else
  local ga = redis.call('HMGET', K_GA, section .. ':cap', section .. ':held', section .. ':sold')
  local available = tonumber(ga[1] or '0') - tonumber(ga[2] or '0') - tonumber(ga[3] or '0')
  if same_ga then available = available + tonumber(old.q) end
  if available < quantity then
    return err('seats_unavailable', cjson.encode({available = available}))
  end
end

if same_ga then
  local delta = quantity - tonumber(old.q)
  -- (never HINCRBY by 0 either way: Lua may print it as "-0", not an integer)
  if delta ~= 0 then
    redis.call('HINCRBY', K_GA, section .. ':held', delta)
    redis.call('HINCRBY', K_META, 'held', delta)
  end
  redis.call('ZREM', K_EXPIRIES, old_id)
  redis.call('HDEL', K_HOLDS, old_id)
else
  if old then
    free_record(old_id, old)
  elseif old_id then
    free_hold(old_id)
  end
  local mark = 'H:' .. hold_id
  for _, s in ipairs(seats) do redis.call('HSET', K_SEATS, s, mark) end
  if #seats == 0 then redis.call('HINCRBY', K_GA, section .. ':held', quantity) end
  redis.call('HINCRBY', K_META, 'held', quantity)
end

local expires = now + tonumber(meta[4])
save_hold({id = hold_id, e = entry, sec = section, seats = seats, q = quantity,
           x = expires, hx = expires, st = 'held'})
if entry ~= '' then redis.call('HSET', K_BY_ENTRY, entry, hold_id) end
return {'ok', expires, unpack(seats)}
