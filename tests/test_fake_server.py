"""cortexio_sdk.testing: the fake Cortex Queries server over real sockets, via httpx and the SDK."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cortexio_sdk import Cortex, QueryFailedError, QueryStatus
from cortexio_sdk.testing import (
    DEFAULT_CATALOG,
    MAX_BODY_BYTES,
    CQLError,
    Entity,
    FakeCortex,
    Faults,
    load_catalog,
    main,
    parse_cql,
    parse_rate,
)

pytest_plugins = ["cortexio_sdk.testing.pytest_plugin", "pytester"]

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
QUERIES = "/api/v1/queries"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def fake() -> Iterator[FakeCortex]:
    with FakeCortex(api_key=KEY, job_seconds=0.0) as server:
        yield server


@pytest.fixture
def http(fake: FakeCortex) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    ) as client:
        yield client


def run(http: httpx.Client, query: str) -> httpx.Response:
    return http.post(QUERIES, json={"query": query})


def job_id_of(http: httpx.Client, query: str) -> str:
    response = run(http, query)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["jobId"]
    return job_id


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, object]:
    """An ErrorResponse with everything the fake promises: message, type, ids, status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, object] = response.json()
    assert body["type"] == error_type
    assert body["httpStatus"] == status
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["requestId"] == response.headers["x-request-id"]
    return body


def wait_done(http: httpx.Client, job_id: str, timeout: float = 5.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, object] = http.get(f"{QUERIES}/{job_id}").json()
        if state["status"] != "IN_PROGRESS":
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def tags(state: dict[str, object]) -> set[str]:
    result = state["result"]
    assert isinstance(result, list)
    return {entity["tag"] for entity in result}


# --- the two operations ---


def test_post_answers_a_query_response(fake: FakeCortex, http: httpx.Client) -> None:
    response = run(http, "tag = 'inventory'")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    body = response.json()
    assert set(body) == {"initiatedAt", "jobId", "query"}
    assert ISO_UTC.match(body["initiatedAt"]), body["initiatedAt"]
    assert body["query"] == "tag = 'inventory'"
    assert [job.job_id for job in fake.jobs()] == [body["jobId"]]


def test_progress_rises_until_the_job_is_done_after_its_set_time() -> None:
    with (
        FakeCortex(api_key=KEY, job_seconds=1.0) as fake,
        httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}) as http,
    ):
        started = time.monotonic()
        job_id = job_id_of(http, "type = 'queue'")
        progress: list[float] = []
        while True:
            state = http.get(f"{QUERIES}/{job_id}").json()
            if state["status"] != "IN_PROGRESS":
                break
            assert "result" not in state
            progress.append(state["progress"])
            time.sleep(0.1)
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed <= 3.0, elapsed
    assert state["status"] == "DONE"
    assert state["progress"] == 1.0
    assert state["queryDetails"]["jobId"] == job_id
    assert tags(state) == {"payment-events", "order-events", "email-queue"}
    assert len(set(progress)) >= 3, progress
    assert progress == sorted(progress), progress
    assert all(0 <= p < 1 for p in progress), progress


def of_type(*types: str) -> set[str]:
    return {e.tag for e in DEFAULT_CATALOG if e.type in types}


