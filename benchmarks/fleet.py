"""Figure 7, fleets: processes sharing one key, on Redis, against one rate-limited server.

A cell is a server shape (as in figure 4), a fleet of 2 to 6 processes, each with one client
shared by its threads, and whether Redis is killed mid-run. Every client of a cell is a fleet
of that size against a fake of its own, all fleets starting at one agreed wall-clock moment
(after their imports):

- `sdk`: every process's `Cortex` at its defaults (not told the limit) with
  `rate_limiter=RedisLimiter(url=...)`, on a throwaway redis-server of its own
  (`cortexio_sdk.testing.RedisServer`): one shared bucket that must find the server's limit;
- the anchors, plain retry and httpx-retries (see `_ratelimited`): no Redis, nothing shared;
- in the first cell (figure 7's own: 4 processes x 8 threads at 10/s burst 10) also the SDK
  told the limit on Redis (`sdk_told`), and told it but without Redis (`per_process`: each
  process keeps to the whole limit alone, so the fleet may send four times it).

In a Redis-killed cell, redis-server is killed (SIGKILL) at the run's middle and stays down:
no call may fail because of it, each SDK process logs one warning, and the run's second half
(seconds 30-60) is the fleet without Redis. Goodput, 429 share and spans as in figure 4,
summed over the fleet's processes; warnings are the "cortexio_sdk" logger's records at WARNING
or above mentioning Redis, per process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from cortexio_sdk.testing import RedisServer

from ._common import (
    Counting,
    RedisWarnings,
    check,
    emit,
    fake,
    learning_log,
    learning_log_option,
    quick_flag,
)
from ._ratelimited import (
    KINDS,
    SHAPES,
    collect,
    create_job,
    ended,
    figures,
    limits,
    missing_options,
    run_threads,
    spans,
    start_together,
    sync_caller,
    wait_for_start,
)

SECONDS, QUICK_SECONDS = 60.0, 12.0
START_LEAD = 1.5  # seconds between the last worker's "ready" and their common start
ON_REDIS = ("sdk", "sdk_told")


@dataclass(frozen=True)
class Cell:
    shape: str
    processes: int
    threads: int
    redis_killed: bool = False
    more: tuple[str, ...] = ()  # clients beyond the SDK and its anchors

    @property
    def kinds(self) -> tuple[str, ...]:
        return (*KINDS, *self.more)

    @property
    def name(self) -> str:
        killed = ", Redis killed" if self.redis_killed else ""
        return f"{self.shape}, {self.processes} x {self.threads} threads{killed}"


FIGURE_7 = Cell("bucket 10/s burst 1 s", 4, 8, more=("sdk_told", "per_process"))
KILLED = Cell("bucket 10/s burst 1 s", 4, 8, redis_killed=True)
# Fleets of 2 to 6 processes; small bursts (where a fleet's first requests collide), a fixed
# window, and Redis killed under four shapes (buckets of one and two: where processes that fall
# back collide unless each keeps to its own slots).
CELLS = (
    FIGURE_7,
    KILLED,
    Cell("bucket 5/s burst 1", 2, 8),
    Cell("bucket 16.7/s burst 5", 6, 4),
    Cell("window 10 per s", 3, 8),
    Cell("bucket 2/s burst 1 min", 5, 4, redis_killed=True),
    Cell("bucket 16.7/s burst 1", 2, 8, redis_killed=True),
    Cell("bucket 5/s burst 2", 4, 8, redis_killed=True),
)
QUICK_CELLS = (Cell(FIGURE_7.shape, 4, 8), KILLED)


def worker(config: dict[str, Any]) -> dict[str, Any]:
    """One process of a fleet: one client, its threads, for `seconds` from the start the parent
    sends on stdin once every process of the cell has said it is ready (its client built)."""
    learning_log(f"{config['cell']}, {config['kind']}, process {config['process']}")
    warnings = RedisWarnings()
    sdk_logger = logging.getLogger("cortexio_sdk")
    sdk_logger.addHandler(warnings)
    sdk_logger.setLevel(logging.WARNING)
    by_second: Counter[tuple[int, int]] = Counter()
    counting = Counting(Counter(), limits(config["threads"]), by_second)
    call, _ = sync_caller(
        config["kind"],
        config["url"],
        config["job_id"],
        counting,
        limit=config["limit"],
        redis_url=config["redis_url"],
    )
    start = wait_for_start()
    margin = start - time.monotonic()
    tally = run_threads(call, counting, config["threads"], start, config["seconds"])
    return {
        "start_margin_s": margin,
        "warnings": list(warnings.messages),
        **tally.per_second(config["seconds"]),
    }


def one_cell(cell: Cell, seconds: float) -> dict[str, Any]:
    """Every client's fleet at once, each against a fresh fake (and redis-server) of its own."""
    shape = SHAPES[cell.shape]
    with contextlib.ExitStack() as stack:
        fleets: dict[str, list[subprocess.Popen[str]]] = {}
        redis: dict[str, RedisServer] = {}
        started: list[subprocess.Popen[str]] = []
        stack.enter_context(ended(started, seconds))  # sees every process started below
        for kind in cell.kinds:
            url = stack.enter_context(fake(job_seconds=3600, extra=shape.fake_options()))
            if kind in ON_REDIS:
                redis[kind] = stack.enter_context(RedisServer())
            config = {
                "kind": kind,
                "url": url,
                "job_id": create_job(url),
                "redis_url": redis[kind].url if kind in redis else None,
                "limit": shape.limit,
                "threads": cell.threads,
                "seconds": seconds,
                "cell": cell.name,
            }
            fleets[kind] = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.fleet",
                        "--worker",
                        json.dumps({**config, "process": process}),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for process in range(cell.processes)
            ]
            started += fleets[kind]
        every = [process for fleet in fleets.values() for process in fleet]
        start_at = start_together(every, f"fleet {cell.name}", START_LEAD)
        if cell.redis_killed:
            time.sleep(max(0.0, start_at + seconds / 2 - time.time()))
            for server in redis.values():
                server.kill()
        runs = {
            kind: [collect(p, f"fleet {cell.name} {kind} worker {n}") for n, p in enumerate(fleet)]
            for kind, fleet in fleets.items()
        }
    clients = {}
    for kind, processes in runs.items():
        late = sum(p["start_margin_s"] <= 0 for p in processes)
        check(not late, f"{cell.name} {kind}: {late} worker(s) not ready at the common start")
        statuses: set[str] = set().union(*(p["statuses"] for p in processes))
        check(statuses <= {"200", "429"}, f"{cell.name} {kind}: statuses {statuses}")
        clients[kind] = figures(processes, shape.limit, seconds)
        clients[kind]["warnings_per_process"] = [len(p["warnings"]) for p in processes]
        clients[kind]["warnings"] = sorted({w for p in processes for w in p["warnings"]})
    return {
        "shape": cell.shape,
        "processes": cell.processes,
        "threads": cell.threads,
        "redis_killed": cell.redis_killed,
        "limit_per_s": shape.limit,
        "clients": clients,
    }


