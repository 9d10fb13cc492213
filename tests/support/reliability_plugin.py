"""Counts the reliability cases of a pytest run, by kind, for docs/reliability.md.

A test joins a kind with `@pytest.mark.reliability("faults")` (contract, fuzz, faults, security).
At the end of the run one line per kind is printed, `reliability: <kind> ran=N passed=M`, and,
when RELIABILITY_COUNTS names a file, the same figures are written there as JSON
(`scripts/reliability_report.py` turns them into the report, or checks it).
Hypothesis tests also count the examples they ran (`reliability: fuzz-examples ...`).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

ran: Counter[str] = Counter()
passed: Counter[str] = Counter()
examples: Counter[str] = Counter()  # extra figures recorded by tests (fuzz examples, calls)


def record(name: str, count: int = 1) -> None:
    """Add to a named figure of the report (for example, fuzz examples run)."""
    examples[name] += count


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability(kind): count this test in docs/reliability.md under kind"
    )
    config.addinivalue_line("markers", "contract: needs Prism (run by `nox -s contract`)")


def _kind(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("reliability")
    return str(marker.args[0]) if marker else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    kind = _kind(item)
    if kind is not None:
        if report.when == "call":
            ran[kind] += 1
            if report.passed:
                passed[kind] += 1
        elif report.when == "setup" and not report.passed:
            ran[kind] += 1
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ran and not examples:
        return
    terminalreporter.section("reliability")
    for kind in sorted(ran):
        terminalreporter.write_line(f"reliability: {kind} ran={ran[kind]} passed={passed[kind]}")
    for name in sorted(examples):
        terminalreporter.write_line(f"reliability: {name} count={examples[name]}")
    target = os.environ.get("RELIABILITY_COUNTS")
    if target:
        path = Path(target)
        previous = json.loads(path.read_text()) if path.exists() else {}
        counts = previous.get("kinds", {})
        for kind in ran:
            counts[kind] = {"ran": ran[kind], "passed": passed[kind]}
        figures = previous.get("figures", {})
        figures.update(examples)
        path.write_text(json.dumps({"kinds": counts, "figures": figures}, indent=2) + "\n")
