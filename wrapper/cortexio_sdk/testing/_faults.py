"""Faults the fake injects on request: a rate limit, failing jobs, error bursts, slow answers,
dropped connections and enum values newer than the spec.

Every method may be called before the server starts or while it runs, from any thread; each takes
effect from the next request. `clear()` removes them all (the job duration and catalog stay).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["ErrorFault", "Faults", "RateLimit", "parse_rate"]

QueryMatch = str | re.Pattern[str] | Callable[[str], bool]

# The error type a 4xx/5xx burst carries unless told otherwise: what Cortex would plausibly send.
DEFAULT_ERROR_TYPES = {
    400: "BAD_REQUEST",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    500: "UNHANDLED_EXCEPTION",
    502: "INTEGRATION_BAD_GATEWAY",
    503: "INTEGRATION_UNAVAILABLE",
    504: "INTEGRATION_GATEWAY_TIMEOUT",
}

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_UNITS |= {"h": 3600.0, "hour": 3600.0}


def parse_rate(text: str) -> float:
    """Requests per second from '5/s', '100/min', '1000/m', '2/h' or a bare number (per second)."""
    count, _, unit = text.strip().partition("/")
    try:
        number = float(count)
    except ValueError:
        raise ValueError(f"rate {text!r}: expected a number, as in 5/s or 100/min") from None
    unit = unit.strip().lower() or "s"
    if unit.endswith("s") and unit[:-1] in _UNITS:
        unit = unit[:-1]
    if unit not in _UNITS:
        raise ValueError(f"rate {text!r}: unknown unit {unit!r}; use /s, /min or /h")
    if not number > 0 or math.isinf(number):
        raise ValueError(f"rate {text!r}: must be a positive number")
    return number / _UNITS[unit]


class RateLimit:
    """A token bucket: `burst` requests at once, refilled at `per_second`. Not thread-safe alone."""

    def __init__(
        self, per_second: float, burst: float | None = None, *, now: float | None = None
    ) -> None:
        """Full at `now` (default: time.monotonic(); a simulation passes its own clock's)."""
        if not per_second > 0:
            raise ValueError(f"per_second must be positive, got {per_second!r}")
        self.per_second = per_second
        self.burst = float(burst if burst is not None else max(1, math.ceil(per_second)))
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self._tokens = self.burst
        self._updated = time.monotonic() if now is None else now

    def take(self, now: float) -> int | None:
        """None when the request may pass; else the whole seconds to wait (Retry-After, >= 1)."""
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.per_second)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return max(1, math.ceil((1 - self._tokens) / self.per_second))

    def describe(self) -> str:
        return f"{self.per_second:g} requests per second (burst {self.burst:g})"


@dataclass(frozen=True)
class ErrorFault:
    """One scripted error answer (see `Faults.errors`)."""

    status: int
    error_type: str
    message: str
    html: bool
    retry_after: int | str | None
    body: bytes | None
    content_type: str | None


