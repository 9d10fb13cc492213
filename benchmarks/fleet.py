"""Figure 7, fleet: 4 processes x 8 threads sharing one key against a 10 req/s server.

The fake Cortex runs as `python -m cortexio_sdk.testing --rate-limit 10/s --burst 10` (a token
bucket; over it, 429 with a whole-second Retry-After), and a throwaway redis-server
(`cortexio_sdk.testing.RedisServer`) beside it; both are fresh for each run, so every run starts
with a full bucket and an empty Redis. Four worker processes each build one `Cortex` client told
the key's limit (`requests_per_minute=600`) and share it among 8 threads that GET one job's state
in a loop; the processes start their loops at one agreed wall-clock moment, after their imports.
Runs, one after another:

- `per_process`: no `rate_limiter`: each process limits itself alone to the key's limit, so the
  fleet may send four times what the server accepts;
- `redis`: `rate_limiter=RedisLimiter(url=...)` in every process: one bucket for the fleet;
- `redis_killed`: as `redis`, but redis-server is killed (SIGKILL) at the middle of the run and
  stays down: no call may fail because of it, and each process logs its one warning;
- `redis_default_rpm`: as `redis`, with the SDK's default limit (1,000/min, above the server's
  600/min), so that the shared limiter must find the limit from the 429s.

Goodput is successful calls per second over the run divided by the limit (10/s; the bucket's
initial burst lets it pass 1.0 slightly on a short run); the 429 share is the share of all HTTP
attempts answered 429, counted below the SDK's retries by a transport wrapping httpx's own.
A success counts when it ends within the run; a failed call counts whenever it ends (one still
retrying at the end may fail after it). Warnings are the records of the "cortexio_sdk" logger at
WARNING or above that mention Redis.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import httpx
from cortexio_sdk import Cortex, CortexError, QueryStatus, RedisLimiter
from cortexio_sdk.testing import RedisServer

from ._common import API_KEY, Counting, check, emit, fake, quick_flag

PROCESSES = 4
THREADS = 8
LIMIT = 10.0
TOLD_RPM = 600.0
START_LEAD = 0.5  # seconds between the last worker's "ready" and their common start
LIMITS = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS)
RUNS = ("per_process", "redis", "redis_killed", "redis_default_rpm")


class RedisWarnings(logging.Handler):
    """Counts the SDK's warnings about Redis (outage and recovery), keeping their text."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Redis" in message:
            self.messages.append(message)


