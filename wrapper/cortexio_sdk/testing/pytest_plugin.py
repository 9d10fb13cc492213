"""pytest fixtures for testing code that uses cortexio-sdk against the fake Cortex server.

Enable it in a test module or a conftest.py with::

    pytest_plugins = ["cortexio_sdk.testing.pytest_plugin"]

Fixtures (each function-scoped, stopped and closed after the test):

- `cortex_fake`: a started `FakeCortex`. Configure it with a marker, whose keywords go to
  `FakeCortex(...)`: ``@pytest.mark.cortex_fake(job_seconds=0.2, rate_limit="5/s")``, or by
  indirect parametrization with a dict of the same keywords:
  ``@pytest.mark.parametrize("cortex_fake", [{"job_seconds": 0}], indirect=True)``. The rate
  limit takes `faults.rate_limit`'s keywords too: ``rate_limit="600/min", shape="sliding-window",
  retry_after_in="body"`` (a window shape's window is the rate's unit unless `window=` says).
- `cortex_client`: a `cortexio_sdk.Cortex` pointed at `cortex_fake`.
- `cortex_env`: sets CORTEX_API_KEY and CORTEX_BASE_URL to `cortex_fake`, for code that builds its
  own client from the environment; yields the fake.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .._client import Cortex
from ._server import FakeCortex

__all__ = ["cortex_client", "cortex_env", "cortex_fake"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cortex_fake(**options): keyword arguments for the FakeCortex of the cortex_fake fixture",
    )


@pytest.fixture
def cortex_fake(request: pytest.FixtureRequest) -> Iterator[FakeCortex]:
    """A fake Cortex Queries API on 127.0.0.1, running for the duration of the test."""
    options: dict[str, object] = {}
    for marker in reversed(list(request.node.iter_markers("cortex_fake"))):
        if marker.args:
            raise pytest.UsageError("@pytest.mark.cortex_fake takes keyword arguments only")
        options.update(marker.kwargs)  # the closest marker (on the function) wins
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, dict):
            raise pytest.UsageError("parametrize cortex_fake with dicts of FakeCortex keywords")
        options.update(param)
    with FakeCortex(**options) as fake:  # type: ignore[arg-type]  # checked by FakeCortex
        yield fake


@pytest.fixture
def cortex_client(cortex_fake: FakeCortex) -> Iterator[Cortex]:
    """A `cortexio_sdk.Cortex` client for `cortex_fake`."""
    with cortex_fake.client() as client:
        yield client


@pytest.fixture
def cortex_env(cortex_fake: FakeCortex, monkeypatch: pytest.MonkeyPatch) -> FakeCortex:
    """Points CORTEX_API_KEY and CORTEX_BASE_URL at `cortex_fake` for the test; returns it."""
    for name, value in cortex_fake.env.items():
        monkeypatch.setenv(name, value)
    return cortex_fake
