"""A rate-limited server and many callers on a simulated clock: no sockets, no sleeping.

The callers are the SDK's own decision objects, not a model of them: each runs the transport's
loop (book a slot with the limiter, send, let `Call.after_response` decide, tell the limiter of
a hold-off, sleep what it says) with the real `RateLimiter` and `RequestPolicy` on one fake
clock, against a simulated server bucket. Time jumps from one event to the next, so a minute of
16 callers takes a fraction of a second and the same seed gives the same run. Requests may take
time on their way, spread at random as on a loaded machine (`latency`, `jitter`); `paced` and
`best_pace` give what a fixed pace that knows the shape gets, the oracle beside such runs. A
fleet of processes runs each client on the SDK's `RedisBucket`, its script answered in Python
(`SimulatedRedis`), so Redis can be killed mid-run.

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

import httpx
import redis
from cortexio_sdk import CortexError, RedisLimiter
from cortexio_sdk._http._retry import Call, RequestPolicy
from cortexio_sdk._ratelimit._limiter import Limiter, RateLimiter
from cortexio_sdk._ratelimit._redis_bucket import RedisBucket
from cortexio_sdk.testing._faults import make_limit
from fakeclock import FakeClock

URL = "https://api.example.test/api/v1/queries/job-1"
DOCUMENTED_RPM = 1000.0  # the SDK's default: it is not told the server's limit


class Server:
    """One of the fake Cortex's own rate limits (`make_limit`: a token bucket, a fixed or a
    sliding window; over it, 429 with whole seconds of Retry-After), made at simulated time 0.

    `change`: (at, factor): from `at` seconds on, the limit is `factor` times what it was (another
    client joined or left the key), carrying over what was used, as `faults.rate_limit` does.
    `spent_at`: at that time another client of the key spends the bucket, so the next request
    meets a 429 whatever the client's own rate.
    """

    def __init__(
        self,
        per_second: float,
        burst: float | None = None,
        *,
        shape: str = "token-bucket",
        window: float = 1.0,
        change: tuple[float, float] | None = None,
        spent_at: float | None = None,
    ) -> None:
        self._make = partial(make_limit, burst=burst, shape=shape, window=window)
        self.limit = per_second  # at the start
        self._limit = self._make(per_second, now=0.0)
        self._change = change
        self._changed = False
        self.shape = shape
        self._spent_at = spent_at

    def limit_at(self, now: float) -> float:
        """Requests per second it lets through in the long run at `now`."""
        if self._change is not None and now >= self._change[0]:
            return self.limit * self._change[1]
        return self.limit

    def answer(self, now: float) -> int | None:
        """None: accepted; else the whole seconds of its Retry-After."""
        if self._change is not None and not self._changed and now >= self._change[0]:
            at, factor = self._change
            changed = self._make(self.limit * factor, now=at)
            changed.carry_over(self._limit)
            self._limit, self._changed = changed, True
        if self._spent_at is not None and now >= self._spent_at:
            self._spent_at = None
            while self._limit.take(now) is None:
                pass  # the other client takes every token left
        return self._limit.take(now)


def TokenBucket(rate: float, burst: float) -> Server:
    return Server(rate, burst)


def FixedWindow(count: int, window: float) -> Server:
    return Server(count / window, shape="fixed-window", window=window)


@dataclass
class Result:
    seconds: float
    limit: float
    accepted: Counter[int] = field(default_factory=Counter)  # per whole second
    limited: Counter[int] = field(default_factory=Counter)
    failed: int = 0
    per_caller: Counter[int] = field(default_factory=Counter)  # successful calls by caller
    limit_at: Callable[[float], float] | None = None

    def _limit_over(self, seconds: range) -> float:
        if self.limit_at is None:
            return self.limit * len(seconds)
        return sum(self.limit_at(s + 0.5) for s in seconds)

    def goodput(self, start: float = 0.0, end: float | None = None) -> float:
        """Accepted requests between start and end, as a share of what the limit allowed."""
        end = self.seconds if end is None else end
        seconds = range(int(start), int(end))
        return sum(self.accepted[s] for s in seconds) / self._limit_over(seconds)

    def share_429(self, start: float = 0.0, end: float | None = None) -> float:
        end = self.seconds if end is None else end
        seconds = range(int(start), int(end))
        ok = sum(self.accepted[s] for s in seconds)
        limited = sum(self.limited[s] for s in seconds)
        return limited / max(1, ok + limited)

    def last_429(self) -> int | None:
        """The last whole second with a 429, if any."""
        return max(self.limited) if self.limited else None

    def count_429(self, start: float = 0.0, end: float | None = None) -> int:
        end = self.seconds if end is None else end
        return sum(self.limited[s] for s in range(int(start), int(end)))

    def fairness(self) -> float:
        """The fewest successful calls of any caller, as a share of the mean (1.0: all equal)."""
        counts = list(self.per_caller.values())
        return min(counts) / (sum(counts) / len(counts)) if counts else 0.0


def simulate(
    server: Server,
    *,
    callers: int,
    seconds: float,
    requests_per_minute: float = DOCUMENTED_RPM,
    seed: int = 0,
    client: str = "sdk",
    told: bool = False,
    latency: float = 0.0,
    jitter: float = 0.0,
    stalls: tuple[float, float] | None = None,
    processes: int | None = None,
    redis_killed_at: float | None = None,
) -> Result:
    """`callers` callers sharing one client, each sending GETs back to back for `seconds`.

    `client`: "sdk", the SDK's limiter and retry decisions at their defaults; or "plain", what a
    user would otherwise write: each caller sleeps the Retry-After of a 429 and sends again.
    `told`: the SDK is told `requests_per_minute` is the limit (it starts there).
    `latency`, `jitter`: each way, a request takes `latency` seconds plus a random delay of mean
    `jitter` (exponential: mostly small, now and then several times it), as a loaded machine
    and network add to the wall clock. 0 and 0: a request is answered the instant it is sent.
    `stalls`: (mean seconds apart, seconds each): the machine stops now and then, as one with
    more runnable processes than cores does: nothing the client or the server does happens
    during a stall, and what fell due in it happens at its end, in order (callers that woke
    late send together; requests the server had not read yet are read together).
    `processes`: a fleet of that many processes, `callers` each, each client on a `RedisLimiter`
    (the SDK's `RedisBucket`, its script answered by `SimulatedRedis` on the same clock); Redis
    fails from `redis_killed_at` on, and each process falls back to its own limiter.
    """
    clock = FakeClock(0.0)  # the run's seconds count from 0
    if processes is None:
        limiters: list[Limiter] = [RateLimiter(requests_per_minute, told=told, clock=clock)]
    else:
        shared = SimulatedRedis(clock, redis_killed_at)
        limiters = [shared.client(requests_per_minute, told, n) for n in range(processes)]
    policies = [
        RequestPolicy(
            api_key="k",
            origin=("https", "api.example.test", 443),
            user_agent="sim",
            limiter=limiter,
            max_retries=4,
            max_retry_after=60.0,
            call_timeout=300.0,
            clock=clock,
            rng=random.Random(seed + n),
        )
        for n, limiter in enumerate(limiters)
    ]
    result = Result(seconds=seconds, limit=server.limit, limit_at=server.limit_at)
    order = itertools.count()  # ties in time go in the order they were scheduled
    # (time, order, caller, its call, the ticket it slept on or None to book afresh)
    events: list[tuple[float, int, int, Call, object]] = []

    def schedule(at: float, caller: int, call: Call, ticket: object) -> None:
        heapq.heappush(events, (at, next(order), caller, call, ticket))

    def book(caller: int, call: Call, previous: object) -> None:
        if client == "plain":
            send(caller, call)
            return
        ticket = limiters[caller // callers].reserve(previous)  # type: ignore[arg-type]
        try:
            wait = call.limiter_wait(ticket)
        except CortexError:  # its slot is past the call's deadline: the call fails
            result.failed += 1
            start_call(caller)
            return
        if wait > 0:
            schedule(clock.now + wait, caller, call, ticket)
        else:
            send(caller, call)

    delay = _delays(latency, jitter, seed)
    spread = latency > 0.0 or jitter > 0.0

    def send(caller: int, call: Call) -> None:
        if spread:
            schedule(clock.now + delay(), caller, call, _Arrive())
        else:
            arrive(caller, call)

    def arrive(caller: int, call: Call) -> None:
        second = int(clock.now)
        retry_after = server.answer(clock.now)
        if retry_after is None:
            result.accepted[second] += 1
        else:
            result.limited[second] += 1
        if spread:
            schedule(clock.now + delay(), caller, call, _Answered(retry_after))
        else:
            answered(caller, call, retry_after)

    def answered(caller: int, call: Call, retry_after: int | None) -> None:
        if client == "plain":
            if retry_after is None:
                result.per_caller[caller] += 1
                start_call(caller)
            else:
                schedule(clock.now + retry_after, caller, call, None)
            return
        if retry_after is None:
            response = httpx.Response(200, json={}, request=call.request)
        else:
            body = {"type": "about:blank", "title": "Too Many Requests", "status": 429}
            response = httpx.Response(
                429, headers={"Retry-After": str(retry_after)}, json=body, request=call.request
            )
        decision = call.after_response(response)
        if decision.hold_off is not None:
            limiters[caller // callers].hold_off(decision.hold_off)
        if decision.error is not None:
            result.failed += 1
            start_call(caller)
        elif decision.retry_in is not None:
            schedule(clock.now + decision.retry_in, caller, call, None)
        else:
            result.per_caller[caller] += 1
            start_call(caller)

    def start_call(caller: int) -> None:
        policy = policies[caller // callers]
        schedule(clock.now, caller, policy.start(httpx.Request("GET", URL)), None)

    for caller in range(callers * len(limiters)):
        start_call(caller)
    stalled = _Stalls(stalls, seconds, seed)
    while events and events[0][0] < seconds:
        at, index, caller, call, previous = heapq.heappop(events)
        if (end := stalled.end(at)) is not None:
            # Due during a stall: at its end, in the order it was scheduled.
            heapq.heappush(events, (end, index, caller, call, previous))
            continue
        clock.now = at
        if isinstance(previous, _Arrive):
            arrive(caller, call)
        elif isinstance(previous, _Answered):
            answered(caller, call, previous.retry_after)
        else:
            book(caller, call, previous)
    return result


FLEETS = ((2, 8), (4, 8), (6, 4))  # processes x callers: figure 8's fleets, and the tests'


class SimulatedRedis:
    """What `_redis_bucket.lua` answers, in Python on the simulated clock: one key's state and
    version, its clients and their order, read and compare-and-set; from `killed_at` on, every
    call fails as a Redis that is gone does. `client()` is one process's `RedisBucket` on it."""

    def __init__(self, clock: FakeClock, killed_at: float | None) -> None:
        self._clock = clock
        self._killed_at = math.inf if killed_at is None else killed_at
        self._state: dict[str, str] = {}
        self._version = 0
        self._clients: dict[str, float] = {}

    def client(self, requests_per_minute: float, told: bool, process: int) -> RedisBucket:
        bucket = RedisBucket(
            RedisLimiter(url="redis://127.0.0.1:6379/0"),  # never connected to
            key="sim",
            requests_per_minute=requests_per_minute,
            told=told,
            clock=self._clock,
        )
        bucket._sync_script = self  # its one way to Redis
        bucket._id = f"process-{process:03d}"  # (random ids would order the fleet anew each run)
        return bucket

    def __call__(self, *, keys: list[str], args: list[object]) -> object:
        now = self._clock.now
        if now >= self._killed_at:
            raise redis.ConnectionError("Connection refused (simulated)")
        op, who, active = args[0], str(args[1]), float(str(args[2]))
        if op == "write" and int(str(args[4])) == self._version:
            fields = [str(item) for item in args[5:]]
            self._state = dict(zip(fields[::2], fields[1::2], strict=True))
            self._version += 1
            return 1
        self._clients[who] = now
        self._clients = {c: at for c, at in self._clients.items() if at > now - active}
        pairs = [item for pair in self._state.items() for item in pair]
        place = sum(client < who for client in self._clients)
        return [f"{now:.6f}", self._version, len(self._clients), place, *pairs]


def paced(
    server: Server,
    rate: float,
    *,
    seconds: float,
    latency: float = 0.0,
    jitter: float = 0.0,
    stalls: tuple[float, float] | None = None,
    seed: int = 0,
) -> Result:
    """A client that knows the shape: one request every 1/`rate` s, each reaching the server
    `latency` plus a random delay of mean `jitter` later (as `simulate`), and after a 429 none
    sent until its Retry-After has passed since the answer came back. No learning: what the
    best pace for a shape and a spread of delays can get. `stalls` as `simulate`: a request
    due in a stall goes at its end, and the next one a whole interval later (what the stall
    lost is not made up: the best a pace can do against a small bucket)."""
    delay = _delays(latency, jitter, seed)
    stalled = _Stalls(stalls, seconds, seed)
    result = Result(seconds=seconds, limit=server.limit, limit_at=server.limit_at)
    sent, hold = 0.0, 0.0
    while sent < seconds:
        if (end := stalled.end(sent)) is not None:
            sent = end
        arrival = sent + delay()
        retry_after = server.answer(arrival)
        if retry_after is None:
            result.accepted[int(arrival)] += 1
        else:
            result.limited[int(arrival)] += 1
            hold = max(hold, arrival + delay() + retry_after)  # its answer's way back
        sent = max(sent + 1.0 / rate, hold)
    return result


def best_pace(
    make: Callable[[], Server],
    *,
    seconds: float,
    latency: float = 0.0,
    jitter: float = 0.0,
    stalls: tuple[float, float] | None = None,
    start: float = 30.0,
    most_429: float = 0.01,
) -> tuple[float, Result]:
    """The pace (as a share of the limit) that gets the most from `start` to the end with at
    most `most_429` of requests answered 429 there, and its run: an oracle for a shape and a
    spread of delays (or stalls), tried from 0.50 to 1.00 of the limit in steps of 0.005."""
    best: tuple[float, Result] | None = None
    for step in range(100, 201):
        share = step * 0.005
        server = make()
        rate = share * server.limit
        run = paced(server, rate, seconds=seconds, latency=latency, jitter=jitter, stalls=stalls)
        if run.share_429(start) > most_429:
            continue
        if best is None or run.goodput(start) > best[1].goodput(start):
            best = (share, run)
    assert best is not None, "no pace from half the limit up keeps to the 429 share"
    return best


def _delays(latency: float, jitter: float, seed: int) -> Callable[[], float]:
    """A request's time on its way, drawn afresh at each call: `latency` plus an exponential
    delay of mean `jitter` (none at 0), the same draws for a seed."""
    draws = random.Random(seed + 1)
    if jitter <= 0.0:
        return lambda: latency
    return lambda: latency + draws.expovariate(1.0 / jitter)


class _Stalls:
    """The stalls of a run (`stalls`: mean seconds apart, seconds each; None: none), asked in
    time order: exponentially spread starts, the same for a seed."""

    def __init__(self, stalls: tuple[float, float] | None, seconds: float, seed: int) -> None:
        self._ahead: list[tuple[float, float]] = []  # (start, end), in order
        if stalls is None:
            return
        every, length = stalls
        draws, at = random.Random(seed + 2), 0.0
        while (at := at + draws.expovariate(1.0 / every)) < seconds:
            self._ahead.append((at, at + length))
            at += length

    def end(self, at: float) -> float | None:
        """The end of the stall `at` falls in, else None (times asked never go back)."""
        while self._ahead and self._ahead[0][1] <= at:
            self._ahead.pop(0)  # over before `at`
        if self._ahead and self._ahead[0][0] <= at:
            return self._ahead[0][1]
        return None


class _Arrive:
    """An event: a request sent reaches the server."""


@dataclass(frozen=True)
class _Answered:
    """An event: the server's answer (None: accepted, else its Retry-After) reaches the client."""

    retry_after: int | None


CHANGE_AT = 60.0  # when the limit changes in change_shapes()'s runs


def change_shapes() -> list[tuple[str, Callable[[], Server]]]:
    """A limit that halves (a client joined the key) or doubles (one left) at CHANGE_AT: token
    buckets of 2 to 16.7/s with bursts of 1, 2, a second's and ten seconds' worth; doubling only
    where twice the limit is still under the documented one (the client never goes past it)."""
    made: list[tuple[str, Callable[[], Server]]] = []
    for rate in (2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 13.0, 1000 / 60):
        bursts = {"1": 1.0, "2": 2.0, "1 s": rate, "10 s": rate * 10}
        for burst_name, burst in bursts.items():
            for factor, verb in ((0.5, "halves"), (2.0, "doubles")):
                if factor * rate > DOCUMENTED_RPM / 60 * 0.98:
                    continue
                made.append(
                    (
                        f"bucket {_rate_name(rate)} burst {burst_name}, {verb}",
                        partial(Server, rate, burst, change=(CHANGE_AT, factor)),
                    )
                )
    return made


def _rate_name(rate: float) -> str:
    return f"{rate:.3g}/s"


def shapes() -> list[tuple[str, Callable[[], Server]]]:
    """The server shapes of issue 13's sweep, each as a way to make a fresh one: token buckets
    of 2, 5, 10 and 16.7/s with bursts of 1, 2, 5, a second's and a minute's worth, and fixed
    windows per second and per minute."""
    made: list[tuple[str, Callable[[], Server]]] = []
    for rate in (2.0, 5.0, 10.0, 1000 / 60):
        bursts = {"1": 1.0, "2": 2.0, "5": 5.0, "1 s": rate, "1 min": rate * 60}
        for name, burst in bursts.items():
            made.append((f"bucket {_rate_name(rate)} burst {name}", partial(Server, rate, burst)))
    made.append(("window 10 per s", partial(FixedWindow, 10, 1.0)))
    made.append(("window 600 per min", partial(FixedWindow, 600, 60.0)))
    return made


WIDE_RATES = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 13.0, 1000 / 60)


