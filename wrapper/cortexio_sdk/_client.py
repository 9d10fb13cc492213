"""`Cortex` and `AsyncCortex`: configuration, the wired httpx client, and the resources."""

from __future__ import annotations

from types import TracebackType
from typing import Generic, Self, TypeVar

import httpx
from cortex_api_client import AuthenticatedClient

from ._config import (
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_REQUESTS_PER_MINUTE,
    Settings,
    resolve_settings,
)
from ._http._transport import MAX_IN_FLIGHT, install_transports
from ._queries import AsyncQueries, Queries
from ._ratelimit._redis_limiter import RedisLimiter
from ._telemetry import Tally

# Keep every pooled connection alive between polls: many waits reuse them instead of
# reconnecting (httpx's default keeps only 20 of its 100 alive).
POOL_LIMITS = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)

__all__ = ["AsyncCortex", "Cortex"]


HttpClientT = TypeVar("HttpClientT", httpx.Client, httpx.AsyncClient)
QueriesT = TypeVar("QueriesT", Queries, AsyncQueries)


class _Base(Generic[HttpClientT, QueriesT]):
    """Configuration and wiring, written once for the sync and the async client.

    The public classes below document every argument in their own docstrings, written out in
    each so that `help()` and an IDE's hover show them (a test keeps the two in step).
    """

    _http_class: type[HttpClientT]
    _queries_class: type[QueriesT]

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        call_timeout: float | None = DEFAULT_CALL_TIMEOUT,
        http_client: HttpClientT | None = None,
        allow_insecure_http: bool = False,
        rate_limiter: RedisLimiter | None = None,
        record_query_text: bool = False,
    ) -> None:
        expected = self._http_class
        if http_client is not None and not isinstance(http_client, expected):
            raise TypeError(
                f"http_client must be an httpx.{expected.__name__}, "
                f"got {type(http_client).__name__}"
            )
        # Every setting is checked before a connection pool exists, so a bad one leaks nothing.
        self._settings: Settings = resolve_settings(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_after=max_retry_after,
            requests_per_minute=requests_per_minute,
            call_timeout=call_timeout,
            allow_insecure_http=allow_insecure_http,
            rate_limiter=rate_limiter,
            record_query_text=record_query_text,
        )
        self._owns_http = http_client is None
        if http_client is None:
            http_client = expected(limits=POOL_LIMITS, timeout=self._settings.timeout)
        elif timeout is not None:
            # An explicit timeout= applies to a client you bring too; without it, yours stands.
            http_client.timeout = self._settings.timeout
        self._http: HttpClientT = http_client
        http_client.base_url = httpx.URL(self._settings.base_url)
        self._policy = self._settings.policy()
        install_transports(http_client, self._policy)
        # The key is added by the transport (only for the base URL's origin), never by this
        # client: its token stays empty so that neither repr() nor a stray request shows it.
        low_level = AuthenticatedClient(base_url=self._settings.base_url, token="")
        if isinstance(http_client, httpx.AsyncClient):
            low_level.set_async_httpx_client(http_client)
        else:
            low_level.set_httpx_client(http_client)
        self.low_level = low_level
        self.queries: QueriesT = self._queries_class(
            low_level, clock=self._policy.clock, telemetry=self._policy.telemetry
        )

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    def _tally(self) -> Tally:
        """Count what this client's calls cost from now on (the CLI's -v summary)."""
        tally = Tally()
        telemetry = self._policy.telemetry
        assert telemetry is not None  # always set by Settings.policy()
        telemetry.tallies.append(tally)
        return tally

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._settings.base_url!r}, api_key='***')"


