"""cortex-sdk: a Python SDK for the Cortex Queries API."""

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

from ._version import __version__

__all__ = [
    "ErrorResponse",
    "ErrorType",
    "QueryBuilderResult",
    "QueryRequest",
    "QueryResponse",
    "QueryResult",
    "QueryStatus",
    "TooManyRequestsProblemDetail",
    "__version__",
]
