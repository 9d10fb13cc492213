"""Figure 2, parsing: `queries.get()` of a DONE result against httpx GET + json.loads alone.

benchmarks.rawserver serves a DONE result of N entities; every side downloads the same bytes on
a keep-alive connection. Time: the best of a few calls each, alternating. Memory: the peak of
Python allocations (tracemalloc) during one call, measured apart from the timings.

The anchors, each where the bench session installed it (pyproject.toml's `bench` group pins
them), decode the same download: `orjson.loads` and `msgspec.json.decode` (dicts, like
json.loads); `msgspec.json.decode` into Structs of the result's shape (benchmarks._structs: what
a typed decoder reaches); and the stock generator, the pinned openapi-python-client without
templates/ (generated from openapi.yaml into a temporary folder at the start, imported as
`stock_cortex_api_client`): its `QueryBuilderResult.from_dict(json.loads(body))`, with the
garbage collector left running as that client leaves it.
"""

from __future__ import annotations

import cProfile
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import pstats
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cortexio_sdk import Cortex, QueryStatus

from ._common import API_KEY, check, emit, quick_flag, server

UNLIMITED = 10**9
SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"
STOCK = "stock_cortex_api_client"
# The stock generator's own post hooks only run ruff on its output, which changes no behaviour.
STOCK_CONFIG = f"package_name_override: {STOCK}\nproject_name_override: {STOCK}\npost_hooks: []\n"

Decode = Callable[[bytes], Any]


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


def _stock_decoder(scratch: Path) -> Decode:
    """Generate the stock client from openapi.yaml into `scratch` and import it."""
    config = scratch / "config.yaml"
    config.write_text(STOCK_CONFIG)
    run = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(SPEC)]
    run += ["--config", str(config), "--meta", "none", "--output-path", str(scratch / STOCK)]
    done = subprocess.run([*run, "--fail-on-warning"], capture_output=True, text=True, check=False)
    check(done.returncode == 0, f"the stock generator failed: {done.stdout}{done.stderr}")
    sys.path.insert(0, str(scratch))
    model = importlib.import_module(f"{STOCK}.models").QueryBuilderResult
    return lambda body: model.from_dict(json.loads(body))


def anchors(scratch: Path) -> tuple[dict[str, tuple[str, Decode]], list[str]]:
    """name -> (label, decode of the body) for each anchor installed here; the missing names."""
    found: dict[str, tuple[str, Decode]] = {}
    missing = []
    if importlib.util.find_spec("orjson") is not None:
        orjson = importlib.import_module("orjson")
        found["orjson"] = (f"`orjson.loads` ({orjson.__version__})", orjson.loads)
    else:
        missing.append("orjson")
    if importlib.util.find_spec("msgspec") is not None:
        msgspec = importlib.import_module("msgspec")
        structs = importlib.import_module("benchmarks._structs")
        version = msgspec.__version__
        found["msgspec"] = (f"`msgspec.json.decode` ({version})", msgspec.json.decode)
        found["msgspec_structs"] = (f"msgspec ({version}) into Structs", structs.decode)
    else:
        missing += ["msgspec", "msgspec_structs"]
    if importlib.util.find_spec("openapi_python_client") is not None:
        version = importlib.metadata.version("openapi-python-client")
        label = f"stock generator ({version}) `from_dict(json.loads())`"
        found["stock"] = (label, _stock_decoder(scratch))
    else:
        missing.append("stock")
    return found, missing


def _entities(name: str, decoded: Any) -> list[Any]:
    """The decoded result's entity list, whatever shape the anchor decodes into."""
    if isinstance(decoded, dict):
        return list(decoded["result"])
    check(name in {"msgspec_structs", "stock"}, f"{name}: unexpected {type(decoded)}")
    return list(decoded.result)


def _check_anchor(name: str, decoded: Any, count: int, last_name: str) -> None:
    entities = _entities(name, decoded)
    check(len(entities) == count, f"{name}: wrong entity count")
    final = entities[-1]
    check(
        (final["name"] if isinstance(final, dict) else final.name) == last_name,
        f"{name}: wrong last entity",
    )


