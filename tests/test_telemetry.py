"""Traces and metrics on OpenTelemetry, read back from the OpenTelemetry SDK's in-memory exporters.

Every test runs a real client against the fake Cortex on 127.0.0.1 (or a scripted loopback
server), sync and async, with the providers a service would set (`otel_capture`). What is
checked: the span tree (caller > operation > HTTP attempts; caller > wait > polls), the HTTP
conventions' attributes, errors with the SDK's type, Cortex's type and the request id, the
metrics' data points, that the key is in no exported byte, and that nothing is built when no
provider is set or the extra is absent.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cortexio_sdk import (
    AsyncCortex,
    BadRequestError,
    ConfigurationError,
    Cortex,
    NotFoundError,
    QueryFailedError,
    RateLimitError,
    RedisLimiter,
)
from cortexio_sdk._telemetry import _names as names
from cortexio_sdk.testing import FakeCortex
from harness import API_KEY, Kind, closed_port
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

if TYPE_CHECKING:
    from otel_capture import Captured

# The `otel` fixture: the OpenTelemetry SDK with in-memory exporters, for one test.
pytest_plugins = ["otel_capture"]
pytestmark = pytest.mark.timeout(60)

QUERY = "tag = 'payments'"


@pytest.fixture
def fake() -> Iterator[FakeCortex]:
    with FakeCortex(api_key=API_KEY, job_seconds=0.3) as server:
        yield server


def _client(kind: Kind, fake: FakeCortex, **settings: Any) -> Cortex | AsyncCortex:
    settings.setdefault("requests_per_minute", 60_000)  # told: pacing is not what is tested
    cls = Cortex if kind == "sync" else AsyncCortex
    return cls(api_key=API_KEY, base_url=fake.base_url, **settings)


async def _under_caller(
    kind: Kind, client: Cortex | AsyncCortex, method: str, *args: Any, **kwargs: Any
) -> Any:
    """client.queries.<method>(...) inside the caller's own span "caller"; then closed."""
    tracer = trace.get_tracer("the-service")
    # The service's own span records nothing of an error: what is exported is the SDK's.
    with tracer.start_as_current_span(
        "caller", record_exception=False, set_status_on_exception=False
    ):
        try:
            if isinstance(client, Cortex):
                return getattr(client.queries, method)(*args, **kwargs)
            return await getattr(client.queries, method)(*args, **kwargs)
        finally:
            if isinstance(client, Cortex):
                client.close()
            else:
                await client.aclose()


def _attempts(otel: Captured, parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in otel.children(parent) if s.kind == SpanKind.CLIENT]


# -- the run of the issue: run_and_wait meeting a 429 and a retry -------------------------------