SERVICES = of_type("service")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tag = 'payments-api'", {"payments-api"}),
        ("type = 'service'", SERVICES),
        ('type == "database" or type = "cache"', of_type("database", "cache")),
        ("type = 'service' and tag != 'inventory'", SERVICES - {"inventory"}),
        ("type in ('queue', 'bucket')", of_type("queue", "bucket")),
        ("type = 'team' and tag not in ('team-payments', 'team-identity')",
         {"team-storefront", "team-platform"}),
        ("(type = 'team' or type = 'domain') and name = 'Payments'", {"payments"}),
        ("TAG = 'inventory' AND Type = 'service'", {"inventory"}),
        ("type = 'domain' and (tag = 'identity' or tag = 'catalog') or tag = 'inventory'",
         {"identity", "catalog", "inventory"}),
        ("name = 'Session Store API'", {"session-store-api"}),
        ("description = 'Issues and tracks refunds.'", {"refunds-service"}),
        ("tag = 'no-such-thing'", set()),
    ],
)  # fmt: skip
def test_cql_filters_select_the_right_entities(
    http: httpx.Client, query: str, expected: set[str]
) -> None:
    state = wait_done(http, job_id_of(http, query))
    assert state["status"] == "DONE"
    assert tags(state) == expected


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("owner = 'x'", "unknown field 'owner'"),
        ("tag = payments", "expected a quoted string"),
        ("tag = 'x' and", "expected a field"),
        ("(tag = 'x'", "expected ')' to close the '(' at column 1"),
        ("tag = 'x", "unterminated string"),
        ("tag ~ 'x'", "unexpected character '~'"),
        ("tag = 'a' tag = 'b'", "expected 'and', 'or' or the end of the query"),
        ("tag in 'a'", "expected '(' to open the list of values"),
        ("tag is 'a'", "expected '=', '!=' or 'in' after 'tag'"),
    ],
)
def test_cql_it_cannot_parse_is_a_400_naming_the_problem(
    http: httpx.Client, query: str, problem: str
) -> None:
    body = assert_error(run(http, query), 400, "ILLEGAL_ARGUMENT_ERROR")
    assert problem in str(body["message"]), body["message"]
    assert "column" in str(body["message"])


def test_parse_cql_reports_the_column() -> None:
    with pytest.raises(CQLError) as caught:
        parse_cql("type = 'service' and colour = 'red'")
    assert caught.value.position == 21
    assert "(at column 22)" in str(caught.value)
    predicate = parse_cql(r"name = 'it\'s'")
    assert predicate.matches(Entity(name="it's", tag="t", type="service"))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{}", "'query' is required"),
        (b'{"query": "   "}', "must not be blank"),
        (b'{"query": 42}', "must be a string, got int"),
        (b'{"query": null}', "must be a string, got NoneType"),
        (b"{not json", "not valid JSON"),
        (b"[\"tag = 'x'\"]", "must be a JSON object"),
    ],
)
def test_a_bad_request_body_is_a_400(http: httpx.Client, body: bytes, problem: str) -> None:
    response = http.post(QUERIES, content=body, headers={"Content-Type": "application/json"})
    message = assert_error(response, 400, "BAD_REQUEST")["message"]
    assert problem in str(message), message


def test_a_body_over_2_mib_is_a_400_and_the_connection_stays_usable(
    fake: FakeCortex, http: httpx.Client
) -> None:
    query = "tag = '" + "x" * MAX_BODY_BYTES + "'"
    message = assert_error(run(http, query), 400, "BAD_REQUEST")["message"]
    assert "2 MB" in str(message)
    assert run(http, "tag = 'inventory'").status_code == 200
    assert fake.counters.connections_opened == 1


