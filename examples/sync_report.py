"""A nightly report job, the way an internal service uses the SDK synchronously.

    pip install --index-url https://pypi.internal.example/simple/ cortexio-sdk==0.1.0
                                         # one private index, an exact version (docs/versioning.md)
    export CORTEX_API_KEY=...            # and CORTEX_BASE_URL for a self-managed Cortex
    python examples/sync_report.py

Starts one query per team, waits for all of them at once with `queries.as_completed`, and prints
one line per team. A team whose query failed is reported and the others still are; the exit
status is 1 when any query did not finish. The whole run is bounded by `WAIT_SECONDS`.
"""

from __future__ import annotations

import logging
import sys

from cortexio_sdk import Cortex, CortexError

TEAMS = {
    "payments": "tag = 'payments-api' or tag = 'payments-ledger'",
    "services": "type = 'service'",
    "inventory": "tag = 'inventory'",
}
WAIT_SECONDS = 120


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    failed = 0
    with Cortex(max_retries=4, call_timeout=60) as client:  # key and URL from the environment
        team_of = {client.queries.run(cql).job_id: team for team, cql in TEAMS.items()}
        for done in client.queries.as_completed(team_of, timeout=WAIT_SECONDS):
            team = team_of[done.job_id]
            try:
                state = done.unwrap()
            except CortexError as error:
                failed += 1
                print(f"{team}: query failed: {error}", file=sys.stderr)
                continue
            names = sorted(entity.name for entity in state.result or [])
            print(f"{team}: {len(names)} entities: {', '.join(names)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
