from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="QueryRequest")

# The keys from_dict reads; any others go to additional_properties.
_KNOWN_KEYS = frozenset(("query",))


@_attrs_define
class QueryRequest:
    """
    Attributes:
        query (str): The CQL query to run; it must not be blank. Example: tag = 'payments'.
    """

    query: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        query = self.query

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "query": query,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        # The known fields are read in place: no copy of src_dict per object (a result holds
        # thousands of entities); the other keys are copied only when there are any.
        d = src_dict
        query = d["query"]

        query_request = cls(
            query=query,
        )

        if not _KNOWN_KEYS.issuperset(src_dict):
            query_request.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return query_request

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
