"""What to do with each request and answer: the decisions the sync and async transports share.

Why our own code rather than httpx-retries, stamina or tenacity: the retry decision here depends
on things those libraries do not model together: the HTTP method (a POST that may have started a
job is never blindly resent), the Cortex error type in the body (INTEGRATION_TIMED_OUT is worth a
retry, ILLEGAL_ARGUMENT_ERROR is not), Retry-After as seconds, HTTP-date or a problem+json field,
a cap above which we raise instead of sleeping, a limiter shared with every other caller that a
429 must slow down, and a per-call deadline that bounds all of it. httpx-retries covers the
header and the method but not the rest; stamina/tenacity retry a function, not a request, and
would sit above the generated operations instead of below them. So the transports keep only the
I/O (send, sleep) and every decision lives here, once.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

import attrs
import httpx

from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CortexError,
    DeadlineExceededError,
)
from .._ratelimit._limiter import RECHECK
from .._telemetry import _names as reasons
from ._response_errors import error_from_response

if TYPE_CHECKING:
    from .._ratelimit._limiter import Limiter, Ticket
    from .._telemetry import CallRecord, Telemetry

__all__ = ["Call", "Clock", "Decision", "RequestPolicy", "call_deadline", "origin_of"]

logger = logging.getLogger("cortexio_sdk")

# Methods that may be sent again after the server may have acted on them.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
# Failures that happen before a request reaches the server: safe to retry for every method.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures that retrying cannot fix.
_PERMANENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)

Clock = Callable[[], float]

# An absolute time.monotonic() deadline set by a caller (the polling helpers) for every request
# made in its context; the transport never lets a call outlive it.
call_deadline: ContextVar[float | None] = ContextVar("cortexio_sdk_call_deadline", default=None)


@attrs.frozen
class RequestPolicy:
    """Everything a transport needs to know, shared by all requests of one client."""

    api_key: str = attrs.field(repr=False)
    origin: tuple[str, str, int]  # scheme, host, port of the base URL: the key goes only there
    user_agent: str
    limiter: Limiter
    max_retries: int
    max_retry_after: float
    call_timeout: float | None
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    # Where time and jitter come from: the real ones, or a test's fake clock and seeded Random.
    clock: Clock = time.monotonic
    rng: random.Random = attrs.field(factory=random.Random, repr=False)
    # Traces, metrics and the CLI's tally; None (a test's bare policy) records nothing.
    telemetry: Telemetry | None = attrs.field(default=None, repr=False)

    def start(self, request: httpx.Request) -> Call:
        now = self.clock()
        deadline = call_deadline.get()
        if self.call_timeout is not None:
            own = now + self.call_timeout
            deadline = own if deadline is None else min(deadline, own)
        record = None if self.telemetry is None else self.telemetry.call(request)
        return Call(self, request, deadline, record)


@attrs.frozen
class Decision:
    """What to do with one answer, decided at once: the transport carries it out in order.

    `hold_off`: seconds every caller sharing the limit must wait (a 429 this client may sleep
    through; the limiter is told first, which may be I/O). Then `error` is raised if set, else
    the request is sent again after `retry_in` seconds, else the response is handed back.
    """

    hold_off: float | None = None
    error: CortexError | None = None
    retry_in: float | None = None


HAND_BACK = Decision()


class Call:
    """One logical request through its attempts: what to wait, whether to retry, what to raise."""

    def __init__(
        self,
        policy: RequestPolicy,
        request: httpx.Request,
        deadline: float | None,
        record: CallRecord | None = None,
    ):
        self.policy = policy
        self.request = request
        self.deadline = deadline
        # What telemetry is told of each step; None while nobody listens (most calls).
        self.record = record
        self.retries = 0  # retries that count against max_retries
        self.attempts = 1  # requests sent, 429s retried for free included
        self.limited: CortexError | None = None  # the last 429, while it is being waited out
        self._method = request.method.upper()
        self._base_timeout = dict(request.extensions.get("timeout", {}))

    @property
    def label(self) -> str:
        """The call as `GET https://host/path`, for messages; built only when one is written,
        since the URL copy is measurable when made for every request."""
        return f"{self._method} {self.request.url.copy_with(query=None)}"

    # -- before each attempt ----------------------------------------------------------------

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.policy.clock()

    def limiter_wait(self, ticket: Ticket) -> float:
        """Seconds to sleep before confirming the limiter's ticket (0: send now), at most
        `RECHECK`; raises when its slot is past the call's deadline."""
        wait = ticket.wait
        remaining = self.remaining()
        if remaining is not None and wait >= remaining:
            passes = DeadlineExceededError(
                f"{self.label}: the call's deadline passes before the rate limiter lets it go "
                f"(needs {wait:.1f} s, {max(remaining, 0):.1f} s left)"
            )
            if self.limited is not None:
                # The wait is the server's 429s' doing: say so with their error.
                raise self.limited from passes
            raise passes
        if wait <= 0:
            return 0.0
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s waits %.2f s for the rate limiter", self.label, wait)
        sleep = min(wait, RECHECK)
        if self.record is not None:
            self.record.limiter_waited(sleep)
        return sleep

    def prepare(self) -> None:
        """Set auth, user agent and this attempt's timeouts on the request."""
        request = self.request
        if origin_of(request.url) == self.policy.origin:
            request.headers["Authorization"] = f"Bearer {self.policy.api_key}"
        else:
            # A redirect or an absolute URL to another origin never carries the key.
            request.headers.pop("Authorization", None)
        agent = request.headers.get("User-Agent", "")
        if not agent.startswith(self.policy.user_agent):
            request.headers["User-Agent"] = f"{self.policy.user_agent} {agent}".strip()
        remaining = self.remaining()
        if remaining is not None:
            if remaining <= 0:
                raise DeadlineExceededError(f"{self.label}: the call's deadline passed")
            request.extensions["timeout"] = {
                key: remaining if value is None else min(value, remaining)
                for key, value in (self._base_timeout or _NO_TIMEOUTS).items()
            }

    def sending(self) -> None:
        """The attempt leaves now: after the limiter and (async) a place in the pool."""
        if self.record is not None:
            self.record.attempt_started()

    # -- after each attempt -----------------------------------------------------------------

    def after_response(self, response: httpx.Response) -> Decision:
        """What to do with this answer: hand it back, hold off, retry, raise (see Decision)."""
        status = response.status_code
        if self.record is not None:
            self.record.answered(response)
        if logger.isEnabledFor(logging.DEBUG):
            # Checked first: the label costs a URL copy, measurable on every request.
            logger.debug("%s answered %d (attempt %d)", self.label, status, self.attempts)
        if status < 400:
            self.policy.limiter.succeeded()
            return HAND_BACK
        if status != 429:
            self.limited = None
        error, advised = error_from_response(response)
        if status == 429:
            return self._after_rate_limit(error, advised)
        retryable = isinstance(error, APIStatusError) and error.retryable
        retryable = retryable or status >= 500
        if not retryable or self._method not in _IDEMPOTENT:
            return Decision(error=error)
        if advised is not None and advised <= self.policy.max_retry_after:
            delay = advised
        else:
            delay = self._backoff()
        kind = reasons.SERVER_ERROR if status >= 500 else reasons.RETRYABLE_ERROR
        return self._retry_or_give_up(error, delay, f"answered {status}", kind)

    def after_exception(self, exc: Exception) -> float:
        """Retry after sleeping the returned seconds, or raise the typed error for exc."""
        if self.record is not None:
            self.record.failed(exc)
        if isinstance(exc, CortexError):
            raise exc
        if isinstance(exc, TimeoutError) and not isinstance(exc, httpx.TimeoutException):
            # The async transport's overall deadline (asyncio.timeout, or anyio's scope) fired.
            raise DeadlineExceededError(f"{self.label}: the call's deadline passed") from exc
        if not isinstance(exc, httpx.TransportError):
            raise exc
        error = _typed(exc, self.label, attempts=self.attempts)
        not_sent = isinstance(exc, _NOT_SENT)
        permanent = isinstance(exc, _PERMANENT) or _certificate_rejected(exc)
        if permanent or not (not_sent or self._method in _IDEMPOTENT):
            raise error from exc
        reason = f"failed ({type(exc).__name__}: {exc})" if not_sent else type(exc).__name__
        if not_sent:
            kind = reasons.CONNECTION_FAILED
        elif isinstance(exc, httpx.TimeoutException):
            kind = reasons.TIMED_OUT
        else:
            kind = reasons.CONNECTION_LOST
        decision = self._retry_or_give_up(
            error, self._backoff(), reason, kind, connection_failed=not_sent
        )
        if decision.error is not None:
            raise decision.error from exc
        assert decision.retry_in is not None
        return decision.retry_in

    # -- helpers ----------------------------------------------------------------------------

    def _after_rate_limit(self, error: CortexError, advised: float | None) -> Decision:
        if advised is not None and advised > self.policy.max_retry_after:
            # Longer than we may sleep: the caller decides (error.retry_after); no hold-off.
            return Decision(error=error)
        delay = self._backoff() if advised is None else advised
        source = "backoff" if advised is None else "Retry-After"
        # A 429 is the limiter still learning the server's limit, not this call failing: while
        # the call has a deadline to bound it, it does not use up max_retries (0 still means
        # no retry at all). Every caller sharing the limit holds off; this one books its next
        # slot at once, so it goes first when the hold-off ends instead of queueing behind
        # callers that never met the 429.
        free = self.deadline is not None and self.policy.max_retries > 0
        decision = self._retry_or_give_up(
            error, delay, f"answered 429 ({source})", reasons.RATE_LIMITED, counted=not free
        )
        if decision.retry_in is not None:
            self.limited = error
            decision = attrs.evolve(decision, retry_in=0.0)
        if self.record is not None:
            self.record.held_off(delay)
        return attrs.evolve(decision, hold_off=delay)

    def _retry_or_give_up(
        self,
        error: CortexError,
        delay: float,
        reason: str,
        kind: str,
        *,
        connection_failed: bool = False,
        counted: bool = True,
    ) -> Decision:
        """Retry after `delay` s, or give up with `error`. `reason` is for the log; `kind`, one
        of the `cortex.retry.reason` values, for telemetry."""
        if counted and self.retries >= self.policy.max_retries:
            return Decision(error=error)
        remaining = self.remaining()
        if remaining is not None and delay >= remaining:
            return Decision(error=error)  # sleeping would outlive the call's deadline
        self.attempts += 1
        if counted:
            self.retries += 1
        if self.record is not None:
            self.record.retried(kind, delay)
        # `extra` lets a front end pick out the first retry of a connection that could not be
        # made (the CLI shows it even without -v, so a wrong address is not minutes of silence).
        logger.info(
            "%s %s; retrying in %.2f s (%s)",
            self.label,
            reason,
            delay,
            f"retry {self.retries} of {self.policy.max_retries}"
            if counted
            else f"attempt {self.attempts}; 429s do not count against max_retries",
            extra={"cortexio_retry": self.retries, "cortexio_connection_failed": connection_failed},
        )
        return Decision(retry_in=delay)

    def _backoff(self) -> float:
        """Exponential backoff with equal jitter: half fixed, half random, capped."""
        # Attempts, not retries: 429s retried for free grow the backoff too.
        ceiling = min(
            self.policy.backoff_max, self.policy.backoff_base * 2.0 ** (self.attempts - 1)
        )
        return ceiling / 2 + self.policy.rng.uniform(0, ceiling / 2)


_NO_TIMEOUTS: dict[str, float | None] = {"connect": None, "read": None, "write": None, "pool": None}


def origin_of(url: httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    port = url.port if url.port is not None else (443 if url.scheme == "https" else 80)
    return (url.scheme, url.host, port)


def _certificate_rejected(exc: BaseException) -> bool:
    """True when TLS verification refused the server's certificate: no retry makes it trusted."""
    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        if isinstance(chain, ssl.SSLCertVerificationError):
            return True
        seen.add(id(chain))
        chain = chain.__cause__ or chain.__context__
    return False


def _typed(exc: httpx.TransportError, label: str, *, attempts: int) -> APIConnectionError:
    tried = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{label}: timed out ({type(exc).__name__}) after {tried}")
    return APIConnectionError(
        f"{label}: connection failed ({type(exc).__name__}: {exc}) after {tried}"
    )
