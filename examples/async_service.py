"""A small asynchronous service: a worker pool that answers catalog lookups through Cortex.

    pip install --index-url https://pypi.internal.example/simple/ cortexio-sdk==0.1.0
                                         # one private index, an exact version (docs/versioning.md)
    export CORTEX_API_KEY=...            # and CORTEX_BASE_URL for a self-managed Cortex
    python examples/async_service.py "tag = 'inventory'" "type = 'service'"

One `AsyncCortex` is shared by every task of the service, so they share its connection pool,
its rate limiter and its hold-off after a 429. Requests arrive on a queue (here: the command
line's queries); a few workers start the jobs, and one collector waits on all of them with
`queries.as_completed`, printing each answer as its job ends, in whatever order that is.
"""

from __future__ import annotations

import asyncio
import sys

from cortexio_sdk import AsyncCortex, CortexError

WORKERS = 3
WAIT_SECONDS = 120


async def start_jobs(
    client: AsyncCortex, requests: asyncio.Queue[str], started: dict[str, str]
) -> None:
    """A worker: take a query off the queue, start its job, remember which query it was."""
    while True:
        cql = await requests.get()
        try:
            job = await client.queries.run(cql)
            started[job.job_id] = cql
        except CortexError as error:
            print(f"{cql!r}: could not start: {error}", file=sys.stderr)
        finally:
            requests.task_done()


async def serve(queries: list[str]) -> int:
    requests: asyncio.Queue[str] = asyncio.Queue()
    for cql in queries:
        requests.put_nowait(cql)
    started: dict[str, str] = {}
    failed = 0
    async with AsyncCortex(requests_per_minute=600) as client:
        workers = [
            asyncio.create_task(start_jobs(client, requests, started)) for _ in range(WORKERS)
        ]
        await requests.join()
        for worker in workers:
            worker.cancel()
        async for done in client.queries.as_completed(list(started), timeout=WAIT_SECONDS):
            cql = started[done.job_id]
            if done.error is not None:
                failed += 1
                print(f"{cql!r}: {done.error}", file=sys.stderr)
                continue
            assert done.result is not None
            names = sorted(entity.name for entity in done.result.result or [])
            print(f"{cql!r}: {len(names)} entities: {', '.join(names)}")
    return 1 if failed or len(started) < len(queries) else 0


def main(argv: list[str]) -> int:
    queries = argv or ["type = 'service'"]
    return asyncio.run(serve(queries))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
