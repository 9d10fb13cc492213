"""Contains all the data models used in inputs/outputs"""

from .error_response import ErrorResponse
from .error_type import ErrorType
from .query_builder_result import QueryBuilderResult
from .query_request import QueryRequest
from .query_response import QueryResponse
from .query_result import QueryResult
from .query_status import QueryStatus
from .too_many_requests_problem_detail import TooManyRequestsProblemDetail
from .too_many_requests_problem_detail_status import TooManyRequestsProblemDetailStatus

__all__ = (
    "ErrorResponse",
    "ErrorType",
    "QueryBuilderResult",
    "QueryRequest",
    "QueryResponse",
    "QueryResult",
    "QueryStatus",
    "TooManyRequestsProblemDetail",
    "TooManyRequestsProblemDetailStatus",
)
