"""The client-side limiter: its arithmetic on a fake clock, then its effect over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import pytest
from cortexio_sdk import Cortex
from cortexio_sdk._ratelimit._limiter import Learner, RateLimiter, Ticket, Tuning, learning
from fakeclock import FakeClock
from harness import IN_PROGRESS, Api, in_order
from loopback import LoopbackServer, Received, Reply

pytestmark = pytest.mark.timeout(30)

Connect = Callable[..., Api]


def waits(limiter: RateLimiter, n: int) -> list[float]:
    return [round(limiter.reserve().wait, 6) for _ in range(n)]


def passing(limiter: RateLimiter, clock: FakeClock, seconds: float) -> int:
    """Callers that always have a request ready, for `seconds`, every one of them passing;
    how many passed."""
    end = clock.now + seconds
    count = 0
    while True:
        ticket = limiter.reserve()
        if clock.now + ticket.wait > end:
            return count
        clock.now += ticket.wait
        limiter.succeeded()
        count += 1


def limited_once(limiter: RateLimiter, clock: FakeClock, retry_after: float = 1.0) -> None:
    """One request answered 429: the limiter is told, and the hold-off passes."""
    clock.now += limiter.reserve().wait
    limiter.hold_off(retry_after)
    clock.now += retry_after


# -- pacing -------------------------------------------------------------------------------


def test_a_limit_it_was_told_is_paced_from_the_start_without_a_burst() -> None:
    limiter = RateLimiter(600, told=True, clock=FakeClock())  # 10/s...
    assert limiter.rate == pytest.approx(10 * limiter.tuning.margin)  # ...less the margin
    interval = 1 / limiter.rate
    assert waits(limiter, 4) == pytest.approx([0, interval, 2 * interval, 3 * interval], abs=1e-5)


def test_a_burst_it_was_told_goes_at_once() -> None:
    limiter = RateLimiter(600, told=True, burst=3, clock=FakeClock())
    interval = 1 / limiter.rate
    assert waits(limiter, 5) == pytest.approx([0, 0, 0, interval, 2 * interval], abs=1e-5)


def test_not_told_it_starts_at_an_eighth_and_doubles_while_requests_pass() -> None:
    clock = FakeClock()
    limiter = RateLimiter(960, clock=clock)  # Cortex's documented kind of limit: 16/s at most
    assert limiter.rate == pytest.approx(2.0)  # an eighth
    passing(limiter, clock, 1.1)  # confirmed after a second and two intervals of it
    assert limiter.rate == pytest.approx(4.0)
    passing(limiter, clock, 10.0)
    # Never past the maximum, less the margin (it was not told that is the limit).
    assert limiter.rate == pytest.approx(16.0 * limiter.tuning.margin)


def test_a_sleeper_confirms_its_slot_and_is_told_what_is_left() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, told=True, clock=clock)  # about one a second
    limiter.reserve()
    ticket = limiter.reserve()
    assert ticket.wait == pytest.approx(1 / limiter.rate)
    clock.now += 0.4  # woke early (RECHECK): the slot is still ahead
    again = limiter.reserve(ticket)
    assert again.wait == pytest.approx(ticket.wait - 0.4)
    assert again.epoch == ticket.epoch
    clock.now += again.wait
    assert limiter.reserve(again).wait == 0.0


def test_a_faster_rate_rebooks_the_sleepers_so_it_applies_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(960, clock=clock)  # starts at 2/s
    queued = [limiter.reserve() for _ in range(12)]  # 12 callers, queued 6 s deep at 2/s
    assert queued[-1].wait == pytest.approx(5.5)
    for ticket in queued[:5]:  # the first five go, one every half second, and pass
        clock.now = 1000.0 + ticket.wait
        assert limiter.reserve(ticket).wait == 0.0
        limiter.succeeded()
    assert limiter.rate == pytest.approx(4.0)  # 2/s confirmed: twice as fast now
    rebooked = [limiter.reserve(ticket) for ticket in queued[5:]]
    assert all(new.epoch != old.epoch for new, old in zip(rebooked, queued[5:], strict=True))
    # The seven left go at 4/s from now, not at their old slots up to 3.5 s away.
    assert [round(t.wait, 6) for t in rebooked] == [round(0.25 * n, 6) for n in range(1, 8)]


def test_callers_that_woke_late_together_book_again_an_interval_apart() -> None:
    # Three callers booked ahead; the machine stalls past all three slots, so they wake
    # together. Sent at once, they would be a burst of three into a bucket never shown to
    # hold more than one: the first goes, and the schedule starts again from it.
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    interval = 1 / limiter.rate
    booked = [limiter.reserve() for _ in range(3)]
    clock.now += booked[2].wait + 0.5 * interval  # stalled: every slot has passed
    assert limiter.reserve(booked[0]).wait == 0.0
    again = [limiter.reserve(ticket) for ticket in booked[1:]]
    assert all(new.epoch != old.epoch for new, old in zip(again, booked[1:], strict=True))
    assert [t.wait for t in again] == pytest.approx([interval, 2 * interval])


def test_after_a_stall_callers_go_together_as_far_as_a_known_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, burst=2, clock=clock)
    interval = 1 / limiter.rate
    limiter.reserve(), limiter.reserve()  # the burst, now
    booked = [limiter.reserve() for _ in range(3)]  # then one an interval
    clock.now += booked[2].wait + 0.5 * interval
    assert limiter.reserve(booked[0]).wait == 0.0
    again = [limiter.reserve(ticket) for ticket in booked[1:]]
    assert [t.wait for t in again] == pytest.approx([0.0, interval])


def test_a_caller_a_little_late_for_its_slot_keeps_the_schedule() -> None:
    # Waking a little late is the rule on a real clock: it voids nothing, and the lateness
    # does not add up, slot after slot, into a slower rate.
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    interval = 1 / limiter.rate
    late = limiter.tuning.stall_lateness * interval / 2
    start = clock.now
    assert limiter.reserve().wait == 0.0
    for _ in range(100):
        ticket = limiter.reserve()
        clock.now += ticket.wait + late
        assert limiter.reserve(ticket).wait == 0.0
    assert clock.now - start == pytest.approx(100 * interval + late, rel=1e-6)
    assert ticket.epoch == 0


def test_a_client_left_idle_starts_its_trial_when_callers_come_back() -> None:
    clock = FakeClock()
    limiter = RateLimiter(960, clock=clock)  # starts at 2/s of at most 16/s
    waits(limiter, 2)  # two calls, then nothing for ten minutes
    clock.now += 600.0
    passing(limiter, clock, 15.0)
    assert limiter.rate == pytest.approx(16.0 * limiter.tuning.margin)  # doubled as usual


def test_a_429_after_a_quiet_spell_does_not_undo_what_was_learnt() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    passing(limiter, clock, 2.0)
    learnt = limiter.learner.lo
    clock.now += 3600.0  # an hour idle; then the first call meets a 429 (others spent the key)
    limited_once(limiter, clock)
    assert limiter.rate >= 0.9 * learnt  # an hour at it passed: not a limit that fell far
    passing(limiter, clock, 30.0)
    assert limiter.rate >= 0.9 * learnt


def test_the_caller_that_met_the_429_goes_first_when_the_hold_off_ends() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    waiting = limiter.reserve(limiter.reserve())  # another caller, sleeping on its slot
    limiter.hold_off(1.0)  # the caller that met the 429 books again at once
    first = limiter.reserve()
    later = limiter.reserve(waiting)  # the sleeper wakes to a voided slot
    assert first.wait == pytest.approx(1.0)
    assert later.wait > first.wait


# -- 429s -----------------------------------------------------------------------------------


def test_a_hold_off_makes_everyone_wait_and_voids_earlier_slots() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    before = limiter.reserve()
    assert limiter.reserve(before).wait == 0.0  # still valid: confirmed
    limiter.hold_off(2.0)
    rebooked = limiter.reserve(before)  # voided by the hold-off: booked again, after it
    assert rebooked.epoch != before.epoch
    assert rebooked.wait == pytest.approx(2.0)
    assert limiter.hold_remaining() == pytest.approx(2.0)
    clock.now += 2.5
    assert limiter.hold_remaining() == 0.0


def test_429s_answering_requests_sent_before_a_hold_off_teach_nothing_more() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    limiter.hold_off(1.0)
    learnt = (limiter.rate, limiter.learner.lo, limiter.learner.hi)
    for _ in range(5):  # the rest of a burst, answered while the hold-off is on
        clock.now += 0.01
        limiter.hold_off(1.0)
    assert (limiter.rate, limiter.learner.lo, limiter.learner.hi) == learnt


def test_a_429_at_a_rate_known_to_pass_starts_again_below_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    passing(limiter, clock, 2.0)  # confirmed: steady at the maximum, less the margin
    steady = 10.0 * limiter.tuning.margin
    assert limiter.learner.lo == pytest.approx(steady)
    assert limiter.rate == pytest.approx(steady)
    limited_once(limiter, clock)  # at once: the limit fell (another client took part of it)
    assert limiter.learner.hi == pytest.approx(steady)
    assert limiter.rate == pytest.approx(steady / 2)  # tries half first


def test_what_passed_between_two_429s_bounds_the_limit_whatever_the_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    limiter.hold_off(1.0)
    for _ in range(39):  # 39 pass over the next 10 s...
        clock.now += 10.0 / 39
        limiter.succeeded()
    limiter.hold_off(1.0)  # ...and the bucket is empty again
    assert limiter.learner.floor == pytest.approx((39 - 1) / 10.0, rel=0.01)


@pytest.mark.parametrize(
    ("spent_first", "first_retry_after", "capped"),
    [
        (True, 1.0, True),
        # Nothing shows a bucket that held the hold-off's worth: what passed bounds nothing.
        (False, 1.0, False),
        # A Retry-After over a second: a window, whose spans pass what left it.
        (True, 2.0, False),
    ],
)
def test_after_a_large_bucket_is_spent_the_span_after_caps_the_limit(
    spent_first: bool, first_retry_after: float, capped: bool
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    if spent_first:
        passing(limiter, clock, 30.0)  # ~295 pass in 30 s: far more than half the rate lets
    limited_once(limiter, clock, first_retry_after)  # the first 429: half the rate is tried
    trial = limiter.rate
    start = clock.now - first_retry_after  # (the span began with the 429, before the hold-off)
    passed = passing(limiter, clock, 2.0)  # the callers keep up with the trial...
    clock.now += limiter.reserve().wait
    limiter.hold_off(1.0)  # ...and the bucket is empty again
    if capped:
        # The bucket held far more than the hold-off's worth, so it refilled at the limit all
        # through the span, and the callers took all of it: the limit is under what passed,
        # plus one, over the span, well under the rate tried (half of ten a second).
        assert limiter.learner.hi <= (passed + 1) / (clock.now - start)
        assert limiter.learner.hi < 0.9 * trial
    else:
        assert limiter.learner.hi == pytest.approx(trial)


def test_a_hold_off_lengthened_by_later_429s_counts_whole() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    limiter.hold_off(1.0)  # a 429: quiet until 1.0...
    clock.now += 0.5
    limiter.hold_off(1.0)  # ...and one answering a request sent before it: until 1.5
    clock.now += 2.0
    assert limiter.learner.held == pytest.approx(0.5)  # the lengthening alone
    assert limiter.learner._quiet(clock.now) == pytest.approx(1.5)  # the span's quiet


def test_the_rate_has_a_floor() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    for _ in range(60):
        limited_once(limiter, clock, 0.0)
        clock.now += 0.001
    assert limiter.rate == pytest.approx(10 * limiter.tuning.min_fraction)


# -- the burst ------------------------------------------------------------------------------


def test_a_burst_is_tried_after_a_while_and_kept_once_it_passes() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    passing(limiter, clock, limiter.tuning.burst_retry + 1)
    clock.now += 5.0  # a quiet spell
    assert waits(limiter, 2) == [0.0, 0.0]  # one more at once than known: a try
    limiter.succeeded()
    limiter.succeeded()
    clock.now += 2.0
    limiter.succeeded()  # no 429 followed
    assert limiter.learner.burst == 2.0


def test_a_429_right_after_a_burst_blames_the_burst_not_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    passing(limiter, clock, limiter.tuning.burst_retry + 1)
    rate = limiter.rate
    clock.now += 5.0
    waits(limiter, 2)  # the try of one more at once...
    limiter.hold_off(1.0)  # ...met a 429
    assert limiter.rate == rate
    assert limiter.learner.burst == 1.0
    clock.now += 5.0
    spaced = 1 / limiter.rate
    assert waits(limiter, 2) == pytest.approx([0.0, spaced], abs=1e-5)  # no burst tried now


def test_at_debug_the_limiter_says_what_each_429_taught_and_each_new_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Why a client sends at the rate it does, on the `cortexio_sdk.ratelimit` logger: every
    new rate after requests passed, and what each 429 was read as; a 429 answering a request
    sent before the hold-off teaches nothing and says nothing."""
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock)
    caplog.set_level(logging.DEBUG, logger="cortexio_sdk.ratelimit")
    passing(limiter, clock, 3.0)  # the slow start doubles twice
    limiter.hold_off(1.0)  # 8.33/s: not under half the maximum, so it counts
    limiter.hold_off(1.0)  # another answer from before the hold-off
    assert [r.getMessage() for r in caplog.records if r.name == "cortexio_sdk.ratelimit"] == [
        "rate limit: requests passed at 2.08/s; now trying 4.17/s (2.08/s passed)",
        "rate limit: requests passed at 4.17/s; now trying 8.33/s (4.17/s passed)",
        "rate limit: a 429 at 8.33/s, read as the rate on trial too fast; now trying 4.17/s"
        " (4.17/s passed, 8.33/s met a 429)",
    ]
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_above_debug_the_limiter_builds_no_message() -> None:
    """The records are built only when somebody listens (the success path is every request)."""
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock)
    logging.getLogger("cortexio_sdk.ratelimit").setLevel(logging.INFO)
    try:
        passing(limiter, clock, 3.0)
        learner = limiter.learner
        assert limiter.rate == pytest.approx(1000 / 60 / 2, rel=0.02)  # it did learn
        assert learning(learner.rate / 2, learner, None, shared=False) is None
        assert learning(learner.rate, learner, "a reading", shared=False) is None
    finally:
        logging.getLogger("cortexio_sdk.ratelimit").setLevel(logging.NOTSET)


