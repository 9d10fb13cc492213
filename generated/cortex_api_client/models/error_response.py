from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.error_type import ErrorType
from ..types import UNSET, Unset

T = TypeVar("T", bound="ErrorResponse")

# The keys from_dict reads; any others go to additional_properties.
_KNOWN_KEYS = frozenset(
    (
        "message",
        "type",
        "details",
        "gatewayHttpStatus",
        "httpStatus",
        "requestId",
    )
)


@_attrs_define
class ErrorResponse:
    """
    Attributes:
        message (str):
        type (ErrorType):
        details (str | Unset):
        gateway_http_status (int | Unset):
        http_status (int | Unset):
        request_id (str | Unset):
    """

    message: str
    type: ErrorType
    details: str | Unset = UNSET
    gateway_http_status: int | Unset = UNSET
    http_status: int | Unset = UNSET
    request_id: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        message = self.message

        type_ = self.type.value

        details = self.details

        gateway_http_status = self.gateway_http_status

        http_status = self.http_status

        request_id = self.request_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "message": message,
                "type": type_,
            }
        )
        if details is not UNSET:
            field_dict["details"] = details
        if gateway_http_status is not UNSET:
            field_dict["gatewayHttpStatus"] = gateway_http_status
        if http_status is not UNSET:
            field_dict["httpStatus"] = http_status
        if request_id is not UNSET:
            field_dict["requestId"] = request_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        # The known fields are read in place: no copy of src_dict per object (a result holds
        # thousands of entities); the other keys are copied only when there are any.
        d = src_dict
        message = d["message"]

        type_ = ErrorType(d["type"])

        details = d.get("details", UNSET)

        gateway_http_status = d.get("gatewayHttpStatus", UNSET)

        http_status = d.get("httpStatus", UNSET)

        request_id = d.get("requestId", UNSET)

        error_response = cls(
            message=message,
            type=type_,
            details=details,
            gateway_http_status=gateway_http_status,
            http_status=http_status,
            request_id=request_id,
        )

        if not _KNOWN_KEYS.issuperset(src_dict):
            error_response.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return error_response

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
