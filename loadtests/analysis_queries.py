"""Which SQL an endpoint runs: the input of the index suggestions.

The reference app keeps every statement as a named constant (`reference_app.queries`,
`ALL_QUERIES`) and names each request's main query in `X-Db-Query-Name`. An explicit
endpoint -> query-names mapping (`ENDPOINT_QUERIES` in `reference_app.queries`) wins when the app
provides one; otherwise an endpoint's queries are the ones whose names contain every word of
its path (`GET /api/insight/issues` -> `INSIGHT_ISSUES_*`), falling back to the service prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from loadtests.index_suggestions import NamedQuery, QuerySource

__all__ = ["endpoint_query_source", "path_words", "reference_app_query_source"]


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
    """A QuerySource over named statements, with an optional explicit endpoint mapping."""
    name_words = {name: {_stem(word) for word in name.split("_")} for name in statements}

    def source(endpoint: str) -> list[NamedQuery]:
        if explicit is not None and endpoint in explicit:
            names = [name for name in explicit[endpoint] if name in statements]
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
    explicit = getattr(queries, "ENDPOINT_QUERIES", None)
    return endpoint_query_source(statements, explicit if isinstance(explicit, Mapping) else None)
