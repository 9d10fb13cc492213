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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias, TypeVar, get_args

__all__ = [
    "RETRY_AFTER_IN",
    "SHAPES",
    "ErrorFault",
    "Faults",
    "FixedWindow",
    "Limit",
    "RateLimit",
    "RateLimited",
    "RetryAfterIn",
    "Shape",
    "SlidingWindow",
    "make_limit",
    "parse_rate",
    "split_rate",
    "window_count",
]

QueryMatch = str | re.Pattern[str] | Callable[[str], bool]

Shape: TypeAlias = Literal["token-bucket", "fixed-window", "sliding-window"]
RetryAfterIn: TypeAlias = Literal["header", "body"]
SHAPES: tuple[Shape, ...] = get_args(Shape)
RETRY_AFTER_IN: tuple[RetryAfterIn, ...] = get_args(RetryAfterIn)

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

# Retry-After is an int32 in openapi.yaml (header and body): no wait is said to be longer.
_MAX_RETRY_AFTER = 2**31 - 1


def split_rate(text: str) -> tuple[float, float]:
    """(count, seconds of its unit) from '5/s', '100/min', '1000/m', '2/h' or a bare number.

    A window-shaped limit takes the unit as its window: '600/min' is 600 per 60 s window.
    """
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
    return number, _UNITS[unit]


def parse_rate(text: str) -> float:
    """Requests per second from '5/s', '100/min', '1000/m', '2/h' or a bare number (per second)."""
    number, unit = split_rate(text)
    return number / unit


def _whole_seconds(seconds: float) -> int:
    """A wait as Retry-After says it: whole seconds rounded up, at least 1, at most an int32."""
    if not seconds < _MAX_RETRY_AFTER:
        return _MAX_RETRY_AFTER
    return max(1, math.ceil(seconds))


def _check_window(window: float) -> float:
    if isinstance(window, bool) or not isinstance(window, int | float):
        raise TypeError(f"window must be a number of seconds, got {window!r}")
    if not window > 0 or math.isinf(window):
        raise ValueError(f"window must be a positive number of seconds, got {window!r}")
    return float(window)


def _check_window_count(count: float) -> int:
    # A float that is a whole number is accepted: counts often come from arithmetic.
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a whole number of requests >= 1, got {count!r}")
    return count


def window_count(per_second: float, window: float, shape: str = "window") -> int:
    """The requests per window of a `per_second` limit: a ValueError unless a whole number >= 1.

    Floating point noise is forgiven (1000/60 per second over 60 s is 1000), nothing more.
    """
    window = _check_window(window)
    count = per_second * window
    whole = round(count)
    if whole < 1 or not math.isclose(count, whole, rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(
            f"a {shape} limit needs a whole number of requests (>= 1) per window: "
            f"{per_second:g} per second over {window:g} s is {count:g}"
        )
    return whole


class RateLimit:
    """A token bucket: `burst` requests at once, refilled at `per_second`. Not thread-safe alone."""

    shape: Shape = "token-bucket"

    def __init__(
        self, per_second: float, burst: float | None = None, *, now: float | None = None
    ) -> None:
        """Full at `now` (default: time.monotonic(); a simulation passes its own clock's)."""
        if not per_second > 0 or math.isinf(per_second):
            raise ValueError(f"per_second must be positive, got {per_second!r}")
        self.per_second = per_second
        self.burst = float(burst if burst is not None else max(1, math.ceil(per_second)))
        if not self.burst >= 1 or math.isinf(self.burst):
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self._tokens = self.burst
        self._updated = time.monotonic() if now is None else now

    def _refill(self, now: float) -> None:
        # A caller's clock read just before another's may arrive second: time never runs back.
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.per_second)
        self._updated = max(now, self._updated)

    def take(self, now: float) -> int | None:
        """None when the request may pass; else the whole seconds to wait (Retry-After, >= 1)."""
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return _whole_seconds((1 - self._tokens) / self.per_second)

    def carry_over(self, previous: Limit) -> None:
        """Go on from `previous`'s tokens (up to this burst) instead of starting full: a changed
        limit hands out no fresh burst. Call right after making this one; another shape's state
        is not carried over."""
        if not isinstance(previous, RateLimit):
            return
        previous._refill(self._updated)
        self._tokens = min(self.burst, previous._tokens)

    def describe(self) -> str:
        """The limit in words, for the 429's detail and the listening line."""
        return f"token bucket of {self.per_second:g} requests per second, burst {self.burst:g}"