def test_a_chunked_body_is_read(http: httpx.Client) -> None:
    chunks = iter([b'{"query": ', b"\"tag = 'inventory'\"}"])
    response = http.post(QUERIES, content=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["query"] == "tag = 'inventory'"


def test_a_non_json_content_type_is_a_400(http: httpx.Client) -> None:
    response = http.post(QUERIES, content=b"tag = 'x'", headers={"Content-Type": "text/plain"})
    assert "Content-Type" in str(assert_error(response, 400, "BAD_REQUEST")["message"])


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-key", "Basic dGVzdC1rZXk6", "Bearer", "test-key"]
)
def test_a_missing_or_wrong_key_is_a_401(fake: FakeCortex, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for response in (
        httpx.post(f"{fake.base_url}{QUERIES}", json={"query": "tag = 'x'"}, headers=headers),
        httpx.get(f"{fake.base_url}{QUERIES}/some-job", headers=headers),
    ):
        assert_error(response, 401, "FORBIDDEN")
        assert response.headers["www-authenticate"] == "Bearer"
    assert fake.jobs() == []


def test_an_unknown_job_is_a_404(http: httpx.Client) -> None:
    body = assert_error(http.get(f"{QUERIES}/no-such-job"), 404, "NOT_FOUND")
    assert "no-such-job" in str(body["message"])


def test_the_job_id_is_one_url_decoded_path_segment(http: httpx.Client) -> None:
    job_id = job_id_of(http, "tag = 'inventory'")
    assert http.get(f"{QUERIES}/{quote(job_id)}").status_code == 200
    body = assert_error(http.get(f"{QUERIES}/a%2Fb%20c"), 404, "NOT_FOUND")
    assert "'a/b c'" in str(body["message"])
    body = assert_error(http.get(f"{QUERIES}/{job_id}/extra"), 404, "NOT_FOUND")
    assert "No route" in str(body["message"])
    assert_error(http.get(f"{QUERIES}/"), 404, "NOT_FOUND")


def test_other_routes_and_methods(http: httpx.Client) -> None:
    assert_error(http.get("/api/v2/things"), 404, "NOT_FOUND")
    response = http.get(QUERIES)
    assert_error(response, 405, "BAD_REQUEST")
    assert response.headers["allow"] == "POST"
    response = http.delete(f"{QUERIES}/job")
    assert_error(response, 405, "BAD_REQUEST")
    assert response.headers["allow"] == "GET"


def test_the_same_cql_while_it_runs_is_a_409(fake: FakeCortex, http: httpx.Client) -> None:
    fake.faults.job_duration(0.5)
    first = job_id_of(http, "type = 'cache'")
    body = assert_error(run(http, "type = 'cache'"), 409, "CONFLICT")
    assert first in str(body["message"])
    assert run(http, "type = 'bucket'").status_code == 200  # other CQL runs alongside
    wait_done(http, first)
    assert run(http, "type = 'cache'").status_code == 200  # once it is done, it may run again


def test_keep_alive_serves_many_requests_on_one_connection(
    fake: FakeCortex, http: httpx.Client
) -> None:
    job_id = job_id_of(http, "tag = 'inventory'")
    for _ in range(5):
        http.get(f"{QUERIES}/{job_id}")
    counters = fake.counters
    assert counters.connections_opened == 1
    assert counters.requests_by_method == {"POST": 1, "GET": 5}
    assert counters.responses_by_status == {200: 6}
    assert counters.jobs_created == 1


# --- the rate limit ---


def test_the_rate_limit_answers_429_with_retry_after_and_problem_json() -> None:
    with (
        FakeCortex(api_key=KEY, job_seconds=0, rate_limit="2/s", burst=2) as fake,
        httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}) as http,
    ):
        assert run(http, "tag = 'a'").status_code == 200
        assert run(http, "tag = 'b'").status_code == 200
        limited = run(http, "tag = 'c'")
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.headers["retry-after"] == "1"
        assert limited.headers["x-request-id"]
        body = limited.json()
        assert body["status"] == 429
        assert body["retryAfter"] == 1
        assert body["title"] == "Too Many Requests"
        assert body["type"] == "about:blank"
        assert body["instance"] == QUERIES
        assert "2 requests per second" in body["detail"]
        assert fake.counters.rate_limited == 1
        time.sleep(1.0)
        assert run(http, "tag = 'c'").status_code == 200
        assert fake.counters.responses_by_status == {200: 3, 429: 1}


def test_retry_after_is_the_whole_seconds_until_a_token_rounded_up(fake: FakeCortex) -> None:
    fake.faults.rate_limit(per_minute=6, burst=1)  # one token every 10 s
    with httpx.Client(base_url=fake.base_url, headers=AUTH) as http:
        assert http.get(f"{QUERIES}/x").status_code == 404  # a token spent on an unknown job
        limited = http.get(f"{QUERIES}/x")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "10"
    assert limited.json()["retryAfter"] == 10


