from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="QueryResult")

# The keys from_dict reads; any others go to additional_properties.
_KNOWN_KEYS = frozenset(
    (
        "name",
        "tag",
        "type",
        "description",
    )
)


@_attrs_define
class QueryResult:
    """One catalog entity found by the query.

    Attributes:
        name (str):
        tag (str):
        type (str):
        description (str | Unset):
    """

    name: str
    tag: str
    type: str
    description: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        tag = self.tag

        type_ = self.type

        description = self.description

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "tag": tag,
                "type": type_,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        # The known fields are read in place: no copy of src_dict per object (a result holds
        # thousands of entities); the other keys are copied only when there are any.
        d = src_dict
        name = d["name"]

        tag = d["tag"]

        type_ = d["type"]

        description = d.get("description", UNSET)

        query_result = cls(
            name=name,
            tag=tag,
            type=type_,
            description=description,
        )

        if not _KNOWN_KEYS.issuperset(src_dict):
            query_result.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return query_result

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
