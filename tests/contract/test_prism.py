"""Contract tests against Stoplight Prism, a mock server generated from openapi.yaml by others.

- Dynamic mode: hundreds of `get` / `run` calls on random, spec-valid answers (huge Retry-After
  values, negative numbers, extra properties) end in the promised model or a documented error.
- Every documented status, forced with Prism's `Prefer: code=...` header, maps to its class.
- Prism validates every request we send against the spec: its log shows no violation.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import httpx
import pytest
from cortex_api_client.models import QueryBuilderResult, QueryResponse
from cortexio_sdk import (
    AsyncCortex,
    BadRequestError,
    ConflictError,
    Cortex,
    CortexError,
    ErrorType,
    NotFoundError,
    RateLimitError,
)
from reliability_plugin import record

Prism = Any  # tests/contract/conftest.py's Prism: .url, .log_lines()

pytestmark = [pytest.mark.timeout(120), pytest.mark.reliability("contract")]

API_KEY = "ck_contract_KEY_0d9e8f"
CALLS_PER_OPERATION = 150  # per operation, half sync and half async
FORCED_REPEATS = 6  # per documented status, operation and client kind

# The Prefer header of the next request, set per call (an httpx event hook reads it).
prefer: ContextVar[str | None] = ContextVar("prefer", default=None)


def _add_prefer(request: httpx.Request) -> None:
    if (value := prefer.get()) is not None:
        request.headers["Prefer"] = value


async def _add_prefer_async(request: httpx.Request) -> None:
    _add_prefer(request)


SETTINGS: dict[str, Any] = {
    "api_key": API_KEY,
    "max_retries": 1,
    "max_retry_after": 0.2,
    "timeout": 10,
    "call_timeout": 20,
    "requests_per_minute": 600_000,
}


@pytest.fixture(scope="module")
def clients(prism: Prism) -> Iterator[tuple[Cortex, AsyncCortex, asyncio.Runner]]:
    sync_http = httpx.Client(event_hooks={"request": [_add_prefer]})
    async_http = httpx.AsyncClient(event_hooks={"request": [_add_prefer_async]})
    sync = Cortex(base_url=prism.url, http_client=sync_http, **SETTINGS)
    async_client = AsyncCortex(base_url=prism.url, http_client=async_http, **SETTINGS)
    runner = asyncio.Runner()
    yield sync, async_client, runner
    sync_http.close()
    runner.run(async_http.aclose())
    runner.close()


def call(
    clients: tuple[Cortex, AsyncCortex, asyncio.Runner],
    kind: str,
    operation: str,
    code: int | None,
) -> Any:
    """The operation's result or the exception it raised, with `Prefer: code=` when given."""
    sync, async_client, runner = clients
    job_id = f"job-{random.randrange(10**6)}"
    argument = job_id if operation == "get" else f"tag = 'team-{job_id}'"
    token = prefer.set(None if code is None else f"code={code}")
    try:
        if kind == "sync":
            return getattr(sync.queries, operation)(argument)
        # The runner keeps a context of its own: hand it this one, Prefer included.
        coroutine = getattr(async_client.queries, operation)(argument)
        return runner.run(coroutine, context=contextvars.copy_context())
    except Exception as exc:
        return exc
    finally:
        prefer.reset(token)
        record("contract calls")


DOCUMENTED = {"get": [200, 404, 429], "run": [200, 400, 409, 429]}
MODELS = {"get": QueryBuilderResult, "run": QueryResponse}
ERRORS = {400: BadRequestError, 404: NotFoundError, 409: ConflictError, 429: RateLimitError}


@pytest.mark.parametrize("operation", ["get", "run"])
def test_random_spec_valid_answers_end_in_a_model_or_a_documented_error(
    clients: tuple[Cortex, AsyncCortex, asyncio.Runner], operation: str
) -> None:
    outcomes: Counter[str] = Counter()
    rng = random.Random()
    for index in range(CALLS_PER_OPERATION):
        kind = "sync" if index % 2 == 0 else "async"
        # Mostly Prism's own choice (its first success), else any documented status.
        code = rng.choice([None, None, *DOCUMENTED[operation]])
        start = time.monotonic()
        outcome = call(clients, kind, operation, code)
        assert time.monotonic() - start < SETTINGS["call_timeout"]
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, CortexError), repr(outcome)
            assert API_KEY not in str(outcome)
        else:
            assert isinstance(outcome, MODELS[operation]), outcome
            outcome.to_dict()
        outcomes[type(outcome).__name__] += 1
    print(f"\n{operation}: {dict(outcomes)}")
    for name, count in outcomes.items():
        record(f"contract outcome {operation} {name}", count)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    ("operation", "code"), [(op, code) for op, codes in DOCUMENTED.items() for code in codes]
)
def test_a_forced_status_maps_to_its_class(
    clients: tuple[Cortex, AsyncCortex, asyncio.Runner], kind: str, operation: str, code: int
) -> None:
    for _ in range(FORCED_REPEATS):
        outcome = call(clients, kind, operation, code)
        if code == 200:
            assert isinstance(outcome, MODELS[operation]), repr(outcome)
            continue
        assert isinstance(outcome, ERRORS[code]), repr(outcome)
        assert outcome.status_code == code
        if code == 429:
            # Prism's Retry-After is a random int32, mostly far above max_retry_after: raised at
            # once with the server's figure; a small one is waited out and retried, then raised.
            assert outcome.retry_after is None or outcome.retry_after >= 0
        else:
            assert isinstance(outcome.error_type, ErrorType)
            assert outcome.message is not None


VIOLATION = re.compile(r"\[VALIDATOR\]\s+\S+\s+(error|warning)")


def test_prism_found_no_violation_in_our_requests(
    prism: Prism, clients: tuple[Cortex, AsyncCortex, asyncio.Runner]
) -> None:
    """Run last in this module: every request above went through Prism's validator."""
    lines = prism.log_lines()
    received = sum("Request received" in line for line in lines)
    violations = [line for line in lines if VIOLATION.search(line)]
    passed = sum("The request passed the validation rules" in line for line in lines)
    print(f"\nPrism: {received} requests received, {passed} passed validation")
    assert received >= 2 * CALLS_PER_OPERATION
    assert violations == []
    assert passed == received
    record("contract requests validated by Prism", received)

    # The control: a request that breaks the spec is reported, so silence above means something.
    httpx.post(f"{prism.url}/api/v1/queries", json={"q": 1}, timeout=10)
    for _ in range(50):
        if any(VIOLATION.search(line) for line in prism.log_lines()):
            break
        time.sleep(0.1)
    else:
        pytest.fail("Prism logged no violation for a request without auth and without query")
