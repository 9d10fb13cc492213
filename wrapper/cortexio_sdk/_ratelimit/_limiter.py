"""The client-side rate limiter shared by every thread and task using one client.

Why our own code: the libraries that throttle (`limits`, `pyrate-limiter`, `aiolimiter`) keep to
a rate they are given, one of them per sync or async world; Cortex's limit has to be learnt. It
documents 1,000 requests a minute per key and nothing about its bucket, and other clients of the
key take part of it, so the client cannot know in advance how fast, nor how many at once, the
server will let it send. What it does against such a server, in two paragraphs a user can act on
(README.md says the same):

  Told nothing (`requests_per_minute` at Cortex's documented limit), it starts at an eighth of
  that, one request at a time, and doubles while requests pass (its first 429, if met at an
  eighth or a quarter of that, is tried again once before it counts: it may be another client's
  spending). After a 429 every caller holds off for the Retry-After, and the client brackets the
  limit between the fastest rate that passed and the slowest that met a 429, then keeps 1.5 %
  under it; it bursts only once the server took a burst, and tries 3 % faster every 300 requests
  in case the limit rose. A Retry-After of 10 s to under a minute is a window of a minute, fixed
  or sliding: it spreads what passed over the minute before the next request may pass (the
  window's count) over the minute.

  Told your share of the key (any other `requests_per_minute`), it starts there. Either way 429s
  do not use up `max_retries` while a deadline bounds the call (they end it with RateLimitError
  once they outlast it); and processes sharing a key should share its limit through Redis
  (`RedisLimiter`), which runs this same code.

How it learns, in `Learner` (plain numbers, the time passed in):

- It paces (GCRA: a token bucket kept as the "theoretical arrival time" of the next request),
  and sends a burst only on evidence: a request sent ahead of its slot after a quiet spell that
  passes shows the server holds one more (up to a second's worth); a 429 right after one halves
  the burst, says nothing about the rate, and no larger burst is tried for `burst_retry` s.
- `lo` is the fastest rate confirmed to pass: sent at, with callers waiting for their turn (a
  rate they did not use proves nothing), for long enough that what the server's bucket saved up
  meanwhile would have run out (`_drain`: its savings over the rate's excess, at most
  `patience`). `hi` is the slowest rate that met a 429. Each trial is the geometric middle; once
  hi is within `precision` of lo (or `patient_precision`, when telling more would take longer
  than `patience`: `_bracket_savings`) the client keeps to `margin` of lo. After a failed
  trial lo is tried again first: a bucket's savings can make a too-fast rate look confirmed.
- The slow start's first 429, met under half the maximum, is excused once (`_excuse`):
  a replica that started while others had spent the bucket would otherwise bracket the limit
  under that small rate and stay there until the probes climbed back (0.11-0.38 of limits of
  5-16.7/s for three and a half minutes, simulated). The rate is tried again for twice as long
  as it lasted; a bucket too small for it refuses it again at once, and that 429 counts.
- A Retry-After of 10 s to under a minute is read as a window of a minute (`_window`): fixed, it
  frees all of its count at its end; sliding, each request a minute after it passed. Either
  way, what passed over the minute before the next request may pass is the window's count (a
  history of successes in half-second slots tells it), and the client keeps to it over the
  minute; a trial or probe must last a window. Under a sliding window the 429s keep coming for
  a while after the first, answering for what was sent before: each tells the same count, so
  the rate stays (`_windowed`). Before, against a fixed window of N a minute the client sent
  each window a little faster than the last and held every caller for the end of it about once
  a minute (simulated, 60 to 600 a minute); against a sliding one it read those 429s as a token
  bucket's and halved its rate again and again, to 0.62 and 0.35 of sliding windows of 120 and
  300 a minute (simulated, minutes 4 to 10). It reads a window's count only from a minute in
  which the callers sent all they might, with no hold-off (else what passed is theirs, not the
  window's; and a window of 20 or 30 s passes more than its count in a minute: read as a
  minute's, it held the client to 0.24-0.65 of such limits), drops a reading that disagrees
  with the last, and forgets a window not told again for five minutes (a stray long
  Retry-After from a token bucket). Otherwise, and for longer Retry-Afters, what passed
  between two ends, twice alike, is the window's count.
- A token bucket holds under one token whenever it answers 429, so what passed between two 429s
  is at most what it refilled, plus one: summed over spans (`_bound`, older ones weighing less)
  that is a lower bound on the limit whatever the bucket's size. It raises lo, and it shows a
  confirmed lo false when fewer passed than lo would have let through (`_refutes_lo`).
- And once a bucket shown to hold more than a hold-off's worth is spent (a span of the last
  minute passed more than the rate now seen too fast would let through), what passed in a span
  sent at one rate faster than the limit, plus one, over the span caps it (`_ceiling`): the
  bucket refilled at the limit all along and the callers took all of it. A bucket of a
  minute's worth, spent by a client not told the limit, is then learnt in 2-5 429s over 90 s
  at 1-7/s, not 4-9 in trials that each met one (simulated). A cap under a rate known to pass,
  or under the bound above, is dropped, and none is taken for five minutes after a Retry-After
  over a second (a window's spans pass what left it, not what refilled). One case misreads:
  a sliding window of 10 s at 13/s spent by the slow start frees, after, what the slow start
  sent 10 s before; read as a bucket's refill, it held the client to 0.26 of that limit until
  the probes (0.57 before; simulated).
- A 429 at the steady rate: the limit fell (a client joined the key) or savings hid an excess.
  It starts again under it: about the savings over how long it lasted under it, at least half.
- Every 300 requests (a minute at least) the steady client tries `first_step` faster, doubling
  the step while it passes: a limit that doubled is found in a few trials; one that did not
  costs a 429 a probe. A probe passes a step or two on a bucket's savings: one that passed no
  rate beyond the one that met a 429 before it showed no rise, and that rate still bounds the
  limit; so does one that passed at most twice `first_step` beyond it, every other time (a
  limit that rose a few % passes alike, and the next such probe brackets from its own 429).
  Bracketed again from the rate kept every time, the trials met one or two more 429s each
  minute: 0.90-0.95 of limits of 5-14.8/s with a bucket of 2 over minutes 2-10, 0.949-0.968
  now (simulated). After a probe the bracket also reads the savings of its failed trials
  against the floor now (`_bracket_savings`).
- Every rate change voids the slots booked at the old rate; sleepers confirm their slot at
  least every RECHECK s, so a new rate applies within a second however many callers wait.
- A caller that reaches its slot a tenth of an interval late or more (a stalled machine woke
  it late) starts the schedule again from now (`confirm`; in one process): the callers booked
  after it would otherwise go together, a burst the server was never shown to take, whose 429
  the client read as a limit that fell; and the next slot would come less than an interval
  after it, which a bucket of one refuses unless the rate is that much under the limit (from
  half an interval late, 0.61-0.86 of buckets of one at 5-10/s on a machine that stalls,
  simulated; 0.93-0.96 now). A process keeping to its share of a fleet's schedule (`share`)
  sends in its own slots alone: a caller late for one waits for the next.
- Every 429 makes every caller hold off until its Retry-After has passed; 429s arriving during
  a hold-off answer requests sent before it and teach nothing more.

Booking is instant and never blocks under the lock, so `RateLimiter` is safe from threads and
event loops alike; `_redis_bucket.RedisBucket` runs the same `Learner` on state kept in Redis.
Each new rate, and what each 429 was read as, is logged at DEBUG on the `cortexio_sdk.ratelimit`
logger (`learning`), built only when that level is on.
tests/support/ratesim.py drives it on a fake clock against the fake Cortex's own rate limits.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

import attrs

from .._checks import check_number

__all__ = ["Learner", "Limiter", "RateLimiter", "Ticket", "Tuning"]

logger = logging.getLogger("cortexio_sdk.ratelimit")


class Limiter(Protocol):
    """What a transport asks of a rate limiter, from threads (plain methods) or a loop (a-)."""

    # What telemetry reports of it: "local" (this client's) or "redis" (shared by a fleet), and
    # the rate it sends at now, requests/s.
    kind: str

    @property
    def rate(self) -> float: ...

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
    """How the limiter learns the server's limit; see the module docstring. Shared with Redis."""

    start: float = 0.125  # a new client starts at this share of the maximum, doubling...
    backoff: float = 0.5  # a 429 at a rate known to pass: try this share of it first
    precision: float = 0.035  # the bracket [lo, hi] is narrow enough: hi <= lo * (1 + this)
    margin: float = 0.985  # once learnt, keep to this share of the rate known to pass
    confirm_seconds: float = 1.0  # a trial rate passes after this long without a 429...
    confirm_requests: float = 4.0  # ...and at least this many intervals of it (slow start: half)
    saturated: float = 0.9  # ...during which the callers sent at least this share of it
    probe_seconds: float = 60.0  # a steady client tries faster at most this often...
    probe_requests: float = 300.0  # ...and only after this many requests
    first_step: float = 0.03  # the first try faster; each that passes doubles the next
    patience: float = 15.0  # a trial that would take longer to confirm than this...
    patient_precision: float = 0.1  # ...is not made once the bracket is this narrow
    quiet_spell: float = 10.0  # a 429 for the first call after this long idle teaches nothing
    burst_grace: float = 1.0  # a 429 this soon after a request sent early blames the burst
    burst_retry: float = 300.0  # after that, no larger burst for this long
    bound_memory: float = 30.0  # seconds over which what passed between 429s is weighed
    bucket_memory: float = 60.0  # what a span showed the bucket to hold is kept this long
    min_fraction: float = 0.01  # the rate never goes under this share of the maximum
    window_wait: float = 10.0  # a Retry-After this long (and two intervals) ends a window
    minute: float = 60.0  # a window whose end is under this far is taken as this long...
    history_slot: float = 0.5  # ...what passed over it is kept in slots of this long...
    window_memory: float = 300.0  # ...and a window not told again for this long is forgotten
    # A caller this share of an interval (and STALL_FLOOR s) late for its slot was stalled: the
    # schedule starts again from it (not a fleet's in Redis; in a share, it takes its next own
    # slot).
    stall_lateness: float = 0.1


