"""The rate-limit simulator (tests/support/ratesim.py), and the limiter's bounds over it.

The simulator runs the SDK's real limiter and retry decisions on a fake clock against the fake
Cortex's own rate limits (token buckets, fixed and sliding windows), so hundreds of server
shapes and concurrencies run in seconds, the same way every time. These tests pin its servers'
arithmetic, then hold the limiter, at its defaults (not told the limit), to issue 13's bounds
over every shape of `wide_shapes()` and `change_shapes()` (more than 200):

- everywhere: no call fails, no caller starves, few 429s, and far fewer than plain retry's;
- where the server forgets within a second (a bucket holding at most a second's worth, a
  window of a second), the steady state (seconds 30-60) and the learning (0-20);
- a limit that halves or doubles mid-run is followed;
- over ten minutes, a steady client's probes for a higher limit cost little against small
  buckets, and still find a limit that rose a few %;
- against a bucket of one with requests spread in time on their way, near the best fixed pace;
- on a machine that stalls now and then, callers woken late do not go together;
- a fleet of processes on `RedisLimiter` learns as one client does, and with Redis killed
  mid-run no call fails, each process warns once, and against every bucket, one to a
  minute's worth, the fleet keeps 0.8 of the limit.

Where the issue's strictest bounds are not met (a bucket or window that remembers ten seconds
or a minute, rates of 3.3/s and under where one 429 is more than 1 % of a half-minute's
requests, brackets that stop a few % short of the limit, limits that halve to under 3/s),
BENCHMARKS.md figure 8 shows each cell beside the SDK told the limit (an oracle that knows the
shape) and says why.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Callable
from typing import Any

import pytest
from cortexio_sdk._ratelimit._limiter import Learner, Tuning
from fakeclock import FakeClock
from ratesim import (
    CHANGE_AT,
    DOCUMENTED_RPM,
    FLEETS,
    WIDE_RATES,
    FixedWindow,
    Result,
    Server,
    SimulatedRedis,
    TokenBucket,
    best_pace,
    change_shapes,
    paced,
    shapes,
    simulate,
    wide_shapes,
)

SECONDS = 60.0


def test_a_token_bucket_answers_its_burst_then_the_seconds_to_the_next_token() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0)
    assert [bucket.answer(0.0) for _ in range(3)] == [None, None, 1]
    assert bucket.answer(0.5) is None  # one token back after 0.5 s
    assert bucket.answer(0.5) == 1  # 0.5 s to the next, said as a whole second


def test_a_fixed_window_answers_until_the_end_of_its_window() -> None:
    window = FixedWindow(count=2, window=60.0)
    assert [window.answer(t) for t in (0.0, 1.0, 1.5)] == [None, None, 59]
    assert window.answer(59.2) == 1
    assert window.answer(60.0) is None  # a new window


def test_a_changed_limit_applies_from_its_time_and_hands_out_no_fresh_burst() -> None:
    server = Server(2.0, 2.0, change=(10.0, 0.5))
    assert [server.answer(0.0) for _ in range(3)] == [None, None, 1]
    assert server.limit_at(9.9) == 2.0
    assert server.limit_at(10.0) == 1.0
    assert server.answer(10.0) is None  # the bucket had refilled before the change...
    assert server.answer(10.0) is None
    assert server.answer(10.0) == 1  # ...and no more than it held


def test_the_same_seed_gives_the_same_run() -> None:
    first = simulate(TokenBucket(5.0, 2.0), callers=8, seconds=30.0, seed=3)
    again = simulate(TokenBucket(5.0, 2.0), callers=8, seconds=30.0, seed=3)
    assert (first.accepted, first.limited, first.failed) == (
        again.accepted,
        again.limited,
        again.failed,
    )


def test_the_sweeps_cover_the_issue_s_shapes_and_more_than_200() -> None:
    names = [name for name, _ in shapes()]
    assert len(names) == 22  # 4 rates x 5 bursts, and two fixed windows
    wide = [name for name, _ in wide_shapes() + change_shapes()]
    assert len(set(wide)) == len(wide) >= 200


def test_at_the_old_benchmark_s_shape_nothing_got_worse() -> None:
    # Figure 4 was measured here before the limiter learnt bursts: 1.02 of the limit with
    # 3.5 % 429s over 20 s. Simulated now, at the SDK's defaults:
    for callers in (1, 16, 64):
        run = simulate(TokenBucket(10.0, 10.0), callers=callers, seconds=SECONDS)
        assert run.goodput(30, 60) >= 0.95, callers
        assert run.share_429(0, 60) <= 0.02, callers
        assert run.failed == 0


# -- the sweep -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Cell:
    server: str
    callers: int
    sdk: Result
    plain: Result

    @property
    def label(self) -> str:
        return f"{self.server}, {self.callers} callers"


def _forgets_within_a_second(name: str) -> bool:
    """A bucket that holds at most a second's worth, or a window of a second."""
    if "window" in name:
        return name.endswith(" per s")
    burst = name.split(" burst ")[1]
    return burst in ("1", "2", "3", "5", "1 s") or (burst == "10" and name.startswith("bucket 1"))


