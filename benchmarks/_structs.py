"""The Queries result as msgspec Structs: figure 2's typed-decoder anchor (benchmarks.parsing).

The shape of openapi.yaml's QueryBuilderResult, QueryResponse and QueryResult, with the JSON
keys renamed to snake_case attributes as the generated models name them. `status` is a plain
string (an enum would reject a status newer than the spec); keys the spec does not list are
dropped, which the generated models keep in `additional_properties`. Imported only when msgspec
is installed.
"""

from __future__ import annotations

import datetime

import msgspec


class Details(msgspec.Struct, rename="camel"):
    initiated_at: datetime.datetime
    job_id: str
    query: str


class Entity(msgspec.Struct):
    name: str
    tag: str
    type: str
    description: str | msgspec.UnsetType = msgspec.UNSET


class Result(msgspec.Struct, rename="camel"):
    query_details: Details
    status: str
    progress: float | msgspec.UnsetType = msgspec.UNSET
    result: list[Entity] | msgspec.UnsetType = msgspec.UNSET


decode = msgspec.json.Decoder(Result).decode