def test_a_request_without_a_valid_key_is_refused_before_the_rate_limit(fake: FakeCortex) -> None:
    # Cortex limits requests per key: one without a valid key counts against no limit.
    fake.faults.rate_limit(per_minute=6, burst=1)
    with httpx.Client(base_url=fake.base_url) as anonymous:
        assert [anonymous.get(f"{QUERIES}/x").status_code for _ in range(3)] == [401] * 3
    with httpx.Client(base_url=fake.base_url, headers=AUTH) as http:
        assert http.get(f"{QUERIES}/x").status_code == 404
    assert fake.counters.rate_limited == 0


def test_parse_rate() -> None:
    assert parse_rate("5/s") == 5
    assert parse_rate("120/min") == 2
    assert parse_rate("1000/m") == pytest.approx(1000 / 60)
    assert parse_rate("7") == 7
    assert parse_rate("3600/hour") == 1
    for bad in ("fast", "5/fortnight", "0/s", "-1/s"):
        with pytest.raises(ValueError, match="rate"):
            parse_rate(bad)


# --- faults ---


def test_next_jobs_end_failed_cancelled_or_timed_out(fake: FakeCortex, http: httpx.Client) -> None:
    fake.faults.next_jobs("FAILURE")
    fake.faults.next_jobs("CANCELLED")
    fake.faults.next_jobs("TIMED_OUT")
    states = [wait_done(http, job_id_of(http, f"tag = '{i}'")) for i in range(4)]
    assert [s["status"] for s in states] == ["FAILURE", "CANCELLED", "TIMED_OUT", "DONE"]
    assert all("result" not in s for s in states[:3])
    assert states[3]["result"] == []


def test_outcome_rules_by_query(fake: FakeCortex, http: httpx.Client) -> None:
    fake.faults.on_query(re.compile(r"broken"), status="FAILURE")
    fake.faults.on_query("tag = 'slow'", status="TIMED_OUT", seconds=0.3, count=1)
    fake.faults.next_jobs("CANCELLED", count=None)  # rules by query come first
    assert wait_done(http, job_id_of(http, "tag = 'broken-1'"))["status"] == "FAILURE"
    assert wait_done(http, job_id_of(http, "tag = 'broken-2'"))["status"] == "FAILURE"
    slow = job_id_of(http, "tag = 'slow'")
    assert http.get(f"{QUERIES}/{slow}").json()["status"] == "IN_PROGRESS"
    assert wait_done(http, slow)["status"] == "TIMED_OUT"
    assert wait_done(http, job_id_of(http, "tag = 'other'"))["status"] == "CANCELLED"
    fake.faults.clear()
    assert wait_done(http, job_id_of(http, "tag = 'broken-3'"))["status"] == "DONE"


def test_end_job_cancels_a_running_job(fake: FakeCortex, http: httpx.Client) -> None:
    fake.faults.job_duration(60)
    job_id = job_id_of(http, "type = 'service'")
    assert http.get(f"{QUERIES}/{job_id}").json()["status"] == "IN_PROGRESS"
    fake.end_job(job_id, "CANCELLED")
    assert http.get(f"{QUERIES}/{job_id}").json()["status"] == "CANCELLED"
    assert run(http, "type = 'service'").status_code == 200  # no longer running: no 409
    with pytest.raises(ValueError, match="already ended"):
        fake.end_job(job_id, "FAILURE")


def test_error_bursts_then_normal_answers(fake: FakeCortex, http: httpx.Client) -> None:
    fake.faults.errors(status=503, count=2)
    assert_error(run(http, "tag = 'x'"), 503, "INTEGRATION_UNAVAILABLE")
    assert_error(run(http, "tag = 'x'"), 503, "INTEGRATION_UNAVAILABLE")
    assert run(http, "tag = 'x'").status_code == 200
    assert fake.counters.injected_errors == 2


