"""Records of one call and one wait, fed by the transport's `Call` and the polling loop's `JobWait`.

A record exists only while someone listens: OpenTelemetry with a tracer or meter provider set by
the service, or a `Tally` (the CLI's -v summary). Otherwise `Telemetry.call()` returns None and
the transport's cost per call does not move: the check is a lookup in `sys.modules` (a service
that set a provider has imported OpenTelemetry; one that did not never pays for its import) and,
when it is imported, two provider lookups.

Why not `opentelemetry-instrumentation-httpx`: it sees HTTP requests, not a call's retries as
retries, the limiter's waits, or a job's wait; and it patches httpx for the whole process. The
SDK's spans nest under whatever is current, so a service that also runs that instrumentation
sees its request spans under the SDK's attempt spans.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

import attrs

from . import _names as names

if TYPE_CHECKING:
    import httpx

    from .._ratelimit._limiter import Limiter
    from . import _otel

__all__ = ["CallRecord", "QueryText", "Tally", "Telemetry", "WaitRecord", "query_text"]

# The CQL text of the createQuery call under way, set by `Queries.run` only when the client
# was asked to record it (`record_query_text=True`): a query can name people and systems.
query_text: ContextVar[str | None] = ContextVar("cortexio_sdk_query_text", default=None)


class QueryText:
    """`query_text` set to `query` for the calls made inside, when `recorded`."""

    __slots__ = ("_query", "_token")

    def __init__(self, query: str, *, recorded: bool) -> None:
        self._query = query if recorded else None
        self._token: Token[str | None] | None = None

    def __enter__(self) -> None:
        if self._query is not None:
            self._token = query_text.set(self._query)

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            query_text.reset(self._token)


# Every live client's telemetry, for the limiter-rate gauge (observed at export time, from the
# exporter's thread, while clients may be made in others: hence the lock).
_LIVE: weakref.WeakSet[Telemetry] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def live_telemetry() -> list[Telemetry]:
    with _LIVE_LOCK:
        return list(_LIVE)


@attrs.define
class Tally:
    """What a client's calls cost, counted in-process: the CLI's `-v` summary reads it."""

    requests: int = 0  # HTTP attempts sent
    rate_limited: int = 0  # of them answered 429
    retries: int = 0
    held_off: float = 0.0  # seconds of quiet the 429s asked for
    limiter_wait: float = 0.0  # seconds callers slept waiting for the rate limiter
    polls: int = 0  # job states asked for while waiting

    def summary(self) -> str:
        plural = "" if self.requests == 1 else "s"
        return (
            f"{self.requests} request{plural} ({self.rate_limited} answered 429, "
            f"{self.retries} retried), held off {self.held_off:.1f} s, "
            f"waited {self.limiter_wait:.1f} s for the rate limiter, {self.polls} polls"
        )


class Telemetry:
    """One client's listeners, and what its records need to know of it."""

    def __init__(
        self,
        *,
        limiter: Limiter,
        server: tuple[str, str, int],
        clock: Callable[[], float],
        record_query_text: bool = False,
    ) -> None:
        self.limiter = limiter
        self.server = server
        self.clock = clock
        self.record_query_text = record_query_text
        self.tallies: list[Tally] = []
        with _LIVE_LOCK:
            _LIVE.add(self)

    def call(self, request: httpx.Request) -> CallRecord | None:
        """A record for one call, or None when nobody listens (the common, free case)."""
        otel = otel_instruments()
        if otel is None and not self.tallies:
            return None
        return CallRecord(self, otel, request)

    def wait(self, job_id: str) -> WaitRecord | None:
        otel = otel_instruments()
        if otel is None and not self.tallies:
            return None
        return WaitRecord(self, otel, job_id)


