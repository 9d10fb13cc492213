from enum import IntEnum
from typing import Self


class TooManyRequestsProblemDetailStatus(IntEnum):
    VALUE_429 = 429

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        """Keep a value the spec does not list (yet) instead of raising ValueError.

        The result is an unlisted member: an instance of this class that equals the raw integer
        and is not among the listed members.
        """
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"VALUE_{value}"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether the spec lists this value (False for a value newer than the spec)."""
        return type(self).__members__.get(self._name_) is self

    def __str__(self) -> str:
        return str(self.value)