class Learner:
    """What the limiter knows and its schedule: numbers and the time passed in, no lock, no I/O.

    `RateLimiter` runs it under a lock on this process's clock; `RedisBucket` runs the same
    code on state kept in Redis, on Redis's clock (`to_state` / `from_state`).
    """

    def __init__(self, max_rate: float, tuning: Tuning, now: float, *, told: bool = False) -> None:
        self.max_rate = max_rate  # requests/s, as configured (or this process's fleet share)
        self.tuning = tuning
        # Never faster than the margin under the maximum, told or not: a server whose bucket
        # holds one request at exactly that rate refuses at the least jitter.
        self.top = max_rate * tuning.margin
        # What the client sends at, and what it knows of the limit.
        self.rate = self.top if told else max_rate * tuning.start
        self.lo = 0.0  # the fastest rate confirmed to pass (0: none yet)
        self.hi = 0.0  # the slowest rate that met a 429 (0: none)
        self.floor = 0.0  # a lower bound on the limit from what passed between 429s
        self.step = 1.0  # the next try above lo when nothing bounds it (doubling at the start)
        self.starting = True  # no 429 yet (an excused one does not count)
        # A 429 in the slow start is excused once (`_excuse`): the rate that met it is tried
        # again, for at least this long (0: none excused).
        self.excused = 0.0
        self.excusable = True  # no 429 excused yet
        self.verified = True  # lo passed again since the last 429 (else it is tried first)
        self.probing = False  # trying faster after a steady spell: has the limit risen?
        # lo and hi during that steady spell, and whether the last failed probe, having passed
        # beyond that hi, was still bounded by it (`_trial_failed`)
        self.steady_lo, self.steady_hi, self.kept_hi = 0.0, 0.0, False
        self.probe_at = math.inf  # when a steady client next tries faster
        self.steady_at = now  # when the client last became steady
        # The trial of `rate`, when it is not yet known to pass.
        self.trial = True
        self.trial_at = now  # when it began (sending at `rate`)
        self.trial_ok = 0.0  # successes since then
        self.trial_sent = 0.0  # slots booked since then
        # What a bucket may save up: during the last hold-off (at most hi times its length),
        # and the most a trial was seen to get through beyond the limit.
        self.credit = self.savings = 1.0
        # The failed trial that showed the most savings: its successes and seconds, read
        # again against the floor as it rises (0: none yet).
        self.saved_ok = self.saved_time = 0.0
        self.failures = 0.0  # trials that met a 429: after two, `savings` is evidence enough
        # The spans between 429s: a token bucket is empty whenever it answers 429.
        self.limited_at = -math.inf  # the last 429 (not one answering a hold-off)
        self.since_ok = self.since_sent = 0.0  # successes, and slots booked, since then
        # The slowest and fastest rates since then, and the widest gap between two slots booked.
        self.since_rate, self.since_top, self.since_gap = self.rate, self.rate, 0.0
        self.held = 0.0  # the last lengthening of the hold-off (kept for older versions)
        self.last_ok = self.last_time = 0.0  # the latest span: successes, seconds
        self.span_ok = self.span_time = self.spans = 0.0  # decayed sums over spans
        # The span with the most successes of the last `bucket_memory` s, how long it lasted
        # and when it ended: the bucket holds at least what passed in it beyond the limit.
        self.big_ok, self.big_time, self.big_at = 0.0, 0.0, -math.inf
        # When a Retry-After over a second was last seen: no token bucket at a limit of one a
        # second or more (a window, whose spans pass what left it, not what refilled), so no
        # cap for `window_memory` s after.
        self.long_retry_at = -math.inf
        # The burst: requests the server was seen to take at once.
        self.burst = 1.0
        self.burst_at = -math.inf  # when a request last went ahead of its paced slot
        self.burst_retry_at = now + tuning.burst_retry  # no larger burst before this
        # A window, told by a long Retry-After: when the next request may pass, and what
        # passed since the last such time (for windows longer than a minute).
        self.window_end = 0.0  # (0: none seen)
        self.window_ok = 0.0
        self.window = 0.0  # its length, once its count is known (0: no window known)
        self.window_at = -math.inf  # when its count was last told
        self.window_count = 0.0  # what a window of a minute was read to hold (0: not read)
        self.born = now  # when this state began: what passed before is no history
        self.window_seen = 0.0  # what passed a second between the last two ends (0: unknown)
        # What passed over the last minute and a bit, in slots of `history_slot` seconds (a
        # ring: slot i holds slot number i, i + len, ...; `history_at`: the latest written).
        self.history = [0] * (math.ceil(tuning.minute / tuning.history_slot) + 8)
        self.history_at = math.floor(now / tuning.history_slot)
        # The schedule (GCRA).
        self.tat = now  # theoretical arrival time of the next request
        self.last_go = -math.inf  # when a request was last let go
        self.last_sent = -math.inf  # the latest slot booked
        self.last_trial_send = -math.inf  # the same, for the trial's idle check
        self.spacing = 0.0  # the gap between the last two slots booked
        self.hold = 0.0  # nobody sends before this (the latest Retry-After)
        # Schedule changes (each voids the slots booked before it), and whether its slots are
        # dealt out of a fleet's schedule (`share`: a stalled caller keeps to them).
        self.epoch, self.dealt = 0, False

    @property
    def min_rate(self) -> float:
        return self.tuning.min_fraction * self.max_rate

    # What is kept between steps when the state lives elsewhere (Redis): every attribute but
    # the configuration, as text (floats round-trip exactly through repr).
    _CONFIG = frozenset({"max_rate", "tuning", "top"})

    def to_state(self) -> dict[str, str]:
        """The state, as strings (`from_state` reads it back; the history as its numbers
        joined by commas)."""
        return {
            name: ",".join(map(str, value)) if isinstance(value, list) else repr(value)
            for name, value in vars(self).items()
            if name not in self._CONFIG
        }

    @classmethod
    def from_state(
        cls, state: dict[str, str], max_rate: float, tuning: Tuning, now: float, *, told: bool
    ) -> Learner:
        """A learner with `state` (from `to_state`), or a new one where it is missing or
        corrupt. A state another version wrote (a fleet part way through a rolling upgrade)
        gives the fields this version knows, a new learner's the others; its other fields are
        left alone. Starting afresh there instead would let each process's first request go
        unpaced and forget the hold-off, every time the other version wrote."""
        learner = cls(max_rate, tuning, now, told=told)
        fields = vars(learner)
        known = set(fields) - cls._CONFIG
        history = learner._read_history(state.get("history", ""))
        try:
            for name, text in state.items():
                if name not in known or (name in ("history", "history_at") and not history):
                    continue  # (a history not read is started afresh, with its position)
                kind = type(fields[name])
                if kind is list:
                    fields[name] = history
                    continue
                if kind is bool:
                    if text not in ("True", "False"):
                        raise ValueError(text)
                    fields[name] = text == "True"
                    continue
                number = float(text)
                if math.isnan(number) or (kind is int and not math.isfinite(number)):
                    raise ValueError(text)
                fields[name] = kind(number)
        except (ValueError, OverflowError):
            return cls(max_rate, tuning, now, told=told)
        return learner

    def _read_history(self, text: str) -> list[int]:
        """A history as `to_state` wrote it; empty when it is of another length (another
        version's slots) or no history: that field starts afresh, the others are kept."""
        try:
            numbers = list(map(int, text.split(","))) if text else []
        except ValueError:
            return []
        if len(numbers) != len(self.history) or min(numbers) < 0:
            return []
        return numbers

    # -- what the client saw ---------------------------------------------------------------

    def passed(self, now: float, count: float = 1.0) -> None:
        """`count` requests went through (the Redis bucket reports them in batches)."""
        t = self.tuning
        if now >= self.window_end:
            self.window_ok += count
        self.since_ok += count
        self._note(now, count)
        if self.burst_at > -math.inf and now - self.burst_at > t.burst_grace:
            # A request sent ahead of its slot passed, and no 429 followed: one more at once.
            self.burst = min(max(1.0, self.lo or self.rate), self.burst + 1.0)
            self.burst_at = -math.inf
        if not self.trial:
            if now >= self.probe_at:  # steady a good while: has the limit risen?
                self.probing = True
                self.steady_lo, self.steady_hi = self.lo, self.hi
                self.hi = 0.0
                self.step = t.first_step
                self._next(now)
            return
        self.trial_ok += count
        elapsed = now - self.trial_at
        # Long enough that what the bucket saved up would have run out if the rate were too
        # fast. A probe goes on the plain minimum: a bucket full after a steady spell passes
        # it for a while whatever the limit, and its 429, when it comes, is dealt with then.
        reference = self.lo if self.rate > self.lo else self.floor  # lo itself on trial
        drain = 0.0 if self.probing else min(t.patience, self._drain(self.rate, reference))
        # Against a window, a rate passes only once it lasted a whole window.
        drain = max(drain, self.window)
        # (The slow start doubles on less: a bucket's savings pass it whatever the limit.)
        requests = t.confirm_requests / 2 if self.starting else t.confirm_requests
        if elapsed < max(t.confirm_seconds, requests / self.rate, drain, self.excused):
            return
        if self.trial_ok < t.saturated * self.rate * elapsed - 1.0:
            return  # the callers did not send this fast: no evidence either way yet
        self.excused = 0.0
        if self.hi <= 0.0 and self.lo > 0.0 and not self.starting:
            self.step *= 2.0  # climbing with no 429 in sight: bigger steps
        self.lo = max(self.lo, self.rate)
        self.verified = True
        if self.hi <= self.lo:
            self.hi = 0.0
        self._next(now)

    def limited(self, now: float, seconds: float, *, unseen: float = 0.0) -> str | None:
        """A 429 asked every caller for `seconds` of quiet. `unseen`: successes that may not be
        reported yet (other processes of a fleet report theirs at their next step). Returns
        what the 429 was read as (None: an answer to a request sent before the hold-off)."""
        t = self.tuning
        if seconds > 1.0:
            self.long_retry_at = now
        if now >= self.hold:  # a new signal, not one more answer to requests held off
            burst = now - self.burst_at <= t.burst_grace
            quiet = self.spacing > max(t.quiet_spell, 2.0 / self.rate)
            window = seconds >= t.window_wait  # a window's end: nobody's momentary spending
            # The callers wait for their turns: what passed is what the server let through.
            busy = self.spacing <= 1.5 / self.rate
            if self._excuse(now, seconds, explained=burst or quiet or window):
                return "the slow start's first: the rate is tried again before it counts"
            if self.window > 0.0 and now - self.window_at > t.window_memory:
                self.window = self.window_count = 0.0  # not told again for long: a stray one
            known = self.window > 0.0 and busy and not (window or burst)
            if known and self._windowed(now, now + seconds):
                self._hold(now, seconds)
                return f"a window of {self.window_count:.0f} a minute, kept to"
            refuted = self._refutes_lo(now)
            ceiling = self._ceiling(now, busy and not (burst or quiet), unseen)
            first = self.limited_at == -math.inf
            self._end_span(now)
            if ceiling <= max(self.floor, self.lo if self.trial else 0.0):
                # Under what passed, or a rate that did (while it is believed: a steady rate
                # that met a 429 is not): an assumption failed (a window, not a bucket; another
                # client's spending).
                ceiling = math.inf
            reading = self._learn(now, refuted, ceiling, burst=burst, quiet=quiet, first=first)
            self.burst_at = -math.inf
            self.step = t.first_step
            self.starting = False
            self.excused = 0.0
            self._window(now, seconds, busy)
            # The span starts at the rate set now.
            self.since_rate, self.since_top, self.since_gap = self.rate, self.rate, 0.0
            if window:
                reading = f"a window ending in {seconds:.0f} s; {reading}"
        else:
            reading = None
        if self.hi > 0.0:  # a hold-off lets the bucket save up at most this much
            self.credit = self.hi * seconds
        self._hold(now, seconds)
        return reading

    def _learn(
        self, now: float, refuted: bool, ceiling: float, *, burst: bool, quiet: bool, first: bool
    ) -> str:
        """What a new 429 teaches (see `limited`), and what it was read as."""
        if burst:
            # A request sent early met it: the burst was too large, not the rate.
            self.burst = max(1.0, math.floor(self.burst / 2.0))
            self.burst_retry_at = now + self.tuning.burst_retry
            return f"a burst too large: at most {self.burst:.0f} at once"
        if quiet:
            # The first call after a quiet spell: someone else spent the bucket.
            return "the first after a quiet spell: not the rate"
        if self.trial:
            reading = "a probe past the limit" if self.probing else "the rate on trial too fast"
            self._trial_failed(now, refuted, ceiling)
            return reading
        # A rate known to pass no longer does: the limit fell (or a bucket's savings hid that
        # it was too fast all along). Learn it again from below; only the span just ended
        # bounds the new limit.
        self.hi = min(self.rate, ceiling)
        self.lo = 0.0
        self.probing = False
        if not first:  # (what passed before says nothing of the bucket now)
            self.big_ok, self.big_time, self.big_at = 0.0, 0.0, -math.inf
        self._forget_steady()
        self.span_ok, self.span_time, self.spans = self.last_ok, self.last_time, 1.0
        self.floor = self._bound()
        self._next(now)
        return "a rate that passed no longer does: the limit is learnt again"

    def _window(self, now: float, seconds: float, busy: bool) -> None:
        """A Retry-After far longer than a token takes to come back is a window's: nothing
        more passes until then. Keep to the window's count over its length, rather than
        spending it early and waiting with every caller held (a bucket's arithmetic would send
        each window a little faster than the last). Under a minute: a window of a minute,
        whose count is what passed over the minute before then (`_windowed`), if the callers
        were sending all they could (else what passed is theirs, not the window's). Longer:
        between two such ends, what passed is its count."""
        t = self.tuning
        if seconds < max(t.window_wait, 2.0 / self.rate):
            return
        end = now + seconds
        # (Only from a minute in which the callers sent all along: a window shorter than a
        # minute, or one met after hold-offs, passes more or less than its count in one.)
        start = end - t.minute
        minute = seconds < t.minute and busy and self.hold <= start and self.born <= start
        if minute:
            previous, self.window = self.window, t.minute
            if not self._windowed(now, end):
                self.window, minute = previous, False
        if not minute and self.window_end > 0.0 and now > self.window_end:
            # Else (a longer window, or a minute not read): between two ends, what passed
            # is its count.
            length, seen = end - self.window_end, self.window_seen
            limit = self.window_ok / length
            self.window_seen = limit
            # Twice alike: a fixed window's count over its period (an end missed in between
            # only adds a period and its count), not another client's spending.
            if abs(limit - seen) <= t.precision * seen and self.window_ok >= 2.0:
                # (A few periods when ends were missed: a trial need not last longer than a
                # probe's spell.)
                self._keep(now, limit, min(length, t.probe_seconds))
        self.window_end, self.window_ok = end, 0.0

    def _windowed(self, now: float, free_at: float) -> bool:
        """A 429 under a known window, whose next request may pass at `free_at`: what passed
        in the window's length before then is the window's count, whether it is fixed (all of
        it frees at its end) or sliding (each request frees a window after it passed; until
        the requests sent before the client knew leave, more 429s answer for them, and each
        tells the same count). Keep to it; False when too little is known to tell."""
        count = self._passed_since(free_at - self.window, now)
        if count < 2.0:
            return False
        read = self.window_count
        if read > 0.0 and abs(count - read) > self.tuning.precision * read + 1.0:
            # Read otherwise a minute ago: not a window of a minute after all (a shorter one
            # passes more in a minute, one met after hold-offs less). Learn it otherwise.
            self.window = self.window_count = 0.0
            return False
        self.window_count = count
        self._keep(now, count / self.window, self.window)
        return True

    def _keep(self, now: float, limit: float, length: float) -> None:
        """Keep to `limit`, a window's count over its `length`; trials last a window."""
        self.window, self.window_at = length, now
        limit = max(limit, self.min_rate)
        self.lo, self.hi, self.floor = limit, limit * (1.0 + self.tuning.precision / 2), 0.0
        self.verified = True
        self.probing = False
        self._next(now)

    def _note(self, now: float, count: float) -> None:
        """Add `count` successes at `now` to the history. A time in a slot older than the
        ring holds (a clock gone back: another Redis after a failover) starts it again."""
        index = math.floor(now / self.tuning.history_slot)
        size = len(self.history)
        if index <= self.history_at - size or index - self.history_at >= size:
            self.history[:] = [0] * size  # nothing kept is in the minute before `now`
            self.history_at = index
        while self.history_at < index:
            self.history_at += 1
            self.history[self.history_at % size] = 0
        self.history[index % size] += round(count)

    def _passed_since(self, start: float, now: float) -> float:
        """Successes in the whole slots after `start` up to `now` (at most the history)."""
        size = len(self.history)
        first = max(math.floor(start / self.tuning.history_slot) + 1, self.history_at - size + 1)
        last = min(math.floor(now / self.tuning.history_slot), self.history_at)
        return sum(self.history[index % size] for index in range(first, last + 1))

    def _excuse(self, now: float, seconds: float, *, explained: bool) -> bool:
        """Whether a 429 in the slow start is excused. The first one may be someone else's
        spending (a replica that started first): taken at its word, it held the client at a
        small fraction of the limit until the probes climbed back, minutes at low rates. So the
        rate that met it is tried again, for twice as long as it lasted, and a second 429
        counts; a bucket too small for the rate refuses it again at once. Only under half the
        maximum: from there a bracket climbs back in a few trials, and a 429 tried again costs
        more than it saves. An excused 429 ends no span."""
        t = self.tuning
        first = self.trial and self.starting and self.excusable
        if explained or not first or self.rate >= self.max_rate / 2:
            return False
        self.excusable = False
        self.excused = min(t.patience, max(2.0 * (now - self.trial_at), t.confirm_seconds))
        self.burst_at = -math.inf
        self._try(now, self.rate)
        self._hold(now, seconds)
        return True

    def _hold(self, now: float, seconds: float) -> None:
        """Nobody sends for `seconds` from `now`: slots booked before are void."""
        until = now + seconds
        if until >= self.hold:
            self.held = until - max(now, self.hold)
            self.hold = until
            self.tat = max(until, self.last_go + 1.0 / self.rate)  # a short hold keeps the pace
            self.epoch += 1
            if self.trial:  # the trial's clock starts when sending may start again
                self.trial_at = max(self.trial_at, until)
                self.trial_ok = self.trial_sent = 0.0

    def _trial_failed(self, now: float, refuted: bool, ceiling: float) -> None:
        # Too fast: the slower of the rate tried and the one the callers really sent at.
        elapsed = max(now - self.trial_at, 1.0 / self.rate)
        self.hi = min(self.rate, 1.0 / self.spacing) if self.spacing > 0.0 else self.rate
        self.hi = min(self.hi, ceiling)
        # What passed beyond the limit came from the bucket's savings.
        self.savings = max(self.savings, self.trial_ok - self.floor * elapsed)
        if self.trial_ok - self.floor * elapsed >= self._likely_savings():
            self.saved_ok, self.saved_time = self.trial_ok, elapsed
        self.failures += 1
        if self.probing:
            # A probe passes on a full bucket's savings: only the steady rate before it is
            # known to pass. One that passed nothing beyond the rate that met a 429 before
            # it showed no rise: that rate still bounds the limit. So does one that passed
            # no more than twice `first_step` beyond it, unless the probe before it did too:
            # then it brackets from its own 429 (a limit that rose a few % passes both).
            if self.steady_hi > 0.0:
                near = self.lo <= self.steady_hi * (1.0 + 2.0 * self.tuning.first_step)
                kept = self.lo <= self.steady_hi or (near and not self.kept_hi)
                if kept:
                    self.hi = min(self.hi, max(self.steady_hi, self.floor))
                self.kept_hi = kept and self.lo > self.steady_hi
            self.lo = self.steady_lo
            self.probing = False
        elif refuted:  # and so was the rate thought to pass
            self.hi = min(self.hi, self.lo)
            self.lo = 0.0
        else:
            self.verified = False  # savings may have passed lo too: try it again first
        if self.floor > self.lo and self.floor < self.hi:
            self.lo = self.floor  # known to pass (a bound, not a trial): nothing to verify
            self.verified = True
        if self.lo >= self.hi:
            self.lo = 0.0
        self._next(now)

    def book(self, now: float) -> float:
        """Book the next slot; the seconds to wait for it."""
        start = max(now, self.hold)
        interval = 1.0 / self.rate
        burst = self.burst
        if not self.trial and now >= self.burst_retry_at and burst < self.lo:
            burst += 1.0  # try one more at once: if it passes, the server holds it
        tat = max(self.tat, start)
        if self.dealt:
            tat = self._slot_from(self.tat, start)  # (callers fell behind: still a share's slot)
        send_at = max(start, tat - (burst - 1.0) * interval)
        if send_at < tat - interval * 1e-6 and burst > self.burst:
            self.burst_at = now
        self.tat = tat + interval
        self.since_sent += 1.0
        # How far apart the callers really send (the gap between the last two slots booked): the
        # interval when they keep up with the rate, wider when fewer calls come than it allows.
        # (A hold-off is no quiet spell: the gap counts from its end.)
        gap = send_at - max(self.last_sent, self.hold) if self.last_sent > -math.inf else interval
        self.spacing = max(gap, interval)
        self.since_gap = max(self.since_gap, gap)
        self.last_sent = send_at
        idle = max(2 * interval, self.tuning.confirm_seconds)
        if self.trial and send_at - max(self.trial_at, self.last_trial_send, self.hold) > idle:
            # A trial runs while callers send: one made, or left idle, before they do (again)
            # has not been sending slower than the rate on trial. It starts over from here.
            self.trial_at = send_at
            self.trial_ok = self.trial_sent = 0.0
        self.last_trial_send = send_at
        if send_at >= self.trial_at:
            self.trial_sent += 1.0
        if send_at <= now:
            self.last_go = now
        return send_at - now

    def reserve(
        self, now: float, previous: Ticket | None, *, shared: bool = False
    ) -> tuple[float, float, bool]:
        """Confirm `previous` while its epoch holds, else book a new slot: (seconds to wait,
        the slot's time, whether the state changed). `shared`: the schedule is a fleet's, in
        Redis (see `confirm`)."""
        if previous is not None and previous.epoch == self.epoch:
            if not (self.dealt and self._stalled(now, previous.at)):
                wait = self.confirm(now, previous.at, restart=not shared)
                return wait, previous.at, wait == 0.0
            # Its slots are its own of a fleet's schedule (`share`): sent now, this one would
            # land among the other processes' requests. It takes its next own slot instead,
            # and the callers booked after it book again from there.
            self.epoch += 1
            self.tat = self._slot_from(previous.at, now)
        wait = self.book(now)
        return wait, now + wait, True

    def confirm(self, now: float, at: float, *, restart: bool = True) -> float:
        """A slot booked for `at`, still valid: the seconds left to wait (0: it is used now).
        With `restart`, a caller well past its slot starts the schedule again. (Not in a
        fleet's schedule in Redis, for one process's stall: every process would book again
        through Redis, each step contending with the others' on a loaded host. Nor do its late
        callers book afresh, each alone: each lost its slot, and under figure 4's load a fleet
        kept 0.69-0.74 of figure 7's limit so, against 0.97-0.99 going late.)"""
        if at - now > 1e-9:
            return at - now
        if restart and self._stalled(now, at):
            # Stalled (a machine with more runnable processes than cores stops a process for
            # a tenth of a second now and then): the slots booked after this one have passed
            # too, and their callers, woken together, would go at once, a burst the server was
            # never shown to take. They book again, from an interval after this one; what the
            # stall lost is not made up (a small bucket saved no more than its size meanwhile).
            # Before, such a burst's 429 was read as a limit that fell: 16.7/s burst 2 with 16
            # tasks on a loaded machine kept to 0.81 of the limit over seconds 30-60.
            self.epoch += 1
            self.tat = now + 1.0 / self.rate
        self.last_go = now
        return 0.0

    def _slot_from(self, slot: float, time: float) -> float:
        """The first of the slots one interval apart through `slot` that is not before `time`
        (a share's slots are dealt out of a fleet's schedule: they stay on it)."""
        if time <= slot:
            return slot
        return slot + math.ceil((time - slot) * self.rate - 1e-9) / self.rate

    def _stalled(self, now: float, at: float) -> bool:
        """Whether a caller this late for its slot `at` was stalled (`Tuning.stall_lateness`)."""
        return now - at > max(self.tuning.stall_lateness / self.rate, STALL_FLOOR)

    # -- what it knows of the limit --------------------------------------------------------

    def _drain(self, rate: float, reference: float) -> float:
        """Seconds at `rate` for a bucket's savings to run out if the limit were `reference`."""
        saved = self._saved()
        return saved / (rate - reference) if rate > reference else 0.0

    def _saved(self) -> float:
        """What a bucket may hold beyond the limit at a trial's start, at its largest: the most
        a failed trial got through beyond the floor then (after two failures), else at least
        what the last hold-off let it save."""
        return self.savings if self.failures >= 2 else max(self.credit, self.savings)

    def _bracket_savings(self) -> float:
        """The savings that decide whether a bracket is still worth narrowing (`_next`).

        The first bracket takes them at their largest (`_saved`): read against a floor that
        is still low they overstate a small bucket, which stops it before trials too long to
        tell in time. Once the client has been steady and probes, they are read again against
        the floor now (`_likely_savings`), never above their largest: read once, they stopped
        every probe's bracket with a bucket of 2 at 14.8/s where the first stopped (lo at 0.94
        of the limit, sending 0.92), 0.90 of it over minutes 2-10 (0.956 now with the probes'
        bound, `_trial_failed`; simulated, BENCHMARKS.md figure 8's ten minutes). A trial still
        lasts as long as the savings at their largest need (`_drain`): this only decides
        whether to make it.
        """
        if self.steady_lo <= 0.0:
            return self._saved()
        # (Never more than before: read against a floor that fell with the limit, the trial
        # would overstate the bucket more than the largest reading did.)
        return min(self._saved(), self._likely_savings())

    def _likely_savings(self) -> float:
        """The failed trial that showed the most savings, read against the floor now: what
        it got through beyond what the floor says refilled meanwhile."""
        return max(1.0, self.saved_ok - self.floor * self.saved_time)

    def _refutes_lo(self, now: float) -> bool:
        """Whether the span a new 429 ends shows `lo` too fast: the callers sent at `lo` or
        more all along after the hold-off, yet clearly fewer passed than `lo` would have let
        through (a bucket's savings only add to what passes)."""
        sending = now - self.limited_at - self._quiet(now)
        if self.lo <= 0.0 or not sending > 0.0:
            return False
        # (At the span's slowest rate: a slow start that reached lo only lately sent less.)
        expected = min(self.lo, self.since_rate) * sending
        return self.since_sent >= expected and self.since_ok + 1.0 < 0.9 * expected

    def _ceiling(self, now: float, busy: bool, unseen: float) -> float:
        """The most the limit can be, from the span a new 429 ends (inf: it cannot tell).

        A token bucket holds under one token at each 429. If it can hold the hold-off's worth
        and one more, it refilled at the limit all through the span, and callers sending at
        one rate faster than the limit after the hold-off took all of it: what passed is more
        than the limit times the span, less one. That the bucket holds that much is shown by
        a span of the last `bucket_memory` s that passed more, beyond what this span's rate
        (too fast: it met a 429) would let through. A minute's bucket, spent, is so learnt
        from the first span after it instead of by trials that each meet a 429. Sent at more
        than one rate, or with callers not keeping up, the bucket may have filled and lost
        tokens: no cap then; nor within `window_memory` s of a Retry-After over a second (a
        window's spans pass what left it, not what refilled).
        """
        rate, t = self.rate, self.tuning
        one_rate = self.since_rate >= rate * (1 - 1e-9) and self.since_top <= rate * (1 + 1e-9)
        # (Callers kept up: no slot went unbooked, so the bucket never sat idle and filled.)
        kept_up = busy and self.since_gap <= 1.5 / rate
        long_retry = now - self.long_retry_at <= t.window_memory
        if self.limited_at == -math.inf or not kept_up or not one_rate or long_retry:
            return math.inf
        span = now - self.limited_at
        quiet = self._quiet(now)
        sending = span - quiet
        # (Everything sent passes until the 429 that ends the span: what passed is what the
        # callers sent.)
        if sending <= 0.0 or self.since_ok < t.saturated * rate * sending - 1.0:
            return math.inf
        shown = self.big_ok - rate * self.big_time
        if now - self.big_at > t.bucket_memory or shown < rate * quiet + 1.0:
            return math.inf
        # (No more unseen successes than requests let go and not yet reported, this 429's
        # aside: at four processes, taken as one each, the cap was loose enough that a fleet
        # met twice one client's 429s against a minute's bucket at 2-5/s, simulated.)
        unseen = min(unseen, max(0.0, self._let_go(now) - self.since_ok - 1.0))
        return (self.since_ok + unseen + 1.0) / span

    def _let_go(self, now: float) -> float:
        """Requests let go since the latest 429: the slots booked since, less those still
        ahead (booked one interval apart up to the latest; a slot booked again after a hold-off
        counts twice, which only makes this more)."""
        ahead = math.ceil((self.last_sent - now) * self.rate) if self.last_sent > now else 0
        return max(0.0, self.since_sent - ahead)

    def _quiet(self, now: float) -> float:
        """Seconds of hold-off since the latest 429 (429s answering requests sent before it
        lengthen it: `held` is the last such lengthening, not the whole)."""
        return max(0.0, min(self.hold, now) - self.limited_at)

    def _end_span(self, now: float) -> None:
        """A new 429 ends the span since the last one: add it to the decayed sums."""
        # (The most successes: what the rates seen too fast later would not have let through
        # is largest for it, as a rule.)
        if self.since_ok > self.big_ok or now - self.big_at > self.tuning.bucket_memory:
            self.big_ok, self.big_at = self.since_ok, now
            self.big_time = now - max(self.limited_at, self.born)
        if self.limited_at > -math.inf:
            span = now - self.limited_at
            self.last_ok, self.last_time = self.since_ok, span
            decay = math.exp(-span / self.tuning.bound_memory)
            self.span_ok = self.span_ok * decay + self.since_ok
            self.span_time = self.span_time * decay + span
            self.spans = self.spans * decay + 1.0
            self.floor = self._bound()
        self.limited_at, self.since_ok, self.since_sent = now, 0.0, 0.0

    def _bound(self) -> float:
        """The limit is at least this: a bucket answering 429 holds under one token, so what
        passed between two 429s is at most what it refilled plus one, whatever its size;
        summed over spans (older ones weigh less, `Tuning.bound_memory`, so a limit that fell
        is not hidden for long)."""
        if self.span_time <= 0.0:
            return 0.0
        return max(0.0, (self.span_ok - self.spans) / self.span_time)

    # -- choosing the next rate ------------------------------------------------------------

    def _next(self, now: float) -> None:
        t = self.tuning
        lo, hi = self.lo, self.hi
        if not self.verified and self._drain(lo, self.floor) > t.patience:
            self.verified = True  # too close to the bound from 429s to be worth trying again
        if lo <= 0.0:  # nothing known to pass: a guess under the rate that met a 429
            guess = max(self.floor, hi * t.backoff) if hi > 0.0 else self.max_rate * t.start
            self._try(now, guess)
        elif lo >= self.top:
            self._steady(now, self.top, math.inf)  # as configured: never faster
        elif hi > 0.0 and (
            hi <= lo * (1.0 + t.precision)
            or (
                hi <= lo * (1.0 + t.patient_precision)
                and self._bracket_savings() > t.patience * (math.sqrt(lo * hi) - lo)
            )
        ):
            # Close enough, or so close that telling more would take too long: steady, and
            # the probes will find the rest.
            self._steady(now, lo * t.margin, now + self._probe_after(lo))
        elif hi > 0.0 and not self.verified:
            self._try(now, lo)
        elif hi > 0.0:
            self._try(now, math.sqrt(lo * hi))
        else:
            self._try(now, lo * (1.0 + self.step))

    def _forget_steady(self) -> None:
        """The limit is learnt afresh (it fell, or this process took a share of a fleet's): what
        the steady spells and their probes showed of the old one goes."""
        self.steady_lo, self.steady_hi, self.kept_hi = 0.0, 0.0, False
        self.saved_ok = self.saved_time = 0.0

    def _probe_after(self, rate: float) -> float:
        """Seconds of steady sending at `rate` before trying faster (a window: three of it)."""
        return max(self.tuning.probe_seconds, self.tuning.probe_requests / rate, 3 * self.window)

    def _try(self, now: float, rate: float) -> None:
        self._set_rate(now, rate)
        self.trial = True
        self.trial_at = max(now, self.hold)
        self.trial_ok = self.trial_sent = 0.0

    def _steady(self, now: float, rate: float, probe_at: float) -> None:
        self._set_rate(now, rate)
        self.trial = False
        self.probe_at = probe_at
        self.steady_at = max(now, self.hold)

    def _set_rate(self, now: float, rate: float) -> None:
        rate = min(self.top, max(self.min_rate, rate))
        if rate != self.rate:
            # Slots booked at the old rate would go too fast or too slowly: book them again
            # (sleepers confirm their slot at least every RECHECK seconds).
            self.epoch += 1
            self.tat = max(self.hold, now, self.last_go + 1.0 / rate)
        self.rate = rate
        self.since_rate = min(self.since_rate, rate)
        self.since_top = max(self.since_top, rate)

    def share(
        self, now: float, fraction: float, full_rate: float, rate: float, phase: float = 0.0
    ) -> None:
        """Keep to `fraction` of `full_rate` from now on, steady at `fraction` of `rate`, with
        no burst saved up, the first slot `phase` of an interval from now or whole intervals
        after it (see RateLimiter.take_share)."""
        self.max_rate = full_rate * fraction
        self.top = self.max_rate * self.tuning.margin
        self.lo = min(self.top, max(self.min_rate, rate * fraction))
        self.hi = 0.0
        self.step = self.tuning.first_step
        self.starting = self.probing = False
        self.excused = 0.0
        self._forget_steady()
        probe_at = now + self._probe_after(self.lo) if self.lo < self.top else math.inf
        self._steady(now, self.lo, probe_at)
        if self.burst_retry_at < math.inf:  # (a burst given by the user stays)
            # No burst, however long this limiter has run: one would go at once, phase or not.
            self.burst = 1.0
            self.burst_retry_at = max(self.burst_retry_at, now + self.tuning.burst_retry)
        # (Whole intervals later where this limiter's schedule or hold-off lies past that
        # slot: the slots stay where they were given, apart from the other processes'.)
        self.tat = self._slot_from(now + phase / self.rate, max(self.tat, self.hold))
        self.epoch += 1  # (slots booked here before go again, on this schedule)
        self.dealt = True


