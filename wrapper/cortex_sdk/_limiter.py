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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Adaptive GCRA limiter: at most `requests_per_minute`, less after 429s.

    - `burst`: how many requests may go at once after a quiet spell (default: one second's worth).
    - After a 429 the rate is multiplied by `decrease` (never below `min_fraction` of the maximum)
      and nobody sends before the hold-off ends.
    - Each success raises the rate by `recovery` of the maximum, up to the maximum.
    """

    def __init__(
        self,
        requests_per_minute: float,
        *,
        burst: float | None = None,
        decrease: float = 0.7,
        recovery: float = 0.01,
        min_fraction: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not requests_per_minute > 0:
            raise ValueError(f"requests_per_minute must be positive, got {requests_per_minute!r}")
        self.max_rate = requests_per_minute / 60.0
        self.rate = self.max_rate
        self.burst = burst if burst is not None else max(1.0, self.max_rate)
        self._decrease = decrease
        self._recovery = recovery * self.max_rate
        self._min_rate = min_fraction * self.max_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next request
        self._hold_until = 0.0

    def reserve(self) -> float:
        """Book a slot; return the seconds to sleep before sending (0.0 when free now)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._hold_until)
            interval = 1.0 / self.rate
            tat = max(self._tat, start)
            send_at = max(start, tat - (self.burst - 1.0) * interval)
            self._tat = tat + interval
            return send_at - now

    def hold_off(self, seconds: float) -> None:
        """A 429 asked for `seconds` of quiet: every caller waits, and the rate drops."""
        with self._lock:
            now = self._clock()
            self._hold_until = max(self._hold_until, now + seconds)
            self.rate = max(self._min_rate, self.rate * self._decrease)
            self._tat = max(self._tat, self._hold_until)

    def succeeded(self) -> None:
        """A request went through: let the rate climb back towards the maximum."""
        with self._lock:
            self.rate = min(self.max_rate, self.rate + self._recovery)

    def hold_remaining(self) -> float:
        """Seconds until the current hold-off ends (0.0 when there is none)."""
        with self._lock:
            return max(0.0, self._hold_until - self._clock())
