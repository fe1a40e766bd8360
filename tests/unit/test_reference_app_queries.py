from __future__ import annotations

import re

import pglast
import pytest

from reference_app import queries

NAMES = sorted(queries.ALL_QUERIES)


def _as_postgres(sql: str) -> str:
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql)


@pytest.mark.parametrize("name", NAMES)
def test_every_query_parses_and_uses_named_parameters(name: str) -> None:
    sql = queries.ALL_QUERIES[name]
    assert "%s" not in sql and "$" not in sql.replace("$$", "")
    assert "%" not in re.sub(r"%\(\w+\)s", "", sql)  # no literal % (psycopg would read it as a placeholder)
    assert len(pglast.parse_sql(_as_postgres(sql))) == 1


def test_names_are_unique_and_cover_the_statements_the_app_runs() -> None:
    assert len(set(queries.ALL_QUERIES.values())) == len(NAMES)
    assert {
        "INSIGHT_ISSUES_RECENT_BY_ORG",
        "INSIGHT_ISSUES_FILE_PATH_SEARCH",
        "AUTH_SESSION_BY_TOKEN",
    } <= set(NAMES)


@pytest.mark.parametrize(
    "name", [n for n in NAMES if n.startswith(("INSIGHT", "AUTOPILOT", "GUARDIAN", "ANALYTICS"))]
)
def test_tenant_queries_are_scoped_to_the_organisation(name: str) -> None:
    assert "org_id = %(org_id)s" in queries.ALL_QUERIES[name]
