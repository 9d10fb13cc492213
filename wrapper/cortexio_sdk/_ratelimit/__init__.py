"""Client-side rate limiting: how fast a client sends, and how it slows down after a 429.

- `_limiter`: the in-process adaptive limiter (`RateLimiter`) and the `Limiter` protocol the
  transports book slots through.
- `_redis_limiter`: `RedisLimiter`, the settings that share one limit through Redis (importing it
  does not import redis).
- `_redis_bucket`: `RedisBucket`, the limiter those settings make: the same arithmetic in Redis
  (the in-process `Learner` on state read and written by `_redis_bucket.lua`), falling back to
  the in-process one while Redis fails.
- `_redact`: a Redis URL without its password.
"""
