"""The client-side limiter: its arithmetic on a fake clock, then its effect over real HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from cortexio_sdk import Cortex
from cortexio_sdk._ratelimit._limiter import RateLimiter
from fakeclock import FakeClock
from harness import IN_PROGRESS, Api, in_order
from loopback import LoopbackServer, Received, Reply

pytestmark = pytest.mark.timeout(30)

Connect = Callable[..., Api]


def waits(limiter: RateLimiter, n: int) -> list[float]:
    return [round(limiter.reserve().wait, 6) for _ in range(n)]


# -- arithmetic ---------------------------------------------------------------------------


def test_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(600, clock=FakeClock())  # 10/s, burst of one second less one: 9
    assert waits(limiter, 13) == [0.0] * 9 + [0.1, 0.2, 0.3, 0.4]


def test_without_burst_requests_are_spaced() -> None:
    limiter = RateLimiter(600, burst=1, clock=FakeClock())
    assert waits(limiter, 4) == [0.0, 0.1, 0.2, 0.3]


def test_a_quiet_spell_refills_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    waits(limiter, 10)  # the burst of 9, and one 0.1 s later
    clock.now += 0.5  # 5 slots have freed up again; one of them is the one booked at 0.1 s
    assert waits(limiter, 6) == [0.0] * 4 + [0.1, 0.2]
    clock.now += 60
    assert waits(limiter, 10) == [0.0] * 9 + [0.1]


def test_a_hold_off_makes_everyone_wait_and_voids_earlier_slots() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    before = limiter.reserve()
    assert limiter.reserve(before) == (0.0, before.epoch, False)  # still valid: confirmed
    limiter.hold_off(2.0)
    rebooked = limiter.reserve(before)  # voided by the hold-off: booked again, after it
    assert rebooked.epoch != before.epoch
    assert rebooked.wait == pytest.approx(2.0)
    assert limiter.hold_remaining() == pytest.approx(2.0)
    after = limiter.reserve()
    assert limiter.reserve(after).wait == 0.0  # valid: confirmed
    assert after.wait == pytest.approx(2.0)
    clock.now += 2.5
    assert limiter.hold_remaining() == 0.0
    assert limiter.reserve().wait < 2.0


def test_one_burst_into_the_limit_lowers_the_rate_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    for _ in range(6):  # six 429s answering one burst, while the first hold-off is on
        limiter.hold_off(1.0)
        clock.now += 0.01
    assert limiter.rate == pytest.approx(10 * 0.7)
    clock.now += 1.0  # the hold-off is over: a new 429 is a new signal
    limiter.hold_off(1.0)
    assert limiter.rate == pytest.approx(10 * 0.7 * 0.7)


def test_the_burst_shrinks_with_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    limiter.hold_off(1.0)  # 10/s becomes 7/s
    got = waits(limiter, 9)
    # When the hold-off ends 6.3 may go at once (the default burst's 0.9 s at 7/s), not the 9 of
    # full speed: 6 at once, the next 0.3 of a slot later, then one every 1/7 s.
    assert got[:6] == [1.0] * 6
    assert got[6:] == pytest.approx([1.0 + (n + 0.7) / 7 for n in range(3)], abs=1e-6)


def test_the_rate_recovers_gradually_and_never_passes_the_maximum() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    limiter.hold_off(1.0)
    assert limiter.rate == pytest.approx(7.0)
    for _ in range(10):
        limiter.succeeded()
    assert limiter.rate == pytest.approx(7.0 + 10 * 0.1)  # 1% of the maximum per success
    for _ in range(1000):
        limiter.succeeded()
    assert limiter.rate == pytest.approx(10.0)


def test_recovery_slows_near_the_limit_the_server_let_through() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1200, clock=clock)  # 20/s, but the server lets only 10/s through
    for _ in range(10):  # the second before the 429: ten successes
        clock.now += 0.1
        limiter.succeeded()
    limiter.hold_off(1.0)
    assert limiter.rate == pytest.approx(20 * 0.7)  # 14/s: above what the server allowed
    clock.now += 5.0
    limiter.succeeded()  # already past 90 % of the 10/s seen: a tenth of 1 % of the maximum
    assert limiter.rate == pytest.approx(14.0 + 0.02)


def test_the_rate_has_a_floor() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    for _ in range(50):
        limiter.hold_off(0.0)
        clock.now += 0.001
    assert limiter.rate == pytest.approx(10 * 0.05)


def test_booking_from_many_threads_loses_no_slot() -> None:
    limiter = RateLimiter(600, burst=1, clock=FakeClock())
    booked: list[float] = []
    lock = threading.Lock()

    def book() -> None:
        mine = [limiter.reserve().wait for _ in range(250)]
        with lock:
            booked.extend(mine)

    threads = [threading.Thread(target=book) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round(w, 6) for w in booked) == [round(i * 0.1, 6) for i in range(2000)]


def test_a_share_of_a_fleet_paces_from_now_and_never_climbs_past_its_part() -> None:
    """What a process keeps to when the limiter it shared with 3 others becomes unreachable."""
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)  # 10/s with a burst of 10, none used yet
    limiter.take_share(0.25, 8.0)  # a quarter of the 8/s the fleet was at
    assert limiter.rate == pytest.approx(2.0)
    assert waits(limiter, 3) == [0.0, 0.5, 1.0]  # no saved burst: the server's bucket is empty
    for _ in range(1000):
        limiter.succeeded()
    assert limiter.rate == pytest.approx(2.5)  # climbs back, to a quarter of 10/s at most


def test_requests_per_minute_must_be_positive() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(0)


# -- over HTTP ----------------------------------------------------------------------------


async def test_requests_per_minute_paces_the_client(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = lambda _r: Reply(200, IN_PROGRESS)
    fast, paced = connect(requests_per_minute=60_000), connect(requests_per_minute=600)

    started = time.monotonic()
    for n in range(20):
        await fast.get(f"fast-{n}")
    fast_took = time.monotonic() - started

    started = time.monotonic()
    for n in range(20):
        await paced.get(f"paced-{n}")
    paced_took = time.monotonic() - started

    # 600/min is 10/s with a burst of 10: the last 10 of 20 requests take >= 0.9 s.
    assert 0.85 <= paced_took < 3.0
    assert fast_took < paced_took / 2


async def test_a_429_holds_off_the_other_callers(connect: Connect, server: LoopbackServer) -> None:
    first_a = in_order(Reply(429, b"", headers={"Retry-After": "1"}), Reply(200, IN_PROGRESS))

    def handler(request: Received) -> Reply:
        if request.path.endswith("/job-a"):
            return first_a(request)
        return Reply(200, IN_PROGRESS)

    server.handler = handler
    api = connect()

    async def call_later(delay: float, job_id: str) -> None:
        await asyncio.sleep(delay)
        if api.kind == "sync":  # a second thread, as a service would use the sync client
            assert isinstance(api.client, Cortex)
            await asyncio.to_thread(api.client.queries.get, job_id)
        else:
            await api.get(job_id)

    await asyncio.gather(call_later(0.0, "job-a"), call_later(0.3, "job-b"))
    paths = [(r.path.rsplit("/", 1)[-1], r.at) for r in server.requests]
    assert [p for p, _ in paths] == ["job-a", "job-a", "job-b"] or [p for p, _ in paths] == [
        "job-a",
        "job-b",
        "job-a",
    ]
    rate_limited_at = paths[0][1]
    job_b_at = next(at for p, at in paths if p == "job-b")
    # job-b was asked for 0.3 s after the 429 but waited for the server's second to pass.
    assert job_b_at - rate_limited_at >= 0.9
