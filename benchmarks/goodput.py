"""Figure 4, rate-limit goodput on the wall clock: a sample of the sweep's cells.

A cell is a server shape (a token bucket or a fixed window of the fake Cortex, see
`_ratelimited.SHAPES`), a number of callers and how they run (threads sharing one `Cortex`,
or asyncio tasks sharing one `AsyncCortex`); the callers GET one job's state back to back for
the run's duration. In each cell the SDK at its defaults (not told the limit) runs beside its
two anchors, plain retry and httpx-retries, each with a fake of its own (a bucket of its own)
and all at once, from one agreed start. Figure 4's first cell (10/s burst 10, 16 threads or
tasks) also runs the SDK told the limit, as it always has.

The simulator (figure 8) runs every cell of the sweep; this figure checks a sample of them on
real sockets, threads and event loops:

- figure 4's own cell, as threads and as tasks, its figures comparable with earlier runs;
- 5/s burst 1 with 16 threads: the timeline picture's run, where the SDK must learn the burst;
- the simulator's worst cells (16.7/s and 10/s at burst 1, 64 callers);
- then each rate at four of its five bursts, each burst at three or four rates, each caller
  count (1, 4, 16, 64) five or six times, threads and tasks alternating, both fixed windows
  twice, and one bucket that gives its Retry-After in the body only.

A fixed window starts when its fake does, a few seconds before the run (the processes start,
then wait for one another): so a minute's window ends during the run's second half, where the
simulator's, started with the run, ends at its end.

Goodput: accepted requests a second in a span over the server's limit; 429 share: the share of
all HTTP attempts in the span answered 429 (below every retry layer). Spans: the run's second
half (seconds 30-60 of 60), and its first third (0-20: the old figure 4 ran 20 s in all).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ._common import (
    AsyncCounting,
    Counting,
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
    async_caller,
    collect,
    create_job,
    ended,
    figures,
    limits,
    missing_options,
    run_tasks,
    run_threads,
    spans,
    start_together,
    sync_caller,
    wait_for_start,
)

SECONDS, QUICK_SECONDS = 60.0, 12.0
# Cells measured at once (each: a client process and a fake per client): about 30 processes
# that mostly sleep; the full sample then takes four rounds of a run each.
PARALLEL_CELLS = 6
START_LEAD = 1.5  # seconds from the last "ready" to the common start (a burst-1 bucket refills)


@dataclass(frozen=True)
class Cell:
    shape: str
    callers: int
    mode: str  # "threads" or "tasks"
    told: bool = False  # also the SDK told the limit (figure 4's own cell)

    @property
    def kinds(self) -> tuple[str, ...]:
        return (*KINDS, "sdk_told") if self.told else KINDS

    @property
    def name(self) -> str:
        return f"{self.shape}, {self.callers} {self.mode}"


FIGURE_4 = "bucket 10/s burst 1 s"  # = --rate-limit 10/s --burst 10
TIMELINE = Cell("bucket 5/s burst 1", 16, "threads")
CELLS = (
    Cell(FIGURE_4, 16, "threads", told=True),
    Cell(FIGURE_4, 16, "tasks", told=True),
    TIMELINE,
    Cell("bucket 16.7/s burst 1", 64, "tasks"),
    Cell("bucket 10/s burst 1", 64, "threads"),
    Cell("bucket 2/s burst 1", 1, "threads"),
    Cell("bucket 2/s burst 2", 4, "tasks"),
    Cell("bucket 2/s burst 5", 16, "tasks"),
    Cell("bucket 2/s burst 1 min", 64, "threads"),
    Cell("bucket 5/s burst 2", 1, "tasks"),
    Cell("bucket 5/s burst 5", 64, "tasks"),
    Cell("bucket 5/s burst 1 min", 4, "threads"),
    Cell("bucket 10/s burst 2", 4, "threads"),
    Cell("bucket 10/s burst 1 min", 1, "tasks"),
    Cell("bucket 16.7/s burst 2", 16, "tasks"),
    Cell("bucket 16.7/s burst 5", 1, "threads"),
    Cell("bucket 16.7/s burst 1 s", 64, "threads"),
    Cell("window 10 per s", 16, "threads"),
    Cell("window 10 per s", 4, "tasks"),
    Cell("window 600 per min", 64, "tasks"),
    Cell("window 600 per min", 1, "threads"),
    Cell("bucket 10/s burst 1 s, Retry-After in body", 16, "threads"),
)
# CI's smoke run: figure 4's cell both ways, the timeline's, a fixed window; 12 s each, at once.
QUICK_CELLS = (CELLS[0], CELLS[1], TIMELINE, Cell("window 10 per s", 16, "threads"))


def one_run(spec: dict[str, Any]) -> dict[str, Any]:
    """One client against a fake of its own: says "ready" once the fake's job exists, runs from
    the start the parent sends, and returns its counts per second."""
    shape = SHAPES[spec["shape"]]
    kind, mode, callers, seconds = spec["kind"], spec["mode"], spec["callers"], spec["seconds"]
    learning_log(f"{spec['shape']}, {callers} {mode}, {kind}")
    with fake(job_seconds=3600, extra=shape.fake_options()) as url:
        job_id = create_job(url)
        by_second: Counter[tuple[int, int]] = Counter()
        if mode == "threads":
            counting = Counting(Counter(), limits(callers), by_second)
            call, _ = sync_caller(kind, url, job_id, counting, limit=shape.limit, redis_url=None)
            start = wait_for_start()
            margin = start - time.monotonic()
            tally = run_threads(call, counting, callers, start, seconds)
        else:
            acounting = AsyncCounting(Counter(), limits(callers), by_second)

            async def run() -> tuple[float, Any]:
                acall, aclose = async_caller(kind, url, job_id, acounting, limit=shape.limit)
                start = wait_for_start()
                margin = start - time.monotonic()
                tally = await run_tasks(acall, acounting, callers, start, seconds)
                await aclose()
                return margin, tally

            margin, tally = asyncio.run(run())
    return {"start_margin_s": margin, **tally.per_second(seconds)}


def run_cells(cells: tuple[Cell, ...], seconds: float) -> dict[str, dict[str, Any]]:
    """The cells, PARALLEL_CELLS at a time; in each round every client starts together."""
    results: dict[str, dict[str, Any]] = {}
    for first in range(0, len(cells), PARALLEL_CELLS):
        round_cells = cells[first : first + PARALLEL_CELLS]
        processes = {
            (cell, kind): subprocess.Popen(
                [sys.executable, "-m", "benchmarks.goodput", "--one", json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for cell in round_cells
            for kind in cell.kinds
            for spec in [
                {
                    "shape": cell.shape,
                    "kind": kind,
                    "mode": cell.mode,
                    "callers": cell.callers,
                    "seconds": seconds,
                }
            ]
        }
        with ended(list(processes.values()), seconds):
            start_together(list(processes.values()), "goodput", START_LEAD)
            runs = {
                key: collect(p, f"goodput {key[0].name} {key[1]}") for key, p in processes.items()
            }
        for cell in round_cells:
            limit = SHAPES[cell.shape].limit
            clients = {}
            for kind in cell.kinds:
                run = runs[(cell, kind)]
                check(run["start_margin_s"] > 0, f"{cell.name} {kind} started late")
                unexpected = set(run["statuses"]) - {"200", "429"}
                check(not unexpected, f"{cell.name} {kind}: statuses {run['statuses']}")
                clients[kind] = figures([run], limit, seconds)
            results[cell.name] = {
                "shape": cell.shape,
                "callers": cell.callers,
                "mode": cell.mode,
                "limit_per_s": limit,
                "clients": clients,
            }
    return results


def _option(name: str) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


def main() -> None:
    """The sample (`--quick`: CI's), or the cells whose name holds `--only TEXT`, for
    `--seconds S` each; `--one SPEC` is one client's run of a cell."""
    if "--one" in sys.argv:
        emit(one_run(json.loads(sys.argv[sys.argv.index("--one") + 1])))
        # Calls left under way (daemon threads, a client's queue) must not hold the exit.
        sys.stdout.flush()
        os._exit(0)
    learning_log_option()
    quick = quick_flag()
    seconds = float(_option("--seconds") or (QUICK_SECONDS if quick else SECONDS))
    sample: tuple[Cell, ...] = QUICK_CELLS if quick else CELLS
    if (only := _option("--only")) is not None:
        sample = tuple(cell for cell in sample if only in cell.name)
    skipped = {cell.name: missing_options(SHAPES[cell.shape]) for cell in sample}
    skipped = {name: options for name, options in skipped.items() if options}
    cells = run_cells(tuple(c for c in sample if c.name not in skipped), seconds)
    emit(
        {
            "seconds": seconds,
            "parallel": PARALLEL_CELLS,
            "figure_4_cells": [c.name for c in sample if c.shape == FIGURE_4 and c.told],
            "timeline_cell": TIMELINE.name,
            "spans": spans(seconds),
            "cells": cells,
            "skipped": skipped,
        }
    )


if __name__ == "__main__":
    main()