class CallRecord:
    """One SDK call through its attempts; see `Call`, which feeds it at each step."""

    def __init__(
        self, telemetry: Telemetry, otel: _otel.Instruments | None, request: httpx.Request
    ) -> None:
        extensions = request.extensions
        self.telemetry = telemetry
        self.method = request.method.upper()
        # Generated operations name themselves; a request made on client.low_level's httpx
        # client by hand is named by its method alone, as the HTTP conventions do.
        self.operation: str = extensions.get("cortex_operation") or self.method
        self.template: str | None = extensions.get("cortex_url_template")
        self.started = telemetry.clock()
        self.attempts = 0
        self.sending = False  # an attempt left and has not ended yet
        self.waited = 0.0  # for the limiter, over the whole call
        self._pending_wait = 0.0  # since the last attempt
        self._tallies = telemetry.tallies
        self._otel = otel
        self._spans = None if otel is None else otel.call_spans(self, request)

    def __enter__(self) -> None:
        """The call begins (its span opens, made current)."""
        if self._spans is not None:
            self._spans.begin(query_text.get() if self.telemetry.record_query_text else None)

    def __exit__(self, _type: object, error: BaseException | None, _traceback: object) -> None:
        self.ended(error)

    def limiter_waited(self, seconds: float) -> None:
        self._pending_wait += seconds

    def attempt_started(self) -> None:
        self.attempts += 1
        self.sending = True
        waited, self._pending_wait = self._pending_wait, 0.0
        self.waited += waited
        for tally in self._tallies:
            tally.requests += 1
            tally.limiter_wait += waited
        if self._spans is not None:
            self._spans.attempt_started(self.attempts - 1, waited)

    def answered(self, response: httpx.Response) -> None:
        self.sending = False
        status = response.status_code
        if status == 429:
            for tally in self._tallies:
                tally.rate_limited += 1
        if self._otel is not None:
            self._otel.count_request(self, status=status)
        if self._spans is not None:
            self._spans.attempt_answered(response)

    def failed(self, exc: BaseException) -> None:
        """The attempt ended in an exception (no answer); none was sent if the deadline
        passed while it waited for the limiter or a place in the pool."""
        if not self.sending:
            return
        self.sending = False
        if self._otel is not None:
            self._otel.count_request(self, error=exc)
        if self._spans is not None:
            self._spans.attempt_failed(exc)

    def held_off(self, seconds: float) -> None:
        for tally in self._tallies:
            tally.held_off += seconds
        if self._spans is not None:
            self._spans.event(names.HOLD_OFF_EVENT, {names.HOLD_OFF: seconds})

    def retried(self, reason: str, delay: float) -> None:
        for tally in self._tallies:
            tally.retries += 1
        if self._otel is not None:
            self._otel.count_retry(self, reason)
        if self._spans is not None:
            self._spans.event(
                names.RETRY_EVENT, {names.RETRY_REASON: reason, names.RETRY_DELAY: delay}
            )

    def ended(self, error: BaseException | None) -> None:
        """The call is over: handed back an answer (error None) or raised `error`."""
        if self._otel is not None:
            self._otel.call_ended(self, self.telemetry.clock() - self.started, error)
        if self._spans is not None:
            self._spans.end(error)


class WaitRecord:
    """One wait for a job: its span, and its duration once a poll sees the job end."""

    def __init__(self, telemetry: Telemetry, otel: _otel.Instruments | None, job_id: str) -> None:
        self.telemetry = telemetry
        self.job_id = job_id
        self.started = telemetry.clock()
        self.polls = 0
        self.status: str | None = None
        self._otel = otel
        self.opened: Any = None  # the span and its context token, while tracing

    def __enter__(self) -> None:
        """The wait begins (its span opens, made current: the polls nest under it)."""
        if self._otel is not None:
            self.opened = self._otel.wait_began(self)

    def __exit__(self, _type: object, error: BaseException | None, _traceback: object) -> None:
        self.ended(error)

    def polled(self, status: str | None = None) -> None:
        """A poll was answered (with the job's `status`) or failed (None)."""
        self.polls += 1
        if status is not None:
            self.status = status
        for tally in self.telemetry.tallies:
            tally.polls += 1

    def job_ended(self, status: str, run_seconds: float | None) -> None:
        """A poll saw the job end; `run_seconds` from its initiatedAt, when it has one."""
        self.status = status
        if self._otel is not None and run_seconds is not None:
            self._otel.query_ended(status, run_seconds)

    def ended(self, error: BaseException | None) -> None:
        if self._otel is not None and self.opened is not None:
            self._otel.wait_ended(self, self.telemetry.clock() - self.started, error)


class _Loaded:
    """`_otel`, once imported (a module attribute set here rather than a `global`)."""

    otel: Any = None


def otel_instruments() -> _otel.Instruments | None:
    """The tracer and meters of the service's providers, or None when it set neither.

    OpenTelemetry is imported here only when the service already imported its API: with no
    `opentelemetry.trace` or `opentelemetry.metrics` in `sys.modules`, no provider can be set.
    """
    otel = _Loaded.otel
    if otel is None:
        modules = sys.modules
        if "opentelemetry.trace" not in modules and "opentelemetry.metrics" not in modules:
            return None
        try:
            # Lazily: a service without OpenTelemetry never imports it through the SDK.
            from . import _otel  # noqa: PLC0415
        except ImportError:  # a broken or partial install: the SDK works on, untraced
            return None
        otel = _Loaded.otel = _otel
    instruments: _otel.Instruments | None = otel.instruments()
    return instruments


def limiter_fell_back() -> None:
    """A shared limiter (Redis) failed and a client's own took over: counted when listened to."""
    otel = otel_instruments()
    if otel is not None:
        otel.count_fallback()
