"""Figure 2, parsing: `queries.get()` of a DONE result against httpx GET + json.loads alone.

benchmarks.rawserver serves a DONE result of N entities; both sides download the same bytes on
a keep-alive connection. Time: the best of a few calls each, alternating. Memory: the peak of
Python allocations (tracemalloc) during one call, measured apart from the timings.
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import httpx
from cortexio_sdk import Cortex, QueryStatus

from ._common import API_KEY, check, emit, quick_flag, server

UNLIMITED = 10**9


def _best_time(call: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def _peak_mb(call: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak / 2**20


def measure(url: str, count: int, repeats: int) -> dict[str, float]:
    job = f"done-{count}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with (
        httpx.Client(headers=headers, base_url=url) as raw,
        Cortex(api_key=API_KEY, base_url=url, requests_per_minute=UNLIMITED) as sdk,
    ):

        def raw_call() -> Any:
            return json.loads(raw.get(f"/api/v1/queries/{job}").content)

        def sdk_call() -> Any:
            return sdk.queries.get(job)

        body = raw_call()
        state = sdk_call()
        check(len(body["result"]) == count, "raw: wrong entity count")
        check(state.status is QueryStatus.DONE, "SDK: not DONE")
        check(not isinstance(state.result, type(None)) and len(state.result) == count, "SDK count")
        last = state.result[-1]
        check(last.name == body["result"][-1]["name"], "SDK: wrong last entity")
        del body, state, last
        raw_s = sdk_s = float("inf")
        for _ in range(repeats):
            raw_s = min(raw_s, _best_time(raw_call, 1))
            sdk_s = min(sdk_s, _best_time(sdk_call, 1))
        raw_mb, sdk_mb = _peak_mb(raw_call), _peak_mb(sdk_call)
    return {
        "entities": count,
        "raw_s": raw_s,
        "sdk_s": sdk_s,
        "time_ratio": sdk_s / raw_s,
        "raw_peak_mb": raw_mb,
        "sdk_peak_mb": sdk_mb,
        "memory_ratio": sdk_mb / raw_mb,
    }


def main() -> None:
    quick = quick_flag()
    sizes, repeats = ([10_000, 100_000], 2) if quick else ([10_000, 100_000], 5)
    args = ["-m", "benchmarks.rawserver", "--entities", *map(str, sizes)]
    with server(args) as url:
        emit({"sizes": [measure(url, count, repeats) for count in sizes]})


if __name__ == "__main__":
    main()
