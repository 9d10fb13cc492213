"""What figures 4 and 7 share: the server shapes, the clients set side by side, their loops.

A shape is one rate limit of the fake Cortex (`python -m cortexio_sdk.testing`), named as in
the simulator's sweep (tests/support/ratesim.py `shapes()`), so that a wall-clock cell can be
set beside its simulated twin. The clients, each against a fake of its own:

- `sdk`: `Cortex` / `AsyncCortex` at their defaults: not told the server's limit (their own is
  Cortex's documented 1,000/min) nor its shape; with `redis_url`, a `RedisLimiter` shared by a
  fleet;
- `sdk_told`: the same told the limit (`requests_per_minute` = the server's), for reference;
- `per_process`: (fleets) the SDK told the limit, each process limiting itself alone;
- `plain`: plain retry: after a 429, sleep its Retry-After (the header, else the problem+json
  `retryAfter`, else 1 s) and send again, for ever;
- `httpx_retries`: httpx-retries' `RetryTransport`, `Retry(total=100, backoff_factor=0.5)`,
  Retry-After honoured (it reads the header only).

Every HTTP attempt is counted per whole second of the run below every retry layer; a call
counts as failed when it raises or ends with anything but the job's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
from cortexio_sdk import AsyncCortex, Cortex, QueryStatus, RedisLimiter
from httpx_retries import Retry, RetryTransport

from ._common import API_KEY, AsyncCounting, Counting, check

KINDS = ("sdk", "plain", "httpx_retries")  # every cell's clients: the SDK and its two anchors
KIND_NAMES = {
    "sdk": "SDK",
    "sdk_told": "SDK told the limit",
    "per_process": "per-process limiters",
    "plain": "plain retry",
    "httpx_retries": "httpx-retries",
}
JOB_PATH = "/api/v1/queries/{job_id}"
# After the end, how long calls under way may still finish (or fail) before they are left.
GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Shape:
    """One rate limit of the fake: `rate` as --rate-limit takes it, `limit` per second."""

    name: str
    rate: str
    limit: float
    burst: float | None = None  # a token bucket's; None for a fixed window
    window: bool = False  # a fixed window of the rate's unit (a second, a minute)
    retry_after_in_body: bool = False  # problem+json `retryAfter` instead of the header

    def fake_options(self) -> list[str]:
        options = ["--rate-limit", self.rate]
        if self.burst is not None:
            options += ["--burst", repr(self.burst)]
        if self.window:
            options += ["--rate-limit-shape", "fixed-window"]
        if self.retry_after_in_body:
            options += ["--retry-after-in", "body"]
        return options

    @property
    def base(self) -> str:
        """The simulator's name for the same limit (the Retry-After's place aside)."""
        return self.name.removesuffix(BODY_SUFFIX)

    def needs(self) -> list[str]:
        """The fake's options this shape needs beyond a token bucket."""
        return [
            option
            for option, used in (
                ("--rate-limit-shape", self.window),
                ("--retry-after-in", self.retry_after_in_body),
            )
            if used
        ]


BODY_SUFFIX = ", Retry-After in body"


def _shapes() -> dict[str, Shape]:
    """Every shape of the simulator's sweep, by its name there, and each with its Retry-After
    in the body instead of the header."""
    made: list[Shape] = []
    for rate_text, rate in (("2/s", 2.0), ("5/s", 5.0), ("10/s", 10.0), ("1000/min", 1000 / 60)):
        bursts = {"1": 1.0, "2": 2.0, "5": 5.0, "1 s": rate, "1 min": rate * 60}
        for burst_name, burst in bursts.items():
            made.append(Shape(f"bucket {rate:.3g}/s burst {burst_name}", rate_text, rate, burst))
    made.append(Shape("window 10 per s", "10/s", 10.0, window=True))
    made.append(Shape("window 600 per min", "600/min", 10.0, window=True))
    made += [
        Shape(s.name + BODY_SUFFIX, s.rate, s.limit, s.burst, s.window, retry_after_in_body=True)
        for s in list(made)
    ]
    return {shape.name: shape for shape in made}


SHAPES = _shapes()


