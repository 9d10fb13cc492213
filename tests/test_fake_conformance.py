"""Every response the fake sends in a scenario run validates against openapi.yaml (openapi-core).

The scenario covers each documented answer: 200 QueryResponse, 200 QueryBuilderResult in progress,
done and failed, 400, 401, 404, 409 and 429 on both operations. One answer the fake sends is not
declared by the spec: 5xx (injected); its body is validated against the ErrorResponse schema
itself. Unknown enum values are a deliberate departure and are not run here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

openapi_core = pytest.importorskip(
    "openapi_core", reason="openapi-core is not installed (pip install openapi-core)"
)
yaml = pytest.importorskip("yaml", reason="PyYAML (an openapi-core dependency) is not installed")

from cortexio_sdk.testing import MAX_BODY_BYTES, FakeCortex  # noqa: E402
from openapi_core.datatypes import RequestParameters  # noqa: E402
from openapi_schema_validator import OAS30Validator  # noqa: E402
from werkzeug.datastructures import Headers, ImmutableMultiDict  # noqa: E402

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
# openapi-core finds the operation under one of the spec's servers; requests to the fake are
# presented as if sent to the first one (only the path matters for the response's schema).
SPEC_SERVER = SPEC["servers"][0]["url"]
KEY = "conformance-key"
QUERIES = "/api/v1/queries"


class SpecRequest:
    """An httpx request as openapi-core's Request protocol sees it."""

    def __init__(self, request: httpx.Request) -> None:
        self.host_url = SPEC_SERVER
        self.path = request.url.raw_path.decode("ascii").split("?")[0]
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(request.url.params.multi_items()),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )


class SpecResponse:
    """An httpx response as openapi-core's Response protocol sees it."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data: bytes | None = response.content
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))


@pytest.fixture(scope="module")
def openapi() -> Any:
    # openapi-core deserializes application/json only; problem+json (RFC 9457) is JSON too.
    config = openapi_core.Config(
        extra_media_type_deserializers={"application/problem+json": json.loads}
    )
    return openapi_core.OpenAPI.from_file_path(str(SPEC_PATH), config=config)


@pytest.fixture
def fake() -> Iterator[FakeCortex]:
    with FakeCortex(api_key=KEY, job_seconds=0.3) as server:
        yield server


def client(url: str, seen: list[httpx.Response], key: str | None = KEY) -> httpx.Client:
    """An httpx client that appends every response it receives, read in full, to `seen`."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.Client(
        base_url=url,
        headers=headers,
        timeout=10,
        event_hooks={"response": [lambda response: (response.read(), seen.append(response))]},
    )


def validate(openapi: Any, response: httpx.Response) -> None:
    """Validate one response against the spec, or against ErrorResponse where it is undeclared."""
    if response.status_code >= 500:
        schema = SPEC["components"]["schemas"]["ErrorResponse"]
        assert response.headers["content-type"] == "application/json"
        OAS30Validator(schema).validate(response.json())
        return
    openapi.validate_response(SpecRequest(response.request), SpecResponse(response))


