"""The reliability figures of the last runs, printed as a table (what docs/reliability.md
describes), from the counts the test sessions wrote.

`nox -s tests` and `nox -s contract` write .nox/reliability-counts/*.json
(tests/support/reliability_plugin.py); `nox -s reliability` runs this script after them. It
fails when a case failed, when two runs (on two Pythons) disagree on a count, or when a kind has
no count at all. The figures are printed by the run, not kept in a document: a test added is a
figure changed, with nothing to copy by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNTS = ROOT / ".nox" / "reliability-counts"
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
    lines = ["| kind | what | cases run | passed |", "|---|---|---:|---:|"]
    for kind, what in KINDS.items():
        counts = kinds.get(kind, {"ran": 0, "passed": 0})
        lines.append(f"| {kind} | {what} | {counts['ran']} | {counts['passed']} |")
    total_ran = sum(kinds.get(k, {}).get("ran", 0) for k in KINDS)
    total_passed = sum(kinds.get(k, {}).get("passed", 0) for k in KINDS)
    lines.append(f"| **total** | | **{total_ran}** | **{total_passed}** |")
    lines.append("")
    for name in FIGURES:
        lines.append(f"- {name} (SDK calls made by those cases): {figures.get(name, 0)}")
    return "\n".join(lines)


def main() -> int:
    kinds, figures, problems = load()
    print(table(kinds, figures))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    failed = [k for k in KINDS if kinds[k]["ran"] != kinds[k]["passed"]]
    if failed:
        print(f"cases failed in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
