"""pg_stat_statements feeds the index suggestions (real PostgreSQL, loopback, throwaway cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from indexes.suggestions import suggest_indexes
from loadtests.__main__ import main
from loadtests.analysis.errors import StatementsUnavailable
from loadtests.analysis.sources import pg_stat_statements_queries

pytestmark = pytest.mark.integration


@pytest.fixture
def orders_database(postgres_server):
    dsn = postgres_server.create_database("analysis_statements")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        connection.execute(
            "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, "
            "placed_at timestamptz NOT NULL, note text)"
        )
        connection.execute(
            "INSERT INTO orders (customer_id, placed_at, note) "
            "SELECT g % 500, now() - g * interval '1 minute', 'n' || g FROM generate_series(1, 20000) g"
        )
        connection.execute("SELECT pg_stat_statements_reset()")
        for customer in range(5):
            connection.execute(
                "SELECT id FROM orders WHERE customer_id = %s ORDER BY placed_at DESC LIMIT 20", (customer,)
            )
    yield dsn
    postgres_server.drop_database("analysis_statements")


def test_slow_statements_become_index_suggestions(orders_database):
    statements = pg_stat_statements_queries(orders_database, min_mean_ms=0.0)
    order_queries = [s for s in statements if "FROM orders WHERE customer_id" in s.sql]
    assert order_queries and order_queries[0].calls == 5
    assert order_queries[0].source == "pg_stat_statements"
    names = [s.name for s in suggest_indexes(order_queries)]
    assert names == ["idx_orders_customer_id_placed_at"]


def test_threshold_keeps_fast_statements_out(orders_database):
    assert pg_stat_statements_queries(orders_database, min_mean_ms=60_000.0) == []


def test_database_without_the_extension_is_reported(postgres_server):
    dsn = postgres_server.create_database("analysis_no_extension")
    try:
        with pytest.raises(StatementsUnavailable, match="CREATE EXTENSION pg_stat_statements"):
            pg_stat_statements_queries(dsn, min_mean_ms=0.0)
    finally:
        postgres_server.drop_database("analysis_no_extension")


def test_cli_notes_statements_and_never_prints_the_dsn(orders_database, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANALYSIS_TEST_DSN", orders_database)
    results = Path(__file__).parents[1] / "fixtures" / "analysis" / "fail_slow_database.json"
    code = main(
        [
            "analyze",
            str(results),
            "--no-export",
            "--dsn-env",
            "ANALYSIS_TEST_DSN",
            "--json",
            str(tmp_path / "a.json"),
        ]
    )
    output = capsys.readouterr().out
    assert code == 0
    assert orders_database not in output
    exported = json.loads((tmp_path / "a.json").read_text())
    assert any(note.startswith("pg_stat_statements:") for note in exported["notes"])
