"""Query-string and JSON-body validation: pure functions raising BadRequest.

Each endpoint declares its parameters as a dict of name -> Param; `parse_query` rejects
unknown and repeated parameters and returns typed values (defaults filled in).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reference_app.errors import BadRequest

__all__ = [
    "MAX_ID",
    "Param",
    "datetime_param",
    "enum_param",
    "id_param",
    "int_param",
    "parse_id",
    "parse_query",
    "text_param",
]

MAX_ID = 2**63 - 1
MAX_LIMIT = 100
MAX_OFFSET = 10_000
# Times outside these years are typos, and would overflow date arithmetic near year 1 or 9999.
MIN_YEAR = 1970
MAX_YEAR = 2200


@dataclass(frozen=True)
class Param:
    convert: Callable[[str, str], Any]
    required: bool = False
    default: Any = None


def parse_id(name: str, raw: str) -> int:
    """A positive 64-bit id."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) < 1 or int(raw) > MAX_ID:
        raise BadRequest(f"{name} must be a positive integer id, got {raw[:40]!r}", field=name)
    return int(raw)


def int_param(low: int, high: int, default: int | None = None, *, required: bool = False) -> Param:
    def convert(name: str, raw: str) -> int:
        if not re.fullmatch(r"-?[0-9]{1,9}", raw):
            raise BadRequest(
                f"{name} must be a whole number from {low} to {high}, got {raw[:40]!r}", field=name
            )
        value = int(raw)
        if not low <= value <= high:
            raise BadRequest(f"{name} must be from {low} to {high}, got {value}", field=name)
        return value

    return Param(convert, required, default)


def id_param(*, required: bool = True) -> Param:
    return Param(parse_id, required)


def enum_param(values: Sequence[str], default: str | None = None, *, required: bool = False) -> Param:
    def convert(name: str, raw: str) -> str:
        if raw not in values:
            raise BadRequest(f"{name} must be one of {', '.join(values)}; got {raw[:40]!r}", field=name)
        return raw

    return Param(convert, required, default)


def text_param(
    min_len: int, max_len: int, *, pattern: str | None = None, required: bool = True, what: str = "text"
) -> Param:
    def convert(name: str, raw: str) -> str:
        if not min_len <= len(raw) <= max_len:
            raise BadRequest(f"{name} must be {min_len} to {max_len} characters, got {len(raw)}", field=name)
        if pattern and not re.fullmatch(pattern, raw):
            raise BadRequest(f"{name} must be {what}, got {raw[:40]!r}", field=name)
        return raw

    return Param(convert, required)


def datetime_param() -> Param:
    def convert(name: str, raw: str) -> datetime:
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise BadRequest(
                f"{name} must be an ISO-8601 time such as 2026-11-01T00:00:00Z, got {raw[:40]!r}", field=name
            ) from None
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            raise BadRequest(
                f"{name} must fall in the years {MIN_YEAR} to {MAX_YEAR}, got {value.year}", field=name
            )
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    return Param(convert)


PAGING: dict[str, Param] = {
    "limit": int_param(1, MAX_LIMIT, 50),
    "offset": int_param(0, MAX_OFFSET, 0),
}


def parse_query(items: Sequence[tuple[str, str]], spec: Mapping[str, Param]) -> dict[str, Any]:
    """Typed values for `spec` from the raw (name, value) pairs of a query string."""
    seen: dict[str, str] = {}
    for name, raw in items:
        if name not in spec:
            allowed = ", ".join(sorted(spec)) or "none"
            raise BadRequest(f"unknown query parameter {name[:40]!r}; allowed: {allowed}", field=name[:40])
        if name in seen:
            raise BadRequest(f"query parameter {name!r} is given more than once", field=name)
        if "\x00" in raw:
            raise BadRequest(f"query parameter {name!r} contains a NUL character", field=name)
        seen[name] = raw
    values: dict[str, Any] = {}
    for name, param in spec.items():
        if name in seen:
            values[name] = param.convert(name, seen[name])
        elif param.required:
            raise BadRequest(f"query parameter {name!r} is required", field=name)
        else:
            values[name] = param.default
    return values


def require_fields(body: Any, fields: Mapping[str, tuple[type, int]], optional: Sequence[str] = ()) -> dict:
    """A JSON object with exactly these string/int fields (type, max length); raises BadRequest."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest(
            f"unknown field {unknown[0][:40]!r}; allowed: {', '.join(sorted(fields))}", field=unknown[0][:40]
        )
    for name, (kind, max_len) in fields.items():
        if name not in body:
            if name in optional:
                continue
            raise BadRequest(f"field {name!r} is required", field=name)
        value = body[name]
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
                raise BadRequest(f"field {name!r} must be a positive integer id", field=name)
        elif not isinstance(value, str) or not 1 <= len(value) <= max_len:
            raise BadRequest(f"field {name!r} must be a string of 1 to {max_len} characters", field=name)
        elif "\x00" in value:
            raise BadRequest(f"field {name!r} contains a NUL character", field=name)
    return body
