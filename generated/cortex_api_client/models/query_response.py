from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="QueryResponse")

# The keys from_dict reads; any others go to additional_properties.
_KNOWN_KEYS = frozenset(
    (
        "initiatedAt",
        "jobId",
        "query",
    )
)


@_attrs_define
class QueryResponse:
    """
    Attributes:
        initiated_at (datetime.datetime): When the query job was started.
        job_id (str): Id that can be used to request the status of the query. If you would like to re-run the query, you
            must re-run the query in the UI. See retrieve query results
        query (str): The CQL query the job runs.
    """

    initiated_at: datetime.datetime
    job_id: str
    query: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        initiated_at = self.initiated_at.isoformat()

        job_id = self.job_id

        query = self.query

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "initiatedAt": initiated_at,
                "jobId": job_id,
                "query": query,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        # The known fields are read in place: no copy of src_dict per object (a result holds
        # thousands of entities); the other keys are copied only when there are any.
        d = src_dict
        initiated_at = datetime.datetime.fromisoformat(d["initiatedAt"])

        job_id = d["jobId"]

        query = d["query"]

        query_response = cls(
            initiated_at=initiated_at,
            job_id=job_id,
            query=query,
        )

        if not _KNOWN_KEYS.issuperset(src_dict):
            query_response.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return query_response

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
