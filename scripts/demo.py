"""The README's demo: the embedded fake Cortex, a tight rate limit, and one query through the CLI.

Run by `nox -s demo`. It starts `cortexio_sdk.testing.FakeCortex` with its sample catalog and a
limit of 1 request per second, then runs `cortex-query -v run ...` against it: the log shows
the SDK waiting out a 429, the progress goes to stderr (a bar on a terminal) and the entities to
stdout. Exits non-zero if the CLI fails or no 429 was met.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

from cortexio_sdk.testing import FakeCortex

QUERY = "type = 'service' and tag in ('payments-api', 'payments-ledger', 'refunds-service')"


def main() -> int:
    cli = shutil.which("cortex-query")
    if cli is None:
        print("cortex-query is not installed in this environment", file=sys.stderr)
        return 1
    with FakeCortex(api_key="demo-key", job_seconds=4.0, rate_limit=1.0, burst=1) as fake:
        print(f"fake Cortex on {fake.base_url}, limited to 1 request/s\n", flush=True)
        env = {**os.environ, "CORTEX_BASE_URL": fake.base_url, "CORTEX_API_KEY": "demo-key"}
        command = [cli, "-v", "run", QUERY, "--timeout", "60", "--format", "table"]
        print("$ " + shlex.join(["cortex-query", *command[1:]]), flush=True)
        finished = subprocess.run(command, env=env, check=False, timeout=120)  # noqa: S603
        limited = fake.counters.rate_limited
    print(f"\nexit code {finished.returncode}; the fake answered {limited} request(s) with 429")
    if finished.returncode != 0:
        return finished.returncode
    if limited == 0:
        print("expected the demo to meet the rate limit at least once", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