# -- threads and fleets ---------------------------------------------------------------------


def test_booking_from_many_threads_loses_no_slot() -> None:
    limiter = RateLimiter(600, told=True, clock=FakeClock())
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
    interval = 1 / limiter.rate
    assert sorted(booked) == pytest.approx([i * interval for i in range(2000)])


def test_a_share_of_a_fleet_paces_from_now_and_never_climbs_past_its_part() -> None:
    """What a process keeps to when the limiter it shared with 3 others becomes unreachable."""
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    limiter.take_share(0.25, 8.0)  # a quarter of the 8/s the fleet was at
    assert limiter.rate == pytest.approx(2.0)
    assert waits(limiter, 3) == [0.0, 0.5, 1.0]  # no saved burst: the server's bucket is empty
    passing(limiter, clock, 600.0)
    # Probes up, to a quarter of 10/s at most (less the margin, once steady there).
    assert limiter.rate == pytest.approx(2.5 * limiter.tuning.margin)


def test_a_share_taken_late_in_a_limiter_s_life_starts_at_its_phase_with_no_burst() -> None:
    """Redis fails after the process ran for a while: the first slot is still `phase` of an
    interval away. (After `Tuning.burst_retry` s the limiter may try a burst of one more,
    which let the first request go at once, phase or not.)"""
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock)
    clock.now += 1000.0
    limiter.take_share(0.25, 8.0, phase=0.5)
    assert waits(limiter, 3) == pytest.approx([0.25, 0.75, 1.25])