def test_error_bursts_by_method_type_and_html(fake: FakeCortex, http: httpx.Client) -> None:
    job_id = job_id_of(http, "tag = 'x'")
    fake.faults.errors(502, count=1, method="GET", html=True)
    fake.faults.errors(500, count=1, error_type="INTEGRATION_TIMED_OUT", message="upstream slow")
    assert_error(run(http, "tag = 'y'"), 500, "INTEGRATION_TIMED_OUT")  # the GET rule skips it
    page = http.get(f"{QUERIES}/{job_id}")
    assert page.status_code == 502
    assert page.headers["content-type"] == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in page.text
    assert http.get(f"{QUERIES}/{job_id}").status_code == 200


def test_an_injected_error_keeps_its_type_and_message(fake: FakeCortex, http: httpx.Client) -> None:
    fake.faults.errors(520, error_type="INTEGRATION_TIMED_OUT", message="upstream slow")
    body = assert_error(run(http, "tag = 'x'"), 520, "INTEGRATION_TIMED_OUT")
    assert body["message"] == "upstream slow"


@pytest.mark.parametrize("retry_after", [3, "Wed, 21 Oct 2026 07:28:00 GMT", "-1", "soon"])
def test_an_injected_429_sends_any_retry_after(
    fake: FakeCortex, http: httpx.Client, retry_after: int | str
) -> None:
    fake.faults.errors(429, retry_after=retry_after)
    response = run(http, "tag = 'x'")
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(retry_after)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json().get("retryAfter") == (3 if retry_after == 3 else None)


def test_slow_answers(fake: FakeCortex, http: httpx.Client) -> None:
    fake.faults.slow(0.5, count=1)
    started = time.monotonic()
    assert run(http, "tag = 'x'").status_code == 200
    assert time.monotonic() - started >= 0.45
    started = time.monotonic()
    assert run(http, "tag = 'y'").status_code == 200
    assert time.monotonic() - started < 0.4
    assert fake.counters.delayed == 1


def test_dropped_connections(fake: FakeCortex, http: httpx.Client) -> None:
    fake.faults.drop_connections(count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        run(http, "tag = 'x'")
    assert run(http, "tag = 'x'").status_code == 200
    assert fake.counters.dropped == 1
    assert [r.status for r in fake.requests] == [None, 200]


def test_unknown_enum_values(fake: FakeCortex, http: httpx.Client) -> None:
    fake.faults.job_duration(60)
    fake.faults.unknown_enums(status="PAUSED", error_type="QUOTA_EXCEEDED")
    job_id = job_id_of(http, "tag = 'x'")
    assert http.get(f"{QUERIES}/{job_id}").json()["status"] == "PAUSED"
    assert_error(http.get(f"{QUERIES}/nope"), 404, "QUOTA_EXCEEDED")
    fake.faults.next_jobs("ARCHIVED", seconds=0)  # a terminal status newer than the spec
    assert wait_done(http, job_id_of(http, "tag = 'y'"))["status"] == "ARCHIVED"


def test_faults_scripted_before_start_apply_from_the_first_request() -> None:
    fake = FakeCortex(api_key=KEY, job_seconds=0)
    fake.faults.errors(503, count=1)
    with (
        fake,
        httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}) as h,
    ):
        assert run(h, "tag = 'x'").status_code == 503
        assert run(h, "tag = 'x'").status_code == 200


def test_fault_arguments_are_checked() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="count"):
        faults.errors(503, count=0)
    with pytest.raises(ValueError, match="status"):
        faults.errors(42)
    with pytest.raises(ValueError, match="seconds"):
        faults.slow(-1)
    with pytest.raises(ValueError, match="not both"):
        faults.rate_limit(1, per_minute=60)
    with pytest.raises(TypeError, match="match"):
        faults.on_query(42)  # type: ignore[arg-type]


