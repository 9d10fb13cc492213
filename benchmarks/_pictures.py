"""The rate-limit pictures of BENCHMARKS.md, drawn from one run's results (matplotlib, Agg).

- `rate-limit-goodput.png` and `rate-limit-429-share.png`: heatmaps over the sweep's cells
  (rows: server shapes, columns: callers), seconds 30-60 of 60. The SDK and plain retry come
  from the simulator (figure 8; plain retry where the simulator has it), httpx-retries from the
  wall clock only; cells measured on the wall clock (figure 4) are outlined and carry their
  measured values (t: threads, a: asyncio tasks) under the simulated one.
- `rate-limit-timeline.png`: accepted and 429 answers per second through figure 4's timeline
  run, the SDK beside plain retry.

The files hold no date or software version, so the same figures give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: before pyplot is imported

import matplotlib.pyplot as plt
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

DPI = 100
CALLERS = (1, 4, 16, 64)
NO_METADATA = {"Software": None}  # no version in the file: same figures, same bytes
GOODPUT = "rate-limit-goodput.png"
SHARE_429 = "rate-limit-429-share.png"
TIMELINE = "rate-limit-timeline.png"
MODE_MARKS = {"threads": "t", "tasks": "a"}


def _rows(sweep: dict[str, Any]) -> list[str]:
    """The simulator's shapes in its own order (buckets by rate and burst, then windows)."""
    return list(sweep["shapes"])


def _grid(cells: Sequence[dict[str, Any]], rows: list[str], key: str) -> list[list[float]]:
    by_cell = {(c["server"], c["callers"]): c[key] for c in cells}
    return [[by_cell.get((row, n), float("nan")) for n in CALLERS] for row in rows]


def _measured(goodput: dict[str, Any], kind: str, key: str) -> dict[tuple[str, int], list[str]]:
    """Wall-clock values of one client by (shape, callers), as "t 0.97" / "a 0.95" labels."""
    marks: dict[tuple[str, int], list[str]] = {}
    for cell in goodput["cells"].values():
        client = cell["clients"].get(kind)
        if client is None or cell["shape"].endswith("in body"):
            continue
        value = client[key]
        text = f"{value:.0%}" if key.startswith("share") else f"{value:.2f}"
        label = f"{MODE_MARKS[cell['mode']]} {text}"
        marks.setdefault((cell["shape"], cell["callers"]), []).append(label)
    return marks


def _panel(
    axes: Axes,
    values: list[list[float]],
    rows: list[str],
    title: str,
    marks: dict[tuple[str, int], list[str]],
    *,
    norm: colors.Normalize,
    cmap: str,
    share: bool,
    simulated: bool,
) -> AxesImage:
    image = axes.imshow(values, cmap=cmap, norm=norm, aspect="auto")
    axes.set_title(title, fontsize=9)
    axes.set_xticks(range(len(CALLERS)), [str(n) for n in CALLERS], fontsize=8)
    axes.set_xlabel("callers", fontsize=8)
    axes.set_yticks(range(len(rows)), rows, fontsize=7)
    for y, row in enumerate(rows):
        for x, callers in enumerate(CALLERS):
            value = values[y][x]
            lines = []
            if simulated and not math.isnan(value):
                lines.append(f"{value:.0%}" if share else f"{value:.2f}")
            measured = marks.get((row, callers), [])
            lines += measured
            if measured:
                axes.add_patch(
                    Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, linewidth=1.5, color="black")
                )
            if lines:
                axes.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=5.5)
    return image


def _wall_grid(goodput: dict[str, Any], rows: list[str], kind: str, key: str) -> list[list[float]]:
    """A wall-clock-only panel's colours: the mean of a cell's measured runs (else blank)."""
    found: dict[tuple[str, int], list[float]] = {}
    for cell in goodput["cells"].values():
        client = cell["clients"].get(kind)
        if client is not None and not cell["shape"].endswith("in body"):
            found.setdefault((cell["shape"], cell["callers"]), []).append(client[key])
    return [
        [sum(v) / len(v) if (v := found.get((row, n))) else float("nan") for n in CALLERS]
        for row in rows
    ]