def test_a_share_s_slots_stay_where_they_were_dealt_whatever_was_booked_before() -> None:
    """A share starts at its phase, or whole intervals after it where that is too soon after
    the request this limiter let go last: its slots are its own of the fleet's schedule."""
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    assert waits(limiter, 1) == [0.0]  # one request goes now
    limiter.take_share(0.5, 8.0, phase=0.1)  # own slots every 0.25 s: 0.025 s from now, ...
    assert waits(limiter, 2) == pytest.approx([0.275, 0.525])  # ...but not 0.025 s after it


def test_a_stalled_caller_of_a_share_waits_for_its_next_own_slot() -> None:
    """Keeping to its own slots of a fleet's schedule, a caller that wakes late for one does
    not send at once (it would land among the other processes' requests), nor do the callers
    booked after it: each takes the next own slot after now."""
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    limiter.take_share(0.25, 8.0, phase=0.5)  # own slots at 0.25, 0.75, 1.25, ... (2/s)
    tickets = [limiter.reserve() for _ in range(3)]
    assert [t.wait for t in tickets] == pytest.approx([0.25, 0.75, 1.25])
    start = clock.now
    clock.now += 0.9  # stalled: the first slot passed 0.65 s ago, the second 0.15 s ago
    late = [limiter.reserve(ticket) for ticket in tickets]
    assert [clock.now + t.wait - start for t in late] == pytest.approx([1.25, 1.75, 2.25])
    # Alone (not a share), a stalled caller goes at once and the schedule starts from it.
    alone = RateLimiter(600, told=True, clock=clock)
    ticket = alone.reserve()
    clock.now += 0.5
    assert alone.reserve(ticket).wait == 0.0


