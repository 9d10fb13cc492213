"""Figure 5, scale: 1,000 concurrent async `wait()` calls through one client.

1,000 jobs that started one after another over the last 3 s (as 1,000 POSTs take about that
long here) and run 10 s each, so every one still runs when the waits begin; then 1,000 tasks
wait on them at once through one `AsyncCortex`. The figures: how late the latest wait returned
after its own job's end, the median of that lateness, and the process's peak resident memory
above what it held before the waits.

Server: `benchmarks/rawserver.py`'s timed jobs (state computed from this machine's monotonic
clock), an asyncio server that answers thousands of polls a second. The fake Cortex answers
about 280 a second here (a Python thread per connection; as fast for raw httpx as for the SDK),
fewer than these jobs end: against it the figure measured the fake's queue, not the waits. The
client's own limit is raised above this burst of polls.
"""

from __future__ import annotations

import asyncio
import time

from cortexio_sdk import AsyncCortex, QueryStatus

from ._common import API_KEY, check, emit, max_rss_mb, quick_flag, rss_mb, server

UNLIMITED = 10**9
STARTING_SECONDS = 3.0  # over which the jobs started, before the waits begin


async def measure(url: str, jobs: int, seconds: float) -> dict[str, float]:
    now = time.monotonic()
    started = [now - STARTING_SECONDS + STARTING_SECONDS * i / jobs for i in range(jobs)]
    ends = {f"timed-{start:.6f}-{seconds}": start + seconds for start in started}
    async with AsyncCortex(api_key=API_KEY, base_url=url, requests_per_minute=UNLIMITED) as client:
        before = rss_mb()
        began = time.monotonic()
        returned: dict[str, float] = {}

        async def wait(job_id: str) -> None:
            state = await client.queries.wait(job_id, timeout=120)
            returned[job_id] = time.monotonic()
            check(state.status is QueryStatus.DONE, "a wait did not end DONE")
            check(state.query_details.job_id == job_id, "a wait returned another job")

        await asyncio.gather(*(wait(job_id) for job_id in ends))
        check(min(ends.values()) > began, "a job ended before the waits began")
        late = sorted(returned[job_id] - end for job_id, end in ends.items())
    return {
        "jobs": jobs,
        "job_seconds": seconds,
        "over_s": late[-1],
        "median_late_s": late[len(late) // 2],
        "peak_mb_above_start": max_rss_mb() - before,
        "peak_rss_mb": max_rss_mb(),
    }


def main() -> None:
    quick = quick_flag()
    jobs, seconds = (200, 5.0) if quick else (1000, 10.0)
    with server(["-m", "benchmarks.rawserver"]) as url:
        emit(asyncio.run(measure(url, jobs, seconds)))


if __name__ == "__main__":
    main()
