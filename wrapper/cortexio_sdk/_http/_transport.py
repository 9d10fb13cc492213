"""httpx transports that give every request auth, rate limiting, retries and typed errors.

They sit below the generated client (which only sees an httpx.Client), so an operation added to
the spec gets all of this after `nox -s generate` with no wrapper change. The decisions live in
`_retry.Call`; these classes only send, read, sleep and talk to the limiter (which may be I/O:
the Redis bucket asks Redis), once for sync and once for async. `Call` also feeds the call's
telemetry record (spans, metrics), which the transports open and close around the attempts.

Responses are read in full inside the transport: a connection dropped mid-body is then a
retryable failure of this attempt, not an exception escaping later from the caller's read.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from ._deadline_io import AttemptDeadline, bound_by_deadline

if TYPE_CHECKING:
    from ._retry import Call, RequestPolicy

__all__ = [
    "ASYNC_IN_FLIGHT",
    "MAX_IN_FLIGHT",
    "AsyncCortexTransport",
    "CortexTransport",
    "install_transports",
]

# The connection pool's size: also the most requests a sync client's threads have in it at once.
MAX_IN_FLIGHT = 20
# Requests one async client lets into that pool at once (see AsyncCortexTransport).
ASYNC_IN_FLIGHT = 6


class CortexTransport(httpx.BaseTransport):
    """Wraps a sync transport; see the module docstring.

    When the inner transport is httpx's own, its socket operations are also bounded by the
    call's deadline (`_deadline_io`), so a server trickling bytes cannot hold a thread past it.
    """

    def __init__(self, inner: httpx.BaseTransport, policy: RequestPolicy) -> None:
        self.inner = inner
        self.policy = policy
        bound_by_deadline(inner)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call = self.policy.start(request)
        if call.record is None:
            return self._send(call, request)
        with call.record:  # the call's span and metrics, around its attempts
            return self._send(call, request)

    def _send(self, call: Call, request: httpx.Request) -> httpx.Response:
        while True:
            self._wait_turn(call)
            call.prepare()
            try:
                with AttemptDeadline(call.remaining()):
                    call.sending()
                    response = self.inner.handle_request(request)
                    try:
                        response.read()
                    finally:
                        response.close()
            except Exception as exc:
                time.sleep(call.after_exception(exc))
                continue
            decision = call.after_response(response)
            if decision.hold_off is not None:
                self.policy.limiter.hold_off(decision.hold_off)
            if decision.error is not None:
                raise decision.error
            if decision.retry_in is None:
                return response
            time.sleep(decision.retry_in)

    def _wait_turn(self, call: Call) -> None:
        ticket = None
        while True:
            ticket = self.policy.limiter.reserve(ticket)
            wait = call.limiter_wait(ticket)
            if wait <= 0:
                return
            time.sleep(wait)

    def close(self) -> None:
        self.inner.close()


class AsyncCortexTransport(httpx.AsyncBaseTransport):
    """Wraps an async transport; the same steps as CortexTransport, awaited.

    The whole attempt (connect, send, read) runs under the call's deadline, so a server that
    trickles bytes cannot hold it past that point.

    At most `max_in_flight` (6) requests enter the connection pool at once; the rest queue
    here. httpcore's async pool rescans every request in it against every connection whenever
    one is added or released, so its CPU cost per request grows with (requests x connections):
    1,000 concurrent waits handed straight to it sent no request for 50 s, and 1,000 tasks
    polling a local server were answered about 280 times a second with 20 in flight, 580 with
    6 and 620 with 2. Six in flight still carry Cortex's documented 1,000 requests per minute
    at up to 360 ms a request. (A limit that adapted to the answers' round trips, down to 2,
    released requests in bunches after they had waited for the rate limiter: a bucket of one
    then answered 429, and a client learning the limit got stuck at a tenth of it. A fixed
    limit above what the paced rate needs never holds a paced request.)
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        policy: RequestPolicy,
        *,
        max_in_flight: int = ASYNC_IN_FLIGHT,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self._slots = anyio.Semaphore(max_in_flight)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call = self.policy.start(request)
        if call.record is None:
            return await self._send(call, request)
        with call.record:  # the call's span and metrics, around its attempts
            return await self._send(call, request)

    async def _send(self, call: Call, request: httpx.Request) -> httpx.Response:
        while True:
            await self._wait_turn(call)
            call.prepare()
            try:
                async with _AttemptDeadline(call.remaining()), self._slots:
                    call.sending()
                    response = await self.inner.handle_async_request(request)
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
            except Exception as exc:
                await anyio.sleep(call.after_exception(exc))
                continue
            decision = call.after_response(response)
            if decision.hold_off is not None:
                await self.policy.limiter.ahold_off(decision.hold_off)
            if decision.error is not None:
                raise decision.error
            if decision.retry_in is None:
                return response
            await anyio.sleep(decision.retry_in)

    async def _wait_turn(self, call: Call) -> None:
        ticket = None
        while True:
            ticket = await self.policy.limiter.areserve(ticket)
            wait = call.limiter_wait(ticket)
            if wait <= 0:
                return
            await anyio.sleep(wait)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _AttemptDeadline:
    """The whole attempt's deadline: `asyncio.timeout` on asyncio's loop, anyio's cancel scope
    elsewhere (trio). Both raise TimeoutError when it passes; anyio's cancel scope on asyncio
    was 4-5 % of a call (figure 1, 40 alternating rounds, against the same code without it),
    asyncio's own costs a fraction of that."""

    __slots__ = ("_scope", "_seconds")

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds
        self._scope: Any = None

    async def __aenter__(self) -> None:
        seconds = self._seconds
        if seconds is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: trio, through anyio
            self._scope = anyio.fail_after(seconds)
            self._scope.__enter__()
            return
        self._scope = asyncio.timeout(seconds)
        await self._scope.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        scope = self._scope
        if scope is None:
            return None
        if isinstance(scope, asyncio.Timeout):
            await scope.__aexit__(exc_type, exc, traceback)  # raises TimeoutError if it passed
            return None
        return bool(scope.__exit__(exc_type, exc, traceback))


def install_transports(client: httpx.Client | httpx.AsyncClient, policy: RequestPolicy) -> None:
    """Wrap every transport of an httpx client: its default one and its proxy mounts.

    httpx has no public way to wrap the transports of an existing client, and a client's mounts
    (created from HTTP(S)_PROXY) bypass its default transport; so both private attributes are
    replaced here, in this one place, and a test pins the behaviour for the supported httpx range.
    """
    if isinstance(client, httpx.AsyncClient):
        client._transport = _wrap_async(client._transport, policy)
        client._mounts = {
            pattern: None if inner is None else _wrap_async(inner, policy)
            for pattern, inner in client._mounts.items()
        }
    else:
        client._transport = _wrap_sync(client._transport, policy)
        client._mounts = {
            pattern: None if inner is None else _wrap_sync(inner, policy)
            for pattern, inner in client._mounts.items()
        }


def _wrap_sync(inner: httpx.BaseTransport, policy: RequestPolicy) -> CortexTransport:
    if isinstance(inner, CortexTransport):
        raise ValueError("this httpx.Client is already used by another Cortex client")
    return CortexTransport(inner, policy)


def _wrap_async(inner: httpx.AsyncBaseTransport, policy: RequestPolicy) -> AsyncCortexTransport:
    if isinstance(inner, AsyncCortexTransport):
        raise ValueError("this httpx.AsyncClient is already used by another AsyncCortex client")
    return AsyncCortexTransport(inner, policy)
