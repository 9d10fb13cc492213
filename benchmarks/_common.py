"""Shared helpers: servers in their own processes, timing, memory, and the JSON a figure prints."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

API_KEY = "test-key"


class BenchmarkError(Exception):
    """A broken benchmark: a wrong result, not a slow one."""


def check(condition: bool, message: str) -> None:
    """Fail loudly when a measured call did not do what it should."""
    if not condition:
        raise BenchmarkError(message)


# How long a server process may take to say where it listens.
SERVER_START_SECONDS = 30.0


@contextlib.contextmanager
def server(args: Sequence[str]) -> Iterator[str]:
    """Start `python ARGS` (a server printing `[export ]CORTEX_BASE_URL=...`), yield its URL,
    stop it. A server that has not said where it listens within SERVER_START_SECONDS (or that
    exits first) is a broken benchmark, not a wait for ever."""
    process = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    found: list[str] = []
    said = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            name, _, value = line.strip().removeprefix("export ").partition("=")
            if name == "CORTEX_BASE_URL":
                found.append(shlex.split(value)[0] if value else "")
                break
        said.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        said.wait(SERVER_START_SECONDS)
        url = found[0] if found else None
        if url is None or not url.startswith("http://127.0.0.1:"):
            raise BenchmarkError(f"server {args} did not start (exit {process.poll()})")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tally(counting: Counting | AsyncCounting, status: int) -> None:
    """Count one attempt's status, and per whole second since `origin` when asked to."""
    counting.statuses[status] += 1
    if counting.by_second is not None:
        second = int(time.monotonic() - counting.origin)
        counting.by_second[(second, status)] += 1


class Counting(httpx.BaseTransport):
    """httpx's transport, counting every attempt's status code (below any retry layer), and
    with `by_second` also per whole second since `origin` (a time.monotonic() value)."""

    def __init__(
        self,
        statuses: Counter[int],
        limits: httpx.Limits,
        by_second: Counter[tuple[int, int]] | None = None,
    ) -> None:
        self.inner = httpx.HTTPTransport(limits=limits)
        self.statuses = statuses
        self.by_second = by_second
        self.origin = 0.0
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        with self.lock:
            _tally(self, response.status_code)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncCounting(httpx.AsyncBaseTransport):
    """`Counting` for an httpx.AsyncClient (one event loop: no lock needed)."""

    def __init__(
        self,
        statuses: Counter[int],
        limits: httpx.Limits,
        by_second: Counter[tuple[int, int]] | None = None,
    ) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=limits)
        self.statuses = statuses
        self.by_second = by_second
        self.origin = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        _tally(self, response.status_code)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def fake(
    *,
    job_seconds: float,
    rate_limit: str | None = None,
    burst: float | None = None,
    extra: Sequence[str] = (),
) -> contextlib.AbstractContextManager[str]:
    """The fake Cortex (`python -m cortexio_sdk.testing`) in its own process; `extra`: more of
    its options (a rate-limit shape, say)."""
    args = ["-m", "cortexio_sdk.testing", "--port", "0", "--quiet"]
    args += ["--api-key", API_KEY, "--job-seconds", str(job_seconds)]
    if rate_limit is not None:
        args += ["--rate-limit", rate_limit]
    if burst is not None:
        args += ["--burst", f"{burst:g}" if burst == int(burst) else repr(burst)]
    return server([*args, *extra])


def best_rate(run: Callable[[float], int], seconds: float, rounds: int) -> float:
    """Calls per second: the best of `rounds` runs of `run(seconds)` (it returns its call count)."""
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        calls = run(seconds)
        rates.append(calls / (time.perf_counter() - started))
    return max(rates)


def max_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open(f"/proc/{os.getpid()}/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class RedisWarnings(logging.Handler):
    """Counts the SDK's warnings about Redis (outage and recovery), keeping their text."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Redis" in message:
            self.messages.append(message)


LEARNING_LOG = "CORTEX_BENCH_LEARNING_LOG"  # a directory: each SDK client's learning, a file


def learning_log(name: str) -> None:
    """With `CORTEX_BENCH_LEARNING_LOG` set (`--learning-log DIR` of figures 4 and 7), this
    process writes what its SDK client's rate limiter learnt (the `cortexio_sdk.ratelimit`
    logger at DEBUG, each line stamped with the milliseconds since the process started) to
    `DIR/<name>.log`, made at its first line (none for a client without the SDK's limiter): why
    a wall-clock cell ended where it did, read beside its counts per second."""
    directory = os.environ.get(LEARNING_LOG)
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in " .,-" else "_" for c in name)
    handler = logging.FileHandler(os.path.join(directory, f"{safe}.log"), delay=True)
    handler.setFormatter(logging.Formatter("%(relativeCreated)9.0f ms %(message)s"))
    logger = logging.getLogger("cortexio_sdk.ratelimit")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # (not into a figure's own handlers on the SDK's logger)


def learning_log_option(argv: Sequence[str] | None = None) -> None:
    """`--learning-log DIR`: the child processes of this figure write their clients' learning
    there (see `learning_log`)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if "--learning-log" in args:
        os.environ[LEARNING_LOG] = os.path.abspath(args[args.index("--learning-log") + 1])


def emit(result: dict[str, Any]) -> None:
    """A figure's result: one JSON line on stdout, read by benchmarks.__main__."""
    print(json.dumps(result), flush=True)


def quick_flag(argv: Sequence[str] | None = None) -> bool:
    args = sys.argv[1:] if argv is None else list(argv)
    return "--quick" in args
