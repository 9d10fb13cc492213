from enum import StrEnum
from typing import Self


class QueryStatus(StrEnum):
    CANCELLED = "CANCELLED"
    DONE = "DONE"
    FAILURE = "FAILURE"
    IN_PROGRESS = "IN_PROGRESS"
    TIMED_OUT = "TIMED_OUT"

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