def learning(
    before: float, learner: Learner, reading: str | None, shared: bool
) -> tuple[object, ...] | None:
    """What `log_learning` logs of a step that had `before` as its rate (read under the lock
    that guards `learner`): what a 429 was read as, or a new rate after requests passed, with
    what the client knows of the limit. None when there is nothing to say or nobody listens."""
    if (reading is None and learner.rate == before) or not logger.isEnabledFor(logging.DEBUG):
        return None
    state = "probing at" if learner.probing else "trying" if learner.trial else "steady at"
    known = f"{learner.lo:.3g}/s passed" if learner.lo > 0.0 else "nothing passed yet"
    if learner.hi > 0.0:
        known += f", {learner.hi:.3g}/s met a 429"
    where = " (shared)" if shared else ""
    if reading is None:
        return (
            "rate limit%s: requests passed at %.3g/s; now %s %.3g/s (%s)",
            where,
            before,
            state,
            learner.rate,
            known,
        )
    return (
        "rate limit%s: a 429 at %.3g/s, read as %s; now %s %.3g/s (%s)",
        where,
        before,
        reading,
        state,
        learner.rate,
        known,
    )


def log_learning(record: tuple[object, ...] | None) -> None:
    """At DEBUG on the `cortexio_sdk.ratelimit` logger, outside any lock (`Learner` itself does
    no I/O): why a client sends at the rate it does."""
    if record is not None:
        logger.debug(*record)


