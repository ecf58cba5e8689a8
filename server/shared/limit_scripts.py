"""The Lua scripts that make each limit decision atomic in Redis (redis_limits.py). Each
runs whole or not at all, with no other client's command between its steps, so a rate
window and every hold a request needs are decided as one.

Keys: a token's rate window is a sorted set of request times (`mpx:rpm:ID`); a subject's
month is a hash (`mpx:m:SUBJECT:ID:MONTH`: settled `r`, `t`, `n` — requests, model tokens,
nanos — held `hr`, `ht`, `hn`, shortened holds `hs`, `hsn`, and one field `h:REF` per hold:
"tokens nanos shortened nanos_shortened") beside a sorted set of its holds' lease ends
(`mpx:l:...`). A hold whose lease ended is released by the next script that reads its month,
its field left as `reaped` for its settle to find (below).

A call whose reply was lost (the connection broke after Redis ran it) is sent again with
`again` set, and must not count twice: an admit sent again finds its ref already in the
rate window and its holds already made, and returns them; a settle sent again counts only
if it finds its hold's field (live or `reaped`) still there, which the first run deleted.

Times are seconds (float) from Redis TIME, or ARGV's `now` where the caller passes its
own clock (tests). Numbers go to Redis as text made with string.format: Lua's own
conversion keeps 14 digits, which cuts a time's microseconds and writes 1e15 as "1e+15".
"""

# Shared by the scripts: the clock, numbers as text, releasing a hold, reaping leases.
_COMMON = """
local function text(x) return string.format('%.0f', x) end
local function stamp(x) return string.format('%.6f', x) end
local function minus(s)  -- '-0' is no integer to HINCRBY
  local v = tonumber(s)
  if v == 0 then return '0' end
  return text(-v)
end
local function clock(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- A hold's totals given back; its field deleted (settled) or left as 'reaped' (its lease
-- ended: the request's settle, if it ever comes, still counts). False: no such field.
local function release(month, ref, reaped)
  local field = 'h:' .. ref
  local held = redis.call('HGET', month, field)
  if not held then return false end
  if held ~= 'reaped' then
    local t, n, s, sn = string.match(held, '(%S+) (%S+) (%S+) (%S+)')
    redis.call('HINCRBY', month, 'hr', -1)
    redis.call('HINCRBY', month, 'ht', minus(t))
    redis.call('HINCRBY', month, 'hn', minus(n))
    redis.call('HINCRBY', month, 'hs', minus(s))
    redis.call('HINCRBY', month, 'hsn', minus(sn))
  end
  if reaped then
    redis.call('HSET', month, field, 'reaped')
  else
    redis.call('HDEL', month, field)
  end
  return true
end
local function reap(month, leases, now)
  local ended = redis.call('ZRANGEBYSCORE', leases, '-inf', stamp(now))
  for _, ref in ipairs(ended) do release(month, ref, true) end
  if #ended > 0 then redis.call('ZREMRANGEBYSCORE', leases, '-inf', stamp(now)) end
end
"""

