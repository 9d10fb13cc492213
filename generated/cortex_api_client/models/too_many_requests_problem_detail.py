from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.too_many_requests_problem_detail_status import (
    TooManyRequestsProblemDetailStatus,
)
from ..types import UNSET, Unset

T = TypeVar("T", bound="TooManyRequestsProblemDetail")

# The keys from_dict reads; any others go to additional_properties.
_KNOWN_KEYS = frozenset(
    (
        "status",
        "title",
        "type",
        "detail",
        "instance",
        "retryAfter",
    )
)


@_attrs_define
class TooManyRequestsProblemDetail:
    """
    Attributes:
        status (TooManyRequestsProblemDetailStatus):
        title (str):
        type (str):
        detail (str | Unset):
        instance (str | Unset):
        retry_after (int | Unset): The number of seconds until the rate limiting resets.
    """

    status: TooManyRequestsProblemDetailStatus
    title: str
    type: str
    detail: str | Unset = UNSET
    instance: str | Unset = UNSET
    retry_after: int | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        title = self.title

        type_ = self.type

        detail = self.detail

        instance = self.instance

        retry_after = self.retry_after

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "status": status,
                "title": title,
                "type": type_,
            }
        )
        if detail is not UNSET:
            field_dict["detail"] = detail
        if instance is not UNSET:
            field_dict["instance"] = instance
        if retry_after is not UNSET:
            field_dict["retryAfter"] = retry_after

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        # The known fields are read in place: no copy of src_dict per object (a result holds
        # thousands of entities); the other keys are copied only when there are any.
        d = src_dict
        status = TooManyRequestsProblemDetailStatus(d["status"])

        title = d["title"]

        type_ = d["type"]

        detail = d.get("detail", UNSET)

        instance = d.get("instance", UNSET)

        retry_after = d.get("retryAfter", UNSET)

        too_many_requests_problem_detail = cls(
            status=status,
            title=title,
            type=type_,
            detail=detail,
            instance=instance,
            retry_after=retry_after,
        )

        if not _KNOWN_KEYS.issuperset(src_dict):
            too_many_requests_problem_detail.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return too_many_requests_problem_detail

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
