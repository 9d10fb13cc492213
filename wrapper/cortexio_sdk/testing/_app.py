"""What the fake answers, apart from sockets: routes, the bearer check, jobs, errors, counters.

The HTTP layer (`_server.py`) turns each request into a `Request`, asks `FakeApi.handle` for a
`Reply`, and sends it. Bodies follow openapi.yaml: QueryResponse, QueryBuilderResult,
ErrorResponse (application/json) and TooManyRequestsProblemDetail (application/problem+json).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from ._catalog import Entity
from ._cql import CQLError, Predicate, parse_cql, select
from ._faults import ErrorFault, Faults, RateLimited

__all__ = [
    "MAX_BODY_BYTES",
    "Counters",
    "FakeApi",
    "Job",
    "RecordedRequest",
    "Reply",
    "Request",
]

logger = logging.getLogger("cortexio_sdk.testing")

# The documented maximum request body of the Cortex API (2 MB, read as 2 MiB).
MAX_BODY_BYTES = 2 * 1024 * 1024
QUERIES = "/api/v1/queries"
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
TERMINAL = ("DONE", "FAILURE", "CANCELLED", "TIMED_OUT")


@dataclass(frozen=True)
class Request:
    """One request as received: method, raw target, headers (lower-case names), body."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes
    body_size: int  # as sent, even when the body was too large to keep
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received and what it did: `status` is None for a dropped connection."""

    method: str
    path: str
    status: int | None
    request_id: str
    at: float  # time.monotonic() when it arrived


@dataclass(frozen=True)
class Counters:
    """What the fake has seen and sent since it was made (or since `reset_counters()`)."""

    requests: int = 0
    requests_by_method: Mapping[str, int] = field(default_factory=dict)
    responses_by_status: Mapping[int, int] = field(default_factory=dict)
    rate_limited: int = 0  # 429s sent by the rate limit (not by `faults.errors(429)`)
    injected_errors: int = 0  # answers from `faults.errors`
    dropped: int = 0  # connections closed without an answer
    delayed: int = 0  # answers held back by `faults.slow`
    jobs_created: int = 0
    connections_opened: int = 0
    peak_connections: int = 0


@dataclass(frozen=True)
class Job:
    """A query job: it reports IN_PROGRESS for `seconds` after it started, then `final_status`."""

    job_id: str
    query: str
    initiated_at: str
    started: float  # time.monotonic()
    seconds: float
    final_status: str
    entities: tuple[Entity, ...]

    def finished(self, now: float) -> bool:
        return now - self.started >= self.seconds

    def details(self) -> dict[str, str]:
        return {"initiatedAt": self.initiated_at, "jobId": self.job_id, "query": self.query}

    def state(self, now: float, running_status: str) -> dict[str, Any]:
        """The QueryBuilderResult the API sends for this job at `now`."""
        if not self.finished(now):
            progress = (now - self.started) / self.seconds
            return {
                "progress": round(min(progress, 0.99), 3),
                "queryDetails": self.details(),
                "status": running_status,
            }
        if self.final_status == "DONE":
            return {
                "progress": 1.0,
                "queryDetails": self.details(),
                "result": [entity.to_json() for entity in self.entities],
                "status": "DONE",
            }
        return {"queryDetails": self.details(), "status": self.final_status}


class _Invalid(ValueError):
    """A request body that is not a usable QueryRequest (a 400 BAD_REQUEST)."""


class _AlreadyRunning(ValueError):
    """The same query is already running (a 409 CONFLICT)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"the same query is already running as job {job_id}")
        self.job_id = job_id


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: deque[RecordedRequest] = deque(maxlen=100_000)
        self.requests_by_method: Counter[str] = Counter()
        self.responses_by_status: Counter[int] = Counter()
        self.rate_limited = self.injected_errors = self.dropped = self.delayed = 0
        self.jobs_created = self.connections_opened = self.peak_connections = 0

    def reset(self) -> None:
        with self.lock:
            self.log.clear()
            self.requests_by_method.clear()
            self.responses_by_status.clear()
            self.rate_limited = self.injected_errors = self.dropped = self.delayed = 0
            self.jobs_created = self.connections_opened = self.peak_connections = 0

    def snapshot(self) -> Counters:
        with self.lock:
            return Counters(
                requests=sum(self.requests_by_method.values()),
                requests_by_method=dict(self.requests_by_method),
                responses_by_status=dict(self.responses_by_status),
                rate_limited=self.rate_limited,
                injected_errors=self.injected_errors,
                dropped=self.dropped,
                delayed=self.delayed,
                jobs_created=self.jobs_created,
                connections_opened=self.connections_opened,
                peak_connections=self.peak_connections,
            )