class FixedWindow:
    """`count` requests per `window` seconds, in back-to-back windows from `now` (when it is made)
    on; over it, 429 until the window ends. Not thread-safe alone."""

    shape: Shape = "fixed-window"

    def __init__(self, count: int, window: float, *, now: float | None = None) -> None:
        """The first window starts at `now` (default: time.monotonic())."""
        self.count = _check_window_count(count)
        self.window = _check_window(window)
        self.per_second = self.count / self.window  # the long-run limit
        self._origin = time.monotonic() if now is None else now
        self._latest = self._origin
        self._index = 0  # the window in use: it started at _origin + _index * window
        self._used = 0

    def take(self, now: float) -> int | None:
        """None when the request may pass; else the whole seconds to the window's end (>= 1)."""
        now = self._latest = max(now, self._latest)
        # Counted from the origin rather than added up, so no rounding error builds up.
        index = math.floor((now - self._origin) / self.window)
        if index != self._index:
            self._index, self._used = index, 0
        if self._used < self.count:
            self._used += 1
            return None
        return _whole_seconds(self._origin + (index + 1) * self.window - now)

    def carry_over(self, previous: Limit) -> None:
        """Keep `previous`'s windows and what was used in the current one, if it is a fixed
        window of the same length (a changed count applies from the next request)."""
        if isinstance(previous, FixedWindow) and math.isclose(previous.window, self.window):
            self._origin, self._index, self._used = (
                previous._origin,
                previous._index,
                previous._used,
            )
            self._latest = max(self._latest, previous._latest)

    def describe(self) -> str:
        """The limit in words, for the 429's detail and the listening line."""
        return f"fixed window of {self.count} requests per {self.window:g} s"


class SlidingWindow:
    """At most `count` requests in any `window` seconds (a sliding log of the requests let
    through; a 429 is not counted). Not thread-safe alone."""

    shape: Shape = "sliding-window"

    def __init__(self, count: int, window: float, *, now: float | None = None) -> None:
        """Empty at `now` (default: time.monotonic())."""
        self.count = _check_window_count(count)
        self.window = _check_window(window)
        self.per_second = self.count / self.window  # the long-run limit
        self._latest = time.monotonic() if now is None else now
        # Only the newest `count` requests can decide whether one more fits.
        self._log: deque[float] = deque(maxlen=self.count)

    def take(self, now: float) -> int | None:
        """None when the request may pass; else the whole seconds until the oldest request
        counted leaves the window (Retry-After, >= 1)."""
        now = self._latest = max(now, self._latest)
        log = self._log
        while log and log[0] + self.window <= now:
            log.popleft()
        if len(log) < self.count:
            log.append(now)
            return None
        return _whole_seconds(log[0] + self.window - now)

    def carry_over(self, previous: Limit) -> None:
        """Go on counting `previous`'s requests (the newest `count` of them), if it is a sliding
        window too; a different window length counts them over the new length."""
        if not isinstance(previous, SlidingWindow):
            return
        self._log.extend(previous._log)
        self._latest = max(self._latest, previous._latest)

    def describe(self) -> str:
        """The limit in words, for the 429's detail and the listening line."""
        return f"sliding window of {self.count} requests in any {self.window:g} s"


Limit: TypeAlias = RateLimit | FixedWindow | SlidingWindow


