"""Figure 4, rate-limit goodput: 16 workers sharing one client against a 10 req/s server.

The fake Cortex runs as `python -m cortexio_sdk.testing --rate-limit 10/s --burst 10` (a token
bucket; over it, 429 with a whole-second Retry-After). 16 workers (threads, or asyncio tasks)
GET one job's state in a loop through one shared client for the run's duration. Compared:

- the SDK with its default settings: it does not know the server's limit (its own default is
  Cortex's documented 1,000/min, above this server's 600/min) and must adapt to the 429s;
- the SDK told the limit (`requests_per_minute=600`), for reference;
- httpx-retries' RetryTransport (Retry-After honoured, up to 100 retries per call);
- plain retry-on-429: each worker sleeps 1 s after a 429 and sends again.

Goodput is successful calls per second over the run divided by the limit (10/s; the bucket's
initial burst lets it pass 1.0 slightly on a short run); the 429 share is the share of all HTTP
attempts answered 429, counted below every retry layer by a transport wrapping httpx's own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import httpx
from cortexio_sdk import AsyncCortex, Cortex, CortexError, QueryStatus
from httpx_retries import Retry, RetryTransport

from ._common import API_KEY, Counting, check, emit, fake, quick_flag

WORKERS = 16
LIMIT = 10.0
PLAIN_PAUSE = 1.0
LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=20)


class AsyncCounting(httpx.AsyncBaseTransport):
    def __init__(self, statuses: Counter[int]) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=LIMITS)
        self.statuses = statuses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.statuses[response.status_code] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _httpx_retry() -> Retry:
    return Retry(total=100, respect_retry_after_header=True, backoff_factor=0.5)


def run_threads(kind: str, url: str, job_id: str, seconds: float) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    outcome: Counter[str] = Counter()
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    counting = Counting(statuses, LIMITS)
    if kind.startswith("sdk"):
        http = httpx.Client(transport=counting)
        rpm = {"requests_per_minute": 600} if kind == "sdk_told" else {}
        sdk = Cortex(api_key=API_KEY, base_url=url, http_client=http, **rpm)  # type: ignore[arg-type]

        def call() -> bool:
            try:
                return sdk.queries.get(job_id).status is QueryStatus.IN_PROGRESS
            except CortexError:
                return False
    else:
        transport: httpx.BaseTransport = counting
        if kind == "httpx_retries":
            transport = RetryTransport(transport=counting, retry=_httpx_retry())
        http = httpx.Client(base_url=url, headers=headers, transport=transport)

        def call() -> bool:
            while True:
                response = http.get(f"/api/v1/queries/{job_id}")
                if response.status_code == 429 and kind == "plain":
                    time.sleep(PLAIN_PAUSE)
                    continue
                return response.status_code == 200

    end = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < end:
            ok = call()
            if time.monotonic() <= end:
                with lock:
                    outcome["ok" if ok else "failed"] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    http.close()
    return _figures(outcome, statuses, seconds, elapsed)


async def run_tasks(kind: str, url: str, job_id: str, seconds: float) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    outcome: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    counting = AsyncCounting(statuses)
    if kind.startswith("sdk"):
        http = httpx.AsyncClient(transport=counting)
        rpm = {"requests_per_minute": 600} if kind == "sdk_told" else {}
        sdk = AsyncCortex(api_key=API_KEY, base_url=url, http_client=http, **rpm)  # type: ignore[arg-type]

        async def call() -> bool:
            try:
                state = await sdk.queries.get(job_id)
            except CortexError:
                return False
            return state.status is QueryStatus.IN_PROGRESS
    else:
        transport: httpx.AsyncBaseTransport = counting
        if kind == "httpx_retries":
            transport = RetryTransport(transport=counting, retry=_httpx_retry())
        http = httpx.AsyncClient(base_url=url, headers=headers, transport=transport)

        async def call() -> bool:
            while True:
                response = await http.get(f"/api/v1/queries/{job_id}")
                if response.status_code == 429 and kind == "plain":
                    await asyncio.sleep(PLAIN_PAUSE)
                    continue
                return response.status_code == 200

    end = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < end:
            ok = await call()
            if time.monotonic() <= end:
                outcome["ok" if ok else "failed"] += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    elapsed = time.monotonic() - started
    await http.aclose()
    return _figures(outcome, statuses, seconds, elapsed)


def _figures(
    outcome: Counter[str], statuses: Counter[int], seconds: float, elapsed: float
) -> dict[str, Any]:
    attempts = sum(statuses.values())
    check(attempts > 0 and outcome["ok"] > 0, "no call succeeded")
    check(set(statuses) <= {200, 429}, f"unexpected statuses {dict(statuses)}")
    return {
        "ok": outcome["ok"],
        "failed": outcome["failed"],
        "attempts": attempts,
        "goodput": outcome["ok"] / seconds / LIMIT,
        "share_429": statuses[429] / attempts,
        "elapsed_s": elapsed,
    }


KINDS = ("sdk", "sdk_told", "httpx_retries", "plain")
MODES = ("threads", "tasks")


def one_run(kind: str, mode: str, seconds: float) -> dict[str, Any]:
    """One client kind and mode against a fresh server (a full bucket) of its own."""
    with fake(job_seconds=3600, rate_limit=f"{LIMIT:g}/s", burst=int(LIMIT)) as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
            response = http.post("/api/v1/queries", json={"query": "type = 'service'"})
            check(response.status_code == 200, f"POST answered {response.status_code}")
            job_id = response.json()["jobId"]
        if mode == "threads":
            return run_threads(kind, url, job_id, seconds)
        return asyncio.run(run_tasks(kind, url, job_id, seconds))


def main() -> None:
    """Every kind and mode at once, each a client process with its own server process.

    At 10 requests per second per server the runs hardly load the machine, so running them
    side by side changes no figure and keeps the whole figure to one run's duration.
    """
    if "--one" in sys.argv:
        kind, mode, seconds = sys.argv[sys.argv.index("--one") + 1 :][:3]
        emit(one_run(kind, mode, float(seconds)))
        return
    seconds = 3.0 if quick_flag() else 20.0
    processes = {
        f"{kind}/{mode}": subprocess.Popen(
            [sys.executable, "-m", "benchmarks.goodput", "--one", kind, mode, str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for mode in MODES
        for kind in KINDS
    }
    results: dict[str, dict[str, Any]] = {}
    for name, process in processes.items():
        out, _ = process.communicate()
        check(process.returncode == 0, f"goodput run {name} failed (exit {process.returncode})")
        results[name] = json.loads(out.strip().splitlines()[-1])
    emit({"seconds": seconds, "workers": WORKERS, "limit_per_s": LIMIT, "runs": results})


if __name__ == "__main__":
    main()