class Cortex(_Base[httpx.Client, Queries]):
    """The Cortex Queries API, synchronously. Safe to share between threads.

        with Cortex() as client:            # CORTEX_API_KEY, CORTEX_BASE_URL
            done = client.queries.run_and_wait("tag = 'payments'", timeout=600)

    `client.queries` runs, gets and waits for query jobs; `client.low_level` is the generated
    client on the same transport (auth, retries, rate limit).

    Keyword arguments (each falls back to the environment, then to the default):

    - `api_key`: your Cortex API key (else `CORTEX_API_KEY`); a missing one is a
      ConfigurationError here, before any request.
    - `base_url`: the API's base URL (else `CORTEX_BASE_URL`, else the US cloud,
      `https://api.getcortexapp.com`); the EU cloud is `https://api.eu.cortex.io`, and a
      self-managed install has its own. Plain http only to this machine unless
      `allow_insecure_http=True`.
    - `timeout`: per request, seconds or an httpx.Timeout (default 30 s, 10 s to connect).
    - `max_retries`: retries after a connection failure or (GET only) a 5xx, and after a 429
      when no deadline bounds the call (default 4; 0: none at all). With `call_timeout` (or a
      wait's deadline) 429s are retried until it would pass: a server answering 429 for ever
      holds a call that long.
    - `max_retry_after`: the longest Retry-After slept; a longer one raises RateLimitError at
      once with `.retry_after` (default 60 s).
    - `requests_per_minute`: the most this client sends, shared by its threads or tasks
      (default 1000, Cortex's documented limit). At the default it starts at an eighth of it
      and learns the server's limit from its 429s; set to your share of the key, it starts
      there. See README.md, "Against a server it does not know".
    - `call_timeout`: the overall deadline of one call, retries and waits included (default
      300 s; None for none).
    - `http_client`: your own httpx.Client (proxies, certificates...); its transports are wrapped,
      its timeout is kept unless `timeout` is given, and it is left open on close.
    - `allow_insecure_http`: permit plain http to a host other than this machine (the key would
      travel unencrypted).
    - `rate_limiter`: `RedisLimiter(url=...)` to share the limit with every process and host
      using the same key and Redis (else `CORTEX_RATE_LIMIT_REDIS_URL`, a Redis Cluster's node
      with `CORTEX_RATE_LIMIT_REDIS_CLUSTER=1`; else this client alone).
    - `record_query_text`: put the CQL text on the createQuery span (`cortex.query.text`), and
      errors' messages on their spans, when OpenTelemetry traces (default False: a query can
      name people and systems, and Cortex's message for a bad query quotes it).
    """

    _http_class = httpx.Client
    _queries_class = Queries
    queries: Queries

    def close(self) -> None:
        """Close the connection pool (a client you passed in stays open) and any Redis one."""
        if self._owns_http:
            self._http.close()
        self._policy.limiter.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncCortex(_Base[httpx.AsyncClient, AsyncQueries]):
    """The Cortex Queries API, as coroutines. Safe to share between tasks.

        async with AsyncCortex() as client:  # CORTEX_API_KEY, CORTEX_BASE_URL
            done = await client.queries.run_and_wait("tag = 'payments'", timeout=600)

    `client.queries` runs, gets and waits for query jobs; `client.low_level` is the generated
    client on the same transport (auth, retries, rate limit).

    Keyword arguments (each falls back to the environment, then to the default):

    - `api_key`: your Cortex API key (else `CORTEX_API_KEY`); a missing one is a
      ConfigurationError here, before any request.
    - `base_url`: the API's base URL (else `CORTEX_BASE_URL`, else the US cloud,
      `https://api.getcortexapp.com`); the EU cloud is `https://api.eu.cortex.io`, and a
      self-managed install has its own. Plain http only to this machine unless
      `allow_insecure_http=True`.
    - `timeout`: per request, seconds or an httpx.Timeout (default 30 s, 10 s to connect).
    - `max_retries`: retries after a connection failure or (GET only) a 5xx, and after a 429
      when no deadline bounds the call (default 4; 0: none at all). With `call_timeout` (or a
      wait's deadline) 429s are retried until it would pass: a server answering 429 for ever
      holds a call that long.
    - `max_retry_after`: the longest Retry-After slept; a longer one raises RateLimitError at
      once with `.retry_after` (default 60 s).
    - `requests_per_minute`: the most this client sends, shared by its threads or tasks
      (default 1000, Cortex's documented limit). At the default it starts at an eighth of it
      and learns the server's limit from its 429s; set to your share of the key, it starts
      there. See README.md, "Against a server it does not know".
    - `call_timeout`: the overall deadline of one call, retries and waits included (default
      300 s; None for none).
    - `http_client`: your own httpx.AsyncClient (proxies, certificates...); its transports are
      wrapped, its timeout is kept unless `timeout` is given, and it is left open on close.
    - `allow_insecure_http`: permit plain http to a host other than this machine (the key would
      travel unencrypted).
    - `rate_limiter`: `RedisLimiter(url=...)` to share the limit with every process and host
      using the same key and Redis (else `CORTEX_RATE_LIMIT_REDIS_URL`, a Redis Cluster's node
      with `CORTEX_RATE_LIMIT_REDIS_CLUSTER=1`; else this client alone).
    - `record_query_text`: put the CQL text on the createQuery span (`cortex.query.text`), and
      errors' messages on their spans, when OpenTelemetry traces (default False: a query can
      name people and systems, and Cortex's message for a bad query quotes it).
    """

    _http_class = httpx.AsyncClient
    _queries_class = AsyncQueries
    queries: AsyncQueries

    async def aclose(self) -> None:
        """Close the connection pool (a client you passed in stays open) and any Redis one."""
        if self._owns_http:
            await self._http.aclose()
        await self._policy.limiter.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
