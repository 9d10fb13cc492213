"""Figure 5, scale: 1,000 concurrent async `wait()` calls on jobs of 2 s, through one client.

The jobs are started first (POSTs through the same client, 20 at a time), then 1,000 tasks wait
on them at once. A job ends 2 s after its POST answered; the figures are the time from the last
job's end to the last wait's return ("over 2 s": what the waits add to the 2 s every job takes),
the median of each wait's return after its job's end (or after the waits began, for a job that
ended while the others were being started), and the process's peak resident memory above what
it held before the waits. The fake Cortex runs in its own process; the client's own limit is
raised above this burst of polls (the fake does not limit it).
"""

from __future__ import annotations

import asyncio
import time

from cortexio_sdk import AsyncCortex, QueryStatus

from ._common import API_KEY, check, emit, max_rss_mb, quick_flag, rss_mb, server

UNLIMITED = 10**9


async def measure(url: str, jobs: int, seconds: float) -> dict[str, float]:
    async with AsyncCortex(api_key=API_KEY, base_url=url, requests_per_minute=UNLIMITED) as client:
        semaphore = asyncio.Semaphore(20)

        posted: dict[str, float] = {}

        async def start(i: int) -> str:
            async with semaphore:
                job_id = (await client.queries.run(f"tag = 'scale-{i}'")).job_id
                posted[job_id] = time.monotonic()
                return job_id

        job_ids = await asyncio.gather(*(start(i) for i in range(jobs)))
        before = rss_mb()
        began = time.monotonic()
        returned: dict[str, float] = {}

        async def wait(job_id: str) -> None:
            state = await client.queries.wait(job_id, timeout=120)
            returned[job_id] = time.monotonic()
            check(state.status is QueryStatus.DONE, "a wait did not end DONE")
            check(state.query_details.job_id == job_id, "a wait returned another job")

        await asyncio.gather(*(wait(j) for j in job_ids))
        last_end = max(posted.values()) + seconds
        late = sorted(returned[j] - max(posted[j] + seconds, began) for j in job_ids)
    return {
        "jobs": jobs,
        "job_seconds": seconds,
        "starting_s": began - min(posted.values()) + 0.0,
        "over_s": max(returned.values()) - last_end,
        "median_late_s": late[len(late) // 2],
        "peak_mb_above_start": max_rss_mb() - before,
        "peak_rss_mb": max_rss_mb(),
    }


def main() -> None:
    quick = quick_flag()
    jobs, seconds = (200, 1.0) if quick else (1000, 2.0)
    args = ["-m", "benchmarks.fakejobs", "--job-seconds", str(seconds)]
    with server(args) as url:
        emit(asyncio.run(measure(url, jobs, seconds)))


if __name__ == "__main__":
    main()