@dataclass
class _Counted:
    """A fault that applies to `remaining` more requests (None: until cleared) of one method."""

    remaining: int | None
    method: str | None

    def applies(self, method: str) -> bool:
        return self.method is None or self.method == method

    def use(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


@dataclass
class _ErrorRule(_Counted):
    fault: ErrorFault


@dataclass
class _SlowRule(_Counted):
    seconds: float


@dataclass
class _Outcome(_Counted):
    """How matching jobs end: `status` after `seconds` (None: the job duration)."""

    match: Callable[[str], bool] | None
    status: str
    seconds: float | None


def _matcher(match: QueryMatch) -> Callable[[str], bool]:
    if isinstance(match, str):
        return lambda query: query == match
    if isinstance(match, re.Pattern):
        pattern = match
        return lambda query: pattern.search(query) is not None
    if callable(match):
        return match
    raise TypeError(f"match must be a str, a compiled regex or a callable, got {match!r}")


def _check_count(count: int | None) -> int | None:
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError(f"count must be a positive int or None (no limit), got {count!r}")
    return count


def _check_seconds(name: str, seconds: float | None) -> float | None:
    if seconds is not None and not seconds >= 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {seconds!r}")
    return seconds


class Faults:
    """What the fake does wrong, on purpose. Reached as `fake.faults`."""

    def __init__(self, *, job_seconds: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._job_seconds = _check_seconds("job_seconds", job_seconds) or 0.0
        self._rate_limit: RateLimit | None = None
        self._outcomes: list[_Outcome] = []
        self._errors: list[_ErrorRule] = []
        self._slow: list[_SlowRule] = []
        self._drops: list[_Counted] = []
        self._unknown_status: str | None = None
        self._unknown_error_type: str | None = None

    # --- scripting ---

    def job_duration(self, seconds: float) -> None:
        """Jobs created from now on run this long (IN_PROGRESS, progress rising) before they end."""
        with self._lock:
            self._job_seconds = _check_seconds("seconds", seconds) or 0.0

    @property
    def job_seconds(self) -> float:
        with self._lock:
            return self._job_seconds

    def rate_limit(
        self,
        per_second: float | None = None,
        *,
        per_minute: float | None = None,
        burst: float | None = None,
    ) -> None:
        """A token bucket over every request: over it, 429 with Retry-After and problem+json.

        `burst` (default: one second's worth, at least 1) requests may come at once. Call with no
        rate to remove the limit. `rate_limit(per_minute=1000)` is Cortex's documented limit.
        """
        if per_second is not None and per_minute is not None:
            raise ValueError("give per_second or per_minute, not both")
        rate = per_second if per_minute is None else per_minute / 60
        with self._lock:
            self._rate_limit = None if rate is None else RateLimit(rate, burst)

    def next_jobs(
        self, status: str = "FAILURE", *, count: int | None = 1, seconds: float | None = None
    ) -> None:
        """The next `count` jobs (None: all) end with `status` after `seconds` (default: the job
        duration). FAILURE, CANCELLED and TIMED_OUT are the spec's; any other string is sent as is
        (a status newer than the spec); DONE makes them succeed; `seconds=math.inf` never ends."""
        self._add_outcome(None, status, seconds, count)

    def on_query(
        self,
        match: QueryMatch,
        *,
        status: str = "FAILURE",
        seconds: float | None = None,
        count: int | None = None,
    ) -> None:
        """Jobs whose CQL matches end with `status` after `seconds` (default: the job duration).

        `match` is the exact CQL text, a compiled regex (searched) or a predicate on the text.
        Rules apply to `count` jobs (None: until cleared); the oldest matching rule wins, and
        rules come before `next_jobs`.
        """
        self._add_outcome(_matcher(match), status, seconds, count)

    def _add_outcome(
        self,
        match: Callable[[str], bool] | None,
        status: str,
        seconds: float | None,
        count: int | None,
    ) -> None:
        if not isinstance(status, str) or not status:
            raise ValueError(f"status must be a non-empty str, got {status!r}")
        rule = _Outcome(
            _check_count(count), None, match, status, _check_seconds("seconds", seconds)
        )
        with self._lock:
            self._outcomes.append(rule)

    def errors(
        self,
        status: int = 503,
        *,
        count: int | None = 1,
        method: str | None = None,
        error_type: str | None = None,
        message: str | None = None,
        html: bool = False,
        retry_after: int | str | None = None,
        body: bytes | str | None = None,
        content_type: str | None = None,
    ) -> None:
        """The next `count` requests (None: all; only `method` ones if given) get this error.

        The body is an ErrorResponse (type from `error_type`, else one fitting the status), or a
        proxy's HTML page with `html=True`, or exactly `body`. Status 429 sends a problem+json body
        instead; `retry_after` sets the Retry-After header to any value, valid or not (an int, an
        HTTP-date, "-1", "soon"). Checked first, before the key and the rate limit.
        """
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {status!r}")
        fault = ErrorFault(
            status=status,
            error_type=error_type or DEFAULT_ERROR_TYPES.get(status, "UNCATEGORIZED"),
            message=message or f"Injected fault: the fake Cortex server answers {status}",
            html=html,
            retry_after=retry_after,
            body=body.encode() if isinstance(body, str) else body,
            content_type=content_type,
        )
        rule = _ErrorRule(_check_count(count), _method(method), fault)
        with self._lock:
            self._errors.append(rule)

    def slow(self, seconds: float, *, count: int | None = None, method: str | None = None) -> None:
        """Answer `count` requests (None: all, until cleared) `seconds` late."""
        rule = _SlowRule(
            _check_count(count), _method(method), _check_seconds("seconds", seconds) or 0
        )
        with self._lock:
            self._slow.append(rule)

    def drop_connections(self, count: int | None = 1, *, method: str | None = None) -> None:
        """Close the connection of the next `count` requests (None: all) without answering."""
        rule = _Counted(_check_count(count), _method(method))
        with self._lock:
            self._drops.append(rule)

    def unknown_enums(
        self, status: str | None = "PAUSED", error_type: str | None = "QUOTA_EXCEEDED"
    ) -> None:
        """Send enum values the spec does not list: `status` for running jobs instead of
        IN_PROGRESS, `error_type` in every ErrorResponse. None leaves that enum as the spec says."""
        with self._lock:
            self._unknown_status = status
            self._unknown_error_type = error_type

    def clear(self) -> None:
        """Remove every fault: rate limit, job outcomes, errors, slowness, drops, unknown enums."""
        with self._lock:
            self._rate_limit = None
            self._outcomes.clear()
            self._errors.clear()
            self._slow.clear()
            self._drops.clear()
            self._unknown_status = self._unknown_error_type = None

    @property
    def active_rate_limit(self) -> RateLimit | None:
        """The rate limit in force, if any."""
        with self._lock:
            return self._rate_limit

    # --- decisions, made by the server once per request or job (not for scripting) ---

    def take_drop(self, method: str) -> bool:
        with self._lock:
            return _take(self._drops, method) is not None

    def take_delay(self, method: str) -> float:
        with self._lock:
            rule = _take(self._slow, method)
            return rule.seconds if rule is not None else 0.0

    def take_token(self, now: float) -> tuple[int, RateLimit] | None:
        """None when the rate limit lets the request through; else (Retry-After, the limit)."""
        with self._lock:
            limit = self._rate_limit
            if limit is None:
                return None
            wait = limit.take(now)
            return None if wait is None else (wait, limit)

    def take_error(self, method: str) -> ErrorFault | None:
        with self._lock:
            rule = _take(self._errors, method)
            return rule.fault if rule is not None else None

    def take_outcome(self, query: str) -> tuple[str, float]:
        """How a new job on `query` ends: (final status, seconds until then)."""
        with self._lock:
            by_query = [rule for rule in self._outcomes if rule.match is not None]
            for_any = [rule for rule in self._outcomes if rule.match is None]
            for rule in by_query + for_any:
                if rule.match is None or rule.match(query):
                    rule.use()
                    if rule.spent:
                        self._outcomes.remove(rule)
                    seconds = rule.seconds if rule.seconds is not None else self._job_seconds
                    return rule.status, seconds
            return "DONE", self._job_seconds

    def running_status(self) -> str:
        with self._lock:
            return self._unknown_status or "IN_PROGRESS"

    def error_type(self, error_type: str) -> str:
        with self._lock:
            return self._unknown_error_type or error_type


R = TypeVar("R", bound=_Counted)


def _method(method: str | None) -> str | None:
    return method.upper() if method is not None else None


def _take(rules: list[R], method: str) -> R | None:
    """The first rule for `method`, used once (and dropped when spent); None when none applies."""
    for rule in rules:
        if rule.applies(method):
            rule.use()
            if rule.spent:
                rules.remove(rule)
            return rule
    return None