def test_a_stalled_caller_of_a_fleet_s_schedule_goes_and_voids_nobody_s_slot() -> None:
    """In Redis the schedule is the fleet's: one process's stall voids none of it (every
    process would book again), and the caller it held goes in the slot it had. (Booking
    afresh instead, each such caller lost its slot: figure 7's fleet kept 0.69-0.74 of the
    limit under figure 4's load.)"""
    learner = Learner(10.0, Tuning(), 0.0, told=True)
    slots = [learner.reserve(0.0, None, shared=True)[1] for _ in range(3)]
    tickets = [Ticket(slot, learner.epoch, shared=True, at=slot) for slot in slots[1:]]
    now = slots[2] + 0.5  # stalled past both
    late = [learner.reserve(now, ticket, shared=True) for ticket in tickets]
    assert [(wait, at) for wait, at, _ in late] == [(0.0, slots[1]), (0.0, slots[2])]
    assert learner.epoch == tickets[0].epoch


def test_a_share_s_callers_back_from_idle_keep_to_its_slots() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, told=True, clock=clock)
    limiter.take_share(0.5, 8.0, phase=0.5)  # own slots at 0.125 s, then every 0.25 s
    start = clock.now
    assert waits(limiter, 1) == [0.125]
    clock.now += 10.0 + 0.01  # nobody called for ten seconds
    slots = [round(clock.now + wait - start, 6) for wait in waits(limiter, 2)]
    assert slots == pytest.approx([10.125, 10.375])  # on the share's slots still


