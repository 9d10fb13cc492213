"""`python -m benchmarks [--quick] [--output FILE] [--figures DIR] [--results JSON]`: run every
figure, write or print the table, draw the pictures.

Polling, rate-limit goodput and the fleet run side by side first (they mostly sleep, and each
paces itself against a clock or a rate limit, not the CPU); the figures timed against the CPU run
after them, one at a time. Any figure that raises or measures a wrong result fails the run.
The pictures go to DIR (referenced from FILE); without --figures they are drawn in a temporary
folder and left out of the table (the quick run checks that they draw). `--results JSON` keeps
every figure's measurements there; `--from JSON` draws and writes from such a file without
measuring again (to change the text, not the figures).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._pictures import draw
from ._render import render

# Each picture should stay small enough to commit and to show on a repository page.
PICTURE_BYTES = 200_000

FIGURES_SIDE_BY_SIDE = ("polling", "goodput", "fleet")
FIGURES_ALONE = ("call_cost", "parsing", "scale", "import_time", "spread", "sweep")


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


def _draw(
    results: dict[str, Any], folder: Path | None, output: Path | None
) -> list[tuple[str, str]]:
    """Draw the pictures; returns (caption, path from the Markdown's folder) for the table."""
    with tempfile.TemporaryDirectory() as scratch:
        drawn = draw(results, folder if folder is not None else Path(scratch))
        for _, path in drawn:
            size = path.stat().st_size
            print(f"{path.name}: {size / 1000:.0f} kB", file=sys.stderr)
            if size > PICTURE_BYTES:
                raise SystemExit(f"picture {path.name} is {size:,} bytes, over {PICTURE_BYTES:,}")
    if folder is None:
        return []
    base = (output or Path("BENCHMARKS.md")).resolve().parent
    return [(caption, path.resolve().relative_to(base).as_posix()) for caption, path in drawn]


def _measure(quick: bool) -> tuple[dict[str, Any], str, float]:
    """Every figure's measurements, the machine, and the seconds they took."""
    started = time.monotonic()
    results: dict[str, Any] = {}
    running = {figure: _start(figure, quick) for figure in FIGURES_SIDE_BY_SIDE}
    for figure, process in running.items():
        results[figure] = _finish(figure, process, started)
    for figure in FIGURES_ALONE:
        results[figure] = _finish(figure, _start(figure, quick), time.monotonic())
    machine = f"{platform.python_implementation()} {platform.python_version()}"
    machine += f", {platform.system()} {platform.machine()}"
    return results, machine, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short durations, small sizes")
    parser.add_argument("--output", type=Path, help="write the Markdown here (else print it)")
    parser.add_argument("--figures", type=Path, help="draw the pictures into this folder")
    parser.add_argument("--results", type=Path, help="also keep the measurements here (JSON)")
    parser.add_argument("--from", dest="source", type=Path, help="measurements kept by --results")
    args = parser.parse_args()
    if args.source is not None:
        kept = json.loads(args.source.read_text())
    else:
        results, machine, total = _measure(args.quick)
        kept = {"results": results, "machine": machine, "seconds": total, "quick": args.quick}
        if args.results is not None:
            args.results.write_text(json.dumps(kept))
    pictures = _draw(kept["results"], args.figures, args.output)
    text = render(
        kept["results"],
        quick=kept["quick"],
        machine=kept["machine"],
        total=kept["seconds"],
        pictures=pictures,
    )
    if args.output is not None:
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)


if __name__ == "__main__":
    main()