@functools.cache
def _sweep() -> tuple[Cell, ...]:
    cells = []
    for name, make in wide_shapes():
        for callers in (1, 16):
            sdk = simulate(make(), callers=callers, seconds=SECONDS)
            plain = simulate(make(), callers=callers, seconds=SECONDS, client="plain")
            cells.append(Cell(name, callers, sdk, plain))
    return tuple(cells)


def _below_start(cell: Cell) -> bool:
    """The server's limit is under the rate a client not told it starts at."""
    return cell.sdk.limit * 60 < DOCUMENTED_RPM * Tuning().start


def test_no_call_fails_and_no_caller_starves() -> None:
    cells = _sweep()
    assert [c.label for c in cells if c.sdk.failed] == []
    # No caller gets less than half the mean, where each made enough calls to tell.
    enough = [c for c in cells if c.sdk.limit * SECONDS / c.callers >= 10]
    assert [c.label for c in enough if c.sdk.fairness() < 0.5] == []


def test_few_429s_everywhere_and_far_fewer_than_plain_retry_s() -> None:
    cells = _sweep()
    # Under the rate the client starts at, its first 429 is excused once: one more 429.
    learning = [
        c.label for c in cells if c.sdk.share_429(0, 20) > (0.2 if _below_start(c) else 0.15)
    ]
    assert learning == []
    # Under it, a bucket of a minute's worth is spent by about the 30th second, so its learning
    # (a few 429s at a rate of 1-1.5/s) falls in the second half-minute.
    steady = [c.label for c in cells if c.sdk.share_429(30, 60) > (0.2 if _below_start(c) else 0.1)]
    assert steady == []
    # With 16 callers: under a sixth of plain retry's share of 429s everywhere, and under a
    # tenth where the server forgets within a second (a window of 10 s at 1-2/s is the worst:
    # about 0.15 of plain's).
    many = [c for c in cells if c.callers > 1]
    worse = [
        c for c in many if c.sdk.share_429() > c.plain.share_429() / (5 if _below_start(c) else 6)
    ]
    assert [c.label for c in worse] == []
    short = [c for c in many if _forgets_within_a_second(c.server)]
    assert [c.label for c in short if c.sdk.share_429() > c.plain.share_429() / 10] == []


def test_where_the_server_forgets_within_a_second_the_limiter_keeps_near_the_limit() -> None:
    cells = [c for c in _sweep() if _forgets_within_a_second(c.server)]
    assert len(cells) >= 100
    steady = [c.label for c in cells if c.sdk.goodput(30, 60) < 0.9]
    # At most 2 % of the steady half-minute's requests, or two 429s where that is less (under
    # 4/s a bucket holding a few requests hides a rate a few % too fast for a while).
    quiet = [c.label for c in cells if c.sdk.count_429(30, 60) > max(2, 0.02 * c.sdk.limit * 30)]
    learning = [c.label for c in cells if c.sdk.goodput(0, 20) < 0.55]
    assert (steady, quiet, learning) == ([], [], [])
    # At 4/s and over: the issue's 1 % of 429s, and goodput within 0.06 of its 0.95 (the cells
    # under 0.95, a bucket of one or three requests at 4-7/s, show in BENCHMARKS.md figure 8).
    fast = [c for c in cells if c.sdk.limit >= 4]
    missed = [
        c.label for c in fast if c.sdk.goodput(30, 60) < 0.89 or c.sdk.share_429(30, 60) > 0.01
    ]
    assert missed == []


