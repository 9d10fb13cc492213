"""The fake Cortex in its own process, with jobs of given lengths: one query per length.

`python -m cortexio_sdk.testing` gives every job the same length; the polling and scale figures
need several at once, so this process starts the same `FakeCortex` and tells it, per query,
how long jobs on it run (`faults.on_query`). Prints CORTEX_BASE_URL=... and serves until killed.

    python -m benchmarks.fakejobs --job "tag = 'a'=5" --job "tag = 'b'=20.5"
"""

from __future__ import annotations

import argparse
import signal
import threading

from cortexio_sdk.testing import FakeCortex

from ._common import API_KEY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", action="append", default=[], metavar="QUERY=SECONDS")
    parser.add_argument("--job-seconds", type=float, default=1.0)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeCortex(api_key=API_KEY, job_seconds=args.job_seconds) as fake:
        for job in args.job:
            query, seconds = job.rsplit("=", 1)
            fake.faults.on_query(query, status="DONE", seconds=float(seconds))
        print(f"CORTEX_BASE_URL={fake.base_url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
