"""Figure 6, import time: the SDK's imports against `import httpx`, each in a fresh interpreter.

Three pairs, each timed in new processes, several runs alternating, the median counting:

- `import cortexio_sdk` and `from cortexio_sdk import Cortex` against `import httpx`, timed
  inside the process (perf_counter around the statement; the interpreter's start-up left out).
  The package loads a name when it is first used (PEP 562), so the first is what merely
  importing costs and the second what a program that makes a client pays: httpx, attrs, the
  generated client and the wrapper.
- `cortex-query --help` against `python -c "import httpx"`, each the whole process's wall time
  (start-up included), as a shell user waits for it.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

from ._common import check, emit, quick_flag

CODE = "import time; t = time.perf_counter(); {0}; print(time.perf_counter() - t)"
STATEMENTS = {
    "httpx": "import httpx",
    "package": "import cortexio_sdk",
    "client": "from cortexio_sdk import Cortex",
}


def inside(statement: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CODE.format(statement)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def whole(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    runs = 3 if quick_flag() else 9
    cli = shutil.which("cortex-query")
    check(cli is not None, "cortex-query is not installed beside this Python")
    assert cli is not None
    commands = {
        "httpx_process": [sys.executable, "-c", "import httpx"],
        "help_process": [cli, "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in [*STATEMENTS, *commands]}
    for _ in range(runs):
        for name, statement in STATEMENTS.items():
            times[name].append(inside(statement))
        for name, command in commands.items():
            times[name].append(whole(command))
    median = {name: statistics.median(seen) for name, seen in times.items()}
    check(all(value > 0 for value in median.values()), "an import took no time")
    emit(
        {
            "runs": runs,
            "httpx_s": median["httpx"],
            "cortexio_sdk_s": median["package"],
            "ratio": median["package"] / median["httpx"],
            "client_s": median["client"],
            "client_ratio": median["client"] / median["httpx"],
            "httpx_process_s": median["httpx_process"],
            "help_process_s": median["help_process"],
            "help_ratio": median["help_process"] / median["httpx_process"],
        }
    )


if __name__ == "__main__":
    main()