@pytest.mark.parametrize(
    ("name", "make"), change_shapes(), ids=[name for name, _ in change_shapes()]
)
def test_a_limit_that_changes_mid_run_is_followed(name: str, make: Callable[[], Server]) -> None:
    """Halved: at 0.9 of the new limit from 15 s after; doubled: within 2 minutes from 3/s
    (the probes for a risen limit come every 300 requests: 150 s at 2/s)."""
    run = simulate(make(), callers=16, seconds=CHANGE_AT + 150.0)
    assert run.failed == 0
    if "halves" in name:
        after = CHANGE_AT + 15.0
        assert run.goodput(after, after + 30) >= 0.9
        assert run.count_429(after, after + 30) <= 3  # a few probes' worth (1 % is 0.3-2.5)
    else:
        after = CHANGE_AT + 120.0
        doubled = run.goodput(after, after + 30)
        assert doubled >= (0.9 if run.limit >= 3 else 0.45)  # 2/s keeps at least the old limit
        requests = run.goodput(after, after + 30) * run.limit * 2 * 30
        assert run.count_429(after, after + 30) <= max(2, 0.02 * requests)


@pytest.mark.parametrize("rate", [5.0, 10.0, 1000 / 60])
@pytest.mark.parametrize("burst", ["1", "1 s"])
@pytest.mark.parametrize("spent_at", [0.3, 1.5])
def test_a_bucket_someone_else_spent_during_the_slow_start_does_not_hold_the_client_down(
    rate: float, burst: str, spent_at: float
) -> None:
    """Another client of the key (a replica that started first) empties the bucket while this
    one is still in its slow start. Taken at its word, that lone 429 held the client at
    0.11-0.38 of the limit for three and a half minutes; the slow start now tries the rate
    again before it counts (a second 429 counts), and is near the limit from the 30th second."""
    server = Server(rate, 1.0 if burst == "1" else rate, spent_at=spent_at)
    run = simulate(server, callers=16, seconds=90.0)
    assert run.count_429(spent_at, spent_at + 1) >= 1  # the bucket was spent
    assert run.failed == 0
    assert run.goodput(30, 90) >= 0.9


@pytest.mark.parametrize("count", [60, 120, 300, 600])
def test_a_fixed_window_of_a_minute_is_kept_to_without_stalls(count: int) -> None:
    """A Retry-After of 10 s to under a minute is a window of a minute: the client spreads what
    passed over the minute before it frees (its count) over the minute. Before, it spent each
    window a little faster than the last and held every caller for the end of it (a 10 s span
    with nothing sent) once a minute."""
    run = simulate(FixedWindow(count, 60.0), callers=16, seconds=600.0)
    assert run.failed == 0
    assert run.goodput(240, 600) >= 0.95
    assert run.share_429(240, 600) <= 0.005
    assert min(run.goodput(start, start + 10) for start in range(240, 600, 10)) >= 0.7


def test_a_bucket_of_a_minute_s_worth_once_spent_is_learnt_in_a_few_429s() -> None:
    """Spent (a client not told the limit sends faster until the first 429), a bucket that held
    a minute's worth caps the limit from the span after: the bucket refilled at the limit
    through the hold-off, and the callers took all of it. Before, each trial of the bracket
    met a 429: 4-9 of them over 90 s at each of 1-7/s (43 in all, none at 10/s and over),
    against 2-5 now (25)."""
    counts = {}
    for rate in WIDE_RATES:
        run = simulate(TokenBucket(rate, rate * 60), callers=16, seconds=90.0)
        assert run.failed == 0
        assert run.goodput(30, 90) >= 0.95, rate
        counts[rate] = run.count_429(0, 90)
    assert max(counts.values()) <= 5, counts
    assert sum(counts.values()) <= 30, counts


