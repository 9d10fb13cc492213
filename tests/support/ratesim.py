"""A rate-limited server and many callers on a simulated clock: no sockets, no sleeping.

The callers are the SDK's own decision objects, not a model of them: each runs the transport's
loop (book a slot with the limiter, send, let `Call.after_response` decide, tell the limiter of
a hold-off, sleep what it says) with the real `RateLimiter` and `RequestPolicy` on one fake
clock, against a simulated server bucket. Time jumps from one event to the next, so a minute of
16 callers takes a fraction of a second and the same seed gives the same run.

    python tests/support/ratesim.py      # the sweep of server shapes, as a table
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import httpx
from cortexio_sdk._http._retry import Call, RequestPolicy
from cortexio_sdk._ratelimit._limiter import RateLimiter
from cortexio_sdk.testing._faults import RateLimit
from fakeclock import FakeClock

URL = "https://api.example.test/api/v1/queries/job-1"
DOCUMENTED_RPM = 1000.0  # the SDK's default: it is not told the server's limit


class Server(Protocol):
    limit: float  # requests per second it lets through in the long run

    def answer(self, now: float) -> int | None:
        """None: accepted; else the whole seconds of its Retry-After."""


class TokenBucket:
    """The fake Cortex's own token bucket (`RateLimit`: `rate` tokens a second, up to `burst`;
    over it, 429 with the seconds to the next token, rounded up), full at simulated time 0."""

    def __init__(self, rate: float, burst: float) -> None:
        self.limit = rate
        self._bucket = RateLimit(rate, burst, now=0.0)

    def answer(self, now: float) -> int | None:
        return self._bucket.take(now)


@dataclass
class FixedWindow:
    """`count` requests per `window` seconds; over it, 429 until the window's end (rounded up)."""

    count: int
    window: float
    _start: float = 0.0
    _used: int = 0

    @property
    def limit(self) -> float:
        return self.count / self.window

    def answer(self, now: float) -> int | None:
        if now >= self._start + self.window:
            self._start += self.window * ((now - self._start) // self.window)
            self._used = 0
        if self._used < self.count:
            self._used += 1
            return None
        return max(1, math.ceil(self._start + self.window - now))


@dataclass
class Result:
    seconds: float
    limit: float
    accepted: Counter[int] = field(default_factory=Counter)  # per whole second
    limited: Counter[int] = field(default_factory=Counter)
    failed: int = 0

    def goodput(self, start: float = 0.0, end: float | None = None) -> float:
        """Accepted requests a second between start and end, as a share of the server's limit."""
        end = self.seconds if end is None else end
        seconds = range(int(start), int(end))
        return sum(self.accepted[s] for s in seconds) / (end - start) / self.limit

    def share_429(self, start: float = 0.0, end: float | None = None) -> float:
        end = self.seconds if end is None else end
        seconds = range(int(start), int(end))
        ok = sum(self.accepted[s] for s in seconds)
        limited = sum(self.limited[s] for s in seconds)
        return limited / max(1, ok + limited)


def simulate(
    server: Server,
    *,
    callers: int,
    seconds: float,
    requests_per_minute: float = DOCUMENTED_RPM,
    seed: int = 0,
) -> Result:
    """`callers` callers sharing one client, each sending GETs back to back for `seconds`."""
    clock = FakeClock(0.0)  # the run's seconds count from 0
    limiter = RateLimiter(requests_per_minute, clock=clock)
    policy = RequestPolicy(
        api_key="k",
        origin=("https", "api.example.test", 443),
        user_agent="sim",
        limiter=limiter,
        max_retries=4,
        max_retry_after=60.0,
        call_timeout=300.0,
        clock=clock,
        rng=random.Random(seed),
    )
    result = Result(seconds=seconds, limit=server.limit)
    order = itertools.count()  # ties in time go in the order they were scheduled
    # (time, order, caller's call, the ticket it slept on or None to book afresh)
    events: list[tuple[float, int, Call, object]] = []

    def book(call: Call, previous: object) -> None:
        ticket = limiter.reserve(previous)  # type: ignore[arg-type]
        wait = ticket.wait
        if wait > 0:
            heapq.heappush(events, (clock.now + wait, next(order), call, ticket))
        else:
            send(call)

    def send(call: Call) -> None:
        second = int(clock.now)
        retry_after = server.answer(clock.now)
        if retry_after is None:
            result.accepted[second] += 1
            response = httpx.Response(200, json={}, request=call.request)
        else:
            result.limited[second] += 1
            body = {"type": "about:blank", "title": "Too Many Requests", "status": 429}
            response = httpx.Response(
                429, headers={"Retry-After": str(retry_after)}, json=body, request=call.request
            )
        decision = call.after_response(response)
        if decision.hold_off is not None:
            limiter.hold_off(decision.hold_off)
        if decision.error is not None:
            result.failed += 1
            start_call()
        elif decision.retry_in is not None:
            heapq.heappush(events, (clock.now + decision.retry_in, next(order), call, None))
        else:
            start_call()

    def start_call() -> None:
        heapq.heappush(
            events, (clock.now, next(order), policy.start(httpx.Request("GET", URL)), None)
        )

    for _ in range(callers):
        start_call()
    while events and events[0][0] < seconds:
        clock.now, _, call, previous = heapq.heappop(events)
        book(call, previous)
    return result


def shapes() -> list[tuple[str, Callable[[], Server]]]:
    """The server shapes users meet (issue 13's sweep), each as a way to make a fresh one."""
    made: list[tuple[str, Callable[[], Server]]] = []
    for rate in (2.0, 5.0, 10.0, 1000 / 60):
        bursts = {"1": 1.0, "2": 2.0, "5": 5.0, "1 s": rate, "1 min": rate * 60}
        for name, burst in bursts.items():
            made.append((f"bucket {rate:.3g}/s burst {name}", partial(TokenBucket, rate, burst)))
    made.append(("window 10 per s", partial(FixedWindow, 10, 1.0)))
    made.append(("window 600 per min", partial(FixedWindow, 600, 60.0)))
    return made


def main() -> None:
    """Every shape x 1, 4, 16, 64 callers, 60 simulated seconds each, as a Markdown table."""
    print(
        "| server | callers | goodput, s 30-60 | 429s, s 30-60 | goodput, s 0-20 | 429s, s 0-20 |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, make in shapes():
        for callers in (1, 4, 16, 64):
            r = simulate(make(), callers=callers, seconds=60.0)
            print(
                f"| {name} | {callers} | {r.goodput(30, 60):.2f} | {r.share_429(30, 60):.1%} "
                f"| {r.goodput(0, 20):.2f} | {r.share_429(0, 20):.1%} |"
                + (f" {r.failed} failed" if r.failed else "")
            )


if __name__ == "__main__":
    main()
