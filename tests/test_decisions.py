"""The decisions of a call and of a wait, on a fake clock and a seeded random source: no sleep.

`Call` (the retry policy) and `JobWait` (the poll schedule) are sans-I/O: given an answer and the
time, they say what to do. Here every rule is checked exactly, many times faster than over
sockets; tests/test_retry.py and tests/test_polling.py keep a few of each end to end.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from cortexio_sdk import (
    APIConnectionError,
    DeadlineExceededError,
    InternalServerError,
    QueryFailedError,
    RateLimitError,
    WaitTimeoutError,
)
from cortexio_sdk._http._retry import Call, Decision, RequestPolicy, call_deadline
from cortexio_sdk._polling import (
    FINAL_POLL_GRACE,
    POLL_AFTER_END,
    POLL_GROWTH,
    POLL_MAX_INTERVAL,
    POLL_MIN_INTERVAL,
    POLL_NEAR_END,
    JobWait,
)
from cortexio_sdk._ratelimit._limiter import RateLimiter
from fakeclock import FakeClock
from harness import job_state

URL = "https://api.example.test/api/v1/queries/job-1"


def policy(clock: FakeClock, seed: int = 7, **overrides: Any) -> RequestPolicy:
    settings: dict[str, Any] = {
        "api_key": "k",
        "origin": ("https", "api.example.test", 443),
        "user_agent": "test",
        "limiter": RateLimiter(600, clock=clock),
        "max_retries": 4,
        "max_retry_after": 60.0,
        "call_timeout": 300.0,
        "clock": clock,
        "rng": random.Random(seed),
    }
    return RequestPolicy(**(settings | overrides))


def call(p: RequestPolicy, method: str = "GET") -> Call:
    return p.start(httpx.Request(method, URL))


def answer(
    status: int, *, headers: dict[str, str] | None = None, json: Any = None
) -> httpx.Response:
    if json is None and status >= 400:
        json = {"message": "m", "type": "UNCATEGORIZED"}
    if status == 429 and json is not None and "title" not in json:
        json = {"type": "about:blank", "title": "Too Many Requests", "status": 429} | json
    return httpx.Response(status, headers=headers, json=json)


# --- the retry schedule ----------------------------------------------------------------------


def test_backoff_doubles_with_equal_jitter_and_is_capped() -> None:
    clock = FakeClock()
    c = call(policy(clock, max_retries=8, call_timeout=None))
    delays = [c.after_response(answer(503)).retry_in for _ in range(6)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert delay is not None
        assert ceiling / 2 <= delay <= ceiling
    # The jitter is the policy's random source: the same seed, the same schedule.
    again = call(policy(FakeClock(), max_retries=8, call_timeout=None))
    assert [again.after_response(answer(503)).retry_in for _ in range(6)] == delays


def test_retries_stop_at_max_retries_with_the_typed_error() -> None:
    c = call(policy(FakeClock(), max_retries=2))
    assert c.after_response(answer(503)).retry_in is not None
    assert c.after_response(answer(503)).retry_in is not None
    final = c.after_response(answer(503))
    assert final.retry_in is None
    assert isinstance(final.error, InternalServerError)


def test_a_post_is_not_resent_after_a_5xx_but_is_after_a_429() -> None:
    c = call(policy(FakeClock()), "POST")
    assert isinstance(c.after_response(answer(503)).error, InternalServerError)
    limited = call(policy(FakeClock()), "POST").after_response(
        answer(429, headers={"Retry-After": "2"})
    )
    # Everyone holds off 2 s; this caller books its next slot at once (the first after it).
    assert limited == Decision(hold_off=2.0, retry_in=0.0)


def test_429s_do_not_use_up_max_retries_while_the_deadline_bounds_them() -> None:
    clock = FakeClock()
    c = call(policy(clock, max_retries=2, call_timeout=30.0))
    for _ in range(10):  # far more than max_retries: the limiter is learning, not failing
        decision = c.after_response(answer(429, headers={"Retry-After": "2"}))
        assert decision == Decision(hold_off=2.0, retry_in=0.0)
        clock.now += 2.0
    assert c.retries == 0
    assert c.attempts == 11
    clock.now += 9.5  # 0.5 s left: a 2 s hold-off would outlive the call
    final = c.after_response(answer(429, headers={"Retry-After": "2"}))
    assert isinstance(final.error, RateLimitError)
    assert final.hold_off == 2.0  # the others still hold off


def test_a_call_whose_429s_outlast_its_deadline_ends_in_their_error() -> None:
    clock = FakeClock()
    p = policy(clock, call_timeout=5.0, limiter=RateLimiter(60, told=True, clock=clock))
    c = call(p)
    assert c.after_response(answer(429, headers={"Retry-After": "4"})).retry_in == 0.0
    p.limiter.hold_off(4.0)
    p.limiter.reserve(), p.limiter.reserve()  # two other callers take the slots after it
    with pytest.raises(RateLimitError) as caught:  # the next is past the call's 5 s
        c.limiter_wait(p.limiter.reserve())
    assert isinstance(caught.value.__cause__, DeadlineExceededError)


def test_429s_count_against_max_retries_when_no_deadline_bounds_them() -> None:
    c = call(policy(FakeClock(), max_retries=2, call_timeout=None))
    for _ in range(2):
        assert c.after_response(answer(429, headers={"Retry-After": "1"})).retry_in == 0.0
    assert isinstance(c.after_response(answer(429)).error, RateLimitError)


def test_max_retries_zero_still_means_no_retry_of_a_429() -> None:
    c = call(policy(FakeClock(), max_retries=0))
    decision = c.after_response(answer(429, headers={"Retry-After": "1"}))
    assert isinstance(decision.error, RateLimitError)


def test_a_success_hands_the_answer_back() -> None:
    assert call(policy(FakeClock())).after_response(answer(200, json={})) == Decision()


# --- Retry-After and the hold-off ------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "3"}, {}, 3.0),
        ({}, {"retryAfter": 5}, 5.0),  # the problem+json field when there is no header
        ({"Retry-After": "2"}, {"retryAfter": 9}, 2.0),  # the header wins
        ({"Retry-After": "soon"}, {"retryAfter": 4}, 4.0),  # unreadable header: the body
        ({"Retry-After": "-1"}, {}, None),  # no advice: backoff
    ],
)
def test_a_429_holds_everyone_off_for_the_advised_time(
    headers: dict[str, str], body: dict[str, Any], expected: float | None
) -> None:
    decision = call(policy(FakeClock())).after_response(answer(429, headers=headers, json=body))
    if expected is None:
        assert decision.hold_off is not None
        assert 0.25 <= decision.hold_off <= 0.5  # the first backoff
    else:
        assert decision.hold_off == expected
    assert decision.retry_in == 0.0  # the hold-off does the waiting, for every caller
    assert decision.error is None


def test_a_429_past_max_retry_after_raises_at_once_without_a_hold_off() -> None:
    decision = call(policy(FakeClock(), max_retry_after=10)).after_response(
        answer(429, headers={"Retry-After": "11"})
    )
    assert decision.hold_off is None
    assert decision.retry_in is None
    assert isinstance(decision.error, RateLimitError)
    assert decision.error.retry_after == 11


def test_the_last_429_still_holds_everyone_off() -> None:
    c = call(policy(FakeClock(), max_retries=0))
    decision = c.after_response(answer(429, headers={"Retry-After": "1"}))
    assert decision.hold_off == 1.0  # other callers must not walk into the same limit
    assert isinstance(decision.error, RateLimitError)
    assert decision.retry_in is None


# --- the call's deadline ---------------------------------------------------------------------


def test_no_retry_sleeps_past_the_deadline() -> None:
    clock = FakeClock()
    c = call(policy(clock, call_timeout=10))
    clock.now += 8
    decision = c.after_response(answer(503, headers={"Retry-After": "3"}))
    assert isinstance(decision.error, InternalServerError)  # 3 s would end after the deadline
    assert c.retries == 0


def test_an_attempt_gets_only_the_time_left_and_none_after_the_deadline() -> None:
    clock = FakeClock()
    timeouts = {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 30.0}
    c = policy(clock, call_timeout=10).start(
        httpx.Request("GET", URL, extensions={"timeout": timeouts})
    )
    clock.now += 7
    c.prepare()
    assert c.request.extensions["timeout"] == {
        "connect": 3.0,
        "read": 3.0,
        "write": 3.0,
        "pool": 3.0,
    }
    clock.now += 3
    with pytest.raises(DeadlineExceededError):
        c.prepare()


def test_a_waits_deadline_bounds_the_calls_made_inside_it() -> None:
    clock = FakeClock()
    token = call_deadline.set(clock.now + 2)
    try:
        c = call(policy(clock, call_timeout=300))
    finally:
        call_deadline.reset(token)
    assert c.deadline == clock.now + 2


def test_a_limiter_slot_past_the_deadline_fails_the_call_now() -> None:
    clock = FakeClock()
    p = policy(clock, call_timeout=1, limiter=RateLimiter(60, told=True, clock=clock))
    first, second = call(p), call(p)
    assert first.limiter_wait(p.limiter.reserve()) == 0
    with pytest.raises(DeadlineExceededError, match=r"needs 1\.0 s"):
        second.limiter_wait(p.limiter.reserve())  # the next slot is 1 s away: too late


def test_a_connection_failure_is_retried_and_counts_its_attempts() -> None:
    c = call(policy(FakeClock(), max_retries=1), "POST")
    refused = httpx.ConnectError("refused")
    assert 0.25 <= c.after_exception(refused) <= 0.5  # never sent: safe even for POST
    with pytest.raises(APIConnectionError, match=r"after 2 attempts$"):
        c.after_exception(refused)


# --- the poll schedule -----------------------------------------------------------------------


def test_without_progress_the_interval_grows_with_the_age_of_the_wait() -> None:
    clock = FakeClock()
    waiting = JobWait("job-1", timeout=600, poll_interval=None, clock=clock)
    seen = []
    for age in (0, 1, 10, 30, 100, 500):  # seconds since the wait began
        clock.now = waiting.started + age
        waiting.observe(job_state())
        seen.append(waiting.next_sleep())
    expected = [
        min(POLL_MAX_INTERVAL, max(POLL_MIN_INTERVAL, POLL_GROWTH * a))
        for a in (0, 1, 10, 30, 100, 500)
    ]
    assert seen == pytest.approx(expected)


def test_a_rising_progress_puts_the_next_poll_just_after_the_predicted_end() -> None:
    clock = FakeClock()
    waiting = JobWait("job-1", timeout=600, poll_interval=None, clock=clock)
    waiting.observe(job_state(progress=0.1))
    assert waiting.next_sleep() == POLL_MIN_INTERVAL  # one sample: no speed yet
    clock.now += 0.2
    waiting.observe(job_state(progress=0.2))  # 0.1 per 0.2 s: the end 1.6 s from now
    assert waiting.next_sleep() == pytest.approx(1.6 + POLL_AFTER_END)
    waiting.observe(job_state(progress=0.2))  # not rising: no prediction
    assert waiting.next_sleep() == pytest.approx(max(POLL_MIN_INTERVAL, POLL_GROWTH * 0.2))
    clock.now += 0.05
    waiting.observe(job_state(progress=0.201))  # the average speed since the first sample
    speed = (0.201 - 0.1) / 0.25
    assert waiting.next_sleep() == pytest.approx((1 - 0.201) / speed + POLL_AFTER_END)
    clock.now += 0.01
    waiting.observe(job_state(progress=0.98))  # almost done: not sooner than POLL_NEAR_END
    assert waiting.next_sleep() == POLL_NEAR_END


def test_a_poll_answered_late_does_not_time_the_job() -> None:
    """A job of 2 s from t=0 (progress = t / 2). The first poll, sent at 0.1 s among a thousand
    others, is read by the server at 0.2 s and answered at 1.2 s; the next ones take 10 ms. Timed
    at its answer, the first would make the job look twice as fast and the end come at 1.45 s."""
    clock = FakeClock()
    clock.now = 0.1
    waiting = JobWait("job-1", timeout=600, poll_interval=None, clock=clock)
    job = lambda read_at: job_state(progress=read_at / 2)  # noqa: E731
    clock.now = 1.2
    waiting.observe(job(0.2), sent=0.1)  # queued a second: too vague to time the job by
    for sent in (1.3, 1.7):
        clock.now = sent + 0.01
        waiting.observe(job(sent + 0.005), sent=sent)
    # At the earliest end the two prompt polls allow (each timed to 5 ms), and after the end.
    end = clock.now + waiting.next_sleep()
    assert 2.0 < end <= 2.0 + POLL_AFTER_END

    # Without the times of sending, the late answer counts as read at 1.2 s: the end is
    # predicted too early, and the poll goes while the job still runs.
    hasty = JobWait("job-1", timeout=600, poll_interval=None, clock=clock)
    clock.now = 1.2
    hasty.observe(job(0.2))
    clock.now = 1.71
    hasty.observe(job(1.705))
    assert clock.now + hasty.next_sleep() < 2.0


def test_polls_that_queue_space_the_next_ones_out() -> None:
    """No usable progress, and answers that take 1.5 s (a thousand waits on one client): the
    next poll waits twice that, not the 0.5 s a prompt server gets."""
    clock = FakeClock()
    waiting = JobWait("job-1", timeout=600, poll_interval=None, clock=clock)
    clock.now += 0.01
    waiting.observe(job_state(), sent=waiting.started)
    assert waiting.next_sleep() == POLL_MIN_INTERVAL
    sent = clock.now
    clock.now += 1.5
    waiting.observe(job_state(), sent=sent)
    assert waiting.next_sleep() == pytest.approx(3.0)


def test_a_progress_of_one_with_the_job_running_is_polled_again_soon() -> None:
    clock = FakeClock()
    waiting = JobWait("job-1", timeout=600, poll_interval=None, clock=clock)
    clock.now += 30
    waiting.observe(job_state(progress=1.0))  # the status follows any moment
    assert waiting.next_sleep() == POLL_NEAR_END
    # Still running at 1.0: once was enough; the interval grows again (not 4 polls a second
    # for as long as the status lags).
    clock.now += POLL_NEAR_END
    waiting.observe(job_state(progress=1.0))
    assert waiting.next_sleep() == pytest.approx(POLL_GROWTH * (30 + POLL_NEAR_END))


def test_a_slow_job_is_polled_at_the_cap_not_at_its_predicted_end() -> None:
    clock = FakeClock()
    waiting = JobWait("job-1", timeout=3600, poll_interval=None, clock=clock)
    waiting.observe(job_state(progress=0.1))
    clock.now += 10
    waiting.observe(job_state(progress=0.11))  # 0.001 a second: the end is 890 s away
    assert waiting.next_sleep() == POLL_MAX_INTERVAL


def test_a_fixed_interval_and_the_deadline() -> None:
    clock = FakeClock()
    waiting = JobWait("job-1", timeout=10, poll_interval=4, clock=clock)
    waiting.observe(job_state(progress=0.5))
    assert waiting.next_sleep() == 4
    clock.now += 8
    assert waiting.next_sleep() == 2  # the last poll goes at the deadline itself
    clock.now += 2
    with pytest.raises(WaitTimeoutError, match=r"still IN_PROGRESS, 50% done after 10 s"):
        waiting.next_sleep()


def test_the_wait_bounds_its_requests_with_a_grace_for_the_last_poll() -> None:
    clock = FakeClock()
    waiting = JobWait("job-1", timeout=10, poll_interval=None, clock=clock)
    with waiting.deadline_scope():
        assert call_deadline.get() == waiting.started + 10 + FINAL_POLL_GRACE
    assert call_deadline.get() is None


def test_an_observation_says_what_changed_and_how_the_job_ended() -> None:
    waiting = JobWait("job-1", timeout=10, poll_interval=None, clock=FakeClock())
    first = waiting.observe(job_state(progress=0.1))
    assert (first.done, first.changed, first.error) == (False, True, None)
    assert not waiting.observe(job_state(progress=0.1)).changed  # the same: no callback
    ended = waiting.observe(job_state("FAILURE", progress=0.1))
    assert ended.changed
    assert isinstance(ended.error, QueryFailedError)
    assert waiting.observe(job_state("DONE", progress=1.0)).done


def test_a_429_while_polling_is_waited_out_within_the_deadline() -> None:
    clock = FakeClock()
    waiting = JobWait("job-1", timeout=10, poll_interval=None, clock=clock)
    limited = RateLimitError("slow down", retry_after=3, status_code=429)
    assert waiting.after_error(limited) == 3
    clock.now += 8
    assert waiting.after_error(limited) == 2  # no further than the deadline
    clock.now += 2
    with pytest.raises(WaitTimeoutError):
        waiting.after_error(limited)