def test_counters_and_the_request_log(fake: FakeCortex, http: httpx.Client) -> None:
    job_id = job_id_of(http, "tag = 'x'")
    http.get(f"{QUERIES}/{job_id}")
    http.get(f"{QUERIES}/missing")
    assert [(r.method, r.path, r.status) for r in fake.requests] == [
        ("POST", QUERIES, 200),
        ("GET", f"{QUERIES}/{job_id}", 200),
        ("GET", f"{QUERIES}/missing", 404),
    ]
    assert fake.counters.requests == 3
    fake.reset_counters()
    assert fake.counters.requests == 0
    assert fake.requests == []


# --- the catalog ---


def test_a_catalog_of_your_own(fake: FakeCortex, http: httpx.Client) -> None:
    fake.catalog = [
        {"name": "Alpha", "tag": "alpha", "type": "service"},
        Entity(name="Beta", tag="beta", type="service", description="the second"),
    ]
    state = wait_done(http, job_id_of(http, "type = 'service'"))
    assert state["result"] == [
        {"name": "Alpha", "tag": "alpha", "type": "service"},
        {"name": "Beta", "tag": "beta", "type": "service", "description": "the second"},
    ]
    with pytest.raises(ValueError, match="unique"):
        fake.catalog = [
            {"name": "A", "tag": "a", "type": "x"},
            {"name": "B", "tag": "a", "type": "x"},
        ]
    with pytest.raises(ValueError, match="lacks"):
        FakeCortex(catalog=[{"name": "A", "tag": "a"}])


def test_the_default_catalog_is_a_few_dozen_plausible_entities() -> None:
    assert 25 <= len(DEFAULT_CATALOG) <= 60
    assert {"service", "domain", "team", "database", "queue"} <= {e.type for e in DEFAULT_CATALOG}
    assert all(e.description for e in DEFAULT_CATALOG)


# --- lifecycle ---


def test_it_stops_cleanly_with_idle_and_slow_connections_open() -> None:
    fake = FakeCortex(api_key=KEY).start()
    url = fake.base_url
    idle = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"})
    assert run(idle, "tag = 'x'").status_code == 200  # leaves a keep-alive connection open
    fake.faults.slow(30)
    slow_result: list[object] = []

    def slow_request() -> None:
        try:
            slow_result.append(httpx.get(f"{url}{QUERIES}/x", timeout=20))
        except httpx.HTTPError as exc:
            slow_result.append(exc)

    thread = threading.Thread(target=slow_request)
    thread.start()
    deadline = time.monotonic() + 10
    while fake.counters.delayed < 1:  # the slow request is being held by the server
        assert time.monotonic() < deadline, "the slow request never reached the fake"
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    thread.join(5)
    assert isinstance(slow_result[0], httpx.RemoteProtocolError)  # dropped, not answered late
    assert not [t for t in threading.enumerate() if t.name.startswith("cortex-fake")]
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    idle.close()
    fake.stop()  # a second stop does nothing
    assert not fake.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.base_url