class RateLimiter:
    """The in-process limiter: `Learner`'s arithmetic under a lock, on this process's clock.

    `requests_per_minute` is the most it ever sends; it sends less when the server says so (see
    the module docstring). With `told`, that is the limit the user was given: the client starts
    at it; else (Cortex's documented limit, which other clients of the key share) it starts at
    `Tuning.start` of it and doubles while requests pass. `burst`, when given, is how many may
    go at once after a quiet spell, instead of learning it.

    `reserve()` returns a ticket with the slot; a hold-off voids every slot booked before it, so
    that `reserve(previous=ticket)` books those callers again after it instead of letting them
    keep slots that no longer fit the new schedule.
    """

    kind = "local"

    def __init__(
        self,
        requests_per_minute: float,
        *,
        told: bool = False,
        burst: float | None = None,
        tuning: Tuning = Tuning(),  # frozen, so one shared default is safe
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._full_rate = check_number("requests_per_minute", requests_per_minute) / 60.0
        self.tuning = tuning
        self._clock = clock
        self._lock = threading.Lock()
        self._learner = Learner(self._full_rate, tuning, clock(), told=told)
        # Whether it logs its learning at DEBUG (`log_learning`): not while it only shadows a
        # fleet's learner in Redis, which logs instead.
        self.logs = True
        if burst is not None:
            self._learner.burst = check_number("burst", burst)
            self._learner.burst_retry_at = math.inf  # told: never learnt

    @property
    def max_rate(self) -> float:
        """The most it sends, requests/s: as configured, or this process's share of a fleet's."""
        return self._learner.max_rate

    @property
    def rate(self) -> float:
        """What the client sends at now, requests/s."""
        return self._learner.rate

    @property
    def learner(self) -> Learner:
        """The state, for tests and diagnostics (read it, do not change it)."""
        return self._learner

    def reserve(self, previous: Ticket | None = None) -> Ticket:
        """Book a slot: `ticket.wait` is the seconds to sleep before sending (0.0 when free now).

        With `previous`, a ticket slept on: a zero-wait ticket when it is still valid, else a
        new booking (a hold-off came meanwhile).
        """
        with self._lock:
            learner = self._learner
            wait, at, _ = learner.reserve(self._clock(), previous)
            return Ticket(wait, learner.epoch, at=at)

    def hold_off(self, seconds: float) -> None:
        """A 429 asked for `seconds` of quiet: every caller waits, and the limiter learns."""
        with self._lock:
            before = self._learner.rate
            reading = self._learner.limited(self._clock(), seconds)
            record = learning(before, self._learner, reading, shared=False) if self.logs else None
        log_learning(record)

    def succeeded(self) -> None:
        """A request went through."""
        with self._lock:
            before = self._learner.rate
            self._learner.passed(self._clock())
            record = learning(before, self._learner, None, shared=False) if self.logs else None
        log_learning(record)

    def take_share(self, fraction: float, rate: float, phase: float = 0.0) -> None:
        """Keep to `fraction` of the configured maximum from now on, starting at `fraction` of
        `rate` (requests/s), with no burst saved up: this process's part of a fleet whose shared
        limiter became unreachable, while the server's bucket is likely empty. The first slot
        is `phase` (0 to 1) of an interval away, or whole intervals after it where this
        limiter's own schedule (the request it let go last, slots it booked) or a hold-off lies
        past it: the fleet's processes fall back at one moment, and each takes its own slots of
        the schedule they shared (`_redis_bucket._Fleet.phase`); starting at once they would
        send together into that empty bucket."""
        with self._lock:
            self._learner.share(self._clock(), fraction, self._full_rate, rate, phase)

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
            return max(0.0, self._learner.hold - self._clock())


class Ticket(NamedTuple):
    """A booked slot: sleep `wait` seconds, then confirm it with `reserve(previous=ticket)`
    (a zero wait means the caller was let go: it sends, and confirms nothing).

    A caller sleeps at most `RECHECK` seconds at a time and confirms: the schedule may have
    changed meanwhile (a hold-off, a faster rate), which voids the slot and books a new one.
    `at`: the slot's time on the limiter's clock. `shared`: booked in Redis (else in this
    process), whose epochs count the fleet's schedule changes.
    """

    wait: float
    epoch: int
    shared: bool = False
    at: float = 0.0


# A caller this late for its slot was stalled, however fast the rate (a thread or a task wakes
# a millisecond or two late as a rule, and a Redis step takes as long again).
STALL_FLOOR = 0.01

# Why sleepers wake every second: a slot booked at a slow rate would otherwise hold its caller
# until then even after the rate went up, and with 64 callers at 2/s that is half a minute.
RECHECK = 1.0