def test_after_a_probe_the_bracket_reads_a_small_bucket_s_savings_against_the_floor_now() -> None:
    """A bucket of 2 at 14.8/s: the first bracket stops at 0.94 of the limit, its trials'
    savings read against a floor still low (they say the bucket holds about ten). Read once,
    they stopped every probe's bracket at that same rate: 0.90 of the limit over minutes 2-10.
    Read again against the floor each minute's spans raised, the bracket narrows on."""
    run = simulate(TokenBucket(14.8, 2.0), callers=16, seconds=600.0)
    assert run.failed == 0
    assert run.goodput(120, 600) >= 0.94
    assert run.share_429(120, 600) <= 0.01


def test_a_probe_that_found_no_rise_is_bounded_by_the_rate_that_met_a_429_before_it() -> None:
    """Steady under a bucket of 2, every minute a probe tries faster, passes a step or two on
    the bucket's savings and meets a 429. Taking the rate it met as the new bound, the client
    bracketed again from the rate it kept, and its trials met one or two more 429s each minute:
    0.90-0.95 of limits of 5-14.8/s over minutes 2-10 (0.949-0.968 now, every other probe
    bounded by the rate that met a 429 before it)."""
    for rate in (5.0, 7.3, 10.0, 14.8):
        run = simulate(TokenBucket(rate, 2.0), callers=16, seconds=600.0)
        assert run.failed == 0
        assert run.goodput(120, 600) >= 0.945, rate
        assert run.count_429(120, 600) <= 20, rate


def test_a_limit_that_rose_a_few_percent_is_found_by_the_probes() -> None:
    """A probe that passes a step beyond the rate that met a 429 before it may be a bucket's
    savings or a limit that rose: the first time it is taken for savings, the next time the
    client brackets from the probe's own 429. Taken for savings every time, a bucket of one
    whose limit rose 5 % kept the client at 0.92 of the new limit for good."""
    for rate in (5.0, 14.0):
        run = simulate(Server(rate, 1.0, change=(150.0, 1.05)), callers=16, seconds=600.0)
        assert run.failed == 0
        assert run.goodput(400, 600) >= 0.95, rate


@pytest.mark.parametrize(
    ("latency", "jitter", "callers"), [(0.0, 0.0, (1, 64)), (0.002, 0.002, (16,))]
)
def test_against_a_token_bucket_what_passed_never_caps_the_limit_under_it(
    monkeypatch: pytest.MonkeyPatch, latency: float, jitter: float, callers: tuple[int, ...]
) -> None:
    """What passed in a span caps the limit only where the bucket refilled at the limit all
    through it: against every token bucket of the wide sweep, with 1 or 64 callers, or 16 whose
    requests are delayed on their way, no cap is ever under the limit."""
    caps: list[float] = []
    ceiling = Learner._ceiling

    def record(learner: Learner, *args: Any, **kwargs: Any) -> float:
        cap: float = ceiling(learner, *args, **kwargs)
        if math.isfinite(cap):
            caps.append(cap)
        return cap

    monkeypatch.setattr(Learner, "_ceiling", record)
    low, capped = [], 0
    for name, make in wide_shapes():
        if not name.startswith("bucket"):
            continue
        for count in callers:
            caps.clear()
            run = simulate(make(), callers=count, seconds=SECONDS, latency=latency, jitter=jitter)
            capped += bool(caps)
            if caps and min(caps) < run.limit:
                low.append((name, count, round(min(caps) / run.limit, 3)))
    assert low == []
    assert capped >= 10 * len(callers)  # (it is taken: buckets of 10 s' and a minute's worth)


