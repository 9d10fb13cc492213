"""`client.queries`: the Queries operations, sync and async, around the generated functions.

`wait`, `run_and_wait` and `as_completed` poll with the schedule and deadline of `_polling`;
the two classes differ only in how they sleep and call.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextvars import copy_context
from typing import TYPE_CHECKING

import anyio
from cortex_api_client.api.queries import create_query, get_query_results
from cortex_api_client.models import QueryBuilderResult, QueryRequest, QueryResponse

from ._checks import TranslatedErrors, check_job_id, check_query, expect
from ._exceptions import CortexError
from ._polling import (
    ASYNC_CALLBACK_ON_SYNC,
    DEFAULT_WAIT_TIMEOUT,
    Completed,
    JobWait,
    ProgressCallback,
    bounded_by,
    check_progress_callback,
    check_timeout,
)
from ._telemetry import QueryText

if TYPE_CHECKING:
    from cortex_api_client import AuthenticatedClient

    from ._telemetry import Telemetry

__all__ = ["AsyncQueries", "Queries"]

# How many jobs `Queries.as_completed` waits on at once (one thread each).
SYNC_WAIT_WORKERS = 16


class _Resource:
    """What the sync and async resources share: the generated client, the clock, and how a
    wait is set up (its arguments checked before anything is sent)."""

    def __init__(
        self,
        low_level: AuthenticatedClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._client = low_level
        self._clock = clock  # the transport's: the wait's deadline bounds its requests
        self._telemetry = telemetry
        # The CQL goes on the createQuery span only when the client was asked to record it.
        self._record_text = telemetry is not None and telemetry.record_query_text

    def _job_wait(
        self,
        job_id: str,
        timeout: float,
        poll_interval: float | None,
        deadline: float | None = None,
    ) -> JobWait:
        return JobWait(
            job_id,
            timeout=timeout,
            poll_interval=poll_interval,
            deadline=deadline,
            clock=self._clock,
            record=None if self._telemetry is None else self._telemetry.wait(job_id),
        )

    def _deadline(self, timeout: object) -> float:
        return self._clock() + check_timeout("timeout", timeout)


class Queries(_Resource):
    """Run CQL queries as jobs, read their state, and wait for them to end."""

    def run(self, query: str) -> QueryResponse:
        """Start a CQL query job (POST /api/v1/queries); returns its job id and start time."""
        body = QueryRequest(query=check_query(query))
        with QueryText(query, recorded=self._record_text), TranslatedErrors():
            response = create_query.sync_detailed(client=self._client, body=body)
        return expect(response, QueryResponse)

    def get(self, job_id: str) -> QueryBuilderResult:
        """The job's state once (GET /api/v1/queries/{jobId}): status, progress, entities."""
        job_id = check_job_id(job_id)
        with TranslatedErrors():
            response = get_query_results.sync_detailed(job_id, client=self._client)
        return expect(response, QueryBuilderResult)

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> QueryBuilderResult:
        """Poll until the job ends; return its DONE state.

        Raises QueryFailedError / QueryCancelledError / QueryTimedOutError when it ends
        otherwise, NotFoundError at once for an unknown id, and WaitTimeoutError (with the last
        state) when `timeout` seconds pass first. 429s while polling are waited out.
        `on_progress(state)` is called when the status or progress changes (a plain function:
        a coroutine function is a TypeError here; AsyncCortex awaits one).
        """
        check_progress_callback(on_progress, can_await=False)
        waiting = self._job_wait(check_job_id(job_id), timeout, poll_interval)
        return self._wait(waiting, on_progress)

    def run_and_wait(
        self,
        query: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> QueryBuilderResult:
        """Start a query and wait for it; `timeout` covers both. See `wait`."""
        check_query(query)
        check_progress_callback(on_progress, can_await=False)
        deadline = self._deadline(timeout)
        with bounded_by(deadline):
            job = self.run(query)
        waiting = self._job_wait(job.job_id, timeout, poll_interval, deadline)
        return self._wait(waiting, on_progress)

    def as_completed(
        self,
        job_ids: Iterable[str],
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float | None = None,
    ) -> Iterator[Completed]:
        """Wait on many jobs; yield each one's `Completed` outcome as soon as it ends.

        A failed job or an expired deadline is yielded as `Completed.error`, not raised, so
        one bad job does not hide the others. Up to 16 jobs are polled at once, one thread each.
        """
        ids = [check_job_id(job_id) for job_id in job_ids]
        deadline = self._deadline(timeout)
        if not ids:
            return

        def one(job_id: str) -> Completed:
            waiting = self._job_wait(job_id, timeout, poll_interval, deadline)
            try:
                return Completed(job_id, result=self._wait(waiting, None))
            except CortexError as exc:
                return Completed(job_id, error=exc)

        with ThreadPoolExecutor(max_workers=min(SYNC_WAIT_WORKERS, len(ids))) as pool:
            # Each thread runs in a copy of the caller's context: its wait's span nests under
            # the caller's current span, as the async version's tasks do.
            futures = [pool.submit(copy_context().run, one, job_id) for job_id in ids]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()

    def _wait(self, waiting: JobWait, on_progress: ProgressCallback | None) -> QueryBuilderResult:
        with waiting.deadline_scope():
            while True:
                sent = waiting.clock()
                try:
                    state = self.get(waiting.job_id)
                except CortexError as exc:
                    time.sleep(waiting.after_error(exc))
                    continue
                seen = waiting.observe(state, sent=sent)
                if seen.changed and on_progress is not None:
                    _not_awaitable(on_progress(state))
                if seen.error is not None:
                    raise seen.error
                if seen.done:
                    return state
                time.sleep(waiting.next_sleep())


class AsyncQueries(_Resource):
    """Run CQL queries as jobs, read their state, and wait for them to end, as coroutines."""

    async def run(self, query: str) -> QueryResponse:
        """Start a CQL query job (POST /api/v1/queries); returns its job id and start time."""
        body = QueryRequest(query=check_query(query))
        with QueryText(query, recorded=self._record_text), TranslatedErrors():
            response = await create_query.asyncio_detailed(client=self._client, body=body)
        return expect(response, QueryResponse)

    async def get(self, job_id: str) -> QueryBuilderResult:
        """The job's state once (GET /api/v1/queries/{jobId}): status, progress, entities."""
        job_id = check_job_id(job_id)
        with TranslatedErrors():
            response = await get_query_results.asyncio_detailed(job_id, client=self._client)
        return expect(response, QueryBuilderResult)

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> QueryBuilderResult:
        """Poll until the job ends; see `Queries.wait`. `on_progress` may be async."""
        check_progress_callback(on_progress, can_await=True)
        waiting = self._job_wait(check_job_id(job_id), timeout, poll_interval)
        return await self._wait(waiting, on_progress)

    async def run_and_wait(
        self,
        query: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> QueryBuilderResult:
        """Start a query and wait for it; `timeout` covers both. See `Queries.wait`."""
        check_query(query)
        check_progress_callback(on_progress, can_await=True)
        deadline = self._deadline(timeout)
        with bounded_by(deadline):
            job = await self.run(query)
        waiting = self._job_wait(job.job_id, timeout, poll_interval, deadline)
        return await self._wait(waiting, on_progress)

    async def as_completed(
        self,
        job_ids: Iterable[str],
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float | None = None,
    ) -> AsyncIterator[Completed]:
        """Wait on many jobs in one task group; yield each `Completed` outcome as it ends.

        Every job is a task, not a thread: thousands of waits share the client's connection
        pool and rate limiter. Leaving the loop early cancels the waits still running.
        """
        ids = [check_job_id(job_id) for job_id in job_ids]
        deadline = self._deadline(timeout)
        if not ids:
            return
        send, receive = anyio.create_memory_object_stream[Completed](len(ids))

        async def one(job_id: str) -> None:
            waiting = self._job_wait(job_id, timeout, poll_interval, deadline)
            try:
                outcome = Completed(job_id, result=await self._wait(waiting, None))
            except CortexError as exc:
                outcome = Completed(job_id, error=exc)
            send.send_nowait(outcome)

        async with anyio.create_task_group() as group, receive, send:
            for job_id in ids:
                group.start_soon(one, job_id)
            try:
                for _ in ids:
                    yield await receive.receive()
            finally:
                group.cancel_scope.cancel()

    async def _wait(
        self, waiting: JobWait, on_progress: ProgressCallback | None
    ) -> QueryBuilderResult:
        with waiting.deadline_scope():
            while True:
                sent = waiting.clock()
                try:
                    state = await self.get(waiting.job_id)
                except CortexError as exc:
                    await anyio.sleep(waiting.after_error(exc))
                    continue
                seen = waiting.observe(state, sent=sent)
                if seen.changed and on_progress is not None:
                    result = on_progress(state)
                    if inspect.isawaitable(result):
                        await result
                if seen.error is not None:
                    raise seen.error
                if seen.done:
                    return state
                await anyio.sleep(waiting.next_sleep())


def _not_awaitable(result: object) -> None:
    """A sync wait's callback returned an awaitable (a lambda around a coroutine function, say):
    it would never run; close it and say so rather than drop it silently."""
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if callable(close):
            close()
        raise TypeError(ASYNC_CALLBACK_ON_SYNC)
