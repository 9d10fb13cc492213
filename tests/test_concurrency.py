"""One client, many callers, a server limited to 10 requests/s: all calls succeed, few 429s.

The server is a token bucket (10 per second, burst 10) that answers 429 with `Retry-After: 1`
and a problem+json body when it is empty, like the Cortex API over its limit. The client keeps
its default `requests_per_minute` (1000/min, Cortex's documented limit, far above this
server's 600/min), so it is the 429s that must slow every caller down together: a shared
hold-off and a lowered, gradually recovering rate. Without them, 16 callers would keep
bursting into the limit and most requests would be 429s.

Run with `pytest -s` to see the measured share of 429s and the goodput.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from cortexio_sdk import AsyncCortex, Cortex
from harness import API_KEY, IN_PROGRESS
from loopback import LoopbackServer, Reply, TokenBucket

pytestmark = pytest.mark.timeout(60)

WORKERS = 16
CALLS_PER_WORKER = 4  # 64 calls: at 10/s after a burst of 10, at least 5.4 s
SERVER_RATE = 10.0
MAX_SHARE_OF_429 = 0.25
# A limiter that over-reacts is as wrong as none: the callers must still use most of the limit.
MIN_GOODPUT = 0.5 * SERVER_RATE


def limited_server(server: LoopbackServer) -> TokenBucket:
    bucket = TokenBucket(lambda _r: Reply(200, IN_PROGRESS), rate=SERVER_RATE, burst=SERVER_RATE)
    server.handler = bucket
    return bucket


def check(
    kind: str, server: LoopbackServer, bucket: TokenBucket, calls: int, elapsed: float
) -> None:
    requests = server.count()
    share = bucket.limited / requests
    goodput = bucket.allowed / elapsed
    print(
        f"\n[{kind}] {WORKERS} callers, {calls} calls in {elapsed:.2f} s: "
        f"{requests} requests, {bucket.limited} answered 429 ({share:.1%}); "
        f"goodput {goodput:.2f} calls/s against a limit of {SERVER_RATE:g}/s"
    )
    assert bucket.allowed == calls  # every call got through exactly once
    assert bucket.allowed + bucket.limited == requests
    assert share < MAX_SHARE_OF_429
    assert goodput >= MIN_GOODPUT


@pytest.mark.slow
def test_threads_share_one_client(server: LoopbackServer) -> None:
    bucket = limited_server(server)
    barrier = threading.Barrier(WORKERS)
    with Cortex(api_key=API_KEY, base_url=server.url) as client:

        def worker(index: int) -> list[str]:
            barrier.wait()  # all start at once: the worst case for the limit
            return [
                str(client.queries.get(f"job-{index}-{n}").status) for n in range(CALLS_PER_WORKER)
            ]

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            results = list(pool.map(worker, range(WORKERS)))
        elapsed = time.monotonic() - started

    assert [status for statuses in results for status in statuses] == ["IN_PROGRESS"] * (
        WORKERS * CALLS_PER_WORKER
    )
    check("threads", server, bucket, WORKERS * CALLS_PER_WORKER, elapsed)


@pytest.mark.slow
async def test_tasks_share_one_async_client(server: LoopbackServer) -> None:
    bucket = limited_server(server)
    async with AsyncCortex(api_key=API_KEY, base_url=server.url) as client:

        async def worker(index: int) -> list[str]:
            return [
                str((await client.queries.get(f"job-{index}-{n}")).status)
                for n in range(CALLS_PER_WORKER)
            ]

        started = time.monotonic()
        results = await asyncio.gather(*(worker(i) for i in range(WORKERS)))
        elapsed = time.monotonic() - started

    assert [status for statuses in results for status in statuses] == ["IN_PROGRESS"] * (
        WORKERS * CALLS_PER_WORKER
    )
    check("tasks", server, bucket, WORKERS * CALLS_PER_WORKER, elapsed)
