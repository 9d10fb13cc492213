"""Fuzzing the SDK with responses generated from the spec, then spoiled.

Bodies come from openapi.yaml's schemas (tests/support/specgen.py) and are then mutated: unknown
enum values, wrong types, missing required fields, nulls, extra fields, other JSON, truncated or
non-JSON bytes, wrong content types, odd status codes and Retry-After values. They reach the SDK's
real path through an httpx.MockTransport under the SDK's own transport (retry, typed errors, the
generated parsing), one to three responses per call so retries are exercised too.

The property: `queries.get` / `queries.run` return the promised model or raise a documented
CortexError subclass, nothing else, sync and async alike.

Settings profiles (env CORTEX_FUZZ_PROFILE): "ci" (default; deterministic, a few seconds) and
"thorough" (random, many more examples).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest
from cortex_api_client.models import QueryBuilderResult, QueryResponse
from cortexio_sdk import AsyncCortex, Cortex, CortexError
from cortexio_sdk import __all__ as public_names
from harness import API_KEY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_plugin import record
from specgen import (
    CONTENT_TYPES,
    GARBAGE_BYTES,
    ODD_STATUSES,
    RETRY_AFTER,
    documented_statuses,
    from_schema,
    mutated,
    response_schema,
)

pytestmark = [pytest.mark.timeout(600), pytest.mark.reliability("fuzz"), pytest.mark.slow]

settings.register_profile(
    "ci",
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("CORTEX_FUZZ_PROFILE", "ci")

GET_PATH, POST_PATH = "/api/v1/queries/{jobId}", "/api/v1/queries"
DOCUMENTED = {
    (path, method): documented_statuses(path, method)
    for path, method in ((GET_PATH, "get"), (POST_PATH, "post"))
}
# The documented exceptions: CortexError and its subclasses, all exported by cortexio_sdk.
import cortexio_sdk  # noqa: E402

DOCUMENTED_ERRORS = tuple(
    obj
    for name in public_names
    if isinstance(obj := getattr(cortexio_sdk, name), type) and issubclass(obj, CortexError)
)


@attrs.frozen
class Canned:
    """One response the mock transport gives, and how it was made (for failure reports)."""

    status: int
    body: bytes
    content_type: str
    retry_after: str | None
    how: str

    def to_httpx(self) -> httpx.Response:
        headers = {"Content-Type": self.content_type} if self.content_type else {}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        return httpx.Response(self.status, content=self.body, headers=headers)


@st.composite
def canned(draw: st.DrawFn, path: str, method: str) -> Canned:
    documented = DOCUMENTED[(path, method)]
    status = draw(st.sampled_from(documented) | ODD_STATUSES)
    key = str(status) if status in documented else str(draw(st.sampled_from(documented)))
    content_type, schema = response_schema(path, method, key)
    body: Any = draw(from_schema(schema))
    how = "valid"
    if draw(st.booleans()):
        how, body = draw(mutated(body))
    raw = json.dumps(body, allow_nan=True).encode()
    spoil = draw(st.sampled_from(["none", "none", "truncate", "garbage"]))
    if spoil == "truncate" and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
        how += "+truncated"
    elif spoil == "garbage":
        raw = draw(GARBAGE_BYTES)
        how = "garbage"
    if draw(st.integers(0, 3)) == 0:
        content_type = draw(CONTENT_TYPES)
    return Canned(status, raw, content_type, draw(RETRY_AFTER), how)


def scripts(path: str, method: str) -> st.SearchStrategy[list[Canned]]:
    return st.lists(canned(path, method), min_size=1, max_size=3)


class Script:
    """Hands out the responses of the current example, then repeats the last one."""

    def __init__(self) -> None:
        self.responses: list[Canned] = []
        self.served = 0

    def load(self, responses: list[Canned]) -> None:
        self.responses, self.served = responses, 0

    def next(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        reply = self.responses[min(self.served, len(self.responses) - 1)]
        self.served += 1
        return reply.to_httpx()


def _fast(client: Cortex | AsyncCortex) -> None:
    """Backoff of a millisecond: the fuzz tests check outcomes, not waiting (tested elsewhere)."""
    transport: Any = client._http._transport
    transport.policy = attrs.evolve(transport.policy, backoff_base=0.001, backoff_max=0.002)


SETTINGS: dict[str, Any] = {
    "api_key": API_KEY,
    "base_url": "http://127.0.0.1:9",
    "max_retries": 2,
    "max_retry_after": 0.001,
    "requests_per_minute": 6_000_000,
    # No deadline, so that 429s count against max_retries: with one, a server answering 429
    # for ever is retried until the deadline passes (tests/test_retry.py), not what this checks.
    "call_timeout": None,
}


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[Script, Cortex, AsyncCortex, asyncio.Runner]]:
    script = Script()

    async def handle(request: httpx.Request) -> httpx.Response:
        return script.next(request)

    sync = Cortex(http_client=httpx.Client(transport=httpx.MockTransport(script.next)), **SETTINGS)
    runner = asyncio.Runner()
    async_client = AsyncCortex(
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handle)), **SETTINGS
    )
    _fast(sync)
    _fast(async_client)
    yield script, sync, async_client, runner
    sync._http.close()
    runner.run(async_client._http.aclose())
    runner.close()


def check_outcome(outcome: Any, model: type, responses: list[Canned]) -> None:
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, DOCUMENTED_ERRORS), (responses, repr(outcome))
        # A documented error is also one a person can read: its text never fails to render.
        assert str(outcome)
        assert API_KEY not in str(outcome)
        return
    assert isinstance(outcome, model), (responses, outcome)
    # A success came from a 200, and the model it returned can be used.
    assert any(r.status == 200 for r in responses), responses
    outcome.to_dict()
    repr(outcome)


def outcomes(
    clients: tuple[Script, Cortex, AsyncCortex, asyncio.Runner],
    responses: list[Canned],
    operation: str,
    argument: str,
) -> Iterator[Any]:
    script, sync, async_client, runner = clients
    for call in (
        lambda: getattr(sync.queries, operation)(argument),
        lambda: runner.run(getattr(async_client.queries, operation)(argument)),
    ):
        script.load(responses)
        try:
            yield call()
        except Exception as exc:
            yield exc
        record("fuzz calls")


@settings(settings.get_profile(PROFILE))
@given(responses=scripts(GET_PATH, "get"))
def test_get_ends_in_a_model_or_a_documented_error(
    clients: tuple[Script, Cortex, AsyncCortex, asyncio.Runner], responses: list[Canned]
) -> None:
    for outcome in outcomes(clients, responses, "get", "job-1"):
        check_outcome(outcome, QueryBuilderResult, responses)


@settings(settings.get_profile(PROFILE))
@given(responses=scripts(POST_PATH, "post"))
def test_run_ends_in_a_model_or_a_documented_error(
    clients: tuple[Script, Cortex, AsyncCortex, asyncio.Runner], responses: list[Canned]
) -> None:
    for outcome in outcomes(clients, responses, "run", "tag = 'x'"):
        check_outcome(outcome, QueryResponse, responses)