def test_it_can_start_again_and_keeps_its_jobs() -> None:
    fake = FakeCortex(api_key=KEY, job_seconds=0)
    with (
        fake,
        httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}) as h,
    ):
        job_id = job_id_of(h, "tag = 'x'")
        with pytest.raises(RuntimeError, match="already running"):
            fake.start()
    with (
        fake,
        httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {KEY}"}) as h,
    ):
        assert h.get(f"{QUERIES}/{job_id}").json()["status"] == "DONE"


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="api_key"):
        FakeCortex(api_key="")
    with pytest.raises(ValueError, match="port"):
        FakeCortex(port=70000)
    with pytest.raises(ValueError, match="rate"):
        FakeCortex(rate_limit="lots")


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, path: str, body: bytes
) -> tuple[int, dict[str, object]]:
    """One HTTP/1.1 request on a kept-alive connection, read by hand (see the test below)."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    answer: dict[str, object] = json.loads(await reader.readexactly(length))
    return status, answer


@pytest.mark.slow
def test_a_thousand_concurrent_clients_polling() -> None:
    """1,000 clients, each on its own keep-alive connection, start a job and poll it until done.

    The clients speak HTTP over asyncio streams: httpx's connection pool spends time quadratic
    in its number of connections, so with 1,000 of them it, not the server, would be measured.
    """
    clients = 1000

    async def one(port: int, i: int, all_started: asyncio.Barrier) -> tuple[str, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            query = json.dumps({"query": f"tag = 'entity-{i}'"}).encode()
            status, job = await exchange(reader, writer, "POST", QUERIES, query)
            assert status == 200, job
            await all_started.wait()  # every connection is now open at once
            polls = 0
            while True:
                status, state = await exchange(
                    reader, writer, "GET", f"{QUERIES}/{job['jobId']}", b""
                )
                polls += 1
                assert status == 200, state
                if state["status"] != "IN_PROGRESS":
                    return str(state["status"]), polls
                await asyncio.sleep(0.25)
        finally:
            writer.close()

    async def everyone(port: int) -> list[tuple[str, int]]:
        all_started = asyncio.Barrier(clients)
        return await asyncio.gather(*(one(port, i, all_started) for i in range(clients)))

    with FakeCortex(api_key=KEY, job_seconds=1.0) as fake:
        started = time.monotonic()
        outcomes = asyncio.run(everyone(fake.port))
        elapsed = time.monotonic() - started
        counters = fake.counters
    print(f"\n{clients} clients: {elapsed:.1f} s, {counters.requests} requests, "
          f"peak {counters.peak_connections} connections")  # fmt: skip
    assert [status for status, _ in outcomes] == ["DONE"] * clients
    assert counters.jobs_created == clients
    assert counters.connections_opened == clients  # one each: keep-alive throughout
    assert counters.peak_connections == clients
    assert set(counters.responses_by_status) == {200}


# --- the SDK against the fake ---


def test_the_sdk_runs_a_query_and_reads_the_entities(fake: FakeCortex) -> None:
    with Cortex(api_key=fake.api_key, base_url=fake.base_url) as client:
        job = client.queries.run("type = 'domain'")
        state = client.queries.get(job.job_id)
    assert state.status == QueryStatus.DONE
    assert {r.tag for r in state.result or []} == of_type("domain")


@pytest.mark.slow
def test_the_sdk_waits_for_jobs_through_faults() -> None:
    """run_and_wait against the fake: progress seen, 429s and a 503 absorbed, failures typed."""
    with FakeCortex(api_key=KEY, job_seconds=0.6, rate_limit="4/s", burst=1) as fake:
        seen: list[float] = []
        fake.faults.errors(503, count=1, method="GET")
        with fake.client() as client:
            done = client.queries.run_and_wait(
                "type = 'cache'", timeout=10, on_progress=lambda s: seen.append(s.progress)
            )
            assert {r.tag for r in done.result or []} == of_type("cache")
            assert seen
            assert seen[-1] == 1.0
            fake.faults.next_jobs("FAILURE", seconds=0.2)
            with pytest.raises(QueryFailedError) as failed:
                client.queries.run_and_wait("type = 'queue'", timeout=10)
            assert failed.value.state.status == "FAILURE"
        counters = fake.counters
    print(
        f"\nrun_and_wait through faults: {counters.rate_limited} 429s, {counters.requests} requests"
    )
    assert counters.injected_errors == 1


# --- the pytest plugin ---


@pytest.mark.parametrize("cortex_fake", [{"job_seconds": 0, "api_key": "k2"}], indirect=True)
def test_the_plugin_fixtures(cortex_fake: FakeCortex, cortex_client: Cortex) -> None:
    assert cortex_fake.api_key == "k2"
    job = cortex_client.queries.run("tag = 'inventory'")
    result = cortex_client.queries.get(job.job_id)
    assert result.status == QueryStatus.DONE
    assert [r.name for r in result.result or []] == ["Inventory"]


def test_the_plugin_as_a_service_would_use_it(pytester: pytest.Pytester) -> None:
    """From a conftest, with the marker (registered by the plugin) configuring the fake."""
    pytester.makeconftest('pytest_plugins = ["cortexio_sdk.testing.pytest_plugin"]')
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.cortex_fake(job_seconds=30, api_key="module-key")

        @pytest.mark.cortex_fake(job_seconds=0)
        def test_function_marker_wins(cortex_fake, cortex_client):
            assert cortex_fake.api_key == "module-key"
            job = cortex_client.queries.run("type = 'team'")
            assert cortex_client.queries.get(job.job_id).status == "DONE"

        def test_module_marker(cortex_fake):
            assert cortex_fake.faults.job_seconds == 30
        """
    )
    result = pytester.runpytest_inprocess(
        "--strict-markers", "-p", "no:cacheprovider", "-p", "no:asyncio"
    )
    result.assert_outcomes(passed=2)


