"""Hypothesis strategies for the bodies openapi.yaml describes, and ways to spoil them.

`from_schema` covers what the spec uses ($ref, object, string with date-time, number, integer
with bounds, array, enum); a schema feature it does not know fails loudly, so a spec change
cannot silently shrink what the fuzz tests generate.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"

INT32 = (-(2**31), 2**31 - 1)

JsonValue = Any


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec()
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[JsonValue]:  # noqa: PLR0911
    """Values valid against `schema` (as Prism or a real server could send them)."""
    schema = resolve(schema)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {name: from_schema(properties[name]) for name in sorted(required)},
            optional={
                name: from_schema(sub) for name, sub in properties.items() if name not in required
            },
        )
    if kind == "array":
        return st.lists(from_schema(schema["items"]), max_size=4)
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.timezones() | st.just(None)).map(
                lambda d: d.isoformat() if d.tzinfo else d.isoformat() + "Z"
            )
        return st.text(max_size=30)
    if kind == "integer":
        low = schema.get("minimum", INT32[0])
        high = schema.get("maximum", INT32[1])
        return st.integers(min_value=low, max_value=high)
    if kind == "number":
        return st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    raise NotImplementedError(f"specgen does not know this schema: {schema}")


def response_schema(path: str, method: str, status: str) -> tuple[str, dict[str, Any]]:
    """(content type, schema) of a documented response."""
    response = resolve(spec()["paths"][path][method]["responses"][status])
    ((content_type, media),) = response["content"].items()
    return content_type, media["schema"]


def documented_statuses(path: str, method: str) -> list[int]:
    return sorted(int(code) for code in spec()["paths"][path][method]["responses"])


# -- spoiling a valid body ----------------------------------------------------------------

ANY_JSON: st.SearchStrategy[JsonValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: JsonValue, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location inside a JSON value (dict keys and list indexes)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            found.append((*prefix, key))
            found.extend(_paths(sub, (*prefix, key)))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found.append((*prefix, index))
            found.extend(_paths(sub, (*prefix, index)))
    return found


def _parent(value: JsonValue, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        value = value[part]
    return value


@st.composite
def mutated(draw: st.DrawFn, body: JsonValue) -> tuple[str, JsonValue]:
    """(what was done, the body) after one spoiling step; the body is a fresh copy."""
    body = json.loads(json.dumps(body))
    places = _paths(body)
    choices = ["unknown-enum", "extra-field", "replace-root"]
    if places:
        choices += ["wrong-type", "missing-field", "null-field"]
    how = draw(st.sampled_from(choices))
    if how == "replace-root":
        return how, draw(ANY_JSON)
    if how == "extra-field":
        objects = [p for p in places if isinstance(_parent(body, (*p, None)), dict)]
        target = _parent(body, (*draw(st.sampled_from(objects)), None)) if objects else body
        if isinstance(target, dict):
            target[draw(st.text(min_size=1, max_size=12))] = draw(ANY_JSON)
        return how, body
    if how == "unknown-enum":
        # Every string that could be an enum value (status, type) gets a value never listed.
        for place in places:
            parent = _parent(body, place)
            if place[-1] in ("status", "type") and isinstance(parent, dict):
                parent[place[-1]] = draw(st.sampled_from(["PAUSED", "QUEUED", "NEW_ERROR", ""]))
        return how, body
    place = draw(st.sampled_from(places))
    parent = _parent(body, place)
    if how == "missing-field":
        del parent[place[-1]]
    elif how == "null-field":
        parent[place[-1]] = None
    else:
        parent[place[-1]] = draw(ANY_JSON.filter(lambda v: type(v) is not type(parent[place[-1]])))
    return how, body


GARBAGE_BYTES = st.sampled_from(
    [
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        b"null",
        b"[]",
        b'"a string"',
        b"{",
        b"\xff\xfe\x00\x00",
        b'{"a": ' * 2000,
        b"[" * 5000 + b"]" * 5000,
        b"1e999999",
        b"NaN",
    ]
) | st.binary(max_size=64)

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/problem+json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "text/html",
        "text/plain",
        "",
        "application/octet-stream",
        "application/jsonx",
    ]
)

ODD_STATUSES = st.sampled_from(
    [
        *(100, 101, 103, 201, 202, 204, 206, 301, 302, 304, 307, 308, 401, 403, 405, 410),
        *(413, 418, 422, 451, 499, 500, 501, 502, 503, 504, 520, 522, 524, 599),
    ]
)

RETRY_AFTER = (
    st.none()
    | st.sampled_from(
        ["0", "-1", "48051175", "1e9", "abc", "Wed, 21 Oct 2015 07:28:00 GMT", "", " 0 ", "0.0001"]
    )
    | st.integers(-(10**12), 10**12).map(str)
)
