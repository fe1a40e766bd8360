"""The index verification file (sql/verify/index_targets.sql) and EXPLAIN plan reading.

Pure: parse the file into `IndexTarget`s and find the indexes an EXPLAIN (FORMAT JSON)
plan uses. The EXPLAIN test (tests/integration) and the speed-up benchmark (bench/) share
it, so both run exactly the SQL of reference_app/queries.py with the same parameters; the
analysis' index suggestions read which index serves which query from it (`indexes_by_query`).
`parse_index_targets` is the one reader of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexes.errors import IndexesError

__all__ = [
    "INDEX_TARGETS_FILE",
    "MIGRATION_FILE",
    "IndexTarget",
    "TargetFileError",
    "index_names_in_plan",
    "indexes_by_query",
    "load_index_targets",
    "parse_index_targets",
    "same_sql",
]

_ROOT = Path(__file__).resolve().parents[1]
MIGRATION_FILE = _ROOT / "sql" / "migrations" / "add-performance-indexes.sql"
INDEX_TARGETS_FILE = _ROOT / "sql" / "verify" / "index_targets.sql"

_HEADER = re.compile(r"^--\s*(index|query|referential-action|params):\s*(.+?)\s*$")
_INDEX_NODE_TYPES = frozenset({"Index Scan", "Index Only Scan", "Bitmap Index Scan"})


class TargetFileError(IndexesError, ValueError):
    """The verification file is malformed; the message names the block."""


@dataclass(frozen=True)
class IndexTarget:
    """One index and the query it must serve.

    query_name: the reference_app.queries constant, or None for a referential action.
    params_sql: a SELECT returning one row whose columns are the query's parameters.
    """

    index: str
    query_name: str | None
    referential_action: str | None
    params_sql: str
    sql: str


def _blocks(text: str) -> Iterator[tuple[dict[str, str], str]]:
    headers: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            if body:
                raise TargetFileError(f"header {line!r} inside the SQL of block {headers.get('index')!r}")
            headers[match.group(1)] = match.group(2)
            continue
        if not headers:
            continue  # the file's introduction
        if line.startswith("--"):
            continue
        body.append(line)
        if line.rstrip().endswith(";"):
            yield headers, "\n".join(body).strip().rstrip(";").strip()
            headers, body = {}, []
    if headers:
        raise TargetFileError(f"block {headers.get('index')!r} has no SQL ending in ';'")


def parse_index_targets(text: str) -> list[IndexTarget]:
    """The file's blocks in file order; a malformed block raises TargetFileError naming it."""
    targets = []
    for headers, sql in _blocks(text):
        index = headers.get("index")
        if not index or "params" not in headers:
            raise TargetFileError(f"block {index!r} needs '-- index:' and '-- params:' lines")
        if ("query" in headers) == ("referential-action" in headers):
            raise TargetFileError(
                f"block {index!r} needs exactly one of '-- query:' or '-- referential-action:'"
            )
        targets.append(
            IndexTarget(
                index=index,
                query_name=headers.get("query"),
                referential_action=headers.get("referential-action"),
                params_sql=headers["params"],
                sql=sql,
            )
        )
    return targets


def load_index_targets(path: Path = INDEX_TARGETS_FILE) -> list[IndexTarget]:
    return parse_index_targets(path.read_text(encoding="utf-8"))


def indexes_by_query(targets: Iterable[IndexTarget]) -> dict[str, tuple[str, ...]]:
    """Query name -> the indexes built for it, in file order; referential actions are left out."""
    by_query: dict[str, tuple[str, ...]] = {}
    for target in targets:
        if target.query_name is not None:
            by_query[target.query_name] = (*by_query.get(target.query_name, ()), target.index)
    return by_query


def same_sql(a: str, b: str) -> bool:
    """Equal up to whitespace and a trailing semicolon."""

    def squash(text: str) -> str:
        return " ".join(text.strip().rstrip(";").split())

    return squash(a) == squash(b)


def _plan_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "Node Type" in node:
            yield node
        for value in node.values():
            yield from _plan_nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _plan_nodes(item)


def index_names_in_plan(explain_json: Any) -> set[str]:
    """Names of the indexes an EXPLAIN (FORMAT JSON) result scans (any depth, subplans too)."""
    return {
        node["Index Name"]
        for node in _plan_nodes(explain_json)
        if node.get("Node Type") in _INDEX_NODE_TYPES and "Index Name" in node
    }
