"""Client settings: from arguments, else the environment (the same variables as Cortex's CLI).

Every setting is checked here, at construction, so a mistake is an error naming the setting
before any request is made.
"""

from __future__ import annotations

import ipaddress
import os
import platform

import attrs
import httpx

from ._checks import check_number
from ._exceptions import ConfigurationError
from ._http._retry import RequestPolicy, origin_of
from ._ratelimit._limiter import Limiter, RateLimiter
from ._ratelimit._redis_limiter import REDIS_CLUSTER_ENV, REDIS_URL_ENV, RedisLimiter
from ._telemetry import Telemetry
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "Settings",
    "resolve_settings",
]

DEFAULT_BASE_URL = "https://api.getcortexapp.com"
API_KEY_ENV = "CORTEX_API_KEY"
BASE_URL_ENV = "CORTEX_BASE_URL"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DEFAULT_MAX_RETRIES = 4
DEFAULT_MAX_RETRY_AFTER = 60.0
DEFAULT_CALL_TIMEOUT = 300.0
# The documented limit of the Cortex API: 1000 requests per minute per client.
DEFAULT_REQUESTS_PER_MINUTE = 1000.0
USER_AGENT = f"cortexio-sdk/{__version__} (Python {platform.python_version()})"


@attrs.frozen
class Settings:
    api_key: str = attrs.field(repr=False)
    base_url: str
    timeout: httpx.Timeout
    max_retries: int
    max_retry_after: float
    requests_per_minute: float
    call_timeout: float | None
    rate_limiter: RedisLimiter | None = None
    record_query_text: bool = False

    def policy(self) -> RequestPolicy:
        origin = origin_of(httpx.URL(self.base_url))
        limiter: Limiter
        # Told a limit of their own, a client starts at it; at the documented one (shared with
        # every other client of the key) it starts lower and finds what it gets.
        told = self.requests_per_minute != DEFAULT_REQUESTS_PER_MINUTE
        if self.rate_limiter is None:
            limiter = RateLimiter(self.requests_per_minute, told=told)
        else:
            scheme, host, port = origin
            limiter = self.rate_limiter.bind(
                api_key=self.api_key,
                origin=f"{scheme}://{host}:{port}",
                requests_per_minute=self.requests_per_minute,
                told=told,
            )
        policy = RequestPolicy(
            api_key=self.api_key,
            origin=origin,
            user_agent=USER_AGENT,
            limiter=limiter,
            max_retries=self.max_retries,
            max_retry_after=self.max_retry_after,
            call_timeout=self.call_timeout,
        )
        telemetry = Telemetry(
            limiter=limiter,
            server=origin,
            clock=policy.clock,
            record_query_text=self.record_query_text,
        )
        return attrs.evolve(policy, telemetry=telemetry)


def resolve_settings(
    *,
    api_key: str | None,
    base_url: str | None,
    timeout: float | httpx.Timeout | None,
    max_retries: int,
    max_retry_after: float,
    requests_per_minute: float,
    call_timeout: float | None,
    allow_insecure_http: bool,
    rate_limiter: RedisLimiter | None = None,
    record_query_text: bool = False,
) -> Settings:
    """Check every setting and fill the missing ones from the environment and defaults."""
    return Settings(
        api_key=_api_key(api_key),
        base_url=_base_url(base_url, allow_insecure_http=allow_insecure_http),
        timeout=_timeout(timeout),
        max_retries=_non_negative_int("max_retries", max_retries),
        # inf is allowed: sleep whatever Retry-After the server asks for.
        max_retry_after=_positive("max_retry_after", max_retry_after, inclusive=True, finite=False),
        requests_per_minute=_positive("requests_per_minute", requests_per_minute),
        call_timeout=None if call_timeout is None else _positive("call_timeout", call_timeout),
        rate_limiter=_rate_limiter(rate_limiter),
        record_query_text=_flag("record_query_text", record_query_text),
    )


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def _api_key(value: str | None) -> str:
    source = "api_key"
    if value is None:
        value, source = os.environ.get(API_KEY_ENV), API_KEY_ENV
    if value is None:
        raise ConfigurationError(
            "no Cortex API key",
            setting="api_key",
            remedy=f"pass api_key=... or set the {API_KEY_ENV} environment variable",
        )
    if not isinstance(value, str):
        raise ConfigurationError(f"api_key must be a str, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise ConfigurationError(f"the Cortex API key from {source} is empty")
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in value):
        # It would be sent in a header: refuse rather than send something mangled.
        raise ConfigurationError(
            f"the Cortex API key from {source} contains whitespace or non-ASCII characters"
        )
    return value


def _base_url(value: str | None, *, allow_insecure_http: bool) -> str:
    source = "base_url"
    if value is None:
        env = os.environ.get(BASE_URL_ENV)
        value, source = (env, BASE_URL_ENV) if env else (DEFAULT_BASE_URL, "the default")
    if not isinstance(value, str):
        raise ConfigurationError(f"base_url must be a str, got {type(value).__name__}")
    try:
        url = httpx.URL(value.strip())
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"{source} is not a valid URL: {value!r} ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"{source} must be an http(s) URL with a host, got {value!r}")
    if url.scheme == "http" and not _is_loopback(url.host) and not allow_insecure_http:
        raise ConfigurationError(
            f"{source} {value!r} uses plain http to a host that is not this machine, which would "
            "send the API key unencrypted",
            setting="allow_insecure_http",
            remedy="use https, or pass allow_insecure_http=True",
        )
    if url.query or url.fragment:
        raise ConfigurationError(f"{source} must not have a query or fragment, got {value!r}")
    return str(url).rstrip("/")


def _rate_limiter(value: object) -> RedisLimiter | None:
    if value is None:
        url = os.environ.get(REDIS_URL_ENV, "").strip()
        if not url:
            return None
        cluster = _redis_cluster_env()
        source = f"{REDIS_URL_ENV} with {REDIS_CLUSTER_ENV}=1" if cluster else REDIS_URL_ENV
        try:
            return RedisLimiter(url=url, cluster=cluster)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{source}: {exc}") from None
    if not isinstance(value, RedisLimiter):
        raise ConfigurationError(
            f"rate_limiter must be a RedisLimiter or None, got {type(value).__name__}"
        )
    return value


def _redis_cluster_env() -> bool:
    raw = os.environ.get(REDIS_CLUSTER_ENV, "")
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ConfigurationError(
        f"{REDIS_CLUSTER_ENV} must be 1 or 0 (or true/false, yes/no, on/off), got {raw!r}",
        setting=REDIS_CLUSTER_ENV,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, httpx.Timeout):
        return value
    return httpx.Timeout(_positive("timeout", value))


def _positive(name: str, value: object, *, inclusive: bool = False, finite: bool = True) -> float:
    """`check_number`, raising a ConfigurationError: a setting, not a call's argument."""
    try:
        return check_number(name, value, inclusive=inclusive, finite=finite)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(str(exc), setting=name) from None


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{name} must be a non-negative int, got {value!r}")
    return value