def test_a_spread_of_delays_is_the_same_for_a_seed_and_reaches_the_server_late() -> None:
    """Requests that take time to arrive (`latency`, `jitter`) change the run, the same way for
    a seed; with none, a request is answered the instant it is sent, as before."""
    make = functools.partial(TokenBucket, 10.0, 1.0)
    spread = functools.partial(simulate, callers=16, seconds=20.0, latency=0.001, jitter=0.001)
    first, again = spread(make()), spread(make())
    assert (first.accepted, first.limited) == (again.accepted, again.limited)
    instant = simulate(make(), callers=16, seconds=20.0)
    assert (first.accepted, first.limited) != (instant.accepted, instant.limited)
    # The fixed pace: exact at no spread; against a bucket of one, a spread makes it refuse.
    assert paced(make(), 9.0, seconds=20.0).share_429() == 0.0
    assert paced(make(), 9.8, seconds=20.0, latency=0.001, jitter=0.003).share_429() > 0.01


def test_the_best_pace_gets_the_most_under_its_429_share() -> None:
    """The oracle for a shape and a spread: faster paces refuse more, so the best one sits
    where the 429 share reaches its bound, and a wider spread needs a slower pace."""
    make = functools.partial(TokenBucket, 1000 / 60, 1.0)
    narrow, narrow_run = best_pace(make, seconds=60.0, latency=0.001, jitter=0.0003)
    wide, wide_run = best_pace(make, seconds=60.0, latency=0.001, jitter=0.003)
    assert wide < narrow <= 1.0
    assert narrow_run.share_429(30) <= 0.01
    assert wide_run.share_429(30) <= 0.01
    faster = paced(make(), (wide + 0.05) * make().limit, seconds=60.0, latency=0.001, jitter=0.003)
    assert faster.share_429(30) > 0.01


@pytest.mark.parametrize("rate", [5.0, 10.0, 1000 / 60])
@pytest.mark.parametrize("jitter", [0.0003, 0.001, 0.003])
def test_against_a_bucket_of_one_with_spread_delays_the_client_nears_the_best_pace(
    rate: float, jitter: float
) -> None:
    """A bucket of one refuses a request that arrives less than an interval after the last, so
    requests spread in time (a loaded machine; `python -m benchmarks.spread` measures the spread
    at the fake's limiter, reported in BENCHMARKS.md figure 8) are refused now and then at any
    pace near the limit, and each 429 holds every caller for a whole second. The client, not
    told the shape, must still get near what the best fixed pace for that shape and spread
    gets."""
    make = functools.partial(TokenBucket, rate, 1.0)
    _, best = best_pace(make, seconds=SECONDS, latency=0.001, jitter=jitter)
    run = simulate(make(), callers=16, seconds=SECONDS, latency=0.001, jitter=jitter)
    assert run.failed == 0
    assert run.share_429(30, 60) <= 0.01
    assert run.goodput(30, 60) >= 0.9 * best.goodput(30, 60)


def test_a_stall_holds_the_client_and_the_server_and_what_fell_due_goes_at_its_end() -> None:
    """`stalls`: the same for a seed; a request due in a stall reaches the server at its end."""
    make = functools.partial(TokenBucket, 10.0, 2.0)
    stalled = functools.partial(simulate, callers=16, seconds=20.0, stalls=(2.0, 0.15))
    first, again = stalled(make()), stalled(make())
    assert (first.accepted, first.limited) == (again.accepted, again.limited)
    plain = functools.partial(simulate, callers=4, seconds=20.0, client="plain")
    # Plain retry sends back to back: a stall only delays it, so fewer pass in all.
    assert sum(plain(make(), stalls=(1.0, 0.5)).accepted.values()) < sum(
        plain(make()).accepted.values()
    )
    # The fixed pace does not make up what a stall lost: no 429 from a bucket of one, and less
    # through than without stalls.
    bucket = functools.partial(TokenBucket, 10.0, 1.0)
    stalled_pace = paced(bucket(), 9.9, seconds=20.0, stalls=(2.0, 0.15))
    assert stalled_pace.share_429() == 0.0
    assert stalled_pace.goodput() < paced(bucket(), 9.9, seconds=20.0).goodput()


