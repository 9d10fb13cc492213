"""Every exception the SDK raises, and the table of which Cortex error types are transient.

CortexError
├── APIConnectionError ── APITimeoutError
├── APIStatusError  (.status_code .error_type .message .details .request_id .response)
│   ├── BadRequestError 400, AuthenticationError 401, PermissionDeniedError 403,
│   │   NotFoundError 404, ConflictError 409, RateLimitError 429, InternalServerError 5xx
│   └── IntegrationError  (also raised as, for every INTEGRATION_* error type)
├── UnexpectedResponseError
├── QueryError (.state .job_id) ── QueryFailedError, QueryCancelledError, QueryTimedOutError
└── WaitTimeoutError (also a builtin TimeoutError)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cortex_api_client.models import ErrorType

if TYPE_CHECKING:
    import httpx
    from cortex_api_client.models import QueryBuilderResult

__all__ = [
    "RETRYABLE_ERROR_TYPES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "CortexError",
    "DeadlineExceededError",
    "IntegrationError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryCancelledError",
    "QueryError",
    "QueryFailedError",
    "QueryTimedOutError",
    "RateLimitError",
    "UnexpectedResponseError",
    "WaitTimeoutError",
    "status_error_class",
]

# The error types after which trying again can help: the upstream integration or Cortex itself
# was momentarily overloaded or slow. They are retried for GET like a 503; every other type is a
# property of the request or of the workspace's configuration and fails the same way again.
RETRYABLE_ERROR_TYPES: frozenset[ErrorType] = frozenset(
    {
        ErrorType.INTEGRATION_RATE_LIMITED,
        ErrorType.INTEGRATION_TIMED_OUT,
        ErrorType.INTEGRATION_GATEWAY_TIMEOUT,
        ErrorType.INTEGRATION_UNAVAILABLE,
        ErrorType.INTEGRATION_BAD_GATEWAY,
        ErrorType.REQUEST_TIMEOUT,
    }
)


class CortexError(Exception):
    """Base class of every error the SDK raises.

    Errors pickle (to cross a process pool, for instance) with every attribute but `response`,
    which holds a connection's worth of state and arrives as None.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        state = {k: v for k, v in self.__dict__.items() if k != "response"}
        if "response" in self.__dict__:
            state["response"] = None
        return (_unpickle, (type(self), self.args, state))


class ConfigurationError(CortexError, ValueError):
    """A client setting is missing or invalid (named in the message).

    `.setting` is the constructor keyword concerned (`api_key`, `base_url`...) and `.remedy`,
    when there is one, says how to fix it in Python; `.problem` is the message without the
    remedy, for a front end (the CLI) that words the fix in its own flags and variables.
    """

    def __init__(
        self, problem: str, *, setting: str | None = None, remedy: str | None = None
    ) -> None:
        super().__init__(f"{problem}; {remedy}" if remedy else problem)
        self.problem = problem
        self.setting = setting
        self.remedy = remedy


def _unpickle(cls: type[CortexError], args: tuple[Any, ...], state: dict[str, Any]) -> CortexError:
    # The subclasses' __init__ take keyword arguments that args alone cannot rebuild.
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class APIConnectionError(CortexError):
    """The request did not get an HTTP answer: refused, reset, dropped, or TLS failure."""


class APITimeoutError(APIConnectionError):
    """No answer in time: the per-request timeout or the call's overall deadline passed."""


class DeadlineExceededError(APITimeoutError):
    """The call's overall deadline passed, or waiting for the rate limiter would pass it."""


class APIStatusError(CortexError):
    """The API answered with an error status. Subclasses say which; attributes say why."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: ErrorType | str | None = None,
        details: str | None = None,
        request_id: str | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.error_type = error_type
        self.details = details
        self.request_id = request_id
        self.response = response
        super().__init__(self._describe())

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed if tried again later."""
        return (
            self.status_code == 429
            or self.status_code >= 500
            or self.error_type in (RETRYABLE_ERROR_TYPES)
        )

    def _describe(self) -> str:
        kind = f" {self.error_type}" if self.error_type else ""
        text = f"HTTP {self.status_code}{kind}: {self.message}"
        if self.details:
            text += f" ({self.details})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


class BadRequestError(APIStatusError):
    """400: the request is invalid (for example, CQL that does not parse)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks a permission (the Queries API needs "Enable Query builder")."""


class NotFoundError(APIStatusError):
    """404: no such query job (or other resource)."""