def measure(
    url: str, count: int, repeats: int, others: dict[str, tuple[str, Decode]]
) -> dict[str, Any]:
    job = f"done-{count}"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with (
        httpx.Client(headers=headers, base_url=url) as raw,
        Cortex(api_key=API_KEY, base_url=url, requests_per_minute=UNLIMITED) as sdk,
    ):

        def fetched(decode: Decode) -> Callable[[], Any]:
            return lambda: decode(raw.get(f"/api/v1/queries/{job}").content)

        calls: dict[str, Callable[[], Any]] = {
            "raw": fetched(json.loads),
            "sdk": lambda: sdk.queries.get(job),
            **{name: fetched(decode) for name, (_, decode) in others.items()},
        }
        body = calls["raw"]()
        state = calls["sdk"]()
        check(len(body["result"]) == count, "raw: wrong entity count")
        check(state.status is QueryStatus.DONE, "SDK: not DONE")
        check(not isinstance(state.result, type(None)) and len(state.result) == count, "SDK count")
        last = state.result[-1]
        check(last.name == body["result"][-1]["name"], "SDK: wrong last entity")
        for name in others:
            _check_anchor(name, calls[name](), count, last.name)
        del body, state, last
        best = dict.fromkeys(calls, float("inf"))
        for _ in range(repeats):
            for name, call in calls.items():
                best[name] = min(best[name], _best_time(call, 1))
        peak = {name: _peak_mb(call) for name, call in calls.items()}
    raw_s, raw_mb = best["raw"], peak["raw"]
    return {
        "entities": count,
        "raw_s": raw_s,
        "sdk_s": best["sdk"],
        "time_ratio": best["sdk"] / raw_s,
        "raw_peak_mb": raw_mb,
        "sdk_peak_mb": peak["sdk"],
        "memory_ratio": peak["sdk"] / raw_mb,
        "anchors": {
            name: {
                "label": label,
                "s": best[name],
                "peak_mb": peak[name],
                "time_ratio": best[name] / raw_s,
                "memory_ratio": peak[name] / raw_mb,
            }
            for name, (label, _) in others.items()
        },
    }


def _best_ms(call: Callable[[], Any], repeats: int = 7) -> float:
    return _best_time(call, repeats) * 1000


def profile(count: int = 100_000) -> None:
    """`python -m benchmarks.parsing --profile`: where the parse of `count` entities goes,
    without the network (the body as rawserver serves it), printed as text."""
    from cortex_api_client.models import QueryBuilderResult, QueryResult  # noqa: PLC0415
    from cortex_api_client.types import UNSET, collector_paused  # noqa: PLC0415

    from .rawserver import done  # noqa: PLC0415

    body = json.dumps(done(count), separators=(",", ":")).encode()
    decoded = json.loads(body)
    entities = decoded["result"]

    def paused(call: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with collector_paused():
                return call()

        return run

    class Slotted:
        __slots__ = ("additional_properties", "description", "name", "tag", "type")

        def __init__(self, name: str, tag: str, type: str, description: Any) -> None:
            self.name, self.tag, self.type, self.description = name, tag, type, description
            self.additional_properties: dict[str, Any] = {}

    def fields(e: dict[str, Any]) -> tuple[str, str, str, Any]:
        return e["name"], e["tag"], e["type"], e.get("description", UNSET)

    lines = {
        "json.loads(body)": lambda: json.loads(body),
        "from_dict(json.loads(body)), collector running": lambda: QueryBuilderResult.from_dict(
            json.loads(body)
        ),
        "from_dict(json.loads(body)), collector paused (the SDK)": paused(
            lambda: QueryBuilderResult.from_dict(json.loads(body))
        ),
        "from_dict of the decoded dicts, collector paused": paused(
            lambda: QueryBuilderResult.from_dict(decoded)
        ),
        "  of which one QueryResult(...) per entity (attrs __init__)": paused(
            lambda: [QueryResult(*fields(e)) for e in entities]
        ),
        "  the same fields into a plain __slots__ class": paused(
            lambda: [Slotted(*fields(e)) for e in entities]
        ),
        "  the same fields into a tuple": paused(lambda: [fields(e) for e in entities]),
    }
    print(f"{count:,} entities, {len(body) / 1e6:.1f} MB body; best of 7 (ms):")
    for label, call in lines.items():
        print(f"  {_best_ms(call):7.1f}  {label}")
    collections: list[int] = []
    seconds: list[float] = []

    def count_collections(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])
            seconds.append(-time.perf_counter())
        else:
            seconds[-1] += time.perf_counter()

    gc.collect()
    gc.callbacks.append(count_collections)
    try:
        QueryBuilderResult.from_dict(json.loads(body))
        running = [collections.count(g) for g in range(3)]
        running_ms = sum(seconds) * 1000
        collections.clear()
        seconds.clear()
        paused(lambda: QueryBuilderResult.from_dict(json.loads(body)))()
        after = [collections.count(g) for g in range(3)]
        after_ms = sum(seconds) * 1000
    finally:
        gc.callbacks.remove(count_collections)
    print("  collections by generation (0, 1, 2) in one parse, and their time:")
    print(f"    collector running: {running}, {running_ms:.1f} ms")
    print(f"    paused: {after}, {after_ms:.1f} ms (at the pause's end: the new objects, once)")
    profiler = cProfile.Profile()
    profiler.runcall(paused(lambda: QueryBuilderResult.from_dict(json.loads(body))))
    stats = pstats.Stats(profiler).strip_dirs().sort_stats("tottime")
    stats.print_stats(6)


def main() -> None:
    if "--profile" in sys.argv[1:]:
        profile()
        return
    quick = quick_flag()
    sizes, repeats = ([10_000, 100_000], 2) if quick else ([10_000, 100_000], 5)
    args = ["-m", "benchmarks.rawserver", "--entities", *map(str, sizes)]
    with tempfile.TemporaryDirectory() as scratch, server(args) as url:
        others, missing = anchors(Path(scratch))
        results = [measure(url, count, repeats, others) for count in sizes]
        emit({"sizes": results, "missing_anchors": missing})


if __name__ == "__main__":
    main()
