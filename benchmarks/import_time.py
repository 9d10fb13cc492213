"""Figure 6, import time: `import cortexio_sdk` against `import httpx`, each in a fresh interpreter.

Each is timed inside a new `python -c` process (perf_counter around the import), several runs
alternating, and the median counts; the interpreter's own start-up is left out.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from ._common import check, emit, quick_flag

CODE = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"


def once(module: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CODE.format(module)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def main() -> None:
    runs = 3 if quick_flag() else 9
    times: dict[str, list[float]] = {"httpx": [], "cortexio_sdk": []}
    for _ in range(runs):
        for module, seen in times.items():
            seen.append(once(module))
    median = {module: statistics.median(seen) for module, seen in times.items()}
    check(all(value > 0 for value in median.values()), "an import took no time")
    emit(
        {
            "runs": runs,
            "httpx_s": median["httpx"],
            "cortexio_sdk_s": median["cortexio_sdk"],
            "ratio": median["cortexio_sdk"] / median["httpx"],
        }
    )


if __name__ == "__main__":
    main()