def test_the_env_fixture(cortex_env: FakeCortex) -> None:
    with Cortex() as client:
        assert client.base_url == cortex_env.base_url
        assert client.queries.run("tag = 'x'").query == "tag = 'x'"


# --- the command line ---


def test_the_command_line_prints_its_url_and_key_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "cortexio_sdk.testing", "--port", "0", "--job-seconds", "3"),
            *("--rate-limit", "5/s", "--api-key", "cli-key"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url_line = process.stdout.readline().strip()
        key_line = process.stdout.readline().strip()
        assert re.fullmatch(r"export CORTEX_BASE_URL=http://127\.0\.0\.1:\d+", url_line), url_line
        assert key_line == "export CORTEX_API_KEY=cli-key"
        url = url_line.partition("=")[2]
        response = httpx.post(
            f"{url}{QUERIES}",
            json={"query": "tag = 'inventory'"},
            headers={"Authorization": "Bearer cli-key"},
        )
        assert response.status_code == 200
        job = httpx.get(
            f"{url}{QUERIES}/{response.json()['jobId']}",
            headers={"Authorization": "Bearer cli-key"},
        ).json()
        assert job["status"] == "IN_PROGRESS"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        log = process.stderr.read()
        assert f"POST {QUERIES} -> 200" in log
        assert log.count(url) == 1, log  # where it listens, said once
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_command_line_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--rate-limit", "lots"])
    assert exited.value.code == 2
    assert "rate 'lots'" in capsys.readouterr().err


def test_catalog_files(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{"name": "Zeta", "tag": "zeta", "type": "service"}]))
    assert load_catalog(catalog) == (Entity(name="Zeta", tag="zeta", type="service"),)
    with pytest.raises(SystemExit) as exited:
        main(["--catalog", str(tmp_path / "missing.json")])
    assert exited.value.code == 2


def test_a_job_started_in_the_test_is_waited_on_like_any_other() -> None:
    with FakeCortex(api_key=KEY, job_seconds=5) as fake:
        job = fake.start_job("type = 'team'", seconds=0.2, status="DONE")
        assert fake.counters.requests == 0  # made without a request
        with pytest.raises(ValueError, match="already running"):
            fake.start_job("type = 'team'")
        with fake.client() as client:
            done = client.queries.wait(job.job_id, timeout=10)
    assert [entity.name for entity in done.result] == [
        e.name for e in DEFAULT_CATALOG if e.type == "team"
    ]


def test_starting_a_job_in_the_test_leaves_scripted_outcomes_to_the_clients() -> None:
    with FakeCortex(api_key=KEY, job_seconds=0) as fake:
        fake.faults.next_jobs("FAILURE")  # for the next job a client starts
        fake.start_job("type = 'team'", seconds=0, status="DONE")
        with fake.client() as client, pytest.raises(QueryFailedError):
            client.queries.run_and_wait("type = 'queue'", timeout=10)
