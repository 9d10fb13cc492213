"""Contains some shared types for properties"""

import gc
import threading
from collections.abc import Mapping, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from http import HTTPStatus
from typing import IO, BinaryIO, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
from attrs import define


class Unset:
    """The value of an optional field the server left out: falsy, and shown as UNSET.

    Kept apart from None so that `to_dict()` gives back exactly what was received (a field sent
    as null stays null, a field left out stays out).
    """

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        # Unpickle as this module's one UNSET, so `is UNSET` holds for copied models too.
        return "UNSET"


UNSET: Unset = Unset()

# The types that `httpx.Client(files=)` can accept, copied from that library.
FileContent = IO[bytes] | bytes | str
FileTypes = (
    # (filename, file (or bytes), content_type)
    tuple[str | None, FileContent, str | None]
    # (filename, file (or bytes), content_type, headers)
    | tuple[str | None, FileContent, str | None, Mapping[str, str]]
)
RequestFiles = list[tuple[str, FileTypes]]


@define
class File:
    """Contains information for file uploads"""

    payload: BinaryIO
    file_name: str | None = None
    mime_type: str | None = None

    def to_tuple(self) -> FileTypes:
        """Return a tuple representation that httpx will accept for multipart/form-data"""
        return self.file_name, self.payload, self.mime_type


T = TypeVar("T")

# What parsing a body that does not match the spec can raise: bad JSON or encoding (ValueError),
# a missing required field (KeyError), a wrong type (TypeError, AttributeError), an absurd
# date (OverflowError) or pathological nesting (RecursionError).
PARSE_ERRORS = (
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)


# Bodies from this size on are turned into models with the cyclic garbage collector paused;
# a smaller one makes too few objects to trigger more than a young collection.
PAUSE_FROM_BYTES = 64 * 1024


class _CollectorPause:
    """Pause Python's cyclic garbage collector while a body is turned into models.

    Each model is an object the collector tracks (a dict of strings from json.loads is not), so
    a result of thousands of entities triggers collections that walk the whole heap again and
    again: a third of the parse time, for no garbage (models hold no cycles). Only the parse is
    paused; the last parse to finish (threads may parse at once) starts the collector again, if
    it was running before. A class, not a generator: it is around every operation's parse.
    """

    lock = threading.Lock()
    pausing = 0  # parses under way that paused the collector
    was_running = False  # whether the collector ran before the first of them

    def __enter__(self) -> None:
        cls = _CollectorPause
        with cls.lock:
            cls.pausing += (
                1  # first: interrupted before disable(), it fails safe (no pause)
            )
            if cls.pausing == 1:
                cls.was_running = gc.isenabled()
                gc.disable()

    def __exit__(self, *_: object) -> None:
        cls = _CollectorPause
        with cls.lock:
            cls.pausing -= 1
            if cls.pausing == 0 and cls.was_running:
                gc.enable()


_PAUSE = _CollectorPause()
_NO_PAUSE = nullcontext()


def collector_paused(body_size: int = PAUSE_FROM_BYTES) -> AbstractContextManager[None]:
    """The collector paused for the parse of a body of `body_size` bytes, when that is large."""
    return _PAUSE if body_size >= PAUSE_FROM_BYTES else _NO_PAUSE


def under_base_url(base_url: httpx.URL, path: str) -> str:
    """An operation's path (encoded already) under the httpx client's base_url, as one string.

    httpx would merge the relative path with base_url itself (base_url's path, then the path
    without its leading "/"), but parses the URL twice doing so, a tenth of a small call's
    time; joined here, it is parsed once, into the same URL.
    """
    base = str(base_url)  # "https://host" for a base_url whose path is "/"
    separator = "" if base.endswith("/") else "/"
    return f"{base}{separator}{path.lstrip('/')}"


def path_segment(value: object) -> str:
    """A path parameter as exactly one URL path segment.

    Everything but unreserved characters is percent-encoded ("/", "?", "#", spaces, unicode),
    and a value of "." or ".." is sent as %2E / %2E%2E: as plain dots, URL resolution would
    remove the segment and the request would reach another resource.
    """
    text = quote(str(value), safe="")
    if text in (".", ".."):
        return text.replace(".", "%2E")
    return text


def http_status(code: int) -> HTTPStatus | int:
    """The HTTPStatus for a standard code, the plain int for a non-standard one (499, 520...)."""
    try:
        return HTTPStatus(code)
    except ValueError:
        return code


@define
class Response(Generic[T]):
    """A response from an endpoint"""

    status_code: HTTPStatus | int
    content: bytes
    headers: MutableMapping[str, str]
    parsed: T | None


__all__ = [
    "PARSE_ERRORS",
    "UNSET",
    "File",
    "FileTypes",
    "RequestFiles",
    "Response",
    "Unset",
    "collector_paused",
    "http_status",
    "path_segment",
    "under_base_url",
]
