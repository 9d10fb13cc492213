"""BENCHMARKS.md from one run's results: every figure in it is one this run measured."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


# Issue 13's target for every cell of the sweep, simulated or on the wall clock.
SWEEP_TARGET = "every cell >= 0.95, <= 1 % 429s (second half), no failed call (issue 13)"


# The same with the learning half of the bound, for the simulated sweep (figure 8).
SWEEP_TARGET_FULL = (
    "every cell >= 0.95, <= 1 % 429s (seconds 30-60); >= 0.6, <= 12 % 429s (0-20); "
    "no failed call (issue 13)"
)


SWEEP_HEADER = (
    "| server | callers | SDK: goodput, 429s (s 30-60) | SDK (s 0-20) | failed "
    "| plain retry (s 30-60) | SDK told the limit (s 30-60) | issue 13's bounds |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|"
)


def _meets_issue(figures: dict[str, Any]) -> bool:
    return _meets(figures) and _early_ok(figures)


def _meets(figures: dict[str, Any]) -> bool:
    return _late_ok(figures) and figures["failed"] == 0


def _late_ok(figures: dict[str, Any]) -> bool:
    """Issue 13's steady bounds (seconds 30-60)."""
    return bool(figures["goodput_late"] >= 0.95 and figures["share_429_late"] <= 0.01)


def _early_ok(figures: dict[str, Any]) -> bool:
    """Issue 13's learning bounds (seconds 0-20)."""
    return bool(figures["goodput_early"] >= 0.6 and figures["share_429_early"] <= 0.12)