async def test_run_and_wait_traced_through_a_429_and_a_retry(
    otel: Captured, fake: FakeCortex, kind: Kind
) -> None:
    fake.faults.errors(429, count=1, retry_after=1, method="POST")
    fake.faults.errors(503, count=1, method="GET")

    # (Held to the end: the rate gauge reads the clients still alive when the metrics are read.)
    client = _client(kind, fake)
    done = await _under_caller(kind, client, "run_and_wait", QUERY, timeout=30)

    caller = otel.one("caller")
    create, wait = otel.one("createQuery"), otel.one(names.WAIT_SPAN)
    assert [s.name for s in otel.children(caller)] == ["createQuery", names.WAIT_SPAN]
    # The operation: named after its operationId, nested under the caller, a 429 then a 201.
    assert create.kind == SpanKind.INTERNAL
    assert create.attributes is not None
    assert create.attributes[names.OPERATION] == "createQuery"
    assert create.attributes[names.URL_TEMPLATE] == "/api/v1/queries"
    assert create.attributes[names.ATTEMPTS] == 2
    assert create.status.status_code == StatusCode.UNSET
    first, second = _attempts(otel, create)
    assert first.name == second.name == "POST /api/v1/queries"
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes[names.HTTP_STATUS] == 429
    assert first.attributes[names.ERROR_TYPE] == "429"
    assert names.RESEND_COUNT not in first.attributes
    assert second.attributes[names.HTTP_STATUS] == 200
    assert second.attributes[names.RESEND_COUNT] == 1
    assert second.attributes[names.SERVER_ADDRESS] == "127.0.0.1"
    assert second.attributes[names.SERVER_PORT] == fake.port
    assert second.attributes[names.URL_FULL] == f"{fake.base_url}/api/v1/queries"
    assert first.attributes[names.REQUEST_ID] != second.attributes[names.REQUEST_ID]
    # The 429's hold-off: an event on the operation, then slept in the limiter before attempt 2.
    events = {event.name: dict(event.attributes or {}) for event in create.events}
    assert events[names.RETRY_EVENT][names.RETRY_REASON] == names.RATE_LIMITED
    assert events[names.HOLD_OFF_EVENT][names.HOLD_OFF] == 1.0
    assert isinstance(second.attributes[names.LIMITER_WAIT], float)
    assert 0.8 <= second.attributes[names.LIMITER_WAIT] <= 3.0
    assert first.end_time is not None
    assert second.start_time is not None
    assert second.start_time - first.end_time >= 0.8e9

    # The wait: the job, its final status, the polls (each a getQueryResults under it).
    assert wait.attributes is not None
    job_id = done.query_details.job_id
    assert wait.attributes[names.JOB_ID] == job_id
    assert wait.attributes[names.QUERY_STATUS] == "DONE"
    polls = otel.children(wait)
    assert {s.name for s in polls} == {"getQueryResults"}
    assert wait.attributes[names.POLLS] == len(polls) >= 1
    assert 0.2 <= wait.attributes[names.WAITED] <= 10
    # The first poll met the 503 and was retried: two attempts, the second resent.
    retried = polls[0]
    assert retried.attributes is not None
    assert retried.attributes[names.URL_TEMPLATE] == "/api/v1/queries/{jobId}"
    answers = [(s.attributes or {}).get(names.HTTP_STATUS) for s in _attempts(otel, retried)]
    assert answers == [503, 200]
    reasons = [dict(e.attributes or {}).get(names.RETRY_REASON) for e in retried.events]
    assert reasons == [names.SERVER_ERROR]
    # Every span ended, all in one trace.
    assert {s.context.trace_id for s in otel.spans()} == {caller.context.trace_id}

    # The metrics of the same run.
    assert otel.total(names.REQUESTS, cortex__operation="createQuery") == 2
    assert otel.total(names.REQUESTS, http__response__status_code=429) == 1
    assert otel.total(names.REQUESTS, http__response__status_code=503) == 1
    assert otel.total(names.REQUESTS) == fake.counters.requests
    assert otel.total(names.RETRIES, cortex__retry__reason=names.RATE_LIMITED) == 1
    assert otel.total(names.RETRIES, cortex__retry__reason=names.SERVER_ERROR) == 1
    assert (
        otel.total(names.CALL_DURATION, cortex__operation="createQuery", cortex__outcome="ok") == 1
    )
    assert otel.total(names.CALL_DURATION, cortex__operation="getQueryResults") == len(polls)
    waits = dict((a[names.OPERATION], p) for a, p in otel.points(names.LIMITER_WAIT_METRIC))
    assert 0.8 <= waits["createQuery"].sum <= 3.0
    ((status, job),) = otel.points(names.QUERY_DURATION)
    assert status == {names.QUERY_STATUS: "DONE"}
    assert job.count == 1
    assert 0.2 <= job.sum <= 10  # a 0.3 s job, seen ended by the wait
    rates = otel.points(names.LIMITER_RATE)
    assert any(a[names.SERVER_ADDRESS] == "127.0.0.1" and p.value > 0 for a, p in rates)

    assert API_KEY not in otel.exported()