@cache
def fake_supports() -> frozenset[str]:
    """The options of the fake's command line (shapes beyond a token bucket are newer)."""
    out = subprocess.run(
        [sys.executable, "-m", "cortexio_sdk.testing", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return frozenset(word.strip("[],") for word in out.split() if word.startswith(("--", "[--")))


def missing_options(shape: Shape) -> list[str]:
    """The options `shape` needs that this fake lacks (its cells are then left out, said so)."""
    return [option for option in shape.needs() if option not in fake_supports()]


def create_job(url: str) -> str:
    """A job that runs for the whole run: every caller GETs its state."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        response = http.post("/api/v1/queries", json={"query": "type = 'service'"})
        check(response.status_code == 200, f"POST answered {response.status_code}")
        job_id: str = response.json()["jobId"]
    return job_id


def retry_after(response: httpx.Response) -> float:
    """What plain retry sleeps: the Retry-After header, else the body's `retryAfter`, else 1 s."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        pass
    try:
        return max(0.0, float(response.json()["retryAfter"]))
    except (ValueError, KeyError, TypeError):
        return 1.0


def _httpx_retry() -> Retry:
    return Retry(total=100, respect_retry_after_header=True, backoff_factor=0.5)


def limits(callers: int) -> httpx.Limits:
    """A connection for every caller (and at least figure 4's former 20)."""
    size = max(20, callers)
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


def _sdk_options(kind: str, limit: float, redis_url: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if kind in ("sdk_told", "per_process"):
        options["requests_per_minute"] = limit * 60
    if redis_url is not None and kind != "per_process":
        options["rate_limiter"] = RedisLimiter(url=redis_url)
    return options


def sync_caller(
    kind: str, url: str, job_id: str, counting: Counting, *, limit: float, redis_url: str | None
) -> tuple[Callable[[], None], Callable[[], None]]:
    """(one call, which raises unless it got the job's state; closing the client)."""
    path = JOB_PATH.format(job_id=job_id)
    if kind in ("sdk", "sdk_told", "per_process"):
        sdk = Cortex(
            api_key=API_KEY,
            base_url=url,
            http_client=httpx.Client(transport=counting),
            **_sdk_options(kind, limit, redis_url),
        )

        def call_sdk() -> None:
            status = sdk.queries.get(job_id).status
            check(status is QueryStatus.IN_PROGRESS, f"job state {status}")

        return call_sdk, sdk.close
    check(kind in ("plain", "httpx_retries"), f"unknown client {kind!r}")
    transport: httpx.BaseTransport = counting
    if kind == "httpx_retries":
        transport = RetryTransport(transport=counting, retry=_httpx_retry())
    headers = {"Authorization": f"Bearer {API_KEY}"}
    http = httpx.Client(base_url=url, headers=headers, transport=transport)

    def call_http() -> None:
        while True:
            response = http.get(path)
            if response.status_code == 429 and kind == "plain":
                time.sleep(retry_after(response))
                continue
            check(response.status_code == 200, f"answered {response.status_code}")
            return

    return call_http, http.close


def async_caller(
    kind: str, url: str, job_id: str, counting: AsyncCounting, *, limit: float
) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """`sync_caller` for asyncio tasks (no fleets: no Redis)."""
    path = JOB_PATH.format(job_id=job_id)
    if kind in ("sdk", "sdk_told"):
        sdk = AsyncCortex(
            api_key=API_KEY,
            base_url=url,
            http_client=httpx.AsyncClient(transport=counting),
            **_sdk_options(kind, limit, None),
        )

        async def call_sdk() -> None:
            status = (await sdk.queries.get(job_id)).status
            check(status is QueryStatus.IN_PROGRESS, f"job state {status}")

        return call_sdk, sdk.aclose
    check(kind in ("plain", "httpx_retries"), f"unknown client {kind!r}")
    transport: httpx.AsyncBaseTransport = counting
    if kind == "httpx_retries":
        transport = RetryTransport(transport=counting, retry=_httpx_retry())
    headers = {"Authorization": f"Bearer {API_KEY}"}
    http = httpx.AsyncClient(base_url=url, headers=headers, transport=transport)

    async def call_http() -> None:
        while True:
            response = await http.get(path)
            if response.status_code == 429 and kind == "plain":
                await asyncio.sleep(retry_after(response))
                continue
            check(response.status_code == 200, f"answered {response.status_code}")
            return

    return call_http, http.aclose


@dataclass
class Tally:
    """One run's counts: attempts per (second, status), failed calls by error type."""

    by_second: Counter[tuple[int, int]]
    failed: Counter[str]
    pending: int = 0  # calls still under way GRACE_SECONDS after the end, left unfinished

    def per_second(self, seconds: float) -> dict[str, Any]:
        span = int(seconds)
        statuses: Counter[int] = Counter()
        for (_, status), count in self.by_second.items():
            statuses[status] += count
        return {
            "ok_per_s": [self.by_second[(s, 200)] for s in range(span)],
            "r429_per_s": [self.by_second[(s, 429)] for s in range(span)],
            "attempts_per_s": [
                sum(n for (t, _), n in self.by_second.items() if t == s) for s in range(span)
            ],
            "statuses": {str(code): count for code, count in sorted(statuses.items())},
            "failed": dict(self.failed),
            "pending": self.pending,
        }


def run_threads(
    call: Callable[[], None], counting: Counting, callers: int, start: float, seconds: float
) -> Tally:
    """`callers` threads calling back to back from `start` (time.monotonic()) for `seconds`.

    Calls still under way GRACE_SECONDS after the end are left to their daemon threads (the
    process exits after reporting), so a long queue in a client does not stretch the run."""
    failed: Counter[str] = Counter()
    lock = threading.Lock()
    end = start + seconds

    def worker() -> None:
        while time.monotonic() < end:
            try:
                call()
            except Exception as exc:  # every failure counts, whatever its type
                with lock:
                    failed[type(exc).__name__] += 1

    counting.origin = start
    time.sleep(max(0.0, start - time.monotonic()))
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, end + GRACE_SECONDS - time.monotonic()))
    with lock, counting.lock:
        pending = sum(thread.is_alive() for thread in threads)
        return Tally(Counter(counting.by_second), Counter(failed), pending)


async def run_tasks(
    call: Callable[[], Awaitable[None]],
    counting: AsyncCounting,
    callers: int,
    start: float,
    seconds: float,
) -> Tally:
    """`run_threads` with asyncio tasks; the calls left after the grace are cancelled."""
    failed: Counter[str] = Counter()
    end = start + seconds

    async def worker() -> None:
        while time.monotonic() < end:
            try:
                await call()
            except Exception as exc:  # every failure counts, whatever its type
                failed[type(exc).__name__] += 1

    counting.origin = start
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    tasks = [asyncio.create_task(worker()) for _ in range(callers)]
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, end + GRACE_SECONDS - time.monotonic()))
    tally = Tally(Counter(counting.by_second), Counter(failed), len(pending))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return tally


