"""Stoplight Prism serving openapi.yaml, for the contract tests (run by `nox -s contract`).

The session installs Prism with npm into .prism/ and names its executable in CORTEX_PRISM; without
that variable these tests are not collected (the normal `tests` session does not run them).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import closed_port

PRISM = os.environ.get("CORTEX_PRISM")
SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"

collect_ignore_glob = [] if PRISM else ["test_*.py"]


class Prism:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@pytest.fixture(scope="session")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    """Prism in dynamic mode (-d): every answer is generated anew from the spec's schemas."""
    assert PRISM
    port = closed_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    command = [PRISM, "mock", "-d", "-h", "127.0.0.1", "-p", str(port), str(SPEC)]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "Prism is listening" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prism did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield Prism(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