def test_the_state_a_fleet_keeps_in_redis_reads_back_exactly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    passing(limiter, clock, 5.0)
    limited_once(limiter, clock)
    passing(limiter, clock, 3.0)
    learner = limiter.learner
    state = learner.to_state()
    assert all(isinstance(value, str) for value in state.values())
    again = Learner.from_state(state, learner.max_rate, learner.tuning, 0.0, told=False)
    assert vars(again) == vars(learner)


@pytest.mark.parametrize(
    "history",
    ["1,2", "-1," * 135 + "-1", "a,b", "1.0," * 135 + "1.0", ""],
    ids=["another length", "a negative count", "no numbers", "not whole counts", "none"],
)
def test_a_history_not_read_starts_afresh_and_the_rest_is_kept(history: str) -> None:
    """Another version may keep its minute of history in slots of another length (or write
    something this one cannot read): that field starts afresh with its position on the
    clock, and the pacing is kept."""
    clock = FakeClock(1000.0)
    limiter = RateLimiter(600, clock=clock)
    passing(limiter, clock, 5.0)
    learner = limiter.learner
    assert sum(learner.history) > 0
    fresh = Learner(learner.max_rate, learner.tuning, 2000.0)
    state = learner.to_state() | {"history": history}
    again = Learner.from_state(state, learner.max_rate, learner.tuning, 2000.0, told=False)
    assert (again.history, again.history_at) == (fresh.history, fresh.history_at)
    assert again.rate == learner.rate
    assert again.tat == learner.tat


def test_the_history_counts_whole_slots_and_forgets_what_left_the_ring() -> None:
    """Successes in half-second slots over a minute and a bit: counted from the first whole
    slot after a time; a jump past the ring forgets it all; a time older than the ring (a
    clock gone back) starts it again."""
    learner = Learner(10.0, Tuning(), 100.0)
    size = len(learner.history)
    assert size * learner.tuning.history_slot >= learner.tuning.minute
    for second in range(100, 160):  # one success every second, at whole seconds
        learner._note(float(second), 1.0)
    assert learner._passed_since(99.9, 159.9) == 60  # every one
    assert learner._passed_since(100.0, 159.9) == 59  # the slot 100.0 begins is not after 100.0
    assert learner._passed_since(130.2, 159.9) == 29  # 131 ... 159
    learner._note(158.2, 3.0)  # late, but still in the ring: its own slot
    assert learner._passed_since(157.9, 159.9) == 5  # 158, 158.2 (three), 159
    learner._note(159.9 + size * 0.5, 1.0)  # a jump past the whole ring
    assert sum(learner.history) == 1
    learner._note(10.0, 2.0)  # a clock gone back past the ring: it starts again
    assert sum(learner.history) == 2
    assert learner.history_at == 20
    assert learner._passed_since(0.0, 10.4) == 2