def make_limit(
    per_second: float,
    burst: float | None = None,
    *,
    shape: str = "token-bucket",
    window: float = 1.0,
    now: float | None = None,
) -> Limit:
    """The limit of one `shape` for a long-run rate of `per_second` (a ValueError if it makes no
    sense: a window holding a fraction of a request, or a burst for a window shape)."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}; got {shape!r}")
    if isinstance(per_second, bool) or not isinstance(per_second, int | float):
        raise TypeError(f"per_second must be a number, got {per_second!r}")
    if not per_second > 0 or math.isinf(per_second):
        raise ValueError(f"per_second must be positive, got {per_second!r}")
    if shape == "token-bucket":
        return RateLimit(per_second, burst, now=now)
    if burst is not None:
        raise ValueError(f"burst is for the token-bucket shape only, not {shape}")
    count = window_count(per_second, window, shape)
    if shape == "fixed-window":
        return FixedWindow(count, window, now=now)
    return SlidingWindow(count, window, now=now)


class RateLimited(NamedTuple):
    """A request the rate limit refused: its Retry-After, the limit, where Retry-After goes."""

    retry_after: int
    limit: Limit
    retry_after_in: RetryAfterIn


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
        self._rate_limit: Limit | None = None
        self._retry_after_in: RetryAfterIn = "header"
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
        burst: float | None = None,
        *,
        per_minute: float | None = None,
        shape: Shape = "token-bucket",
        window: float | None = None,
        retry_after_in: RetryAfterIn = "header",
    ) -> None:
        """A rate limit over every request: over it, 429 with problem+json and Retry-After.

        `shape` is how the server counts, for a long-run rate of `per_second` (or `per_minute`):

        - "token-bucket": `burst` (default: one second's worth, at least 1) requests may come at
          once, then one every 1/rate s; Retry-After is the time to the next token.
        - "fixed-window": `per_second * window` requests per `window` seconds, windows back to
          back from now; Retry-After is the time to the window's end.
        - "sliding-window": at most `per_second * window` requests in any `window` seconds;
          Retry-After is the time until the oldest of them leaves the window.

        `window` defaults to 1 s, or 60 s with `per_minute`; per window must come out a whole
        number of requests. `burst` is for the token bucket only. Retry-After is rounded up to
        whole seconds (at least 1); `retry_after_in="header"` sends it as the Retry-After
        header (and as `retryAfter` in the body, as Cortex does), "body" only as the problem+json
        `retryAfter`, with no header.

        Call with no rate to remove the limit. `rate_limit(per_minute=1000)` is Cortex's
        documented limit. Calling again while it runs changes the limit from the next request;
        the same shape goes on from its state (tokens left, requests counted in the window), as
        when another client starts or stops using the key, so a change hands out no fresh burst.
        Remove the limit first, or `clear()`, to start afresh.
        """
        if per_second is not None and per_minute is not None:
            raise ValueError("give per_second or per_minute, not both")
        rate = per_second if per_minute is None else per_minute / 60
        if rate is None:
            given = burst is not None or window is not None or shape != "token-bucket"
            if given or retry_after_in != "header":
                raise ValueError("burst, shape, window and retry_after_in need a rate")
            with self._lock:
                self._rate_limit = None
            return
        if retry_after_in not in RETRY_AFTER_IN:
            raise ValueError(
                f"retry_after_in must be one of {', '.join(RETRY_AFTER_IN)}; got {retry_after_in!r}"
            )
        if window is not None and shape == "token-bucket":
            raise ValueError("window is for the fixed-window and sliding-window shapes only")
        if window is None:
            window = 1.0 if per_minute is None else 60.0
        limit = make_limit(rate, burst, shape=shape, window=window)
        with self._lock:
            if self._rate_limit is not None:
                limit.carry_over(self._rate_limit)
            self._rate_limit = limit
            self._retry_after_in = retry_after_in

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
            self._retry_after_in = "header"
            self._outcomes.clear()
            self._errors.clear()
            self._slow.clear()
            self._drops.clear()
            self._unknown_status = self._unknown_error_type = None

    @property
    def active_rate_limit(self) -> Limit | None:
        """The rate limit in force, if any."""
        with self._lock:
            return self._rate_limit

    def describe_rate_limit(self) -> str:
        """The rate limit in force in words, with where Retry-After goes; "no rate limit"."""
        with self._lock:
            if self._rate_limit is None:
                return "no rate limit"
            where = "header" if self._retry_after_in == "header" else "problem+json body only"
            return f"rate limit: {self._rate_limit.describe()}; Retry-After in the {where}"

    @property
    def retry_after_in(self) -> RetryAfterIn:
        """Where the rate limit's 429s say how long to wait: "header" or "body"."""
        with self._lock:
            return self._retry_after_in

    # --- decisions, made by the server once per request or job (not for scripting) ---

    def take_drop(self, method: str) -> bool:
        with self._lock:
            return _take(self._drops, method) is not None

    def take_delay(self, method: str) -> float:
        with self._lock:
            rule = _take(self._slow, method)
            return rule.seconds if rule is not None else 0.0

    def take_token(self, now: float) -> RateLimited | None:
        """None when the rate limit lets the request through; else how to refuse it."""
        with self._lock:
            limit = self._rate_limit
            if limit is None:
                return None
            wait = limit.take(now)
            return None if wait is None else RateLimited(wait, limit, self._retry_after_in)

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
