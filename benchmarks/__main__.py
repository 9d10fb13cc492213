"""`python -m benchmarks [--quick] [--output FILE]`: run every figure, write or print the table.

Polling, rate-limit goodput and the fleet run side by side first (they mostly sleep, and each
paces itself against a clock or a rate limit, not the CPU); the figures timed against the CPU run
after them, one at a time. Any figure that raises or measures a wrong result fails the run.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._render import render

FIGURES_SIDE_BY_SIDE = ("polling", "goodput", "fleet")
FIGURES_ALONE = ("call_cost", "parsing", "scale", "import_time", "sweep")


def _start(figure: str, quick: bool) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", f"benchmarks.{figure}", *(["--quick"] if quick else [])]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def _finish(figure: str, process: subprocess.Popen[str], started: float) -> dict[str, Any]:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"benchmark {figure} is broken: exit {process.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    print(f"{figure}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short durations, small sizes")
    parser.add_argument("--output", type=Path, help="write the Markdown here (else print it)")
    args = parser.parse_args()
    started = time.monotonic()
    results: dict[str, Any] = {}
    running = {figure: _start(figure, args.quick) for figure in FIGURES_SIDE_BY_SIDE}
    for figure, process in running.items():
        results[figure] = _finish(figure, process, started)
    for figure in FIGURES_ALONE:
        results[figure] = _finish(figure, _start(figure, args.quick), time.monotonic())
    machine = f"{platform.python_implementation()} {platform.python_version()}"
    machine += f", {platform.system()} {platform.machine()}"
    text = render(results, quick=args.quick, machine=machine, total=time.monotonic() - started)
    if args.output is not None:
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)


if __name__ == "__main__":
    main()
