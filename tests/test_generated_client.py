"""The generated low-level client, straight from openapi.yaml, against a real loopback server."""

from __future__ import annotations

import datetime as dt
import gc
import json
import tomllib
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
import yaml
from cortex_api_client import AuthenticatedClient
from cortex_api_client.api.queries import create_query, get_query_results
from cortex_api_client.errors import MalformedResponse
from cortex_api_client.models import (
    ErrorResponse,
    ErrorType,
    QueryBuilderResult,
    QueryRequest,
    QueryResponse,
    QueryStatus,
    TooManyRequestsProblemDetail,
)
from cortex_api_client.types import PAUSE_FROM_BYTES, UNSET, collector_paused, under_base_url
from loopback import LoopbackServer, Received, Reply
from openapi_python_client.strings import PythonIdentifier

DETAILS = {"initiatedAt": "2024-07-29T15:51:28.071Z", "jobId": "job-1", "query": "tag = 'x'"}


def _client(server: LoopbackServer) -> AuthenticatedClient:
    return AuthenticatedClient(base_url=server.url, token="secret-token")


def test_create_query_posts_the_body_with_bearer_auth(server: LoopbackServer) -> None:
    server.handler = lambda _r: Reply(200, DETAILS)
    with _client(server) as client:
        response = create_query.sync_detailed(client=client, body=QueryRequest(query="tag = 'x'"))
    assert response.status_code == HTTPStatus.OK
    assert isinstance(response.parsed, QueryResponse)
    assert response.parsed.job_id == "job-1"
    assert response.parsed.initiated_at == dt.datetime(2024, 7, 29, 15, 51, 28, 71000, dt.UTC)
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/api/v1/queries")
    assert request.headers["authorization"] == "Bearer secret-token"
    assert json.loads(request.body) == {"query": "tag = 'x'"}


def test_get_query_results_parses_a_done_result(server: LoopbackServer) -> None:
    body = {
        "progress": 1,
        "queryDetails": DETAILS,
        "result": [{"name": "Payments", "tag": "payments", "type": "service"}],
        "status": "DONE",
    }
    server.handler = lambda _r: Reply(200, body)
    with _client(server) as client:
        parsed = get_query_results.sync(client=client, job_id="job-1")
    assert isinstance(parsed, QueryBuilderResult)
    assert parsed.status is QueryStatus.DONE
    assert parsed.status.is_known
    assert parsed.progress == 1
    assert not isinstance(parsed.result, type(UNSET))
    assert [entity.tag for entity in parsed.result] == ["payments"]
    assert parsed.result[0].description is UNSET
    assert server.requests[0].path == "/api/v1/queries/job-1"


def test_job_id_is_one_encoded_path_segment(server: LoopbackServer) -> None:
    server.handler = lambda _r: Reply(200, {"queryDetails": DETAILS, "status": "IN_PROGRESS"})
    with _client(server) as client:
        get_query_results.sync(client=client, job_id="../a b/?x=1#é")
    assert server.requests[0].path == "/api/v1/queries/..%2Fa%20b%2F%3Fx%3D1%23%C3%A9"


def test_404_body_parses_to_error_response(server: LoopbackServer) -> None:
    body = {
        "message": "Query not found",
        "type": "NOT_FOUND",
        "requestId": "req-9",
        "httpStatus": 404,
    }
    server.handler = lambda _r: Reply(404, body)
    with _client(server) as client:
        response = get_query_results.sync_detailed(client=client, job_id="nope")
    assert response.status_code == 404
    assert isinstance(response.parsed, ErrorResponse)
    assert response.parsed.type is ErrorType.NOT_FOUND
    assert response.parsed.request_id == "req-9"


def test_429_problem_body_and_retry_after_header(server: LoopbackServer) -> None:
    body = {"type": "about:blank", "title": "Too Many Requests", "status": 429, "retryAfter": 7}
    server.handler = lambda _r: Reply(
        429, body, headers={"Retry-After": "7"}, content_type="application/problem+json"
    )
    with _client(server) as client:
        response = get_query_results.sync_detailed(client=client, job_id="job-1")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert isinstance(response.parsed, TooManyRequestsProblemDetail)
    assert response.parsed.retry_after == 7
    assert response.headers["retry-after"] == "7"