def wide_shapes() -> list[tuple[str, Callable[[], Server]]]:
    """Many more shapes than the issue's, for the tests: every rate of WIDE_RATES with token
    buckets of bursts 1, 2, 3, 5, 10, a second's, ten seconds' and a minute's worth; fixed and
    sliding windows of a second, five and ten seconds and a minute wherever the count comes out
    whole."""
    made: list[tuple[str, Callable[[], Server]]] = []
    for rate in WIDE_RATES:
        name = _rate_name(rate)
        bursts = {"1": 1, "2": 2, "3": 3, "5": 5, "10": 10, "1 s": rate, "3 s": rate * 3}
        bursts |= {"10 s": rate * 10, "1 min": rate * 60}
        for burst_name, burst in bursts.items():
            made.append((f"bucket {name} burst {burst_name}", partial(Server, rate, burst)))
        for shape in ("fixed-window", "sliding-window"):
            for window, unit in ((1.0, "s"), (5.0, "5 s"), (10.0, "10 s"), (60.0, "min")):
                count = rate * window
                if abs(count - round(count)) > 1e-9:
                    continue
                made.append(
                    (
                        f"{shape.split('-')[0]} window {round(count)} per {unit}",
                        partial(Server, rate, shape=shape, window=window),
                    )
                )
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