def worker(config: dict[str, Any]) -> dict[str, Any]:
    """One process of the fleet: one client, THREADS threads, for `seconds` from the start time
    that the parent sends on stdin once every worker has said it is ready (its client built)."""
    statuses: Counter[int] = Counter()
    by_second: Counter[tuple[int, int]] = Counter()
    ok_by_second: Counter[int] = Counter()
    failed: Counter[str] = Counter()
    lock = threading.Lock()
    warnings = RedisWarnings()
    sdk_logger = logging.getLogger("cortexio_sdk")
    sdk_logger.addHandler(warnings)
    sdk_logger.setLevel(logging.WARNING)
    counting = Counting(statuses, LIMITS, by_second)
    options: dict[str, Any] = {}
    if config["rpm"] is not None:
        options["requests_per_minute"] = config["rpm"]
    if config["redis_url"] is not None:
        options["rate_limiter"] = RedisLimiter(url=config["redis_url"])
    sdk = Cortex(
        api_key=API_KEY,
        base_url=config["url"],
        http_client=httpx.Client(transport=counting),
        **options,
    )
    job_id: str = config["job_id"]
    seconds: float = config["seconds"]
    print("ready", flush=True)
    ready_margin = float(sys.stdin.readline()) - time.time()
    started = time.monotonic() + max(0.0, ready_margin)
    end = started + seconds
    counting.origin = started

    def loop() -> None:
        while time.monotonic() < end:
            try:
                ok = sdk.queries.get(job_id).status is QueryStatus.IN_PROGRESS
                error = None if ok else "wrong status"
            except CortexError as exc:
                ok, error = False, type(exc).__name__
            now = time.monotonic()
            with lock:
                if not ok:
                    failed[str(error)] += 1  # a call that fails counts, even after the end
                elif now <= end:
                    ok_by_second[int(now - started)] += 1

    threads = [threading.Thread(target=loop) for _ in range(THREADS)]
    time.sleep(max(0.0, started - time.monotonic()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    sdk.close()
    span = int(seconds) + 1
    return {
        "ready_margin_s": ready_margin,
        "ok": sum(ok_by_second.values()),
        "failed": dict(failed),
        "statuses": {str(code): count for code, count in statuses.items()},
        "ok_per_s": [ok_by_second[s] for s in range(span)],
        "attempts_per_s": [
            sum(n for (s, _), n in by_second.items() if s == i) for i in range(span)
        ],
        "r429_per_s": [by_second[(s, 429)] for s in range(span)],
        "warnings": warnings.messages,
        "elapsed_s": elapsed,
    }


def _window(processes: list[dict[str, Any]], first: int, last: int) -> dict[str, float]:
    """Goodput and 429 share over the whole seconds [first, last) of the run."""
    ok = sum(sum(p["ok_per_s"][first:last]) for p in processes)
    attempts = sum(sum(p["attempts_per_s"][first:last]) for p in processes)
    r429 = sum(sum(p["r429_per_s"][first:last]) for p in processes)
    return {
        "goodput": ok / (last - first) / LIMIT,
        "share_429": r429 / attempts if attempts else 0.0,
    }


def one_run(run: str, seconds: float) -> dict[str, Any]:
    """One run against a fresh server (a full bucket) and a fresh redis-server of its own."""
    check(run in RUNS, f"unknown run {run!r}; one of {', '.join(RUNS)}")
    with fake(job_seconds=3600, rate_limit=f"{LIMIT:g}/s", burst=int(LIMIT)) as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
            response = http.post("/api/v1/queries", json={"query": "type = 'service'"})
            check(response.status_code == 200, f"POST answered {response.status_code}")
            job_id = response.json()["jobId"]
        with RedisServer() as redis_server:
            config = {
                "url": url,
                "job_id": job_id,
                "redis_url": None if run == "per_process" else redis_server.url,
                "rpm": None if run == "redis_default_rpm" else TOLD_RPM,
                "seconds": seconds,
            }
            workers = [
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.fleet", "--worker", json.dumps(config)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(PROCESSES)
            ]
            for number, process in enumerate(workers):
                assert process.stdout is not None
                ready = process.stdout.readline().strip()
                check(ready == "ready", f"fleet {run} worker {number} did not start: {ready!r}")
            # One wall-clock moment for all, a little ahead: their loops start together.
            start_at = time.time() + START_LEAD
            for process in workers:
                assert process.stdin is not None
                process.stdin.write(f"{start_at!r}\n")
                process.stdin.close()
            if run == "redis_killed":
                time.sleep(max(0.0, start_at + seconds / 2 - time.time()))
                redis_server.kill()
            processes = []
            for number, process in enumerate(workers):
                out = process.stdout.read() if process.stdout is not None else ""
                process.wait()
                check(process.returncode == 0, f"fleet {run} worker {number} failed")
                processes.append(json.loads(out.strip().splitlines()[-1]))
    return _figures(run, processes, seconds)


def _figures(run: str, processes: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    late = [p for p in processes if p["ready_margin_s"] <= 0]
    check(not late, f"{len(late)} worker(s) of {run} were not ready at the common start")
    statuses: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for p in processes:
        statuses.update(p["statuses"])
        failed.update(p["failed"])
    attempts = sum(statuses.values())
    ok = sum(p["ok"] for p in processes)
    check(attempts > 0 and ok > 0, f"{run}: no call succeeded")
    check(set(statuses) <= {"200", "429"}, f"{run}: unexpected statuses {dict(statuses)}")
    warnings = [len(p["warnings"]) for p in processes]
    if run == "redis_killed":
        check(not failed, f"{run}: calls failed after Redis was killed: {dict(failed)}")
        check(warnings == [1] * PROCESSES, f"{run}: Redis warnings per process {warnings}")
        for p in processes:
            check(
                p["warnings"][0].startswith("rate limit: Redis at "),
                f"{run}: unexpected warning {p['warnings'][0]!r}",
            )
    half = int(seconds // 2)
    return {
        "ok": ok,
        "failed": sum(failed.values()),
        "failed_by_type": dict(failed),
        "attempts": attempts,
        "goodput": ok / seconds / LIMIT,
        "share_429": statuses["429"] / attempts,
        "warnings_per_process": warnings,
        "first_half": _window(processes, 0, half),
        "second_half": _window(processes, half, int(seconds)),
        "ok_per_s": [sum(col) for col in zip(*(p["ok_per_s"] for p in processes), strict=True)],
        "r429_per_s": [sum(col) for col in zip(*(p["r429_per_s"] for p in processes), strict=True)],
        "elapsed_s": max(p["elapsed_s"] for p in processes),
    }


def main() -> None:
    """The runs one after another, each with its own server, redis-server and 4 workers.

    Each worker process prints its figures as one JSON line; `--one RUN SECONDS` runs one run.
    """
    if "--worker" in sys.argv:
        emit(worker(json.loads(sys.argv[sys.argv.index("--worker") + 1])))
        return
    if "--one" in sys.argv:
        run, duration = sys.argv[sys.argv.index("--one") + 1 :][:2]
        emit(one_run(run, float(duration)))
        return
    seconds = 6.0 if quick_flag() else 20.0
    results = {run: one_run(run, seconds) for run in RUNS}
    emit(
        {
            "seconds": seconds,
            "processes": PROCESSES,
            "threads": THREADS,
            "limit_per_s": LIMIT,
            "runs": results,
        }
    )


if __name__ == "__main__":
    main()
