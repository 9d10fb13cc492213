"""A fake Cortex Queries API to test against: a real HTTP server on 127.0.0.1, no account needed.

    from cortexio_sdk.testing import FakeCortex

    with FakeCortex(job_seconds=0.5) as fake:
        fake.faults.rate_limit(per_second=5)
        fake.faults.next_jobs("FAILURE")
        with fake.client() as client:
            job = client.queries.run("type = 'service' and tag in ('payments-api', 'inventory')")

From the command line: `python -m cortexio_sdk.testing --port 0 --job-seconds 3 --rate-limit 5/s`.
With pytest: the `cortex_fake` fixture of `cortexio_sdk.testing.pytest_plugin`. For the shared
rate limit, `RedisServer` runs a throwaway redis-server (the program must be installed), and
`RedisServerCluster` three of them as a Redis Cluster.

Only the standard library is used here, so this package imports in a service's production
environment too; only `pytest_plugin` needs pytest.
"""

from __future__ import annotations

from ._app import MAX_BODY_BYTES, Counters, Job, RecordedRequest
from ._catalog import DEFAULT_CATALOG, Entity, load_catalog
from ._cli import main
from ._cql import CQLError, parse_cql
from ._faults import Faults, parse_rate
from ._redis_server import RedisServer, RedisServerCluster, RedisServerError
from ._server import FakeCortex

__all__ = [
    "DEFAULT_CATALOG",
    "MAX_BODY_BYTES",
    "CQLError",
    "Counters",
    "Entity",
    "FakeCortex",
    "Faults",
    "Job",
    "RecordedRequest",
    "RedisServer",
    "RedisServerCluster",
    "RedisServerError",
    "load_catalog",
    "main",
    "parse_cql",
    "parse_rate",
]