def run_scenario(fake: FakeCortex, seen: list[httpx.Response]) -> None:
    with client(fake.base_url, seen) as http, client(fake.base_url, seen, key=None) as anonymous:
        first = http.post(QUERIES, json={"query": "type = 'service'"}).json()["jobId"]
        assert http.get(f"{QUERIES}/{first}").json()["status"] == "IN_PROGRESS"
        assert http.post(QUERIES, json={"query": "type = 'service'"}).status_code == 409
        http.post(QUERIES, json={"query": "colour = 'red'"})  # 400 ILLEGAL_ARGUMENT_ERROR
        http.post(QUERIES, json={})  # 400: no query
        http.post(QUERIES, json={"query": 7})  # 400: not a string
        http.post(QUERIES, content=b"{", headers={"Content-Type": "application/json"})
        http.post(QUERIES, json={"query": "x" * MAX_BODY_BYTES})  # 400: over 2 MB
        http.get(f"{QUERIES}/no-such-job")  # 404
        anonymous.post(QUERIES, json={"query": "tag = 'x'"})  # 401
        anonymous.get(f"{QUERIES}/{first}")  # 401
        time.sleep(0.35)
        done = http.get(f"{QUERIES}/{first}").json()
        assert done["status"] == "DONE"
        everything = "type = 'service' or type != 'service'"
        all_entities = http.post(QUERIES, json={"query": everything}).json()["jobId"]
        fake.faults.next_jobs("FAILURE", seconds=0)
        fake.faults.next_jobs("CANCELLED", seconds=0)
        fake.faults.next_jobs("TIMED_OUT", seconds=0)
        ended = [http.post(QUERIES, json={"query": f"tag = '{n}'"}).json()["jobId"] for n in "abc"]
        for job_id in ended:
            assert http.get(f"{QUERIES}/{job_id}").json()["status"] != "IN_PROGRESS"
        fake.faults.errors(503, count=1)
        http.get(f"{QUERIES}/{first}")  # 503 ErrorResponse
        time.sleep(0.35)
        result = http.get(f"{QUERIES}/{all_entities}").json()
        assert len(result["result"]) == len(fake.catalog)
        fake.faults.rate_limit(per_second=0.5, burst=1)
        http.get(f"{QUERIES}/{first}")  # the one token
        assert http.get(f"{QUERIES}/{first}").status_code == 429
        assert http.post(QUERIES, json={"query": "tag = 'y'"}).status_code == 429
        for shape in ("fixed-window", "sliding-window"):  # Retry-After in the body only
            fake.faults.rate_limit(None)
            fake.faults.rate_limit(per_minute=1, shape=shape, retry_after_in="body")
            http.get(f"{QUERIES}/{first}")  # the one request of the window
            limited = http.get(f"{QUERIES}/{first}")
            assert limited.status_code == 429
            assert "retry-after" not in limited.headers
        fake.faults.clear()
        fake.faults.errors(429, count=1, retry_after=2)  # an injected 429 is well-formed too
        http.get(f"{QUERIES}/{first}")


def test_every_response_of_a_scenario_run_conforms(openapi: Any, fake: FakeCortex) -> None:
    exchanges: list[httpx.Response] = []
    run_scenario(fake, exchanges)
    failures: list[str] = []
    for response in exchanges:
        try:
            validate(openapi, response)
        except Exception as exc:  # collect them all, then report every one
            failures.append(
                f"{response.request.method} {response.request.url.path} -> "
                f"{response.status_code}: {exc!r}\n  body: {response.text[:300]}"
            )
    assert not failures, "\n".join(failures)
    statuses = {response.status_code for response in exchanges}
    assert {200, 400, 401, 404, 409, 429, 503} <= statuses
    # Every response the fake sent was validated (none was dropped or missed by the hook).
    assert len(exchanges) == fake.counters.requests
    assert sum(fake.counters.responses_by_status.values()) == len(exchanges)


def test_the_validator_catches_a_response_that_breaks_the_spec(openapi: Any) -> None:
    """Guard against a check that passes everything: a wrong body must fail validation."""
    request = httpx.Request("GET", f"http://127.0.0.1{QUERIES}/job-1")
    bad = httpx.Response(
        200, json={"status": "IN_PROGRESS", "progress": "half"}, request=request
    )  # no queryDetails, progress not a number
    with pytest.raises(openapi_core.exceptions.OpenAPIError):
        openapi.validate_response(SpecRequest(request), SpecResponse(bad))
    body = b'{"type": "about:blank", "title": "Too Many Requests", "status": 429, "retryAfter": 1}'
    limited = httpx.Response(
        429,
        headers={"Content-Type": "application/problem+json", "Retry-After": "-1"},
        content=body,
        request=request,
    )  # the header breaks its schema (minimum 0)
    with pytest.raises(openapi_core.exceptions.OpenAPIError):
        openapi.validate_response(SpecRequest(request), SpecResponse(limited))
