"""Figure 1, cost per call: `queries.get()` calls per second against raw httpx GET + json().

One keep-alive connection to benchmarks.rawserver, calls one after another, sync and async.
Short rounds of raw and SDK alternate; each pair of neighbouring rounds gives a ratio, and the
median of those ratios counts (the rates shown are medians too), so that a noisy moment of the
machine, or a slow drift, hurts both sides alike. The SDK client is built with a limit far
above what the loop reaches (its limiter still books every call), since pacing is not what this
figure measures.

Tracing: "off" runs with OpenTelemetry's API imported but no provider set (the SDK then checks
the providers on every call and builds nothing: the dearer of the two ways to be off; without
the API it does not even look). "On" runs in a child process (a process sets its providers
once) with the OpenTelemetry SDK's tracer and meter providers, every span kept by an in-memory
exporter and every metric by an in-memory reader, as `python -m benchmarks.call_cost --traced`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
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


def _measure(url: str, quick: bool) -> dict[str, dict[str, float]]:
    seconds, rounds = (0.25, 4) if quick else (0.4, 13)
    return {
        "sync": _figures(sync_rates(url, seconds, rounds)),
        "async": _figures(asyncio.run(async_rates(url, seconds, rounds))),
    }


def _trace_everything() -> None:
    """The providers a service sets, keeping every span and metric in memory (spans are
    dropped as they pile up: memory is not what this figure measures)."""
    from opentelemetry import metrics, trace  # noqa: PLC0415 - this child process only
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    exporter = InMemorySpanExporter()

    class Clearing(SimpleSpanProcessor):
        def on_end(self, span: Any) -> None:
            super().on_end(span)
            if len(exporter._finished_spans) > 10_000:
                exporter.clear()

    tracing = TracerProvider()
    tracing.add_span_processor(Clearing(exporter))
    trace.set_tracer_provider(tracing)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def main() -> None:
    quick = quick_flag()
    if "--traced" in sys.argv:
        _trace_everything()
        emit(_measure(sys.argv[sys.argv.index("--traced") + 1], quick))
        return
    import opentelemetry.metrics  # noqa: PLC0415 - imported, no provider set: "off"
    import opentelemetry.trace  # noqa: PLC0415, F401

    with server(["-m", "benchmarks.rawserver"]) as url:
        off = _measure(url, quick)
        child = [sys.executable, "-m", "benchmarks.call_cost", "--traced", url]
        done = subprocess.run(
            [*child, *(["--quick"] if quick else [])],
            capture_output=True,
            text=True,
            check=True,
        )
    on = json.loads(done.stdout.strip().splitlines()[-1])
    for mode in ("sync", "async"):
        off[mode]["traced"] = on[mode]
    emit(off)


if __name__ == "__main__":
    main()