def _heatmap(results: dict[str, Any], key: str, label: str, share: bool, path: Path) -> None:
    sweep, goodput = results["sweep"], results["goodput"]
    rows = _rows(sweep)
    # (title, colours, labels of the measured cells, whether the colours are simulated)
    panels = [("SDK (simulated)", _grid(sweep["cells"], rows, key), "sdk", True)]
    if sweep.get("plain_cells"):
        panels.append(
            ("plain retry (simulated)", _grid(sweep["plain_cells"], rows, key), "plain", True)
        )
    else:
        panels.append(
            (
                "plain retry (wall clock only)",
                _wall_grid(goodput, rows, "plain", key),
                "plain",
                False,
            )
        )
    panels.append(
        (
            "httpx-retries (wall clock only)",
            _wall_grid(goodput, rows, "httpx_retries", key),
            "httpx_retries",
            False,
        )
    )
    norm = colors.PowerNorm(0.4, 0.0, 1.0) if share else colors.Normalize(0.0, 1.0)
    cmap = "RdYlGn_r" if share else "RdYlGn"
    figure, axes_row = plt.subplots(
        1, len(panels), figsize=(3.6 * len(panels) + 1.2, 8.2), sharey=True, layout="constrained"
    )
    images = [
        _panel(
            axes,
            values,
            rows,
            title,
            _measured(goodput, kind, key),
            norm=norm,
            cmap=cmap,
            share=share,
            simulated=simulated,
        )
        for axes, (title, values, kind, simulated) in zip(axes_row, panels, strict=True)
    ]
    figure.colorbar(images[0], ax=list(axes_row), shrink=0.6, label=label)
    first, last = goodput["spans"]["late"]
    figure.suptitle(
        f"{label}, each run's second half (simulated: s 30-60 of 60; wall clock: s {first}-"
        f"{last} of {goodput['seconds']:g}); outlined: measured on the wall clock "
        "(t: threads, a: tasks)",
        fontsize=9,
    )
    figure.savefig(path, dpi=DPI, metadata=NO_METADATA)
    plt.close(figure)


def _timeline(results: dict[str, Any], path: Path) -> bool:
    goodput = results["goodput"]
    cell = goodput["cells"].get(goodput["timeline_cell"])
    if cell is None:
        return False
    limit = cell["limit_per_s"]
    figure, axes_row = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True, layout="constrained")
    for axes, kind in zip(axes_row, ("sdk", "plain"), strict=True):
        client = cell["clients"][kind]
        seconds = [s + 0.5 for s in range(len(client["ok_per_s"]))]  # each count mid-second
        axes.plot(seconds, client["ok_per_s"], color="tab:green", label="accepted")
        axes.plot(seconds, client["r429_per_s"], color="tab:red", label="answered 429")
        axes.axhline(limit, color="grey", linestyle="--", linewidth=1, label="server's limit")
        first, last = goodput["spans"]["late"]
        axes.axvspan(first, last, color="tab:blue", alpha=0.07, label="second half")
        axes.set_title(
            f"{'SDK (defaults)' if kind == 'sdk' else 'plain retry'}: "
            f"goodput {client['goodput_late']:.2f}, {client['share_429_late']:.0%} 429s "
            "in the second half",
            fontsize=9,
        )
        axes.set_xlabel("second of the run", fontsize=8)
        axes.tick_params(labelsize=8)
    axes_row[0].set_ylabel("requests per second", fontsize=8)
    axes_row[0].legend(fontsize=7, loc="upper right")
    figure.suptitle(f"{goodput['timeline_cell']} (wall clock)", fontsize=9)
    figure.savefig(path, dpi=DPI, metadata=NO_METADATA)
    plt.close(figure)
    return True


def draw(results: dict[str, Any], folder: Path) -> list[tuple[str, Path]]:
    """Write the pictures into `folder`; returns (caption, path) of each written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    _heatmap(results, "goodput_late", "goodput / limit", False, folder / GOODPUT)
    written.append(("Goodput over the sweep's cells", folder / GOODPUT))
    _heatmap(results, "share_429_late", "share of attempts answered 429", True, folder / SHARE_429)
    written.append(("429 share over the sweep's cells", folder / SHARE_429))
    if _timeline(results, folder / TIMELINE):
        written.append(("One wall-clock run, second by second", folder / TIMELINE))
    return written
