-- One API key's rate limit, shared by every process that points at this Redis
-- (_redis_bucket.py runs it). The arithmetic is _limiter.Learner's, in Python: this script only
-- reads the state with Redis's clock, and writes it back if nobody wrote it in between.
--
-- KEYS[1]  the key's state (a hash; its name is a digest, never the API key)
-- KEYS[2]  the clients seen lately (a sorted set of random ids, scored by last step)
--
-- Both ops begin ARGV[2] this client's id, ARGV[3] how long a client counts as active (s),
-- ARGV[4] ttl (ms) after which idle state expires: for a write, that of the state it writes
-- (longer while slots are booked ahead), also given to the clients' set.
--
-- ARGV[1] = 'read'
--   Returns {now, version, clients, place, field, value, field, value, ...}: now is seconds
--   on Redis's clock (from a recent origin, so a double keeps microseconds), as a string;
--   place is how many of the clients have an id that sorts before this one's (each client of
--   the key reads the same order, so that when Redis goes away each keeps to its own slots of
--   the schedule they shared).
--
-- ARGV[1] = 'write'  ARGV[5] the version read   ARGV[6..] field, value, ...
--   Returns 1 when written; when another client wrote first, what 'read' returns, so that the
--   caller decides again at once, one round trip sooner (read, decide, write again).

local key = KEYS[1]
local op = ARGV[1]

local function read()
  local clock = redis.call('TIME')
  local now = (tonumber(clock[1]) - 1700000000) + tonumber(clock[2]) / 1000000
  local clients = KEYS[2]
  redis.call('ZADD', clients, now, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', clients, '-inf', now - tonumber(ARGV[3]))
  redis.call('PEXPIRE', clients, tonumber(ARGV[4]))
  local ids = redis.call('ZRANGE', clients, 0, -1)
  local place = 0
  for _, id in ipairs(ids) do
    if id < ARGV[2] then
      place = place + 1
    end
  end
  local reply = {string.format('%.6f', now), 0, #ids, place}
  local state = redis.call('HGETALL', key)
  for i = 1, #state, 2 do
    if state[i] == 'version' then
      reply[2] = tonumber(state[i + 1])
    else
      reply[#reply + 1] = state[i]
      reply[#reply + 1] = state[i + 1]
    end
  end
  return reply
end

if op == 'read' then
  return read()
end

if op == 'write' then
  local version = tonumber(redis.call('HGET', key, 'version') or '0')
  if version ~= tonumber(ARGV[5]) then
    return read()
  end
  local fields = {}
  for i = 6, #ARGV do
    fields[#fields + 1] = ARGV[i]
  end
  -- The whole state is replaced: a field another version wrote must not outlive it.
  redis.call('DEL', key)
  redis.call('HSET', key, 'version', version + 1, unpack(fields))
  redis.call('PEXPIRE', key, tonumber(ARGV[4]))
  return 1
end

return redis.error_reply('unknown op ' .. tostring(op))
