"""One way to drive `Cortex` and `AsyncCortex` from the same test, plus canned Cortex bodies.

`Api` wraps either client behind awaitable methods, so a test written once runs for both (the
`connect` fixture in conftest.py parametrizes over "sync" and "async"). The sync client is called
directly from the test's event loop: it blocks that loop, which is fine because the loopback
server answers from its own threads. `call_once` is the same for a plain (not async) test: one
call on a fresh client of either kind.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import traceback
from collections.abc import Callable
from typing import Any, Literal

from cortex_api_client.models import QueryBuilderResult, QueryResponse
from cortexio_sdk import AsyncCortex, Cortex
from loopback import Handler, Received, Reply

Kind = Literal["sync", "async"]

# A distinctive fake key: tests search for it in reprs, exception texts and log records.
API_KEY = "ck_live_TESTKEY_7f3a9c1e5b2d"

JOB_PATH = "/api/v1/queries/"
DETAILS = {"initiatedAt": "2024-07-29T15:51:28.071Z", "jobId": "job-1", "query": "tag = 'x'"}
IN_PROGRESS = {"queryDetails": DETAILS, "status": "IN_PROGRESS", "progress": 0.5}


class Api:
    """A `Cortex` or an `AsyncCortex` with awaitable `run`, `get` and `close`."""

    def __init__(self, kind: Kind, **settings: Any) -> None:
        self.kind = kind
        self.client: Cortex | AsyncCortex = (
            Cortex(**settings) if kind == "sync" else AsyncCortex(**settings)
        )

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """client.queries.<method>(*args, **kwargs), awaited for the async client."""
        result = getattr(self.client.queries, method)(*args, **kwargs)
        return await result if isinstance(self.client, AsyncCortex) else result

    async def run(self, query: Any) -> QueryResponse:
        result: QueryResponse = await self.call("run", query)
        return result

    async def get(self, job_id: Any) -> QueryBuilderResult:
        result: QueryBuilderResult = await self.call("get", job_id)
        return result

    async def close(self) -> None:
        if isinstance(self.client, Cortex):
            self.client.close()
        else:
            await self.client.aclose()


def job_state(status: str = "IN_PROGRESS", progress: float | None = None) -> QueryBuilderResult:
    """A parsed QueryBuilderResult of job-1 with this status and progress."""
    body: dict[str, Any] = {"queryDetails": DETAILS, "status": status}
    if progress is not None:
        body["progress"] = progress
    return QueryBuilderResult.from_dict(body)


def call_once(kind: Kind, method: str, *args: Any, settings: dict[str, Any], **kwargs: Any) -> Any:
    """client.queries.<method>(*args, **kwargs) on a fresh client of `kind`, from a plain test.

    The sync client runs in the test's own thread, not under asyncio.run: Ctrl-C and signal
    tests need the call to block the main thread as a user's script would.
    """
    if kind == "sync":
        with Cortex(**settings) as client:
            return getattr(client.queries, method)(*args, **kwargs)

    async def go() -> Any:
        api = Api(kind, **settings)
        try:
            return await api.call(method, *args, **kwargs)
        finally:
            await api.close()

    return asyncio.run(go())


def error_body(
    error_type: str,
    message: str = "something went wrong",
    *,
    request_id: str | None = "req-42",
    details: str | None = None,
    http_status: int | None = None,
) -> dict[str, Any]:
    """An `ErrorResponse` as the Cortex API sends it."""
    body: dict[str, Any] = {"message": message, "type": error_type}
    if request_id is not None:
        body["requestId"] = request_id
    if details is not None:
        body["details"] = details
    if http_status is not None:
        body["httpStatus"] = http_status
    return body


def problem_body(retry_after: int | None = None) -> dict[str, Any]:
    """A `TooManyRequestsProblemDetail` (the 429 body, application/problem+json)."""
    body: dict[str, Any] = {"type": "about:blank", "title": "Too Many Requests", "status": 429}
    if retry_after is not None:
        body["retryAfter"] = retry_after
    return body


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def in_order(*replies: Reply | Callable[[], Reply]) -> Handler:
    """A handler that gives `replies` one per request, then repeats the last one.

    A callable is called when its request arrives (for replies that depend on the time, such
    as a Retry-After HTTP-date).
    """
    lock = threading.Lock()
    served = 0

    def handler(_request: Received) -> Reply:
        nonlocal served
        with lock:
            reply = replies[min(served, len(replies) - 1)]
            served += 1
        return reply if isinstance(reply, Reply) else reply()

    return handler


def key_free(text: str) -> bool:
    """Neither the test API key nor its distinctive tail appears in text."""
    return API_KEY not in text and API_KEY[8:] not in text


def assert_key_absent(error: BaseException, records: list[logging.LogRecord]) -> None:
    """The key is in no exception of error's chain, its traceback, nor any log record."""
    chain: BaseException | None = error
    while chain is not None:
        assert key_free(str(chain)), chain
        assert key_free(repr(chain)), chain
        chain = chain.__cause__ or chain.__context__
    assert key_free("".join(traceback.format_exception(error)))
    for record in records:
        assert key_free(record.getMessage()), record.name
        assert key_free(repr(record.args)), record.name