def _worst_first(cells: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The cells, those where the SDK misses the target first, each group by goodput."""

    def key(item: tuple[str, dict[str, Any]]) -> tuple[bool, float, float]:
        sdk = item[1]["clients"]["sdk"]
        return (_meets(sdk), sdk["goodput_late"], -sdk["share_429_late"])

    return sorted(cells.items(), key=key)


def _span(figure: dict[str, Any], name: str) -> str:
    first, last = figure["spans"][name]
    return f"s {first}-{last}"


def _pair(figures: dict[str, Any], span: str) -> str:
    return f"{figures[f'goodput_{span}']:.2f}, {figures[f'share_429_{span}']:.0%} 429s"


def _three(clients: dict[str, Any], key: str) -> str:
    """The SDK's value (bold), then plain retry's and httpx-retries'."""
    share = key.startswith("share")

    def text(value: float) -> str:
        return f"{value:.1%}" if share else f"{value:.2f}"

    others = " / ".join(text(clients[kind][key]) for kind in ("plain", "httpx_retries"))
    return f"**{text(clients['sdk'][key])}** / {others}"


def _cell_rows(figure: dict[str, Any], where: Any, why: Any) -> str:
    rows = []
    for _, cell in _worst_first(figure["cells"]):
        clients = cell["clients"]
        failed = " / ".join(str(clients[k]["failed"]) for k in ("sdk", "plain", "httpx_retries"))
        verdict = "met" if _meets(clients["sdk"]) else f"**not met**: {why(cell)}"
        rows.append(
            f"| {cell['shape']} | {where(cell)} | {_three(clients, 'goodput_late')} "
            f"| {_three(clients, 'share_429_late')} | {_three(clients, 'goodput_early')} "
            f"| {_three(clients, 'share_429_early')} | {failed} | {verdict} |"
        )
    return "\n".join(rows)


def _wall_why(sweep: dict[str, Any], spread: dict[str, Any] | None) -> Any:
    """Why a wall-clock cell misses, from the same run's simulation: the simulated cell of the
    same shape (callers rounded to the sweep's), its miss and what the SDK told the limit gets;
    else, at a bucket of one, the measured spread and what the best pace gets at it; else what
    the SDK and the best pace get there on a machine that stalls."""
    simulated = {(c["server"], c["callers"]): c for c in sweep["cells"]}
    callers = sorted({c["callers"] for c in sweep["cells"]})

    def why(cell: dict[str, Any]) -> str:
        shape = cell["shape"].split(",")[0]
        count = cell.get("callers") or cell["processes"] * cell["threads"]
        nearest = min(callers, key=lambda n: abs(n - count))
        sim = simulated.get((shape, nearest))
        if sim is None:
            return "not simulated"
        if not sim["meets"]:
            told = sim["told"]
            return (
                f"missed when simulated too ({sim['why']}); told the limit, simulated: "
                f"{told['goodput_late']:.2f}, {told['share_429_late']:.1%} 429s"
            )
        mode = cell.get("mode", "threads")
        loaded = spread.get("loaded", {}) if spread is not None else {}
        if shape.endswith("burst 1") and mode in loaded:
            measured = loaded[mode]["mean_ms"] / 1000
            rows = [r for r in sweep.get("spread", []) if r["server"] == shape]
            if rows:
                row = min(rows, key=lambda r: abs(r["jitter"] - measured))
                return (
                    f"met when simulated with no spread; under figure 4's load, {mode}' "
                    f"requests reached the fake {measured * 1000:.1f} ms apart from their pace "
                    f"on average, and at a {row['jitter'] * 1000:g} ms spread the best fixed "
                    f"pace gets {row['best']['goodput']:.2f} (figure 8)"
                )
        stalled = [r for r in sweep.get("stalled", []) if r["server"] == shape]
        if stalled:
            sdk = [r["sdk"]["goodput_late"] for r in stalled]
            best = [r["best"]["goodput"] for r in stalled]
            return (
                f"met when simulated ({sim['goodput_late']:.2f}, "
                f"{sim['share_429_late']:.1%} 429s), and on a machine that stalls now and then "
                f"{_range(sdk, 2)}, where the best fixed pace gets {_range(best, 2)} "
                "(figure 8): lost on the wall clock"
            )
        return (
            f"met when simulated ({sim['goodput_late']:.2f}, {sim['share_429_late']:.1%} 429s): "
            "lost on the wall clock"
        )

    return why


def _sweep_row(label: str, figure: dict[str, Any], where: Any) -> str:
    cells = _worst_first(figure["cells"])
    if not cells:
        return f"| {label}, no cell measured | - | - | - | {SWEEP_TARGET} | - |"
    _, worst = cells[0]
    sdk = worst["clients"]["sdk"]
    meeting = {
        kind: sum(_meets(cell["clients"][kind]) for _, cell in cells)
        for kind in ("sdk", "plain", "httpx_retries")
    }
    return (
        f"| {label}, {len(cells)} cells on the wall clock "
        f"| cells meeting the target: plain retry {meeting['plain']}, httpx-retries "
        f"{meeting['httpx_retries']} | worst SDK cell: {worst['shape']}, {where(worst)}: "
        f"**{sdk['goodput_late']:.2f}** of the limit, {sdk['share_429_late']:.1%} 429s "
        f"({_span(figure, 'late')}), {sdk['failed']} failed | {meeting['sdk']} of {len(cells)} "
        f"cells meet it | {SWEEP_TARGET} | {_met(meeting['sdk'] == len(cells))} |"
    )


def _header(what: str, figure: dict[str, Any]) -> str:
    late, early = _span(figure, "late"), _span(figure, "early")
    return (
        f"| server | {what} | goodput {late} | 429s {late} | goodput {early} | 429s {early} "
        "| failed | SDK |\n|---|---|---:|---:|---:|---:|---:|---|"
    )


def _callers(cell: dict[str, Any]) -> str:
    return f"{cell['callers']} {cell['mode']}"


def _fleet(cell: dict[str, Any]) -> str:
    killed = ", Redis killed" if cell["redis_killed"] else ""
    return f"{cell['processes']} x {cell['threads']} threads{killed}"


def _skipped(*figures: dict[str, Any]) -> str:
    skipped = {name: options for f in figures for name, options in f["skipped"].items()}
    if not skipped:
        return ""
    lines = ", ".join(f"{name} (needs {' '.join(o)})" for name, o in skipped.items())
    return f"\nNot measured in this run, the fake Cortex lacking an option: {lines}.\n"


def _goodput_rows(goodput: dict[str, Any]) -> list[str]:
    """Figure 4's summary rows: its own cell both ways, then the sweep's worst cell."""
    rows = []
    early, late = _span(goodput, "early"), _span(goodput, "late")
    for name in goodput["figure_4_cells"]:
        if (cell := goodput["cells"].get(name)) is None:
            continue
        clients = cell["clients"]
        sdk, told = clients["sdk"], clients["sdk_told"]
        others = [clients[kind] for kind in ("httpx_retries", "plain")]
        better = all(
            sdk["goodput_early"] >= o["goodput_early"]
            and sdk["share_429_early"] < o["share_429_early"]
            for o in others
        )
        ok = sdk["goodput_early"] >= 0.9 and sdk["share_429_early"] <= 0.05 and better
        alt = "; ".join(
            f"{label}: {_pair(clients[kind], 'early')} ({_pair(clients[kind], 'late')})"
            for kind, label in (("httpx_retries", "httpx-retries"), ("plain", "plain retry"))
        )
        rows.append(
            f"| 4 goodput, 10/s burst 10, {_callers(cell)}, {early} ({late}) | {alt} "
            f"| SDK (defaults): **{sdk['goodput_early']:.2f}**, **{sdk['share_429_early']:.1%}** "
            f"429s ({_pair(sdk, 'late')}); told the limit: {_pair(told, 'early')} "
            f"| goodput / limit, 429 share | {early}: >= 0.9, <= 5 %, better than both "
            f"| {_met(ok)} |"
        )
    rows.append(_sweep_row("4 sweep", goodput, _callers))
    return rows


def _fleet_rows(fleet: dict[str, Any]) -> list[str]:
    """Figure 7's summary rows: its own cell, each Redis-killed cell, the sweep's worst."""
    rows = []
    if (cell := fleet["cells"].get(fleet["figure_7_cell"])) is not None:
        clients = cell["clients"]
        shared = clients.get("sdk_told", clients["sdk"])
        told = "told the limit" if "sdk_told" in clients else "at its defaults"
        untold = f" (not told: {_pair(clients['sdk'], 'late')})" if "sdk_told" in clients else ""
        anchors = "; ".join(
            f"{name}: {_pair(clients[kind], 'late')}"
            for kind, name in (
                ("per_process", "per-process limiters"),
                ("plain", "plain retry"),
                ("httpx_retries", "httpx-retries"),
            )
            if kind in clients
        )
        rows.append(
            f"| 7 fleet, {cell['shape']}, {_fleet(cell)}, one key, {_span(fleet, 'late')} "
            f"| {anchors} | `RedisLimiter` {told}: **{shared['goodput_late']:.2f}**, "
            f"**{shared['share_429_late']:.1%}** 429s{untold} "
            f"| goodput / limit, 429 share | Redis limiter: goodput >= 0.9 and 429 share <= 5 % "
            f"| {_met(shared['goodput_late'] >= 0.9 and shared['share_429_late'] <= 0.05)} |"
        )
    for cell in fleet["cells"].values():
        if not cell["redis_killed"]:
            continue
        sdk = cell["clients"]["sdk"]
        warnings = sdk["warnings_per_process"]
        rows.append(
            f"| 7 fleet, Redis killed at {fleet['spans']['late'][0]} s: {cell['shape']}, "
            f"{cell['processes']} x {cell['threads']} threads "
            f"| before the kill ({_span(fleet, 'early')}): {_pair(sdk, 'early')}; plain retry "
            f"after it: {_pair(cell['clients']['plain'], 'late')} "
            f"| after it ({_span(fleet, 'late')}): **{sdk['goodput_late']:.2f}**, "
            f"{sdk['share_429_late']:.1%} 429s; **{sdk['failed']}** calls failed; Redis "
            f"warnings per process: {', '.join(map(str, warnings))} | goodput / limit after the "
            f"kill | no call fails; one warning per process "
            f"| {_met(sdk['failed'] == 0 and all(n == 1 for n in warnings))} |"
        )
    rows.append(_sweep_row("7 fleet sweep", fleet, _fleet))
    return rows


# Issue 16's target for figure 2.
PARSING_TARGET = "time <= 1x, memory <= 1x of httpx + `json.loads` (issue 16)"


def _parsing_rows(r: dict[str, Any], missing: Sequence[str]) -> list[str]:
    """Figure 2 at one size: the SDK against json.loads, then the other decoders on the same
    body, each as its ratio to json.loads, so that the SDK's ratios read against the limits."""
    ok = r["time_ratio"] <= 1.0 and r["memory_ratio"] <= 1.0
    rows = [
        f"| 2 parsing {r['entities']:,} entities | httpx + `json.loads`: "
        f"{r['raw_s'] * 1000:.0f} ms, {r['raw_peak_mb']:.1f} MB peak "
        f"| `get()`: {r['sdk_s'] * 1000:.0f} ms, {r['sdk_peak_mb']:.1f} MB peak "
        f"| **{r['time_ratio']:.2f}x** time, **{r['memory_ratio']:.2f}x** memory "
        f"| {PARSING_TARGET} | {_met(ok)} |"
    ]
    anchors = r.get("anchors", {})
    if anchors or missing:
        others = "; ".join(
            f"{a['label']}: {a['s'] * 1000:.0f} ms, {a['peak_mb']:.1f} MB "
            f"(**{a['time_ratio']:.2f}x**, {a['memory_ratio']:.2f}x)"
            for a in anchors.values()
        )
        if missing:
            others += f"{'; ' if others else ''}not installed in this run: {', '.join(missing)}"
        fastest = min(anchors.values(), key=lambda a: a["time_ratio"], default=None)
        limit = (
            f"fastest: {fastest['label']}, `get()` takes {r['sdk_s'] / fastest['s']:.1f}x its time"
            if fastest is not None
            else "-"
        )
        rows.append(
            f"| 2 parsing {r['entities']:,} entities: other decoders, same body (ratios to "
            f"httpx + `json.loads`: time, memory) | {others} "
            f"| `get()`: **{r['time_ratio']:.2f}x**, {r['memory_ratio']:.2f}x | {limit} "
            f"| (none set: the limits figure 2 is read against) | - |"
        )
    return rows


CHANGE_HEADER = (
    "| server | limit | measured over | goodput of the new limit | 429s | failed "
    "| told the new limit: goodput, 429s | issue 13's bounds |\n"
    "|---|---|---|---:|---:|---:|---:|---|"
)

SPREAD_HEADER = (
    "| server | mean spread | SDK: goodput, 429s | best pace | best pace: goodput, 429s "
    "| SDK / best | failed |\n|---|---:|---:|---:|---:|---:|---:|"
)


def _matrix(rows: Sequence[dict[str, Any]], text: Callable[[dict[str, Any]], str]) -> list[str]:
    """A table of token buckets, one line per rate and a column per burst, in the order the
    sweep ran them; `text(cell)` is a cell's text."""
    bursts = list(dict.fromkeys(r["burst"] for r in rows))
    lines = [
        "| limit | " + " | ".join(f"burst {b}" for b in bursts) + " |",
        "|---|" + "---:|" * len(bursts),
    ]
    for rate in dict.fromkeys(r["rate"] for r in rows):
        cells = {r["burst"]: r for r in rows if r["rate"] == rate}
        texts = [text(cells[b]) if b in cells else "-" for b in bursts]
        lines.append(f"| {rate:.3g}/s | " + " | ".join(texts) + " |")
    return lines


def _between_text(cell: dict[str, Any]) -> str:
    """Goodput and 429s over seconds 30-60; in bold, with the span that misses, if one does."""
    text = f"{cell['goodput_late']:.3f}, {cell['count_429_late']}"
    if cell["meets"]:
        return text
    spans = [
        name for name, ok in (("s 30-60", _late_ok(cell)), ("s 0-20", _early_ok(cell))) if not ok
    ]
    if cell["failed"]:
        spans.append(f"{cell['failed']} failed")
    return f"**{text}** ({', '.join(spans)})"


def _long_text(cell: dict[str, Any]) -> str:
    # (Three places: a cell just under 0.95 or just over 1 % would show as meeting them.)
    text = f"{cell['goodput']:.3f}, {cell['share_429']:.2%}"
    return text if cell["meets"] else f"**{text}**"


def _between_why(between: Sequence[dict[str, Any]]) -> str:
    """Beside the table of limits between the sweep's rates: what the SDK told the limit gets
    there, and why each cell that misses does, the cells grouped by reason."""
    if not between:
        return ""
    told = [c["told"] for c in between]
    worst_429 = max(t["count_429_late"] for t in told)
    lead = (
        "Told the limit (an oracle that knows the shape's rate), the SDK gets "
        + _range([t["goodput_late"] for t in told])
        + " of it over seconds 30-60 in these cells, with "
        + ("no 429" if worst_429 == 0 else f"at most {worst_429} 429s")
        + "."
    )
    missed = [c for c in between if not c["meets"]]
    if not missed:
        return lead
    groups: dict[str, list[dict[str, Any]]] = {}
    for cell in missed:
        for reason in cell["reasons"]:
            groups.setdefault(reason, []).append(cell)
    which = "the cell" if len(missed) == 1 else f"each of the {len(missed)} cells"
    lines = [
        lead,
        "",
        f"Why {which} misses, by reason (a cell may miss for two; each cell: the SDK's "
        "goodput and 429s over seconds 30-60, then told the limit):",
        "",
    ]
    for reason, cells in sorted(groups.items(), key=lambda item: -len(item[1])):
        names = ", ".join(
            f"{c['rate']:.3g}/s burst {c['burst']} ({c['goodput_late']:.3f}, "
            f"{c['count_429_late']}; told {c['told']['goodput_late']:.3f}, "
            f"{c['told']['count_429_late']})"
            for c in cells
        )
        lines.append(f"- {reason[0].upper()}{reason[1:]} ({len(cells)}): {names}.")
    return "\n".join(lines)


def _range(values: Sequence[float], places: int = 3) -> str:
    """The lowest and highest of `values`, or the one value they all are, to `places`."""
    low, high = f"{min(values):.{places}f}", f"{max(values):.{places}f}"
    return low if low == high else f"{low}-{high}"


def _long_why(long: Sequence[dict[str, Any]]) -> str:
    """Beside the ten-minute table: what the SDK told the limit gets, and why each cell that
    misses does."""
    if not long:
        return ""
    told = [c["told"] for c in long]
    lines = [
        "Told the limit, the SDK gets "
        + _range([t["goodput"] for t in told])
        + f" of it in these cells, with at most {max(t['share_429'] for t in told):.2%} 429s."
    ]
    missed = [c for c in long if not c["meets"]]
    if missed:
        lines += ["", "Why each cell that misses does:", ""]
        lines += [
            f"- bucket {c['rate']:.3g}/s burst {c['burst']}: {c['why']} (told: "
            f"{c['told']['goodput']:.3f}, {c['told']['share_429']:.2%})."
            for c in missed
        ]
    return "\n".join(lines)


def _change_row(cell: dict[str, Any]) -> str:
    """A row of the table of limits that change mid-run, with issue 13's verdict."""
    if cell["meets"] is None:
        verdict = "- (the issue sets no bound under 5/s)"
    else:
        verdict = "met" if cell["meets"] else f"**not met**: {cell['why']}"
    told = cell["told"]
    return (
        f"| {cell['server']} | {cell['change']} | s {cell['from']:g}-{cell['from'] + 30:g} "
        f"| {cell['goodput']:.2f} | {cell['share_429']:.1%} ({cell['count_429']}) "
        f"| {cell['failed']} | {told['goodput']:.2f}, {told['share_429']:.1%} | {verdict} |"
    )


def _changes_summary(changes: Sequence[dict[str, Any]]) -> str:
    """The top table's row for the limits that halve or double mid-run."""
    bound = [c for c in changes if c["meets"] is not None]
    if not bound:
        return ""
    met = sum(c["meets"] for c in bound)
    worst = min(bound, key=lambda c: (c["meets"], -c["share_429"], c["goodput"]))
    told = [c["told"]["goodput"] for c in changes]
    return (
        f"| 8 limits that halve or double mid-run, {len(changes)} cells (simulated) | told the "
        f"new limit: {_range(told, 2)} of it | worst cell: {worst['server']}, "
        f"{worst['change']}: **{worst['goodput']:.2f}** of the new limit, "
        f"{worst['share_429']:.1%} 429s ({worst['count_429']}) | {met} of the {len(bound)} "
        "cells the issue bounds meet it | halved: >= 0.9, < 1 % 429s from 15 s after; "
        f"doubled: >= 0.9 within 2 minutes from 5/s (issue 13) | {_met(met == len(bound))} |"
    )


def _first_seconds(goodput: dict[str, Any], sweep: dict[str, Any]) -> str:
    """Why figure 4's own cell (10/s burst 10) is slower over its first 20 s than the 20 s
    runs of this figure before issue 13's limiter."""
    cells = [goodput["cells"].get(name) for name in goodput.get("figure_4_cells", [])]
    walls = [c["clients"]["sdk"] for c in cells if c is not None]
    sims = [
        c for c in sweep["cells"] if c["server"] == "bucket 10/s burst 1 s" and c["callers"] == 16
    ]
    if not walls or not sims:
        return "- Figure 4's own cell (10/s burst 10) was not measured in this run."
    wall = ", ".join(f"{w['goodput_early']:.2f}" for w in walls)
    sim = sims[0]
    return f"""- Figure 4's own cell (10/s burst 10) over its first 20 s: {wall} of the limit on the
  wall clock in this run, {sim["goodput_early"]:.2f} simulated, where the 20 s runs of this figure
  before issue 13's limiter got 1.02 with 2.7 % of requests answered 429 (BENCHMARKS.md at
  35e5518). That limiter started at Cortex's documented 16.7/s and let a second's burst go after
  each hold-off, which a bucket of 10 holds; the same burst held buckets of 1-3 requests to
  0.25-0.48 of their limit (issue 13's table). This one starts at an eighth of the documented
  limit and doubles (2.1, 4.2, 8.3, then 16.4/s over the first 4 s: about 20 requests fewer than
  the limit lets through, 0.1 of the first 20 s), and lets nothing go early after a hold-off.
  Starting at the documented rate instead (`Tuning.start` 1.0 for 0.125) gives this cell 0.97
  over seconds 0-20, simulated, but a bucket of one at 2/s then answers 12.5 % of requests 429
  there, over the issue's 12 %, and the sweep meets 64 of its 88 cells, not 68 (`python -m
  benchmarks.sweep` with that default). Over seconds 30-60 the SDK keeps
  {sim["goodput_late"]:.2f} of the limit (simulated), about what plain retry and
  httpx-retries get, with a tenth of their 429s or fewer; told the limit,
  {sim["told"]["goodput_early"]:.2f} from the start."""


def _between_summary(between: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """The top table's row and the sentence that leads figure 8's table of limits between the
    sweep's rates."""
    if not between:
        return "", "This run measured no limits between the sweep's rates."
    met = sum(c["meets"] for c in between)
    worst = min(between, key=lambda c: (c["meets"], c["goodput_late"], -c["share_429_late"]))
    name = f"bucket {worst['rate']:.3g}/s burst {worst['burst']}"
    row = (
        f"| 8 limits between the sweep's rates, {len(between)} cells (simulated) | told the "
        f"limit: {_range([c['told']['goodput_late'] for c in between])} of it | worst cell: "
        f"{name}, 16 callers: "
        f"**{worst['goodput_late']:.3f}** of the limit, {worst['share_429_late']:.2%} 429s "
        f"(seconds 30-60) | {met} of {len(between)} cells meet it | {SWEEP_TARGET_FULL} "
        f"| {_met(met == len(between))} |"
    )
    missed = [c for c in between if not c["meets"]]
    if not missed:
        return row, f"All {len(between)} cells meet the bounds."
    lead = (
        f"{met} of {len(between)} cells meet the bounds. The worst: {name}, "
        f"{worst['goodput_late']:.3f} of the limit with {worst['count_429_late']} 429s in "
        f"seconds 30-60 ({worst['goodput_early']:.2f} and {worst['share_429_early']:.1%} in "
        "seconds 0-20). Below the table, why each cell that misses does."
    )
    return row, lead


def _long_summary(long: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """The top table's row and the sentence that leads figure 8's ten-minute table."""
    if not long:
        return "", "This run measured no bucket over ten minutes."
    met = sum(c["meets"] for c in long)
    worst = min(long, key=lambda c: (c["meets"], c["goodput"], -c["share_429"]))
    name = f"bucket {worst['rate']:.3g}/s burst {worst['burst']}"
    row = (
        f"| 8 token buckets over ten minutes, {len(long)} cells (simulated), minutes 2-10 "
        f"| told the limit: {_range([c['told']['goodput'] for c in long])} of it "
        f"| worst cell: {name}, 16 callers: **{worst['goodput']:.3f}** of the limit, "
        f"{worst['share_429']:.2%} 429s | {met} of {len(long)} cells meet it "
        f"| every cell >= 0.95, <= 1 % 429s, no failed call | {_met(met == len(long))} |"
    )
    lead = (
        f"{met} of {len(long)} cells keep to at least 0.95 of the limit with at most 1 % of "
        f"429s and no failed call. The worst: {name}, {worst['goodput']:.3f} of the limit, "
        f"{worst['share_429']:.2%} 429s ({worst['count_429']}), its worst minute "
        f"{worst['worst_minute']:.2f}."
    )
    return row, lead


def _beside_plain(cell: dict[str, Any], *figures: tuple[str, str]) -> str:
    """A row's cells from one simulated cell: each (key, format) as the SDK's figure in bold
    beside plain retry's, then both runs' failed calls."""
    sdk, plain = cell["sdk"], cell["plain"]
    texts = [f"**{sdk[key]:{spec}}**, {plain[key]:{spec}}" for key, spec in figures]
    texts.append(f"{sdk['failed']}, {plain['failed']}")
    return "| " + " | ".join(texts) + " |"


def _spread_texts(results: dict[str, Any], sweep: dict[str, Any]) -> tuple[str, str, str]:
    """Figure 8's spread table: the note on the measured spread, the sentence on where no pace
    gets 0.95, and the rows."""
    spread_note = "the mean spread was not measured in this run"
    if "spread" in results:
        spread = results["spread"]

        def means(measured: dict[str, Any]) -> str:
            return " and ".join(
                f"{m['mean_ms']:.1f} ms (99th percentile {m['p99_ms']:.1f} ms) with "
                f"{spread['callers']} {mode}"
                for mode, m in measured.items()
            )

        spread_note = (
            f"measured in this run at the fake's limiter, the SDK told {spread['rate']:g}/s, "
            f"`python -m benchmarks.spread`: on a quiet machine, a mean of "
            f"{means(spread['modes'])}; under the load of figure 4's first round of cells "
            f"(six at once, as figure 4 runs them), {means(spread['loaded'])}"
        )
    short: dict[float, list[str]] = {}
    for c in sweep.get("spread", []):
        if c["best"]["goodput"] < 0.95:
            short.setdefault(c["jitter"], []).append(c["server"].split()[1])
    spread_short = (
        "No pace gets 0.95 of the limit "
        + "; ".join(
            f"with a mean spread of {jitter * 1000:g} ms at {', '.join(rates)}"
            for jitter, rates in sorted(short.items())
        )
        + "."
        if short
        else "Some pace gets 0.95 of the limit at every spread here."
    )
    spread_rows = "\n".join(
        f"| {c['server']} | {c['jitter'] * 1000:g} ms | **{c['sdk']['goodput']:.2f}**, "
        f"{c['sdk']['share_429']:.1%} | {c['best']['pace']:.3f} | {c['best']['goodput']:.2f}, "
        f"{c['best']['share_429']:.1%} | {c['sdk']['goodput'] / c['best']['goodput']:.2f} "
        f"| {c['sdk']['failed']} |"
        for c in sweep.get("spread", [])
    )
    return spread_note, spread_short, spread_rows


KILLED_HEADER = (
    "| server | fleet | after the kill: goodput, 429s (s 30-60) | on Redis: goodput, 429s "
    "(s 0-20) | failed | Redis warnings | plain retry (s 30-60) |\n"
    "|---|---|---:|---:|---:|---:|---:|"
)


def _killed_ok(cell: dict[str, Any]) -> bool:
    """Issue 13's bounds for a fleet whose Redis was killed: no call fails, one warning per
    process, at least 0.8 of the limit after the kill."""
    sdk = cell["sdk"]
    return bool(
        sdk["failed"] == 0 and cell["warnings"] == cell["processes"] and sdk["goodput_late"] >= 0.8
    )


def _killed_texts(sweep: dict[str, Any]) -> tuple[str, str, str]:
    """Figure 8's table of fleets whose Redis was killed: the top table's row, its lead and
    its rows, worst first."""
    cells = sweep.get("killed", [])
    if not cells:
        return "", "This run measured no such fleet.", ""
    order = sorted(cells, key=lambda c: (_killed_ok(c), c["sdk"]["goodput_late"]))
    worst = order[0]
    met = sum(map(_killed_ok, cells))
    small = [c for c in cells if c["size"] <= 2]
    small_met = sum(map(_killed_ok, small))

    def fleet(cell: dict[str, Any]) -> str:
        return f"{cell['processes']} x {cell['callers']}"

    row = (
        f"| 8 fleets, Redis killed at {sweep['seconds'] / 2:g} s, {len(cells)} cells (simulated) "
        "| plain "
        f"retry (simulated): the same callers, nothing shared | worst cell: {worst['server']}, "
        f"{fleet(worst)}: **{worst['sdk']['goodput_late']:.2f}** of the limit after the kill, "
        f"{worst['sdk']['failed']} failed | {met} of {len(cells)} cells meet it ({small_met} of "
        f"{len(small)} with buckets of one or two) | no call fails, one warning per process, "
        f">= 0.8 after the kill (issue 13) | {_met(met == len(cells))} |"
    )
    lead = (
        f"{met} of {len(cells)} cells meet those bounds, {small_met} of the {len(small)} whose "
        f"bucket holds one or two. The worst: {worst['server']}, {fleet(worst)}, "
        f"**{worst['sdk']['goodput_late']:.2f}** of the limit after the kill with "
        f"{worst['sdk']['share_429_late']:.1%} 429s."
    )

    def pair(sdk: dict[str, Any], span: str) -> str:
        return f"{sdk['goodput_' + span]:.2f}, {sdk['share_429_' + span]:.1%}"

    rows = "\n".join(
        f"| {c['server']} | {fleet(c)} | "
        + (pair(sdk, "late") if _killed_ok(c) else f"**{pair(sdk, 'late')}**")
        + f" | {pair(sdk, 'early')} | {sdk['failed']} | {c['warnings']} of {c['processes']} "
        f"| {pair(c['plain'], 'late')} |"
        for c in order
        for sdk in [c["sdk"]]
    )
    return row, lead, rows


STALLED_HEADER = (
    "| server | stalls | SDK: goodput, 429s (s 30-60) | SDK: goodput, 429s (s 0-20) "
    "| best pace: goodput | SDK / best | plain retry: goodput, 429s | failed |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|"
)


def _stalled_texts(sweep: dict[str, Any]) -> tuple[str, str]:
    """Figure 8's table of a machine that stalls: its lead (how many cells meet the issue's
    bounds, the worst cell, the SDK's worst share of the best pace) and its rows, worst first."""
    cells = sweep.get("stalled", [])
    if not cells:
        return "This run measured no cell of it.", ""

    def stalls(cell: dict[str, Any]) -> str:
        every, length = cell["stalls"]
        return f"{length * 1000:g} ms every {every:g} s"

    def ratio(cell: dict[str, Any]) -> float:
        return float(cell["sdk"]["goodput_late"] / cell["best"]["goodput"])

    order = sorted(cells, key=lambda c: (_meets_issue(c["sdk"]), c["sdk"]["goodput_late"]))
    worst, lowest = order[0], min(cells, key=ratio)
    met = sum(_meets_issue(c["sdk"]) for c in cells)
    lead = (
        f"{met} of {len(cells)} cells meet issue 13's bounds. The worst: {worst['server']} with "
        f"stalls of {stalls(worst)}, **{worst['sdk']['goodput_late']:.3f}** of the limit and "
        f"{worst['sdk']['share_429_late']:.1%} 429s over seconds 30-60, where the best fixed "
        f"pace gets {worst['best']['goodput']:.3f}; the SDK's lowest share of the best pace is "
        f"{ratio(lowest):.2f} ({lowest['server']}, {stalls(lowest)})."
    )

    def pair(sdk: dict[str, Any], span: str, spec: str, ok: bool) -> str:
        text = f"{sdk['goodput_' + span]:{spec}}, {sdk['share_429_' + span]:.1%}"
        return text if ok else f"**{text}**"

    rows = "\n".join(
        f"| {c['server']} | {stalls(c)} | {pair(sdk, 'late', '.3f', _late_ok(sdk))} "
        f"| {pair(sdk, 'early', '.2f', _early_ok(sdk))} "
        f"| {c['best']['goodput']:.3f} | {ratio(c):.2f} "
        f"| {c['plain']['goodput_late']:.2f}, {c['plain']['share_429_late']:.1%} "
        f"| {sdk['failed']} |"
        for c in order
        for sdk in [c["sdk"]]
    )
    return lead, rows


def render(
    results: dict[str, Any],
    *,
    quick: bool,
    machine: str,
    total: float,
    pictures: Sequence[tuple[str, str]] = (),
) -> str:
    """The Markdown; `pictures`: (caption, path relative to the Markdown file) to show."""
    cost, parsing, polling = results["call_cost"], results["parsing"], results["polling"]
    goodput, scale, imports = results["goodput"], results["scale"], results["import_time"]
    fleet, sweep = results["fleet"], results["sweep"]
    rows: list[str] = []

    for mode in ("sync", "async"):
        r = cost[mode]
        rows.append(
            f"| 1 cost per call, {mode} | raw httpx GET + `.json()`: {r['raw_per_s']:.0f} calls/s "
            f"| `get()`, tracing off: {r['sdk_per_s']:.0f} calls/s | **{r['ratio']:.2f}** of raw "
            f"| >= 0.92 (issue 16) | {_met(r['ratio'] >= 0.92)} |"
        )
    for mode in ("sync", "async"):
        r = cost[mode]["traced"]
        rows.append(
            f"| 1 cost per call, {mode}, traced | raw httpx GET + `.json()`: "
            f"{r['raw_per_s']:.0f} calls/s (same process) | `get()` with an OpenTelemetry SDK "
            f"provider, every span and metric kept in memory: {r['sdk_per_s']:.0f} calls/s "
            f"| **{r['ratio']:.2f}** of raw ({r['ratio'] / cost[mode]['ratio']:.2f} of off) "
            f"| (none set) | - |"
        )
    for r in parsing["sizes"]:
        rows += _parsing_rows(r, parsing.get("missing_anchors", []))
    for r in polling["lengths"]:
        fewer = r["sdk_gets"] <= r["fixed_gets"] if r["seconds"] >= 60 else True
        ok = r["sdk_late_s"] < r["fixed_late_s"] and fewer
        target = "later: shorter" + ("; requests: no more" if r["seconds"] >= 60 else "")
        rows.append(
            f"| 3 polling, {r['seconds']:g} s job | fixed 2 s poller: {r['fixed_late_s']:.2f} s "
            f"late, {r['fixed_gets']:.1f} requests | `wait()`: {r['sdk_late_s']:.2f} s late, "
            f"{r['sdk_gets']:.1f} requests | **{r['sdk_late_s'] / r['fixed_late_s']:.2f}** of the "
            f"delay, {r['sdk_gets'] / r['fixed_gets']:.2f} of the requests | {target} "
            f"| {_met(ok)} |"
        )
    rows += _goodput_rows(goodput)
    rows.append(
        f"| 5 scale, {scale['jobs']:,} concurrent async waits on one client "
        f"| each job's own end ({scale['job_seconds']:g} s jobs) | the latest wait returned "
        f"{scale['over_s']:.2f} s after its job's end (median {scale['median_late_s']:.2f} s); "
        f"peak memory +{scale['peak_mb_above_start']:.0f} MB | **{scale['over_s']:.2f} s** late "
        f"| <= 0.3 s (issue 16) | {_met(scale['over_s'] <= 0.3)} |"
    )
    runs = f"median of {imports['runs']}"
    rows.append(
        f"| 6 import time, the package | `import httpx`: {imports['httpx_s'] * 1000:.0f} ms "
        f"| `import cortexio_sdk`: {imports['cortexio_sdk_s'] * 1000:.0f} ms "
        f"| **{imports['ratio']:.2f}x** ({runs}) | <= 1.3x (issue 16) "
        f"| {_met(imports['ratio'] <= 1.3)} |"
    )
    rows.append(
        f"| 6 import time, a client | `import httpx`: {imports['httpx_s'] * 1000:.0f} ms "
        f"| `from cortexio_sdk import Cortex`: {imports['client_s'] * 1000:.0f} ms "
        f"| **{imports['client_ratio']:.2f}x** ({runs}) | (none set: see why) | - |"
    )
    rows.append(
        f'| 6 `cortex-query --help` | `python -c "import httpx"`: '
        f"{imports['httpx_process_s'] * 1000:.0f} ms, the whole process "
        f"| `cortex-query --help`: {imports['help_process_s'] * 1000:.0f} ms "
        f"| **{imports['help_ratio']:.2f}x** ({runs}) | <= 1.3x (issue 16) "
        f"| {_met(imports['help_ratio'] <= 1.3)} |"
    )
    rows += _fleet_rows(fleet)
    cells = sweep["cells"]
    worst, steady = cells[0], [c for c in cells if c["meets"]]
    plain_meets = sum(_meets_issue(c["plain"]) for c in cells)
    rows.append(
        f"| 8 sweep, {len(cells)} cells (simulated) | plain retry (simulated): {plain_meets} of "
        f"{len(cells)} cells meet it | worst cell: {worst['server']}, {worst['callers']} "
        f"callers: **{worst['goodput_late']:.2f}** of the limit, {worst['share_429_late']:.1%} "
        f"429s (seconds 30-60) | {len(steady)} of {len(cells)} cells meet it | "
        f"{SWEEP_TARGET_FULL} | {_met(len(steady) == len(cells))} |"
    )
    between_row, between_lead = _between_summary(sweep.get("between", []))
    long_row, long_lead = _long_summary(sweep.get("long", []))
    killed_row, killed_lead, killed_rows = _killed_texts(sweep)
    rows += [
        row
        for row in (_changes_summary(sweep["changes"]), between_row, long_row, killed_row)
        if row
    ]
    between_rates = len({c["rate"] for c in sweep.get("between", [])})
    between_rows = "\n".join(_matrix(sweep.get("between", []), _between_text))
    long_rows = "\n".join(_matrix(sweep.get("long", []), _long_text))
    sweep_rows = "\n".join(
        f"| {c['server']} | {c['callers']} | {c['goodput_late']:.2f}, {c['share_429_late']:.1%} "
        f"| {c['goodput_early']:.2f}, {c['share_429_early']:.1%} | {c['failed']} "
        f"| {c['plain']['goodput_late']:.2f}, {c['plain']['share_429_late']:.1%} "
        f"| {c['told']['goodput_late']:.2f}, {c['told']['share_429_late']:.1%} "
        f"| {'met' if c['meets'] else '**not met**: ' + c['why']} |"
        for c in cells
    )
    change_rows = "\n".join(map(_change_row, sweep["changes"]))
    spent = (("goodput_first", ".2f"), ("goodput_after", ".2f"), ("share_429_after", ".1%"))
    spent_rows = "\n".join(
        f"| {c['server']} | {c['spent_at']:g} s " + _beside_plain(c, *spent)
        for c in sweep.get("spent", [])
    )
    windows = (
        ("goodput_first", ".2f"),
        ("goodput", ".2f"),
        ("share_429", ".1%"),
        ("worst_10s", ".2f"),
    )
    window_rows = "\n".join(
        f"| {c['server']} " + _beside_plain(c, *windows) for c in sweep.get("windows", [])
    )
    spread_note, spread_short, spread_rows = _spread_texts(results, sweep)
    stalled_lead, stalled_rows = _stalled_texts(sweep)
    table = "\n".join(
        [
            "| figure | anchor (same run) | cortexio-sdk | ratio | target | |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    variant = "quick variant (`nox -s bench_quick`)" if quick else "`nox -s bench`"
    why = _wall_why(sweep, results.get("spread"))
    goodput_rows = _cell_rows(goodput, _callers, why)
    fleet_rows = _cell_rows(fleet, _fleet, why)
    skipped = _skipped(goodput, fleet)
    picture_section = "".join(
        f"\n{caption}:\n\n![{caption}]({path})\n" for caption, path in pictures
    )
    if picture_section:
        picture_section = "\n## Pictures\n" + picture_section
    run_note = (
        f"in this run {len(goodput['cells'])} cells of {goodput['seconds']:g} s, "
        f"{goodput['parallel']} at a time"
    )
    return f"""# Benchmarks

Written by {variant} on {machine}, in {total:.0f} s.
Every figure below comes from that one run; each is set against an anchor measured in the same
run, because these machines are noisy and an absolute time says little. Re-run it to check:
ratios move between runs (by up to a tenth for cost per call), absolute figures more.

{table}

## Figures 4 and 7: the cells measured on the wall clock, worst SDK cell first

Each cell: the SDK at its defaults (not told the limit), **bold**, then plain retry, then
httpx-retries, each against a fake of its own, in one {goodput["seconds"]:g} s run (fleets:
{fleet["seconds"]:g} s); goodput as a share of the server's limit, 429s as a share of all
attempts, failed calls over the whole run. First the cells that miss the target:
{SWEEP_TARGET}. Against a bucket of one, requests that reach the server unevenly are refused at
any pace near the limit: figure 8's last table shows what the best fixed pace gets then.

{_header("callers", goodput)}
{goodput_rows}

{_header("fleet", fleet)}
{fleet_rows}
{skipped}{picture_section}
## Figure 8: every server shape, worst cell first (simulated)

The SDK at its defaults (not told the limit) against each shape, {sweep["seconds"]:g} simulated
seconds per cell (tests/support/ratesim.py: the SDK's own limiter and retry decisions on a fake
clock, against the fake Cortex's own rate limits); goodput as a share of the server's limit
(above 1 while a bucket of a minute's worth still holds its first tokens), 429s as a share of all
attempts. Beside it, in the same cells: plain retry, and the SDK told the limit
(`requests_per_minute` set to the shape's rate: what knowing the shape gets). The cells that
miss issue 13's bounds come first, each with why.

{SWEEP_HEADER}
{sweep_rows}

A limit that changes mid-run (at second {sweep["change_at"]:g}: another client joins the key or
leaves it), 16 callers, measured from 15 s after it halves and 2 minutes after it doubles (issue
13: halved, at least 0.9 of the new limit and under 1 % 429s from 15 s after; doubled, at least
0.9 of it within 2 minutes at rates of 5/s and above; the count of 429s in brackets). Beside
it, an oracle that knows what the limit becomes: the SDK told the new limit, against a bucket
of that limit from the start, over seconds 30-60:

{CHANGE_HEADER}
{change_rows}

A bucket that another client of the key spends while this one is in its slow start (a replica
that started while others had used the key: its next request meets a 429 whatever its rate),
16 callers, 90 simulated seconds; the SDK in **bold**, then plain retry. The slow start tries
the rate of its first 429 again before it counts: taken at its word, that 429 held the client
at 0.11-0.38 of the limit for three and a half minutes (the code before this change, same
simulation).

| server | spent at | goodput, s 0-30 | goodput, s 30-90 | 429s, s 30-90 | failed |
|---|---|---:|---:|---:|---:|
{spent_rows}

Limits between the sweep's rates: token buckets at {between_rates} other rates, 16 callers, 60
simulated seconds, issue 13's bounds as above; each cell is the
SDK's goodput over seconds 30-60 and its count of 429s there, in **bold** where a bound is
missed, with the span that misses it. {between_lead}

{between_rows}

{_between_why(sweep.get("between", []))}

Token buckets over ten simulated minutes, 16 callers, minutes 2-10: the steady state, with the
probes for a higher limit (every 300 requests, a minute at least), each of which costs a 429 when
the limit has not risen. Each cell is the SDK's goodput and its share of 429s, in **bold** under
0.95 or over 1 %. {long_lead}

{long_rows}

{_long_why(sweep.get("long", []))}

Windows of a minute and of 5 and 10 s, fixed and sliding, over ten simulated minutes (the
sweep's minute holds only the first window, which a client not told the limit spends early), 16
callers, the first two minutes and seconds 240-600; the SDK in **bold**, then plain retry.
"Worst 10 s" is the lowest goodput of any ten seconds from second 240: 0 means every caller
waited for the window to free. Against a sliding window of 5 or 10 s the first minutes are
slow: the 429s after the slow start spent it answer for what the slow start sent a window
before, and read as a token bucket's they bracket the limit low, until the probes climb back.
Before the SDK read a long `Retry-After` as a window's end, it was 0.00 in each fixed window's
row, with 0.1-1.6 % of requests answered 429.
Before it read one of 10 s to a minute as a window of a minute from the first (it waited for two
ends to agree, which a sliding window never gives), it got 0.62 and 0.35 of sliding windows of
120 and 300 a minute: the 429s that answer for requests sent before, read as a token bucket's,
halved its rate again and again; and at 780 a fixed window a minute, whose windows it spent with
under 10 s left so that few of their ends read as such, its worst 10 s was still 0.00 (all three:
the same simulation, the code before the change).

| server | goodput, first 2 min | goodput | 429s | worst 10 s | failed |
|---|---:|---:|---:|---:|---:|
{window_rows}

Buckets of one with requests spread in time on their way to the server, as on a loaded machine
(each takes 1 ms plus a random delay of the given mean, exponential: mostly small, now and then
several times it; in the 0 ms rows, no time at all; {spread_note}). A bucket of one refuses a
request that arrives less than an interval after the last, so near the limit a spread makes 429s
at any pace, and each holds every caller for a whole second. Beside the SDK (16 callers, not
told the limit, seconds 30-60, **bold**): the best fixed pace for that shape and spread (an
oracle that knows both, honours Retry-After and keeps to 1 % of 429s), as a share of the limit,
and what it gets. {spread_short} Set against the spread measured under figure 4's load, this
shows how much of a figure 4 cell's miss at a bucket of one no pace could avoid; the rest is the
limiter's on the wall clock.

{SPREAD_HEADER}
{spread_rows}

Token buckets on a machine that stalls now and then, as one with more runnable processes than
cores does (figure 4 runs six cells at once, over 30 processes on this machine's cores): now
and then nothing runs, client or fake, for 0.1-0.3 s, and what fell due meanwhile happens at
the stall's end (ratesim's `stalls`, mean seconds apart and length). 16 callers, not told the
limit; in **bold** what misses issue 13's bounds; beside it, the best fixed pace for the shape
and the stalls (an oracle that knows both, keeping to 1 % of 429s; a request due in a stall
goes at its end, the next a whole interval later) and plain retry. Callers woken late by a
stall used to go together, a burst a small bucket refused, and the client took that 429 for a
limit that fell: with stalls of 100 ms every 5 s, 0.53 of 16.7/s burst 1, 0.73 of 16.7/s burst
2, 0.69 of 10/s burst 1 and 0.83 of 5/s burst 1 over seconds 30-60 (the same simulation, the
code before the change, 7d558fa); then a caller half an interval late for its slot started
the schedule again, and the others booked afresh from it, as far as the known burst allows.
A stall ends anywhere in an interval, though, and a caller held less than half of one went on
schedule, the next slot that much sooner after it, which a bucket of one refused: 0.61 of 10/s
burst 1 with stalls of 150 ms every 2 s, 0.81-0.86 of buckets of one at 5-10/s with 100 ms every
5 s (1031180). Now a tenth of an interval late is enough (and at least 10 ms). A bucket of one
still refuses a caller a little late, as it does any spread in time. {stalled_lead}

{STALLED_HEADER}
{stalled_rows}

Fleets on `RedisLimiter` whose Redis is killed at second 30 and stays down (processes x callers;
the simulated Redis runs the script's read and compare-and-set in Python, on the same clock as
the rest). Until then the fleet books from one schedule; after it each process falls back to
its own limiter at its share of the rate the fleet had, on its own slots of that schedule (slot
n is the (n mod clients)-th client's, in the order of their ids, which Redis tells each), and
warns once. Before 8e0aa4f each process started at a random point of its first interval:
processes that no longer shared a schedule sent within one token's time of each other now and
then, and the one refused halved. 40 of these 60 cells met the bounds then, and 7 of the 27
with buckets of one or two; the worst, 16.7/s burst 1 with 2 x 8, kept 0.19 of the limit. And
before that point was drawn, the processes fell back at one moment, sent together into the
bucket they had just emptied, and those that met a 429 halved: 2/s with a minute's bucket,
5 x 4 threads, kept 0.73 of the limit after the kill on the wall clock (figure 7, in the run
committed with 627656d). In **bold**, what misses issue 13's bounds (no call fails, one
warning per process, at least 0.8 of the limit after the kill). {killed_lead}

{KILLED_HEADER}
{killed_rows}

## What each figure measures

Every server runs in its own process on 127.0.0.1.

1. **Cost per call**: sequential `client.queries.get()` on one keep-alive connection against
   `httpx.Client.get()` + `response.json()` on the same server, in alternating short rounds
   (the ratio is the median of neighbouring rounds' ratios), sync (`Cortex`) and async
   (`AsyncCortex`). Server: `benchmarks/rawserver.py`, a minimal asyncio HTTP server with
   canned bodies: the fake Cortex (a Python thread per connection) costs more per request than
   either client, which would hide the difference. The SDK client
   is built with `requests_per_minute` far above the loop's pace (its limiter still books every
   call): pacing is not what this figure measures. Tracing off: OpenTelemetry's API imported
   but no provider set, the dearer way to be off (the SDK looks at the providers on every call;
   without the API it does not look). Traced: in a process of its own, with the OpenTelemetry
   SDK's tracer and meter providers set, every span kept by an in-memory exporter and every
   metric by an in-memory reader (two spans and three metric records per call).
2. **Parsing**: a DONE result of N entities (three or four short strings each; 8.9 MB of JSON
   at 100,000) from the same raw server; `get()` (which builds the generated attrs models, the
   garbage collector paused while it does) against httpx + `json.loads` of the same body. The
   other decoders, where the bench session installs them (the `bench` group pins them), each
   on the same download: `orjson.loads` and `msgspec.json.decode` (dicts, as `json.loads`
   gives); `msgspec.json.decode` into Structs of the result's shape (`benchmarks/_structs.py`:
   what a typed decoder reaches); and the stock generator, the pinned openapi-python-client
   without `templates/`, generated from openapi.yaml into a temporary folder at the start of
   the run: its `QueryBuilderResult.from_dict(json.loads(body))`, the collector running as that
   client leaves it. Time: best of several calls, alternating between the sides; memory:
   tracemalloc's peak during one call (what Python's allocators hold: the body, the dicts, the
   models). `python -m benchmarks.parsing --profile` breaks the SDK's parse down.
3. **Polling**: jobs on the fake Cortex (`benchmarks/fakejobs.py`: the same `FakeCortex`, with a
   length per query); lateness is the time `wait()` returns minus the job's end, requests are
   GETs. The anchor is a loop that polls every 2 s (Cortex's own CLI). Each length L runs as four
   jobs of L+0.25, L+0.75, L+1.25 and L+1.75 s, so that the 2 s poller's phase averages out
   (otherwise a job of exactly 20 s is seen within milliseconds by luck); figures are means.
4. **Rate-limit goodput, on the wall clock**: a sample of figure 8's cells (the list, and
   why each is in it: `benchmarks/goodput.py`; {run_note}). A cell is a shape of the fake
   Cortex (`python -m cortexio_sdk.testing --rate-limit RATE --burst N`, a token bucket; or
   `--rate-limit-shape fixed-window`), a number of callers and how they run: threads sharing
   one `Cortex`, or asyncio tasks sharing one `AsyncCortex`,
   each GETting a job's state back to back. In each cell the SDK at its defaults (not told the
   limit; its own default is Cortex's documented 1,000/min) runs beside its two anchors, each
   client with a fake of its own, all from one agreed start. Plain retry: after a 429, sleep
   its Retry-After (the header, else the body's `retryAfter`) and send again. httpx-retries:
   `RetryTransport` with `Retry(total=100, backoff_factor=0.5)`, Retry-After honoured (it reads
   the header only). Figure 4's own cell (10/s burst 10, 16 threads or tasks) also runs the SDK
   told the limit (`requests_per_minute=600`); its first 20 s measure what the earlier 20 s
   runs of this figure did. Goodput: accepted requests a second in a span over the server's
   limit (above 1 while a bucket still holds its first tokens); 429 share: of every HTTP
   attempt in the span, counted below all retry layers. Spans: the run's second half (where a
   client has settled) and its first third (where it learns). A call still under way 2 s after
   the end is left unfinished, not counted as failed.
5. **Scale**: 1,000 concurrent `wait()`s through one `AsyncCortex` on jobs that started one
   after another over the 3 s before (as 1,000 POSTs take about that long here) and run 10 s,
   so that every job still runs when the waits begin. Late: each wait's return minus its own
   job's end; the latest and the median. Server: `benchmarks/rawserver.py`'s timed jobs (an
   asyncio server; the fake Cortex answers about 280 polls a second on this machine, for raw
   httpx as for the SDK, fewer than these jobs end). Memory: peak resident size of the process
   above its size before the waits.
6. **Import time**: `import cortexio_sdk`, `from cortexio_sdk import Cortex` and `import httpx`,
   each in a fresh interpreter, timed inside it; and `cortex-query --help` against
   `python -c "import httpx"`, each the whole process's wall time; medians of alternating runs.
   The package loads a name when it is first used, so `import cortexio_sdk` is what importing
   costs and `from cortexio_sdk import Cortex` what a program that makes a client pays.
7. **Fleet, on the wall clock**: fleets of 2 to 6 processes against one rate-limited fake
   (the cells: `benchmarks/fleet.py`; in CI's quick run, figure 7's own cell and its Redis-killed
   twin, 12 s each), each process with one `Cortex` shared by its threads. The SDK at its
   defaults books through `RedisLimiter` on a throwaway redis-server
   (`cortexio_sdk.testing.RedisServer`); the anchors, fleets of plain retry and httpx-retries
   processes, share nothing. Each fleet has a fake of its own and all of a cell's fleets start
   at one agreed wall-clock time, after their imports. Figure 7's own cell (4 processes x 8
   threads at 10/s burst 10) also runs the SDK told the limit (`requests_per_minute=600`) on
   Redis, and told it without Redis (per-process limiters: each process keeps to the key's
   limit alone). Redis killed: redis-server is killed (SIGKILL) at the run's middle and left
   down, so the two spans are before and after the kill. Goodput and 429 share as in 4, summed
   over a fleet's processes; warnings are the "cortexio_sdk" logger's records mentioning Redis,
   per process. The cells go one after another.

8. **Sweep (simulated)**: `tests/support/ratesim.py` runs the SDK's own `RateLimiter` and
   retry decisions (`Call.after_response`: hold-off, Retry-After, backoff) in the transport's
   loop, on one fake clock, against simulated servers: the fake Cortex's token bucket at every
   rate and burst of the sweep, and fixed windows of 10 per second and 600 per minute (429
   until the window's end, rounded up to whole seconds); below the sweep, token buckets at 18
   limits between its rates, token buckets over ten minutes, fixed and sliding windows of a
   minute and of 5 and 10 s over ten minutes, and buckets of one with requests spread in time.
   Callers send back to back; time jumps from event to event, so the sweep's 88 cells take
   seconds and the whole figure about a minute.
   No sockets: requests reach the server the instant they are sent, but in the spread table;
   threads against tasks and fleets on Redis, figures 4 and 7 measure on the wall clock.

## Why the figures are what they are

- Cost per call: on top of httpx, every request goes through the SDK's transport (a limiter
  booking and its success, auth and user-agent headers, the attempt's deadline, the retry
  decision), then the generated model of the answer. Profiles (`cProfile` of 3,000 `get()`s
  against the raw server, set against 3,000 raw GETs) found, in order of size: httpx merging
  the generated operation's relative path with `base_url`, which parses the URL twice (37 us
  of a call measured with `timeit` on `build_request`; the operations now join the path
  themselves, `types.under_base_url`, which moved the sync ratio from 0.86 to 0.91-0.94 over
  40 alternating rounds, measured while it was made); on async, anyio's cancel scope around the
  attempt (4-5 % of a call; now `asyncio.timeout` on asyncio's loop); four generator-based
  context managers (now classes). What is left is the per-call work itself: the limiter's
  booking, the headers, the model building, on async the pool's semaphore (anyio's yields to
  the loop on every acquisition, 2-4 % of a call), and, with OpenTelemetry imported but no
  provider set, two provider lookups (2 us). Ratios move by a few hundredths between runs of this
  figure on this machine; the tracing-on rows cost two spans and three metric records per call.
- Parsing: the target (no slower, no bigger than `json.loads`) is not met, and cannot be while
  `get()` returns the generated attrs models: they are built from `json.loads`'s dicts, so the
  parse is `json.loads` plus one Python object per entity. `python -m benchmarks.parsing
  --profile` (100,000 entities, best of 7, no network): `json.loads` 64 ms; `from_dict` of
  its dicts 89 ms, of which building one `QueryResult` per entity is 47 ms (a hand-written
  `__slots__` class takes the same, 52 ms, and a tuple 29 ms: the cost is a Python object per
  entity, not attrs) and the rest is `from_dict` itself, a Python call per entity reading four
  keys and checking for unknown ones. The whole parse: 158 ms with the collector paused, 192
  ms running. Each model is an object the cyclic garbage collector tracks (the dicts of strings
  are not), so 100,000 of them triggered 391 young, 35 middle and 2 full collections during
  one parse, 62 ms of walking objects that are not garbage; every generated operation now
  parses inside `types.collector_paused()`, and the price is one young collection at the end
  (12 ms, the new models walked once). It is safe: the models hold no reference cycles, so a
  parse makes no cyclic garbage to miss; the pause covers the parse only and ends in a
  `finally`; overlapping parses in other threads are counted, and the last one restores the
  collector only if it was running (a user's `gc.disable()` is kept). What another thread
  makes meanwhile is collected after the pause, a delay of the parse's length. A typed
  decoder would build the objects in C (msgspec into Structs is the fastest anchor), but
  msgspec cannot decode into the generated attrs models: it matches attrs fields by attribute
  name and has no way to map a JSON key to another (`queryDetails` to `query_details`); it
  rejects the `X | Unset` annotations of optional fields; it drops unknown keys of an attrs
  class where the models keep them in `additional_properties` (the README's forward
  compatibility); and importing it costs about 45 ms on top of `import cortexio_sdk`. So no
  decoder is a dependency (the argument, with the figures: docs/performance.md). Memory:
  `json.loads`'s dicts stay alive until the last model is built, and the models add 14.5 MB
  at 100,000 entities (an 80-byte object and an empty 64-byte `additional_properties` dict
  each; the strings are shared), hence about 1.3x; a `from_dict` letting go of each entity's
  dict as its model is built would keep `json.loads`'s peak (measured on the parse alone:
  47.9 MB, as `json.loads`, against 53.9 MB now), not done yet. The stock generator copies
  every entity's dict into its `additional_properties` (`dict(src_dict)`, then pops): more time
  and memory, which `templates/model.py.jinja` avoids by reading the known keys in place.
- Polling: `wait()` predicts a job's end from its `progress` (see `_polling.py`) and polls just
  after it, so it is late by a fraction of a second at any length and sends about one request
  per 10 s on a long job; without progress it falls back to an interval growing with the wait.
- Goodput: after a 429 the client-side limiter holds every caller off for the Retry-After, lowers
  its rate, and climbs back slowly once near the rate the server let through (`_limiter.py`).
  Where the server's burst holds a second's worth or more, httpx-retries and plain retry keep
  every token of its bucket taken the moment it refills, by sending far more requests than it
  accepts: their goodput sits at the ceiling (1.0, plus the initial burst), so the SDK can tie
  them there but hardly pass them. Where the burst is a request or two, their callers all sleep
  the same whole-second Retry-After and come back together, and each return finds about one
  token: they are held well under the limit while most of what they send is answered 429.
{_first_seconds(goodput, sweep)}
- Scale: the 1,000 first polls go at once and queue (answers take a second or more), and the
  jobs end about 330 a second, more than one client got answered here with 20 requests in
  httpx's async pool (about 280 a second, client and server sharing two cores; 580 with 6,
  which the async transport now lets in at once: httpcore's pool costs per request in
  proportion to what is in it). With that and two changes to the poll schedule, measured on
  this cell while they were made (`python -m benchmarks.scale`), the latest wait went from
  2.3 s late to 0.16 s (three runs, 0.156-0.165). A poll's progress is timed with
  the uncertainty of its round trip and the next poll goes at the earliest end the
  observations allow, so a poll queued for a second no longer makes a job look faster than it
  is. And while a wait has no prediction, it polls no sooner than twice its last round trip:
  polls that queue do not add to the queue. The raw server's jobs report a progress linear in
  time, the case the prediction is made for: a job whose progress is uneven is polled more
  often near its end, and noticed a little later. A limit on requests in the pool that adapted
  to their round trips (down to 2) was tried first: it got 680 answers a second, but it
  released requests in bunches after they had waited for the rate limiter, and against a
  bucket of one a client learning the limit got stuck at a tenth of it (figure 4's 16.7/s
  burst 1, 64 tasks cell, 0.11 in one run of this figure); it was withdrawn.
- Import time: `import cortexio_sdk` loads nothing until a name is used (PEP 562), and
  `cortex-query --help` answers from argparse before the client is imported. A program that
  makes a client imports httpx (the anchor itself), then attrs (the generated models' and the
  wrapper's class library: the design's attrs models), the generated package, package metadata
  for the version in the User-Agent, and the wrapper's modules; `python -X importtime -c "from
  cortexio_sdk import Cortex"` (median of 5 while writing this) put attrs alone at about a third
  of httpx's own import. python-dateutil, which was the largest after attrs, is no longer a
  dependency. That import has no target of its own: it is at least httpx's.
- Fleet: with `RedisLimiter` the four processes book from one schedule at the key's rate,
  with a burst of one second's worth less one request. The server's bucket counts from the
  arrival of each request, which may come a little early against the schedule (the first
  burst's requests open the connections and arrive late, the next ones do not); the token left
  spare absorbs that. With a burst of exactly the server's (before), a request found less than
  a token in every run, most often the 11th: that 429 held the whole fleet off for its 1 s
  Retry-After and lowered the rate to 7/s, which took seconds to climb back (goodput 0.95, one
  429 in 223 requests; now about 1.0 and none).
  Per-process limiters send up to four times the limit (four bursts, then 40/s) until 429s
  have brought each process's rate down to about its share. When Redis is killed, each
  process's own limiter takes over at its share of the rate the fleet last had (Redis counts
  the clients that booked in the last 10 s), with no saved burst, since the server's bucket
  was being emptied together, and on its own slots of the schedule the fleet shared, since
  the processes fall back at one moment (figure 8's table of killed fleets). Before that
  share, each fallback started with a full burst and the key's whole rate: the fleet sent up
  to four times the limit, one process could take each token as it refilled, and now and then
  a starved call met its fifth 429 (2 of about 21 runs).
  A process's threads take turns on Redis. When each thread read, decided and wrote at once,
  each write voided the reads of the process's other threads; under figure 4's load (run
  beside this figure), where a read and its write lie far apart, a step lost 16 times in a row
  and was taken for an outage: figure 7's own cell, told the limit, kept 0.62 of it in the
  run committed with 627656d, and 0.99 in a run of that cell beside figure 4 since, with no
  warning.
  A write that another process beat answers with the state that process wrote, so that trying
  again costs one round trip.

## Reproduce

```
nox -s bench        # the full run (under 15 minutes); rewrites BENCHMARKS.md, docs/figures/
nox -s bench_quick  # fewer cells, shorter runs (CI); prints the table, keeps no picture
python -m benchmarks.goodput --only "5/s burst 1" --seconds 20  # some cells, as JSON
python -m benchmarks.fleet --only "Redis killed" --seconds 20   # needs redis-server
python -m benchmarks.goodput --only "burst 1," --learning-log /tmp/learning  # and each SDK
    # client's rate limiter: what each 429 was read as, each new rate (a file per client)
```
"""
