"""`RedisLimiter`: one rate limit for every process and host that uses an API key.

Cortex limits requests per API key. A `Cortex` client limits itself (`_limiter.RateLimiter`), but
twenty replicas sharing a key, each limiting itself, still send twenty times too much together.
With `rate_limiter=RedisLimiter(url=...)` (or CORTEX_RATE_LIMIT_REDIS_URL) every client pointing
at the same Redis, a single server or a Redis Cluster (`cluster=True`), books its slots in one
bucket per key, and a 429's hold-off and lowered rate reach the whole fleet at once
(`_redis_bucket.RedisBucket` does that).

This module holds only the settings, so that `import cortexio_sdk` never imports `redis`: the
`redis` extra is needed by clients configured with a RedisLimiter, and only by them.
"""

from __future__ import annotations

import hashlib
import importlib.util
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import attrs

from .._checks import check_number
from .._exceptions import ConfigurationError
from ._redact import redacted

if TYPE_CHECKING:
    from ._redis_bucket import RedisBucket

__all__ = ["REDIS_CLUSTER_ENV", "REDIS_URL_ENV", "RedisLimiter"]

REDIS_URL_ENV = "CORTEX_RATE_LIMIT_REDIS_URL"
REDIS_CLUSTER_ENV = "CORTEX_RATE_LIMIT_REDIS_CLUSTER"
_SCHEMES = ("redis", "rediss", "unix")


def _repr_url(url: str) -> str:
    return repr(redacted(url))


@attrs.frozen
class RedisLimiter:
    """Share the client's rate limit through Redis: `Cortex(rate_limiter=RedisLimiter(url=...))`.

    Needs the `redis` extra: `pip install 'cortexio-sdk[redis]'`.

    - `url`: `redis://[user:password@]host[:port][/db]`, `rediss://` (TLS) or `unix:///path`.
      A password in it is never logged nor shown by repr().
    - `timeout`: seconds for each Redis step (connect, wait for a pooled connection, answer);
      default 0.25. A Redis slower than that for a second counts as down: the client limits
      itself meanwhile (one slow step alone only sends that call by the local limiter).
    - `retry_interval`: while Redis is down, how often one caller asks it again (default 5 s).
    - `prefix`: of the Redis keys (default `cortexio-sdk:rate-limit`), followed by a digest of the
      base URL and API key (`{digest}` and `{digest}:clients`); the key never reaches Redis.
    - `max_connections`: the Redis pool's size per client (default 32; in a cluster, per node);
      callers beyond it queue.
    - `cluster`: True when `url` names a node of a Redis Cluster (from the environment:
      CORTEX_RATE_LIMIT_REDIS_CLUSTER=1). The client finds the other nodes itself; the key's two
      entries share one hash slot, so each bucket lives on one node. `redis://` or `rediss://`
      only, and database 0 (a cluster has no other).

    One instance may serve several clients: each gets its own bucket (per base URL and key) and
    its own connections, closed with the client.
    """

    url: str = attrs.field(repr=_repr_url)
    timeout: float = 0.25
    retry_interval: float = 5.0
    prefix: str = "cortexio-sdk:rate-limit"
    max_connections: int = 32
    cluster: bool = False

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.cluster, bool):
            raise ConfigurationError(
                f"RedisLimiter cluster must be True or False, got {self.cluster!r}"
            )
        _check_url(self.url, cluster=self.cluster)
        for name in ("timeout", "retry_interval"):
            try:
                check_number(f"RedisLimiter {name}", getattr(self, name))
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(str(exc), setting="rate_limiter") from None
        if not isinstance(self.prefix, str) or not self.prefix:
            raise ConfigurationError(
                f"RedisLimiter prefix must be a non-empty str, got {self.prefix!r}"
            )
        if "{" in self.prefix or "}" in self.prefix:
            # Redis Cluster hashes the first {...} of a key: braces in the prefix would take the
            # place of the digest's, and could send the key's two entries to different slots.
            raise ConfigurationError(
                f"RedisLimiter prefix must not contain braces, got {self.prefix!r}"
            )
        count = self.max_connections
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigurationError(
                f"RedisLimiter max_connections must be an int >= 1, got {count!r}"
            )
        if importlib.util.find_spec("redis") is None:
            raise ConfigurationError(
                "RedisLimiter needs the redis client: pip install 'cortexio-sdk[redis]'"
            )

    def bind(
        self, *, api_key: str, origin: str, requests_per_minute: float, told: bool = False
    ) -> RedisBucket:
        """The limiter of one client: the bucket of its base URL's origin and key, on Redis
        (`told`: `requests_per_minute` is the limit the user was given; see RateLimiter)."""
        # Imported here: the one place that needs the optional `redis` package.
        from ._redis_bucket import RedisBucket  # noqa: PLC0415

        digest = hashlib.sha256(f"{origin}\n{api_key}".encode()).hexdigest()[:32]
        # The braces make it a Redis Cluster hash tag: the key's two entries share one slot.
        return RedisBucket(
            self,
            key=f"{self.prefix}:{{{digest}}}",
            requests_per_minute=requests_per_minute,
            told=told,
        )


def _check_url(url: object, *, cluster: bool) -> None:
    """Refuse a URL that cannot name a Redis server, saying which part is wrong."""
    if not isinstance(url, str):
        raise ConfigurationError(f"RedisLimiter url must be a str, got {type(url).__name__}")
    try:
        parts = urlsplit(url.strip())
        ok = parts.scheme in _SCHEMES and (
            bool(parts.path) if parts.scheme == "unix" else bool(parts.hostname)
        )
        ok = ok and (parts.port is None or parts.port > 0)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigurationError(
            "RedisLimiter url must be redis://host[:port][/db], rediss://... or unix:///path, "
            f"got {redacted(url)!r}"
        )
    if not cluster:
        return
    # redis-py's cluster clients reach nodes over TCP only, and a cluster has database 0 alone.
    if parts.scheme == "unix":
        raise ConfigurationError(
            "RedisLimiter url must be redis:// or rediss:// with cluster=True (a cluster is "
            f"reached over TCP), got {redacted(url)!r}"
        )
    databases = [parts.path.strip("/"), *parse_qs(parts.query).get("db", [])]
    if any(db not in ("", "0") for db in databases):
        raise ConfigurationError(
            "RedisLimiter url must name database 0 or none with cluster=True (a Redis Cluster "
            f"has no other), got {redacted(url)!r}"
        )
