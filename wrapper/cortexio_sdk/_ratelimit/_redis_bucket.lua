-- One API key's rate limit, shared by every process that points at this Redis
-- (_redis_bucket.py runs it).
--
-- The same arithmetic as _limiter.RateLimiter (GCRA slots, a hold-off after a 429 that lowers
-- the rate, a slow climb back near the limit last seen), kept in one hash and run atomically,
-- on Redis's clock so that hosts whose clocks disagree still share one schedule.
--
-- KEYS[1]  the key's state (a hash; its name is a digest, never the API key)
-- KEYS[2]  the clients seen lately (a sorted set of random ids, scored by last call)
-- ARGV     1 op: 'reserve' or 'hold'
--          2 max_rate (requests/s)   3 burst_window (s)   4 decrease   5 recovery (requests/s)
--          6 caution   7 probe   8 min_rate (requests/s)   9 ttl (ms, idle state expires)
--          10 successes this process saw since its last call
--          11 reserve: epoch of the ticket slept on (-1: none)   hold: seconds of quiet
--          12 this client's id   13 how long a client counts as active (s)
-- Returns  {wait seconds, epoch, the fleet's rate, active clients}; numbers that may have a
--          fraction as strings (Lua numbers come back truncated to integers)

local key = KEYS[1]
local op = ARGV[1]
local max_rate = tonumber(ARGV[2])
local burst_window = tonumber(ARGV[3])
local decrease = tonumber(ARGV[4])
local recovery = tonumber(ARGV[5])
local caution = tonumber(ARGV[6])
local probe = tonumber(ARGV[7])
local min_rate = tonumber(ARGV[8])
local ttl = tonumber(ARGV[9])
local successes = tonumber(ARGV[10])
local arg = tonumber(ARGV[11])
local client = ARGV[12]
local active = tonumber(ARGV[13])

-- Seconds on Redis's clock, from a recent origin so that a double keeps microseconds.
local clock = redis.call('TIME')
local now = (tonumber(clock[1]) - 1700000000) + tonumber(clock[2]) / 1000000

local f = redis.call('HMGET', key, 'rate', 'tat', 'hold', 'epoch', 'limited', 'win', 'cur', 'prev')
local rate = math.min(tonumber(f[1]) or max_rate, max_rate)
local tat = tonumber(f[2]) or now
local hold = tonumber(f[3]) or 0
local epoch = tonumber(f[4]) or 0
local limited = tonumber(f[5]) or max_rate
local win = tonumber(f[6]) or math.floor(now)
local cur = tonumber(f[7]) or 0
local prev = tonumber(f[8]) or 0

-- Successes per second, in two one-second windows (what the server let through lately).
local second = math.floor(now)
if second > win then
  if second == win + 1 then prev = cur else prev = 0 end
  cur = 0
  win = second
end
cur = cur + successes

-- Each success lets the rate climb, a tenth as fast once near the limit seen at the last 429.
for _ = 1, math.min(successes, 100000) do
  if rate >= max_rate then break end
  local step = recovery
  if rate >= caution * limited then step = step * probe end
  rate = math.min(max_rate, rate + step)
end

local wait = 0
if op == 'hold' then
  if now >= hold then
    -- A new burst into the limit, not one more answer to the burst being held off.
    local passed = cur + prev * (1 - (now - win))
    if passed >= 2 then limited = math.min(rate, passed) else limited = rate end
    rate = math.max(min_rate, rate * decrease)
  end
  local quiet_until = now + arg
  if quiet_until >= hold then
    hold = quiet_until
    tat = quiet_until
    epoch = epoch + 1
  end
elseif arg ~= epoch then
  -- No slot slept on, or a hold-off voided it: book the next free one.
  local start = math.max(now, hold)
  local interval = 1 / rate
  local burst = math.max(1, rate * burst_window)
  local next_tat = math.max(tat, start)
  wait = math.max(start, next_tat - (burst - 1) * interval) - now
  tat = next_tat + interval
end

local function num(x) return string.format('%.17g', x) end
redis.call('HSET', key, 'rate', num(rate), 'tat', num(tat), 'hold', num(hold), 'epoch', epoch,
  'limited', num(limited), 'win', win, 'cur', cur, 'prev', num(prev))
redis.call('PEXPIRE', key, math.floor(ttl + math.max(0, hold - now, tat - now) * 1000))

-- Who shares the key: if Redis goes away, each client keeps to its share of the rate.
local clients = KEYS[2]
redis.call('ZADD', clients, now, client)
redis.call('ZREMRANGEBYSCORE', clients, '-inf', now - active)
redis.call('PEXPIRE', clients, ttl)
return {string.format('%.6f', wait), epoch, num(rate), redis.call('ZCARD', clients)}