class ConflictError(APIStatusError):
    """409: the same CQL query is already running; wait for that job instead."""


class RateLimitError(APIStatusError):
    """429 that the SDK did not wait out: retries used up, or the wait asked for was too long.

    `retry_after` is the number of seconds the server asked for (None when it said nothing).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    def _describe(self) -> str:
        text = super()._describe()
        if self.retry_after is not None:
            text += f"; the server asked to wait {self.retry_after:g} s"
        return text


class InternalServerError(APIStatusError):
    """5xx: Cortex or a gateway in front of it failed."""


class IntegrationError(APIStatusError):
    """An upstream integration of the Cortex workspace failed (an INTEGRATION_* error type).

    Raised together with the status class: `except NotFoundError` and `except IntegrationError`
    both catch a 404 whose type is INTEGRATION_NOT_FOUND.
    """


class UnexpectedResponseError(CortexError):
    """The response is not what the spec says: not JSON, the wrong shape, or an odd status."""

    def __init__(
        self, message: str, *, status_code: int, body: bytes, response: httpx.Response | None = None
    ) -> None:
        self.status_code = status_code
        self.body_excerpt = body[:200].decode("utf-8", errors="replace")
        self.response = response
        super().__init__(f"{message} (HTTP {status_code}, body starts {self.body_excerpt!r})")


class QueryError(CortexError):
    """The query job ended without DONE. `state` is its final state, `job_id` its id."""

    def __init__(self, message: str, *, job_id: str, state: QueryBuilderResult) -> None:
        self.job_id = job_id
        self.state = state
        super().__init__(message)


class QueryFailedError(QueryError):
    """The job ended in FAILURE."""


class QueryCancelledError(QueryError):
    """The job ended in CANCELLED."""


class QueryTimedOutError(QueryError):
    """The job ended in TIMED_OUT: Cortex's own limit on the query, not our deadline."""


class WaitTimeoutError(CortexError, TimeoutError):
    """Our deadline passed before the job ended; resume with `wait(job_id)`.

    `state` is the last state seen (None if none was), `job_id` the job's id.
    """

    def __init__(self, message: str, *, job_id: str, state: QueryBuilderResult | None) -> None:
        self.job_id = job_id
        self.state = state
        super().__init__(message)


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def status_error_class(
    status_code: int, error_type: ErrorType | str | None
) -> type[APIStatusError]:
    """The class to raise for a status and error type; INTEGRATION_* types add IntegrationError."""
    base = _BY_STATUS.get(status_code)
    if base is None:
        base = InternalServerError if status_code >= 500 else APIStatusError
    if error_type is not None and str(error_type).startswith("INTEGRATION_"):
        return _integration_variant(base)
    return base


def _integration_variant(base: type[APIStatusError]) -> type[APIStatusError]:
    if base is APIStatusError:
        return IntegrationError
    return _INTEGRATION_VARIANTS[base]


# One class per status class that is also an IntegrationError, so that both `except` clauses
# catch it. Written out (not made with type()) so that IDEs, type checkers and pickle see them.


class IntegrationBadRequestError(BadRequestError, IntegrationError):
    """400 with an INTEGRATION_* error type."""


class IntegrationAuthenticationError(AuthenticationError, IntegrationError):
    """401 with an INTEGRATION_* error type."""


class IntegrationPermissionDeniedError(PermissionDeniedError, IntegrationError):
    """403 with an INTEGRATION_* error type."""


class IntegrationNotFoundError(NotFoundError, IntegrationError):
    """404 with an INTEGRATION_* error type."""


class IntegrationConflictError(ConflictError, IntegrationError):
    """409 with an INTEGRATION_* error type."""


class IntegrationRateLimitError(RateLimitError, IntegrationError):
    """429 with an INTEGRATION_* error type."""


class IntegrationInternalServerError(InternalServerError, IntegrationError):
    """5xx with an INTEGRATION_* error type."""


_INTEGRATION_VARIANTS: dict[type[APIStatusError], type[APIStatusError]] = {
    BadRequestError: IntegrationBadRequestError,
    AuthenticationError: IntegrationAuthenticationError,
    PermissionDeniedError: IntegrationPermissionDeniedError,
    NotFoundError: IntegrationNotFoundError,
    ConflictError: IntegrationConflictError,
    RateLimitError: IntegrationRateLimitError,
    InternalServerError: IntegrationInternalServerError,
}
