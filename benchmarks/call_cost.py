"""Figure 1, cost per call: `queries.get()` calls per second against raw httpx GET + json().

One keep-alive connection to benchmarks.rawserver, calls one after another, sync and async.
Rounds of SDK and raw alternate and the best round of each counts, so that a noisy moment of
the machine hurts both alike. The SDK client is built with a limit far above what the loop
reaches (its limiter still books every call), since pacing is not what this figure measures.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from cortex_sdk import AsyncCortex, Cortex, QueryStatus

from ._common import API_KEY, check, emit, quick_flag, server

UNLIMITED = 10**9  # requests per minute: the limiter books slots but never makes a call wait


def sync_rates(url: str, seconds: float, rounds: int) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    path = f"{url}/api/v1/queries/job-1"
    with (
        httpx.Client(headers=headers) as raw,
        Cortex(api_key=API_KEY, base_url=url, requests_per_minute=UNLIMITED) as sdk,
    ):
        check(raw.get(path).json()["status"] == "IN_PROGRESS", "raw GET: wrong body")
        check(sdk.queries.get("job-1").status is QueryStatus.IN_PROGRESS, "SDK get: wrong state")

        def raw_round() -> int:
            calls, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                raw.get(path).json()
                calls += 1
            return calls

        def sdk_round() -> int:
            calls, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                sdk.queries.get("job-1")
                calls += 1
            return calls

        return _alternate(raw_round, sdk_round, seconds, rounds)


async def async_rates(url: str, seconds: float, rounds: int) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    path = f"{url}/api/v1/queries/job-1"
    async with (
        httpx.AsyncClient(headers=headers) as raw,
        AsyncCortex(api_key=API_KEY, base_url=url, requests_per_minute=UNLIMITED) as sdk,
    ):
        check((await raw.get(path)).json()["status"] == "IN_PROGRESS", "raw GET: wrong body")
        state = await sdk.queries.get("job-1")
        check(state.status is QueryStatus.IN_PROGRESS, "SDK get: wrong state")
        best = {"raw": 0.0, "sdk": 0.0}
        for _ in range(rounds):
            for name in ("raw", "sdk"):
                calls, started = 0, time.perf_counter()
                end = started + seconds
                while time.perf_counter() < end:
                    if name == "raw":
                        (await raw.get(path)).json()
                    else:
                        await sdk.queries.get("job-1")
                    calls += 1
                best[name] = max(best[name], calls / (time.perf_counter() - started))
        return best["raw"], best["sdk"]


def _alternate(raw_round: Any, sdk_round: Any, seconds: float, rounds: int) -> tuple[float, float]:
    best = {"raw": 0.0, "sdk": 0.0}
    for _ in range(rounds):
        for name, run in (("raw", raw_round), ("sdk", sdk_round)):
            started = time.perf_counter()
            calls = run()
            best[name] = max(best[name], calls / (time.perf_counter() - started))
    return best["raw"], best["sdk"]


def main() -> None:
    quick = quick_flag()
    seconds, rounds = (0.5, 2) if quick else (2.0, 3)
    with server(["-m", "benchmarks.rawserver"]) as url:
        raw_sync, sdk_sync = sync_rates(url, seconds, rounds)
        raw_async, sdk_async = asyncio.run(async_rates(url, seconds, rounds))
    emit(
        {
            "sync": {"raw_per_s": raw_sync, "sdk_per_s": sdk_sync, "ratio": sdk_sync / raw_sync},
            "async": {
                "raw_per_s": raw_async,
                "sdk_per_s": sdk_async,
                "ratio": sdk_async / raw_async,
            },
        }
    )


if __name__ == "__main__":
    main()