@pytest.mark.parametrize("rate", [5.0, 10.0, 1000 / 60])
@pytest.mark.parametrize(("burst", "least"), [(1.0, 0.9), (2.0, 0.95), (5.0, 0.95)])
def test_on_a_machine_that_stalls_now_and_then_late_callers_do_not_go_together(
    rate: float, burst: float, least: float
) -> None:
    """A loaded machine (more runnable processes than cores) stops a process for a tenth of
    a second now and then: the callers whose slots passed meanwhile wake together. Sent at
    once, they met a small bucket's 429 at a rate that passes, which the client took for a
    limit that fell: with a stall of 0.1 s every 5 s, 0.53-0.83 of the limit over seconds 30-60
    at bursts of one, 0.73 at 16.7/s burst 2 (and 0.81 of it with 16 tasks on a loaded
    machine's wall clock). Booked again from the first of them, they keep to it."""
    run = simulate(TokenBucket(rate, burst), callers=16, seconds=SECONDS, stalls=(5.0, 0.1))
    assert run.failed == 0
    assert run.share_429(30, 60) <= (0.02 if burst == 1.0 else 0.01)
    assert run.goodput(30, 60) >= least


@pytest.mark.parametrize("rate", [5.0, 10.0, 1000 / 60])
def test_a_caller_a_tenth_of_an_interval_late_starts_the_schedule_again(rate: float) -> None:
    """A stall ends anywhere in an interval, so the caller it held is late by anything up to
    one, and the next slot comes that much sooner after it: a bucket of one refuses it unless
    the rate is that much under the limit. Starting again only past half an interval, buckets
    of one kept 0.61-0.93 of the limit over seconds 30-60 with a stall of 0.15 s every 2 s
    (0.61 at 10/s; with 0.1 s every 5 s, the test above: 0.83-0.86 at 5-10/s)."""
    run = simulate(TokenBucket(rate, 1.0), callers=16, seconds=SECONDS, stalls=(2.0, 0.15))
    assert run.failed == 0
    assert run.share_429(30, 60) <= 0.01
    assert run.goodput(30, 60) >= 0.9


@pytest.mark.parametrize("count", [120, 300, 600])
def test_a_sliding_window_of_a_minute_is_kept_to(count: int) -> None:
    """A sliding window frees each request a minute after it passed, so after the first long
    Retry-After the 429s keep coming for a while at any pace: they answer for what was sent
    before. Read as a token bucket's, they halved the client again and again, down to
    0.62 and 0.35 of the limit at 120 and 300 a minute (plain retry gets it all, with 5-12 %
    429s)."""
    server = Server(count / 60.0, shape="sliding-window", window=60.0)
    run = simulate(server, callers=16, seconds=600.0)
    assert run.failed == 0
    assert run.goodput(240, 600) >= 0.95
    assert run.share_429(240, 600) <= 0.005
    assert min(run.goodput(start, start + 10) for start in range(240, 600, 10)) >= 0.7


@pytest.mark.parametrize("shape", ["fixed-window", "sliding-window"])
@pytest.mark.parametrize("window", [20.0, 30.0])
@pytest.mark.parametrize("rate", [1.0, 2.0])
def test_a_window_shorter_than_a_minute_is_not_read_as_one(
    shape: str, window: float, rate: float
) -> None:
    """A window of 20 or 30 s also answers with a Retry-After of 10 s and more, but it passes
    more than its count in a minute, or less after hold-offs: a minute's reading taken from
    it held the client to 0.24-0.65 of the limit. The minute is read only from a minute the
    callers sent all along, and a reading that disagrees with the last is dropped."""
    run = simulate(Server(rate, shape=shape, window=window), callers=16, seconds=600.0)
    assert run.failed == 0
    assert run.goodput(240, 600) >= 0.9
    assert run.share_429(240, 600) <= 0.015


# -- fleets: processes sharing one key through RedisLimiter (its script simulated) -------------


