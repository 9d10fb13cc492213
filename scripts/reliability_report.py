"""The figures of docs/reliability.md, from the counts the last `nox` run wrote.

`nox -s tests` and `nox -s contract` write .nox/reliability/*.json (tests/reliability_plugin.py);
this script prints the figures and checks that the report's table says the same (default), or
rewrites the table (`--write`). Only figures that are the same on every run are in the table:
case counts, and the number of calls the fuzz (derandomized) and contract tests make. What Prism
happened to answer in one run varies and is printed by the contract session instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNTS = ROOT / ".nox" / "reliability"
REPORT = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- figures:begin (scripts/reliability_report.py) -->", "<!-- figures:end -->"
KINDS = {
    "contract": "Prism (dynamic mode, forced statuses, request validation)",
    "fuzz": "hypothesis, spec-generated then mutated responses",
    "faults": "socket-level fault server",
    "security": "key secrecy, TLS, http, redirects, path segments, settings",
}
FIGURES = ["fuzz calls", "contract calls"]


def load() -> tuple[dict[str, dict[str, int]], dict[str, int], list[str]]:
    """(kinds, figures, sources) merged over the runs; runs on several Pythons must agree."""
    kinds: dict[str, dict[str, int]] = {}
    figures: dict[str, int] = {}
    sources = sorted(COUNTS.glob("*.json")) if COUNTS.is_dir() else []
    problems: list[str] = []
    for source in sources:
        data = json.loads(source.read_text())
        for kind, counts in data["kinds"].items():
            if kind in kinds and kinds[kind] != counts:
                problems.append(f"{source.name}: {kind} {counts} differs from {kinds[kind]}")
            kinds.setdefault(kind, counts)
        for name, value in data["figures"].items():
            if name in FIGURES:
                if name in figures and figures[name] != value:
                    problems.append(f"{source.name}: {name} {value} differs from {figures[name]}")
                figures.setdefault(name, value)
    missing = [kind for kind in KINDS if kind not in kinds]
    if missing:
        problems.append(
            f"no counts for {', '.join(missing)} in {COUNTS}: run `nox -s tests contract` first"
        )
    return kinds, figures, problems


def table(kinds: dict[str, dict[str, int]], figures: dict[str, int]) -> str:
    lines = [BEGIN, "", "| kind | what | cases run | passed |", "|---|---|---:|---:|"]
    for kind, what in KINDS.items():
        counts = kinds.get(kind, {"ran": 0, "passed": 0})
        lines.append(f"| {kind} | {what} | {counts['ran']} | {counts['passed']} |")
    total_ran = sum(kinds.get(k, {}).get("ran", 0) for k in KINDS)
    total_passed = sum(kinds.get(k, {}).get("passed", 0) for k in KINDS)
    lines.append(f"| **total** | | **{total_ran}** | **{total_passed}** |")
    lines.append("")
    for name in FIGURES:
        lines.append(f"- {name} (SDK calls made by those cases): {figures.get(name, 0)}")
    lines += ["", END]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the report's table")
    args = parser.parse_args()
    kinds, figures, problems = load()
    for kind in KINDS:
        counts = kinds.get(kind, {"ran": 0, "passed": 0})
        print(f"reliability: {kind} ran={counts['ran']} passed={counts['passed']}")
    for name in FIGURES:
        print(f"reliability: {name} count={figures.get(name, 0)}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    failed = [k for k in KINDS if kinds[k]["ran"] != kinds[k]["passed"]]
    if failed:
        print(f"cases failed in: {', '.join(failed)}", file=sys.stderr)
        return 1
    text = REPORT.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    expected = table(kinds, figures)
    if text[start:end] == expected:
        print(f"{REPORT.relative_to(ROOT)}: the figures match this run")
        return 0
    if args.write:
        REPORT.write_text(text[:start] + expected + text[end:])
        print(f"{REPORT.relative_to(ROOT)}: figures rewritten from this run")
        return 0
    print(
        f"{REPORT.relative_to(ROOT)} does not match this run; run "
        "`python scripts/reliability_report.py --write` and commit",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