# KEYS: the token's rate window, then (month, leases) per subject.
# ARGV: now ('' = Redis TIME), lease s, rpm (-1: none), ref, the months' expiry (unix s),
# then per subject 10 values: request, token and nanos limits (-1: none), the ask's
# tokens, least (-1: none), nanos, least nanos (-1: none), and the month's usage read from
# the database to start it from (-1: not read); last, again ('1': this call may have run
# already, its reply lost).
# Returns {'missing', {i...}} (months not in Redis and not given: nothing was counted),
# {'rate', rate} (over the rpm), {'refused', rate, i, why, left, least} or
# {'held', rate, {tokens, shortened, nanos, nanos_shortened}...}; rate is
# {allowed, remaining, reset s} or {} without an rpm.
ADMIT = _COMMON + """
local now = clock(ARGV[1])
local lease, rpm, ref, expiry = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local subjects = (#KEYS - 1) / 2
local again = ARGV[6 + subjects * 10] == '1'
local missing = {}
for i = 1, subjects do
  local month, at = KEYS[2 * i], 5 + (i - 1) * 10
  if redis.call('EXISTS', month) == 0 then
    if tonumber(ARGV[at + 8]) >= 0 then  -- set only if still missing: one start for all
      redis.call('HSET', month, 'r', ARGV[at + 8], 't', ARGV[at + 9], 'n', ARGV[at + 10],
                 'hr', 0, 'ht', 0, 'hn', 0, 'hs', 0, 'hsn', 0)
      redis.call('EXPIREAT', month, expiry)
    else
      missing[#missing + 1] = i
    end
  end
end
if #missing > 0 then return {'missing', missing} end

local rate = {}
if rpm >= 0 then
  local window = KEYS[1]
  redis.call('ZREMRANGEBYSCORE', window, '-inf', stamp(now - 60))
  local count = redis.call('ZCARD', window)
  if count > rpm then  -- the limit was lowered: forget the oldest
    redis.call('ZPOPMIN', window, count - rpm)
    count = rpm
  end
  local counted = again and redis.call('ZSCORE', window, ref)
  local allowed = counted or count < rpm
  if allowed and not counted then
    redis.call('ZADD', window, stamp(now), ref)
    count = count + 1
  end
  local reset = 0
  local oldest = redis.call('ZRANGE', window, 0, 0, 'WITHSCORES')
  if #oldest > 0 then reset = math.max(0, tonumber(oldest[2]) + 60 - now) end
  redis.call('EXPIRE', window, 61)
  rate = {allowed and 1 or 0, rpm - count, stamp(reset)}
  if not allowed then return {'rate', rate} end
end

-- What to hold of `most` (or, flexible, down to `least`) where `left` remains.
local function fit(most, least, left, shortened_in_flight)
  if most <= left then return most, 0 end
  if least < 0 or least >= most or least > left or shortened_in_flight then
    return nil
  end
  return left, 1
end

if again and subjects > 0 then  -- held by the first run: the same holds again
  local made = {}
  for i = 1, subjects do
    local held = redis.call('HGET', KEYS[2 * i], 'h:' .. ref)
    if not held or held == 'reaped' then made = nil break end
    local t, n, s, sn = string.match(held, '(%S+) (%S+) (%S+) (%S+)')
    made[i] = {t, tonumber(s), n, tonumber(sn)}
  end
  if made then return {'held', rate, made} end
end

local grants = {}
for i = 1, subjects do  -- everything is checked before anything is held
  local month, leases, at = KEYS[2 * i], KEYS[2 * i + 1], 5 + (i - 1) * 10
  reap(month, leases, now)
  local m = redis.call('HMGET', month, 'r', 't', 'n', 'hr', 'ht', 'hn', 'hs', 'hsn')
  for k = 1, 8 do m[k] = math.max(0, tonumber(m[k]) or 0) end
  local max_r, max_t, max_n = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]),
                              tonumber(ARGV[at + 3])
  local ask_t, least_t = tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5])
  local ask_n, least_n = tonumber(ARGV[at + 6]), tonumber(ARGV[at + 7])
  local shown_least = function(least, most)
    if least >= 0 and least < most then return text(least) end
    return '-1'
  end
  if max_r >= 0 and m[1] + m[4] >= max_r then
    return {'refused', rate, i, 'requests', '0', '-1'}
  end
  local tokens, short = ask_t, 0
  if max_t >= 0 then
    if m[2] >= max_t then return {'refused', rate, i, 'tokens_reached', '0', '-1'} end
    local left = math.max(0, max_t - m[2] - m[5])
    tokens, short = fit(ask_t, least_t, left, m[7] > 0)
    if tokens == nil then
      return {'refused', rate, i, 'tokens', text(left), shown_least(least_t, ask_t)}
    end
  end
  local nanos, nanos_short = 0, 0
  if max_n >= 0 then
    if m[3] >= max_n then return {'refused', rate, i, 'money_reached', '0', '-1'} end
    local left = math.max(0, max_n - m[3] - m[6])
    nanos, nanos_short = fit(ask_n, least_n, left, m[8] > 0)
    if nanos == nil then
      return {'refused', rate, i, 'money', text(left), shown_least(least_n, ask_n)}
    end
  end
  grants[i] = {tokens, short, nanos, nanos_short}
end
local held = {}
for i = 1, subjects do
  local month, leases, g = KEYS[2 * i], KEYS[2 * i + 1], grants[i]
  redis.call('HINCRBY', month, 'hr', 1)
  redis.call('HINCRBY', month, 'ht', text(g[1]))
  redis.call('HINCRBY', month, 'hn', text(g[3]))
  redis.call('HINCRBY', month, 'hs', g[2])
  redis.call('HINCRBY', month, 'hsn', g[4])
  redis.call('HSET', month, 'h:' .. ref,
             text(g[1]) .. ' ' .. text(g[3]) .. ' ' .. g[2] .. ' ' .. g[4])
  redis.call('ZADD', leases, stamp(now + lease), ref)
  redis.call('EXPIREAT', leases, expiry)
  held[i] = {text(g[1]), g[2], text(g[3]), g[4]}
end
return {'held', rate, held}
"""

# KEYS: (month, leases) per subject. ARGV: ref, requests (0/1), tokens, nanos, again.
# Returns per subject {nanos before, nanos after}, or {-1, -1} where the month is not in
# Redis (it expired, or Redis lost it: its next start reads the database, row included)
# or, sent again, where it was settled already.
SETTLE = _COMMON + """
local ref, requests, tokens, nanos = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local again = ARGV[5] == '1'
local spends = {}
for i = 1, #KEYS / 2 do
  local month, leases = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('EXISTS', month) == 1 and (release(month, ref, false) or not again) then
    redis.call('ZREM', leases, ref)
    local before = tonumber(redis.call('HGET', month, 'n')) or 0
    redis.call('HINCRBY', month, 'r', requests)
    redis.call('HINCRBY', month, 't', tokens)
    local after = redis.call('HINCRBY', month, 'n', nanos)
    spends[i] = {text(before), tostring(after)}
  else
    spends[i] = {'-1', '-1'}
  end
end
return spends
"""

# KEYS: a leases set per live hold and subject; ARGV: now ('' = Redis TIME), lease s,
# then the hold's ref for each key. A lease already ended (and its hold released) is not
# made again: ZADD XX only moves existing ones.
RENEW = _COMMON + """
local now = clock(ARGV[1])
local until_ = stamp(now + tonumber(ARGV[2]))
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], 'XX', until_, ARGV[i + 2]) end
return #KEYS
"""
