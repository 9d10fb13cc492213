"""cortexio-sdk: a Python SDK for the Cortex Queries API.

from cortexio_sdk import Cortex
with Cortex() as client:            # CORTEX_API_KEY, CORTEX_BASE_URL
    job = client.queries.run("tag = 'payments'")
    state = client.queries.get(job.job_id)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Every public name is imported when first used (PEP 562), not with the package: the command
# line's `--help`, a test collecting `cortexio_sdk.testing`, or a service that only names the
# exceptions do not pay for httpx, attrs and the generated models. Type checkers and IDEs read
# the imports below.
if TYPE_CHECKING:
    from cortex_api_client.models import (
        ErrorResponse,
        ErrorType,
        QueryBuilderResult,
        QueryRequest,
        QueryResponse,
        QueryResult,
        QueryStatus,
        TooManyRequestsProblemDetail,
    )

    from ._client import AsyncCortex, Cortex
    from ._exceptions import (
        RETRYABLE_ERROR_TYPES,
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConflictError,
        CortexError,
        DeadlineExceededError,
        IntegrationError,
        InternalServerError,
        NotFoundError,
        PermissionDeniedError,
        QueryCancelledError,
        QueryError,
        QueryFailedError,
        QueryTimedOutError,
        RateLimitError,
        UnexpectedResponseError,
        WaitTimeoutError,
    )
    from ._polling import Completed
    from ._ratelimit._redis_limiter import RedisLimiter
    from ._version import __version__

# Where each public name lives: the module imported on first use.
_EXCEPTIONS = (
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
)
_MODELS = (
    "ErrorResponse",
    "ErrorType",
    "QueryBuilderResult",
    "QueryRequest",
    "QueryResponse",
    "QueryResult",
    "QueryStatus",
    "TooManyRequestsProblemDetail",
)
_HOMES: dict[str, str] = {
    "AsyncCortex": "cortexio_sdk._client",
    "Cortex": "cortexio_sdk._client",
    "Completed": "cortexio_sdk._polling",
    "RedisLimiter": "cortexio_sdk._ratelimit._redis_limiter",
    "__version__": "cortexio_sdk._version",
    **dict.fromkeys(_EXCEPTIONS, "cortexio_sdk._exceptions"),
    **dict.fromkeys(_MODELS, "cortex_api_client.models"),
}

__all__ = [
    "RETRYABLE_ERROR_TYPES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncCortex",
    "AuthenticationError",
    "BadRequestError",
    "Completed",
    "ConfigurationError",
    "ConflictError",
    "Cortex",
    "CortexError",
    "DeadlineExceededError",
    "ErrorResponse",
    "ErrorType",
    "IntegrationError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryBuilderResult",
    "QueryCancelledError",
    "QueryError",
    "QueryFailedError",
    "QueryRequest",
    "QueryResponse",
    "QueryResult",
    "QueryStatus",
    "QueryTimedOutError",
    "RateLimitError",
    "RedisLimiter",
    "TooManyRequestsProblemDetail",
    "UnexpectedResponseError",
    "WaitTimeoutError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
