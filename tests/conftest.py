from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from harness import API_KEY, Api, Kind
from loopback import LoopbackServer

# Counts the reliability cases (contract, fuzz, faults, security) for docs/reliability.md.
pytest_plugins = ["reliability_plugin"]


@pytest.fixture(autouse=True)
def _no_shared_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's CORTEX_RATE_LIMIT_REDIS_URL must not reach tests that do not set it."""
    monkeypatch.delenv("CORTEX_RATE_LIMIT_REDIS_URL", raising=False)
    monkeypatch.delenv("CORTEX_RATE_LIMIT_REDIS_CLUSTER", raising=False)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A scripted HTTP server on 127.0.0.1, stopped after the test."""
    srv = LoopbackServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> Kind:
    """Run the test once with `Cortex` and once with `AsyncCortex`."""
    param: Kind = request.param
    return param


@pytest.fixture
async def connect(kind: Kind, server: LoopbackServer) -> AsyncIterator[Callable[..., Api]]:
    """Make clients of the test's kind (pointed at `server` with the test key); closed after."""
    made: list[Api] = []

    def factory(**settings: Any) -> Api:
        settings.setdefault("api_key", API_KEY)
        settings.setdefault("base_url", server.url)
        # Told a limit far above these tests' pace, so the limiter's slow start is not what they
        # measure (test_limiter, test_ratesim and test_concurrency hold its defaults to account).
        settings.setdefault("requests_per_minute", 60_000)
        api = Api(kind, **settings)
        made.append(api)
        return api

    yield factory
    for api in made:
        await api.close()