async def test_a_failed_call_records_the_sdk_and_cortex_error_types_and_the_request_id(
    otel: Captured, fake: FakeCortex, kind: Kind
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await _under_caller(kind, _client(kind, fake), "get", "no-such-job")

    span = otel.one("getQueryResults")
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes[names.ERROR_TYPE] == "cortexio_sdk.NotFoundError"
    assert span.attributes[names.CORTEX_ERROR_TYPE] == str(caught.value.error_type)
    assert caught.value.request_id
    assert span.attributes[names.REQUEST_ID] == caught.value.request_id
    assert [e.name for e in span.events] == ["exception"]
    (attempt,) = _attempts(otel, span)
    assert attempt.attributes is not None
    assert attempt.attributes[names.HTTP_STATUS] == 404
    failed = otel.total(
        names.CALL_DURATION,
        cortex__outcome="error",
        error__type="cortexio_sdk.NotFoundError",
    )
    assert failed == 1
    assert API_KEY not in otel.exported()


async def test_a_429_past_the_deadline_is_recorded_as_a_rate_limit_error(
    otel: Captured, fake: FakeCortex, kind: Kind
) -> None:
    fake.faults.errors(429, count=None, retry_after=120)  # longer than max_retry_after

    with pytest.raises(RateLimitError):
        await _under_caller(kind, _client(kind, fake), "get", "job-1")

    span = otel.one("getQueryResults")
    assert span.attributes is not None
    assert span.attributes[names.ERROR_TYPE] == "cortexio_sdk.RateLimitError"
    assert otel.total(names.REQUESTS, http__response__status_code=429) == 1
    assert otel.total(names.RETRIES) == 0


async def test_a_dropped_connection_is_an_attempt_with_its_exception_type(
    otel: Captured, fake: FakeCortex, kind: Kind
) -> None:
    job = fake.start_job(QUERY)
    fake.faults.drop_connections(1, method="GET")

    await _under_caller(kind, _client(kind, fake), "get", job.job_id)

    span = otel.one("getQueryResults")
    dropped, answered = _attempts(otel, span)
    assert dropped.attributes is not None
    assert answered.attributes is not None
    assert dropped.attributes[names.ERROR_TYPE].startswith("httpx.")
    assert names.HTTP_STATUS not in dropped.attributes
    assert answered.attributes[names.HTTP_STATUS] == 200
    reason = otel.points(names.RETRIES)[0][0][names.RETRY_REASON]
    assert reason in (names.CONNECTION_LOST, names.CONNECTION_FAILED)
    assert otel.total(names.REQUESTS, error__type=dropped.attributes[names.ERROR_TYPE]) == 1


# -- waits: also under as_completed, with each failure's status --------------------------------


async def test_as_completed_waits_nest_under_the_caller(
    otel: Captured, fake: FakeCortex, kind: Kind
) -> None:
    jobs = [fake.start_job(f"tag = 'job-{n}'").job_id for n in range(3)]
    client = _client(kind, fake)
    tracer = trace.get_tracer("the-service")
    with tracer.start_as_current_span("caller"):
        if isinstance(client, Cortex):
            with client:
                outcomes = list(client.queries.as_completed(jobs, timeout=30))
        else:
            async with client:
                outcomes = [o async for o in client.queries.as_completed(jobs, timeout=30)]

    assert all(o.error is None for o in outcomes)
    caller = otel.one("caller")
    waits = otel.named(names.WAIT_SPAN)
    assert sorted((w.attributes or {})[names.JOB_ID] for w in waits) == sorted(jobs)
    assert all(w.parent is not None and w.parent.span_id == caller.context.span_id for w in waits)
    assert otel.total(names.QUERY_DURATION, cortex__query__status="DONE") == 3


async def test_a_failed_job_ends_its_wait_span_with_the_error_and_the_status(
    otel: Captured, fake: FakeCortex, kind: Kind
) -> None:
    fake.faults.next_jobs("FAILURE")

    with pytest.raises(QueryFailedError) as caught:
        await _under_caller(kind, _client(kind, fake), "run_and_wait", QUERY, timeout=30)

    wait = otel.one(names.WAIT_SPAN)
    assert wait.status.status_code == StatusCode.ERROR
    assert wait.attributes is not None
    assert wait.attributes[names.QUERY_STATUS] == "FAILURE"
    assert wait.attributes[names.ERROR_TYPE] == f"cortexio_sdk.{type(caught.value).__name__}"
    assert otel.total(names.QUERY_DURATION, cortex__query__status="FAILURE") == 1


# -- privacy ---------------------------------------------------------------------------------


async def test_the_query_text_is_recorded_only_when_asked(
    otel: Captured, fake: FakeCortex, kind: Kind
) -> None:
    secret_query = "tag = 'alice-payroll-laptop'"
    await _under_caller(kind, _client(kind, fake), "run", secret_query)
    assert "alice-payroll-laptop" not in otel.exported()

    secret_query += " or tag = 'bob'"  # another query: the first may still be running
    await _under_caller(kind, _client(kind, fake, record_query_text=True), "run", secret_query)
    recorded = [(s.attributes or {}).get(names.QUERY_TEXT) for s in otel.named("createQuery")]
    assert recorded == [None, secret_query]


def test_record_query_text_must_be_a_bool() -> None:
    with pytest.raises(ConfigurationError, match="record_query_text must be True or False"):
        Cortex(api_key=API_KEY, record_query_text="yes")  # type: ignore[arg-type]


# -- the shared limiter's fallback --------------------------------------------------------------


def test_a_redis_outage_is_counted(otel: Captured, fake: FakeCortex) -> None:
    limiter = RedisLimiter(url=f"redis://127.0.0.1:{closed_port()}/0", timeout=0.5)
    with _client("sync", fake, rate_limiter=limiter) as client:
        assert isinstance(client, Cortex)
        job = client.queries.run(QUERY)
        client.queries.get(job.job_id)

    assert otel.total(names.LIMITER_FALLBACKS) == 1  # once per outage, not per call
    kinds = {a[names.LIMITER_KIND] for a, _ in otel.points(names.LIMITER_RATE)}
    assert "redis" in kinds


# -- nothing when nobody listens ---------------------------------------------------------------


def test_no_record_is_built_without_a_provider(fake: FakeCortex) -> None:
    # No provider set in this process (the tests above patch the getters for themselves).
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
    with Cortex(api_key=API_KEY, base_url=fake.base_url) as client:
        request = client.low_level.get_httpx_client().build_request("GET", "/api/v1/queries/x")
        telemetry = client._policy.telemetry
        assert telemetry is not None
        assert telemetry.call(request) is None
        assert telemetry.wait("x") is None


def _run(script: str) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh interpreter (warnings as errors); it must exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert done.returncode == 0, done.stderr
    return done


_WITHOUT_OPENTELEMETRY = """
import sys
sys.modules[{blocked!r}] = None  # as if it were not installed: its import fails
from cortexio_sdk import Cortex
with Cortex(api_key={key!r}, base_url={url!r}) as client:
    done = client.queries.run_and_wait("tag = 'payments'", timeout=30)
seen = [name for name in sys.modules if "opentelemetry" in name or name.endswith("._otel")]
print(done.status, sorted(seen))
"""


@pytest.mark.parametrize(
    ("blocked", "imported"),
    [
        # Not installed: nothing tries to import it.
        ("opentelemetry", "['opentelemetry']"),
        # A partial install, its trace module failing to import: the SDK tries (the metrics
        # API is imported), fails, and goes on untraced.
        ("opentelemetry.trace", None),
    ],
)
def test_without_the_extra_calls_work_untraced(
    fake: FakeCortex, blocked: str, imported: str | None
) -> None:
    script = _WITHOUT_OPENTELEMETRY.format(key=API_KEY, url=fake.base_url, blocked=blocked)
    if blocked == "opentelemetry.trace":
        script = script.replace(
            "from cortexio_sdk import", "import opentelemetry.metrics\nfrom cortexio_sdk import"
        )
    done = _run(script)
    status, modules = done.stdout.split(" ", 1)
    assert status == "DONE"
    if imported is not None:
        assert modules.strip() == imported  # the blocked name only
    else:
        assert "'opentelemetry.metrics'" in modules
        assert "cortexio_sdk._telemetry._otel" not in modules


_UNCONFIGURED = """
import sys
import opentelemetry.trace, opentelemetry.metrics  # imported, but no provider set
from cortexio_sdk import Cortex
with Cortex(api_key={key!r}, base_url={url!r}) as client:
    client.queries.run_and_wait("tag = 'payments'", timeout=30)
    request = client.low_level.get_httpx_client().build_request("GET", "/")
    print(client._policy.telemetry.call(request))
"""


def test_with_the_api_but_no_provider_no_record_is_built(fake: FakeCortex) -> None:
    script = _UNCONFIGURED.format(key=API_KEY, url=fake.base_url)
    assert _run(script).stdout.strip() == "None"


def test_a_request_made_by_hand_on_the_low_level_client_is_named_by_its_method(
    otel: Captured, fake: FakeCortex
) -> None:
    with _client("sync", fake) as client:
        assert isinstance(client, Cortex)
        http = client.low_level.get_httpx_client()
        with pytest.raises(NotFoundError):
            http.get("/api/v1/queries/whatever")
    (span,) = [s for s in otel.spans() if s.kind == SpanKind.INTERNAL]
    assert span.name == "GET"
    assert span.attributes is not None
    assert names.URL_TEMPLATE not in span.attributes
    (attempt,) = _attempts(otel, span)
    assert attempt.name == "GET"


def test_the_names_are_listed_in_the_readme() -> None:
    """The README's table is the public list: every name and value emitted is in it."""
    from cortexio_sdk._ratelimit._limiter import RateLimiter
    from cortexio_sdk._ratelimit._redis_bucket import RedisBucket

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Observability", 1)[1].split("\n## ", 1)[0]
    public = {
        value
        for key, value in vars(names).items()
        if key.isupper() and isinstance(value, str) and key != "INSTRUMENTATION_SCOPE"
    } | {RateLimiter.kind, RedisBucket.kind}
    listed = set(re.findall(r"`([a-z_.]+(?:\.[a-z_]+)*)`", section))
    missing = {n for n in public if n not in listed}
    assert not missing, f"emitted but not in README's Observability section: {sorted(missing)}"


async def test_an_error_message_quoting_the_query_is_recorded_only_when_asked(
    otel: Captured, fake: FakeCortex, kind: Kind
) -> None:
    """Cortex's message for a bad query quotes it: by default only the error's types and
    request id are recorded, the message and stack with record_query_text=True."""
    bad = "tag = alice-payroll"  # unquoted value: 400, and the message quotes it
    with pytest.raises(BadRequestError) as caught:
        await _under_caller(kind, _client(kind, fake), "run", bad)
    assert "alice-payroll" in str(caught.value)
    span = otel.one("createQuery")
    assert span.attributes is not None
    assert span.attributes[names.ERROR_TYPE] == "cortexio_sdk.BadRequestError"
    assert span.attributes[names.REQUEST_ID] == caught.value.request_id
    assert "alice-payroll" not in otel.exported()

    with pytest.raises(BadRequestError):
        await _under_caller(kind, _client(kind, fake, record_query_text=True), "run", bad)
    messages = [
        dict(event.attributes or {}).get("exception.message")
        for span in otel.named("createQuery")
        for event in span.events
    ]
    assert messages[0] is None
    assert "alice-payroll" in str(messages[-1])


def test_telemetry_that_cannot_be_set_up_does_not_fail_a_call(
    otel: Captured,
    fake: FakeCortex,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An OpenTelemetry API older than the extra allows (no histogram bucket advice): said
    once, and the calls go on untraced."""
    from cortexio_sdk._telemetry import _otel

    def too_old(*_: object, **__: object) -> None:
        raise TypeError("create_histogram() got an unexpected keyword argument")

    monkeypatch.setattr(_otel.Instruments, "__init__", too_old)
    with _client("sync", fake) as client:
        assert isinstance(client, Cortex)
        job = client.queries.run(QUERY)
        client.queries.get(job.job_id)
    assert otel.spans() == []
    warnings = [r for r in caplog.records if "could not be set up" in r.getMessage()]
    assert len(warnings) == 1
