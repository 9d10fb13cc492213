"""Figure 8, the limiter across server shapes: every shape of issue 13's sweep, simulated.

The SDK's own limiter and retry decisions (tests/support/ratesim.py) against simulated token
buckets (rates 2, 5, 10 and 16.7/s; bursts 1, 2, 5, a second's and a minute's worth) and fixed
windows (per second, per minute), with 1, 4, 16 and 64 callers sharing one client at its
defaults (not told the limit), 60 simulated seconds each, worst cell first; and, where the
simulator has it, plain retry (each caller sleeps the Retry-After and resends, no limiter) in
the same cells. Figures 4 and 7 measure a sample of these cells on the wall clock.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from ._common import check, emit

# The simulator lives with the tests, which pin its arithmetic (tests/test_ratesim.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from ratesim import shapes, simulate

CALLERS = (1, 4, 16, 64)
SECONDS = 60.0


def _cells(client: str | None) -> list[dict[str, Any]]:
    """Every shape x CALLERS for one client (None: the simulator's only one, the SDK)."""
    chosen = {} if client is None else {"client": client}
    cells = []
    for name, make in shapes():
        for callers in CALLERS:
            run = simulate(make(), callers=callers, seconds=SECONDS, **chosen)
            cells.append(
                {
                    "server": name,
                    "callers": callers,
                    "goodput_late": run.goodput(30, 60),
                    "share_429_late": run.share_429(30, 60),
                    "goodput_early": run.goodput(0, 20),
                    "share_429_early": run.share_429(0, 20),
                    "failed": run.failed,
                }
            )
    check(len(cells) == 22 * len(CALLERS), "the sweep lost a cell")
    cells.sort(key=lambda c: (c["goodput_late"], -c["share_429_late"]))
    return cells


def main() -> None:
    """The SDK's cells; plain retry's too where the simulator has it (`client="plain"`)."""
    has_plain = "client" in inspect.signature(simulate).parameters
    emit(
        {
            "seconds": SECONDS,
            "shapes": [name for name, _ in shapes()],  # the simulator's order, for the pictures
            "cells": _cells("sdk" if has_plain else None),
            "plain_cells": _cells("plain") if has_plain else None,
        }
    )


if __name__ == "__main__":
    main()
