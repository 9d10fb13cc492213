"""Counts the reliability cases of a pytest run, by kind, for docs/reliability.md.

A test joins a kind with `@pytest.mark.reliability("faults")` (contract, fuzz, faults, security).
At the end of the run one line per kind is printed, `reliability: <kind> ran=N passed=M`, and,
when RELIABILITY_COUNTS names a file, the same figures are written there as JSON
(`scripts/reliability_report.py` turns them into the report, or checks it).
Hypothesis tests also count the examples they ran (`reliability: fuzz-examples ...`).

Under pytest-xdist the tests run in worker processes: each test's kind and the figures it
recorded travel in its report (`user_properties`), and the process that prints the summary
counts them from the reports it receives (itself, without xdist). A run adds to the file's
figures, so the slow tests run apart (`nox -s tests`) add to the others'.
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
_recorded: Counter[str] = Counter()  # recorded in this process, not yet put in a report
_PROPERTY = "reliability"


def record(name: str, count: int = 1) -> None:
    """Add to a named figure of the report (for example, fuzz examples run)."""
    _recorded[name] += count


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
    """Where the test runs: its kind, and what it recorded, go in its report."""
    report = yield
    kind = _kind(item)
    counted = report.when == "call" or (report.when == "setup" and not report.passed)
    figures = dict(_recorded)
    _recorded.clear()
    if (kind is not None and counted) or figures:
        entry = {"kind": kind if counted else None, "figures": figures}
        report.user_properties.append((_PROPERTY, entry))
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Where the summary prints (the only process, or xdist's controller): count."""
    for name, entry in report.user_properties:
        if name != _PROPERTY:
            continue
        kind = entry["kind"]
        if kind is not None:
            ran[kind] += 1
            if report.when == "call" and report.passed:
                passed[kind] += 1
        examples.update(entry["figures"])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if hasattr(terminalreporter.config, "workerinput"):
        return  # an xdist worker: its reports reach the controller, which writes the figures
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
            before = counts.get(kind, {"ran": 0, "passed": 0})
            counts[kind] = {
                "ran": before["ran"] + ran[kind],
                "passed": before["passed"] + passed[kind],
            }
        figures = Counter(previous.get("figures", {}))
        figures.update(examples)
        path.write_text(json.dumps({"kinds": counts, "figures": figures}, indent=2) + "\n")
