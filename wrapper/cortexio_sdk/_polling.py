"""Waiting for a query job: the poll schedule, terminal states and deadline, sync and async alike.

The schedule: the first poll goes at once (small catalogs answer almost instantly). After that,
when the job reports a `progress` fraction that has risen since the first poll that showed one,
its average speed predicts the end, and the next poll goes just after it (`POLL_AFTER_END`,
0.05 s later), at least `POLL_NEAR_END` (0.15 s) and at most `POLL_MAX_INTERVAL` (10 s) away:
a job is noticed done a fraction of a second after its end, and a long one costs about one
request per 10 s plus a few near its end (a 60 s job: about 10 requests). A progress of 1.0
with the job still running means the status is about to follow: one poll after
`POLL_NEAR_END`, then the interval below. Without a
usable progress (none yet, none sent, not rising) the interval is `POLL_GROWTH` (12 %) of the
time the wait has lasted, never under `POLL_MIN_INTERVAL` (0.5 s) or twice the last poll's round
trip (polls that queue behind many others should not queue more) nor over `POLL_MAX_INTERVAL`.
A poll that took long to come back also counts for less in the prediction (`ProgressSpeed`).
`poll_interval=` fixes the interval instead.

The deadline is always on: every request made while waiting (its retries and Retry-After sleeps
included) is bounded by it; one last poll goes at the deadline (with `FINAL_POLL_GRACE`, 0.5 s,
to answer), and `WaitTimeoutError` carries the last state seen so the caller can resume with
`wait(job_id)`.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
from cortex_api_client.models import QueryStatus
from cortex_api_client.types import Unset

from ._checks import check_number
from ._exceptions import (
    APITimeoutError,
    CortexError,
    DeadlineExceededError,
    QueryCancelledError,
    QueryError,
    QueryFailedError,
    QueryTimedOutError,
    RateLimitError,
    WaitTimeoutError,
)
from ._http._retry import call_deadline

if TYPE_CHECKING:
    from cortex_api_client.models import QueryBuilderResult

    from ._telemetry import WaitRecord

__all__ = [
    "DEFAULT_WAIT_TIMEOUT",
    "POLL_GROWTH",
    "POLL_MAX_INTERVAL",
    "POLL_MIN_INTERVAL",
    "POLL_NEAR_END",
    "Completed",
    "JobWait",
    "Observation",
    "ProgressSpeed",
    "bounded_by",
    "check_progress_callback",
    "check_timeout",
    "progress_percent",
]

logger = logging.getLogger("cortexio_sdk")

DEFAULT_WAIT_TIMEOUT = 600.0
POLL_GROWTH = 0.12
POLL_MIN_INTERVAL = 0.5
POLL_MAX_INTERVAL = 10.0
POLL_NEAR_END = 0.15
POLL_AFTER_END = 0.05
FINAL_POLL_GRACE = 0.5

_FAILURES: dict[QueryStatus, type[QueryError]] = {
    QueryStatus.FAILURE: QueryFailedError,
    QueryStatus.CANCELLED: QueryCancelledError,
    QueryStatus.TIMED_OUT: QueryTimedOutError,
}

ProgressCallback = Callable[["QueryBuilderResult"], Any]


@contextmanager
def bounded_by(deadline: float) -> Iterator[None]:
    """Every request made inside ends by `deadline` (a time.monotonic() value)."""
    token = call_deadline.set(deadline)
    try:
        yield
    finally:
        call_deadline.reset(token)


def check_progress_callback(on_progress: object, *, can_await: bool) -> None:
    """`on_progress` must be callable, and a coroutine function only where it can be awaited."""
    if on_progress is None:
        return
    if not callable(on_progress):
        raise TypeError(f"on_progress must be callable, got {type(on_progress).__name__}")
    if not can_await and inspect.iscoroutinefunction(on_progress):
        raise TypeError(ASYNC_CALLBACK_ON_SYNC)


# Said when a sync wait is given (or gets back) a coroutine: it would never be awaited.
ASYNC_CALLBACK_ON_SYNC = (
    "on_progress is a coroutine function, which the sync client cannot await; pass a plain "
    "function, or use AsyncCortex"
)


def check_timeout(name: str, value: object) -> float:
    """A positive, finite number of seconds, or a clear error naming the argument."""
    return check_number(name, value)


@attrs.frozen
class Completed:
    """One job's outcome from `as_completed`: its final state, or the error that ended the wait."""

    job_id: str
    result: QueryBuilderResult | None = None
    error: CortexError | None = None

    def unwrap(self) -> QueryBuilderResult:
        """The DONE state, or raise the error."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def progress_percent(progress: object) -> float | None:
    """A job's `progress` as 0-100, the one unit users see (Cortex sends a fraction, 0-1; a
    value above 1 is taken as a percentage already); None when absent or not a number."""
    if isinstance(progress, bool) or not isinstance(progress, int | float):
        return None
    if not math.isfinite(progress):
        return None
    value = progress * 100 if progress <= 1 else progress
    return max(0.0, min(100.0, float(value)))


class ProgressSpeed:
    """A job's speed from the `progress` it reports, and the end that speed predicts.

    The speed is the average between two observations as far apart as their precision allows
    (the first and the latest, when polls are answered promptly), so one slow or fast step does
    not swing it. The poll schedule polls just after the predicted end; the CLI's bar moves
    along it between polls. Times are whatever clock the caller passes in.

    A state was read by the server somewhere between the poll's sending (`sent`) and its answer
    (`now`): it is placed in the middle, give or take half the round trip. A speed is taken only
    between two observations at least `PRECISION` times their combined uncertainty apart: a
    poll queued behind a thousand others (when many waits start at once) is timed by a later
    one, not by the next. Timed at its answer, such a poll made the job look faster than it
    was, the poll just after the predicted end came while it still ran, and the wait noticed
    the end a second late.
    """

    # Two observations time a speed when they are at least this many times their uncertainty
    # apart: the earliest end they allow is then at most half the time left too early.
    PRECISION = 2.0

    def __init__(self) -> None:
        # (time, progress, uncertainty of the time) of each observation that reported progress.
        self._seen: list[tuple[float, float, float]] = []
        self._rising = False
        # The last progress said 1.0 (the status had not followed) and the one before did not:
        # one quick poll for the status, not one every POLL_NEAR_END for as long as it lags.
        self.complete = False
        self._was_complete = False

    @property
    def _latest(self) -> tuple[float, float, float] | None:
        return self._seen[-1] if self._seen else None

    def observe(self, progress: object, now: float, *, sent: float | None = None) -> None:
        number = not isinstance(progress, bool) and isinstance(progress, int | float)
        complete = number and progress == 1
        self.complete = complete and not self._was_complete
        self._was_complete = complete
        if not number:
            return
        assert isinstance(progress, int | float)
        if not (math.isfinite(progress) and 0 <= progress < 1):
            self._rising = False  # 1.0 but not DONE, or nonsense: no prediction
            return
        uncertainty = 0.0
        if sent is not None and sent <= now:
            uncertainty = (now - sent) / 2
            now -= uncertainty
        previous = self._latest
        self._rising = previous is not None and progress > previous[1]
        self._seen.append((now, float(progress), uncertainty))
        if len(self._seen) > 64:  # an hour's wait: keep the oldest half, which times it best
            del self._seen[32]

    def _pair(self) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
        """The earlier observation that times the speed best (the farthest from the latest for
        their uncertainty: with prompt answers, the first), and the latest; None when none is
        at least `PRECISION` times their uncertainty away, or progress has not risen."""
        latest = self._latest
        if not self._rising or latest is None:
            return None
        best: tuple[float, float, float] | None = None
        best_score = 0.0
        for earlier in self._seen[:-1]:
            span = latest[0] - earlier[0]
            if span <= 0 or latest[1] <= earlier[1]:
                continue
            uncertainty = latest[2] + earlier[2]
            score = span / uncertainty if uncertainty else math.inf
            if score > best_score:  # on a tie (prompt answers: all infinite), the earliest
                best, best_score = earlier, score
        if best is None or best_score < self.PRECISION:
            return None
        return best, latest

    def fraction_per_second(self) -> float | None:
        """The job's average speed, progress per second (what the CLI's bar moves by)."""
        pair = self._pair()
        if pair is None:
            return None
        (t0, p0, _), (t1, p1, _) = pair
        return (p1 - p0) / (t1 - t0)

    def predicted_end(self) -> float | None:
        """The earliest time the job may end at its speed so far, given how precisely its
        polls were timed (with prompt answers: when it ends); None without rising progress.
        A poll there that finds it running is a precise observation far from the first, and
        the next prediction is close."""
        pair = self._pair()
        if pair is None:
            return None
        (t0, p0, u0), (t1, p1, u1) = pair
        fastest = (p1 - p0) / (t1 - t0 - u0 - u1)  # PRECISION > 1: the span stays positive
        return t1 - u1 + (1.0 - p1) / fastest

    def estimate(self, now: float) -> float | None:
        """The fraction done at `now` by that speed (below 1 until a poll says DONE)."""
        speed = self.fraction_per_second()
        if speed is None or self._latest is None:
            return None if self._latest is None else self._latest[1]
        return min(0.99, self._latest[1] + speed * max(0.0, now - self._latest[0]))


@attrs.frozen
class Observation:
    """What one polled state means for the wait, for its I/O shell to act on in this order:
    call `on_progress` when `changed`; then raise `error` if set; then return when `done`."""

    done: bool
    changed: bool
    error: QueryError | None = None


class JobWait:
    """The decisions of one wait, without I/O: deadline, schedule, last state, what each means.

    Time comes from `clock` (the client's, a test's fake one), so the schedule and the deadline
    can be checked exactly without sleeping.
    """

    def __init__(
        self,
        job_id: str,
        *,
        timeout: float,
        poll_interval: float | None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        record: WaitRecord | None = None,
    ) -> None:
        self.job_id = job_id
        self.record = record  # the wait's span and metrics; None while nobody listens
        self.timeout = check_timeout("timeout", timeout)
        self.poll_interval = (
            None if poll_interval is None else check_timeout("poll_interval", poll_interval)
        )
        self.clock = clock
        self.started = clock()
        self.deadline = deadline if deadline is not None else self.started + self.timeout
        self.last: QueryBuilderResult | None = None
        self._last_seen: tuple[str, object] | None = None
        self._warned_unknown = False
        self._speed = ProgressSpeed()
        self._round_trip = 0.0  # of the last poll answered

    def remaining(self) -> float:
        return self.deadline - self.clock()

    @contextmanager
    def deadline_scope(self) -> Iterator[None]:
        """Bound every request made inside (retries and Retry-After sleeps too) by the deadline,
        and trace the wait (its polls are the spans inside it).

        The last poll goes at the deadline itself, so it gets `FINAL_POLL_GRACE` to answer: a
        job that ended just in time is returned, not reported as timed out.
        """
        record = self.record
        with bounded_by(self.deadline + FINAL_POLL_GRACE):
            if record is None:
                yield
                return
            with record:
                yield

    def observe(self, state: QueryBuilderResult, *, sent: float | None = None) -> Observation:
        """What a polled state means: done, changed since the last poll, or ended otherwise.
        `sent`: when the poll that read it was sent (this wait's clock)."""
        self.last = state
        status = state.status
        if self.record is not None:
            self.record.polled(str(status))
        now = self.clock()
        if sent is not None:
            self._round_trip = max(0.0, now - sent)
        self._speed.observe(state.progress, now, sent=sent)
        seen = (str(status), None if isinstance(state.progress, Unset) else state.progress)
        changed = seen != self._last_seen
        self._last_seen = seen
        if status == QueryStatus.DONE:
            self._ended(state)
            return Observation(done=True, changed=changed)
        failure = _FAILURES.get(status) if status.is_known else None
        if failure is not None:
            self._ended(state)
            error = failure(
                f"query job {self.job_id} ended {status}", job_id=self.job_id, state=state
            )
            return Observation(done=False, changed=changed, error=error)
        if not status.is_known and not self._warned_unknown:
            self._warned_unknown = True
            logger.warning(
                "query job %s reports status %r, which this SDK does not know; "
                "treating it as still running",
                self.job_id,
                str(status),
            )
        return Observation(done=False, changed=changed)

    def _ended(self, state: QueryBuilderResult) -> None:
        """Tell telemetry the job ended, and how long it ran: from its `initiatedAt` (the
        server's wall clock, so the wall clock here, not the injected one) to this poll."""
        if self.record is None:
            return
        started = state.query_details.initiated_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)  # the spec's date-times are UTC
        ran = (datetime.now(UTC) - started).total_seconds()
        self.record.job_ended(str(state.status), ran if ran >= 0 else None)

    def next_sleep(self) -> float:
        """Seconds until the next poll, or raise WaitTimeoutError when the deadline has come."""
        remaining = self.remaining()
        if remaining <= 0:
            raise self.timed_out()
        if self.poll_interval is not None:
            interval = self.poll_interval
        else:
            predicted = self._speed.predicted_end()
            if predicted is not None:
                until_end = predicted - self.clock() + POLL_AFTER_END
                interval = min(POLL_MAX_INTERVAL, max(POLL_NEAR_END, until_end))
            elif self._speed.complete:
                interval = POLL_NEAR_END  # all done but the status: it follows any moment
            else:
                age = self.clock() - self.started
                interval = min(POLL_MAX_INTERVAL, max(POLL_MIN_INTERVAL, POLL_GROWTH * age))
                # Answers that take long mean polls queue (a thousand waits on one client):
                # polling sooner only deepens the queue, and a poll twice the round trip
                # later is the first that can time the job's speed (`ProgressSpeed.PRECISION`).
                interval = max(interval, min(2 * self._round_trip, POLL_MAX_INTERVAL))
        sleep = min(interval, remaining)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("query job %s: next poll in %.2f s", self.job_id, sleep)
        return sleep

    def after_error(self, error: CortexError) -> float:
        """A poll failed: the seconds to sleep before the next one, or raise what ends the wait.

        A 429 the transport did not wait out is waited out here; a timeout at our deadline (or a
        rate-limit hold-off that outlasts it) is a WaitTimeoutError; anything else is raised.
        """
        if self.record is not None:
            self.record.polled()
        if isinstance(error, RateLimitError):
            return self.after_rate_limit(error)
        if isinstance(error, DeadlineExceededError) or (
            isinstance(error, APITimeoutError) and self.deadline_passed()
        ):
            raise self.timed_out() from error
        raise error

    def after_rate_limit(self, error: RateLimitError) -> float:
        """A 429 the transport did not wait out: wait as the server asks, within the deadline."""
        remaining = self.remaining()
        if remaining <= 0:
            raise self.timed_out() from error
        advised = error.retry_after if error.retry_after is not None else self.next_sleep()
        logger.info(
            "query job %s: rate limited while polling; waiting %.1f s", self.job_id, advised
        )
        return min(advised, remaining)

    def deadline_passed(self) -> bool:
        """Whether a plain request timeout came at our deadline (then it is a WaitTimeoutError)."""
        return self.remaining() <= 0.1

    def timed_out(self) -> WaitTimeoutError:
        if self.last is None:
            seen = "before any state was seen"
        else:
            shown = progress_percent(self.last.progress)
            seen = f"still {self.last.status}" + ("" if shown is None else f", {shown:.0f}% done")
        return WaitTimeoutError(
            f"query job {self.job_id}: {seen} after {self.timeout:g} s; "
            f"resume with wait({self.job_id!r})",
            job_id=self.job_id,
            state=self.last,
        )
