from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.query_status import QueryStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.query_response import QueryResponse
    from ..models.query_result import QueryResult


T = TypeVar("T", bound="QueryBuilderResult")

# The keys from_dict reads; any others go to additional_properties.
_KNOWN_KEYS = frozenset(
    (
        "queryDetails",
        "status",
        "progress",
        "result",
    )
)


@_attrs_define
class QueryBuilderResult:
    """
    Attributes:
        query_details (QueryResponse):
        status (QueryStatus): The state of the query job.
        progress (float | Unset): How far the job has got.
        result (list[QueryResult] | Unset): The catalog entities the query found.
    """

    query_details: QueryResponse
    status: QueryStatus
    progress: float | Unset = UNSET
    result: list[QueryResult] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        query_details = self.query_details.to_dict()

        status = self.status.value

        progress = self.progress

        result: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.result, Unset):
            result = []
            for result_item_data in self.result:
                result_item = result_item_data.to_dict()
                result.append(result_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "queryDetails": query_details,
                "status": status,
            }
        )
        if progress is not UNSET:
            field_dict["progress"] = progress
        if result is not UNSET:
            field_dict["result"] = result

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.query_response import QueryResponse
        from ..models.query_result import QueryResult

        # The known fields are read in place: no copy of src_dict per object (a result holds
        # thousands of entities); the other keys are copied only when there are any.
        d = src_dict
        query_details = QueryResponse.from_dict(d["queryDetails"])

        status = QueryStatus(d["status"])

        progress = d.get("progress", UNSET)

        _result = d.get("result", UNSET)
        result: list[QueryResult] | Unset = UNSET
        if _result is not UNSET:
            result = []
            for result_item_data in _result:
                result_item = QueryResult.from_dict(result_item_data)

                result.append(result_item)

        query_builder_result = cls(
            query_details=query_details,
            status=status,
            progress=progress,
            result=result,
        )

        if not _KNOWN_KEYS.issuperset(src_dict):
            query_builder_result.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return query_builder_result

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
