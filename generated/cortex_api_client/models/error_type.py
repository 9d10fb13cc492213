from enum import StrEnum
from typing import Self


class ErrorType(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    ILLEGAL_ARGUMENT_ERROR = "ILLEGAL_ARGUMENT_ERROR"
    INTEGRATION_BAD_GATEWAY = "INTEGRATION_BAD_GATEWAY"
    INTEGRATION_BAD_REQUEST = "INTEGRATION_BAD_REQUEST"
    INTEGRATION_CACHE_ERROR = "INTEGRATION_CACHE_ERROR"
    INTEGRATION_FORBIDDEN = "INTEGRATION_FORBIDDEN"
    INTEGRATION_GATEWAY_TIMEOUT = "INTEGRATION_GATEWAY_TIMEOUT"
    INTEGRATION_GRAPHQL_ERROR = "INTEGRATION_GRAPHQL_ERROR"
    INTEGRATION_INTERNAL_ERROR = "INTEGRATION_INTERNAL_ERROR"
    INTEGRATION_MISSING = "INTEGRATION_MISSING"
    INTEGRATION_NOT_FOUND = "INTEGRATION_NOT_FOUND"
    INTEGRATION_NOT_IMPLEMENTED = "INTEGRATION_NOT_IMPLEMENTED"
    INTEGRATION_RATE_LIMITED = "INTEGRATION_RATE_LIMITED"
    INTEGRATION_TIMED_OUT = "INTEGRATION_TIMED_OUT"
    INTEGRATION_UNAUTHORIZED = "INTEGRATION_UNAUTHORIZED"
    INTEGRATION_UNAVAILABLE = "INTEGRATION_UNAVAILABLE"
    INTEGRATION_UNEXPECTED_ERROR = "INTEGRATION_UNEXPECTED_ERROR"
    INTEGRATION_UNHANDLED_EXCEPTION = "INTEGRATION_UNHANDLED_EXCEPTION"
    INTEGRATION_UNHANDLED_HTTP_ERROR = "INTEGRATION_UNHANDLED_HTTP_ERROR"
    INTEGRATION_UNPROCESSABLE_CONTENT = "INTEGRATION_UNPROCESSABLE_CONTENT"
    INTEGRATION_UNREGISTERED = "INTEGRATION_UNREGISTERED"
    INTEGRATION_UNSUPPORTED = "INTEGRATION_UNSUPPORTED"
    NOT_FOUND = "NOT_FOUND"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    SERVICE_CREATOR = "SERVICE_CREATOR"
    UNCATEGORIZED = "UNCATEGORIZED"
    UNHANDLED_EXCEPTION = "UNHANDLED_EXCEPTION"
    UNKNOWN_HOST = "UNKNOWN_HOST"

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        """Keep a value the spec does not list (yet) instead of raising ValueError.

        The result is an unlisted member: an instance of this class that equals the raw string,
        is not among the listed members, and has that string as its name.
        """
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether the spec lists this value (False for a value newer than the spec)."""
        return type(self).__members__.get(self._name_) is self

    def __str__(self) -> str:
        return str(self.value)
