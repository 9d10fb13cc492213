"""Typed errors from real HTTP answers: status classes, body fields, integration types, odd bodies.

Every test runs for `Cortex` and `AsyncCortex` (the `connect` fixture). Retries are off
(max_retries=0) unless a test is about them, so each error arrives after exactly one request.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
from cortexio_sdk import (
    RETRYABLE_ERROR_TYPES,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    CortexError,
    ErrorType,
    IntegrationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    QueryBuilderResult,
    QueryFailedError,
    RateLimitError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from harness import IN_PROGRESS, Api, error_body, problem_body
from loopback import LoopbackServer, Reply

pytestmark = pytest.mark.timeout(30)

Connect = Callable[..., Api]

# Written out here, not read from the SDK: the table under test.
TRANSIENT_TYPES = {
    "INTEGRATION_RATE_LIMITED",
    "INTEGRATION_TIMED_OUT",
    "INTEGRATION_GATEWAY_TIMEOUT",
    "INTEGRATION_UNAVAILABLE",
    "INTEGRATION_BAD_GATEWAY",
    "REQUEST_TIMEOUT",
}
ALL_TYPES = list(ErrorType)


def test_the_spec_lists_thirty_error_types() -> None:
    assert len(ALL_TYPES) == 30
    assert {member.value for member in ALL_TYPES} >= TRANSIENT_TYPES


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, BadRequestError, ErrorType.BAD_REQUEST),
        (401, AuthenticationError, ErrorType.UNCATEGORIZED),
        (403, PermissionDeniedError, ErrorType.FORBIDDEN),
        (404, NotFoundError, ErrorType.NOT_FOUND),
        (409, ConflictError, ErrorType.CONFLICT),
        (429, RateLimitError, ErrorType.UNCATEGORIZED),
        (500, InternalServerError, ErrorType.UNHANDLED_EXCEPTION),
        (502, InternalServerError, ErrorType.UNCATEGORIZED),
        (503, InternalServerError, ErrorType.UNCATEGORIZED),
        (520, InternalServerError, ErrorType.UNKNOWN_HOST),
        (418, APIStatusError, ErrorType.ILLEGAL_ARGUMENT_ERROR),
        (499, APIStatusError, ErrorType.UNCATEGORIZED),
    ],
)
async def test_each_status_raises_its_class_with_the_body_fields(
    connect: Connect,
    server: LoopbackServer,
    status: int,
    error_class: type[APIStatusError],
    error_type: ErrorType,
) -> None:
    body = error_body(
        error_type.value,
        f"the message for {status}",
        request_id=f"req-{status}",
        details=f"details for {status}",
    )
    server.handler = lambda _r: Reply(status, body)
    api = connect(max_retries=0)
    with pytest.raises(error_class) as caught:
        await api.get("job-1")
    error = caught.value
    assert type(error) is error_class  # not a subclass: 418 is a plain APIStatusError
    assert error.status_code == status
    assert error.error_type is error_type
    assert error.message == f"the message for {status}"
    assert error.request_id == f"req-{status}"
    assert error.details == f"details for {status}"
    assert error.response is not None
    assert error.response.status_code == status
    assert not isinstance(error, IntegrationError)
    text = str(error)
    assert str(status) in text
    assert f"the message for {status}" in text
    assert f"req-{status}" in text
    assert server.count() == 1


async def test_post_errors_are_typed_too(connect: Connect, server: LoopbackServer) -> None:
    body = error_body("CONFLICT", "the same query is already running", request_id="req-c")
    server.handler = lambda _r: Reply(409, body)
    with pytest.raises(ConflictError) as caught:
        await connect().run("tag = 'payments'")
    assert caught.value.error_type is ErrorType.CONFLICT
    assert caught.value.request_id == "req-c"
    assert server.count("POST") == 1


async def test_request_id_falls_back_to_the_header(
    connect: Connect, server: LoopbackServer
) -> None:
    body = error_body("NOT_FOUND", "no such job", request_id=None)
    server.handler = lambda _r: Reply(404, body, headers={"X-Request-Id": "hdr-7"})
    with pytest.raises(NotFoundError) as caught:
        await connect().get("job-1")
    assert caught.value.request_id == "hdr-7"
    assert caught.value.details is None


async def test_an_unknown_error_type_arrives_as_its_string(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = lambda _r: Reply(404, error_body("QUERY_ENGINE_ON_FIRE", "new type"))
    with pytest.raises(NotFoundError) as caught:
        await connect().get("job-1")
    error = caught.value
    assert error.error_type == "QUERY_ENGINE_ON_FIRE"
    assert type(error.error_type) is str
    assert not isinstance(error.error_type, ErrorType)
    assert not isinstance(error, IntegrationError)
    assert not error.retryable
    assert "QUERY_ENGINE_ON_FIRE" in str(error)


async def test_every_integration_type_and_only_those_is_an_integration_error(
    connect: Connect, server: LoopbackServer
) -> None:
    # One client for all 30 types (the job id names the type): a client per case costs more
    # than the case itself.
    server.handler = lambda r: Reply(404, error_body(r.path.rsplit("/", 1)[-1]))
    api = connect(max_retries=0, requests_per_minute=60_000)  # the limiter is not under test
    wrong: list[str] = []
    for error_type in ALL_TYPES:
        with pytest.raises(NotFoundError) as caught:
            await api.get(error_type.value)
        error = caught.value
        expected = error_type.value.startswith("INTEGRATION_")
        if error.error_type is not error_type or isinstance(error, IntegrationError) != expected:
            wrong.append(f"{error_type}: {type(error).__name__} error_type={error.error_type!r}")
    assert wrong == []
    assert server.count() == len(ALL_TYPES)


@pytest.mark.parametrize(
    ("status", "status_class", "error_type"),
    [
        (400, BadRequestError, "INTEGRATION_BAD_REQUEST"),
        (403, PermissionDeniedError, "INTEGRATION_FORBIDDEN"),
        (404, NotFoundError, "INTEGRATION_NOT_FOUND"),
        (409, ConflictError, "INTEGRATION_UNPROCESSABLE_CONTENT"),
        (429, RateLimitError, "INTEGRATION_RATE_LIMITED"),
        (500, InternalServerError, "INTEGRATION_INTERNAL_ERROR"),
        (504, InternalServerError, "INTEGRATION_GATEWAY_TIMEOUT"),
        (422, APIStatusError, "INTEGRATION_UNPROCESSABLE_CONTENT"),
        (404, NotFoundError, "INTEGRATION_NEWER_THAN_THE_SPEC"),
    ],
)
async def test_an_integration_error_is_caught_by_both_classes(
    connect: Connect,
    server: LoopbackServer,
    status: int,
    status_class: type[APIStatusError],
    error_type: str,
) -> None:
    server.handler = lambda _r: Reply(status, error_body(error_type, "upstream failed"))
    api = connect(max_retries=0)
    with pytest.raises(IntegrationError) as by_integration:
        await api.get("job-1")
    with pytest.raises(status_class) as by_status:
        await api.get("job-1")
    for error in (by_integration.value, by_status.value):
        assert isinstance(error, IntegrationError)
        assert isinstance(error, status_class)
        assert error.status_code == status
        assert error.error_type == error_type
        assert error.message == "upstream failed"


@pytest.mark.parametrize("error_type", ALL_TYPES, ids=str)
def test_retryable_table_value_by_value(error_type: ErrorType) -> None:
    expected = error_type.value in TRANSIENT_TYPES
    assert (error_type in RETRYABLE_ERROR_TYPES) == expected
    # A 4xx status says nothing about retrying: the type decides.
    error = APIStatusError("m", status_code=400, error_type=error_type)
    assert error.retryable == expected
    # 5xx and 429 are retryable whatever the type.
    assert APIStatusError("m", status_code=503, error_type=error_type).retryable
    assert RateLimitError("m", status_code=429, error_type=error_type).retryable


def test_the_retryable_table_has_only_the_transient_types() -> None:
    assert {member.value for member in RETRYABLE_ERROR_TYPES} == TRANSIENT_TYPES
    assert not APIStatusError("m", status_code=400, error_type="SOMETHING_NEW").retryable
    assert not APIStatusError("m", status_code=400, error_type=None).retryable


async def test_a_get_is_retried_exactly_for_the_transient_types(
    connect: Connect, server: LoopbackServer
) -> None:
    # The job id names the type to answer with. Status 400 alone would not be retried, so the
    # type decides; Retry-After: 0 keeps each retry instant.
    server.handler = lambda r: Reply(
        400, error_body(r.path.rsplit("/", 1)[-1]), headers={"Retry-After": "0"}
    )
    api = connect(max_retries=1, requests_per_minute=60_000)
    wrong: list[str] = []
    for error_type in ALL_TYPES:
        before = server.count()
        with pytest.raises(APIStatusError) as caught:
            await api.get(error_type.value)
        sent = server.count() - before
        expected = 2 if error_type.value in TRANSIENT_TYPES else 1
        if caught.value.error_type is not error_type or sent != expected:
            wrong.append(f"{error_type}: {sent} requests, expected {expected}")
    assert wrong == []


async def test_a_post_is_not_retried_for_a_transient_type(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = lambda _r: Reply(
        504, error_body("INTEGRATION_TIMED_OUT"), headers={"Retry-After": "0"}
    )
    with pytest.raises(InternalServerError) as caught:
        await connect(max_retries=3).run("tag = 'x'")
    assert caught.value.retryable  # retryable in principle, but a POST is not resent
    assert server.count("POST") == 1


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        (500, "text/plain", b"upstream connect error or disconnect/reset before headers"),
        (404, "application/json", b'{"message": "truncated'),
        (400, "application/json", b'{"error": "not the ErrorResponse shape"}'),
        (409, "application/json", b'["a", "list"]'),
        (403, "application/json", b'{"message": 12, "type": "FORBIDDEN"}'),
        (401, "application/json", b""),
        (200, "text/html", b"<html>a captive portal</html>"),
        (200, "application/json", b'{"queryDetails": {"jobId": "x"}, "status": "DONE"}'),
    ],
)
async def test_a_body_that_is_not_documented_is_an_unexpected_response(
    connect: Connect, server: LoopbackServer, status: int, content_type: str, body: bytes
) -> None:
    server.handler = lambda _r: Reply(status, body, content_type=content_type)
    with pytest.raises(UnexpectedResponseError) as caught:
        await connect(max_retries=0).get("job-1")
    error = caught.value
    assert error.status_code == status
    assert error.body_excerpt == body.decode()[:200]
    assert f"HTTP {status}" in str(error)
    assert not isinstance(error, APIStatusError)
    assert isinstance(error, CortexError)


async def test_the_excerpt_of_a_long_body_is_short(
    connect: Connect, server: LoopbackServer
) -> None:
    page = "<html>" + "x" * 100_000 + "</html>"
    server.handler = lambda _r: Reply(502, page, content_type="text/html")
    with pytest.raises(UnexpectedResponseError) as caught:
        await connect(max_retries=0).get("job-1")
    assert caught.value.body_excerpt.startswith("<html>xxx")
    assert len(caught.value.body_excerpt) <= 200
    assert len(str(caught.value)) < 400


async def test_a_429_with_an_html_body_is_still_a_rate_limit_error(
    connect: Connect, server: LoopbackServer
) -> None:
    server.handler = lambda _r: Reply(
        429, "<html>slow down</html>", headers={"Retry-After": "600"}, content_type="text/html"
    )
    with pytest.raises(RateLimitError) as caught:
        await connect(max_retry_after=5).get("job-1")
    assert caught.value.retry_after == 600
    assert caught.value.error_type is None


async def test_success_still_parses(connect: Connect, server: LoopbackServer) -> None:
    # The positive control for the tests above: the same client, a documented 200.
    server.handler = lambda _r: Reply(200, IN_PROGRESS)
    state = await connect(max_retries=0).get("job-1")
    assert state.status == "IN_PROGRESS"
    assert state.query_details.job_id == "job-1"


async def test_errors_survive_pickling(connect: Connect, server: LoopbackServer) -> None:
    # What a process pool does with an exception raised in a worker.
    answers = {
        "plain": Reply(404, error_body("NOT_FOUND", "gone", details="d")),
        "integration": Reply(404, error_body("INTEGRATION_NOT_FOUND", "upstream gone")),
        "new-type": Reply(409, error_body("BRAND_NEW", "new")),
        "limited": Reply(429, problem_body(120), headers={"Retry-After": "120"}),
        "html": Reply(502, "<html>bad gateway</html>", content_type="text/html"),
    }
    server.handler = lambda r: answers[r.path.rsplit("/", 1)[-1]]
    api = connect(max_retries=0, max_retry_after=5)
    errors: list[CortexError] = []
    for job_id in answers:
        with pytest.raises(CortexError) as caught:
            await api.get(job_id)
        errors.append(caught.value)
    state = QueryBuilderResult.from_dict({**IN_PROGRESS, "status": "FAILURE"})
    errors.append(QueryFailedError("the job failed", job_id="job-1", state=state))
    errors.append(WaitTimeoutError("still running", job_id="job-1", state=None))

    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert getattr(copy, "response", None) is None
        for name, value in vars(error).items():
            if name == "state" and value is not None:
                # Compared as dicts: the generated UNSET sentinel is not a singleton in a copy.
                assert copy.state.to_dict() == value.to_dict()
            elif name != "response":
                assert getattr(copy, name) == value, name
    integration = pickle.loads(pickle.dumps(errors[1]))
    assert isinstance(integration, NotFoundError)
    assert isinstance(integration, IntegrationError)
    assert pickle.loads(pickle.dumps(errors[3])).retry_after == 120