def test_at_debug_a_fleet_s_client_says_what_its_steps_taught_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A process of a fleet logs what the shared learner concluded, in the step it wrote, as
    one client does, marked shared (its own limiter, which only shadows it, says nothing);
    once Redis is gone, its own limiter's learning, unmarked."""
    clock = FakeClock(0.0)
    client = SimulatedRedis(clock, killed_at=10.0).client(1000.0, told=False, process=0)
    caplog.set_level(logging.DEBUG, logger="cortexio_sdk.ratelimit")
    end = 3.0
    while (ticket := client.reserve()).wait + clock.now <= end:
        clock.now += ticket.wait
        client.succeeded()
    client.hold_off(1.0)
    messages = [r.getMessage() for r in caplog.records if r.name == "cortexio_sdk.ratelimit"]
    assert messages[0] == (
        "rate limit (shared): requests passed at 2.08/s; now trying 4.17/s (2.08/s passed)"
    )
    assert messages[-1].startswith("rate limit (shared): a 429 at ")
    assert all("(shared)" in message for message in messages)
    assert len(messages) == len(set(messages))
    clock.now = 11.0  # Redis is gone: this process limits itself alone
    client.reserve()
    client.hold_off(1.0)
    last = [r.getMessage() for r in caplog.records if r.name == "cortexio_sdk.ratelimit"][-1]
    assert last.startswith("rate limit: a 429 at "), last


@pytest.mark.parametrize("rate", [2.0, 5.0, 10.0, 1000 / 60])
@pytest.mark.parametrize("size", [5.0, "1 s", "1 min"])
def test_a_fleet_on_redis_learns_as_one_client_does(rate: float, size: float | str) -> None:
    """The processes share one learner through Redis: 4 x 8 callers keep to the limit as 32
    callers of one client do. (Against a bucket of a minute's worth the fleet met more 429s
    than one client at 2 and 5/s, 2-3 % over seconds 30-60 against 0.7-1.6 %, while a 429's
    cap on the limit took each other process to hold a success not reported yet, however
    few requests had gone unreported.)"""
    worth = {"1 s": 1.0, "1 min": 60.0}
    bucket = functools.partial(TokenBucket, rate, rate * worth[size] if size in worth else size)
    fleet = simulate(bucket(), callers=8, seconds=SECONDS, processes=4)
    alone = simulate(bucket(), callers=32, seconds=SECONDS)
    assert fleet.failed == 0
    assert fleet.goodput(30, 60) >= alone.goodput(30, 60) - 0.02
    assert fleet.share_429(30, 60) <= alone.share_429(30, 60) + 0.001


# Token buckets of one, two, five, a second's and a minute's worth: (rate, size).
KILLED_BUCKETS = [
    (rate, size)
    for rate in (2.0, 5.0, 10.0, 1000 / 60)
    for size in sorted({1.0, 2.0, 5.0, rate, 60 * rate})
]


@pytest.mark.parametrize(("processes", "callers"), FLEETS)
@pytest.mark.parametrize(("rate", "size"), KILLED_BUCKETS)
def test_redis_killed_mid_run_fails_no_call_and_the_fleet_keeps_most_of_the_limit(
    processes: int,
    callers: int,
    rate: float,
    size: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis fails at second 30 and stays down: each process warns once and keeps to its
    share of the rate the fleet had, on its own slots of the schedule they shared. Before,
    each started at a random point of its first interval: processes that no longer shared a
    schedule collided in buckets of one or two at any pace near the limit (0.19 of 16.7/s
    burst 1 after the kill, 2 x 8); and before that all started at once, sent together into
    the bucket the fleet had just emptied, met 429s and halved (0.65 of 2/s with a minute's
    bucket, 6 x 4)."""
    run = simulate(
        TokenBucket(rate, size),
        callers=callers,
        seconds=SECONDS,
        processes=processes,
        redis_killed_at=30.0,
    )
    assert run.failed == 0
    assert run.goodput(30, 60) >= 0.8
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "Redis" in r.message]
    assert len(warnings) == processes
