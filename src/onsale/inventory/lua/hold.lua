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
--   6 seats        JSON list of seat ids (mode "seats"), else "[]"
--   7 boxoffice    "1": no shopper session, no per-order or per-entry limit
-- Returns {"ok", hold JSON} or {"err", code, detail JSON}:
--   not_ready (inventory not built), forbidden (no live shopping session),
--   checkout_in_progress, limit_exceeded, seats_unavailable (detail: the seats).
-- The entry's previous hold, if any, is replaced only when the new one succeeds;
-- its own places count as available to it.

local hold_id, entry, mode, section = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local quantity = tonumber(ARGV[5])
local boxoffice = ARGV[7] == '1'

if redis.call('HGET', K_META, 'ready') ~= '1' then return err('not_ready') end
local now = now_ms()
reclaim(now)

if not boxoffice then
  local session = tonumber(redis.call('ZSCORE', K_ACTIVE, entry) or '0')
  if session <= now then return err('forbidden', 'no live shopping session') end
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
  local per_order = tonumber(redis.call('HGET', K_META, 'per_order') or '0')
  local per_entry = tonumber(redis.call('HGET', K_META, 'per_entry') or '0')
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
if mode == 'seats' then
  seats = cjson.decode(ARGV[6])
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
  local cap = tonumber(redis.call('HGET', K_GA, section .. ':cap') or '0')
  local held = tonumber(redis.call('HGET', K_GA, section .. ':held') or '0')
  local sold = tonumber(redis.call('HGET', K_GA, section .. ':sold') or '0')
  local own = 0
  if old and #old.seats == 0 and old.sec == section then own = tonumber(old.q) end
  if cap - held - sold + own < quantity then
    return err('seats_unavailable', cjson.encode({available = cap - held - sold + own}))
  end
end

if old_id then free_hold(old_id) end

local mark = 'H:' .. hold_id
for _, s in ipairs(seats) do redis.call('HSET', K_SEATS, s, mark) end
if #seats == 0 then redis.call('HINCRBY', K_GA, section .. ':held', quantity) end
redis.call('HINCRBY', K_META, 'held', quantity)

local hold_ms = tonumber(redis.call('HGET', K_META, 'hold_ms'))
local h = {id = hold_id, e = entry, sec = section, seats = seats, q = quantity,
           x = now + hold_ms, hx = now + hold_ms, st = 'held'}
save_hold(h)
if entry ~= '' then redis.call('HSET', K_BY_ENTRY, entry, hold_id) end
return {'ok', encode_hold(h)}
