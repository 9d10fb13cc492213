"""What every operation does around the generated call, the same for sync and async.

Checks the arguments before anything is sent, and turns the generated `Response` into the model
the spec promises or a typed error (typed HTTP errors were already raised by the transport).
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from cortex_api_client.errors import MalformedResponse, UnexpectedStatus
from cortex_api_client.types import Response

from ._exceptions import UnexpectedResponseError

__all__ = [
    "MAX_BODY_BYTES",
    "TranslatedErrors",
    "check_job_id",
    "check_number",
    "check_query",
    "expect",
]

# The documented maximum request body of the Cortex API (2 MB, read as 2 MiB).
MAX_BODY_BYTES = 2 * 1024 * 1024

T = TypeVar("T")


def check_number(
    name: str, value: object, *, minimum: float = 0.0, inclusive: bool = False, finite: bool = True
) -> float:
    """The one check of a number argument or setting (seconds, a rate): `value` as a float.

    A real number (not a bool, not NaN), above `minimum` (or equal to it when `inclusive`), and
    finite unless `finite=False`. TypeError for a non-number, ValueError for one out of range,
    each naming `name`; the settings raise the same message as a ConfigurationError.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}: {value!r:.80}")
    number = float(value)
    low_ok = number >= minimum if inclusive else number > minimum
    if math.isnan(number) or not low_ok or (finite and math.isinf(number)):
        if minimum == 0 and not inclusive:
            wanted = "positive and finite" if finite else "positive"
        else:
            wanted = f"{'at least' if inclusive else 'more than'} {minimum:g}"
            wanted += " and finite" if finite else ""
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return number


def check_job_id(job_id: object) -> str:
    """A job id must be a non-empty string; any characters are fine (it is sent encoded)."""
    if not isinstance(job_id, str):
        raise TypeError(f"job_id must be a str, got {type(job_id).__name__}: {job_id!r:.80}")
    if not job_id.strip():
        raise ValueError("job_id must not be empty or blank")
    return job_id


def check_query(query: object) -> str:
    """A CQL query must be a non-empty string whose request body fits the API's 2 MB limit."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}: {query!r:.80}")
    if not query.strip():
        raise ValueError("query must not be empty or blank")
    # Encoded as httpx encodes the JSON body: compact, UTF-8.
    size = len(json.dumps({"query": query}, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_BODY_BYTES:
        raise ValueError(
            f"query makes a request body of {size:,} bytes; the Cortex API accepts at most "
            f"{MAX_BODY_BYTES:,} bytes (2 MB)"
        )
    return query


class TranslatedErrors:
    """Errors the generated layer raises for a bad body become UnexpectedResponseError.
    (A class, not a generator: it is around every call.)"""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, _: object
    ) -> None:
        for kind, problem in _TRANSLATED:
            if isinstance(exc, kind):
                raise UnexpectedResponseError(
                    problem, status_code=exc.status_code, body=exc.content
                ) from exc


# What the generated layer raises for an answer the spec does not describe, and what it means.
_TRANSLATED: tuple[tuple[type[MalformedResponse | UnexpectedStatus], str], ...] = (
    (MalformedResponse, "the response body does not match the spec"),
    (UnexpectedStatus, "the response status is not one the spec lists"),
)


def expect(response: Response[Any], model: type[T]) -> T:
    """The parsed body when it is the model the spec promises for success."""
    if isinstance(response.parsed, model):
        return response.parsed
    raise UnexpectedResponseError(
        f"expected a {model.__name__} body", status_code=response.status_code, body=response.content
    )