def test_a_long_retry_after_for_a_client_sending_less_than_it_may_is_no_window_count() -> None:
    """A client sending a request every 3 s, under the rate it may send at, meets a
    Retry-After of 30 s (another client spent the window): what it sent is no window's
    count. Kept to it, it would send 20 a minute until a probe half an hour later; it goes
    on trying faster instead."""
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    for _ in range(20):
        clock.now += max(limiter.reserve().wait, 3.0)
        limiter.succeeded()
    limiter.hold_off(30.0)
    assert limiter.learner.window == 0.0
    assert limiter.learner.trial


def test_a_window_not_told_again_for_five_minutes_is_forgotten() -> None:
    """One long Retry-After from a server that is a token bucket after all (a stray one):
    five minutes on, a 429 is a bucket's again."""
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    passing(limiter, clock, 40.0)  # (a minute's reading needs a minute of sending)
    limiter.hold_off(30.0)
    assert limiter.learner.window == limiter.tuning.minute
    clock.now += 30.0
    passing(limiter, clock, limiter.tuning.window_memory + 1.0)
    limited_once(limiter, clock)
    assert limiter.learner.window == 0.0


@pytest.mark.parametrize("retry_after", [12.0, 30.0, 59.0])  # (60: a longer window's)
def test_a_long_retry_after_keeps_to_what_passed_over_the_minute_before_it_frees(
    retry_after: float,
) -> None:
    """A Retry-After of 10 s to under a minute: a window of a minute, fixed or sliding. Whatever
    passed over the minute before the next request may pass is the window's count, and the
    client keeps to it (less the margin). tests/test_ratesim.py runs it against windows."""
    clock = FakeClock()
    limiter = RateLimiter(1000, clock=clock)
    passing(limiter, clock, 70.0)  # the slow start doubles to the most it sends
    sent_from = clock.now + retry_after - 60.0
    history = limiter.learner
    slot = history.tuning.history_slot
    # What passed in the whole slots after the minute began (the oldest one that counts).
    counted = sum(
        history.history[index % len(history.history)]
        for index in range(int(sent_from // slot) + 1, history.history_at + 1)
    )
    limiter.hold_off(retry_after)
    assert limiter.rate == pytest.approx(counted / 60.0 * history.tuning.margin)


@pytest.mark.parametrize(
    ("name", "text"), [("epoch", "inf"), ("rate", "nan"), ("trial", "yes"), ("lo", "fast")]
)
def test_a_corrupt_field_starts_afresh(name: str, text: str) -> None:
    state = Learner(10.0, Tuning(), 5.0).to_state() | {name: text}
    learner = Learner.from_state(state, 10.0, Tuning(), 5.0, told=False)
    assert vars(learner) == vars(Learner(10.0, Tuning(), 5.0, told=False))


@pytest.mark.parametrize(
    ("state", "rate"),
    [({}, 1.25), ({"rate": "7.0"}, 7.0), ({"rate": "7.0", "unknown": "1"}, 7.0)],
    ids=["none yet", "written by an older version", "written by a newer version"],
)
def test_a_state_another_version_wrote_keeps_the_fields_this_one_knows(
    state: dict[str, str], rate: float
) -> None:
    """A fleet part way through a rolling upgrade: the fields this version knows are read, the
    others start as a new learner's (starting afresh each time the other version wrote would
    let every first request go unpaced)."""
    learner = Learner.from_state(state, 10.0, Tuning(), 5.0, told=False)
    fresh = Learner(10.0, Tuning(), 5.0, told=False)
    assert learner.rate == rate
    assert vars(learner) | {"rate": 0} == vars(fresh) | {"rate": 0}


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

    # Told 600/min: 10/s from the start, paced without a burst: 20 requests take 1.9 s.
    assert 1.8 <= paced_took < 5.0
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
