"""Which SQL an endpoint runs: the input of the index suggestions.

The reference app keeps every statement as a named constant (`reference_app.queries`,
`ALL_QUERIES`) and names each request's main query in `X-Db-Query-Name`. Its routes
(`reference_app.api.api_routes()`) say which handler serves an endpoint, and a handler's source
says which `queries.NAME` constants it runs: that gives the exact endpoint -> queries mapping,
with path parameters matched whatever their spelling (`{issue_id}` in the app, `:id` in the
load-test suite). An endpoint no route serves falls back to the queries whose names contain
every word of its path (`GET /api/insight/issues` -> `INSIGHT_ISSUES_*`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from loadtests.index_suggestions import NamedQuery, QuerySource

__all__ = [
    "endpoint_key",
    "endpoint_query_source",
    "path_words",
    "reference_app_query_source",
    "route_queries",
]

_QUERY_REFERENCE = re.compile(r"\bqueries\.([A-Z][A-Z0-9_]*)\b")
_PARAMETER = re.compile(r"^(\{[^}]*\}|:[A-Za-z_]\w*|<[^>]*>)$")


def endpoint_key(endpoint: str) -> str:
    """`METHOD /path` with every path parameter written `{}`: `GET /a/{id}` == `GET /a/:id`."""
    method, _, path = endpoint.partition(" ")
    if not path:
        method, path = "GET", endpoint
    parts = ["{}" if _PARAMETER.match(part) else part for part in path.split("?", 1)[0].split("/")]
    return f"{method.upper()} {'/'.join(parts)}"


def route_queries(routes: Iterable[Any]) -> dict[str, list[str]]:
    """Endpoint key -> names of the `queries.*` constants its handler's source refers to."""
    mapping: dict[str, list[str]] = {}
    for route in routes:
        handler = getattr(route, "endpoint", None)
        path = getattr(route, "path", None)
        if handler is None or path is None:
            continue
        try:
            source = inspect.getsource(handler)
        except (OSError, TypeError):
            continue
        names = list(dict.fromkeys(_QUERY_REFERENCE.findall(source)))
        for method in sorted(set(getattr(route, "methods", None) or {"GET"}) - {"HEAD"}):
            mapping[endpoint_key(f"{method} {path}")] = names
    return mapping


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def path_words(endpoint: str) -> list[str]:
    """Stemmed words of an endpoint's path, without `api`, parameters and numbers."""
    path = endpoint.split(" ", 1)[-1].split("?", 1)[0]
    words = []
    for part in path.strip("/").split("/"):
        if not part or part == "api" or part.startswith(("{", ":", "<")) or part.isdigit():
            continue
        words.extend(_stem(word) for word in part.replace("-", "_").split("_") if word)
    return words


def endpoint_query_source(
    statements: Mapping[str, str], explicit: Mapping[str, Sequence[str]] | None = None
) -> QuerySource:
    """A QuerySource over named statements; `explicit` maps endpoint keys (or names) to query names."""
    name_words = {name: {_stem(word) for word in name.split("_")} for name in statements}
    by_key = {endpoint_key(endpoint): names for endpoint, names in (explicit or {}).items()}

    def source(endpoint: str) -> list[NamedQuery]:
        key = endpoint_key(endpoint)
        if key in by_key:
            names = [name for name in by_key[key] if name in statements]
        else:
            words = path_words(endpoint)
            names = [name for name, have in name_words.items() if words and set(words) <= have]
            if not names and words:
                names = [name for name, have in name_words.items() if words[0] in have]
        return [NamedQuery(name, statements[name]) for name in names]

    return source


def reference_app_query_source() -> QuerySource | None:
    """The reference app's queries by endpoint, or None when the reference app is not importable."""
    try:
        from reference_app import queries
    except ImportError:
        return None
    statements = getattr(queries, "ALL_QUERIES", None)
    if not isinstance(statements, Mapping):
        return None
    try:
        from reference_app.api import api_routes

        explicit = route_queries(api_routes())
    except Exception:  # an app without importable routes: fall back to the names
        explicit = None
    return endpoint_query_source(statements, explicit)