def _now_iso() -> str:
    """The current UTC time as the API writes it: 2024-07-29T15:51:28.071Z."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class FakeApi:
    """The Cortex Queries API's behaviour, with faults; thread-safe."""

    def __init__(self, *, api_key: str, catalog: Iterable[Entity], faults: Faults) -> None:
        self.api_key = api_key
        self.faults = faults
        self.catalog: tuple[Entity, ...] = tuple(catalog)
        self._jobs: dict[str, Job] = {}
        self._jobs_lock = threading.Lock()
        self._stats = _Stats()

    # --- counters and records ---

    @property
    def counters(self) -> Counters:
        return self._stats.snapshot()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._stats.lock:
            return list(self._stats.log)

    def reset_counters(self) -> None:
        self._stats.reset()

    def connection_opened(self, open_now: int) -> None:
        with self._stats.lock:
            self._stats.connections_opened += 1
            self._stats.peak_connections = max(self._stats.peak_connections, open_now)

    def received(self, request: Request) -> None:
        with self._stats.lock:
            self._stats.requests_by_method[request.method] += 1

    def delayed(self) -> None:
        with self._stats.lock:
            self._stats.delayed += 1

    def finished(self, request: Request, status: int | None) -> None:
        """Record what was done with a request: the status sent, or None when dropped."""
        path = urlsplit(request.target).path
        with self._stats.lock:
            if status is None:
                self._stats.dropped += 1
            else:
                self._stats.responses_by_status[status] += 1
            self._stats.log.append(
                RecordedRequest(request.method, path, status, request.request_id, time.monotonic())
            )
        logger.info(
            "%s %s -> %s (request id %s)",
            request.method,
            path,
            "dropped" if status is None else status,
            request.request_id,
        )

    # --- jobs ---

    def jobs(self) -> list[Job]:
        with self._jobs_lock:
            return list(self._jobs.values())

    def end_job(self, job_id: str, status: str) -> Job:
        """End a job now with `status` (CANCELLED, FAILURE...); returns the job as it now is."""
        with self._jobs_lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise KeyError(f"no job with id {job_id!r}")
            now = time.monotonic()
            if job.finished(now):
                raise ValueError(f"job {job_id} has already ended with {job.final_status}")
            seconds = now - job.started
            entities = job.entities
            job = Job(
                job.job_id, job.query, job.initiated_at, job.started, seconds, status, entities
            )
            self._jobs[job_id] = job
            return job

    # --- requests ---

    def handle(self, request: Request) -> Reply:
        """The answer to one request (drops and delays are the HTTP layer's business).

        Injected errors come first (they stand for a proxy or gateway in front of the API), then
        the key is checked, then the rate limit: Cortex limits requests per key, so a request
        without a valid key is refused (401) without counting against anyone's limit.
        """
        fault = self.faults.take_error(request.method)
        if fault is not None:
            with self._stats.lock:
                self._stats.injected_errors += 1
            return self._injected(request, fault)
        if (denied := self._check_auth(request)) is not None:
            return denied
        limited = self.faults.take_token(time.monotonic())
        if limited is not None:
            with self._stats.lock:
                self._stats.rate_limited += 1
            return self._too_many_requests(request, limited)
        return self._route(request)

    def _route(self, request: Request) -> Reply:
        path = urlsplit(request.target).path
        if path == QUERIES:
            if request.method == "POST":
                return self._create(request)
            return self._not_allowed(request, "POST")
        prefix = QUERIES + "/"
        if path.startswith(prefix) and "/" not in path[len(prefix) :]:
            if request.method == "GET":
                return self._get(request, unquote(path[len(prefix) :]))
            return self._not_allowed(request, "GET")
        return self.error(
            request,
            404,
            "NOT_FOUND",
            f"No route {request.method} {path}: this server has POST {QUERIES} and "
            f"GET {QUERIES}/{{jobId}}",
        )

    def _check_auth(self, request: Request) -> Reply | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            message = "Missing Authorization header: send 'Authorization: Bearer <API key>'"
        elif scheme.lower() != "bearer" or not token.strip():
            message = "Authorization header must be 'Bearer <API key>'"
        elif not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            message = "Invalid API key"
        else:
            return None
        reply = self.error(request, 401, "FORBIDDEN", message)
        return Reply(reply.status, reply.body, reply.content_type, {"WWW-Authenticate": "Bearer"})

    def _create(self, request: Request) -> Reply:
        try:
            query = self._query_from(request)
        except _Invalid as exc:
            return self.error(request, 400, "BAD_REQUEST", str(exc))
        try:
            predicate = parse_cql(query)
        except CQLError as exc:
            return self.error(request, 400, "ILLEGAL_ARGUMENT_ERROR", f"Invalid CQL query: {exc}")
        try:
            job = self.start_job(query, predicate)
        except _AlreadyRunning as exc:
            message = (
                f"The same query is already running as job {exc.job_id}; wait for it to finish"
            )
            return self.error(request, 409, "CONFLICT", message)
        return Reply(200, _json(job.details()))

    def start_job(
        self,
        query: str,
        predicate: Predicate,
        *,
        seconds: float | None = None,
        status: str | None = None,
    ) -> Job:
        """A new job for `query`, as a POST makes it; `seconds` and `status` override the
        faults' outcome. Raises _AlreadyRunning when the same query is running."""
        now = time.monotonic()
        with self._jobs_lock:
            running = next(
                (j for j in self._jobs.values() if j.query == query and not j.finished(now)), None
            )
            if running is not None:
                raise _AlreadyRunning(running.job_id)
            if seconds is None or status is None:
                # Only what the caller left open uses up a scripted outcome.
                scripted_status, scripted_seconds = self.faults.take_outcome(query)
                seconds = scripted_seconds if seconds is None else seconds
                status = scripted_status if status is None else status
            job = Job(
                job_id=str(uuid.uuid4()),
                query=query,
                initiated_at=_now_iso(),
                started=now,
                seconds=seconds,
                final_status=status,
                entities=tuple(select(predicate, self.catalog)),
            )
            self._jobs[job.job_id] = job
        with self._stats.lock:
            self._stats.jobs_created += 1
        return job

    def _query_from(self, request: Request) -> str:
        """The `query` of a QueryRequest body; raises _Invalid saying what is wrong with it."""
        if request.body_size > MAX_BODY_BYTES:
            raise _Invalid(
                f"Request body is {request.body_size:,} bytes; the maximum is "
                f"{MAX_BODY_BYTES:,} bytes (2 MB)"
            )
        content_type = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
        if content_type != JSON and not content_type.endswith("+json"):
            raise _Invalid(f"Content-Type must be {JSON}, got {content_type!r}")
        try:
            data = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Invalid(f"Request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise _Invalid("Request body must be a JSON object with a 'query' string")
        if "query" not in data:
            raise _Invalid("Field 'query' is required")
        query = data["query"]
        if not isinstance(query, str):
            raise _Invalid(f"Field 'query' must be a string, got {type(query).__name__}")
        if not query.strip():
            raise _Invalid("Field 'query' must not be blank")
        return query

    def _get(self, request: Request, job_id: str) -> Reply:
        with self._jobs_lock:
            job = self._jobs.get(job_id)
        if job is None:
            return self.error(request, 404, "NOT_FOUND", f"No query job with id {job_id!r}")
        state = job.state(time.monotonic(), self.faults.running_status())
        return Reply(200, _json(state))

    # --- error bodies ---

    def error(
        self, request: Request, status: int, error_type: str, message: str, details: str = ""
    ) -> Reply:
        """An ErrorResponse body: message, type, requestId, httpStatus (and details if given)."""
        body: dict[str, Any] = {
            "httpStatus": status,
            "message": message,
            "requestId": request.request_id,
            "type": self.faults.error_type(error_type),
        }
        if details:
            body["details"] = details
        return Reply(status, _json(body))

    def _not_allowed(self, request: Request, allowed: str) -> Reply:
        path = urlsplit(request.target).path
        reply = self.error(
            request, 405, "BAD_REQUEST", f"Method {request.method} is not allowed on {path}"
        )
        return Reply(reply.status, reply.body, reply.content_type, {"Allow": allowed})

    def _too_many_requests(self, request: Request, limited: RateLimited) -> Reply:
        """The rate limit's 429: the wait in the body's `retryAfter` always (both are in the
        spec), and in the Retry-After header too unless the limit puts it in the body only."""
        retry_after = limited.retry_after
        body = {
            "detail": (
                f"Rate limit exceeded ({limited.limit.describe()}); retry after {retry_after} s"
            ),
            "instance": urlsplit(request.target).path,
            "retryAfter": retry_after,
            "status": 429,
            "title": "Too Many Requests",
            "type": "about:blank",
        }
        headers = {"Retry-After": str(retry_after)} if limited.retry_after_in == "header" else {}
        return Reply(429, _json(body), PROBLEM_JSON, headers)

    def _injected(self, request: Request, fault: ErrorFault) -> Reply:
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        if fault.body is not None:
            return Reply(fault.status, fault.body, fault.content_type or JSON, headers)
        if fault.html:
            return Reply(fault.status, _html_page(fault.status), "text/html", headers)
        if fault.status == 429:
            body: dict[str, Any] = {
                "detail": fault.message,
                "instance": urlsplit(request.target).path,
                "status": 429,
                "title": "Too Many Requests",
                "type": "about:blank",
            }
            if isinstance(fault.retry_after, int) and fault.retry_after >= 0:
                body["retryAfter"] = fault.retry_after
            return Reply(429, _json(body), fault.content_type or PROBLEM_JSON, headers)
        reply = self.error(request, fault.status, fault.error_type, fault.message)
        return Reply(reply.status, reply.body, fault.content_type or JSON, headers)


def _html_page(status: int) -> bytes:
    """The kind of page a proxy in front of an API sends when the API is down."""
    try:
        title = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        title = str(status)
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        f"</body>\r\n</html>\r\n"
    ).encode()
