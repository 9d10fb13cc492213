"""cortexio-sdk: a Python SDK for the Cortex Queries API.

from cortexio_sdk import Cortex
with Cortex() as client:            # CORTEX_API_KEY, CORTEX_BASE_URL
    job = client.queries.run("tag = 'payments'")
    state = client.queries.get(job.job_id)
"""

from __future__ import annotations

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
