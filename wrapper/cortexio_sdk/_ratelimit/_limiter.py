"""The client-side rate limiter shared by every thread and task using one client.

Why our own code: the libraries that throttle (`limits`, `pyrate-limiter`, `aiolimiter`) offer a
fixed rate, and one of them per sync or async world; what Cortex needs is a rate that reacts to
the server. A 429 means the real limit is lower than we thought (other clients share the key),
so every caller of the client holds off until the server's Retry-After has passed and the rate
drops; it then climbs back gradually while requests succeed. That is a few lines of arithmetic
under a lock, which both the sync and the async transport share.

The algorithm is GCRA (a token bucket expressed as a "theoretical arrival time"): `reserve()`
books the next free slot and returns how long the caller must sleep before using it. Booking is
instant and never blocks under the lock, so it is safe from threads and event loops alike.

`Limiter` is what the transports need from a limiter; `_redis_bucket.RedisBucket` is the
same arithmetic kept in Redis for a whole fleet, whose calls are I/O: hence the async twins.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple, Protocol

import attrs

from .._checks import check_number

__all__ = ["Limiter", "RateLimiter", "Ticket", "Tuning"]


class Limiter(Protocol):
    """What a transport asks of a rate limiter, from threads (plain methods) or a loop (a-)."""

    def reserve(self, previous: Ticket | None = None) -> Ticket:
        """Book a slot, or with `previous` (slept on), confirm it: a zero wait means send now."""
        ...

    async def areserve(self, previous: Ticket | None = None) -> Ticket: ...

    def hold_off(self, seconds: float) -> None:
        """A 429 asked for `seconds` of quiet from every caller sharing the limit."""
        ...

    async def ahold_off(self, seconds: float) -> None: ...

    def succeeded(self) -> None:
        """A request went through (never blocks)."""
        ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


@attrs.frozen
class Tuning:
    """How the rate reacts to the server; see RateLimiter. Shared with the Redis limiter."""

    decrease: float = 0.7
    recovery: float = 0.01
    caution: float = 0.9
    probe: float = 0.1
    min_fraction: float = 0.05


class RateLimiter:
    """Adaptive GCRA limiter: at most `requests_per_minute`, less after 429s.

    - `burst`: how many requests may go at once at the full rate after a quiet spell (default:
      one second's worth less one). It is a time window, so it shrinks with the rate: after a
      429 the callers that were waiting do not all rush in together when the hold-off ends.
      The one request less leaves a token spare in a server's bucket of one second's worth, so
      a request that arrives a little early against the schedule (network jitter) still finds
      one: at exactly the limit, every run of the fleet benchmark met one 429 and its hold-off.
    - After a 429 nobody sends before the hold-off ends, and the rate is multiplied by
      `decrease` (never below `min_fraction` of the maximum). 429s that arrive while a hold-off
      is on answer requests sent before it, so they lengthen it but do not lower the rate again:
      one burst into the limit is one decrease, not one per request of the burst.
    - Each success raises the rate by `recovery` of the maximum, up to the maximum; but once the
      rate is back near the limit seen at the last 429 (`caution`, 90 % of it) it climbs
      `probe` (a tenth) as fast. That limit is the rate at the 429 or, when lower, the
      successes of the second before it (what the server really let through). Approaching it
      slowly keeps the rate under it for long spells instead of hitting it every few seconds,
      and a limit that has risen (another client sharing the key has left) is still found.

    `reserve()` returns a ticket with the slot; a hold-off voids every slot booked before it, so
    that `reserve(previous=ticket)` books those callers again after it instead of letting them
    keep slots that no longer fit the lowered rate.
    """

    def __init__(
        self,
        requests_per_minute: float,
        *,
        burst: float | None = None,
        tuning: Tuning = Tuning(),  # frozen, so one shared default is safe
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_rate = check_number("requests_per_minute", requests_per_minute) / 60.0
        self._full_rate = self.max_rate  # as configured; max_rate may be a share of it
        self.rate = self.max_rate
        self.burst = burst if burst is not None else max(1.0, self.max_rate - 1.0)
        self.burst_window = self.burst / self.max_rate  # seconds of traffic that may go at once
        self.tuning = tuning
        self._decrease = tuning.decrease
        self._recovery = tuning.recovery * self.max_rate
        self._caution = tuning.caution
        self._probe = tuning.probe
        self._last_limited = self.max_rate  # the limit seen at the last 429, requests/s
        self._recent: deque[float] = deque()  # times of the successes of the last second
        self._min_rate = tuning.min_fraction * self.max_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next request
        self._hold_until = 0.0
        self._epoch = 0  # how many hold-offs voided the slots booked before them

    def reserve(self, previous: Ticket | None = None) -> Ticket:
        """Book a slot: `ticket.wait` is the seconds to sleep before sending (0.0 when free now).

        With `previous`, a ticket slept on: a zero-wait ticket when it is still valid, else a
        new booking (a hold-off came meanwhile).
        """
        with self._lock:
            if previous is not None and previous.epoch == self._epoch:
                return Ticket(0.0, self._epoch)
            now = self._clock()
            start = max(now, self._hold_until)
            interval = 1.0 / self.rate
            burst = max(1.0, self.rate * self.burst_window)
            tat = max(self._tat, start)
            send_at = max(start, tat - (burst - 1.0) * interval)
            self._tat = tat + interval
            return Ticket(send_at - now, self._epoch)

    def hold_off(self, seconds: float) -> None:
        """A 429 asked for `seconds` of quiet: every caller waits, and the rate drops."""
        with self._lock:
            now = self._clock()
            if now >= self._hold_until:
                # A new burst into the limit, not one more answer to the burst being held off.
                while self._recent and self._recent[0] < now - 1.0:
                    self._recent.popleft()
                passed = len(self._recent)
                self._last_limited = min(self.rate, passed) if passed >= 2 else self.rate
                self.rate = max(self._min_rate, self.rate * self._decrease)
            until = now + seconds
            if until >= self._hold_until:
                self._hold_until = until
                self._tat = until
                self._epoch += 1

    def succeeded(self) -> None:
        """A request went through: let the rate climb back towards the maximum."""
        with self._lock:
            step = self._recovery
            if self.rate >= self._caution * self._last_limited:
                step *= self._probe
            self.rate = min(self.max_rate, self.rate + step)
            now = self._clock()
            self._recent.append(now)
            while self._recent[0] < now - 1.0:
                self._recent.popleft()

    def take_share(self, fraction: float, rate: float) -> None:
        """Keep to `fraction` of the configured maximum from now on, starting at `fraction` of
        `rate` (requests/s), with no burst saved up: this process's part of a fleet whose shared
        limiter became unreachable, while the server's bucket is likely empty."""
        with self._lock:
            self.max_rate = self._full_rate * fraction
            self._recovery = self.tuning.recovery * self.max_rate
            self._min_rate = self.tuning.min_fraction * self.max_rate
            self.rate = max(self._min_rate, min(self.max_rate, rate * fraction))
            self._last_limited = self.rate
            interval = 1.0 / self.rate
            burst = max(1.0, self.rate * self.burst_window)
            self._tat = max(self._tat, self._clock() + (burst - 1.0) * interval)

    async def areserve(self, previous: Ticket | None = None) -> Ticket:
        return self.reserve(previous)

    async def ahold_off(self, seconds: float) -> None:
        self.hold_off(seconds)

    def close(self) -> None:
        """Nothing to release: the limiter holds no connection."""

    async def aclose(self) -> None:
        """Nothing to release: the limiter holds no connection."""

    def hold_remaining(self) -> float:
        """Seconds until the current hold-off ends (0.0 when there is none)."""
        with self._lock:
            return max(0.0, self._hold_until - self._clock())


class Ticket(NamedTuple):
    """A booked slot: sleep `wait` seconds, then confirm it with `reserve(previous=ticket)`.

    `shared`: booked in Redis (else in this process), whose epochs count the fleet's hold-offs.
    """

    wait: float
    epoch: int
    shared: bool = False
