"""The examples/ scripts run as a service would run them: subprocesses configured from the env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cortexio_sdk.testing import FakeCortex

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(fake: FakeCortex, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **fake.env}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sync_report_waits_for_every_team() -> None:
    with FakeCortex(job_seconds=0.3) as fake:
        done = run(fake, "sync_report.py")
    assert done.returncode == 0, done.stderr
    assert "payments: 2 entities: Payments API, Payments Ledger" in done.stdout
    assert "inventory: 1 entities: Inventory" in done.stdout
    assert "services: " in done.stdout


def test_sync_report_reports_a_failed_query_and_exits_1() -> None:
    with FakeCortex(job_seconds=0.3) as fake:
        fake.faults.next_jobs("FAILURE")
        done = run(fake, "sync_report.py")
    assert done.returncode == 1
    assert "query failed" in done.stderr
    assert done.stdout.count("entities") == 2


def test_async_service_answers_every_request() -> None:
    with FakeCortex(job_seconds=0.3) as fake:
        done = run(fake, "async_service.py", "tag = 'inventory'", "tag = 'payments-api'")
    assert done.returncode == 0, done.stderr
    assert "\"tag = 'inventory'\": 1 entities: Inventory" in done.stdout
    assert "\"tag = 'payments-api'\": 1 entities: Payments API" in done.stdout


def test_async_service_without_a_key_fails_clearly() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CORTEX_API_KEY"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "async_service.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "CORTEX_API_KEY" in done.stderr
