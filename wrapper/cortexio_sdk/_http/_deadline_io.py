"""Socket reads and writes that never outlive the call's deadline, for the sync transport.

httpx's timeouts are per operation: a server that trickles its headers one byte at a time never
trips a read timeout and can hold a call forever. The async transport bounds a whole attempt with
a timeout scope (asyncio's, or anyio's on trio); threads cannot be cancelled, so here every
read, write and connect of the connection pool gets at most the time left before the deadline
of the call running in this thread (a context variable the sync transport sets around each
attempt).

This wraps httpcore's public NetworkBackend/NetworkStream interfaces; only reaching the pool's
backend inside an httpx.HTTPTransport uses private attributes (see `bound_by_deadline`), and a
test with a trickling server pins that it still works.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

if TYPE_CHECKING:
    import ssl

__all__ = ["AttemptDeadline", "bound_by_deadline"]

_deadline: ContextVar[float | None] = ContextVar("cortexio_sdk_attempt_deadline", default=None)


class AttemptDeadline:
    """Bound the socket operations made in this context to `seconds_left` from now (None: no
    bound). Given as seconds, not as a time: the call reads its own clock (a test's may be
    fake), the sockets the real one. A class, not a generator: it is on every request."""

    __slots__ = ("_deadline", "_token")

    def __init__(self, seconds_left: float | None) -> None:
        self._deadline = None if seconds_left is None else time.monotonic() + seconds_left

    def __enter__(self) -> None:
        self._token = _deadline.set(self._deadline)

    def __exit__(self, *_: object) -> None:
        _deadline.reset(self._token)


def _clip(timeout: float | None, expired: type[Exception]) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the call's deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clip(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clip(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        clipped = _clip(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, clipped))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        clipped = _clip(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, clipped, local_address, socket_options)
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        clipped = _clip(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, clipped, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bound_by_deadline(transport: httpx.BaseTransport) -> bool:
    """Make an httpx.HTTPTransport's connections deadline-aware; False if it cannot be done.

    Only httpx's own HTTPTransport (whose pool is httpcore's) is changed; any other transport
    is left as it is and keeps its own timeouts.
    """
    pool = getattr(transport, "_pool", None) if isinstance(transport, httpx.HTTPTransport) else None
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(backend, httpcore.NetworkBackend):
        return False
    if not isinstance(backend, _DeadlineBackend):
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return True
