"""Figure 4's spread: how unevenly a paced client's requests reach the fake's rate limiter.

The SDK told a rate (16/s, under the fake's limit, so that nothing is refused) paces 64 tasks
sharing one `AsyncCortex`, then 64 threads sharing one `Cortex`, against the fake Cortex in its
own process, which notes when each request meets its limiter. Were the pace exact, the k-th
would arrive k intervals after the first; what it arrives later than that is its delay on the
way (the event loop or the thread scheduler, the sockets, the fake's thread per connection).
The extra delay is measured against the least delay among the 50 arrivals around it, so that a
pace which slipped as a whole (every caller busy for a moment) is not counted as spread.

Measured twice, alone: on a quiet machine, then under the load of figure 4's first round of
cells (`benchmarks.goodput`, six cells at once, each the SDK, plain retry and httpx-retries
against fakes of their own, as figure 4 runs them), which is what the SDK in its cells meets.
It runs alone so as to load no other figure. Figure 8's spread table simulates
buckets of one with delays of this size (tests/support/ratesim.py).

    python -m benchmarks.spread [--quick]
    python -m benchmarks.spread --serve FILE FAKE-OPTIONS...   # the recording fake itself
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cortexio_sdk import AsyncCortex, Cortex
from cortexio_sdk.testing import _cli, _faults

from ._common import API_KEY, check, emit, quick_flag, server
from ._ratelimited import create_job

SECONDS, QUICK_SECONDS = 20.0, 5.0
RATE = 16.0  # requests/s the SDK is told: it keeps 1.5 % under it
CALLERS = 64
NEIGHBOURS = 25  # each side: the arrivals whose least delay is the reference
LOAD = ""  # the figure 4 cells (all: their first round) the second measurement runs under...
LOAD_START = 25.0  # ...measured from this long after they were started (their processes start)


def serve(record: str, options: list[str]) -> int:
    """The fake Cortex, noting when each request meets its rate limit into `record` (JSON) once
    it stops. The fake offers no such record: this wraps its limiter's `take` for the run."""
    arrivals: list[float] = []
    take = _faults.RateLimit.take

    def noting(self: _faults.RateLimit, now: float) -> int | None:
        arrivals.append(now)
        return take(self, now)

    _faults.RateLimit.take = noting  # type: ignore[method-assign]
    try:
        return _cli.main(options)
    finally:
        Path(record).write_text(json.dumps(arrivals))


def _tasks(url: str, job: str, seconds: float) -> None:
    async def run() -> None:
        async with AsyncCortex(api_key=API_KEY, base_url=url, requests_per_minute=RATE * 60) as c:
            end = time.monotonic() + seconds

            async def caller() -> None:
                while time.monotonic() < end:
                    await c.queries.get(job)

            await asyncio.gather(*(caller() for _ in range(CALLERS)))

    asyncio.run(run())


def _threads(url: str, job: str, seconds: float) -> None:
    with Cortex(api_key=API_KEY, base_url=url, requests_per_minute=RATE * 60) as c:
        end = time.monotonic() + seconds

        def caller() -> None:
            while time.monotonic() < end:
                c.queries.get(job)

        threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def delays(arrivals: list[float], rate: float) -> list[float]:
    """Each arrival's extra delay, seconds: past the ideal pace, over its neighbours' least."""
    late = [t - (arrivals[0] + k / rate) for k, t in enumerate(arrivals)]
    return [d - min(late[max(0, k - NEIGHBOURS) : k + NEIGHBOURS + 1]) for k, d in enumerate(late)]


def measure(mode: str, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        record = Path(scratch) / "arrivals.json"
        fake = ["--port", "0", "--quiet", "--api-key", API_KEY, "--job-seconds", "3600"]
        fake += ["--rate-limit", "1000/s"]  # far above the pace: a limiter to note, no 429
        with server(["-m", "benchmarks.spread", "--serve", str(record), *fake]) as url:
            job = create_job(url)
            (_tasks if mode == "tasks" else _threads)(url, job, seconds)
        check(record.exists(), f"{mode}: the fake left no record of its requests")
        # (Sorted: the fake reads the clock before its lock, so two may be noted swapped.)
        arrivals = sorted(json.loads(record.read_text()))[1:]  # past the POST that made the job
    check(len(arrivals) >= seconds * RATE / 2, f"{mode}: only {len(arrivals)} requests")
    arrivals = arrivals[int(RATE) :]  # past the first second's start
    paced = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    spread = sorted(delays(arrivals, paced))
    return {
        "requests": len(arrivals),
        "rate": paced,
        "mean_ms": statistics.fmean(spread) * 1000,
        "p50_ms": spread[len(spread) // 2] * 1000,
        "p99_ms": spread[int(len(spread) * 0.99)] * 1000,
    }


def loaded(seconds: float) -> dict[str, Any]:
    """Both modes measured while figure 4's first round of cells runs (stopped after)."""
    length = LOAD_START + 2 * seconds + 15.0  # they outlast both measurements
    load = [sys.executable, "-m", "benchmarks.goodput", "--only", LOAD, "--seconds", f"{length}"]
    process = subprocess.Popen(
        load, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        time.sleep(LOAD_START)
        check(process.poll() is None, "figure 4's cells ended before the spread was measured")
        return {mode: measure(mode, seconds) for mode in ("tasks", "threads")}
    finally:
        # The cells' clients and fakes are processes of its own session: all of them go.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(sys.argv[2], sys.argv[3:]))
    seconds = QUICK_SECONDS if quick_flag() else SECONDS
    emit(
        {
            "seconds": seconds,
            "rate": RATE,
            "callers": CALLERS,
            "modes": {mode: measure(mode, seconds) for mode in ("tasks", "threads")},
            "load": LOAD,
            "loaded": loaded(seconds),
        }
    )


if __name__ == "__main__":
    main()
