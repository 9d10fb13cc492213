"""How many requests the async transport lets into httpx's connection pool at once.

httpcore's async pool rescans every queued request against every connection whenever one is
added or released, so its CPU cost per request grows with (requests in it x connections).
Measured on this project's 2-core machine, 1,000 tasks polling a local server through one
`AsyncCortex` were answered about 620 times a second with 2 requests in flight and 280 with
20. Against a distant server, though, latency needs many in flight: 2 at 100 ms carry only
20 requests a second.

So the limit adapts, as TCP Vegas adapts its window: answers that come about as fast as the
quickest seen lately (within `TOLERANCE` times it) mean nothing queued, and the limit grows by
one per round of answers; slower ones mean requests queue somewhere (in the pool, the event
loop or the server), and it shrinks by a tenth. It starts at `LEAST` and never passes `MOST`,
the pool's size. Pure arithmetic on times passed in, so a test can drive it exactly.
"""

from __future__ import annotations

import math

__all__ = ["LEAST", "MOST", "InFlightLimit"]

LEAST = 2
MOST = 20
TOLERANCE = 2.0
SHRINK = 0.9
# The quickest round trip is "lately" over two windows of this many seconds: a server that
# became slower for good is measured against its new speed within a minute.
WINDOW = 30.0


class InFlightLimit:
    """The adaptive limit; `answered()` after each attempt returns the new whole limit."""

    def __init__(self, *, least: int = LEAST, most: int = MOST, now: float = 0.0) -> None:
        self.least = least
        self.most = most
        self.limit = float(least)
        self._quickest = math.inf  # in the current window
        self._before = math.inf  # in the window before it
        self._window_ends = now + WINDOW

    def quickest(self) -> float:
        return min(self._quickest, self._before)

    def answered(self, round_trip: float, now: float) -> int:
        """One attempt took `round_trip` seconds from entering the pool to its whole answer."""
        if now >= self._window_ends:
            self._before, self._quickest = self._quickest, math.inf
            self._window_ends = now + WINDOW
        self._quickest = min(self._quickest, round_trip)
        if round_trip <= TOLERANCE * self.quickest():
            self.limit = min(float(self.most), self.limit + 1.0 / self.limit)
        else:
            self.limit = max(float(self.least), self.limit * SHRINK)
        return int(self.limit)