def test_values_newer_than_the_spec_do_not_raise(server: LoopbackServer) -> None:
    def handler(request: Received) -> Reply:
        if request.path.endswith("/status"):
            return Reply(200, {"queryDetails": DETAILS, "status": "PAUSED", "extra": [1, 2]})
        if request.path.endswith("/type"):
            return Reply(404, {"message": "m", "type": "INTEGRATION_QUANTUM_ERROR"})
        if request.path.endswith("/problem"):
            return Reply(429, {"type": "t", "title": "t", "status": 430})
        return Reply(520, "<html>origin error</html>", content_type="text/html")

    server.handler = handler
    with _client(server) as client:
        status = get_query_results.sync(client=client, job_id="status")
        error = get_query_results.sync(client=client, job_id="type")
        problem = get_query_results.sync(client=client, job_id="problem")
        odd = get_query_results.sync_detailed(client=client, job_id="520")

    assert isinstance(status, QueryBuilderResult)
    assert status.status == "PAUSED"
    assert isinstance(status.status, QueryStatus)
    assert not status.status.is_known
    assert status.additional_properties == {"extra": [1, 2]}
    assert isinstance(error, ErrorResponse)
    assert error.type == "INTEGRATION_QUANTUM_ERROR"
    assert not error.type.is_known
    assert isinstance(problem, TooManyRequestsProblemDetail)
    assert problem.status == 430
    assert not problem.status.is_known
    assert odd.status_code == 520
    assert odd.parsed is None


def test_unknown_members_are_not_listed_members() -> None:
    unknown = ErrorType("SOMETHING_NEW")
    assert unknown not in list(ErrorType)
    assert str(unknown) == "SOMETHING_NEW"
    assert ErrorType("NOT_FOUND") is ErrorType.NOT_FOUND
    with pytest.raises(ValueError, match="not a valid"):
        QueryStatus(3)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html>502 Bad Gateway</html>"),
        ("application/json", b'{"queryDetails": {"jobId": "x"}, "status": "DONE"}'),
        ("application/json", b"[1, 2, 3]"),
        ("application/json", b'{"queryDetails": ' + DETAILS.__repr__().encode()),
    ],
)
def test_a_body_that_is_not_the_spec_raises_one_documented_error(
    server: LoopbackServer, content_type: str, body: bytes
) -> None:
    server.handler = lambda _r: Reply(200, body, content_type=content_type)
    with _client(server) as client, pytest.raises(MalformedResponse) as caught:
        get_query_results.sync_detailed(client=client, job_id="job-1")
    assert caught.value.status_code == 200
    assert caught.value.content == body


async def test_async_operations_share_the_same_parsing(server: LoopbackServer) -> None:
    server.handler = lambda _r: Reply(200, {"queryDetails": DETAILS, "status": "FAILURE"})
    async with _client(server) as client:
        parsed = await get_query_results.asyncio(client=client, job_id="job-1")
    assert isinstance(parsed, QueryBuilderResult)
    assert parsed.status is QueryStatus.FAILURE


def test_every_template_fork_is_explained_against_the_pinned_generator() -> None:
    root = Path(__file__).resolve().parent.parent
    readme = (root / "templates" / "README.md").read_text()
    for template in sorted((root / "templates").glob("*.jinja")):
        assert f"`{template.name}`" in readme, f"templates/README.md does not explain {template}"
    groups = tomllib.loads((root / "pyproject.toml").read_text())["dependency-groups"]
    (pin,) = [d for d in groups["generate"] if str(d).startswith("openapi-python-client==")]
    assert f"openapi-python-client {pin.partition('==')[2]}**" in readme


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8000/",
        "https://h.example/prefix",
        "https://h.example/prefix/",
        "https://h.example:8443/a%20b/",
        "https://[::1]:9/x",
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/queries", "/api/v1/queries/job%2F1", "/a/%2E%2E"])
def test_an_operation_joins_its_path_to_base_url_as_httpx_would(base: str, path: str) -> None:
    """The generated operations join their path to the client's base_url themselves (httpx's
    own merge parses the URL twice): the URL must be the one httpx makes."""
    client = httpx.Client(base_url=base)
    joined = client.build_request("GET", under_base_url(client.base_url, path)).url
    assert joined == client.build_request("GET", path).url


def test_only_a_large_body_is_parsed_with_the_collector_paused() -> None:
    """A small answer makes too few objects for a collection: toggling the process-wide
    collector for every small request (from many threads) would cost more than it saves."""
    assert gc.isenabled()
    with collector_paused(PAUSE_FROM_BYTES - 1):
        assert gc.isenabled()
    with collector_paused(PAUSE_FROM_BYTES):
        assert not gc.isenabled()
    assert gc.isenabled()


def test_every_operation_id_survives_the_generators_snake_case() -> None:
    """Spans are named after the operationId, which the generator keeps only as snake_case: the
    template camelCases it back (templates/endpoint_module.py.jinja). An operationId that does
    not come back the same (getHTTPStatus, get_query) would be a span under another name."""
    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "openapi.yaml").read_text())
    ids = [
        operation["operationId"]
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert ids
    for operation_id in ids:
        snake = PythonIdentifier(operation_id, prefix="")  # what the template is given
        first, *rest = snake.split("_")
        assert first + "".join(word.capitalize() for word in rest) == operation_id