def spans(seconds: float) -> dict[str, tuple[int, int]]:
    """The two spans every cell reports: the second half (60 s run: seconds 30-60), where a
    client has settled, and the first third (seconds 0-20), where it learns."""
    return {"late": (int(seconds / 2), int(seconds)), "early": (0, int(seconds / 3))}


def figures(runs: Sequence[dict[str, Any]], limit: float, seconds: float) -> dict[str, Any]:
    """Goodput and 429 share in each span, summed over `runs` (a client's processes)."""
    ok = [sum(col) for col in zip(*(r["ok_per_s"] for r in runs), strict=True)]
    r429 = [sum(col) for col in zip(*(r["r429_per_s"] for r in runs), strict=True)]
    attempts = [sum(col) for col in zip(*(r["attempts_per_s"] for r in runs), strict=True)]
    statuses: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for r in runs:
        statuses.update(r["statuses"])
        failed.update(r["failed"])
    check(sum(ok) > 0, "no call succeeded")
    result: dict[str, Any] = {}
    for name, (first, last) in spans(seconds).items():
        tried = sum(attempts[first:last])
        result[f"goodput_{name}"] = sum(ok[first:last]) / (last - first) / limit
        result[f"share_429_{name}"] = sum(r429[first:last]) / tried if tried else 0.0
    result |= {
        "failed": sum(failed.values()),
        "failed_by_type": dict(failed),
        "pending": sum(r["pending"] for r in runs),
        "statuses": dict(statuses),
        "ok_per_s": ok,
        "r429_per_s": r429,
    }
    return result


# Beyond its run's length, how long a process may take (to start, and to end after it) before
# it counts as hung: it is killed, and the run is broken rather than waited on for ever.
HUNG_AFTER_SECONDS = 180.0


@contextlib.contextmanager
def ended(processes: Sequence[subprocess.Popen[str]], seconds: float) -> Iterator[None]:
    """Kill whichever of `processes` still runs on the way out (a broken run stops them all), or
    HUNG_AFTER_SECONDS past `seconds` from now (a hung one: its caller then sees it fail)."""

    def kill() -> None:
        for process in list(processes):
            if process.poll() is None:
                process.kill()

    watchdog = threading.Timer(seconds + HUNG_AFTER_SECONDS, kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
        kill()
        for process in processes:
            process.wait()


def start_together(processes: Sequence[subprocess.Popen[str]], what: str, lead: float) -> float:
    """Wait for each process's "ready" line, then send them one wall-clock start `lead` seconds
    ahead (each converts it to its own monotonic clock); returns that start."""
    for number, process in enumerate(processes):
        assert process.stdout is not None
        ready = process.stdout.readline().strip()
        check(ready == "ready", f"{what}: process {number} did not start: {ready!r}")
    start_at = time.time() + lead
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(f"{start_at!r}\n")
        process.stdin.close()
    return start_at


def wait_for_start() -> float:
    """In a started process: say "ready", read the common start; return it on time.monotonic()
    (a start already past means this process was late: the caller checks `late`)."""
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    return time.monotonic() + (start_at - time.time())


def collect(process: subprocess.Popen[str], what: str) -> dict[str, Any]:
    out = process.stdout.read() if process.stdout is not None else ""
    process.wait()
    check(process.returncode == 0, f"{what} failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result
