"""How `cortex-query` writes results: entities or job states as table, json, jsonl or csv."""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING, Any, TextIO

# The generated types and the SDK are imported where rows are written: `cortex-query --help`
# reads FORMATS from here without loading them.
if TYPE_CHECKING:
    from collections.abc import Sequence

    from cortex_api_client.models import QueryBuilderResult, QueryResponse, QueryResult

__all__ = ["FORMATS", "write_entities", "write_record", "write_state"]

FORMATS = ("table", "json", "jsonl", "csv")
ENTITY_COLUMNS = ("name", "tag", "type", "description")
STATE_COLUMNS = ("jobId", "status", "progress", "query", "initiatedAt")


def entity_rows(state: QueryBuilderResult) -> list[dict[str, str]]:
    from cortex_api_client.types import Unset

    entities: Sequence[QueryResult] = [] if isinstance(state.result, Unset) else state.result
    return [
        {
            "name": entity.name,
            "tag": entity.tag,
            "type": entity.type,
            "description": "" if isinstance(entity.description, Unset) else entity.description,
        }
        for entity in entities
    ]


def write_entities(state: QueryBuilderResult, fmt: str, out: TextIO) -> None:
    """The entities of a DONE job, one per row or line."""
    rows = entity_rows(state)
    if fmt == "json":
        json.dump(rows, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=ENTITY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        _table(rows, ENTITY_COLUMNS, out)


def state_record(state: QueryBuilderResult) -> dict[str, Any]:
    """A job's state as `get` prints it: progress in percent, entities once there are any."""
    from cortex_api_client.types import Unset

    from .._polling import progress_percent

    details = state.query_details
    return {
        "jobId": details.job_id,
        "status": str(state.status),
        "progress": progress_percent(state.progress),
        "query": details.query,
        "initiatedAt": details.initiated_at.isoformat(),
        "entities": None if isinstance(state.result, Unset) else entity_rows(state),
    }


def write_state(state: QueryBuilderResult, fmt: str, out: TextIO) -> None:
    """A job's state in the same shape whatever its status, so a script can read `status`.

    json / jsonl: one object, `entities` a list once the job is DONE (else null). csv: one row
    per entity with the job's columns first (one row with empty entity columns before then).
    table: the job's row, then the entities' table once there are any.
    """
    record = state_record(state)
    if fmt in ("json", "jsonl"):
        write_record(record, fmt, out)
        return
    entities: list[dict[str, str]] | None = record.pop("entities")
    shown = {key: "" if value is None else _cell(value) for key, value in record.items()}
    if fmt == "csv":
        writer = csv.DictWriter(
            out, fieldnames=[*STATE_COLUMNS, *ENTITY_COLUMNS], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows([{**shown, **entity} for entity in entities or [{}]])
        return
    _table([shown], STATE_COLUMNS, out)
    if entities:
        out.write("\n")
        _table(entities, ENTITY_COLUMNS, out)


def _cell(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def job_record(job: QueryResponse) -> dict[str, Any]:
    return {"jobId": job.job_id, "query": job.query, "initiatedAt": job.initiated_at.isoformat()}


def write_record(record: dict[str, Any], fmt: str, out: TextIO) -> None:
    """One object (a started job, or a job's state): a JSON object, or a one-row table."""
    if fmt == "json":
        json.dump(record, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif fmt == "jsonl":
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(record), lineterminator="\n")
        writer.writeheader()
        writer.writerow(record)
    else:
        rows = [{key: "" if value is None else str(value) for key, value in record.items()}]
        _table(rows, tuple(record), out)


def _table(rows: list[dict[str, str]], columns: Sequence[str], out: TextIO) -> None:
    """Plain aligned columns: stable, greppable, and free of any terminal library."""
    cells = [[_one_line(row.get(column, "")) for column in columns] for row in rows]
    widths = [
        max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)
    ]
    out.write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    out.write("\n")
    for line in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