def _option(name: str) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


def main() -> None:
    """The cells one after another (`--quick`: CI's; `--only TEXT`: those whose name holds it),
    `--seconds S` each; `--worker CONFIG` is one process of a fleet."""
    if "--worker" in sys.argv:
        emit(worker(json.loads(sys.argv[sys.argv.index("--worker") + 1])))
        sys.stdout.flush()
        os._exit(0)  # calls left under way must not hold the exit
    learning_log_option()
    quick = quick_flag()
    seconds = float(_option("--seconds") or (QUICK_SECONDS if quick else SECONDS))
    sample: tuple[Cell, ...] = QUICK_CELLS if quick else CELLS
    if (only := _option("--only")) is not None:
        sample = tuple(cell for cell in sample if only in cell.name)
    skipped = {cell.name: missing_options(SHAPES[cell.shape]) for cell in sample}
    skipped = {name: options for name, options in skipped.items() if options}
    cells = {c.name: one_cell(c, seconds) for c in sample if c.name not in skipped}
    emit(
        {
            "seconds": seconds,
            "figure_7_cell": FIGURE_7.name if FIGURE_7.name in cells else None,
            "spans": spans(seconds),
            "cells": cells,
            "skipped": skipped,
        }
    )


if __name__ == "__main__":
    main()
