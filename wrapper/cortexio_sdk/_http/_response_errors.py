"""Turning an error response into the exception to raise, whatever the body holds.

The spec promises an `ErrorResponse` JSON body for 400/404/409 and a problem+json body for 429;
gateways send HTML, empty bodies and JSON of other shapes. A documented body becomes its typed
`APIStatusError`; a 429 is always a `RateLimitError` (its header is what matters); anything else
is an `UnexpectedResponseError` with the status and a short excerpt of the body.
"""

from __future__ import annotations

from typing import Any

import httpx
from cortex_api_client.models import ErrorResponse, ErrorType
from cortex_api_client.types import PARSE_ERRORS, Unset

from .._exceptions import (
    APIStatusError,
    CortexError,
    RateLimitError,
    UnexpectedResponseError,
    status_error_class,
)
from ._retry_after import json_body, retry_after_seconds

__all__ = ["error_from_response", "known_error_type"]

_KNOWN_ERROR_TYPES = frozenset(member.value for member in ErrorType)


def known_error_type(raw: object) -> ErrorType | str:
    """The ErrorType member for a listed value, else the raw string the server sent."""
    text = str(raw)
    return ErrorType(text) if text in _KNOWN_ERROR_TYPES else text


def error_from_response(response: httpx.Response) -> tuple[CortexError, float | None]:
    """The exception for a non-success response (its body must have been read), and the wait
    the server advised (Retry-After, else problem+json retryAfter; None for none).

    The body is parsed once, here, for both.
    """
    status = response.status_code
    body = json_body(response)
    advised = retry_after_seconds(response, body=body)
    request_id = response.headers.get("x-request-id")
    if isinstance(body, dict):
        error = _documented_error(response, body, request_id, advised)
        if error is not None:
            return error, advised
    if status == 429:
        limited = RateLimitError(
            "rate limited",
            retry_after=advised,
            status_code=status,
            request_id=request_id,
            response=response,
        )
        return limited, advised
    unexpected = UnexpectedResponseError(
        "the response is not a documented Cortex error",
        status_code=status,
        body=response.content,
        response=response,
    )
    return unexpected, advised


def _documented_error(
    response: httpx.Response, body: dict[str, Any], request_id: str | None, advised: float | None
) -> APIStatusError | None:
    status = response.status_code
    if isinstance(body.get("message"), str) and isinstance(body.get("type"), str):
        try:
            parsed = ErrorResponse.from_dict(body)
        except PARSE_ERRORS:
            return None
        error_type = known_error_type(parsed.type)
        cls = status_error_class(status, error_type)
        kwargs: dict[str, Any] = {}
        if issubclass(cls, RateLimitError):
            kwargs["retry_after"] = advised
        return cls(
            parsed.message,
            status_code=status,
            error_type=error_type,
            details=_text(parsed.details),
            request_id=_text(parsed.request_id) or request_id,
            response=response,
            **kwargs,
        )
    if status == 429 and isinstance(body.get("title"), str):
        message = body.get("detail") if isinstance(body.get("detail"), str) else body["title"]
        return RateLimitError(
            str(message),
            retry_after=advised,
            status_code=status,
            request_id=request_id,
            response=response,
        )
    return None


def _text(value: object) -> str | None:
    if isinstance(value, Unset) or value is None:
        return None
    return str(value)
