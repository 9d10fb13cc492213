"""Figure 1, cost per call: `queries.get()` calls per second against raw httpx GET + json().

One keep-alive connection to benchmarks.rawserver, calls one after another, sync and async.
Short rounds of raw and SDK alternate; each pair of neighbouring rounds gives a ratio, and the
median of those ratios counts (the rates shown are medians too), so that a noisy moment of the
machine, or a slow drift, hurts both sides alike. The SDK client is built with a limit far
above what the loop reaches (its limiter still books every call), since pacing is not what this
figure measures.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx
from cortexio_sdk import AsyncCortex, Cortex, QueryStatus

from ._common import API_KEY, check, emit, quick_flag, server

Rates = tuple[list[float], list[float]]  # per round: raw, SDK
UNLIMITED = 10**9  # requests per minute: the limiter books slots but never makes a call wait


def sync_rates(url: str, seconds: float, rounds: int) -> Rates:
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

        return _alternate(raw_round, sdk_round, rounds)


async def async_rates(url: str, seconds: float, rounds: int) -> Rates:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    path = f"{url}/api/v1/queries/job-1"
    async with (
        httpx.AsyncClient(headers=headers) as raw,
        AsyncCortex(api_key=API_KEY, base_url=url, requests_per_minute=UNLIMITED) as sdk,
    ):
        check((await raw.get(path)).json()["status"] == "IN_PROGRESS", "raw GET: wrong body")
        state = await sdk.queries.get("job-1")
        check(state.status is QueryStatus.IN_PROGRESS, "SDK get: wrong state")
        rates: dict[str, list[float]] = {"raw": [], "sdk": []}
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
                rates[name].append(calls / (time.perf_counter() - started))
        return rates["raw"], rates["sdk"]


def _alternate(raw_round: Any, sdk_round: Any, rounds: int) -> Rates:
    rates: dict[str, list[float]] = {"raw": [], "sdk": []}
    for _ in range(rounds):
        for name, run in (("raw", raw_round), ("sdk", sdk_round)):
            started = time.perf_counter()
            calls = run()
            rates[name].append(calls / (time.perf_counter() - started))
    return rates["raw"], rates["sdk"]


def _figures(rates: Rates) -> dict[str, float]:
    raw, sdk = rates
    return {
        "raw_per_s": statistics.median(raw),
        "sdk_per_s": statistics.median(sdk),
        "ratio": statistics.median(s / r for r, s in zip(raw, sdk, strict=True)),
    }


def main() -> None:
    quick = quick_flag()
    seconds, rounds = (0.25, 4) if quick else (0.4, 13)
    with server(["-m", "benchmarks.rawserver"]) as url:
        sync = _figures(sync_rates(url, seconds, rounds))
        async_ = _figures(asyncio.run(async_rates(url, seconds, rounds)))
    emit({"sync": sync, "async": async_})


if __name__ == "__main__":
    main()
